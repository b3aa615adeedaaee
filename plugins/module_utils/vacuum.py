# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure planning logic of pg_vacuum: which tables need work, why, and in what order.

Nothing here talks to a server, so unit tests import it directly.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
from dataclasses import dataclass, field

OPERATIONS = ('vacuum', 'analyze', 'vacuum_analyze', 'vacuum_freeze', 'vacuum_full', 'reindex', 'weekly')
# The weekly task set in one pass: per table, the first (test, operation) whose test passes:
# FREEZE near wraparound, VACUUM ANALYZE when dead tuples pass, ANALYZE when statistics are stale.
WEEKLY = (('vacuum_freeze', 'vacuum_freeze'), ('vacuum', 'vacuum_analyze'), ('analyze', 'analyze'))
STATUSES = ('done', 'skipped_locked', 'deferred', 'failed', 'planned', 'skipped')

# Catalog query: one row per ordinary table or materialized view outside the system schemas.
# Identifiers come back as data; they are quoted later with psycopg.sql.Identifier.
# Sizes come from the catalog (relpages, kept by VACUUM/ANALYZE), never from pg_table_size():
# that takes a lock, and planning must not queue behind a table another session holds.
# pg_stats is read once for the whole database (not once per table and per index) and the
# pg_stat_get_*() functions replace the pg_stat_all_tables view: 10,000 tables plan in under
# a second (bench/pg_vacuum_vs_vacuumdb.py), with the same rows as the straightforward form.
STATS_QUERY = """
SELECT n.nspname AS schema,
       c.relname AS name,
       c.relkind AS kind,
       COALESCE(pg_stat_get_live_tuples(c.oid), 0) AS live_tuples,
       COALESCE(pg_stat_get_dead_tuples(c.oid), 0) AS dead_tuples,
       COALESCE(pg_stat_get_mod_since_analyze(c.oid), 0) AS mod_since_analyze,
       (COALESCE(pg_stat_get_last_analyze_time(c.oid), pg_stat_get_last_autoanalyze_time(c.oid)) IS NOT NULL) AS analyzed,
       age(c.relfrozenxid) AS xid_age,
       ((c.relpages::bigint + COALESCE(t.relpages, 0)) * current_setting('block_size')::int) AS table_bytes,
       (COALESCE(x.index_pages, 0)::bigint * current_setting('block_size')::int) AS index_bytes,
       (COALESCE(x.index_expected_pages, 0)::bigint * current_setting('block_size')::int) AS index_expected_bytes,
       c.reltablespace AS tablespace,
       c.relpages::bigint AS pages,
       current_setting('block_size')::int AS block_size,
       COALESCE(x.row_width, 0)::int AS row_width,
       COALESCE((SELECT option_value::int FROM pg_options_to_table(c.reloptions)
                  WHERE option_name = 'fillfactor'), 100) AS fillfactor
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  -- Per table: the sum of its column widths in pg_stats, the pages of its indexes and the pages
  -- B-trees of its live rows would need (12 bytes plus the key widths per row, 8 when the keys
  -- have no statistics, pages filled to 0.9). pg_stats is read in one pass for the whole database
  -- instead of once per table and once per index; everything is grouped and joined on the
  -- names, so a filter on n.nspname and c.relname appended below reaches pg_stats too.
  LEFT JOIN (
       SELECT nspname, relname,
              max(row_width) AS row_width,
              sum(relpages) AS index_pages,
              sum(ceil(GREATEST(reltuples, 0) * (12 + COALESCE(key_width, 8))
                       / (current_setting('block_size')::int * 0.9 - 24)) + 1)
                  FILTER (WHERE indexrelid IS NOT NULL) AS index_expected_pages
         FROM (SELECT xn.nspname, xc.relname, xc.reltuples, w.row_width, i.indexrelid, ic.relpages,
                      sum((SELECT sum(k.width) FROM unnest(w.attnames, w.widths) k(attname, width)
                            WHERE k.attname = ka.attname))::bigint AS key_width
                 FROM pg_class xc
                 JOIN pg_namespace xn ON xn.oid = xc.relnamespace
                 LEFT JOIN (SELECT schemaname, tablename, sum(avg_width) AS row_width,
                                   array_agg(attname) AS attnames, array_agg(avg_width) AS widths
                              FROM pg_stats
                             GROUP BY schemaname, tablename) w
                        ON w.schemaname = xn.nspname AND w.tablename = xc.relname
                 LEFT JOIN pg_index i ON i.indrelid = xc.oid
                 LEFT JOIN pg_class ic ON ic.oid = i.indexrelid
                 LEFT JOIN pg_attribute ka ON ka.attrelid = i.indrelid AND ka.attnum = ANY (i.indkey)
                WHERE xc.relkind IN ('r', 'm')
                GROUP BY xn.nspname, xc.relname, xc.reltuples, w.row_width, i.indexrelid, ic.relpages) per_index
        GROUP BY nspname, relname) x ON x.nspname = n.nspname AND x.relname = c.relname
 WHERE c.relkind IN ('r', 'm')
   AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_(toast|temp_)'
"""

