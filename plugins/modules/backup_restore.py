#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: backup_restore
short_description: Restore a verified pg_dump backup, by swapping in a new database or replacing listed tables
version_added: 0.1.0
description:
  - Restores a pg_dump artefact (custom or directory format) made by
    C(runbook.maintenance.backup_create), named by O(path) or found as the newest verified
    artefact of O(latest_in). Its sha256 and size are checked against its manifest
    (C(<artefact>.json)) before anything else.
  - B(From S3) - O(s3_bucket) and O(s3_key), or O(latest_in) V(s3://bucket/prefix/) (the newest
    verified dump of O(database) there, as the backup role uploads them with their manifests
    C(<key>.json)). The manifest is read and judged first (missing, unverified, another database -
    refused); the object is then downloaded into a new private (0700) directory in O(tmp_dir), its
    sha256 computed while it streams and compared, with its size, to the manifest (and to the
    C(x-amz-meta-sha256) metadata when present) before anything is restored. A mismatch, or any
    S3 failure, refuses with nothing changed (no database created; the download is removed).
  - B(Full restore) (no O(tables)) - the dump is restored into a new database
    C(<target>__restore_<stamp>) and its row counts are compared with the manifest. Only then,
    when the target exists, a safety dump of it is written to O(safety_dump_dir) (the same code
    as C(backup_create)), new connections to it are refused, its sessions are terminated, it is
    renamed C(<target>__before_<stamp>) and the new database takes its name, in that order,
    under O(lock_timeout). Any failure before the swap drops the new database and leaves the
    existing one untouched; a failure of the second rename renames the existing one back.
  - B(Selective restore) (O(tables)) - the dump is restored into the temporary database as
    above; then, in one transaction in the (existing) target, each listed table is dropped if
    present and recreated from it with its data, indexes, constraints, triggers and owned
    sequences (C(pg_dump -t) of the temporary database, C(pg_restore --clean --if-exists)), the
    row counts are checked against the manifest inside the transaction and it commits only when
    they match. The temporary database is always dropped.
  - An existing target database, or an existing table of O(tables), is only replaced with
    O(force=true).
  - The password reaches C(pg_restore), C(pg_dump) and C(psql) through their environment, never
    their command line.
author:
  - Runbook Maintainers (@runbook-maintenance)
extends_documentation_fragment:
  - runbook.maintenance.postgres
  - runbook.maintenance.s3
attributes:
  check_mode:
    support: full
    description:
      - Resolves and checks the source (checksum against the manifest), looks at the target and
        returns the plan (RV(plan)) - what would be created, dumped, renamed, replaced. Changes
        nothing, and fails where the real run would refuse (for example without O(force)).
      - An S3 source is resolved (listing, object size and metadata, manifest) but not downloaded;
        its sha256 is checked in the real run, while it downloads.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: none
    description: Every run restores again (a new database, a new kept previous one).
