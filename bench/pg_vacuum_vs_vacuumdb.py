"""Benchmark: the weekly pg_vacuum pass against `vacuumdb --analyze --jobs=2`, and pg_vacuum's
planning time on a database with many tables.

    .venv/bin/python bench/pg_vacuum_vs_vacuumdb.py [--tables 1000] [--bloated-percent 5] [--plan-tables 10000]

In one run, on a throwaway PostgreSQL cluster (autovacuum off, destroyed at the end):

1. two identical databases (clones of one template) of --tables tables of --rows rows with a
   primary key, VACUUM ANALYZEd after load, then --bloated-percent of them bloated: ~40% of their
   rows deleted (20%) or updated (20%);
2. `vacuumdb --analyze --jobs=2` over the first, the weekly pg_vacuum pass (the role's weekly
   task set: one module run, operation weekly, jobs=2) over the second, both timed end to
   end (process start included);
3. the physical floor: `vacuumdb --analyze --jobs=2 -t T ...` over a third identical clone,
   restricted to exactly the tables pg_vacuum chose (the same VACUUM ANALYZE work, done by a
   C program with next to no start-up cost), and its ratio to the full vacuumdb run; where
   pg_vacuum's time goes (process start and imports, statements, the rest of the module);
4. dead tuples left on the bloated tables (pgstattuple, else n_dead_tup) and the tables each
   tool vacuumed / analyzed (vacuum_count / analyze_count deltas);
5. a database of --plan-tables small analyzed tables, and pg_vacuum in check mode over it
   (the plan only) for vacuum_analyze (the activity query) and vacuum_full (STATS_QUERY, with
   the bloat estimate's inputs): the module's summary.duration_s and the process wall time;
6. when the planning goal is missed: EXPLAIN ANALYZE of STATS_QUERY on that database and, if
   bench/proposed_stats_query.sql exists, its timing and a row-by-row comparison with STATS_QUERY
   on the three databases.

Goals: pg_vacuum's weekly pass takes at most a quarter of vacuumdb's time and leaves no more dead
tuples on the bloated tables; planning over --plan-tables tables takes under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / 'bench'
COLLECTIONS = REPO / '.build' / 'collections'
MODULE = REPO / 'plugins' / 'modules' / 'pg_vacuum.py'
PROPOSED = BENCH / 'proposed_stats_query.sql'
sys.path.insert(0, str(REPO / 'scripts'))
sys.path.insert(0, str(COLLECTIONS))

import psycopg  # noqa: E402  pylint: disable=wrong-import-position
from psycopg import sql  # noqa: E402  pylint: disable=wrong-import-position

from pgsandbox import Cluster  # noqa: E402  pylint: disable=wrong-import-position

DB_VACUUMDB = 'bench_vacuumdb'
DB_PGVACUUM = 'bench_pgvacuum'
DB_FLOOR = 'bench_floor'
CLONES = (DB_VACUUMDB, DB_PGVACUUM, DB_FLOOR)
DB_PLAN = 'bench_plan'
DB_TEMPLATE = 'bench_template'
SCHEMA = 'bench'
WEEKLY = ('weekly',)  # the role's weekly task set: one pass, FREEZE / VACUUM ANALYZE / ANALYZE per table
SPEED_GOAL = 0.25
PLAN_GOAL_S = 1.0


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Share of CPU time spent busy on the whole machine over `seconds` (/proc/stat), None elsewhere."""
    def sample():
        with open('/proc/stat', encoding='ascii') as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait
    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except OSError:
        return None
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


def log(message: str) -> None:
    print(f'[{time.strftime("%H:%M:%S")}] {message}', flush=True)


def table_name(i: int) -> str:
    return f't{i:05d}'


def bloated_indexes(tables: int, percent: float) -> list[int]:
    """Which tables get bloated: `percent` of them, spread evenly over the numbering."""
    count = max(1, round(tables * percent / 100)) if percent > 0 else 0
    if count == 0:
        return []
    step = tables / count
    return sorted({int(k * step) + 1 for k in range(count)})


# ---- data generation -----------------------------------------------------------------------------
GENERATE = """
DO $gen$
DECLARE
  i int;
BEGIN
  FOR i IN 1..%(tables)s LOOP
    EXECUTE format('CREATE TABLE %(schema)s.%%I (id int PRIMARY KEY, grp int NOT NULL, val int NOT NULL,'
                   ' note text NOT NULL)', 't' || lpad(i::text, 5, '0'));
    EXECUTE format('INSERT INTO %(schema)s.%%I SELECT g, g %%%% 100, g * 7, ''row '' || g'
                   ' FROM generate_series(1, %(rows)s) g', 't' || lpad(i::text, 5, '0'));
    IF i %% 200 = 0 THEN
      COMMIT;  -- keep the lock table small (one lock per table, index and TOAST relation)
    END IF;
  END LOOP;
END
$gen$
"""

# ~40% of the rows of each listed table become dead tuples: 20% deleted, 20% updated (a new
# version each). One transaction, so nothing prunes the deleted rows before the tools run.
BLOAT = """
DO $bloat$
DECLARE
  i int;
BEGIN
  FOREACH i IN ARRAY %(tables)s LOOP
    EXECUTE format('DELETE FROM %(schema)s.%%I WHERE id %%%% 5 = 0', 't' || lpad(i::text, 5, '0'));
    EXECUTE format('UPDATE %(schema)s.%%I SET val = val + 1 WHERE id %%%% 5 = 1', 't' || lpad(i::text, 5, '0'));
  END LOOP;
END
$bloat$
"""

PLAN_GENERATE = """
DO $gen$
DECLARE
  i int;
BEGIN
  FOR i IN 1..%(tables)s LOOP
    EXECUTE format('CREATE TABLE %(schema)s.%%I (id int PRIMARY KEY, note text NOT NULL)',
                   'p' || lpad(i::text, 5, '0'));
    EXECUTE format('INSERT INTO %(schema)s.%%I SELECT g, ''n'' || g FROM generate_series(1, %(rows)s) g',
                   'p' || lpad(i::text, 5, '0'));
    IF i %% 500 = 0 THEN
      COMMIT;
    END IF;
  END LOOP;
END
$gen$
"""


def connect(cluster: Cluster, dbname: str) -> psycopg.Connection:
    return psycopg.connect(**cluster.conninfo(dbname), autocommit=True)