# The statistics every operation but the rewrites needs, without the bloat estimate's inputs
# (pg_stats widths and the B-tree sizes the live rows would need), which only vacuum_full and
# reindex read: same columns and values as STATS_QUERY except index_expected_bytes and
# row_width, which are 0. About 5x cheaper (1,000 tables: ~13 ms against ~70 ms): the weekly
# pass and check-mode planning of VACUUM/ANALYZE/FREEZE use it.
ACTIVITY_QUERY = """
SELECT n.nspname AS schema,
       c.relname AS name,
       c.relkind AS kind,
       COALESCE(pg_stat_get_live_tuples(c.oid), 0) AS live_tuples,
       COALESCE(pg_stat_get_dead_tuples(c.oid), 0) AS dead_tuples,
       COALESCE(pg_stat_get_mod_since_analyze(c.oid), 0) AS mod_since_analyze,
       (COALESCE(pg_stat_get_last_analyze_time(c.oid), pg_stat_get_last_autoanalyze_time(c.oid)) IS NOT NULL) AS analyzed,
       age(c.relfrozenxid) AS xid_age,
       ((c.relpages::bigint + COALESCE(t.relpages, 0)) * current_setting('block_size')::int) AS table_bytes,
       (COALESCE(x.index_pages, 0)::bigint * current_setting('block_size')::int) AS index_bytes,
       0::bigint AS index_expected_bytes,
       c.reltablespace AS tablespace,
       c.relpages::bigint AS pages,
       current_setting('block_size')::int AS block_size,
       0 AS row_width,
       COALESCE((SELECT option_value::int FROM pg_options_to_table(c.reloptions)
                  WHERE option_name = 'fillfactor'), 100) AS fillfactor
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class t ON t.oid = c.reltoastrelid
  LEFT JOIN (SELECT i.indrelid, sum(ic.relpages) AS index_pages
               FROM pg_index i
               JOIN pg_class ic ON ic.oid = i.indexrelid
              GROUP BY i.indrelid) x ON x.indrelid = c.oid
 WHERE c.relkind IN ('r', 'm')
   AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')
   AND n.nspname !~ '^pg_(toast|temp_)'
"""
# Operations whose selection reads the bloat estimate (row_width, index_expected_bytes).
BLOAT_OPERATIONS = ('vacuum_full', 'reindex')


def stats_query(operation: str) -> str:
    """The catalog query an operation needs: STATS_QUERY for the rewrites, else ACTIVITY_QUERY."""
    return STATS_QUERY if operation in BLOAT_OPERATIONS else ACTIVITY_QUERY


# Bytes of tuple header plus line pointer per heap row, and of page header.
_ROW_OVERHEAD = 24 + 4
_PAGE_HEADER = 24


@dataclass
class TableStats:
    schema: str
    name: str
    kind: str = 'r'
    live_tuples: int = 0
    dead_tuples: int = 0
    mod_since_analyze: int = 0
    analyzed: bool = True
    xid_age: int = 0
    table_bytes: int = 0
    index_bytes: int = 0
    index_expected_bytes: int = 0
    tablespace: int = 0
    pages: int = 0
    block_size: int = 8192
    row_width: int = 0
    fillfactor: int = 100

    @property
    def qualified_name(self) -> str:
        return f'{self.schema}.{self.name}'

    @property
    def dead_ratio(self) -> float:
        total = self.live_tuples + self.dead_tuples
        return self.dead_tuples / total if total else 0.0


@dataclass
class Thresholds:
    min_dead_tuples: int = 1000
    min_dead_ratio: float = 0.05
    min_mod_since_analyze: int = 1000
    min_xid_age: int = 100_000_000
    min_bloat_ratio: float = 0.3
    min_bloat_bytes: int = 10 * 1024 * 1024
    max_table_bytes: int | None = None
    force: bool = False


@dataclass
class PlanItem:
    stats: TableStats
    operation: str
    reason: str
    benefit: float
    status: str = 'planned'
    extra: dict = field(default_factory=dict)