options:
  path:
    description:
      - The artefact to restore, a custom-format file or a directory-format directory. Mutually
        exclusive with O(latest_in) and O(s3_key).
    type: path
  latest_in:
    description:
      - Restore the newest artefact of this directory (the one modified last, then by name) whose
        manifest says it is a dump of O(database) that was verified (see O(require_verified)).
        Manifests and hidden files are never artefacts; only names matching O(pattern) are.
      - Or of this S3 prefix, V(s3://bucket/prefix/) (C(LastModified), then by name; objects
        directly under the prefix only), with the S3 options.
    type: path
  s3_bucket:
    description: Bucket of the artefact named by O(s3_key).
    type: str
  s3_key:
    description:
      - Key of the artefact in O(s3_bucket) (a custom-format dump). Its manifest is the object
        C(<key>.json). Mutually exclusive with O(path) and O(latest_in).
    type: str
  pattern:
    description: Glob the artefact names of O(latest_in) must match.
    type: str
    default: '*'
  require_verified:
    description:
      - Only restore an artefact whose manifest records C(verified) true (as the backup role
        writes after C(backup_verify)). With O(latest_in), newer unverified artefacts are passed
        over (RV(passed_over) says why); with O(path), an unverified one is refused.
    type: bool
    default: true
  database:
    description:
      - The database whose backup is restored. The manifest must name this database.
      - Required with O(kind=database).
    type: str
  kind:
    description:
      - What is restored. V(database), a pg_dump of O(database) (see the description).
      - V(globals), a C(pg_dumpall --globals-only) dump of C(backup_create) (roles, tablespaces), run
        with C(psql -v ON_ERROR_STOP=1) against O(login_db) - before the databases, on a rebuilt
        server. A role that exists already (at least the bootstrap superuser) is not created again,
        only altered (its attributes and password as in the dump).
      - V(paths), a C(backup_create kind=paths) archive put back under O(dest). Every member is
        checked first (no absolute name, no C(..), no device or FIFO, no hard link leaving the
        archive); nothing is ever written through a symlink (each directory is opened without
        following one), each file is written under a temporary name and renamed into place, with
        its mode (set-id bits dropped), owner (when run as root) and modification time. An existing
        file is only replaced with O(force=true).
      - The manifest must have this C(kind), and be verified (O(require_verified)).
    type: str
    choices: [database, globals, paths]
    default: database
  dest:
    description:
      - With O(kind=paths), the root the archive's members (stored relative, e.g. C(etc/postgresql/...))
        are put back under.
    type: path
    default: /
  target_database:
    description: The database restored into. Default, O(database).
    type: str
  force:
    description:
      - Replace an existing target database (full restore) or existing tables (selective
        restore). Without it the module refuses and changes nothing.
    type: bool
    default: false
  tables:
    description:
      - Restore only these tables, as C(schema.table) (or C(table) for the public schema;
        double quotes around a name holding a dot), into the existing target database.
      - Another table whose foreign key references a listed one prevents its replacement (the
        transaction rolls back, nothing changes); list it too, or restore the whole database.
    type: list
    elements: str
    default: []
  keep_previous:
    description:
      - Keep the replaced database as C(<target>__before_<stamp>) (RV(previous_database)).
        With V(false) it is dropped after the swap.
    type: bool
    default: true
  safety_dump:
    description:
      - Dump what is about to be replaced (the target database, or the existing listed tables)
        to O(safety_dump_dir) first. Required then, when something is replaced.
    type: bool
    default: true
  safety_dump_dir:
    description: Directory of the safety dump (C(<target>-<stamp>-before-restore.dump) and its manifest).
    type: path
  jobs:
    description: Parallel jobs of C(pg_restore -j) into the temporary database.
    type: int
    default: 2
  lock_timeout:
    description:
      - Longest wait for a lock during the swap or the replacement of tables (a PostgreSQL
        duration). A restore never queues production sessions behind it for longer.
    type: str
    default: 5s
  verify_rows:
    description:
      - Compare the restored row counts with the manifest, and fail (before the swap) when they
        differ or the manifest has no exact counts.
    type: bool
    default: true
  no_owner:
    description:
      - Restore without ownership (C(--no-owner)), everything then belongs to O(login_user).
        Useful on a server without the production roles (a drill); default keeps the owners.
    type: bool
    default: false
  no_privileges:
    description: Restore without grants (C(--no-privileges)).
    type: bool
    default: false
  pg_bin_dir:
    description: Directory of C(pg_restore), C(pg_dump) and C(psql). Default, the newest of /usr/lib/postgresql/*/bin, then PATH.
    type: path
  tmp_dir:
    description:
      - Directory for the scripts of a selective restore (they hold the data of the listed
        tables) and for the download of an S3 artefact (in a private 0700 directory created
        there, removed afterwards; it needs room for the artefact). Default, the system's
        temporary directory.
    type: path
requirements:
  - psycopg >= 3.1
  - pg_restore, pg_dump and psql on the host running the module
notes:
  - Restore as a superuser (or the owner of the databases with C(CREATEDB)); terminating other
    users' sessions needs C(pg_signal_backend) or superuser.
  - The new database gets the replaced one's owner, encoding, collation, database-level
    settings (C(ALTER DATABASE ... SET)) and grants on the database.
  - A temporary database left by a run killed with SIGKILL, or by a server that stopped in the
    middle of the restore, is dropped by the next restore of the same target (RV(leftovers_dropped),
    with a warning). A restore holds an advisory lock on its temporary database while it runs, so
    the temporary database of a restore running now is never dropped, only reported. SIGTERM
    drops it before the module exits.
  - A kept C(<target>__before_<stamp>) database holds disk space until you drop it.
seealso:
  - module: runbook.maintenance.backup_create
  - module: runbook.maintenance.backup_verify
  - name: pg_restore
    description: PostgreSQL documentation of pg_restore.
    link: https://www.postgresql.org/docs/current/app-pgrestore.html
'''

EXAMPLES = r'''
- name: Rebuild shop from the newest verified dump in S3 (a lost host)
  runbook.maintenance.backup_restore:
    database: shop
    latest_in: s3://backups/postgresql/db1/shop/
    endpoint_url: https://minio.internal:9000
    aws_access_key: "{{ vault_s3_access_key }}"
    aws_secret_key: "{{ vault_s3_secret_key }}"
    tmp_dir: /var/lib/postgresql/restore-tmp
  register: restored

- name: Plan the restore of the newest verified backup of shop (check mode changes nothing)
  runbook.maintenance.backup_restore:
    database: shop
    latest_in: /var/backups/postgresql/shop
    force: true
    safety_dump_dir: /var/backups/postgresql/safety/shop
  check_mode: true
  register: plan

- name: Restore it, keeping the current database as shop__before_<stamp>
  runbook.maintenance.backup_restore:
    database: shop
    latest_in: /var/backups/postgresql/shop
    force: true
    safety_dump_dir: /var/backups/postgresql/safety/shop
    jobs: 4
  register: restored

- name: Put back two tables only
  runbook.maintenance.backup_restore:
    database: shop
    path: /var/backups/postgresql/shop/shop-20261129T020000Z.dump
    tables: [public.orders, public.order_items]
    force: true
    safety_dump_dir: /var/backups/postgresql/safety/shop

- name: On a rebuilt host, the roles first (newest verified globals dump in S3)
  runbook.maintenance.backup_restore:
    kind: globals
    latest_in: s3://backups/postgresql/db1/globals/
    endpoint_url: https://minio.internal:9000
    aws_access_key: "{{ vault_s3_access_key }}"
    aws_secret_key: "{{ vault_s3_secret_key }}"

- name: Then the configuration files, replacing the packaged defaults
  runbook.maintenance.backup_restore:
    kind: paths
    latest_in: s3://backups/postgresql/db1/files/
    dest: /
    force: true
    endpoint_url: https://minio.internal:9000
    aws_access_key: "{{ vault_s3_access_key }}"
    aws_secret_key: "{{ vault_s3_secret_key }}"

- name: A drill - restore into a scratch database, never the live one
  runbook.maintenance.backup_restore:
    database: shop
    target_database: shop_drill
    latest_in: /var/backups/postgresql/shop
    no_owner: true
    no_privileges: true
'''

RETURN = r'''
source:
  description: The artefact restored, a path or an C(s3://bucket/key) URL (null when none could be chosen).
  returned: always
  type: str
  sample: /var/backups/postgresql/shop/shop-20261129T020000Z.dump
downloaded_bytes:
  description: Bytes downloaded from S3 (0 for a local source, and in check mode).
  returned: always
  type: int
  sample: 1048576
manifest:
  description: Its manifest.
  returned: always
  type: dict
  sample: {sha256: 9f2c..., size: 1048576, created_at: '2026-11-29T02:00:00Z', database: shop, verified: true}
passed_over:
  description: Newer artefacts of O(latest_in) that were not restored, each with the reason.
  returned: always
  type: list
  elements: str
  sample: ['shop-20261130T020000Z.dump: it failed verification (manifest verified: false)']
database:
  description: The database whose backup was restored.
  returned: always
  type: str
  sample: shop
target_database:
  description: The database restored into.
  returned: always
  type: str
  sample: shop
temporary_database:
  description: The database the dump was restored into first (renamed to the target, or dropped).
  returned: always
  type: str
  sample: shop__restore_20261129_083012
backup_created_at:
  description: When the restored backup was made (UTC).
  returned: always
  type: str
  sample: '2026-11-29T02:00:00Z'
backup_age_s:
  description: Age of the restored backup when the restore started, the recovery point (RPO) of this restore.
  returned: always
  type: float
  sample: 23412.5
duration_s:
  description: Seconds the whole restore took, checks and swap included (the RTO of this restore).
  returned: always
  type: float
  sample: 41.7
tables:
  description: The tables restored (every table of the dump for a full restore).
  returned: always
  type: list
  elements: str
  sample: [public.orders, public.customers]
rows:
  description: Row counts of the restored tables.
  returned: always
  type: dict
  sample: {public.orders: 125000, public.customers: 4000}
rows_verified:
  description: Whether the row counts were compared with the manifest and matched.
  returned: always
  type: bool
  sample: true
checksum:
  description: What the checksum check found.
  returned: always
  type: str
  sample: sha256 9f2c... and size 1048576 match the manifest
safety_dump:
  description: The safety dump of what was replaced (null when nothing was replaced or none was taken).
  returned: always
  type: dict
  sample: {artefact: /var/backups/postgresql/safety/shop/shop-20261129T083012Z-before-restore.dump, size: 1040000}
leftovers_dropped:
  description:
    - Temporary databases of earlier restores of the target that had died (the module was killed
      or the server stopped under them) and that this run dropped. A restore holds an advisory
      lock on its temporary database while it runs, so one that is running is never dropped.
  returned: always
  type: list
  elements: str
  sample: [shop__restore_20261129_020000]
previous_database:
  description: The replaced database, kept under this name (null when none was replaced or it was dropped).
  returned: always
  type: str
  sample: shop__before_20261129_083012
plan:
  description: The steps of the restore, in order (in check mode, what would be done).
  returned: always
  type: list
  elements: str
  sample: ['check the sha256 of /var/backups/postgresql/shop/shop-20261129T020000Z.dump against its manifest']
paths:
  description: With O(kind=paths), where the archive went and what was (or would be) created and replaced.
  returned: when kind is paths
  type: dict
  sample: {dest: /, members: 12, create: [etc/app/new.conf], replace: [etc/postgresql/15/main/postgresql.conf]}
roles:
  description: With O(kind=globals), the roles created and the existing roles altered.
  returned: when kind is globals and the dump was read
  type: dict
  sample: {created: [app, reporting], altered: [postgres]}
queries:
  description: The SQL statements run that changed something, in order.
  returned: always
  type: list
  elements: str
  sample: ['ALTER DATABASE "shop" RENAME TO "shop__before_20261129_083012"']
'''

import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import (
    manifest_path,
    newest_first,
    read_manifest,
    stderr_errors,
    utc_now,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.pgclient import (
    Terminated,
    ToolError,
    drop_database,
    exact_row_counts,
    find_bin,
    libpq_environment,
    one_line,
    raise_on_termination,
    run_tool,
    termination_deferred,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.pgdump import dump_database
from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import (
    connection_kwargs,
    connection_option_errors,
    describe_target,
    postgres_common_argument_spec,
    scrub,
)
from ansible_collections.runbook.maintenance.plugins.module_utils import restorefiles, s3source
from ansible_collections.runbook.maintenance.plugins.module_utils.s3 import (
    s3_client,
    S3Error,
    s3_common_argument_spec,
    scrub_keys,
    validate_s3_params,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.restore import (
    Candidate,
    PlanInput,
    RestoreError,
    backup_age,
    build_plan,
    check_checksum,
    check_lock_timeout,
    choose_latest,
    count_check_sql,
    dump_pattern,
    expected_rows,
    is_work_database,
    work_prefix,
    list_artefacts,
    parse_tables,
    restore_names,
    rows_by_label,
    rows_mismatches,
    stamp_of,
    table_label,
    unusable_reason,
    work_lock_key,
)

try:
    import psycopg
    from psycopg import sql
    PSYCOPG_IMPORT_ERROR = None
except ImportError:
    import traceback
    psycopg = None
    sql = None
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()

RENAME_ATTEMPTS = 10


class BackupRestore:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = p = module.params
        self.target = p['target_database'] or p['database']
        self.now = utc_now()
        self.stamp = stamp_of(self.now)
        self.began = time.monotonic()
        self.result: dict = {
            'changed': False, 'source': None, 'manifest': None, 'passed_over': [], 'database': p['database'],
            'target_database': self.target, 'temporary_database': None, 'backup_created_at': None,
            'backup_age_s': None, 'duration_s': 0.0, 'tables': [], 'rows': {}, 'rows_verified': False,
            'checksum': None, 'safety_dump': None, 'previous_database': None, 'plan': [], 'queries': [],
            'downloaded_bytes': 0, 'leftovers_dropped': [],
        }
        self.restore_path: str | None = None  # the local file pg_restore reads (an S3 download)
        self.s3_workdir: str | None = None
        self.s3 = None
        self.s3_artefact = None
        self.temp_created = False
        self.temp_dropped = False
        self.drop_problem: str | None = None
        self.workdir: str | None = None

    # ---- helpers -----------------------------------------------------------------------
    def scrubbed(self, text: str) -> str:
        return scrub_keys(scrub(text, self.params), self.params)

    def execute(self, conn, query, args=None, record: bool = True):
        if record:
            self.result['queries'].append(query.as_string(conn) if hasattr(query, 'as_string') else str(query))
        return conn.execute(query, args)

    def connect(self, dbname: str):
        try:
            return psycopg.connect(autocommit=True, **connection_kwargs(self.params, dbname))
        except psycopg.Error as exc:
            raise RestoreError(self.scrubbed(f'cannot connect to {describe_target(self.params, dbname)}: '
                                             f'{one_line(exc)}')) from None
        except Exception as exc:  # noqa: BLE001 - libpq option errors arrive as other types
            raise RestoreError(self.scrubbed(f'invalid connection settings for {describe_target(self.params, dbname)}: '
                                             f'{exc}')) from None

    def admin_db(self, names: dict) -> str:
        """Where the administrative session connects: never a database it renames or drops."""
        busy = {self.target, names['temporary'], names['previous']}
        for candidate in (self.params['login_db'], 'postgres', 'template1'):
            if candidate and candidate not in busy:
                return candidate
        return 'template1'

    def tool(self, name: str) -> str:
        try:
            return find_bin(self.module, name, self.params['pg_bin_dir'])
        except ToolError as exc:
            raise RestoreError(str(exc)) from None

    # ---- the source --------------------------------------------------------------------
    def uses_s3(self) -> bool:
        return bool(self.params['s3_key']) or str(self.params['latest_in'] or '').startswith('s3://')

    def resolve_s3(self) -> tuple[str, dict]:
        """The S3 artefact (listing, head, manifest; nothing downloaded yet)."""
        p = self.params
        bucket, key, prefix = s3source.split_location(p['latest_in'], p['s3_bucket'], p['s3_key'])
        try:
            self.s3 = s3_client(p)
        except S3Error as exc:
            raise RestoreError(f'Invalid options: {exc}') from None
        self.s3_artefact = s3source.resolve(self.s3, p, bucket, key, prefix, p['pattern'], p['database'],
                                            p['require_verified'])
        self.result['passed_over'] = self.s3_artefact.passed_over
        return self.s3_artefact.url, self.s3_artefact.manifest

    def fetch_s3(self) -> str:
        """Download the chosen S3 artefact, checking it; in check mode, say what would be done."""
        artefact = self.s3_artefact
        if self.module.check_mode:
            return (f'not downloaded in check mode: {artefact.url} is {artefact.size} bytes as its manifest says; '
                    'its sha256 is computed while it downloads and compared with the manifest before the restore')
        self.s3_workdir = s3source.private_workdir(self.params['tmp_dir'])
        self.restore_path, checked = s3source.download(self.s3, self.params, artefact, self.s3_workdir)
        self.result['downloaded_bytes'] = artefact.size
        return checked

    def resolve_source(self) -> tuple[str, dict]:
        p = self.params
        if self.uses_s3():
            return self.resolve_s3()
        if p['path']:
            path = p['path'].rstrip('/') or '/'
            if not os.path.exists(path):
                raise RestoreError(f'{path} does not exist')
            try:
                manifest = read_manifest(path)
            except FileNotFoundError:
                raise RestoreError(f'{path} has no manifest ({manifest_path(path)}): it cannot be checked, '
                                   'so it is not restored') from None
            except ValueError as exc:
                raise RestoreError(str(exc)) from None
            reason = unusable_reason(manifest, None, p['database'], p['require_verified'])
            if reason:
                raise RestoreError(f'{path} is not restored: {reason}')
            return path, manifest
        candidates = []
        for entry in list_artefacts(p['latest_in'], p['pattern']):
            try:
                candidates.append(Candidate(entry, read_manifest(entry.location)))
            except FileNotFoundError:
                candidates.append(Candidate(entry, None, 'no manifest'))
            except ValueError as exc:
                candidates.append(Candidate(entry, None, str(exc)))
        choice = choose_latest(candidates, p['database'], p['require_verified'])
        self.result['passed_over'] = choice.skipped
        if choice.chosen is None:
            why = f": {'; '.join(choice.skipped[:5])}" if choice.skipped else ''
            raise RestoreError(f"no restorable{' verified' if p['require_verified'] else ''} dump of "
                               f"{p['database']} in {p['latest_in']} (pattern {p['pattern']!r}){why}")
        return choice.chosen.entry.location, choice.chosen.manifest

    # ---- the target --------------------------------------------------------------------
    def database_info(self, admin, name: str) -> dict | None:
        row = admin.execute(
            'SELECT pg_get_userbyid(d.datdba), pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, '
            'd.datacl IS NULL, d.oid FROM pg_database d WHERE d.datname = %s', (name,)).fetchone()
        if row is None:
            return None
        info = dict(zip(['owner', 'encoding', 'collate', 'ctype', 'default_acl', 'oid'], row))
        info['provider'], info['icu_locale'] = 'c', None
        if admin.info.server_version >= 150000:
            info['provider'], info['icu_locale'] = admin.execute(
                'SELECT datlocprovider, daticulocale FROM pg_database WHERE oid = %s', (info['oid'],)).fetchone()
        info['settings'] = [r[0] for r in admin.execute(
            'SELECT unnest(setconfig) FROM pg_db_role_setting WHERE setdatabase = %s AND setrole = 0',
            (info['oid'],)).fetchall()]
        info['grants'] = admin.execute(
            "SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END, a.privilege_type, "
            "a.is_grantable FROM pg_database d, aclexplode(d.datacl) a WHERE d.oid = %s", (info['oid'],)).fetchall()
        return info

    def existing_tables(self, tables: list[tuple[str, str]]) -> list[tuple[str, str]]:
        with self.connect(self.target) as conn:
            found = set()
            for schema, name in tables:
                row = conn.execute(
                    "SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')", (schema, name)).fetchone()
                if row:
                    found.add((schema, name))
        return [t for t in tables if t in found]

    def own(self, admin, temp: str) -> None:
        """Hold a session advisory lock named after the temporary database for as long as this
        restore runs: the lock (unlike a connection to the database) lasts through every step,
        and vanishes with the session when the module or the server dies."""
        self.execute(admin, 'SELECT pg_advisory_lock(%s)', (work_lock_key(temp),))

    def clean_leftovers(self, admin) -> None:
        """Drop the temporary databases of earlier restores of the target that nobody owns any
        more (their restore was killed, or the server died under it); warn about the others."""
        prefix = work_prefix(self.target)
        rows = admin.execute('SELECT datname FROM pg_database WHERE left(datname, length(%s)) = %s ORDER BY 1',
                             (prefix, prefix)).fetchall()
        left = [row[0] for row in rows if is_work_database(row[0], self.target)]
        kept = []
        for name in left:
            key = work_lock_key(name)
            if not admin.execute('SELECT pg_try_advisory_lock(%s)', (key,)).fetchone()[0]:
                kept.append(f'{name} (a restore running now owns it)')
                continue
            try:
                # No FORCE: a session someone opened to inspect it keeps it (and is reported).
                self.execute(admin, sql.SQL('DROP DATABASE IF EXISTS {}').format(sql.Identifier(name)))
                self.result['leftovers_dropped'].append(name)
                self.result['changed'] = True
            except psycopg.Error as exc:
                kept.append(f'{name} ({one_line(exc)})')
            finally:
                admin.execute('SELECT pg_advisory_unlock(%s)', (key,))
        if self.result['leftovers_dropped']:
            self.module.warn(f"dropped temporary database(s) left by an interrupted restore: "
                             f"{', '.join(self.result['leftovers_dropped'])}")
        if kept:
            self.module.warn(f"temporary database(s) of another restore left in place: {'; '.join(kept)}")

    # ---- steps -------------------------------------------------------------------------
    def create_temporary(self, admin, temp: str, like: dict | None) -> None:
        query = sql.SQL('CREATE DATABASE {} TEMPLATE template0').format(sql.Identifier(temp))
        if like:
            query = sql.SQL('{} OWNER {} ENCODING {} LC_COLLATE {} LC_CTYPE {}').format(
                query, sql.Identifier(like['owner']), sql.Literal(like['encoding']), sql.Literal(like['collate']),
                sql.Literal(like['ctype']))
            if like['provider'] == 'i' and like['icu_locale']:
                query = sql.SQL('{} LOCALE_PROVIDER icu ICU_LOCALE {}').format(query, sql.Literal(like['icu_locale']))
        try:
            self.execute(admin, query)
        except psycopg.Error as exc:  # never dropped then: the name may belong to someone else
            raise RestoreError(self.scrubbed(f'cannot create the temporary database {temp}: {one_line(exc)}')) from None
        self.temp_created = True
        if not like:
            return
        try:
            for setting in like['settings']:
                name, _sep, value = setting.partition('=')
                self.execute(admin, sql.SQL('ALTER DATABASE {} SET {} = {}').format(
                    sql.Identifier(temp), sql.Identifier(name), sql.Literal(value)))
            if not like['default_acl']:
                self.execute(admin, sql.SQL('REVOKE ALL ON DATABASE {} FROM PUBLIC').format(sql.Identifier(temp)))
                for grantee, privilege, grantable in like['grants']:
                    self.execute(admin, sql.SQL('GRANT {} ON DATABASE {} TO {}{}').format(
                        sql.SQL(privilege), sql.Identifier(temp),
                        sql.SQL('PUBLIC') if grantee is None else sql.Identifier(grantee),
                        sql.SQL(' WITH GRANT OPTION' if grantable else '')))
        except psycopg.Error as exc:
            raise RestoreError(self.scrubbed(f'cannot give {temp} the settings and grants of {self.target}: '
                                             f'{one_line(exc)}')) from None

    def pg_restore_into(self, temp: str, source: str) -> None:
        p = self.params
        argv = [self.tool('pg_restore'), '--no-password', '-j', str(p['jobs']), '-d', temp]
        if p['no_owner']:
            argv.append('--no-owner')
        if p['no_privileges']:
            argv.append('--no-privileges')
        argv.append(source)
        rc, _out, err = self.module.run_command(argv, environ_update=libpq_environment(p, temp),
                                                expand_user_and_vars=False)
        errors = stderr_errors(self.scrubbed(err))
        if rc != 0 or errors:
            hint = ''
            if any('role' in e and 'does not exist' in e for e in errors):
                hint = ' (roles of the dump are missing on this server: create them, or no_owner/no_privileges)'
            raise RestoreError(f"pg_restore into {temp} failed (exit {rc}): {'; '.join(errors[:3]) or 'no message'}{hint}")

    def count_rows(self, dbname: str, only: list[tuple[str, str]] | None = None) -> dict[tuple[str, str], int]:
        try:
            with self.connect(dbname) as conn:
                return exact_row_counts(conn, only)[0]
        except psycopg.Error as exc:
            raise RestoreError(self.scrubbed(f'cannot count the rows in {dbname}: {one_line(exc)}')) from None

    def verify_counts(self, temp: str, expected: list[dict], tables: list[tuple[str, str]]) -> None:
        counts = self.count_rows(temp, tables or None)
        self.result['tables'] = [table_label(t) for t in (tables or sorted(counts))]
        self.result['rows'] = rows_by_label(counts)
        if not self.params['verify_rows']:
            return
        mismatches = rows_mismatches(expected, counts)
        if mismatches:
            more = f' (and {len(mismatches) - 5} more)' if len(mismatches) > 5 else ''
            raise RestoreError(f"the restore does not match the manifest, {temp} is dropped and {self.target} left "
                               f"as it was: {'; '.join(mismatches[:5])}{more}")
        self.result['rows_verified'] = True

    def safety_dump(self, tables: list[tuple[str, str]] | None) -> None:
        p = self.params
        name = f"{self.target}-{self.now.strftime('%Y%m%dT%H%M%SZ')}-before-restore"
        try:
            artefact, manifest = dump_database(
                self.module, p, self.target, p['safety_dump_dir'], name, tables=tables, pg_bin_dir=p['pg_bin_dir'],
                extra={'purpose': f"safety dump before the restore of {self.result['source']}"})
        except (ToolError, OSError, ValueError) as exc:
            raise RestoreError(self.scrubbed(f'the safety dump of {self.target} failed, nothing was replaced: {exc}')) from None
        self.result['safety_dump'] = {'artefact': artefact, 'size': manifest['size'], 'sha256': manifest['sha256'],
                                      'tables': len(manifest.get('tables') or [])}

    def swap(self, admin, names: dict) -> None:
        """Refuse connections to the target, terminate its sessions, rename it away, rename the
        new database in. SIGTERM/SIGHUP wait until this is over: never half a swap."""
        target, previous, temp = (sql.Identifier(n) for n in (self.target, names['previous'], names['temporary']))
        with termination_deferred():
            self.execute(admin, sql.SQL('SET lock_timeout = {}').format(sql.Literal(check_lock_timeout(self.params['lock_timeout']))))
            self.execute(admin, sql.SQL('ALTER DATABASE {} WITH ALLOW_CONNECTIONS false').format(target))
            try:
                for attempt in range(RENAME_ATTEMPTS):
                    self.execute(admin, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                                        'WHERE datname = %s AND pid <> pg_backend_pid()', (self.target,),
                                 record=attempt == 0)
                    try:
                        self.execute(admin, sql.SQL('ALTER DATABASE {} RENAME TO {}').format(target, previous))
                        break
                    except psycopg.errors.ObjectInUse:
                        self.result['queries'].pop()
                        if attempt == RENAME_ATTEMPTS - 1:
                            raise
                        time.sleep(0.2 * (attempt + 1))  # terminated backends take a moment to exit
            except psycopg.Error as exc:
                self.execute(admin, sql.SQL('ALTER DATABASE {} WITH ALLOW_CONNECTIONS true').format(target))
                raise RestoreError(self.scrubbed(f'cannot rename {self.target} away (lock_timeout '
                                                 f"{self.params['lock_timeout']}): {one_line(exc)}; it is left as it "
                                                 'was and accepts connections again')) from None
            try:
                self.execute(admin, sql.SQL('ALTER DATABASE {} RENAME TO {}').format(temp, target))
            except psycopg.Error as exc:
                self.execute(admin, sql.SQL('ALTER DATABASE {} RENAME TO {}').format(previous, target))
                self.execute(admin, sql.SQL('ALTER DATABASE {} WITH ALLOW_CONNECTIONS true').format(target))
                raise RestoreError(self.scrubbed(f"cannot rename {names['temporary']} to {self.target}: {one_line(exc)}; "
                                                 f'{self.target} was renamed back and accepts connections again')) from None
            self.temp_dropped = True  # it is the target now
            self.result['changed'] = True
            self.execute(admin, sql.SQL('ALTER DATABASE {} WITH ALLOW_CONNECTIONS true').format(previous))
            self.result['previous_database'] = names['previous']
        if not self.params['keep_previous']:
            try:
                self.drop(admin, names['previous'])
                self.result['previous_database'] = None
            except psycopg.Error as exc:  # the restore itself is done: say so, do not fail it
                self.module.warn(self.scrubbed(f"the restore is done, but the replaced database {names['previous']} "
                                               f'could not be dropped (keep_previous: false), drop it by hand: '
                                               f'{one_line(exc)}'))

    def rename_in(self, admin, names: dict) -> None:
        self.execute(admin, sql.SQL('ALTER DATABASE {} RENAME TO {}').format(
            sql.Identifier(names['temporary']), sql.Identifier(self.target)))
        self.temp_dropped = True
        self.result['changed'] = True

    def replace_tables(self, temp: str, tables: list[tuple[str, str]], expected: list[dict]) -> None:
        """pg_dump -t of the temporary database, pg_restore --clean as a script, the row count
        check appended, run by psql in one transaction in the target."""
        p = self.params
        self.workdir = tempfile.mkdtemp(prefix='runbook-restore-', dir=p['tmp_dir'] or None)
        os.chmod(self.workdir, 0o700)
        dump = os.path.join(self.workdir, 'tables.dump')
        script = os.path.join(self.workdir, 'tables.sql')
        argv = [self.tool('pg_dump'), '--no-password', '-Fc', '-f', dump, '--strict-names']
        for table in tables:
            argv += ['-t', dump_pattern(table)]
        try:
            run_tool(self.module, argv, libpq_environment(p, temp), 'pg_dump of the tables', p)
            argv = [self.tool('pg_restore'), '--clean', '--if-exists', '-f', script]
            argv += (['--no-owner'] if p['no_owner'] else []) + (['--no-privileges'] if p['no_privileges'] else [])
            run_tool(self.module, argv + [dump], {}, 'pg_restore of the tables to a script', p)
        except ToolError as exc:
            raise RestoreError(str(exc)) from None
        if p['verify_rows'] and expected:
            with open(script, 'a', encoding='utf-8') as out:
                out.write('\n' + count_check_sql(expected))
        env = dict(libpq_environment(p, self.target))
        env['PGOPTIONS'] = f"-c lock_timeout={check_lock_timeout(p['lock_timeout'])}"
        argv = [self.tool('psql'), '-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1', '--single-transaction',
                '-f', script]
        self.result['queries'].append(f"BEGIN; -- {', '.join(table_label(t) for t in tables)} dropped if present, "
                                      f"recreated from {temp}, row counts checked; COMMIT")
        rc, _out, err = self.module.run_command(argv, environ_update=env, expand_user_and_vars=False)
        errors = [line.split('ERROR:', 1)[-1].strip() for line in stderr_errors(self.scrubbed(err))]
        if rc != 0:
            hint = ''
            if any('other objects depend on it' in e for e in errors):
                hint = '; list the tables that reference it in tables too, or restore the whole database'
            raise RestoreError(f"replacing {', '.join(table_label(t) for t in tables)} in {self.target} failed, "
                               f"the transaction was rolled back and nothing changed: "
                               f"{'; '.join(errors[:3]) or f'psql exited with {rc}'}{hint}")
        self.result['changed'] = True
        self.result['rows'] = rows_by_label(self.count_rows(self.target, tables))

    def drop(self, admin, name: str) -> None:
        drop_database(admin, name, lambda query, args=None: self.execute(admin, query, args))

    def drop_temporary(self, admin, temp: str) -> str | None:
        """Drop the temporary database whatever happened; a problem is returned, not raised."""
        with termination_deferred():
            try:
                self.drop(admin, temp)
                self.temp_dropped = True
                return None
            except psycopg.Error as exc:
                return self.scrubbed(f'the temporary database {temp} could not be dropped ({one_line(exc)}): the next '
                                     f'restore of {self.target} drops it (or drop it by hand)')

    # ---- run ---------------------------------------------------------------------------
    def run(self) -> dict:
        p = self.params
        r = self.result
        if p['kind'] != 'database':
            return self.run_other()
        if p['jobs'] < 1:
            raise RestoreError(f"jobs must be at least 1, got {p['jobs']}")
        check_lock_timeout(p['lock_timeout'])
        errors = connection_option_errors(p)
        if errors:
            raise RestoreError('; '.join(errors))
        tables = parse_tables(p['tables'])
        names = restore_names(self.target, self.stamp)
        r['temporary_database'] = names['temporary']
        source, manifest = self.resolve_source()
        r['source'], r['manifest'] = source, manifest
        try:
            r['backup_created_at'], r['backup_age_s'] = backup_age(manifest, self.now)
        except (KeyError, ValueError) as exc:
            raise RestoreError(f'the manifest of {source} has no usable created_at: {exc}') from None
        expected = expected_rows(manifest, tables or None) if p['verify_rows'] else []
        try:
            if self.uses_s3():
                r['checksum'] = self.fetch_s3()
            else:
                r['checksum'] = check_checksum(source, manifest)
            admin = self.connect(self.admin_db(names))
            try:
                return self.run_with(admin, source, manifest, tables, names, expected)
            finally:
                admin.close()
        finally:
            if self.uses_s3() and r['plan']:
                r['plan'].insert(0, f"download {source} ({self.s3_artefact.size} bytes) into a private temporary "
                                    f"directory{' in ' + p['tmp_dir'] if p['tmp_dir'] else ''}, hashing it on the way")
            s3source.remove_workdir(self.s3_workdir)

    def run_with(self, admin, source, manifest, tables, names, expected) -> dict:
        p = self.params
        r = self.result
        like = self.database_info(admin, self.target)
        for name in (names['temporary'], names['previous']):
            if self.database_info(admin, name) is not None:
                raise RestoreError(f'database {name} already exists (another restore in the same second?): try again')
        existing: list[tuple[str, str]] = []
        if tables:
            if like is None:
                raise RestoreError(f'database {self.target} does not exist: a selective restore (tables) restores '
                                   'into an existing database; restore the whole database instead (no tables)')
            existing = self.existing_tables(tables)
            if existing and not p['force']:
                raise RestoreError(f"database {self.target} already has {', '.join(table_label(t) for t in existing)}: "
                                   'set force: true to replace them (nothing was changed)')
        elif like is not None and not p['force']:
            raise RestoreError(f'database {self.target} exists: set force: true to replace it (it is kept as '
                               f"{names['previous']} unless keep_previous: false); nothing was changed")
        replaces = bool(existing) if tables else like is not None
        if replaces and p['safety_dump'] and not p['safety_dump_dir']:
            raise RestoreError(f'{self.target} would be replaced: set safety_dump_dir for its safety dump '
                               '(or safety_dump: false)')
        r['plan'] = build_plan(PlanInput(
            source=source, target=self.target, target_exists=like is not None, temporary=names['temporary'],
            previous=names['previous'], jobs=p['jobs'], tables=tables, existing_tables=existing,
            safety_dump_dir=p['safety_dump_dir'] if p['safety_dump'] and replaces else None,
            keep_previous=p['keep_previous'], verify_rows=p['verify_rows'], rows_to_compare=len(expected)))
        if self.module.check_mode:
            r['changed'] = True  # what the real run would report
            r['tables'] = [table_label(t) for t in tables] or [table_label((t['schema'], t['name']))
                                                               for t in manifest.get('tables') or []]
            r['msg'] = f'would restore {source} into {self.target}: ' + '; '.join(r['plan'])
            return self.finish()
        self.clean_leftovers(admin)
        temp = names['temporary']
        problem = None
        try:
            self.own(admin, temp)
            self.create_temporary(admin, temp, like)
            self.pg_restore_into(temp, self.restore_path or source)
            self.verify_counts(temp, expected, tables)
            if replaces and p['safety_dump']:
                self.safety_dump(existing if tables else None)
            if tables:
                self.replace_tables(temp, tables, expected)
            elif like is not None:
                self.swap(admin, names)
            else:
                self.rename_in(admin, names)
        finally:
            if self.temp_created and not self.temp_dropped:
                problem = self.drop_temporary(admin, temp)
                self.drop_problem = problem
            if self.workdir:
                shutil.rmtree(self.workdir, ignore_errors=True)
        if problem:
            raise RestoreError(problem)
        what = (f"{len(tables)} table(s) of {self.target}" if tables else self.target)
        r['msg'] = (f"restored {what} from {source} (backup of {r['backup_created_at']}) in "
                    f"{round(time.monotonic() - self.began, 1)}s; rows {'verified' if r['rows_verified'] else 'NOT verified'}"
                    + (f"; previous database kept as {r['previous_database']}" if r['previous_database'] else ''))
        return self.finish()

    # ---- globals dumps and paths archives ------------------------------------------------
    def resolve_other(self) -> tuple[str, dict]:
        """The globals dump or paths archive to restore (S3 or local), judged by its manifest."""
        p = self.params
        kind = p['kind']
        if self.uses_s3():
            bucket, key, prefix = s3source.split_location(p['latest_in'], p['s3_bucket'], p['s3_key'])
            try:
                self.s3 = s3_client(p)
            except S3Error as exc:
                raise RestoreError(f'Invalid options: {exc}') from None
            self.s3_artefact = s3source.resolve(self.s3, p, bucket, key, prefix, p['pattern'], None,
                                                p['require_verified'], kind)
            self.result['passed_over'] = self.s3_artefact.passed_over
            return self.s3_artefact.url, self.s3_artefact.manifest
        paths = [p['path'].rstrip('/')] if p['path'] else \
            [e.location for e in newest_first(list_artefacts(p['latest_in'], p['pattern']))]
        passed = []
        for path in paths:
            manifest, reason = None, None
            try:
                manifest = read_manifest(path)
            except FileNotFoundError:
                pass
            except ValueError as exc:
                reason = str(exc)
            if reason is None:
                reason = s3source.judge(manifest, manifest_path(path), None, p['require_verified'], kind)
            if reason is None and not os.path.isfile(path):
                reason = 'not a regular file'
            if reason is None:
                self.result['passed_over'] = passed
                return path, manifest
            if p['path']:
                raise RestoreError(f'{path} is not restored: {reason}')
            passed.append(f'{os.path.basename(path)}: {reason}')
        why = f": {'; '.join(passed[:5])}" if passed else ''
        raise RestoreError(f"no restorable{' verified' if p['require_verified'] else ''} {kind} backup in "
                           f"{p['latest_in']} (pattern {p['pattern']!r}){why}")

    def run_other(self) -> dict:
        p, r = self.params, self.result
        r['target_database'] = r['temporary_database'] = None
        source, manifest = self.resolve_other()
        r['source'], r['manifest'] = source, manifest
        try:
            r['backup_created_at'], r['backup_age_s'] = backup_age(manifest, self.now)
        except (KeyError, ValueError) as exc:
            raise RestoreError(f'the manifest of {source} has no usable created_at: {exc}') from None
        try:
            if self.uses_s3():
                r['checksum'] = self.fetch_s3()
                r['plan'].append(f"download {source} ({self.s3_artefact.size} bytes) into a private temporary "
                                 'directory, hashing it on the way, compare with its manifest')
                local = self.restore_path
            else:
                r['checksum'] = check_checksum(source, manifest)
                r['plan'].append(f'check the sha256 of {source} against its manifest')
                local = source
            if p['kind'] == 'paths':
                self.restore_paths(source, local)
            else:
                self.restore_globals(source, local)
        finally:
            s3source.remove_workdir(self.s3_workdir)
        return self.finish()

    def restore_paths(self, source: str, local: str | None) -> None:
        p, r = self.params, self.result
        dest = p['dest']
        info = r['paths'] = {'dest': dest, 'members': None, 'create': [], 'replace': []}
        if local is None:  # check mode, S3: the archive is not downloaded
            r['plan'].append(f'check every member of the archive (no absolute name, no "..", no device, no link '
                             f'leaving it), then put them back under {dest}, never through a symlink, replacing '
                             f"existing files only with force (force: {p['force']})")
            r['changed'] = True
            r['msg'] = f'would restore {source} under {dest}: ' + '; '.join(r['plan'])
            return
        plan = restorefiles.plan_paths(local, dest)
        info.update(members=plan.members, create=plan.create, replace=plan.replace)
        if plan.replace and not p['force']:
            more = f' (and {len(plan.replace) - 10} more)' if len(plan.replace) > 10 else ''
            raise RestoreError(f"{len(plan.replace)} existing file(s) under {dest} would be replaced: "
                               f"{', '.join(plan.replace[:10])}{more}; set force: true to replace them (nothing was "
                               'written)')
        r['plan'].append(f'put back {plan.members} member(s) under {dest}: {len(plan.create)} created, '
                         f'{len(plan.replace)} replaced (never through a symlink; each file renamed into place)')
        r['changed'] = bool(plan.members)
        if self.module.check_mode:
            r['msg'] = f'would restore {source} under {dest}: ' + '; '.join(r['plan'])
            return
        restorefiles.extract_paths(local, dest)
        r['msg'] = (f'restored {source} under {dest}: {len(plan.create)} created, {len(plan.replace)} replaced '
                    f'(backup of {r["backup_created_at"]})')

    def restore_globals(self, source: str, local: str | None) -> None:
        p, r = self.params, self.result
        admin = self.connect(p['login_db'] or 'postgres')
        try:
            roles = {row[0] for row in admin.execute('SELECT rolname FROM pg_roles').fetchall()}
        finally:
            admin.close()
        info = r['roles'] = {'created': None, 'altered': None}
        if local is None:
            r['plan'].append('run the globals script with psql (ON_ERROR_STOP): roles that exist are altered, '
                             'not created again')
            r['changed'] = True
            r['msg'] = f'would restore the globals of {source}: ' + '; '.join(r['plan'])
            return
        with open(local, encoding='utf-8') as handle:
            script, created, existing = restorefiles.globals_plan(handle.read(), roles)
        info.update(created=created, altered=existing)
        r['plan'].append(f"run the globals script with psql (ON_ERROR_STOP): create {', '.join(created) or 'no role'}; "
                         f"alter the existing {', '.join(existing) or 'none'}")
        r['changed'] = True
        if self.module.check_mode:
            r['msg'] = f'would restore the globals of {source}: ' + '; '.join(r['plan'])
            return
        workdir = self.s3_workdir or s3source.private_workdir(p['tmp_dir'])
        self.s3_workdir = workdir  # removed with the download
        path = os.path.join(workdir, 'globals.sql')
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0), 0o600)
        with os.fdopen(fd, 'w', encoding='utf-8') as out:
            out.write(script)
        argv = [self.tool('psql'), '-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1', '-f', path]
        r['queries'].append(f"psql -f <globals of {source}>: CREATE ROLE {', '.join(created) or '-'}; "
                            f"ALTER ROLE {', '.join(created + existing) or '-'}")
        rc, _out, err = self.module.run_command(argv, environ_update=libpq_environment(p, p['login_db'] or 'postgres'),
                                                expand_user_and_vars=False)
        if rc != 0:
            r['changed'] = bool(created)
            errors = stderr_errors(self.scrubbed(err))
            raise RestoreError(f"the globals script of {source} stopped at an error (roles before it are restored): "
                               f"{'; '.join(errors[:3]) or f'psql exited with {rc}'}")
        r['msg'] = (f"restored the globals of {source}: created {', '.join(created) or 'no role'}, altered "
                    f"{', '.join(existing) or 'none'}")

    def finish(self) -> dict:
        self.result['duration_s'] = round(time.monotonic() - self.began, 3)
        return self.result

    def failed(self, msg: str) -> dict:
        self.finish()
        extra = ''
        if self.temp_created:
            extra = (f"; the temporary database {self.result['temporary_database']} was dropped" if self.temp_dropped
                     and not self.result['changed'] else '')
            if self.drop_problem and self.drop_problem not in msg:
                extra = f'; {self.drop_problem}'
        return dict(self.result, msg=self.scrubbed(msg + extra))


def main() -> None:
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        path=dict(type='path'),
        latest_in=dict(type='path'),
        pattern=dict(type='str', default='*'),
        require_verified=dict(type='bool', default=True),
        database=dict(type='str'),
        kind=dict(type='str', default='database', choices=['database', 'globals', 'paths']),
        dest=dict(type='path', default='/'),
        target_database=dict(type='str'),
        force=dict(type='bool', default=False),
        tables=dict(type='list', elements='str', default=[]),
        keep_previous=dict(type='bool', default=True),
        safety_dump=dict(type='bool', default=True),
        safety_dump_dir=dict(type='path'),
        jobs=dict(type='int', default=2),
        lock_timeout=dict(type='str', default='5s'),
        verify_rows=dict(type='bool', default=True),
        no_owner=dict(type='bool', default=False),
        no_privileges=dict(type='bool', default=False),
        pg_bin_dir=dict(type='path'),
        tmp_dir=dict(type='path'),
        s3_bucket=dict(type='str'),
        s3_key=dict(type='str', no_log=False),
    )
    argument_spec.update(s3_common_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_one_of=[('path', 'latest_in', 's3_key')],
        mutually_exclusive=[('path', 'latest_in', 's3_key'), ('path', 's3_bucket'), ('latest_in', 's3_bucket')],
        required_together=[('s3_bucket', 's3_key')],
        required_if=[('kind', 'database', ['database'])],
        supports_check_mode=True,
    )
    problems = validate_s3_params(module.params)
    if module.params['tmp_dir'] and not os.path.isdir(module.params['tmp_dir']):
        problems.append(f"tmp_dir {module.params['tmp_dir']} is not a directory")
    if problems:
        module.fail_json(msg='Invalid options: ' + '; '.join(problems))
    if psycopg is None:
        module.fail_json(msg=missing_required_lib('psycopg (version 3)'), exception=PSYCOPG_IMPORT_ERROR)
    raise_on_termination()
    restore = BackupRestore(module)
    try:
        result = restore.run()
    except RestoreError as exc:
        module.fail_json(**restore.failed(str(exc)))
    except Terminated as exc:
        module.fail_json(**restore.failed(f'terminated by signal {exc.signum} before the restore ended'))
    except psycopg.Error as exc:
        module.fail_json(**restore.failed(f'PostgreSQL error: {one_line(exc)}'))
    except OSError as exc:
        where = f' {exc.filename}' if exc.filename else ''
        module.fail_json(**restore.failed(f'cannot read or write{where}: {exc.strerror or exc}'))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