def flush_stats(conn: psycopg.Connection) -> None:
    """Publish this session's pending table statistics now."""
    conn.execute('SELECT pg_stat_force_next_flush()')
    conn.execute('SELECT 1')


def wait_for_dead_tuples(cluster: Cluster, dbname: str, tables: list[str], expected: int,
                         timeout: float = 10) -> int:
    """n_dead_tup summed over `tables`, once it reaches `expected` (stats are flushed asynchronously)."""
    deadline = time.monotonic() + timeout
    seen = 0
    while True:
        with connect(cluster, dbname) as conn:
            seen = conn.execute(
                'SELECT COALESCE(sum(n_dead_tup), 0)::bigint FROM pg_stat_user_tables '
                'WHERE schemaname = %s AND relname = ANY (%s)', (SCHEMA, tables)).fetchone()[0]
        if seen >= expected or time.monotonic() > deadline:
            return seen
        time.sleep(0.1)


def make_bench_databases(cluster: Cluster, args, bloated: list[int]) -> dict:
    began = time.monotonic()
    with connect(cluster, 'postgres') as admin:
        admin.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(DB_TEMPLATE)))
    with connect(cluster, DB_TEMPLATE) as conn:
        conn.execute(sql.SQL('CREATE SCHEMA {}').format(sql.Identifier(SCHEMA)))
        conn.execute(GENERATE % {'tables': int(args.tables), 'rows': int(args.rows), 'schema': SCHEMA})
        try:
            conn.execute('CREATE EXTENSION pgstattuple')
            pgstattuple = True
        except psycopg.Error:
            pgstattuple = False
    log(f'template: {args.tables} tables x {args.rows} rows loaded in {time.monotonic() - began:.1f}s')
    with connect(cluster, 'postgres') as admin:
        for name in CLONES:
            # FILE_COPY: a checkpoint and a file copy, much faster than WAL_LOG for this size.
            admin.execute(sql.SQL('CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY').format(
                sql.Identifier(name), sql.Identifier(DB_TEMPLATE)))
        admin.execute(sql.SQL('DROP DATABASE {}').format(sql.Identifier(DB_TEMPLATE)))
    names = [table_name(i) for i in bloated]
    expected_dead = 0
    for name in CLONES:
        # The cumulative statistics belong to a database's OID: a clone starts without any, so
        # each database is VACUUM ANALYZEd on its own (clean tables, identical statistics).
        with connect(cluster, name) as conn:
            conn.execute('VACUUM ANALYZE')
            if bloated:
                conn.execute(BLOAT % {'tables': 'ARRAY[' + ','.join(map(str, bloated)) + ']', 'schema': SCHEMA})
            flush_stats(conn)
        per_table = (args.rows // 5) + (args.rows + 4) // 5  # ids % 5 = 0 deleted, = 1 updated
        expected_dead = per_table * len(bloated)
        wait_for_dead_tuples(cluster, name, names, expected_dead)
    log(f"databases {', '.join(CLONES)} ready ({len(bloated)} bloated tables) "
        f'in {time.monotonic() - began:.1f}s')
    return {'pgstattuple': pgstattuple, 'generate_s': time.monotonic() - began, 'expected_dead': expected_dead}


def make_plan_database(cluster: Cluster, args) -> float:
    began = time.monotonic()
    with connect(cluster, 'postgres') as admin:
        admin.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(DB_PLAN)))
    with connect(cluster, DB_PLAN) as conn:
        conn.execute(sql.SQL('CREATE SCHEMA {}').format(sql.Identifier(SCHEMA)))
        conn.execute(PLAN_GENERATE % {'tables': int(args.plan_tables), 'rows': int(args.plan_rows),
                                      'schema': SCHEMA})
        # Analyzed, as in a real database: pg_stats then holds a row per column, which the
        # planning query reads. (Inserts flushed first, or they would count after the ANALYZE.)
        flush_stats(conn)
        conn.execute('ANALYZE')
        flush_stats(conn)
    log(f'database {DB_PLAN}: {args.plan_tables} tables in {time.monotonic() - began:.1f}s')
    return time.monotonic() - began


# ---- measures ------------------------------------------------------------------------------------
def counters(cluster: Cluster, dbname: str) -> dict[str, tuple[int, int]]:
    with connect(cluster, dbname) as conn:
        rows = conn.execute('SELECT relname, vacuum_count, analyze_count FROM pg_stat_user_tables '
                            'WHERE schemaname = %s', (SCHEMA,)).fetchall()
    return {name: (vac, ana) for name, vac, ana in rows}


def touched(before: dict, after: dict) -> tuple[int, int]:
    vacuumed = sum(1 for name, (vac, dummy) in after.items() if vac > before.get(name, (0, 0))[0])
    analyzed = sum(1 for name, (dummy, ana) in after.items() if ana > before.get(name, (0, 0))[1])
    return vacuumed, analyzed


def dead_tuples(cluster: Cluster, dbname: str, tables: list[str], pgstattuple: bool) -> int:
    """Dead tuples left on `tables`: pgstattuple's exact count, else n_dead_tup after a flush."""
    if not tables:
        return 0
    with connect(cluster, dbname) as conn:
        if pgstattuple:
            return conn.execute(
                'SELECT COALESCE(sum((pgstattuple(format(%s, %s::text, t))).dead_tuple_count), 0)::bigint '
                'FROM unnest(%s::text[]) t', ('%I.%I', SCHEMA, tables)).fetchone()[0]
    time.sleep(0.2)  # the tools' sessions have ended: their statistics were flushed on exit
    with connect(cluster, dbname) as conn:
        return conn.execute('SELECT COALESCE(sum(n_dead_tup), 0)::bigint FROM pg_stat_user_tables '
                            'WHERE schemaname = %s AND relname = ANY (%s)', (SCHEMA, tables)).fetchone()[0]


def run_vacuumdb(cluster: Cluster, jobs: int, dbname: str = DB_VACUUMDB, tables: list[str] | None = None) -> float:
    """vacuumdb --analyze over the database, or over exactly `tables` (schema.table) with -t."""
    argv = [f'{cluster.bindir}/vacuumdb', '--analyze', f'--jobs={jobs}', '--host', str(cluster.run),
            '--port', str(cluster.port), '--username', 'postgres', '--dbname', dbname]
    for name in tables or ():
        argv += ['--table', name]
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - began
    if done.returncode != 0:
        raise RuntimeError(f'vacuumdb failed ({done.returncode}): {done.stderr.strip()}')
    return elapsed


