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
  - With O(pgbackrest_stanza) it verifies a pgBackRest repository instead of an artefact (the
    checks then are V(repository), V(age), V(wal_age) and V(wal_gaps)). V(repository) runs
    C(pgbackrest verify) (which exits 0 even when it finds corrupt files, so its report is read)
    and fails on any invalid backup or WAL segment; V(age) the newest backup (full, diff or incr,
    from C(pgbackrest info --output=json)) ended less than O(max_age) ago; V(wal_age) the newest
    WAL segment archived (C(pgbackrest repo-ls)) reached the repository less than O(max_wal_age)
    ago, the recovery point objective; V(wal_gaps) every backup's own WAL (first to last
    segment) is archived, else that backup cannot be restored, and every WAL segment from the
    newest full backup's first segment to the newest archived one is there, else point-in-time
    recovery across the gap is impossible (C(pgbackrest verify) reports neither).
  - Read-only, never reports a change. Fails when a check fails, naming every failed check,
    unless O(fail_on_error=false).
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
        database, are reported as skipped.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: Changes nothing; the scratch database of V(restore) is always dropped.
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
        V(repository), V(age), V(wal_age) and V(wal_gaps) for O(pgbackrest_stanza), which takes
        only those four.
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
  fail_on_error:
    description: Fail the task when a check fails. With V(false) the result reports RV(verified) and RV(failures) only.
    type: bool
    default: true
  pgbackrest_stanza:
    description:
      - Verify this pgBackRest stanza's repository (as configured in O(pgbackrest_config)) instead
        of an artefact. Mutually exclusive with O(path), O(s3_key) and O(latest_in).
      - Run the module as the repository's owner (C(become_user=postgres)); pgBackRest writes no
        log file for these commands.
    type: str
  pgbackrest_config:
    description: pgBackRest configuration file. Default, pgBackRest's own (C(/etc/pgbackrest/pgbackrest.conf)).
    type: path
  pgbackrest_bin:
    description: The pgbackrest executable. Default, C(pgbackrest) on the PATH.
    type: path
  max_wal_age:
    description:
      - Oldest acceptable newest archived WAL segment for V(wal_age) (V(15m)), the recovery point
        objective. Set C(archive_timeout) below it, or a quiet database archives nothing for hours.
        Unset, the age is reported and never fails.
    type: str
  wal_segment_size:
    description: The cluster's WAL segment size (C(initdb --wal-segsize)), to number segments for V(wal_gaps).
    type: str
    default: 16M
requirements:
  - pg_restore on the host running the module, for V(format) of a pg_dump archive and for V(restore)
  - pgBackRest 2.38 or later, for O(pgbackrest_stanza)
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