def estimate_table_bloat(stats: TableStats) -> tuple[int, float]:
    """Estimated reclaimable heap bytes and ratio, from live rows and their average width.

    Same idea as the well-known check_postgres/ioguix estimate: the pages the live rows
    need at the table's fillfactor, versus the pages the table has. Without statistics
    (never analyzed) the dead-tuple ratio stands in.
    """
    if stats.table_bytes <= 0:
        return 0, 0.0
    if stats.row_width <= 0:
        ratio = stats.dead_ratio
        return int(stats.table_bytes * ratio), ratio
    usable = (stats.block_size - _PAGE_HEADER) * stats.fillfactor / 100.0
    rows_per_page = max(1, math.floor(usable / (stats.row_width + _ROW_OVERHEAD)))
    needed_pages = math.ceil(stats.live_tuples / rows_per_page) if stats.live_tuples else 0
    actual_pages = max(stats.pages, math.ceil(stats.table_bytes / stats.block_size))
    bloat_pages = max(0, actual_pages - needed_pages)
    bloat_bytes = bloat_pages * stats.block_size
    return bloat_bytes, (bloat_bytes / (actual_pages * stats.block_size)) if actual_pages else 0.0


def estimate_index_bloat(stats: TableStats) -> tuple[int, float]:
    """Estimated reclaimable index bytes and ratio: the table's indexes versus what B-trees of
    its live rows would need (12 bytes of tuple header and line pointer plus the key widths
    from pg_stats, pages 90% full). Falls back to the dead-tuple ratio without statistics."""
    if stats.index_bytes <= 0:
        return 0, 0.0
    if stats.index_expected_bytes <= 0 or stats.row_width <= 0:
        ratio = stats.dead_ratio
        return int(stats.index_bytes * ratio), ratio
    bloat = max(0, stats.index_bytes - stats.index_expected_bytes)
    return bloat, bloat / stats.index_bytes


def matches_any(stats: TableStats, patterns: list[str]) -> bool:
    """True when 'schema.table' or the bare table name matches a glob pattern."""
    return any(fnmatch.fnmatchcase(stats.qualified_name, pattern) or fnmatch.fnmatchcase(stats.name, pattern)
               for pattern in patterns)


def parse_table_name(text: str) -> tuple[str, str]:
    """'schema.table' or 'table' (public). Double quotes allow dots inside names."""
    text = text.strip()
    parts: list[str] = []
    current = ''
    quoted = False
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            if quoted and i + 1 < len(text) and text[i + 1] == '"':
                current += '"'
                i += 1
            else:
                quoted = not quoted
        elif char == '.' and not quoted:
            parts.append(current)
            current = ''
        else:
            current += char
        i += 1
    parts.append(current)
    if quoted or len(parts) > 2 or any(part == '' for part in parts):
        raise ValueError(f'not a table name: {text!r} (expected schema.table or table)')
    return (parts[0], parts[1]) if len(parts) == 2 else ('public', parts[0])


def select(stats: TableStats, operation: str, limits: Thresholds) -> tuple[bool, str, float]:
    """Whether a table needs the operation, the reason in words, and the expected benefit."""
    if limits.max_table_bytes is not None and stats.table_bytes + stats.index_bytes > limits.max_table_bytes:
        return False, (f'too large for the window: {stats.table_bytes + stats.index_bytes} bytes > '
                       f'max_table_bytes {limits.max_table_bytes}'), 0.0
    if stats.kind == 'm' and operation in ('vacuum_full',):
        return False, 'materialized view: VACUUM FULL not applicable', 0.0

    dead_ok = stats.dead_tuples >= limits.min_dead_tuples and stats.dead_ratio >= limits.min_dead_ratio
    mods_ok = stats.mod_since_analyze >= limits.min_mod_since_analyze or (not stats.analyzed and stats.live_tuples > 0)

    def dead_reason() -> str:
        return (f'{stats.dead_tuples} dead tuples ({stats.dead_ratio:.0%} of rows; thresholds '
                f'{limits.min_dead_tuples} and {limits.min_dead_ratio:.0%})')

    def mods_reason() -> str:
        return (f'{stats.mod_since_analyze} rows modified since last analyze (threshold '
                f'{limits.min_mod_since_analyze})' if stats.analyzed else 'never analyzed')

    if operation == 'vacuum':
        chosen, reason, benefit = dead_ok, dead_reason(), float(stats.dead_tuples)
    elif operation == 'analyze':
        chosen, reason, benefit = mods_ok, mods_reason(), float(stats.mod_since_analyze or stats.live_tuples)
    elif operation == 'vacuum_analyze':
        chosen = dead_ok or mods_ok
        reason = dead_reason() if dead_ok or not mods_ok else mods_reason()
        benefit = float(stats.dead_tuples) + stats.mod_since_analyze / 10.0
    elif operation == 'vacuum_freeze':
        chosen = stats.xid_age >= limits.min_xid_age
        reason = f'relfrozenxid age {stats.xid_age} (threshold {limits.min_xid_age})'
        benefit = float(stats.xid_age)
    else:  # vacuum_full (heap and indexes are rewritten), reindex (indexes only)
        bloat_bytes, bloat_ratio = (estimate_index_bloat if operation == 'reindex' else estimate_table_bloat)(stats)
        chosen = bloat_ratio >= limits.min_bloat_ratio and bloat_bytes >= limits.min_bloat_bytes
        what = 'index' if operation == 'reindex' else 'table'
        reason = (f'estimated {what} bloat {bloat_bytes} bytes ({bloat_ratio:.0%}; thresholds '
                  f'{limits.min_bloat_bytes} bytes and {limits.min_bloat_ratio:.0%})')
        benefit = float(bloat_bytes)

    if limits.force:
        return True, f'force: {reason}', benefit
    if not chosen:
        return False, f'below threshold: {reason}', benefit
    return True, reason, benefit