def run_module(cluster: Cluster, workdir: Path, dbname: str, args: dict, check: bool = False) -> tuple[dict, float]:
    """pg_vacuum the way Ansible runs it on a target: a new Python process, arguments in a JSON file."""
    payload = dict(cluster.module_args(dbname), **args, _ansible_check_mode=check, _ansible_no_log=False,
                   _ansible_verbosity=0)
    path = workdir / f'args-{time.monotonic_ns()}.json'
    path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': payload}))
    env = {**os.environ, 'PYTHONPATH': str(COLLECTIONS)}
    began = time.monotonic()
    done = subprocess.run([sys.executable, str(MODULE), str(path)], capture_output=True, text=True, env=env,
                          check=False)
    elapsed = time.monotonic() - began
    try:
        result = json.loads(done.stdout[done.stdout.index('{'):])
    except ValueError as exc:
        raise RuntimeError(f'pg_vacuum printed no JSON result:\n{done.stdout}\n{done.stderr}') from exc
    if result.get('failed'):
        raise RuntimeError(f"pg_vacuum failed: {result.get('msg')}")
    return result, elapsed


def import_seconds(statement: str, repeat: int = 3) -> float:
    """Median wall time of a new Python process running `statement` (start, imports, exit)."""
    env = {**os.environ, 'PYTHONPATH': str(COLLECTIONS)}
    times = []
    for dummy in range(repeat):
        began = time.monotonic()
        subprocess.run([sys.executable, '-c', statement], check=True, env=env)
        times.append(time.monotonic() - began)
    return statistics.median(times)


def quoted_table(schema: str, name: str) -> str:
    """schema.table as vacuumdb's --table wants it (double-quoted identifiers)."""
    return '.'.join('"' + part.replace('"', '""') + '"' for part in (schema, name))


def stats_query() -> str:
    from ansible_collections.runbook.maintenance.plugins.module_utils.vacuum import STATS_QUERY  # pylint: disable=import-outside-toplevel
    return STATS_QUERY


# STATS_QUERY restricted to one table, as pg_vacuum's measure_after ran it after each table up to
# commit 6e77a54 (it now reads pg_stat_all_tables and the size functions instead). Checked so that
# a replacement query stays correct and cheap in that form too.
PER_TABLE = ' AND n.nspname = %s AND c.relname = %s'

# Objects that exercise every column of STATS_QUERY: multi-column, expression, partial, covering
# and duplicate-column indexes, a dropped column, fillfactor, TOAST, inheritance (pg_stats rows
# with inherited = true and false), partitions, a materialized view, quoted names holding dots,
# the same table name in two schemas, tables never analyzed or empty, row-level security, and a
# role that may read only some columns (pg_stats hides the others from it).
EDGE_SQL = '''
CREATE SCHEMA edge;
CREATE SCHEMA "Odd ""Schema""";
CREATE TABLE edge.multi (a int, b text, c int, d text, e int) WITH (fillfactor = 70);
INSERT INTO edge.multi SELECT g, 'b' || g, g % 50, repeat('d', g % 40), g FROM generate_series(1, 4000) g;
CREATE INDEX multi_ab ON edge.multi (a, b);
CREATE INDEX multi_expr ON edge.multi (lower(b));
CREATE INDEX multi_partial ON edge.multi (c) WHERE c > 10;
CREATE INDEX multi_dup ON edge.multi (a, a);
CREATE UNIQUE INDEX multi_covering ON edge.multi (a) INCLUDE (d);
CREATE INDEX multi_mixed ON edge.multi (c, (a + 1), b);
ALTER TABLE edge.multi DROP COLUMN e;
CREATE TABLE public.multi (a int PRIMARY KEY, b text);
INSERT INTO public.multi SELECT g, repeat('x', 200) FROM generate_series(1, 1500) g;
CREATE TABLE edge.noindex (x int, y text);
INSERT INTO edge.noindex SELECT g, 'y' FROM generate_series(1, 3000) g;
CREATE TABLE edge.empty (id int PRIMARY KEY);
CREATE TABLE edge.toasty (id int PRIMARY KEY, big text);
INSERT INTO edge.toasty SELECT g, (SELECT string_agg(md5(g::text || k::text), '') FROM generate_series(1, 200) k)
  FROM generate_series(1, 200) g;
CREATE TABLE edge.parent (id int, v text);
CREATE TABLE edge.child (extra int) INHERITS (edge.parent);
CREATE INDEX ON edge.parent (id);
INSERT INTO edge.parent SELECT g, 'p' || g FROM generate_series(1, 1000) g;
INSERT INTO edge.child SELECT g, 'c' || g, g FROM generate_series(1, 2000) g;
CREATE TABLE edge.part (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE edge.part_1 PARTITION OF edge.part FOR VALUES FROM (0) TO (1000);
CREATE TABLE edge.part_2 PARTITION OF edge.part FOR VALUES FROM (1000) TO (3000);
CREATE INDEX ON edge.part (id, v);
INSERT INTO edge.part SELECT g, 'v' || g FROM generate_series(0, 2999) g;
CREATE MATERIALIZED VIEW edge.mv AS SELECT a, b, c FROM edge.multi WHERE a % 2 = 0;
CREATE INDEX ON edge.mv (b);
CREATE TABLE "Odd ""Schema"""."Mixed Case.Table" ("Col A" int PRIMARY KEY, "b.c" text, "Z" int);
CREATE INDEX ON "Odd ""Schema"""."Mixed Case.Table" ("b.c", "Z");
INSERT INTO "Odd ""Schema"""."Mixed Case.Table" SELECT g, 'q' || g, g FROM generate_series(1, 2500) g;
CREATE UNLOGGED TABLE edge.unlogged (id int PRIMARY KEY, v text);
INSERT INTO edge.unlogged SELECT g, 'u' FROM generate_series(1, 1000) g;
CREATE TABLE edge.rls (id int PRIMARY KEY, owner text);
INSERT INTO edge.rls SELECT g, 'o' || (g % 3) FROM generate_series(1, 1000) g;
ALTER TABLE edge.rls ENABLE ROW LEVEL SECURITY;
CREATE ROLE bench_reader LOGIN;
GRANT USAGE ON SCHEMA edge, "Odd ""Schema""" TO bench_reader;
GRANT SELECT (a, c) ON edge.multi TO bench_reader;
GRANT SELECT ON edge.rls, edge.parent, edge.part, "Odd ""Schema"""."Mixed Case.Table" TO bench_reader;
'''
EDGE_AFTER_ANALYZE = '''
CREATE TABLE edge.never_analyzed (id int PRIMARY KEY, v text);
INSERT INTO edge.never_analyzed SELECT g, 'n' FROM generate_series(1, 2000) g;
DELETE FROM edge.multi WHERE a % 3 = 0;
UPDATE edge.noindex SET y = 'z' WHERE x % 4 = 0;
'''
DB_EDGE = 'bench_edge'
EDGE_ROLE = 'bench_reader'

