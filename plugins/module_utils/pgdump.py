# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump with a manifest, the way backup_create makes a database backup, as a function.

backup_restore takes its safety dump of the database it is about to replace with it: same
snapshot-consistent row counts, same partial-file handling (a failed dump leaves nothing), same
manifest (write_manifest), password in the environment only. Needs psycopg and the client tools.
"""

from __future__ import annotations

import datetime
import glob
import os
import shutil
import socket
import time

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import sha256_file, tree_size, write_manifest
from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import connection_kwargs, scrub, server_version
from ansible_collections.runbook.maintenance.plugins.module_utils.restore import dump_pattern

try:
    import psycopg
    from psycopg import sql
except ImportError:  # the callers check for psycopg first
    psycopg = None
    sql = None

LIBPQ_ENV = {'host': 'PGHOST', 'port': 'PGPORT', 'user': 'PGUSER', 'password': 'PGPASSWORD', 'dbname': 'PGDATABASE',
             'sslmode': 'PGSSLMODE', 'sslrootcert': 'PGSSLROOTCERT', 'connect_timeout': 'PGCONNECT_TIMEOUT',
             'application_name': 'PGAPPNAME'}


class ToolError(Exception):
    """A client tool or a query failed; the message is password-free."""


def libpq_environment(params: dict, dbname: str) -> dict:
    """PG* variables for pg_dump/pg_restore/psql: the password travels here, never in argv."""
    kwargs = connection_kwargs(params, dbname)
    return {LIBPQ_ENV[key]: str(value) for key, value in kwargs.items() if key in LIBPQ_ENV}


def find_bin(module, name: str, pg_bin_dir: str | None = None) -> str:
    """pg_bin_dir/name, else the newest /usr/lib/postgresql/*/bin/name, else PATH. Raises ToolError."""
    if pg_bin_dir:
        candidate = os.path.join(pg_bin_dir, name)
        if os.access(candidate, os.X_OK):
            return candidate
        raise ToolError(f'{name} not found in pg_bin_dir {pg_bin_dir}')

    def major(directory: str) -> int:
        part = directory.split('/')[-2]
        return int(part) if part.isdigit() else 0

    for directory in sorted(glob.glob('/usr/lib/postgresql/*/bin'), key=major, reverse=True):
        if os.access(os.path.join(directory, name), os.X_OK):
            return os.path.join(directory, name)
    found = module.get_bin_path(name)
    if not found:
        raise ToolError(f'{name} not found: install the PostgreSQL client tools or set pg_bin_dir')
    return found


def run_tool(module, argv: list[str], env: dict, what: str, params: dict) -> str:
    """Run a client tool; fail on a non-zero exit or any stderr line that is not a warning.
    Returns stdout."""
    rc, out, err = module.run_command(argv, environ_update=env, expand_user_and_vars=False)
    problems = [line for line in (err or '').splitlines() if line.strip() and 'warning' not in line.lower()]
    if rc != 0 or problems:
        raise ToolError(scrub(f"{what} exited with {rc}: {' '.join((err or out).split())[:2000]}", params))
    return out


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def dump_database(module, params: dict, dbname: str, dest_dir: str, name: str, tables: list | None = None,
                  pg_bin_dir: str | None = None, extra: dict | None = None) -> tuple[str, dict]:
    """pg_dump -Fc of `dbname` (or only `tables`, (schema, name) pairs) into dest_dir/name.dump
    with its manifest, exact row counts taken in the dumped snapshot. Returns (artefact,
    manifest); raises ToolError and leaves nothing behind on failure."""
    now = datetime.datetime.now(datetime.timezone.utc)
    artefact = os.path.join(dest_dir, f'{name}.dump')
    if os.path.lexists(artefact) or os.path.lexists(artefact + '.json'):
        raise ToolError(f'{artefact} already exists: a backup is never overwritten')
    os.makedirs(dest_dir, mode=0o750, exist_ok=True)
    partial = os.path.join(dest_dir, f'.{os.path.basename(artefact)}.partial')
    _remove(partial)
    began = time.monotonic()
    manifest = {'kind': 'database', 'format': 'custom', 'created_at': now.strftime('%Y-%m-%dT%H:%M:%SZ'),
                'host': socket.gethostname(), 'verified': None}
    manifest.update(extra or {})
    try:
        try:
            conn = psycopg.connect(autocommit=False, **connection_kwargs(params, dbname))
        except psycopg.Error as exc:
            raise ToolError(scrub(f"cannot connect to {dbname}: {' '.join(str(exc).split())}", params)) from None
        try:
            conn.execute('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
            snapshot = conn.execute('SELECT pg_export_snapshot()').fetchone()[0]
            listed = conn.execute(
                "SELECT n.nspname, c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)' "
                "ORDER BY 1, 2").fetchall()
            wanted = None if tables is None else {tuple(t) for t in tables}
            rows = []
            for schema, table in listed:
                if wanted is not None and (schema, table) not in wanted:
                    continue
                count = conn.execute(sql.SQL('SELECT count(*) FROM {}').format(sql.Identifier(schema, table))).fetchone()[0]
                rows.append({'schema': schema, 'name': table, 'rows': count})
            pg_dump = find_bin(module, 'pg_dump', pg_bin_dir)
            argv = [pg_dump, '--snapshot', snapshot, '--no-password', '-f', partial, '-Fc']
            for table in tables or []:
                argv += ['-t', dump_pattern(tuple(table))]
            if tables:
                argv.append('--strict-names')
            run_tool(module, argv, libpq_environment(params, dbname), 'pg_dump', params)
            version = module.run_command([pg_dump, '--version'])[1].strip()
            manifest.update(database=dbname, server_version=server_version(conn)['full'], pg_dump_version=version,
                            tables=rows, row_counts='exact')
        except psycopg.Error as exc:
            raise ToolError(scrub(f"dump of {dbname} failed: {' '.join(str(exc).split())}", params)) from None
        finally:
            conn.close()
        if os.path.getsize(partial) == 0:
            raise ToolError('the dump is empty (0 bytes)')
        os.rename(partial, artefact)
    except BaseException:
        _remove(partial)
        raise
    manifest['size'] = tree_size(artefact)
    manifest['sha256'] = sha256_file(artefact)
    manifest['duration_s'] = round(time.monotonic() - began, 3)
    write_manifest(artefact, manifest)
    return artefact, manifest
