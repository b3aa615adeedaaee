#!/usr/bin/env python3
"""Benchmark: the weekly pg_vacuum pass against `vacuumdb --analyze --jobs=2`, and pg_vacuum's
planning time on a database with many tables.

    .venv/bin/python bench/pg_vacuum_vs_vacuumdb.py [--tables 1000] [--bloated-percent 5] [--plan-tables 10000]

In one run, on a throwaway PostgreSQL cluster (autovacuum off, destroyed at the end):

1. two identical databases (clones of one template) of --tables tables of --rows rows with a
   primary key, VACUUM ANALYZEd after load, then --bloated-percent of them bloated: ~40% of their
   rows deleted (20%) or updated (20%);
2. `vacuumdb --analyze --jobs=2` over the first, the weekly pg_vacuum pass (three module runs:
   vacuum_analyze, analyze, vacuum_freeze, each with jobs=2) over the second, both timed end to
   end (process start included);
3. dead tuples left on the bloated tables (pgstattuple, else n_dead_tup) and the tables each
   tool vacuumed / analyzed (vacuum_count / analyze_count deltas);
4. a third database of --plan-tables small analyzed tables, and pg_vacuum in check mode over it
   (the plan only): the module's summary.duration_s and the process wall time;
5. when the planning goal is missed: EXPLAIN ANALYZE of STATS_QUERY on that database and, if
   bench/proposed_stats_query.sql exists, its timing and a row-by-row comparison with STATS_QUERY
   on the three databases.

Goals: pg_vacuum's weekly pass takes at most a quarter of vacuumdb's time and leaves no more dead
tuples on the bloated tables; planning over --plan-tables tables takes under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
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
DB_PLAN = 'bench_plan'
DB_TEMPLATE = 'bench_template'
SCHEMA = 'bench'
WEEKLY = ('vacuum_analyze', 'analyze', 'vacuum_freeze')
SPEED_GOAL = 0.25
PLAN_GOAL_S = 1.0


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
        for name in (DB_VACUUMDB, DB_PGVACUUM):
            # FILE_COPY: a checkpoint and a file copy, much faster than WAL_LOG for this size.
            admin.execute(sql.SQL('CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY').format(
                sql.Identifier(name), sql.Identifier(DB_TEMPLATE)))
        admin.execute(sql.SQL('DROP DATABASE {}').format(sql.Identifier(DB_TEMPLATE)))
    names = [table_name(i) for i in bloated]
    expected_dead = 0
    for name in (DB_VACUUMDB, DB_PGVACUUM):
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
    log(f'databases {DB_VACUUMDB} and {DB_PGVACUUM} ready ({len(bloated)} bloated tables) '
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
        # planning query reads.
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


def run_vacuumdb(cluster: Cluster, jobs: int) -> float:
    argv = [f'{cluster.bindir}/vacuumdb', '--analyze', f'--jobs={jobs}', '--host', str(cluster.run),
            '--port', str(cluster.port), '--username', 'postgres', '--dbname', DB_VACUUMDB]
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


def stats_query() -> str:
    from ansible_collections.runbook.maintenance.plugins.module_utils.vacuum import STATS_QUERY  # pylint: disable=import-outside-toplevel
    return STATS_QUERY


def timed_query(conn: psycopg.Connection, query: str, repeat: int = 3) -> tuple[float, list]:
    """Median wall time of `query` (rows fetched) over `repeat` runs, and its rows."""
    times, rows = [], []
    for dummy in range(repeat):
        began = time.monotonic()
        rows = conn.execute(query).fetchall()
        times.append(time.monotonic() - began)
    return statistics.median(times), rows


def profile_planning(cluster: Cluster, workdir: Path) -> dict:
    """EXPLAIN ANALYZE of STATS_QUERY on the plan database; the proposed query's timing and
    whether it returns the same rows on every bench database."""
    current = stats_query()
    out = {}
    with connect(cluster, DB_PLAN) as conn:
        plan = conn.execute('EXPLAIN (ANALYZE, BUFFERS) ' + current).fetchall()
        text = '\n'.join(row[0] for row in plan)
        (workdir / 'explain_current.txt').write_text(text)
        out['explain_current'] = text
        out['current_s'], dummy = timed_query(conn, current)
    if PROPOSED.exists():
        proposed = PROPOSED.read_text()
        with connect(cluster, DB_PLAN) as conn:
            plan = conn.execute('EXPLAIN (ANALYZE, BUFFERS) ' + proposed).fetchall()
            out['explain_proposed'] = '\n'.join(row[0] for row in plan)
            out['proposed_s'], dummy = timed_query(conn, proposed)
        out['identical'] = {}
        for dbname in (DB_VACUUMDB, DB_PGVACUUM, DB_PLAN):
            with connect(cluster, dbname) as conn:
                # Same transaction snapshot for both, so the statistics cannot move in between.
                with conn.transaction():
                    conn.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
                    cur_cols = [c.name for c in conn.execute(current + ' LIMIT 0').description]
                    new_cols = [c.name for c in conn.execute(proposed + ' LIMIT 0').description]
                    a = sorted(conn.execute(current).fetchall(), key=lambda r: (r[0], r[1]))
                    b = sorted(conn.execute(proposed).fetchall(), key=lambda r: (r[0], r[1]))
            out['identical'][dbname] = {'columns_equal': cur_cols == new_cols, 'rows': len(a),
                                        'rows_equal': a == b,
                                        'differences': sum(1 for x, y in zip(a, b) if x != y) + abs(len(a) - len(b))}
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
    parser.add_argument('--no-profile', action='store_true', help='skip the STATS_QUERY profile')
    parser.add_argument('--json', type=Path, help='also write the figures to this JSON file')
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
    workdir = Path(tempfile.mkdtemp(prefix='pg-vacuum-bench-'))
    workdir.chmod(0o755)  # the server runs as the postgres user and must reach its directory
    cluster = Cluster(workdir / 'pg', autovacuum=False)
    figures: dict = {'args': vars(args) | {'json': str(args.json) if args.json else None}}
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
        vacuumdb_s = run_vacuumdb(cluster, args.jobs)
        vacuumdb_touched = touched(before, counters(cluster, DB_VACUUMDB))
        vacuumdb_dead = dead_tuples(cluster, DB_VACUUMDB, bloated_names, gen['pgstattuple'])
        log(f'vacuumdb: {vacuumdb_s:.2f}s')

        # the weekly pg_vacuum pass
        before = counters(cluster, DB_PGVACUUM)
        runs = []
        for operation in WEEKLY:
            log(f'pg_vacuum operation={operation} jobs={args.jobs} on {DB_PGVACUUM} ...')
            result, wall = run_module(cluster, workdir, DB_PGVACUUM, {'operation': operation, 'jobs': args.jobs})
            summary = result['summary']
            runs.append({'operation': operation, 'wall_s': wall, 'module_s': summary['duration_s'],
                         'done': summary['done'], 'considered': summary['tables_considered'],
                         'skipped_locked': summary['skipped_locked'], 'dead_removed': summary['dead_tuples_removed']})
        pgvacuum_s = sum(run['wall_s'] for run in runs)
        pgvacuum_touched = touched(before, counters(cluster, DB_PGVACUUM))
        pgvacuum_dead = dead_tuples(cluster, DB_PGVACUUM, bloated_names, gen['pgstattuple'])
        log(f'pg_vacuum weekly pass: {pgvacuum_s:.2f}s')

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
        # Python start + imports of the module alone, for scale: check mode on a near-empty database.
        empty, dummy = run_module(cluster, workdir, 'postgres', {'operation': 'vacuum_analyze'}, check=True)
        startup = [run_module(cluster, workdir, 'postgres', {'operation': 'vacuum_analyze'}, check=True)
                   for dummy in range(3)]
        startup_wall_s = statistics.median(w for dummy, w in startup)
        startup_module_s = statistics.median(r['summary']['duration_s'] for r, dummy in startup)

        profile = None
        if not args.no_profile and plan_module_s >= PLAN_GOAL_S:
            log('planning goal missed: profiling STATS_QUERY ...')
            profile = profile_planning(cluster, workdir)
    finally:
        try:
            cluster.destroy()
        finally:
            import shutil  # pylint: disable=import-outside-toplevel
            shutil.rmtree(workdir, ignore_errors=True)
    total_s = time.monotonic() - started

    # ---- figures ---------------------------------------------------------------------------------
    ratio = pgvacuum_s / vacuumdb_s if vacuumdb_s else float('inf')
    speed_met = ratio <= SPEED_GOAL
    dead_met = pgvacuum_dead <= vacuumdb_dead
    plan_met = plan_module_s < PLAN_GOAL_S
    dead_how = 'pgstattuple dead_tuple_count' if gen['pgstattuple'] else 'n_dead_tup'
    print()
    print('=' * 100)
    print(f'pg_vacuum vs vacuumdb  (PostgreSQL {version}, autovacuum off, {os.cpu_count()} CPUs)')
    print(f'  bench databases: {args.tables} tables x {args.rows} rows + primary key, VACUUM ANALYZEd; '
          f'{len(bloated)} ({args.bloated_percent:g}%) bloated: ~40% of rows dead')
    print(f'  dead tuples on the bloated tables before: {dead_before[DB_VACUUMDB]} ({DB_VACUUMDB}), '
          f'{dead_before[DB_PGVACUUM]} ({DB_PGVACUUM}) [n_dead_tup]')
    print()
    print(table([
        (f'vacuumdb --analyze --jobs={args.jobs}', f'{vacuumdb_s:.2f}', vacuumdb_dead,
         f'{vacuumdb_touched[0]}/{args.tables}', f'{vacuumdb_touched[1]}/{args.tables}'),
        (f'pg_vacuum weekly pass (3 runs, jobs={args.jobs})', f'{pgvacuum_s:.2f}', pgvacuum_dead,
         f'{pgvacuum_touched[0]}/{args.tables}', f'{pgvacuum_touched[1]}/{args.tables}'),
    ], ('tool', 'wall s', f'dead tuples left ({dead_how})', 'user tables vacuumed', 'user tables analyzed')))
    print()
    print(table([(run['operation'], f"{run['wall_s']:.2f}", f"{run['module_s']:.2f}", run['considered'],
                  run['done'], run['skipped_locked'], run['dead_removed']) for run in runs],
                ('  pg_vacuum run', 'wall s', 'summary.duration_s', 'considered', 'done', 'skipped_locked',
                 'dead_tuples_removed')))
    print()
    print(f'ratio pg_vacuum / vacuumdb: {ratio:.3f}')
    print(f"goal: pg_vacuum's weekly pass takes at most a quarter of vacuumdb's time and leaves no more "
          f'dead tuples on the bloated tables')
    print(f'  time  {pgvacuum_s:.2f}s <= {SPEED_GOAL:g} x {vacuumdb_s:.2f}s = {SPEED_GOAL * vacuumdb_s:.2f}s: '
          f"{'met' if speed_met else 'NOT met'}")
    print(f'  dead tuples  {pgvacuum_dead} <= {vacuumdb_dead}: {"met" if dead_met else "NOT met"}')
    print(f"  => {'MET' if speed_met and dead_met else 'NOT MET'}")
    print()
    print(f'planning (check mode, operation vacuum_analyze) over {DB_PLAN}: {plan_runs[0][2]} tables '
          f'x {args.plan_rows} rows, analyzed; median of 3')
    print(table([
        ('pg_vacuum check mode', f'{plan_module_s:.3f}', f'{plan_wall_s:.3f}',
         ', '.join(f'{r[0]:.3f}/{r[1]:.3f}' for r in plan_runs)),
        ('  (same on the near-empty postgres db)', f'{startup_module_s:.3f}', f'{startup_wall_s:.3f}', ''),
    ], ('', 'summary.duration_s', 'process wall s', 'runs (duration_s/wall s)')))
    print(f'goal: under {PLAN_GOAL_S:g} s (summary.duration_s): {"met" if plan_met else "NOT met"}')
    if profile:
        print()
        print(f"STATS_QUERY alone on {DB_PLAN}: {profile['current_s']:.3f}s (median of 3); EXPLAIN ANALYZE:")
        print('\n'.join('    ' + line for line in profile['explain_current'].splitlines()))
        if 'proposed_s' in profile:
            print(f"proposed query ({PROPOSED.relative_to(REPO)}) on {DB_PLAN}: {profile['proposed_s']:.3f}s "
                  f"(median of 3); EXPLAIN ANALYZE:")
            print('\n'.join('    ' + line for line in profile['explain_proposed'].splitlines()))
            for dbname, same in profile['identical'].items():
                print(f"  same result as STATS_QUERY on {dbname}: columns {'equal' if same['columns_equal'] else 'DIFFER'}, "
                      f"{same['rows']} rows {'identical' if same['rows_equal'] else 'DIFFER'} "
                      f"({same['differences']} differing)")
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
        'profile': profile,
    })
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == '__main__':
    sys.exit(main())
