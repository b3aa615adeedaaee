#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: backup_verify
short_description: Prove a backup artefact is complete, intact, fresh and restorable
version_added: 0.1.0
description:
  - Verifies one backup artefact, a file on the host (O(path)), an S3 object (O(s3_bucket) and
    O(s3_key)) or the newest artefact of a directory or S3 prefix (O(latest_in)), against its
    JSON manifest (C(<artefact>.json), on S3 the object C(<key>.json)) as written by
    C(runbook.maintenance.backup_create).
  - Each check of O(checks) gives its own verdict and reason. V(exists) the artefact is there;
    V(checksum) its sha256 (and size) match O(expected_sha256) or the manifest, and on S3 the
    sha256 kept in the object's metadata (C(x-amz-meta-sha256)) when there is one; V(format) it
    is readable end to end (a custom-format dump is read to its last data block by
    C(pg_restore -f /dev/null), since C(pg_restore --list) alone accepts a truncated archive; a
    tar archive is read entirely, its compression CRC included, and every member must be safe
    to extract - no absolute name, no C(..) component, no device or FIFO, no hard link leaving
    the archive - which is how a C(paths) archive of C(backup_create) is verified; a plain SQL
    dump, such as a globals dump, must end with its completion trailer); V(age) it is younger than O(max_age) (the recovery point
    objective); V(size) it is not empty, not below O(min_size) and not much smaller than the
    previous artefact (O(max_size_drop_ratio)).
  - V(restore) restores it into a scratch database C(<restore_db_prefix>_<random>) with
    C(pg_restore --no-owner --no-privileges), O(restore_jobs) jobs in parallel. The scratch
    database is always dropped afterwards, with C(DROP DATABASE) and its C(FORCE) option, also
    when the restore fails or the module is terminated. V(rows) then compares the exact row
    count of every table the manifest lists.
  - Deprecated, to be removed in 1.0.0 - with O(pgbackrest_stanza) it verifies a pgBackRest
    repository instead of an artefact (the checks then are V(repository), V(age), V(wal_age) and
    V(wal_gaps)), exactly as C(runbook.maintenance.pgbackrest_verify) does, whose code it runs
    and whose result keys it returns, and warns that it is deprecated. Use
    C(runbook.maintenance.pgbackrest_verify) (O(pgbackrest_stanza) becomes
    O(runbook.maintenance.pgbackrest_verify#module:stanza), O(pgbackrest_config) becomes
    O(runbook.maintenance.pgbackrest_verify#module:config)).
  - Read-only, never reports a change, unless O(record=true). Fails when a check fails, naming
    every failed check, unless O(fail_on_error=false).
  - With O(record=true) the verdict is written into the artefact's own manifest
    (C(<artefact>.json), a local artefact only), the manifest as read with C(verified) (RV(verified))
    and C(verification) (RV(checks)) set, so that the manifest uploaded to S3 or read by a restore
    carries it. The manifest is replaced atomically (a private temporary file beside it, renamed over
    it), never through a symlink, keeps its owner and its mode (or gets O(record_mode)), and a
    missing or unreadable manifest is left as it is (a warning).
author:
  - Runbook Maintainers (@runbook-maintenance)
extends_documentation_fragment:
  - runbook.maintenance.postgres
  - runbook.maintenance.s3
attributes:
  check_mode:
    support: full
    description:
      - Every check that only reads runs; V(restore) and V(rows), which create a (scratch)
        database, are reported as skipped. With O(record=true) nothing is written; C(changed)
        says whether the manifest would be.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: partial
    description:
      - Changes nothing; the scratch database of V(restore) is always dropped.
      - With O(record=true) the manifest changes when the verification's details do (an age is one).
options:
  path:
    description:
      - The artefact on the host running the module, a pg_dump custom-format file (C(.dump)), a
        tar archive (C(.tar.gz), C(.tgz), C(.tar)), a plain file (such as an SQL dump), or a
        pg_dump directory-format directory.
      - Mutually exclusive with O(s3_key) and O(latest_in).
    type: path
  s3_bucket:
    description: Bucket of the artefact named by O(s3_key).
    type: str
  s3_key:
    description: Key of the artefact in O(s3_bucket). Its manifest is the object C(<key>.json).
    type: str
  latest_in:
    description:
      - Verify the newest artefact of this directory (an absolute path) or S3 prefix
        (V(s3://bucket/prefix/)); the newest is the one modified last (C(LastModified) on S3),
        then by name.
      - Manifests (C(*.json)) and hidden files (such as a running backup's partial file) are
        never artefacts; only names matching O(pattern) are; subdirectories are not searched
        (a directory holding C(toc.dat) is a directory-format dump and counts as one artefact).
    type: str
  pattern:
    description: Glob the artefact names must match, for O(latest_in) and to find the previous artefact.
    type: str
    default: '*'
  checks:
    description:
      - The checks to run, see the description. V(exists) is always run when another check
        needs the artefact. V(rows) needs the restore of V(restore) and runs it.
      - Default, V(exists), V(checksum), V(format), V(age) and V(size) for an artefact;
        V(repository), V(age), V(wal_age) and V(wal_gaps) for the deprecated O(pgbackrest_stanza),
        which takes only those four (see C(runbook.maintenance.pgbackrest_verify)).
    type: list
    elements: str
    choices: [exists, checksum, format, age, size, restore, rows, repository, wal_age, wal_gaps]
  expected_sha256:
    description:
      - The sha256 the artefact must have (for example recorded by the job that uploaded it).
        Without it V(checksum) compares with the manifest, and a missing manifest fails it.
    type: str
  max_age:
    description:
      - Oldest acceptable backup for V(age), as a duration (V(26h), V(7d)), counted from the
        manifest's C(created_at), else from the artefact's modification time.
    type: str
    default: 26h
  min_size:
    description: Smallest acceptable artefact for V(size) (V(10M), V(1G), bytes). An empty artefact always fails.
    type: str
  max_size_drop_ratio:
    description:
      - Largest acceptable shrink relative to the previous artefact (the next newest one of the
        same directory or prefix matching O(pattern)), between 0 and 1. V(0.5) fails an artefact
        less than half the size of the previous one. Unset, sizes are not compared.
    type: float
  restore_db_prefix:
    description: Prefix of the scratch database of V(restore) (letters, digits, C(_); at most 40 characters).
    type: str
    default: runbook_verify
  restore_jobs:
    description:
      - Parallel jobs of C(pg_restore) (C(-j)). A tar archive is extracted to O(tmp_dir) first, so
        a pg_dump tar-format archive is restored in parallel too.
    type: int
    default: 2
  pg_bin_dir:
    description: Directory of C(pg_restore). Default, the newest of /usr/lib/postgresql/*/bin, then PATH.
    type: path
  tmp_dir:
    description:
      - Directory for the S3 download and the extraction of a tar archive to restore; it needs
        room for the artefact (extracted). Default, the system's temporary directory.
    type: path
  record:
    description:
      - Write the verification into the artefact's manifest (C(<artefact>.json)), see the description.
        For a local artefact (O(path), or O(latest_in) a directory) only.
      - Recorded also when a check failed (C(verified) is then false), as the backup role always did.
    type: bool
    default: false
  record_mode:
    description:
      - Permission mode of the manifest written by O(record=true) (V('0600'), V('0640')). Default,
        the mode the manifest has.
    type: raw
  fail_on_error:
    description: Fail the task when a check fails. With V(false) the result reports RV(verified) and RV(failures) only.
    type: bool
    default: true
  pgbackrest_stanza:
    description:
      - Deprecated, to be removed in 1.0.0 - use O(runbook.maintenance.pgbackrest_verify#module:stanza).
      - Verify this pgBackRest stanza's repository (as configured in O(pgbackrest_config)) instead
        of an artefact. Mutually exclusive with O(path), O(s3_key) and O(latest_in).
      - Run the module as the repository's owner (C(become_user=postgres)); pgBackRest writes no
        log file for these commands.
    type: str
  pgbackrest_config:
    description:
      - Deprecated, to be removed in 1.0.0 - use O(runbook.maintenance.pgbackrest_verify#module:config).
      - pgBackRest configuration file. Default, pgBackRest's own (C(/etc/pgbackrest/pgbackrest.conf)).
    type: path
  pgbackrest_bin:
    description:
      - Deprecated, to be removed in 1.0.0 - use O(runbook.maintenance.pgbackrest_verify#module:pgbackrest_bin).
      - The pgbackrest executable. Default, C(pgbackrest) on the PATH.
    type: path
  max_wal_age:
    description:
      - Deprecated, to be removed in 1.0.0 - use O(runbook.maintenance.pgbackrest_verify#module:max_wal_age).
      - Oldest acceptable newest archived WAL segment for V(wal_age) (V(15m)), the recovery point
        objective, with O(pgbackrest_stanza). Unset, the age is reported and never fails.
    type: str
  wal_segment_size:
    description:
      - Deprecated, to be removed in 1.0.0 - use O(runbook.maintenance.pgbackrest_verify#module:wal_segment_size).
      - The cluster's WAL segment size (C(initdb --wal-segsize)), to number segments for V(wal_gaps).
    type: str
    default: 16M
requirements:
  - pg_restore on the host running the module, for V(format) of a pg_dump archive and for V(restore)
  - pgBackRest 2.38 or later, for the deprecated O(pgbackrest_stanza)
  - psycopg >= 3.1, for V(restore) and V(rows)
notes:
  - The artefact is read on the host running the module; an S3 artefact is downloaded to
    O(tmp_dir) (hashed on the way) when a check needs its content, and removed afterwards.
  - A scratch database left by a run killed with SIGKILL is reported by the next run (a warning),
    never dropped automatically.
  - The restore leaves out ownership, privileges and tablespaces (C(--no-owner --no-privileges
    --no-tablespaces)) so a dump restores on a server without the production roles and paths.
seealso:
  - module: runbook.maintenance.backup_create
  - module: runbook.maintenance.backup_prune
  - module: runbook.maintenance.pgbackrest_verify
  - module: runbook.maintenance.pgbackrest_expire
  - name: pg_restore
    description: PostgreSQL documentation of pg_restore.
    link: https://www.postgresql.org/docs/current/app-pgrestore.html
'''

EXAMPLES = r'''
- name: Verify last night's dump (exists, checksum, readable to the end, under 26h, not shrunk)
  runbook.maintenance.backup_verify:
    latest_in: /var/backups/postgresql/app
    pattern: 'app-*.dump'
    max_size_drop_ratio: 0.5
  register: verify

- name: Weekly proof of restorability - restore into a scratch database and compare row counts
  runbook.maintenance.backup_verify:
    latest_in: /var/backups/postgresql/app
    checks: [exists, checksum, format, age, size, restore, rows]
    login_unix_socket: /var/run/postgresql
    restore_jobs: 4

- name: Verify an uploaded object against the sha256 in its metadata and its manifest
  runbook.maintenance.backup_verify:
    s3_bucket: backups
    s3_key: postgresql/app/app-20261129T020000Z.dump
    endpoint_url: https://minio.internal:9000
    aws_access_key: "{{ vault_s3_access_key }}"
    aws_secret_key: "{{ vault_s3_secret_key }}"

- name: Verify a new dump and record the verdict in its manifest (verified, verification)
  runbook.maintenance.backup_verify:
    path: /var/backups/postgresql/app/app-20261129T020000Z.dump
    record: true
    record_mode: '0600'
    fail_on_error: false

- name: Report only, let the next task decide (for example a circuit breaker)
  runbook.maintenance.backup_verify:
    latest_in: s3://backups/postgresql/app/
    fail_on_error: false
  register: verify
'''

RETURN = r'''
verified:
  description: Whether every check that ran passed (checks skipped in check mode do not count).
  returned: always
  type: bool
  sample: true
artefact:
  description:
    - The artefact verified, a path or an C(s3://) URL (null when O(latest_in) holds none);
      C(pgbackrest stanza <name>) for the deprecated O(pgbackrest_stanza).
  returned: always
  type: str
  sample: /var/backups/postgresql/app/app-20261129T020000Z.dump
checks:
  description:
    - One entry per check, C(ok) is true, false, or null for a check not run (skipped in check
      mode, or its precondition failed, which is then a failure of its own).
  returned: always
  type: dict
  sample:
    exists: {ok: true, detail: 'file of 48.1 MiB'}
    checksum: {ok: true, detail: 'sha256 9f2c... matches the manifest'}
    format: {ok: true, detail: 'custom-format archive, 38 TOC entries, every data block read by pg_restore'}
    age: {ok: true, detail: '3h 12m old (created 2026-11-29T02:00:00Z per the manifest), max_age 26h'}
    size: {ok: true, detail: '50462720 bytes; previous app-20261128T020000Z.dump 50100012 bytes'}
failures:
  description: One line per failed check, starting with the check's name.
  returned: always
  type: list
  elements: str
  sample: ['format: pg_restore cannot read the archive to the end: pg_restore: error: could not read from input file: end of file']
sha256:
  description: sha256 of the artefact's content (null when no check read it, or for a directory).
  returned: always
  type: str
  sample: 9f2c6f1e0b1c4b1a8d7e0f3c2b1a09182736455463728190a1b2c3d4e5f60718
size_bytes:
  description: Size of the artefact in bytes (for a directory, of its files).
  returned: always
  type: int
  sample: 50462720
age_s:
  description:
    - Age of the backup in seconds, from the manifest's C(created_at) else the modification time;
      for a pgBackRest stanza, of its newest backup (from its end).
  returned: always
  type: float
  sample: 11520.4
manifest:
  description: The manifest as read (null when missing or unreadable).
  returned: always
  type: dict
  sample: {sha256: 9f2c..., size: 50462720, created_at: '2026-11-29T02:00:00Z', host: db1, database: app, format: custom}
previous:
  description: The previous artefact the size was compared with.
  returned: when O(max_size_drop_ratio) is set and there is one
  type: dict
  sample: {artefact: /var/backups/postgresql/app/app-20261128T020000Z.dump, size: 50100012}
pgbackrest:
  description:
    - What the pgBackRest checks found, with the deprecated O(pgbackrest_stanza) only; the same as
      RV(runbook.maintenance.pgbackrest_verify#module:pgbackrest) of C(runbook.maintenance.pgbackrest_verify).
  returned: with O(pgbackrest_stanza)
  type: dict
  contains:
    stanza:
      description: The stanza.
      type: str
    status:
      description: The stanza's status as C(pgbackrest info) reports it.
      type: str
    newest_backup:
      description: The newest backup, C(label), C(type) and C(stopped) (UTC).
      type: dict
    backups:
      description: Every backup, oldest first, with C(label), C(type), C(stopped), C(archive_start), C(archive_stop), C(error).
      type: list
      elements: dict
    archive_id:
      description: The current archive id (such as C(15-1)).
      type: str
    newest_wal:
      description: The newest archived WAL segment, C(segment) and C(archived_at) (UTC).
      type: dict
    wal_age_s:
      description: Seconds since the newest WAL segment reached the repository.
      type: float
    wal_gaps:
      description: Missing WAL segments since the newest full backup, each C(first), C(last), C(count).
      type: list
      elements: dict
    unrestorable_backups:
      description: Backups whose own WAL is incomplete, label to the missing segments.
      type: dict
    verify_status:
      description: Overall status printed by C(pgbackrest verify) (V(ok) or V(error)).
      type: str
    invalid_backups:
      description: Labels of the backups C(pgbackrest verify) did not find valid.
      type: list
      elements: str
  sample:
    stanza: main
    status: ok
    newest_backup: {label: 20261129-021500F_20261130-021500D, type: diff, stopped: '2026-11-30T02:16:40Z'}
    archive_id: 15-1
    newest_wal: {segment: 00000001000000A2000000C4, archived_at: '2026-11-30T09:59:12Z'}
    wal_age_s: 48.2
    wal_gaps: []
    unrestorable_backups: {}
    verify_status: ok
    invalid_backups: []
duration_s:
  description:
    - Seconds the verification of the artefact took, every check included (the restore too).
  returned: when an artefact is verified (not with the deprecated O(pgbackrest_stanza))
  type: float
  sample: 43.7
recorded:
  description:
    - With O(record=true), whether the manifest holds this verification after the run (false in
      check mode when it would be written, and when the manifest is missing or unreadable).
  returned: when O(record=true)
  type: bool
  sample: true
manifest_path:
  description: With O(record=true), the manifest the verification is recorded in.
  returned: when O(record=true) and there is an artefact
  type: str
  sample: /var/backups/postgresql/app/app-20261129T020000Z.dump.json
restore:
  description: The restore into the scratch database (null when it did not run).
  returned: always
  type: dict
  contains:
    database:
      description: Name of the scratch database (dropped).
      type: str
    duration_s:
      description: Seconds the restore (with the row counts) took.
      type: float
    tables:
      description: Tables restored.
      type: int
    rows:
      description: Rows restored (sum of the exact counts of the tables, partitions counted once).
      type: int
    dropped:
      description: Whether the scratch database was dropped.
      type: bool
  sample: {database: runbook_verify_3f9a1c2b, duration_s: 41.2, tables: 38, rows: 1250000, dropped: true}
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.pgbackrest_verify import PGBACKREST_CHECKS, StanzaVerifier
from ansible_collections.runbook.maintenance.plugins.module_utils.pgclient import Terminated, raise_on_termination
from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import postgres_common_argument_spec
from ansible_collections.runbook.maintenance.plugins.module_utils.s3 import s3_common_argument_spec
from ansible_collections.runbook.maintenance.plugins.module_utils.safefile import UnsafePath, describe_os_error, parse_mode
from ansible_collections.runbook.maintenance.plugins.module_utils.verify import (
    CHECKS,
    DEFAULT_CHECKS,
    BackupVerify,
    record_verification,
    recorded_manifest,
)

ALL_CHECKS = CHECKS + tuple(name for name in PGBACKREST_CHECKS if name not in CHECKS)
# Kept for one release: the pgBackRest checks are runbook.maintenance.pgbackrest_verify's now.
DEPRECATED_STANZA = ('pgbackrest_stanza is deprecated: use runbook.maintenance.pgbackrest_verify, which runs the same '
                     'checks and returns the same keys (pgbackrest_stanza becomes stanza, pgbackrest_config becomes '
                     'config; pgbackrest_bin, checks, max_age, max_wal_age, wal_segment_size and fail_on_error keep '
                     'their names)')


def verify_stanza(module: AnsibleModule) -> None:
    """The deprecated pgbackrest_stanza: pgbackrest_verify's code, with backup_verify's option names
    and its artefact-only keys (null) in the result, as before."""
    module.deprecate(DEPRECATED_STANZA, version='1.0.0', collection_name='runbook.maintenance')
    if module.params['checks'] is None:
        module.params['checks'] = list(PGBACKREST_CHECKS)
    verifier = StanzaVerifier(module, 'pgbackrest_stanza', 'pgbackrest_config',
                              extra={'sha256': None, 'size_bytes': None, 'manifest': None, 'restore': None})
    result = verifier.verify()
    if result['failures'] and module.params['fail_on_error']:
        module.fail_json(**result)
    module.exit_json(**result)


def record(module: AnsibleModule, verifier: BackupVerify, result: dict, mode: int | None) -> None:
    """record=true: write verified and verification into the artefact's manifest (see record_verification)."""
    result['recorded'] = False
    if verifier.source is None:
        return
    artefact = verifier.source.artefact
    result['manifest_path'] = verifier.source.manifest_location
    if verifier.manifest is None:
        module.warn(f"verification of {artefact} not recorded: "
                    f"{verifier.manifest_problem or 'the manifest was not read (the artefact is missing)'}")
        return
    data = recorded_manifest(verifier.manifest, result['verified'], result['checks'])
    try:
        outcome = record_verification(artefact, verifier.manifest, data, mode, module.check_mode)
    except (OSError, ValueError, UnsafePath) as exc:
        text = describe_os_error(exc, result['manifest_path']) if isinstance(exc, OSError) else str(exc)
        module.fail_json(**dict(result, msg=f'cannot record the verification of {artefact} in its manifest: {text}'))
    result['recorded'] = outcome['recorded']
    result['changed'] = outcome['changed']


def main() -> None:
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(s3_common_argument_spec())
    argument_spec.update(
        path=dict(type='path'),
        s3_bucket=dict(type='str'),
        s3_key=dict(type='str', no_log=False),
        latest_in=dict(type='str'),
        pattern=dict(type='str', default='*'),
        checks=dict(type='list', elements='str', choices=list(ALL_CHECKS)),
        expected_sha256=dict(type='str'),
        max_age=dict(type='str', default='26h'),
        min_size=dict(type='str'),
        max_size_drop_ratio=dict(type='float'),
        restore_db_prefix=dict(type='str', default='runbook_verify'),
        restore_jobs=dict(type='int', default=2),
        pg_bin_dir=dict(type='path'),
        tmp_dir=dict(type='path'),
        fail_on_error=dict(type='bool', default=True),
        record=dict(type='bool', default=False),
        record_mode=dict(type='raw'),
        pgbackrest_stanza=dict(type='str'),
        pgbackrest_config=dict(type='path'),
        pgbackrest_bin=dict(type='path'),
        max_wal_age=dict(type='str'),
        wal_segment_size=dict(type='str', default='16M'),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_one_of=[('path', 's3_key', 'latest_in', 'pgbackrest_stanza')],
        mutually_exclusive=[('path', 's3_key', 'latest_in', 'pgbackrest_stanza'), ('path', 's3_bucket'),
                            ('latest_in', 's3_bucket'), ('latest_in', 'expected_sha256'),
                            ('pgbackrest_stanza', 's3_bucket'), ('pgbackrest_stanza', 'expected_sha256')],
        required_together=[('s3_bucket', 's3_key')],
        supports_check_mode=True,
    )
    record_mode = None
    if module.params['record'] or module.params['record_mode'] is not None:
        problems = []
        if module.params['pgbackrest_stanza'] is not None or module.params['s3_key'] is not None \
                or (module.params['latest_in'] or '').startswith('s3://'):
            problems.append('record applies to a local artefact (path, or latest_in a directory), '
                            'not to S3 or a pgBackRest stanza')
        if module.params['record_mode'] is not None:
            if not module.params['record']:
                problems.append('record_mode needs record=true')
            try:
                record_mode = parse_mode(module.params['record_mode'], 'record_mode')
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            module.fail_json(msg='Invalid options: ' + '; '.join(problems))
    if module.params['pgbackrest_stanza'] is not None:
        verify_stanza(module)
    if module.params['checks'] is None:
        module.params['checks'] = list(DEFAULT_CHECKS)
    wrong = sorted(set(module.params['checks']) - set(CHECKS))
    if wrong:
        module.fail_json(msg=f"Invalid options: checks {', '.join(wrong)} apply to a pgBackRest stanza "
                             f"(pgbackrest_stanza) only, an artefact takes {', '.join(CHECKS)}")
    raise_on_termination()
    verifier = BackupVerify(module)
    began = time.monotonic()
    try:
        result = verifier.verify()
    except Terminated as exc:
        module.fail_json(**dict(verifier.result, msg=verifier.terminated(exc.signum),
                                duration_s=round(time.monotonic() - began, 3)))
    result['duration_s'] = round(time.monotonic() - began, 3)
    if module.params['record']:
        record(module, verifier, result, record_mode)
    if result['failures'] and module.params['fail_on_error']:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
