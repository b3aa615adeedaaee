# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_repack as pg_vacuum's online rewrite: which method a table gets, the command line, what the
tool's output means, and the temporary objects an interrupted run leaves behind.

Pure functions (no database, no process), unit-tested directly. pg_repack rebuilds a table into a
copy while a trigger logs concurrent changes, and holds the ACCESS EXCLUSIVE lock only briefly at
the start and at the swap; VACUUM FULL holds it for the whole rewrite.
"""

from __future__ import annotations

import math
import re

METHODS = ('auto', 'pg_repack', 'vacuum_full')
FALLBACKS = ('skip', 'vacuum_full')

# The extension's temporary objects are named after the table's OID: repack.log_<oid> (the change
# log), repack.table_<oid> (the copy), repack.pk_<oid> (a type); plus the trigger on the table.
LEFTOVER_NAME = re.compile(r'^(?:log|table|pk)_(\d+)(?:_.*)?$')
TRIGGER_NAME = 'repack_trigger'

# Whether each table can be repacked: pg_repack needs a primary key or a valid, non-partial,
# non-expression unique index whose columns are all NOT NULL. One row per table OID.
KEYS_QUERY = """
SELECT c.oid, n.nspname, c.relname, c.relkind,
       EXISTS (
         SELECT 1 FROM pg_index i
          WHERE i.indrelid = c.oid AND i.indisvalid AND i.indisready
            AND (i.indisprimary OR (i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
                 AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey::int2[]) AS k(attnum)
                                  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                                 WHERE NOT a.attnotnull)))
       ) AS has_key
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE (n.nspname::text, c.relname::text) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""

# Temporary objects of interrupted runs in the repack schema, and tables still carrying the trigger.
LEFTOVERS_QUERY = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'repack' AND c.relname ~ '^(log|table|pk)_[0-9]+'
UNION ALL
SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname = 'repack' AND t.typname ~ '^pk_[0-9]+$'
UNION ALL
SELECT 'table_trigger_' || t.tgrelid::text FROM pg_trigger t WHERE t.tgname = 'repack_trigger'
"""

# Server sessions of pg_repack still working on one table (after its client was killed, a backend
# goes on with its statement until it next writes to the closed socket).
BACKENDS_QUERY = """
SELECT pid FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'pg_repack'
   AND (query LIKE %s OR query LIKE %s OR query LIKE %s)
