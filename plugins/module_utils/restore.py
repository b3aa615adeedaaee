# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restores of pg_dump artefacts: the pure part (names, source choice, checks, plan, SQL text).

Used by the backup_restore module. Standard library only (plus the collection's backup and
vacuum helpers), so every function is unit tested without Ansible or PostgreSQL.

A full restore goes into a new database ``<target>__restore_<stamp>``; once its row counts
match the manifest, the current target is renamed ``<target>__before_<stamp>`` and the new one
takes the target's name. A selective restore replaces listed tables inside the target, in one
transaction that also checks their row counts before it commits.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
from dataclasses import dataclass, field

try:
    from psycopg import sql as psql_sql
except ImportError:  # pragma: no cover - hosts without psycopg cannot restore anyway
    psql_sql = None

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import (
    TOC_FILE,
    Entry,
    compare_rows,
    format_timestamp,
    newest_first,
    parse_timestamp,
    scan_artefacts,
    sha256_file,
    tree_size,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import check_pg_timeout
from ansible_collections.runbook.maintenance.plugins.module_utils.vacuum import parse_table_name

STAMP_FORMAT = '%Y%m%d_%H%M%S'
TEMP_INFIX = '__restore_'
PREVIOUS_INFIX = '__before_'
MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL would silently truncate a longer name
RESTORABLE_FORMATS = ('custom', 'directory')


class RestoreError(Exception):
    """A reason to stop before anything changed, in words an on-call engineer understands."""


# ---- names -----------------------------------------------------------------------------------
def stamp_of(moment: datetime.datetime) -> str:
    """'20261129_020000' (UTC): lower case, so the names need no quoting in psql."""
    return moment.astimezone(datetime.timezone.utc).strftime(STAMP_FORMAT)


def fit(prefix: str, suffix: str) -> str:
    """prefix + suffix within PostgreSQL's 63 bytes, cutting the prefix (on a character boundary)."""
    room = MAX_IDENTIFIER_BYTES - len(suffix.encode('utf-8'))
    while len(prefix.encode('utf-8')) > room:
        prefix = prefix[:-1]
    return prefix + suffix


def restore_names(target: str, stamp: str) -> dict:
    """The temporary database a full restore fills and the name the current target is kept
    under: '<target>__restore_<stamp>' and '<target>__before_<stamp>', the target's name cut
    when the whole would exceed the 63 bytes PostgreSQL keeps of a name."""
    if not target:
        raise RestoreError('the target database name is empty')
    return {'temporary': fit(target, f'{TEMP_INFIX}{stamp}'), 'previous': fit(target, f'{PREVIOUS_INFIX}{stamp}')}


def work_prefix(target: str, infix: str = TEMP_INFIX) -> str:
    """What the names of the target's temporary (or kept) databases start with."""
    return fit(target, f'{infix}{"0" * 8}_{"0" * 6}')[:-15]


def is_work_database(name: str, target: str) -> bool:
    """Whether a database name is a temporary or kept previous database of a restore of target."""
    for infix in (TEMP_INFIX, PREVIOUS_INFIX):
        prefix = work_prefix(target, infix)
        if name.startswith(prefix) and re.match(r'^\d{8}_\d{6}$', name[len(prefix):]):
            return True
    return False


def work_lock_key(name: str) -> int:
    """The key (a signed 64-bit integer) of the advisory lock a restore holds on its temporary
    database while it runs: whoever finds the database but can take the lock knows it is a
    leftover of a restore that died."""
    digest = hashlib.sha256(f'runbook.maintenance restore {name}'.encode('utf-8')).digest()
    return int.from_bytes(digest[:8], 'big', signed=True)


def parse_tables(values: list[str]) -> list[tuple[str, str]]:
    """('schema', 'table') pairs from 'schema.table' / 'table' (public) / '"Dotted.Name"', in
    order, duplicates removed. Raises RestoreError naming the bad entry."""
    tables: list[tuple[str, str]] = []
    for value in values or []:
        try:
            table = parse_table_name(str(value))
        except ValueError as exc:
            raise RestoreError(str(exc)) from None
        if table not in tables:
            tables.append(table)
    return tables


def table_label(table: tuple[str, str]) -> str:
    return f'{table[0]}.{table[1]}'


def quote_ident(name: str) -> str:
    """An SQL identifier, always double-quoted (safe whatever the name holds)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """An SQL string literal (standard_conforming_strings, which pg_restore scripts set)."""
    return "'" + text.replace("'", "''") + "'"


def dump_pattern(table: tuple[str, str]) -> str:
    """A pg_dump -t pattern matching exactly this table (quoted: no wildcard, no case folding)."""
    return f'{quote_ident(table[0])}.{quote_ident(table[1])}'


def check_lock_timeout(value: str) -> str:
    """The lock_timeout in milliseconds ('5000ms') from '5s', '500ms', '1min' or a bare number
    (milliseconds, as PostgreSQL reads it). 0 is refused: PostgreSQL reads it as no timeout."""
    try:
        return check_pg_timeout('lock_timeout', value if value is not None else '', default_unit='ms')
    except ValueError as exc:
        raise RestoreError(f"{exc} (a PostgreSQL duration such as '5s', '500ms' or '1min')") from None


# ---- the source ------------------------------------------------------------------------------
@dataclass
class Candidate:
    """An artefact of a directory with its manifest (or why it has none usable)."""
    entry: Entry
    manifest: dict | None = None
    problem: str | None = None


@dataclass
class Choice:
    chosen: Candidate | None
    skipped: list[str] = field(default_factory=list)


def list_artefacts(directory: str, pattern: str = '*') -> list[Entry]:
    """The artefacts of a backup directory: regular files and directory-format dumps (holding
    toc.dat), never symlinks, manifests or hidden partial files. Raises RestoreError."""
    try:
        found = scan_artefacts(directory, pattern)
    except FileNotFoundError:
        raise RestoreError(f'latest_in {directory} does not exist') from None
    except NotADirectoryError:
        raise RestoreError(f'latest_in {directory} is not a directory') from None
    except OSError as exc:
        raise RestoreError(f'latest_in {directory} cannot be read: {exc.strerror or exc}') from None
    return found


def unusable_reason(manifest: dict | None, problem: str | None, database: str | None, require_verified: bool) -> str | None:
    """Why an artefact cannot be restored as the backup of `database`, or None."""
    if manifest is None:
        return problem or 'no manifest'
    if manifest.get('kind', 'database') != 'database':
        return f"it is a {manifest.get('kind')} backup, not a database dump"
    if database and manifest.get('database') not in (None, database):
        return f"it is a dump of database {manifest.get('database')!r}, not {database!r}"
    if manifest.get('format') not in RESTORABLE_FORMATS:
        return f"its format {manifest.get('format')!r} is not one this module restores ({', '.join(RESTORABLE_FORMATS)})"
    if require_verified and manifest.get('verified') is not True:
        state = 'failed verification' if manifest.get('verified') is False else 'was never verified'
        return f"it {state} (manifest verified: {manifest.get('verified')!r}); require_verified=false restores it anyway"
    return None


def choose_latest(candidates: list[Candidate], database: str | None, require_verified: bool) -> Choice:
    """The newest candidate that can be restored (by modification time, then name); the newer
    ones passed over, each with its reason."""
    by_location = {c.entry.location: c for c in candidates}
    choice = Choice(None)
    for entry in newest_first([c.entry for c in candidates]):
        candidate = by_location[entry.location]
        reason = unusable_reason(candidate.manifest, candidate.problem, database, require_verified)
        if reason is None:
            choice.chosen = candidate
            return choice
        choice.skipped.append(f'{entry.name}: {reason}')
    return choice


def check_checksum(path: str, manifest: dict) -> str:
    """Compare an artefact with its manifest (sha256 and size of a file; size and toc.dat of a
    directory-format dump). Returns what was checked; raises RestoreError."""
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, TOC_FILE)):
            raise RestoreError(f'{path} is a directory without {TOC_FILE}: not a pg_dump directory-format dump')
        size = tree_size(path)
        if manifest.get('size') is not None and size != manifest['size']:
            raise RestoreError(f"{path} holds {size} bytes, the manifest says {manifest['size']}: "
                               'the dump changed since it was made')
        return f'directory dump of {size} bytes, as the manifest says (a directory has no single sha256)'
    want = (manifest.get('sha256') or '').lower()
    if not want:
        raise RestoreError(f'the manifest of {path} records no sha256: the artefact cannot be checked')
    size = os.path.getsize(path)
    if manifest.get('size') is not None and size != manifest['size']:
        raise RestoreError(f"checksum: {path} is {size} bytes, the manifest says {manifest['size']}: "
                           'the artefact changed since it was made')
    got = sha256_file(path)
    if got != want:
        raise RestoreError(f'checksum: sha256 of {path} is {got}, the manifest says {want}: '
                           'the artefact is damaged or not the one the manifest describes')
    return f'sha256 {got} and size {size} match the manifest'


def backup_age(manifest: dict, now: datetime.datetime) -> tuple[str, float]:
    """(created_at as written in manifests, age in seconds at `now`): the restore's recovery point."""
    created = parse_timestamp(manifest['created_at'])
    return format_timestamp(created), round((now - created).total_seconds(), 3)


# ---- row counts ------------------------------------------------------------------------------
def expected_rows(manifest: dict, only: list[tuple[str, str]] | None = None) -> list[dict]:
    """The manifest's tables (with exact counts) to compare, optionally only some. Raises
    RestoreError when the manifest has none or its counts are estimates."""
    tables = manifest.get('tables') or []
    if not tables:
        raise RestoreError("the manifest lists no tables, the restore cannot be verified (verify_rows=false "
                           'restores without that check)')
    kind = manifest.get('row_counts', 'exact')
    if kind not in (None, 'exact'):
        raise RestoreError(f"the manifest's row counts are not exact (row_counts: {kind}); verify_rows=false "
                           'restores without that check')
    if only is None:
        return [t for t in tables if t.get('rows') is not None]
    listed = {(t['schema'], t['name']): t for t in tables}
    missing = [table_label(t) for t in only if t not in listed]
    if missing:
        raise RestoreError(f"not in the backup (its manifest does not list them): {', '.join(missing)}")
    return [listed[t] for t in only if listed[t].get('rows') is not None]


def rows_mismatches(expected: list[dict], counts: dict[tuple[str, str], int]) -> list[str]:
    """Readable mismatches between the manifest and the restored counts (compare_rows)."""
    mismatches, _compared = compare_rows(expected, counts)
    return mismatches


def rows_by_label(counts: dict[tuple[str, str], int]) -> dict[str, int]:
    return {table_label(key): value for key, value in sorted(counts.items())}


def count_check_sql(expected: list[dict]) -> str:
    """A DO block that raises (so the enclosing transaction rolls back) when a table's row
    count differs from the manifest: appended to a selective restore's script.

    Composed with psycopg.sql: identifiers are sql.Identifier, texts sql.Literal, and the block's
    body is itself one sql.Literal (a plain quoted string, no dollar quoting), so no table name
    ($, $$, $tag$, quotes, semicolons, backslashes) can end a quote or add a statement.
    """
    if psql_sql is None:  # pragma: no cover - backup_restore requires psycopg before it gets here
        raise RestoreError('psycopg (version 3) is required to compose the row count check')
    body = [psql_sql.SQL('DECLARE found bigint; BEGIN')]
    for table in expected:
        rows = int(table['rows'])
        label = table_label((table['schema'], table['name']))
        body.append(psql_sql.SQL(
            'SELECT count(*) INTO found FROM {table}; IF found <> {rows} THEN RAISE EXCEPTION '
            '{message}, {label}, found; END IF;').format(
                table=psql_sql.Identifier(table['schema'], table['name']), rows=psql_sql.Literal(rows),
                message=psql_sql.Literal(f'runbook restore check: % has % rows restored, the manifest says {rows}'),
                label=psql_sql.Literal(label)))
    body.append(psql_sql.SQL('END'))
    text = psql_sql.SQL('\n').join(body).as_string(None)
    return psql_sql.SQL('DO {};').format(psql_sql.Literal(text)).as_string(None) + '\n'


# ---- the plan --------------------------------------------------------------------------------
@dataclass
class PlanInput:
    source: str
    target: str
    target_exists: bool
    temporary: str
    previous: str
    jobs: int
    tables: list[tuple[str, str]]
    existing_tables: list[tuple[str, str]]
    safety_dump_dir: str | None
    keep_previous: bool
    verify_rows: bool
    rows_to_compare: int


def build_plan(p: PlanInput) -> list[str]:
    """The steps of the restore, in order, as sentences (returned in check mode and after)."""
    steps = [f'check the sha256 of {p.source} against its manifest',
             f'create database {p.temporary} and pg_restore {p.source} into it with {p.jobs} job(s)']
    if p.verify_rows:
        steps.append(f'compare the row counts of {p.rows_to_compare} table(s) in {p.temporary} with the manifest')
    if p.tables:
        if p.safety_dump_dir and p.existing_tables:
            steps.append(f"dump the current {', '.join(table_label(t) for t in p.existing_tables)} of {p.target} "
                         f'to {p.safety_dump_dir}')
        replaced = [table_label(t) for t in p.existing_tables]
        created = [table_label(t) for t in p.tables if t not in p.existing_tables]
        what = []
        if replaced:
            what.append(f"replace {', '.join(replaced)}")
        if created:
            what.append(f"create {', '.join(created)}")
        steps.append(f"in one transaction in {p.target}: {' and '.join(what)} (definition, data, indexes, "
                     f'constraints) from {p.temporary}, check the row counts, commit')
        steps.append(f'drop {p.temporary}')
        return steps
    if p.target_exists:
        if p.safety_dump_dir:
            steps.append(f'dump the current {p.target} to {p.safety_dump_dir}')
        steps.append(f'refuse new connections to {p.target} and terminate its sessions')
        steps.append(f'rename {p.target} to {p.previous}')
        steps.append(f'rename {p.temporary} to {p.target}')
        if not p.keep_previous:
            steps.append(f'drop {p.previous}')
    else:
        steps.append(f'rename {p.temporary} to {p.target} ({p.target} does not exist)')
    return steps