# Runs pg_vacuum with STATS_QUERY replaced by the text of a file, without touching plugins/.
WITH_QUERY = (
    'import sys\n'
    'from ansible_collections.runbook.maintenance.plugins.modules import pg_vacuum\n'
    'pg_vacuum.STATS_QUERY = open(sys.argv.pop(1)).read()\n'
    'pg_vacuum.main()\n'
)


def make_edge_database(cluster: Cluster) -> None:
    with connect(cluster, 'postgres') as admin:
        admin.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(DB_EDGE)))
    with connect(cluster, DB_EDGE) as conn:
        conn.execute(EDGE_SQL)
        flush_stats(conn)
        conn.execute('VACUUM ANALYZE')
        conn.execute(EDGE_AFTER_ANALYZE)
        flush_stats(conn)
    time.sleep(0.2)


def fresh_timing(cluster: Cluster, dbname: str, query: str, params=None, repeat: int = 5,
                 setting: str | None = None) -> float:
    """Median seconds of `query` (rows fetched), each run on a new connection, like the module's
    (a new backend starts with cold catalog caches)."""
    times = []
    for dummy in range(repeat):
        with connect(cluster, dbname) as conn:
            if setting:
                conn.execute(setting)
            began = time.monotonic()
            conn.execute(query, params).fetchall()
            times.append(time.monotonic() - began)
    return statistics.median(times)


def per_table_timing(cluster: Cluster, dbname: str, query: str, prefix: str, count: int = 6) -> float:
    """Median seconds of the per-table form of `query` on one connection (the connection's first
    run, with cold caches, is left out)."""
    names = [f'{prefix}{i:05d}' for i in range(1, count + 2)]
    times = []
    with connect(cluster, dbname) as conn:
        for n, name in enumerate(names):
            began = time.monotonic()
            conn.execute(query + PER_TABLE, (SCHEMA, name)).fetchall()
            if n:
                times.append(time.monotonic() - began)
    return statistics.median(times)


def condense_explain(text: str) -> list[tuple[str, float]]:
    """(what, milliseconds) of the parts of an EXPLAIN ANALYZE: each top-level SubPlan (time per
    loop x loops), JIT, and the rest (scans and joins)."""
    lines = text.splitlines()
    parts: list[tuple[str, float]] = []
    top_indent = None
    execution = jit = 0.0
    for line in lines:
        found = re.search(r'Execution Time: ([\d.]+) ms', line)
        if found:
            execution = float(found.group(1))
        found = re.search(r'Timing: .*Total ([\d.]+) ms', line)
        if found:
            jit = float(found.group(1))
    for i, line in enumerate(lines):
        found = re.match(r'^(\s*)SubPlan (\d+)', line)
        if not found:
            continue
        indent = len(found.group(1))
        top_indent = indent if top_indent is None else min(top_indent, indent)
        block = [line]
        for following in lines[i + 1:]:
            if len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following)
        timing = re.search(r'actual time=[\d.]+\.\.([\d.]+) rows=\d+ loops=(\d+)', '\n'.join(block))
        total = float(timing.group(1)) * int(timing.group(2)) if timing else 0.0
        body = '\n'.join(block)
        if 'pg_options_to_table' in body:
            what = 'fillfactor (pg_options_to_table per table)'
        elif 'pg_statistic' in body and 'pg_index' in body:
            what = 'index_expected_bytes (pg_index + pg_stats per index)'
        elif 'pg_statistic' in body:
            what = 'row_width (pg_stats per table)'
        elif 'pg_index' in body:
            what = 'index_bytes (pg_index + pg_class per table)'
        else:
            what = 'subquery'
        loops = timing.group(2) if timing else '?'
        parts.append((indent, f'SubPlan {found.group(2)}: {what}, {loops} loops', total))
    top = [(what, ms) for indent, what, ms in parts if indent == top_indent]
    rest = execution - jit - sum(ms for dummy, ms in top)
    return top + [('JIT compilation (jit_above_cost etc. exceeded)', jit),
                  ('scans and joins (pg_class, pg_namespace, pg_stat_all_tables, ...)', rest),
                  ('Execution Time', execution)]


def compare(cluster: Cluster, dbname: str, current: str, proposed: str, user: str = 'postgres',
            per_table: bool = False) -> dict:
    """Whether `proposed` returns the same columns (names and types) and rows as `current`,
    over the whole database and, with per_table, in the module's per-table form for every table."""
    info = dict(cluster.conninfo(dbname), user=user)
    with psycopg.connect(**info, autocommit=True) as conn:
        # One snapshot for both, so that the statistics cannot move in between.
        with conn.transaction():
            conn.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
            cols = [[(c.name, c.type_code) for c in conn.execute(q + ' LIMIT 0').description]
                    for q in (current, proposed)]
            a = sorted(conn.execute(current).fetchall(), key=lambda r: (r[0], r[1]))
            b = sorted(conn.execute(proposed).fetchall(), key=lambda r: (r[0], r[1]))
            differing = sum(1 for x, y in zip(a, b) if x != y) + abs(len(a) - len(b))
            checked = 0
            if per_table:
                for row in a:
                    one = conn.execute(current + PER_TABLE, (row[0], row[1])).fetchall()
                    other = conn.execute(proposed + PER_TABLE, (row[0], row[1])).fetchall()
                    checked += 1
                    differing += one != other or one != [row]
    return {'columns_equal': cols[0] == cols[1], 'rows': len(a), 'rows_equal': a == b and differing == 0,
            'differences': differing, 'per_table_checked': checked}