def passes(stats: TableStats, operation: str, limits: Thresholds) -> bool:
    """select(stats, operation, limits)[0] without composing the reason: the weekly pass tests up
    to three operations per table, and formatting their reasons was most of its planning time."""
    if limits.max_table_bytes is not None and stats.table_bytes + stats.index_bytes > limits.max_table_bytes:
        return False
    if limits.force:
        return not (stats.kind == 'm' and operation == 'vacuum_full')
    dead_ok = stats.dead_tuples >= limits.min_dead_tuples and stats.dead_ratio >= limits.min_dead_ratio
    mods_ok = stats.mod_since_analyze >= limits.min_mod_since_analyze or (not stats.analyzed and stats.live_tuples > 0)
    if operation == 'vacuum':
        return dead_ok
    if operation == 'analyze':
        return mods_ok
    if operation == 'vacuum_analyze':
        return dead_ok or mods_ok
    if operation == 'vacuum_freeze':
        return stats.xid_age >= limits.min_xid_age
    return select(stats, operation, limits)[0]


def build_plan(all_stats: list[TableStats], operation: str, limits: Thresholds,
               tables: list[tuple[str, str]] | None = None, schemas: list[str] | None = None,
               exclude: list[str] | None = None) -> tuple[list[PlanItem], list[dict], list[str]]:
    """The ordered plan, the tables left alone (with why), and requested tables that do not exist."""
    by_name = {(s.schema, s.name): s for s in all_stats}
    missing: list[str] = []
    if tables:
        pool = []
        for key in tables:
            if key in by_name:
                pool.append(by_name[key])
            else:
                missing.append(f'{key[0]}.{key[1]}')
    else:
        pool = list(all_stats)
    if schemas:
        pool = [s for s in pool if s.schema in schemas]
    left_alone: list[dict] = []
    plan: list[PlanItem] = []
    unforced = dataclasses.replace(limits, force=False)  # weekly: which test passes, ignoring force
    for stats in pool:
        if exclude and matches_any(stats, exclude):
            left_alone.append({'schema': stats.schema, 'name': stats.name, 'reason': 'excluded'})
            continue
        concrete = operation
        if operation == 'weekly':
            concrete = next((op for test, op in WEEKLY if passes(stats, test, unforced)), 'vacuum_analyze')
        chosen, reason, benefit = select(stats, concrete, limits)
        if concrete == 'vacuum_freeze' and operation == 'weekly':
            benefit += 1e12  # transaction ID wraparound comes first
        if chosen:
            plan.append(PlanItem(stats=stats, operation=concrete, reason=reason, benefit=benefit))
        else:
            left_alone.append({'schema': stats.schema, 'name': stats.name, 'reason': reason,
                               'dead_tuples': stats.dead_tuples})
    plan.sort(key=lambda item: (-item.benefit, item.stats.schema, item.stats.name))
    left_alone.sort(key=lambda row: (row['schema'], row['name']))
    return plan, left_alone, missing


def clean_history(data) -> tuple[dict, int]:
    """The usable entries of a history_file (durations of past rewrites) and how many were not:
    an entry must be an object with a finite, non-negative duration_s and a positive bytes.
    Anything else (a list, strings, NaN, negative numbers) is dropped, never trusted."""
    if not isinstance(data, dict):
        return {}, 1
    kept, dropped = {}, 0
    for key, entry in data.items():
        duration = entry.get('duration_s') if isinstance(entry, dict) else None
        size = entry.get('bytes') if isinstance(entry, dict) else None
        if (isinstance(key, str) and _finite_number(duration) and 0 <= duration <= 10 ** 9
                and _finite_number(size) and 0 < size <= 2 ** 63):
            kept[key] = entry
        else:
            dropped += 1
    return kept, dropped


def _finite_number(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))
