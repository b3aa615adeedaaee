# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_dump with a manifest, the way backup_create makes a database backup, as a function.

backup_restore takes its safety dump of the database it is about to replace with it: same
snapshot-consistent row counts, same private work directory (a failed dump leaves nothing, nothing
planted is followed, the dump and its manifest are 0600), same manifest (manifest_content),
password in the environment only. Needs psycopg and the client tools.
"""

from __future__ import annotations

import datetime
import os
import socket
import time

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import (
    manifest_bytes,
    manifest_content,
    sha256_file,
    tree_size,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.pgclient import (
    ToolError,
    exact_row_counts,
    find_bin,
    libpq_environment,
    list_tables,
    run_tool,
    tool_version,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import connection_kwargs, scrub, server_version
from ansible_collections.runbook.maintenance.plugins.module_utils.restore import dump_pattern
from ansible_collections.runbook.maintenance.plugins.module_utils.safefile import (
    PRIVATE_DIR_MODE,
    PRIVATE_FILE_MODE,
    UnsafePath,
    WorkDir,
    describe_os_error,
    ensure_dir,
    remove_created,
    sanitize_name,
    set_tree_mode,
)

try:
    import psycopg
except ImportError:  # the callers check for psycopg first
    psycopg = None

# Below this much free space after a dump, the dump is read back end to end: pg_dump (15) can lose
# its last output buffer to ENOSPC and still exit 0 with a truncated archive.
LOW_SPACE_BYTES = 64 * 1024 * 1024
_PLAIN_TRAILER = b'-- PostgreSQL database cluster dump complete'


def check_dump_complete(module, path: str, dump_format: str, pg_bin_dir: str | None = None) -> None:
    """Make sure a dump pg_dump/pg_dumpall reported as written is complete (not empty, readable
    back; read back entirely when the disk is nearly full). Raises ToolError naming the file."""
    stats = os.statvfs(os.path.dirname(path))
    low = stats.f_bavail * stats.f_frsize < LOW_SPACE_BYTES
    hint = (' (pg_dump can lose its last buffer on a full disk and still exit 0) [ENOSPC, the filesystem is full]'
            if low else '')
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise ToolError(f'the dump is empty (0 bytes){hint}')
    if dump_format == 'plain':  # pg_dumpall --globals-only: the script ends with its trailer
        with open(path, 'rb') as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - 4096))
            if _PLAIN_TRAILER not in handle.read():
                raise ToolError(f"the dump is incomplete, no '-- PostgreSQL database cluster dump complete' trailer{hint}")
        return
    pg_restore = find_bin(module, 'pg_restore', pg_bin_dir)
    argv = [pg_restore, '-f', os.devnull, path] if low else [pg_restore, '--list', path]  # -f: every data block
    rc, _out, err = module.run_command(argv, expand_user_and_vars=False)
    if rc != 0:
        raise ToolError(f"the dump is incomplete, pg_restore cannot read it back: {' '.join(err.split())[:500]}{hint}")


def dump_in_snapshot(module, conn, params: dict, dbname: str, target: str, dump_format: str = 'custom',
                     jobs: int = 1, tables: list | None = None, row_counts: str = 'exact',
                     pg_bin_dir: str | None = None, application_name: bool = True) -> dict:
    """pg_dump of ``dbname`` into ``target`` in the snapshot of ``conn`` (a fresh connection to
    ``dbname``, not in a transaction), so the row counts recorded are those of the very data dumped.

    ``dump_format`` custom (-Fc) or directory (-Fd, ``jobs`` workers); ``tables``, (schema, name)
    pairs, dumps only those (--strict-names: each must exist); ``row_counts`` exact (count(*) in the
    snapshot), estimate (the planner's) or none. Returns the manifest's database part: database,
    server_version, pg_dump_version, tables [{schema, name, rows}], row_counts. Raises ToolError
    (the tool) or psycopg.Error (the queries); the caller closes ``conn``."""
    conn.execute('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY')
    snapshot = conn.execute('SELECT pg_export_snapshot()').fetchone()[0]
    listed = list_tables(conn)
    if tables is not None:
        wanted = {tuple(t) for t in tables}
        listed = [row for row in listed if (row[0], row[1]) in wanted]
    counts = exact_row_counts(conn, tables=listed)[0] if row_counts == 'exact' else {}
    rows = []
    for schema, table, _kind, estimate in listed:
        if row_counts == 'exact':
            count = counts[(schema, table)]
        else:
            count = max(estimate, 0) if row_counts == 'estimate' else None
        rows.append({'schema': schema, 'name': table, 'rows': count})
    pg_dump = find_bin(module, 'pg_dump', pg_bin_dir)
    argv = [pg_dump, '--snapshot', snapshot, '--no-password', '-f', target,
            '-Fc' if dump_format == 'custom' else '-Fd']
    if dump_format == 'directory':
        argv += ['-j', str(jobs)]
    for table in tables or []:
        argv += ['-t', dump_pattern(tuple(table))]
    if tables:
        argv.append('--strict-names')
    run_tool(module, argv, libpq_environment(params, dbname, application_name), 'pg_dump', params)
    return {'database': dbname, 'server_version': server_version(conn)['full'],
            'pg_dump_version': tool_version(module, pg_dump), 'tables': rows, 'row_counts': row_counts}


def dump_database(module, params: dict, dbname: str, dest_dir: str, name: str, tables: list | None = None,
                  pg_bin_dir: str | None = None, extra: dict | None = None) -> tuple[str, dict]:
    """pg_dump -Fc of `dbname` (or only `tables`, (schema, name) pairs) into dest_dir/name.dump
    with its manifest, exact row counts taken in the dumped snapshot. Both are private (0600, the
    directories created 0700), built in a private work directory and published without following
    or replacing anything planted in dest_dir. Returns (artefact, manifest); raises ToolError and
    leaves nothing behind on failure."""
    now = datetime.datetime.now(datetime.timezone.utc)
    filename = f'{sanitize_name(name)}.dump'
    artefact = os.path.join(dest_dir, filename)
    if os.path.lexists(artefact) or os.path.lexists(artefact + '.json'):
        raise ToolError(f'{artefact} already exists: a backup is never overwritten')
    previous_umask = os.umask(0o077)
    writing = artefact
    created: list[str] = []
    work = None
    try:
        created = ensure_dir(dest_dir, PRIVATE_DIR_MODE)
        began = time.monotonic()
        manifest = {'kind': 'database', 'format': 'custom', 'created_at': now.strftime('%Y-%m-%dT%H:%M:%SZ'),
                    'host': socket.gethostname(), 'verified': None}
        manifest.update(extra or {})
        work = WorkDir(dest_dir, 'pgdump')
        partial = work.join(filename)
        try:
            conn = psycopg.connect(autocommit=False, **connection_kwargs(params, dbname))
        except psycopg.Error as exc:
            raise ToolError(scrub(f"cannot connect to {dbname}: {' '.join(str(exc).split())}", params)) from None
        try:
            manifest.update(dump_in_snapshot(module, conn, params, dbname, partial, tables=tables,
                                             pg_bin_dir=pg_bin_dir))
        except psycopg.Error as exc:
            raise ToolError(scrub(f"dump of {dbname} failed: {' '.join(str(exc).split())}", params)) from None
        finally:
            conn.close()
        check_dump_complete(module, partial, 'custom', pg_bin_dir)
        set_tree_mode(partial, PRIVATE_FILE_MODE, PRIVATE_DIR_MODE)
        manifest['size'] = tree_size(partial)
        manifest['sha256'] = sha256_file(partial)
        manifest['duration_s'] = round(time.monotonic() - began, 3)
        manifest = manifest_content(partial, manifest)
        writing = artefact + '.json'
        with os.fdopen(work.create(filename + '.json'), 'wb') as out:
            out.write(manifest_bytes(manifest))
            out.flush()
            os.fsync(out.fileno())
        writing = artefact
        work.publish(filename)
        writing = artefact + '.json'
        work.publish(filename + '.json')
        work.close()
    except BaseException as exc:
        if work is not None:
            work.rollback()
            work.close()
        remove_created(created)
        if isinstance(exc, OSError):
            raise ToolError(f'nothing kept: {describe_os_error(exc, writing)}') from None
        if isinstance(exc, UnsafePath):
            raise ToolError(f'nothing kept: {exc}') from None
        if isinstance(exc, ToolError) and ('[ENOSPC' in str(exc) or 'No space left' in str(exc)):
            raise ToolError(f'nothing kept: writing {writing}: {exc}') from None
        raise
    finally:
        os.umask(previous_umask)
    return artefact, manifest