def run_module_with_query(cluster: Cluster, workdir: Path, dbname: str, query_file: Path,
                          args: dict, check: bool = True) -> tuple[dict, float]:
    payload = dict(cluster.module_args(dbname), **args, _ansible_check_mode=check, _ansible_no_log=False,
                   _ansible_verbosity=0)
    path = workdir / f'args-{time.monotonic_ns()}.json'
    path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': payload}))
    env = {**os.environ, 'PYTHONPATH': str(COLLECTIONS)}
    began = time.monotonic()
    done = subprocess.run([sys.executable, '-c', WITH_QUERY, str(query_file), str(path)], capture_output=True,
                          text=True, env=env, check=False)
    elapsed = time.monotonic() - began
    try:
        result = json.loads(done.stdout[done.stdout.index('{'):])
    except ValueError as exc:
        raise RuntimeError(f'pg_vacuum printed no JSON result:\n{done.stdout}\n{done.stderr}') from exc
    if result.get('failed'):
        raise RuntimeError(f"pg_vacuum (proposed query) failed: {result.get('msg')}")
    return result, elapsed


def profile_planning(cluster: Cluster, workdir: Path, results_dir: Path | None) -> dict:
    """Where STATS_QUERY spends its time on the plan database (EXPLAIN ANALYZE), and, when
    bench/proposed_stats_query.sql exists, that query's timings and whether it returns the same
    columns and rows on every bench database (and on one of edge cases, also as a role that
    may read only some columns)."""
    current = stats_query()
    out: dict = {}
    with connect(cluster, DB_PLAN) as conn:
        explain = '\n'.join(row[0] for row in conn.execute('EXPLAIN (ANALYZE, BUFFERS) ' + current).fetchall())
        out['current_cost'] = conn.execute('EXPLAIN (FORMAT JSON) ' + current).fetchone()[0][0]['Plan']['Total Cost']
        out['jit_above_cost'] = conn.execute('SHOW jit_above_cost').fetchone()[0]
    out['explain_current'] = explain
    out['profile_current'] = condense_explain(explain)
    timings = [('STATS_QUERY (server defaults, JIT on)', DB_PLAN,
                fresh_timing(cluster, DB_PLAN, current))]
    timings.append(('STATS_QUERY with SET jit = off', DB_PLAN,
                    fresh_timing(cluster, DB_PLAN, current, setting='SET jit = off')))
    per_table = [('STATS_QUERY' + PER_TABLE.replace('%s', "'...'"), db,
                  per_table_timing(cluster, db, current, 't' if db == DB_PGVACUUM else 'p'))
                 for db in (DB_PGVACUUM, DB_PLAN)]
    if PROPOSED.exists():
        proposed = PROPOSED.read_text()
        with connect(cluster, DB_PLAN) as conn:
            out['explain_proposed'] = '\n'.join(
                row[0] for row in conn.execute('EXPLAIN (ANALYZE, BUFFERS) ' + proposed).fetchall())
            out['proposed_cost'] = conn.execute('EXPLAIN (FORMAT JSON) ' + proposed).fetchone()[0][0]['Plan']['Total Cost']
        timings.append(('proposed query (server defaults)', DB_PLAN, fresh_timing(cluster, DB_PLAN, proposed)))
        per_table += [('proposed' + PER_TABLE.replace('%s', "'...'"), db,
                       per_table_timing(cluster, db, proposed, 't' if db == DB_PGVACUUM else 'p'))
                      for db in (DB_PGVACUUM, DB_PLAN)]
        runs = [run_module_with_query(cluster, workdir, DB_PLAN, PROPOSED, {'operation': 'vacuum_analyze'})
                for dummy in range(3)]
        out['module_proposed'] = {'duration_s': statistics.median(r['summary']['duration_s'] for r, w in runs),
                                  'wall_s': statistics.median(w for r, w in runs),
                                  'runs': [(r['summary']['duration_s'], w) for r, w in runs]}
        make_edge_database(cluster)
        out['identical'] = {}
        for dbname in (DB_VACUUMDB, DB_PGVACUUM, DB_PLAN):
            out['identical'][dbname] = compare(cluster, dbname, current, proposed)
        out['identical'][f'{DB_EDGE} (postgres)'] = compare(cluster, DB_EDGE, current, proposed, per_table=True)
        out['identical'][f'{DB_EDGE} ({EDGE_ROLE})'] = compare(
            cluster, DB_EDGE, current, proposed, user=EDGE_ROLE, per_table=True)
    out['timings'] = timings
    out['per_table'] = per_table
    if results_dir:
        results_dir.mkdir(parents=True, exist_ok=True)
        (results_dir / 'explain_stats_query.txt').write_text(out['explain_current'] + '\n')
        if 'explain_proposed' in out:
            (results_dir / 'explain_proposed_query.txt').write_text(out['explain_proposed'] + '\n')
    return out