"""

PACKAGE_HINT = ('rewrite it online with pg_repack: install the package (Debian: postgresql-{major}-repack) '
                'and run CREATE EXTENSION pg_repack in database {database}')


def leftover_oids(names: list[str]) -> set[int]:
    """Table OIDs that interrupted runs left objects for (from LEFTOVERS_QUERY's names)."""
    oids = set()
    for name in names:
        if name.startswith('table_trigger_'):
            oids.add(int(name.rsplit('_', 1)[1]))
            continue
        match = LEFTOVER_NAME.match(name)
        if match:
            oids.add(int(match.group(1)))
    return oids


def backend_patterns(oid: int) -> tuple[str, str, str]:
    """LIKE patterns matching the statements pg_repack runs for the table with this OID."""
    return (f'%repack.table\\_{oid}%', f'%repack.log\\_{oid}%', f'%repack_apply%log\\_{oid}%')


def parse_version(text: str | None) -> str | None:
    """'pg_repack 1.4.8' (client) or '1.4.8' (extension) -> '1.4.8'."""
    if not text:
        return None
    match = re.search(r'(\d+(?:\.\d+)+)', text)
    return match.group(1) if match else None


def resolve_method(requested: str, extension_version: str | None, client_path: str | None,
                   client_version: str | None, superuser: bool, database: str, major: int) -> tuple[str, str | None, str | None]:
    """The rewrite method of a run: (method, why pg_repack is not used, error).

    error is set when pg_repack was required (requested='pg_repack') and cannot be used; with
    'auto' the same reasons fall back to VACUUM FULL and are reported as the 'why'."""
    if requested == 'vacuum_full':
        return 'vacuum_full', 'rewrite_method=vacuum_full', None
    hint = PACKAGE_HINT.format(major=major, database=database)
    problem = None
    if not extension_version:
        problem = f'the pg_repack extension is not installed in database {database} ({hint})'
    elif not client_path:
        problem = (f'the pg_repack client program was not found (install postgresql-{major}-repack '
                   'or set repack_bin)')
    elif parse_version(client_version) != parse_version(extension_version):
        problem = (f'pg_repack client {parse_version(client_version) or client_version!r} does not match '
                   f'the extension {extension_version} in database {database} '
                   '(ALTER EXTENSION pg_repack UPDATE, or install the matching package)')
    elif not superuser:
        problem = 'pg_repack needs a superuser login (login_user is not a superuser)'
    if problem is None:
        return 'pg_repack', None, None
    if requested == 'pg_repack':
        return 'pg_repack', problem, f'rewrite_method=pg_repack: {problem}'
    return 'vacuum_full', problem, None


def table_method(run_method: str, repackable: bool, fallback: str) -> tuple[str | None, str | None]:
    """(method, note) for one table of a VACUUM FULL plan; method None means: report, do not rewrite."""
    if run_method != 'pg_repack' or repackable:
        return run_method, None
    why = ('no primary key or unique index on NOT NULL columns, which pg_repack needs to rewrite '
           'it online')
    if fallback == 'vacuum_full':
        return 'vacuum_full', f'{why}: VACUUM FULL instead (rewrite_fallback=vacuum_full; it locks the table for the whole rewrite)'
    return None, (f'{why}; add a primary key, or set rewrite_fallback=vacuum_full to allow VACUUM FULL '
                  '(which locks the table for the whole rewrite)')


def repack_command(binary: str, database: str, schema: str, table: str, wait_timeout: float,
                   kill_backends: bool, jobs: int = 1, connection: dict | None = None) -> list[str]:
    """The pg_repack argument list for one table: VACUUM FULL semantics (--no-order), bounded lock
    waits (--wait-timeout), other sessions never cancelled unless kill_backends, never a password
    prompt (-w; the password travels in PGPASSWORD). connection: host/port/user for the argv."""
    argv = [binary, '--no-order', '--no-password', f'--wait-timeout={max(1, math.ceil(wait_timeout))}',
            f'--table={quote_ident(schema)}.{quote_ident(table)}', f'--dbname={database}']
    if not kill_backends:
        argv.insert(2, '--no-kill-backend')
    if jobs > 1:
        argv.append(f'--jobs={jobs}')
    for key, flag in (('host', '--host'), ('port', '--port'), ('user', '--username')):
        value = (connection or {}).get(key)
        if value not in (None, ''):
            argv.append(f'{flag}={value}')
    return argv


def quote_ident(name: str) -> str:
    """An identifier as PostgreSQL reads it in pg_repack's --table (quoted unless plainly lower case)."""
    if re.fullmatch(r'[a-z_][a-z0-9_$]*', name):
        return name
    return '"' + name.replace('"', '""') + '"'


def parse_output(returncode: int, output: str) -> tuple[str, str | None]:
    """(status, error) from pg_repack's exit code and messages. It exits 0 for a table it skipped
    (lock not granted within --wait-timeout, no usable key), so the messages decide."""
    text = ' '.join(output.split())
    lowered = text.lower()
    if 'due to timeout' in lowered or 'lock_exclusive() failed' in lowered or 'timed out, do not cancel' in lowered:
        return 'skipped_locked', f'pg_repack: lock not granted within its wait-timeout ({_last_messages(output)})'
    if 'another pg_repack command may be running' in lowered:
        return 'skipped_locked', 'pg_repack: another pg_repack is working on this table'
    if 'must have a primary key' in lowered:
        return 'failed', f'pg_repack refused the table: {_last_messages(output)}'
    if returncode != 0 or re.search(r'(^|\n)\s*(ERROR|FATAL)', output):
        return 'failed', f'pg_repack exited with {returncode}: {_last_messages(output)}'
    return 'done', None


def _last_messages(output: str, limit: int = 600) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip() and not line.startswith('INFO:')]
    text = ' | '.join(lines) or ' '.join(output.split())
    return text[-limit:]