- name: pgBackRest - repository verified, newest backup under 26h, WAL archived in the last 15 minutes, no gap
  runbook.maintenance.backup_verify:
    pgbackrest_stanza: main
    max_age: 26h
    max_wal_age: 15m
  become: true
  become_user: postgres
  register: pitr_verify

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
  description: The artefact verified, a path or an C(s3://) URL (null when O(latest_in) holds none); C(pgbackrest stanza <name>) for O(pgbackrest_stanza).
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
  description: What the pgBackRest checks found (with O(pgbackrest_stanza) only).
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

import glob
import os
import re
import secrets
import shutil
import signal
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import (
    KIND_LABELS,
    SHA256_RE,
    TOC_FILE,
    Entry,
    archive_format_of,
    check_plain,
    compare_rows,
    copy_and_hash,
    expected_kind,
    human_duration,
    human_size,
    is_candidate,
    manifest_path,
    newest_first,
    parse_manifest,
    parse_s3_url,
    parse_timestamp,
    previous_of,
    read_manifest,
    read_tar,
    sha256_file,
    size_drop_problem,
    sniff,
    stderr_errors,
    tree_size,
    utc_now,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.fsclean import check_size
from ansible_collections.runbook.maintenance.plugins.module_utils.pgbackrest import (
    STANZA_RE,
    PgBackRestError,
    archived_segments,
    newest_segment,
    parse_info,
    parse_verify,
    pitr_gaps,
    segments_per_log,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import (
    connection_kwargs,
    connection_option_errors,
    describe_target,
    postgres_common_argument_spec,
    scrub,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.s3 import (
    MISSING_CODES,
    BotoCoreError,
    ClientError,
    describe_s3_error,
    module_s3_client,
    s3_common_argument_spec,
    validate_s3_params,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import check_duration

try:
    import psycopg
    from psycopg import sql
except ImportError:  # reported by the restore check, the only one that needs it
    psycopg = None
    sql = None


CHECKS = ('exists', 'checksum', 'format', 'age', 'size', 'restore', 'rows')
DEFAULT_CHECKS = ['exists', 'checksum', 'format', 'age', 'size']
PGBACKREST_CHECKS = ('repository', 'age', 'wal_age', 'wal_gaps')
ALL_CHECKS = CHECKS + ('repository', 'wal_age', 'wal_gaps')
PREFIX_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]{0,39}$')
FUTURE_TOLERANCE_S = 300
TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
LIBPQ_ENV = {'host': 'PGHOST', 'port': 'PGPORT', 'user': 'PGUSER', 'password': 'PGPASSWORD', 'dbname': 'PGDATABASE',
             'sslmode': 'PGSSLMODE', 'sslrootcert': 'PGSSLROOTCERT', 'connect_timeout': 'PGCONNECT_TIMEOUT',
             'application_name': 'PGAPPNAME'}


class CheckFailed(Exception):
    """A check's verdict: failed, with the reason."""


class NotRun(Exception):
    """A check that did not run: skipped in check mode, or another check it needs failed (that
    one is the failure)."""


def one_line(value) -> str:
    return ' '.join(str(value).split())


def libpq_environment(params: dict, dbname: str) -> dict:
    """PG* variables for pg_restore: the password travels here, never on its command line."""
    kwargs = connection_kwargs(params, dbname)
    return {LIBPQ_ENV[key]: str(value) for key, value in kwargs.items() if key in LIBPQ_ENV}


def s3_error_code(exc: Exception) -> str:
    response = getattr(exc, 'response', None) or {}
    return str((response.get('Error') or {}).get('Code', ''))


# ---- where the artefact lives ----------------------------------------------------------------
class LocalSource:
    """An artefact on the host running the module."""

    def __init__(self, path: str, pattern: str) -> None:
        self.path = path.rstrip('/') or '/'
        self.pattern = pattern
        self.artefact = self.path
        self.name = os.path.basename(self.path)
        self.metadata_sha256: str | None = None
        self._sha256: str | None = None
        self.entry: Entry | None = None

    @property
    def manifest_location(self) -> str:
        return manifest_path(self.path)

    def stat(self) -> Entry | None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckFailed(f'cannot read {self.path}: {exc.strerror or exc}') from None
        if not (os.path.isfile(self.path) or os.path.isdir(self.path)):
            raise CheckFailed(f'{self.path} is neither a regular file nor a directory')
        try:
            size = tree_size(self.path)
        except OSError as exc:
            raise CheckFailed(f'cannot read {self.path}: {exc.strerror or exc}') from None
        self.entry = Entry(self.name, self.path, size, info.st_mtime)
        return self.entry

    @property
    def is_dir(self) -> bool:
        return os.path.isdir(self.path)

    def manifest(self) -> dict:
        return read_manifest(self.path)

    def content(self) -> str:
        return self.path

    def sha256(self) -> str | None:
        if self.is_dir:
            return None
        if self._sha256 is None:
            self._sha256 = sha256_file(self.path)
        return self._sha256

    def siblings(self) -> list[Entry]:
        return list_directory(os.path.dirname(self.path) or '.', self.pattern)

    def cleanup(self) -> None:
        """Nothing downloaded."""


def list_directory(directory: str, pattern: str) -> list[Entry]:
    """The artefacts of a directory: regular files and directory-format dumps, never symlinks."""
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not is_candidate(entry.name, pattern) or entry.is_symlink():
                continue
            if entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                found.append(Entry(entry.name, entry.path, info.st_size, info.st_mtime))
            elif entry.is_dir(follow_symlinks=False) and os.path.isfile(os.path.join(entry.path, TOC_FILE)):
                found.append(Entry(entry.name, entry.path, tree_size(entry.path), entry.stat().st_mtime))
    return found


class S3Source:
    """An S3 object, downloaded (and hashed on the way) only when a check needs its content."""

    def __init__(self, client, bucket: str, key: str, pattern: str, workdir, params: dict | None = None) -> None:
        self.client = client
        self.params = params or {}
        self.bucket = bucket
        self.key = key
        self.pattern = pattern
        self.workdir = workdir
        self.artefact = f's3://{bucket}/{key}'
        self.name = key.rsplit('/', 1)[-1]
        self.is_dir = False
        self.metadata_sha256: str | None = None
        self._sha256: str | None = None
        self._download: str | None = None
        self.entry: Entry | None = None

    @property
    def manifest_location(self) -> str:
        return f'{self.artefact}.json'

    def stat(self) -> Entry | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if s3_error_code(exc) in MISSING_CODES:
                return None
            raise CheckFailed(describe_s3_error(exc, self.params, 'cannot read', self.bucket, self.key)) from None
        except BotoCoreError as exc:
            raise CheckFailed(describe_s3_error(exc, self.params, 'cannot reach S3 for', self.bucket, self.key)) from None
        metadata = {k.lower(): v for k, v in (head.get('Metadata') or {}).items()}
        self.metadata_sha256 = (metadata.get('sha256') or '').strip().lower() or None
        self.entry = Entry(self.name, self.artefact, int(head['ContentLength']), head['LastModified'].timestamp())
        return self.entry

    def manifest(self) -> dict:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=f'{self.key}.json')['Body'].read()
        except ClientError as exc:
            if s3_error_code(exc) in MISSING_CODES:
                raise FileNotFoundError(self.manifest_location) from None
            raise ValueError(describe_s3_error(exc, self.params, 'cannot read the manifest', self.bucket,
                                               f'{self.key}.json')) from None
        except BotoCoreError as exc:
            raise ValueError(describe_s3_error(exc, self.params, 'cannot read the manifest', self.bucket,
                                               f'{self.key}.json')) from None
        return parse_manifest(body, f'manifest {self.manifest_location}')

    def content(self) -> str:
        """A local copy of the object (downloaded once)."""
        if self._download is None:
            target = os.path.join(self.workdir(), self.name or 'artefact')
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self.key)['Body']
                with open(target, 'wb') as out:
                    self._sha256, size = copy_and_hash(body, out)
            except (ClientError, BotoCoreError) as exc:
                raise CheckFailed(describe_s3_error(exc, self.params, 'cannot download', self.bucket, self.key)) from None
            except OSError as exc:
                raise CheckFailed(f'cannot download {self.artefact} to {target}: {exc.strerror or exc}') from None
            if self.entry is not None and size != self.entry.size:
                raise CheckFailed(f'the download of {self.artefact} got {size} of {self.entry.size} bytes')
            self._download = target
        return self._download

    def sha256(self) -> str | None:
        self.content()
        return self._sha256

    def siblings(self) -> list[Entry]:
        prefix = self.key[:self.key.rfind('/') + 1]
        return list_s3(self.client, self.bucket, prefix, self.pattern)

    def cleanup(self) -> None:
        """The download lives in the work directory, removed with it."""


def list_s3(client, bucket: str, prefix: str, pattern: str) -> list[Entry]:
    """The artefacts directly under an S3 prefix (not in deeper 'folders')."""
    found = []
    for page in client.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get('Contents', []):
            name = obj['Key'][len(prefix):]
            if '/' in name or not is_candidate(name, pattern):
                continue
            found.append(Entry(name, f"s3://{bucket}/{obj['Key']}", int(obj['Size']), obj['LastModified'].timestamp()))
    return found


# ---- the verification ------------------------------------------------------------------------
class BackupVerify:
    """Runs the requested checks on one artefact and reports each verdict."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.checks: dict[str, dict] = {}
        self.result: dict = {
            'changed': False, 'verified': False, 'artefact': None, 'checks': self.checks, 'failures': [],
            'sha256': None, 'size_bytes': None, 'age_s': None, 'manifest': None, 'restore': None,
        }
        self.requested = self._validate()
        self.source = None
        self.entry: Entry | None = None
        self._workdir: str | None = None
        self._manifest_loaded = False
        self.manifest: dict | None = None
        self.manifest_problem: str | None = None
        self.kind: str | None = None
        self.counts: dict[tuple[str, str], int] = {}
        self.drop_problem: str | None = None
        self.scratch_created = False

    # ---- input -------------------------------------------------------------------------
    def _validate(self) -> list[str]:
        p = self.params
        errors = []
        self.max_age = None
        if p['max_age'] not in (None, ''):
            try:
                self.max_age = check_duration('max_age', p['max_age'], allow_zero=True)  # 0: every backup is too old
            except ValueError as exc:
                errors.append(str(exc))
        self.min_size = None
        if p['min_size'] not in (None, ''):
            try:
                self.min_size = check_size('min_size', p['min_size'])
            except ValueError as exc:
                errors.append(str(exc))
        errors.extend(connection_option_errors(p))
        ratio = p['max_size_drop_ratio']
        if ratio is not None and not 0 <= ratio <= 1:
            errors.append(f'max_size_drop_ratio must be between 0 and 1, got {ratio}')
        if p['expected_sha256'] is not None:
            p['expected_sha256'] = p['expected_sha256'].strip().lower()
            if not SHA256_RE.match(p['expected_sha256']):
                errors.append(f"expected_sha256 must be 64 hexadecimal digits, got {p['expected_sha256']!r}")
        if not PREFIX_RE.match(p['restore_db_prefix'] or ''):
            errors.append(f"restore_db_prefix must be a letter or '_' then letters, digits or '_' "
                          f"(at most 40), got {p['restore_db_prefix']!r}")
        if p['restore_jobs'] < 1:
            errors.append(f"restore_jobs must be at least 1, got {p['restore_jobs']}")
        if not p['checks']:
            errors.append('checks cannot be empty')
        latest = p['latest_in']
        if latest is not None and not latest.strip():
            errors.append('latest_in cannot be empty')
        if latest and latest.startswith('s3://'):
            try:
                parse_s3_url(latest)
            except ValueError as exc:
                errors.append(f'latest_in: {exc}')
        elif latest and not os.path.isabs(latest):
            errors.append(f"latest_in must be an absolute path or an s3:// URL, got {latest!r}")
        if p['s3_key'] is not None and not p['s3_key'].strip('/'):
            errors.append('s3_key cannot be empty')
        if p['tmp_dir'] and not os.path.isdir(p['tmp_dir']):
            errors.append(f"tmp_dir {p['tmp_dir']} is not a directory")
        errors.extend(validate_s3_params(p))
        if errors:
            self.module.fail_json(msg='Invalid options: ' + '; '.join(errors))
        wanted = set(p['checks'])
        if 'rows' in wanted:
            wanted.add('restore')
        if wanted & {'checksum', 'format', 'age', 'size', 'restore'}:
            wanted.add('exists')
        return [name for name in CHECKS if name in wanted]

    def uses_s3(self) -> bool:
        return bool(self.params['s3_key']) or (self.params['latest_in'] or '').startswith('s3://')

    def s3_client(self):
        """The shared S3 client (module_utils/s3.py): bounded connect/read timeouts and retries."""
        return module_s3_client(self.module)

    def workdir(self) -> str:
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix='runbook-verify-', dir=self.params['tmp_dir'] or None)
        return self._workdir

    # ---- target ------------------------------------------------------------------------
    def resolve(self):
        """The source to verify, or (None, why there is none)."""
        p = self.params
        client = self.s3_client() if self.uses_s3() else None
        if p['path']:
            return LocalSource(p['path'], p['pattern']), None
        if p['s3_key']:
            return S3Source(client, p['s3_bucket'], p['s3_key'].lstrip('/'), p['pattern'], self.workdir, p), None
        latest = p['latest_in']
        if latest.startswith('s3://'):
            bucket, prefix = parse_s3_url(latest)
            try:
                entries = list_s3(client, bucket, prefix, p['pattern'])
            except ClientError as exc:
                if s3_error_code(exc) in MISSING_CODES:
                    return None, f'{latest} does not exist (no such bucket)'
                return None, describe_s3_error(exc, p, 'cannot list', bucket, prefix or None)
            except BotoCoreError as exc:
                return None, describe_s3_error(exc, p, 'cannot reach S3 to list', bucket, prefix or None)
            if not entries:
                return None, f"no artefact matching {p['pattern']!r} in {latest}"
            key = newest_first(entries)[0].location[len(f's3://{bucket}/'):]
            return S3Source(client, bucket, key, p['pattern'], self.workdir, p), None
        directory = latest
        if not os.path.isdir(directory):
            return None, f'{directory} is not a directory'
        try:
            entries = list_directory(directory, p['pattern'])
        except OSError as exc:
            return None, f'cannot list {directory}: {exc.strerror or exc}'
        if not entries:
            return None, f"no artefact matching {p['pattern']!r} in {directory}"
        return LocalSource(newest_first(entries)[0].location, p['pattern']), None

    def load_manifest(self) -> None:
        if self._manifest_loaded:
            return
        self._manifest_loaded = True
        try:
            self.manifest = self.source.manifest()
        except FileNotFoundError:
            self.manifest_problem = f'manifest missing ({self.source.manifest_location})'
        except ValueError as exc:
            self.manifest_problem = f'manifest unreadable: {exc}'
        self.result['manifest'] = self.manifest

    # ---- checks ------------------------------------------------------------------------
    def check_exists(self) -> str:
        entry = self.entry
        what = 'directory-format dump' if self.source.is_dir else ('object' if isinstance(self.source, S3Source) else 'file')
        size = f'{entry.size} bytes' if entry.size < 1024 else f'{human_size(entry.size)} ({entry.size} bytes)'
        return f'{what} of {size}'

    def check_checksum(self) -> str:
        p = self.params
        size = self.entry.size
        problems, matched = [], []
        try:
            actual = self.source.sha256()
        except OSError as exc:
            raise CheckFailed(f'cannot read the artefact: {exc.strerror or exc}') from None
        self.result['sha256'] = actual
        if p['expected_sha256']:
            if actual is None:
                problems.append('a directory-format dump has no single sha256 to compare with expected_sha256')
            elif actual != p['expected_sha256']:
                problems.append(f"sha256 {actual} does not match expected_sha256 {p['expected_sha256']}")
            else:
                matched.append('expected_sha256')
        else:
            self.load_manifest()
            if self.manifest is None:
                problems.append(self.manifest_problem)
            else:
                recorded = self.manifest.get('sha256')
                if recorded is None and actual is None:
                    matched.append('the manifest (size only: a directory-format dump has no sha256; '
                                   'its data files carry gzip CRCs, read by the format check)')
                elif recorded is None or actual is None:
                    problems.append(f"the manifest's sha256 is {recorded!r} but the artefact's is {actual!r}")
                elif actual != recorded.lower():
                    problems.append(f'sha256 {actual} does not match the manifest\'s {recorded.lower()}')
                else:
                    matched.append('the manifest')
                if self.manifest.get('size') != size:
                    problems.append(f"size {size} bytes differs from the manifest's {self.manifest.get('size')}")
        meta = self.source.metadata_sha256
        if meta:
            if actual != meta:
                problems.append(f"sha256 {actual} does not match the object's metadata sha256 "
                                f"(x-amz-meta-sha256) {meta}: the content differs from what was uploaded")
            else:
                matched.append('the object metadata (x-amz-meta-sha256)')
        if problems:
            raise CheckFailed('; '.join(problems))
        return f"sha256 {actual} matches {' and '.join(matched)}" if actual else f"matches {' and '.join(matched)}"

    def check_format(self) -> str:
        self.load_manifest()
        declared = (self.manifest or {}).get('format')
        path = self.source.content()
        kind = expected_kind(self.source.name, declared, self.source.is_dir)
        if kind == 'plain' and declared is None and sniff(path) == 'custom':
            kind = 'custom'  # an unknown suffix without manifest: the content decides
        self.kind = kind
        if kind == 'custom':
            return self.read_custom(path)
        if kind == 'directory':
            if sniff(path) != 'directory':
                raise CheckFailed(f'{KIND_LABELS["other_directory"]}')
            return self.read_custom(path, directory=True)
        if kind == 'tar':
            try:
                report = read_tar(path)
            except ValueError as exc:
                raise CheckFailed(f'tar archive: {exc}') from None
            except OSError as exc:
                raise CheckFailed(f'tar archive cannot be read: {exc.strerror or exc}') from None
            backup_kind = (self.manifest or {}).get('kind', 'database')
            if declared in ('directory', 'tar') and backup_kind == 'database' and not report.toc_dirs:
                raise CheckFailed(f'the manifest says a pg_dump {declared}-format dump, but the archive holds '
                                  f'no {TOC_FILE}')
            if report.unsafe:
                more = f' (and {len(report.unsafe) - 3} more)' if len(report.unsafe) > 3 else ''
                raise CheckFailed(f"tar archive with {len(report.unsafe)} member(s) unsafe to extract: "
                                  f"{'; '.join(report.unsafe[:3])}{more}")
            packed = f'{report.compression}-compressed ' if report.compression else ''
            dump = ', a pg_dump dump inside' if report.toc_dirs else ''
            names = ', every member name safe to extract' if backup_kind == 'paths' else ''
            return (f'{packed}tar archive read to its end: {report.members} members, {report.files} files, '
                    f'{report.bytes_read} bytes{dump}{names}')
        try:
            return check_plain(path)
        except ValueError as exc:
            raise CheckFailed(str(exc)) from None

    def read_custom(self, path: str, directory: bool = False) -> str:
        if not directory:
            sniffed = sniff(path)
            if sniffed == 'empty':
                raise CheckFailed('not a pg_dump custom-format archive: the file is empty (0 bytes)')
            if sniffed != 'custom':
                hint = ('; restore it with psql, or dump with pg_dump -Fc' if sniffed == 'sql' else '')
                raise CheckFailed(f'not a pg_dump custom-format archive: it is {KIND_LABELS[sniffed]} '
                                  f'(no PGDMP header){hint}')
            with open(path, 'rb') as handle:
                declared = archive_format_of(handle.read(16))
            if declared != 'custom':
                raise CheckFailed(f'a pg_dump archive header declaring the {declared} format, not custom')
        pg_restore = self.pg_restore()
        rc, out, err = self.run([pg_restore, '--list', path])
        errors = stderr_errors(err)
        if rc != 0 or errors:
            raise CheckFailed(f"pg_restore --list cannot read its table of contents (exit {rc}): "
                              f"{'; '.join(errors[:3]) or 'no message'}")
        entries = len([line for line in out.splitlines() if line.strip() and not line.startswith(';')])
        rc, _out, err = self.run([pg_restore, '-f', os.devnull, path])
        errors = stderr_errors(err)
        if rc != 0 or errors:
            raise CheckFailed(f"pg_restore cannot read the archive to the end (exit {rc}; its table of contents "
                              f"reads fine, so pg_restore --list alone would pass): "
                              f"{'; '.join(errors[:3]) or 'no message'}")
        what = 'directory-format dump' if directory else 'custom-format archive'
        return f'{what}, {entries} TOC entries, every data block read by pg_restore'

    def check_age(self) -> str:
        self.load_manifest()
        if self.manifest is not None:
            created = parse_timestamp(self.manifest['created_at'])
            source = 'per the manifest'
        else:
            created = None
            clock = 'its LastModified' if isinstance(self.source, S3Source) else 'its modification time'
            why = 'missing' if (self.manifest_problem or '').startswith('manifest missing') else 'unreadable'
            source = f'per {clock}, the manifest is {why}'
        now = utc_now()
        age = (now - created).total_seconds() if created else now.timestamp() - self.entry.mtime
        self.result['age_s'] = round(age, 1)
        when = created.strftime('%Y-%m-%dT%H:%M:%SZ') if created else \
            time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.entry.mtime))
        if age < -FUTURE_TOLERANCE_S:
            raise CheckFailed(f'created {when} ({source}), {human_duration(-age)} in the future: a wrong clock '
                              'on the backup host or here?')
        if self.max_age is not None and age > self.max_age:
            raise CheckFailed(f"the backup is {human_duration(age)} old (created {when} {source}), older than "
                              f"max_age {self.params['max_age']}")
        limit = f", max_age {self.params['max_age']}" if self.max_age is not None else ', no max_age'
        return f'{human_duration(max(age, 0))} old (created {when} {source}){limit}'

    def check_size(self) -> str:
        size = self.entry.size
        if size == 0:
            raise CheckFailed('the artefact is empty (0 bytes)')
        if self.min_size is not None and size < self.min_size:
            raise CheckFailed(f"{size} bytes ({human_size(size)}) is below min_size {self.params['min_size']} "
                              f'({self.min_size} bytes)')
        ratio = self.params['max_size_drop_ratio']
        if ratio is None:
            return f'{size} bytes ({human_size(size)})'
        try:
            previous = previous_of(self.source.siblings(), self.entry)
        except (OSError, ClientError, BotoCoreError) as exc:
            what = 'cannot list the artefacts beside it to find the previous one'
            if isinstance(exc, OSError):
                raise CheckFailed(f'{what}: {one_line(exc)}') from None
            raise CheckFailed(describe_s3_error(exc, self.params, what + ' in', getattr(self.source, 'bucket', None))) from None
        if previous is None:
            return f'{size} bytes ({human_size(size)}); no previous artefact to compare with'
        self.result['previous'] = {'artefact': previous.location, 'size': previous.size}
        problem = size_drop_problem(size, previous, ratio)
        if problem:
            raise CheckFailed(problem)
        return f'{size} bytes; previous {previous.name} {previous.size} bytes (max_size_drop_ratio {ratio})'

    # ---- restore -----------------------------------------------------------------------
    def pg_restore(self) -> str:
        p = self.params
        if p['pg_bin_dir']:
            candidate = os.path.join(p['pg_bin_dir'], 'pg_restore')
            if os.access(candidate, os.X_OK):
                return candidate
            raise CheckFailed(f"pg_restore not found in pg_bin_dir {p['pg_bin_dir']}")

        def major(directory: str) -> int:
            part = directory.rstrip('/').split('/')[-2]
            return int(part) if part.isdigit() else 0

        for directory in sorted(glob.glob('/usr/lib/postgresql/*/bin'), key=major, reverse=True):
            if os.access(os.path.join(directory, 'pg_restore'), os.X_OK):
                return os.path.join(directory, 'pg_restore')
        found = self.module.get_bin_path('pg_restore')
        if not found:
            raise CheckFailed('pg_restore not found: install the PostgreSQL client tools or set pg_bin_dir')
        return found

    def run(self, argv: list[str], env: dict | None = None) -> tuple[int, str, str]:
        rc, out, err = self.module.run_command(argv, environ_update=env or {}, expand_user_and_vars=False)
        return rc, out, scrub(err, self.params)

    def restore_source(self, path: str) -> tuple[str, int]:
        """What pg_restore reads, and with how many jobs."""
        jobs = self.params['restore_jobs']
        self.load_manifest()
        kind = self.kind or expected_kind(self.source.name, (self.manifest or {}).get('format'), self.source.is_dir)
        if kind == 'plain' and not self.source.is_dir and sniff(path) == 'custom':
            kind = 'custom'
        if kind in ('custom', 'directory'):
            return path, jobs
        if kind == 'plain':
            raise CheckFailed('a plain file is not a pg_dump archive pg_restore can restore (custom, directory '
                              'or tar format)')
        extracted = tempfile.mkdtemp(prefix='extract-', dir=self.workdir())
        try:
            report = read_tar(path, extract_to=extracted)
        except ValueError as exc:
            raise CheckFailed(f'the tar archive cannot be extracted: {exc}') from None
        except OSError as exc:
            raise CheckFailed(f'the tar archive cannot be extracted to {extracted}: {exc.strerror or exc}') from None
        if not report.toc_dirs:
            raise CheckFailed(f'the archive holds no pg_dump dump ({TOC_FILE}) to restore')
        # A directory-format dump, or an extracted pg_dump -Ft archive: pg_restore reads both as a directory.
        return os.path.join(extracted, report.toc_dirs[0]), jobs

    def restore(self) -> dict:
        p = self.params
        if psycopg is None:
            raise CheckFailed(missing_required_lib('psycopg (version 3)'))
        pg_restore = self.pg_restore()
        source, jobs = self.restore_source(self.source.content())
        name = f"{p['restore_db_prefix']}_{secrets.token_hex(4)}"
        info = {'database': name, 'duration_s': None, 'tables': 0, 'rows': 0, 'dropped': False}
        self.result['restore'] = info
        began = time.monotonic()
        try:
            admin = psycopg.connect(autocommit=True, **connection_kwargs(p))
        except psycopg.Error as exc:
            raise CheckFailed(scrub(f'cannot connect to {describe_target(p)} to create the scratch database: '
                                    f'{one_line(exc)}', p)) from None
        created = False
        try:
            self.warn_leftovers(admin)
            try:
                admin.execute(sql.SQL('CREATE DATABASE {} TEMPLATE template0').format(sql.Identifier(name)))
            except psycopg.Error as exc:  # never dropped then: the name may belong to someone else
                raise CheckFailed(scrub(f'cannot create the scratch database {name}: {one_line(exc)}', p)) from None
            created = self.scratch_created = True
            argv = [pg_restore, '--no-owner', '--no-privileges', '--no-tablespaces', '--no-password',
                    '-j', str(jobs), '-d', name, source]
            rc, _out, err = self.run(argv, libpq_environment(p, name))
            errors = stderr_errors(err)
            if rc != 0 or errors:
                raise CheckFailed(f"pg_restore into the scratch database {name} failed (exit {rc}): "
                                  f"{'; '.join(errors[:3]) or 'no message'}")
            self.counts, partitions = self.count_rows(name)
            info['tables'] = len(self.counts)
            info['rows'] = sum(count for key, count in self.counts.items() if key not in partitions)
        finally:
            info['duration_s'] = round(time.monotonic() - began, 3)
            if created:
                self.drop_scratch(admin, name, info)
            admin.close()
        return info

    def count_rows(self, dbname: str) -> tuple[dict[tuple[str, str], int], set]:
        """Exact row count of every table restored, and the partitioned (parent) tables."""
        p = self.params
        try:
            with psycopg.connect(autocommit=True, **connection_kwargs(p, dbname)) as conn:
                tables = conn.execute(
                    "SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
                    "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                    "AND n.nspname !~ '^pg_(toast|temp_)' ORDER BY 1, 2").fetchall()
                counts = {}
                for schema, table, _kind in tables:
                    query = sql.SQL('SELECT count(*) FROM {}').format(sql.Identifier(schema, table))
                    counts[(schema, table)] = conn.execute(query).fetchone()[0]
        except psycopg.Error as exc:
            raise CheckFailed(scrub(f'cannot count the restored rows in {dbname}: {one_line(exc)}', p)) from None
        return counts, {(schema, table) for schema, table, kind in tables if kind == 'p'}

    def warn_leftovers(self, admin) -> None:
        prefix = f"{self.params['restore_db_prefix']}_"
        try:
            rows = admin.execute('SELECT datname FROM pg_database WHERE left(datname, length(%s)) = %s ORDER BY 1',
                                 (prefix, prefix)).fetchall()
        except psycopg.Error:
            return
        if rows:
            self.module.warn(f"scratch database(s) left by an interrupted verification (or one running now): "
                             f"{', '.join(row[0] for row in rows)}; drop them by hand once no verification runs")

    def drop_scratch(self, admin, name: str, info: dict) -> None:
        """DROP the scratch database whatever happened before (terminating its sessions). SIGTERM
        and SIGHUP wait until it is done, so a terminated run cannot stop half way through."""
        target = sql.Identifier(name)
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, TERMINATING_SIGNALS)
        try:
            if admin.info.server_version >= 130000:
                admin.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(target))
            else:
                admin.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s', (name,))
                admin.execute(sql.SQL('DROP DATABASE IF EXISTS {}').format(target))
            info['dropped'] = True
        except psycopg.Error as exc:
            self.drop_problem = scrub(f'the scratch database {name} could not be dropped, drop it by hand: '
                                      f'{one_line(exc)}', self.params)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def terminated(self, signum: int) -> str:
        msg = f'terminated by signal {signum} before the verification ended'
        restore = self.result.get('restore')
        if restore and self.scratch_created:
            if restore['dropped']:
                return f"{msg}; the scratch database {restore['database']} was dropped"
            return f"{msg}; the scratch database {restore['database']} could not be dropped, drop it by hand"
        return msg

    # ---- run ---------------------------------------------------------------------------
    def record(self, name: str, ok: bool | None, detail: str) -> None:
        self.checks[name] = {'ok': ok, 'detail': scrub(detail, self.params)}

    def run_check(self, name: str, blocked: str | None = None) -> None:
        if blocked:
            self.record(name, None, f'not run: {blocked}')
            return
        try:
            detail = getattr(self, f'check_{name}')()
        except CheckFailed as exc:
            self.record(name, False, str(exc))
        except NotRun as exc:
            self.record(name, None, str(exc))
        except OSError as exc:  # the artefact or the work directory became unreadable
            where = f' {exc.filename}' if exc.filename else ''
            self.record(name, False, f'cannot read{where}: {exc.strerror or exc}')
        else:
            self.record(name, True, detail)

    def check_restore(self) -> str:
        if self.module.check_mode:
            raise NotRun('skipped in check mode')
        if self.checks.get('format', {}).get('ok') is False:
            raise NotRun('not run: the format check failed, the archive is not restorable as it is')
        self.drop_problem = None
        try:
            info = self.restore()
        except CheckFailed as exc:
            if self.drop_problem:
                raise CheckFailed(f'{exc}; {self.drop_problem}') from None
            raise
        if self.drop_problem:
            raise CheckFailed(self.drop_problem)
        return (f"restored into {info['database']} (dropped) in {info['duration_s']}s: {info['tables']} tables, "
                f"{info['rows']} rows")

    def check_rows(self) -> str:
        if self.module.check_mode:
            raise NotRun('skipped in check mode')
        if self.checks.get('restore', {}).get('ok') is not True:
            raise NotRun('not run: no restore to count rows in')
        self.load_manifest()
        if self.manifest is None:
            raise CheckFailed(f'{self.manifest_problem}: no row counts to compare')
        tables = self.manifest.get('tables')
        if tables is None:
            raise CheckFailed("the manifest lists no tables (no 'tables' with row counts)")
        if not tables:  # a database without tables (e.g. `postgres`): the restore must have none either
            if self.counts:
                raise CheckFailed(f'the manifest records no tables but the restore has {len(self.counts)}')
            return 'no tables in the manifest, none restored'
        kind = self.manifest.get('row_counts', 'exact')
        if kind not in (None, 'exact'):
            raise CheckFailed(f"the manifest's row counts are not exact (row_counts: {kind}), they cannot be "
                              'compared exactly')
        mismatches, compared = compare_rows(tables, self.counts)
        if not compared:
            raise CheckFailed('the manifest records no row count for any table')
        if mismatches:
            more = f' (and {len(mismatches) - 5} more)' if len(mismatches) > 5 else ''
            raise CheckFailed(f"{len(mismatches)} of {compared} tables differ: {'; '.join(mismatches[:5])}{more}")
        return f'{compared} tables have exactly the row counts of the manifest'

    def verify(self) -> dict:
        source, missing = self.resolve()
        self.source = source
        if source is None:
            self.record('exists', False, missing)
            for name in self.requested:
                if name != 'exists':
                    self.record(name, None, 'not run: no artefact')
            return self.finish()
        self.result['artefact'] = source.artefact
        try:
            try:
                self.entry = source.stat()
            except CheckFailed as exc:
                self.record('exists', False, str(exc))
                self.entry = None
            else:
                if self.entry is None:
                    self.record('exists', False, f'{source.artefact} does not exist')
                else:
                    self.record('exists', True, self.check_exists())
                    self.result['size_bytes'] = self.entry.size
            blocked = None if self.checks['exists']['ok'] else 'the artefact cannot be read'
            for name in self.requested:
                if name != 'exists':
                    self.run_check(name, blocked)
            if self.entry is not None:
                self.load_manifest()  # returned whatever the checks
        finally:
            source.cleanup()
            if self._workdir:
                shutil.rmtree(self._workdir, ignore_errors=True)
        return self.finish()

    def finish(self) -> dict:
        failures = [f"{name}: {check['detail']}" for name, check in self.checks.items() if check['ok'] is False]
        self.result['failures'] = failures
        self.result['verified'] = not failures
        artefact = self.result['artefact'] or self.params['latest_in']
        if failures:
            self.result['msg'] = (f"{artefact}: {len(failures)} check(s) failed "
                                  f"({', '.join(name for name, check in self.checks.items() if check['ok'] is False)}): "
                                  + '; '.join(failures))
        else:
            passed = [name for name, check in self.checks.items() if check['ok']]
            skipped = [name for name, check in self.checks.items() if check['ok'] is None]
            self.result['msg'] = f"{artefact} verified: {', '.join(passed)}" + \
                (f" ({', '.join(skipped)} skipped in check mode)" if skipped else '')
        return self.result


# ---- pgBackRest repositories -------------------------------------------------------------------
class PgBackRestVerify:
    """A pgBackRest stanza: the repository verified by pgBackRest, the newest backup's age, the
    newest archived WAL segment's age (the RPO) and gaps in the archived WAL. Read-only."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.checks: dict[str, dict] = {}
        stanza = self.params['pgbackrest_stanza']
        self.result: dict = {
            'changed': False, 'verified': False, 'artefact': f'pgbackrest stanza {stanza}', 'checks': self.checks,
            'failures': [], 'sha256': None, 'size_bytes': None, 'age_s': None, 'manifest': None, 'restore': None,
            'pgbackrest': {'stanza': stanza, 'status': None, 'newest_backup': None, 'backups': [],
                           'archive_id': None, 'newest_wal': None, 'wal_age_s': None, 'wal_gaps': [],
                           'unrestorable_backups': {},
                           'verify_status': None, 'invalid_backups': []},
        }
        self.requested = self._validate()
        self.info = None
        self._segments = None

    def _validate(self) -> list[str]:
        p = self.params
        errors = []
        if not STANZA_RE.match(p['pgbackrest_stanza'] or ''):
            errors.append(f"pgbackrest_stanza must be letters, digits, '_', '.' or '-', got {p['pgbackrest_stanza']!r}")
        self.max_age = self.max_wal_age = None
        for key in ('max_age', 'max_wal_age'):
            if p[key] not in (None, ''):
                try:
                    setattr(self, key, check_duration(key, p[key], allow_zero=True))  # 0: strictest, not unbounded
                except ValueError as exc:
                    errors.append(str(exc))
        try:
            self.segment_size = check_size('wal_segment_size', p['wal_segment_size'], allow_zero=False)
            segments_per_log(self.segment_size)
        except ValueError as exc:
            errors.append(str(exc) if str(exc).startswith('wal_segment_size') else f'wal_segment_size: {exc}')
        if not p['checks']:
            errors.append('checks cannot be empty')
        wrong = sorted(set(p['checks'] or []) - set(PGBACKREST_CHECKS))
        if wrong:
            errors.append(f"checks {', '.join(wrong)} apply to a backup artefact, a pgBackRest stanza takes "
                          f"{', '.join(PGBACKREST_CHECKS)}")
        if p['pgbackrest_config'] and not os.path.isfile(p['pgbackrest_config']):
            errors.append(f"pgbackrest_config {p['pgbackrest_config']} is not a file")
        if errors:
            self.module.fail_json(msg='Invalid options: ' + '; '.join(errors))
        return [name for name in PGBACKREST_CHECKS if name in p['checks']]

    def binary(self) -> str:
        if self.params['pgbackrest_bin']:
            return self.params['pgbackrest_bin']
        found = self.module.get_bin_path('pgbackrest')
        if not found:
            self.module.fail_json(msg='pgbackrest not found on the PATH: install pgBackRest or set pgbackrest_bin',
                                  **self.result)
        return found

    def pgbackrest(self, *args: str) -> str:
        """stdout of one pgBackRest command; no log file written (a root-owned log would stop the
        postgres user's own runs), console output off so stdout is the output alone."""
        argv = [self.binary(), f"--stanza={self.params['pgbackrest_stanza']}", '--log-level-file=off',
                '--log-level-console=off', '--log-level-stderr=error']
        if self.params['pgbackrest_config']:
            argv.append(f"--config={self.params['pgbackrest_config']}")
        argv.extend(args)
        rc, out, err = self.module.run_command(argv, expand_user_and_vars=False)
        if rc != 0:
            raise CheckFailed(f"pgbackrest {args[0]} failed (exit {rc}): {one_line(err or out)[:500] or 'no message'}")
        return out

    def load_info(self):
        if self.info is None:
            try:
                self.info = parse_info(self.pgbackrest('info', '--output=json'), self.params['pgbackrest_stanza'])
            except PgBackRestError as exc:
                raise CheckFailed(str(exc)) from None
            data = self.result['pgbackrest']
            data['status'] = self.info.status_message
            data['backups'] = [{'label': b.label, 'type': b.type, 'stopped': b.stopped.strftime('%Y-%m-%dT%H:%M:%SZ'),
                                'archive_start': b.archive_start, 'archive_stop': b.archive_stop, 'error': b.error}
                               for b in sorted(self.info.backups, key=lambda b: b.stopped)]
            archive = self.info.current_archive()
            data['archive_id'] = archive['id'] if archive else None
        return self.info

    def segments(self) -> dict:
        if self._segments is None:
            info = self.load_info()
            archive = info.current_archive()
            if archive is None:
                raise CheckFailed(f'no WAL archived in stanza {info.name} ({info.status_message})')
            listing = self.pgbackrest('repo-ls', '--output=json', '--recurse', f"archive/{info.name}/{archive['id']}")
            try:
                self._segments = archived_segments(listing)
            except PgBackRestError as exc:
                raise CheckFailed(str(exc)) from None
        return self._segments

    def check_repository(self) -> str:
        try:
            report = parse_verify(self.pgbackrest('verify', '--output=text', '--verbose'))
        except PgBackRestError as exc:
            raise CheckFailed(str(exc)) from None
        data = self.result['pgbackrest']
        data['verify_status'] = report['status']
        data['invalid_backups'] = sorted(label for label, status in report['backups'].items() if status != 'valid')
        wal = sum(item['checked'] for item in report['archives'].values())
        if report['status'] != 'ok' or report['problems']:
            raise CheckFailed(f"pgbackrest verify found the repository in error: {'; '.join(report['problems'][:5]) or report['status']}")
        return f"pgbackrest verify: {len(report['backups'])} backups valid, {wal} WAL segments checked"

    def check_age(self) -> str:
        info = self.load_info()
        newest = info.newest()
        if newest is None:
            raise CheckFailed(f'stanza {info.name} holds no backup ({info.status_message})')
        age = (utc_now() - newest.stopped).total_seconds()
        self.result['age_s'] = round(age, 1)
        when = newest.stopped.strftime('%Y-%m-%dT%H:%M:%SZ')
        self.result['pgbackrest']['newest_backup'] = {'label': newest.label, 'type': newest.type, 'stopped': when}
        if age < -FUTURE_TOLERANCE_S:
            raise CheckFailed(f'the newest backup {newest.label} ended {when}, {human_duration(-age)} in the future: '
                              'a wrong clock on the backup host or here?')
        if self.max_age is not None and age > self.max_age:
            raise CheckFailed(f"the newest backup {newest.label} ({newest.type}) is {human_duration(age)} old "
                              f"(ended {when}), older than max_age {self.params['max_age']}")
        limit = f", max_age {self.params['max_age']}" if self.max_age is not None else ', no max_age'
        return f'newest backup {newest.label} ({newest.type}) {human_duration(max(age, 0))} old (ended {when}){limit}'

    def check_wal_age(self) -> str:
        newest = newest_segment(self.segments())
        if newest is None:
            raise CheckFailed('no WAL segment is archived: is archive_command set and archive_mode on?')
        name, when = newest
        age = (utc_now() - when).total_seconds()
        data = self.result['pgbackrest']
        data['newest_wal'] = {'segment': name, 'archived_at': when.strftime('%Y-%m-%dT%H:%M:%SZ')}
        data['wal_age_s'] = round(age, 1)
        if self.max_wal_age is not None and age > self.max_wal_age:
            raise CheckFailed(f"the newest archived WAL segment {name} reached the repository {human_duration(age)} ago, "
                              f"more than max_wal_age {self.params['max_wal_age']} (the RPO): archiving is stuck, "
                              'or archive_timeout is not set on a quiet database')
        limit = f", max_wal_age {self.params['max_wal_age']}" if self.max_wal_age is not None else ', no max_wal_age'
        return f'newest archived WAL segment {name} archived {human_duration(max(age, 0))} ago{limit}'

    def check_wal_gaps(self) -> str:
        info = self.load_info()
        segments = self.segments()
        try:
            found = pitr_gaps(info.backups, segments, self.segment_size)
        except ValueError as exc:
            raise CheckFailed(f'cannot number the WAL segments: {exc}') from None
        data = self.result['pgbackrest']
        data['wal_gaps'] = found['gaps']
        data['unrestorable_backups'] = found['unrestorable']
        problems = []
        for label, missing in sorted(found['unrestorable'].items()):
            more = f' (and {len(missing) - 3} more)' if len(missing) > 3 else ''
            problems.append(f"backup {label} cannot be restored, WAL it needs is missing: {', '.join(missing[:3])}{more}")
        for gap in found['gaps'][:5]:
            span = gap['first'] if gap['count'] == 1 else f"{gap['first']}..{gap['last']}"
            problems.append(f"{gap['count']} segment(s) missing since the newest full backup: {span} "
                            '(no point-in-time recovery across it)')
        if problems:
            raise CheckFailed('WAL gap(s): ' + '; '.join(problems))
        if found['since'] is None:
            return f'no full backup to start from; {len(segments)} segments archived'
        return (f"every backup has its WAL; no gap from the newest full backup's first segment {found['since']} "
                f"to the newest archived ({len(segments)} segments in the archive)")

    def verify(self) -> dict:
        for name in self.requested:
            try:
                detail = getattr(self, f'check_{name}')()
            except CheckFailed as exc:
                self.checks[name] = {'ok': False, 'detail': str(exc)}
            else:
                self.checks[name] = {'ok': True, 'detail': detail}
        failures = [f"{name}: {check['detail']}" for name, check in self.checks.items() if check['ok'] is False]
        self.result['failures'] = failures
        self.result['verified'] = not failures
        artefact = self.result['artefact']
        if failures:
            self.result['msg'] = (f"{artefact}: {len(failures)} check(s) failed "
                                  f"({', '.join(name for name, check in self.checks.items() if check['ok'] is False)}): "
                                  + '; '.join(failures))
        else:
            self.result['msg'] = f"{artefact} verified: {', '.join(self.checks)}"
        return self.result


class Terminated(BaseException):
    """SIGTERM or SIGHUP (a task timeout, a dropped connection): unwinds through every finally
    block, so the scratch database is dropped and the downloads removed before the module exits."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def terminate(signum, _frame) -> None:
    raise Terminated(signum)


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
    if module.params['pgbackrest_stanza'] is not None:
        if module.params['checks'] is None:
            module.params['checks'] = list(PGBACKREST_CHECKS)
        result = PgBackRestVerify(module).verify()
        if result['failures'] and module.params['fail_on_error']:
            module.fail_json(**result)
        module.exit_json(**result)
    if module.params['checks'] is None:
        module.params['checks'] = list(DEFAULT_CHECKS)
    wrong = sorted(set(module.params['checks']) - set(CHECKS))
    if wrong:
        module.fail_json(msg=f"Invalid options: checks {', '.join(wrong)} apply to a pgBackRest stanza "
                             f"(pgbackrest_stanza) only, an artefact takes {', '.join(CHECKS)}")
    for signum in TERMINATING_SIGNALS:
        signal.signal(signum, terminate)
    verifier = BackupVerify(module)
    try:
        result = verifier.verify()
    except Terminated as exc:
        module.fail_json(**dict(verifier.result, msg=verifier.terminated(exc.signum)))
    if result['failures'] and module.params['fail_on_error']:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