# ---- report --------------------------------------------------------------------------------------
def table(rows: list[tuple], headers: tuple) -> str:
    cells = [tuple(str(c) for c in headers)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append('  '.join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append('  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tables', type=int, default=1000, help='tables in each bench database (1000)')
    parser.add_argument('--rows', type=int, default=3000, help='rows per bench table (3000)')
    parser.add_argument('--bloated-percent', type=float, default=5.0, help='share of tables bloated (5)')
    parser.add_argument('--plan-tables', type=int, default=10000, help='tables of the planning database (10000)')
    parser.add_argument('--plan-rows', type=int, default=10, help='rows per table of the planning database (10)')
    parser.add_argument('--jobs', type=int, default=2, help='--jobs of vacuumdb and jobs of pg_vacuum (2)')
    parser.add_argument('--profile', choices=('auto', 'always', 'never'), default='auto',
                        help='profile STATS_QUERY when planning misses its goal (auto), always or never')
    parser.add_argument('--results', type=Path, default=BENCH / 'results',
                        help="directory for the figures (JSON) and EXPLAIN ANALYZE outputs (bench/results; '' for none)")
    args = parser.parse_args()
    if args.tables < 1 or args.tables > 99999 or args.plan_tables < 1 or args.plan_tables > 99999:
        parser.error('--tables and --plan-tables must be between 1 and 99999')
    if args.rows < 5:
        parser.error('--rows must be at least 5')
    if not (COLLECTIONS / 'ansible_collections' / 'runbook' / 'maintenance').exists():
        subprocess.run(['make', '-C', str(REPO), 'collection'], check=True)

    # SIGTERM/SIGHUP end the run through the finally below, which removes the cluster.
    def interrupted(signum, frame):
        raise KeyboardInterrupt(f'signal {signum}')
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    started = time.monotonic()
    busy_start = cpu_busy()
    workdir = Path(tempfile.mkdtemp(prefix='pg-vacuum-bench-'))
    workdir.chmod(0o755)  # the server runs as the postgres user and must reach its directory
    cluster = Cluster(workdir / 'pg', autovacuum=False)
    results_dir = args.results if str(args.results) not in ('', '.') else None
    figures: dict = {'args': {key: str(value) for key, value in vars(args).items()}}
    try:
        cluster.start()
        with connect(cluster, 'postgres') as conn:
            version = conn.execute('SHOW server_version').fetchone()[0]
            autovacuum = conn.execute('SHOW autovacuum').fetchone()[0]
        log(f'cluster: PostgreSQL {version}, autovacuum {autovacuum}, socket {cluster.run}, '
            f'bindir {cluster.bindir}')
        bloated = bloated_indexes(args.tables, args.bloated_percent)
        bloated_names = [table_name(i) for i in bloated]
        gen = make_bench_databases(cluster, args, bloated)
        dead_before = {db: wait_for_dead_tuples(cluster, db, bloated_names, 0)
                       for db in (DB_VACUUMDB, DB_PGVACUUM)}

        # vacuumdb
        before = counters(cluster, DB_VACUUMDB)
        log(f'vacuumdb --analyze --jobs={args.jobs} on {DB_VACUUMDB} ...')
        load = {'vacuumdb': os.getloadavg()[0]}
        vacuumdb_s = run_vacuumdb(cluster, args.jobs)
        vacuumdb_touched = touched(before, counters(cluster, DB_VACUUMDB))
        vacuumdb_dead = dead_tuples(cluster, DB_VACUUMDB, bloated_names, gen['pgstattuple'])
        log(f'vacuumdb: {vacuumdb_s:.2f}s')

        # the weekly pg_vacuum pass
        before = counters(cluster, DB_PGVACUUM)
        runs = []
        chosen: list[tuple[str, str, str]] = []
        load['pg_vacuum'] = os.getloadavg()[0]
        for operation in WEEKLY:
            log(f'pg_vacuum operation={operation} jobs={args.jobs} on {DB_PGVACUUM} ...')
            result, wall = run_module(cluster, workdir, DB_PGVACUUM, {'operation': operation, 'jobs': args.jobs})
            summary = result['summary']
            done = [t for t in result['tables'] if t['status'] == 'done']
            chosen += [(t['schema'], t['name'], t['operation']) for t in done]
            runs.append({'operation': operation, 'wall_s': wall, 'module_s': summary['duration_s'],
                         'done': summary['done'], 'considered': summary['tables_considered'],
                         'skipped_locked': summary['skipped_locked'], 'dead_removed': summary['dead_tuples_removed'],
                         'statements_s': sum(t['duration_s'] or 0 for t in done)})
        pgvacuum_s = sum(run['wall_s'] for run in runs)
        pgvacuum_touched = touched(before, counters(cluster, DB_PGVACUUM))
        pgvacuum_dead = dead_tuples(cluster, DB_PGVACUUM, bloated_names, gen['pgstattuple'])
        log(f'pg_vacuum weekly pass: {pgvacuum_s:.2f}s')

        # the physical floor: vacuumdb restricted to exactly the tables pg_vacuum worked on
        before = counters(cluster, DB_FLOOR)
        log(f'vacuumdb --analyze --jobs={args.jobs} -t <the {len(chosen)} tables pg_vacuum chose> on {DB_FLOOR} ...')
        load['floor'] = os.getloadavg()[0]
        floor_s = run_vacuumdb(cluster, args.jobs, DB_FLOOR, [quoted_table(sch, name) for sch, name, dummy in chosen])
        floor_touched = touched(before, counters(cluster, DB_FLOOR))
        floor_dead = dead_tuples(cluster, DB_FLOOR, bloated_names, gen['pgstattuple'])
        log(f'vacuumdb restricted: {floor_s:.2f}s')
        # The fixed cost of a Python process with the module's imports, each part alone.
        imports = {what: import_seconds(statement) for what, statement in (
            ('interpreter', 'pass'), ('ansible.module_utils.basic', 'import ansible.module_utils.basic'),
            ('psycopg', 'import psycopg'),
            ('pg_vacuum (all its imports)', 'import ansible_collections.runbook.maintenance.plugins.modules.pg_vacuum'))}

        # planning over many tables
        make_plan_database(cluster, args)
        plan_runs = []
        for dummy in range(3):
            result, wall = run_module(cluster, workdir, DB_PLAN, {'operation': 'vacuum_analyze', 'jobs': args.jobs},
                                      check=True)
            plan_runs.append((result['summary']['duration_s'], wall, result['summary']['tables_considered'],
                              result['summary']['planned']))
        plan_module_s = statistics.median(r[0] for r in plan_runs)
        plan_wall_s = statistics.median(r[1] for r in plan_runs)
        # The monthly rewrites read the bloat estimate's inputs too (STATS_QUERY, not the activity query).
        full_runs = []
        for dummy in range(3):
            result, wall = run_module(cluster, workdir, DB_PLAN, {'operation': 'vacuum_full', 'jobs': args.jobs},
                                      check=True)
            full_runs.append((result['summary']['duration_s'], wall))
        full_module_s = statistics.median(r[0] for r in full_runs)
        full_wall_s = statistics.median(r[1] for r in full_runs)
        # Python start + imports of the module alone, for scale: check mode on a near-empty database.
        empty, dummy = run_module(cluster, workdir, 'postgres', {'operation': 'vacuum_analyze'}, check=True)
        startup = [run_module(cluster, workdir, 'postgres', {'operation': 'vacuum_analyze'}, check=True)
                   for dummy in range(3)]
        startup_wall_s = statistics.median(w for dummy, w in startup)
        startup_module_s = statistics.median(r['summary']['duration_s'] for r, dummy in startup)

        profile = None
        if args.profile == 'always' or (args.profile == 'auto' and max(plan_module_s, full_module_s) >= PLAN_GOAL_S):
            log('profiling STATS_QUERY ...' if max(plan_module_s, full_module_s) < PLAN_GOAL_S else
                'planning goal missed: profiling STATS_QUERY ...')
            profile = profile_planning(cluster, workdir, results_dir)
    finally:
        try:
            cluster.destroy()
        finally:
            import shutil  # pylint: disable=import-outside-toplevel
            shutil.rmtree(workdir, ignore_errors=True)
    total_s = time.monotonic() - started
    busy_end = cpu_busy()

    # ---- figures ---------------------------------------------------------------------------------
    ratio = pgvacuum_s / vacuumdb_s if vacuumdb_s else float('inf')
    speed_met = ratio <= SPEED_GOAL
    dead_met = pgvacuum_dead <= vacuumdb_dead
    plan_met = plan_module_s < PLAN_GOAL_S
    floor_ratio = floor_s / vacuumdb_s if vacuumdb_s else float('inf')
    dead_how = 'pgstattuple dead_tuple_count' if gen['pgstattuple'] else 'n_dead_tup'
    print()
    print('=' * 100)
    busy = [b for b in (busy_start, busy_end) if b is not None]
    print(f'pg_vacuum vs vacuumdb  (PostgreSQL {version}, autovacuum off, {os.cpu_count()} CPUs, '
          f'CPU busy with other work: ' + ' before, '.join(f'{b:.0%}' for b in busy) + ' after)')
    print('  1-minute load average at the start of each timed run: '
          + ', '.join(f'{what} {value:.2f}' for what, value in load.items()))
    if (busy and max(busy) > 0.25) or max(load.values()) > 1.0:
        print('  WARNING: the machine was busy with other work: the timings are inflated and noisy')
    print(f'  bench databases: {args.tables} tables x {args.rows} rows + primary key, VACUUM ANALYZEd; '
          f'{len(bloated)} ({args.bloated_percent:g}%) bloated: ~40% of rows dead')
    print(f'  dead tuples on the bloated tables before: {dead_before[DB_VACUUMDB]} ({DB_VACUUMDB}), '
          f'{dead_before[DB_PGVACUUM]} ({DB_PGVACUUM}) [n_dead_tup]')
    print()
    print(table([
        (f'vacuumdb --analyze --jobs={args.jobs}', f'{vacuumdb_s:.2f}', vacuumdb_dead,
         f'{vacuumdb_touched[0]}/{args.tables}', f'{vacuumdb_touched[1]}/{args.tables}'),
        (f'pg_vacuum weekly pass ({len(WEEKLY)} run(s), jobs={args.jobs})', f'{pgvacuum_s:.2f}', pgvacuum_dead,
         f'{pgvacuum_touched[0]}/{args.tables}', f'{pgvacuum_touched[1]}/{args.tables}'),
        (f'floor: vacuumdb --analyze --jobs={args.jobs} -t <pg_vacuum\'s {len(chosen)} tables>', f'{floor_s:.2f}',
         floor_dead, f'{floor_touched[0]}/{args.tables}', f'{floor_touched[1]}/{args.tables}'),
    ], ('tool', 'wall s', f'dead tuples left ({dead_how})', 'user tables vacuumed', 'user tables analyzed')))
    print()
    print(table([(run['operation'], f"{run['wall_s']:.2f}", f"{run['module_s']:.2f}", run['considered'],
                  run['done'], run['skipped_locked'], run['dead_removed']) for run in runs],
                ('  pg_vacuum run', 'wall s', 'summary.duration_s', 'considered', 'done', 'skipped_locked',
                 'dead_tuples_removed')))
    print()
    print(f'ratio pg_vacuum / vacuumdb: {ratio:.3f}')
    print("goal: pg_vacuum's weekly pass takes at most a quarter of vacuumdb's time and leaves no more "
          'dead tuples on the bloated tables')
    print(f'  time  {pgvacuum_s:.2f}s <= {SPEED_GOAL:g} x {vacuumdb_s:.2f}s = {SPEED_GOAL * vacuumdb_s:.2f}s: '
          f"{'met' if speed_met else 'NOT met'}")
    print(f'  dead tuples  {pgvacuum_dead} <= {vacuumdb_dead}: {"met" if dead_met else "NOT met"}')
    print(f'  (fixed cost of one module process, measured in check mode on the near-empty postgres database: '
          f'{startup_wall_s:.2f}s wall, of which {startup_module_s:.3f}s inside the module; '
          f'x{len(WEEKLY)} runs = {len(WEEKLY) * startup_wall_s:.2f}s)')
    print(f"  => {'MET' if speed_met and dead_met else 'NOT MET'}")
    print()
    ops = sorted({op for dummy, dummy2, op in chosen})
    print(f'floor ratio (vacuumdb restricted to the {len(chosen)} tables pg_vacuum chose ({", ".join(ops) or "none"}) '
          f'/ full vacuumdb): {floor_s:.2f}s / {vacuumdb_s:.2f}s = {floor_ratio:.3f}')
    statements_s = sum(run['statements_s'] for run in runs)
    module_s = sum(run['module_s'] for run in runs)
    outside_s = pgvacuum_s - module_s
    print(f"where the pg_vacuum pass's {pgvacuum_s:.2f}s go:")
    print(f'  outside the module code (interpreter start, imports, argument parsing, JSON result, exit): '
          f'{outside_s:.2f}s = {outside_s / vacuumdb_s:.3f} of vacuumdb')
    print('    imports alone, each a new process, median of 3: '
          + ', '.join(f'{what} {seconds:.2f}s' for what, seconds in imports.items()))
    print(f'  inside (summary.duration_s): {module_s:.2f}s: the VACUUM/ANALYZE statements {statements_s:.2f}s '
          f'summed over {len(chosen)} tables, {statements_s / args.jobs:.2f}s per connection with jobs={args.jobs}; '
          f'the rest (connections, statistics query, plan, size and dead-tuple reads, result) '
          f'~{max(0.0, module_s - statements_s / args.jobs):.2f}s')
    best = imports['pg_vacuum (all its imports)'] + floor_s
    print(f'  a Python module doing the floor\'s work cannot beat its imports + the floor: '
          f"{imports['pg_vacuum (all its imports)']:.2f}s + {floor_s:.2f}s = {best:.2f}s = {best / vacuumdb_s:.3f} "
          f'of vacuumdb (goal {SPEED_GOAL:g})')
    if floor_ratio > SPEED_GOAL:
        print(f'  => the goal is not reachable by any tool doing this work on this machine: the floor alone is '
              f'{floor_ratio:.3f} > {SPEED_GOAL:g}')
    elif best / vacuumdb_s > SPEED_GOAL:
        print(f'  => reachable for a tool with no start-up cost (floor {floor_ratio:.3f}), not for a Python module '
              f'importing ansible and psycopg in this run ({best / vacuumdb_s:.3f})')
    elif not speed_met:
        print(f'  => reachable in this run in principle (imports + floor {best / vacuumdb_s:.3f}); what pg_vacuum adds '
              f"beyond them: {max(0.0, outside_s - imports['pg_vacuum (all its imports)']):.2f}s outside its code "
              f'(argument parsing, the result through remove_values and JSON, interpreter exit) and '
              f'{max(0.0, module_s - statements_s / args.jobs):.2f}s of its own work besides the statements')
    print()
    print(f'planning (check mode) over {DB_PLAN}: {plan_runs[0][2]} tables '
          f'x {args.plan_rows} rows, analyzed; median of 3')
    print(table([
        ('pg_vacuum check mode, vacuum_analyze (activity query)', f'{plan_module_s:.3f}', f'{plan_wall_s:.3f}',
         ', '.join(f'{r[0]:.3f}/{r[1]:.3f}' for r in plan_runs)),
        ('pg_vacuum check mode, vacuum_full (STATS_QUERY)', f'{full_module_s:.3f}', f'{full_wall_s:.3f}',
         ', '.join(f'{r[0]:.3f}/{r[1]:.3f}' for r in full_runs)),
        ('  (same on the near-empty postgres db)', f'{startup_module_s:.3f}', f'{startup_wall_s:.3f}', ''),
    ], ('', 'summary.duration_s', 'process wall s', 'runs (duration_s/wall s)')))
    print(f'goal: under {PLAN_GOAL_S:g} s: summary.duration_s {plan_module_s:.3f}s {"met" if plan_met else "NOT met"}; '
          f'process wall {plan_wall_s:.3f}s {"met" if plan_wall_s < PLAN_GOAL_S else "NOT met"}')
    if profile:
        print()
        print(f'profile of STATS_QUERY on {DB_PLAN} (EXPLAIN ANALYZE, server defaults; estimated cost '
              f"{profile['current_cost']:.0f}, jit_above_cost {profile['jit_above_cost']}):")
        print(table([(what, f'{ms:.0f}') for what, ms in profile['profile_current']], ('  part', 'ms')))
        print()
        print('timings (whole database: median of 5, each on a new connection like the module; per-table form '
              '(one table, as measure_after used it before 6e77a54): median of 6 tables on one connection):')
        print(table([(what, db, f'{seconds * 1000:.1f}') for what, db, seconds in profile['timings']]
                    + [(what, db, f'{seconds * 1000:.1f}') for what, db, seconds in profile['per_table']],
                    ('  query', 'database', 'ms')))
        if 'module_proposed' in profile:
            mod = profile['module_proposed']
            print()
            print(f"proposed query: estimated cost {profile['proposed_cost']:.0f}; pg_vacuum check mode on {DB_PLAN} "
                  f"with it (STATS_QUERY replaced at run time, plugins/ untouched): summary.duration_s "
                  f"{mod['duration_s']:.3f}, process wall {mod['wall_s']:.3f}s (median of 3: "
                  + ', '.join(f'{d:.3f}/{w:.3f}' for d, w in mod['runs']) + ')')
            print(f"  goal under {PLAN_GOAL_S:g} s with it: {'met' if mod['duration_s'] < PLAN_GOAL_S else 'NOT met'}")
            print()
            print(f'proposed query ({PROPOSED.relative_to(REPO)}) vs STATS_QUERY, same snapshot:')
            print(table([(db, 'equal' if same['columns_equal'] else 'DIFFER', same['rows'],
                          'identical' if same['rows_equal'] else f"DIFFER ({same['differences']})",
                          same['per_table_checked'] or '-')
                         for db, same in profile['identical'].items()],
                        ('  database (role)', 'columns+types', 'rows', 'rows', 'per-table form checked')))
        if results_dir:
            print(f'  full EXPLAIN ANALYZE outputs: {results_dir}/explain_*.txt')
    print()
    print(f"total runtime: {total_s:.1f}s (generation of the bench databases {gen['generate_s']:.1f}s)")
    print('=' * 100)

    figures.update({
        'server_version': version, 'bloated_tables': len(bloated), 'dead_before': dead_before,
        'dead_measure': dead_how, 'vacuumdb_s': vacuumdb_s, 'vacuumdb_dead_left': vacuumdb_dead,
        'vacuumdb_touched': vacuumdb_touched, 'pg_vacuum_s': pgvacuum_s, 'pg_vacuum_runs': runs,
        'pg_vacuum_dead_left': pgvacuum_dead, 'pg_vacuum_touched': pgvacuum_touched, 'ratio': ratio,
        'goal_speed_met': speed_met, 'goal_dead_met': dead_met,
        'plan_module_s': plan_module_s, 'plan_wall_s': plan_wall_s, 'plan_runs': plan_runs,
        'startup_wall_s': startup_wall_s, 'goal_plan_met': plan_met, 'total_s': total_s,
        'floor_s': floor_s, 'floor_ratio': floor_ratio, 'floor_dead_left': floor_dead, 'floor_touched': floor_touched,
        'floor_tables': len(chosen), 'imports_s': imports, 'statements_s': statements_s, 'load_avg': load,
        'plan_vacuum_full_module_s': full_module_s, 'plan_vacuum_full_wall_s': full_wall_s,
        'cpu_busy_other': [busy_start, busy_end],
        'profile': profile,
    })
    if results_dir:
        results_dir.mkdir(parents=True, exist_ok=True)
        (results_dir / 'pg_vacuum_vs_vacuumdb.json').write_text(json.dumps(figures, indent=1, default=str) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
