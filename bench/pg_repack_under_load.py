"""Benchmark: the monthly rewrite of a busy table under pgbench write load, three ways.

    .venv/bin/python bench/pg_repack_under_load.py [--scale 10] [--updated 0.33] [--control 10]

In one run, on a throwaway PostgreSQL cluster (scripts/pgsandbox.py, destroyed at the end), for
each of three ways of rewriting `pgbench_accounts` with pg_vacuum (operation vacuum_full, the
table forced into the plan):

  vacuum_full+skip_locked   VACUUM FULL with SKIP_LOCKED (the default): expected to be skipped
  vacuum_full (no skip)     VACUUM FULL waiting for its lock (skip_locked false, lock_timeout 30s): the stall
  pg_repack                 rewrite_method pg_repack (online)

the table is initialised afresh (`pgbench -i -s SCALE`), --updated of its rows are updated (the
bloat), `pgbench -c 4 -j 2` runs for the whole measurement with per-transaction logs (-l), first a
control period of --control seconds without maintenance, then the rewrite, then 2 s. Printed per
way: bytes given back, pgbench transactions per second during the rewrite against the control
period, p99 and maximum latency during the rewrite, failed transactions (aborted clients, failed
log lines). Goal for pg_repack: >= 90% of the bytes VACUUM FULL gives back, zero failed
transactions, maximum latency under 1 s, throughput during the rewrite >= 50% of the control.

The cluster runs with fsync off (scripts/pgsandbox.py): absolute figures are better than on real
disks; the comparison between the three ways is the point.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / '.build' / 'collections'
MODULE = REPO / 'plugins' / 'modules' / 'pg_vacuum.py'
sys.path.insert(0, str(REPO / 'scripts'))

import psycopg  # noqa: E402  pylint: disable=wrong-import-position

from pgsandbox import Cluster  # noqa: E402  pylint: disable=wrong-import-position

DB = 'bench_repack'
TABLE = 'public.pgbench_accounts'
WAYS = (
    ('vacuum_full+skip_locked', {'rewrite_method': 'vacuum_full', 'skip_locked': True}),
    ('vacuum_full (no skip)', {'rewrite_method': 'vacuum_full', 'skip_locked': False, 'lock_timeout': '30s'}),
    ('pg_repack', {'rewrite_method': 'pg_repack', 'repack_wait_timeout': '60s'}),
)


def run_module(cluster: Cluster, workdir: Path, args: dict) -> dict:
    """pg_vacuum the way Ansible runs it on a target: a new Python process, arguments in a JSON file."""
    payload = dict(cluster.module_args(DB), **args, _ansible_check_mode=False, _ansible_no_log=False,
                   _ansible_verbosity=0)
    path = workdir / f'args-{time.monotonic_ns()}.json'
    path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': payload}))
    done = subprocess.run([sys.executable, str(MODULE), str(path)], capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': str(COLLECTIONS)}, check=False, timeout=3600)
    try:
        return json.loads(done.stdout[done.stdout.index('{'):])
    except ValueError as exc:
        raise RuntimeError(f'pg_vacuum printed no JSON result:\n{done.stdout}\n{done.stderr}') from exc


def tool(cluster: Cluster, name: str) -> str:
    return f'{cluster.bindir}/{name}'


def libpq_env(cluster: Cluster) -> dict:
    return {**os.environ, 'PGHOST': str(cluster.run), 'PGPORT': str(cluster.port), 'PGUSER': 'postgres',
            'PGDATABASE': DB}


def prepare(cluster: Cluster, scale: int, updated: float) -> int:
    """A fresh pgbench database with `updated` of pgbench_accounts updated; returns its total size."""
    env = libpq_env(cluster)
    subprocess.run([tool(cluster, 'pgbench'), '-i', '-q', '-s', str(scale), '--foreign-keys'], env=env,
                   check=True, capture_output=True, timeout=1800)
    with psycopg.connect(**cluster.conninfo(DB), autocommit=True) as conn:
        conn.execute('CREATE EXTENSION IF NOT EXISTS pg_repack')
        modulo = max(2, round(1 / updated))
        conn.execute(f'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % {modulo} = 0')
        conn.execute('VACUUM ANALYZE pgbench_accounts')  # dead tuples become free space: the bloat
        conn.execute('CHECKPOINT')
        return conn.execute(f"SELECT pg_total_relation_size('{TABLE}')").fetchone()[0]


def table_size(cluster: Cluster) -> int:
    with psycopg.connect(**cluster.conninfo(DB), autocommit=True) as conn:
        return conn.execute(f"SELECT pg_total_relation_size('{TABLE}')").fetchone()[0]


def read_log(directory: Path) -> tuple[list[tuple[float, float]], int]:
    """(end time in s since the epoch, latency in s) per transaction, and the failed ones."""
    done, failed = [], 0
    for path in directory.glob('pgb*'):
        for line in path.read_text(errors='replace').splitlines():
            parts = line.split()
            if len(parts) < 6:
                continue  # a line cut short by the kill at the end
            if parts[2] in ('failed', 'skipped'):
                failed += 1
                continue
            try:
                latency_us, epoch, micro = int(parts[2]), int(parts[4]), int(parts[5])
            except ValueError:
                continue
            done.append((epoch + micro / 1e6, latency_us / 1e6))
    return done, failed


def window(transactions: list[tuple[float, float]], start: float, end: float) -> dict:
    inside = sorted(latency for finished, latency in transactions if start <= finished <= end)
    seconds = max(end - start, 1e-6)
    if not inside:
        return {'tps': 0.0, 'p99_ms': None, 'max_ms': None, 'count': 0}
    return {'tps': len(inside) / seconds, 'count': len(inside),
            'p99_ms': inside[min(len(inside) - 1, int(0.99 * len(inside)))] * 1000, 'max_ms': inside[-1] * 1000}


def measure(cluster: Cluster, workdir: Path, name: str, args: dict, scale: int, updated: float,
            control: float) -> dict:
    before = prepare(cluster, scale, updated)
    logs = workdir / name.replace(' ', '_').replace('(', '').replace(')', '').replace('+', '_')
    logs.mkdir()
    pgbench = subprocess.Popen(
        [tool(cluster, 'pgbench'), '-n', '-c', '4', '-j', '2', '-T', '3600', '-l', f'--log-prefix={logs}/pgb'],
        env=libpq_env(cluster), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1)  # clients connected and warm
        control_start = time.time()
        time.sleep(control)
        control_end = rewrite_start = time.time()
        result = run_module(cluster, workdir, {'operation': 'vacuum_full', 'tables': [TABLE], 'force': True,
                                               'space_check': False, **args})
        rewrite_end = time.time()
        time.sleep(2)
    finally:
        pgbench.send_signal(signal.SIGKILL)  # logs are written as they go; the tail is cut, not the windows
        dummy, stderr = pgbench.communicate(timeout=30)
    transactions, failed_lines = read_log(logs)
    aborted = stderr.count('aborted')
    row = (result.get('tables') or [{}])[0]
    after = table_size(cluster)
    return {
        'way': name, 'status': row.get('status', 'failed: ' + str(result.get('msg'))),
        'method': row.get('method'), 'error': row.get('error'),
        'bytes_given_back': max(0, before - after), 'size_before': before, 'size_after': after,
        'rewrite_s': rewrite_end - rewrite_start,
        'control': window(transactions, control_start, control_end),
        'rewrite': window(transactions, rewrite_start, rewrite_end),
        'failed_transactions': aborted + failed_lines,
    }


def fmt_ms(value):
    return '-' if value is None else f'{value:.1f}'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--scale', type=int, default=10, help='pgbench scale (10 = 1M accounts, ~150 MB)')
    parser.add_argument('--updated', type=float, default=0.33, help='share of pgbench_accounts updated')
    parser.add_argument('--control', type=float, default=10.0, help='seconds of load without maintenance')
    options = parser.parse_args()
    if not COLLECTIONS.exists():
        subprocess.run(['make', '-C', str(REPO), 'collection'], check=True)
    workdir = Path(tempfile.mkdtemp(prefix='bench-repack-', dir='/tmp' if os.geteuid() == 0 else None))
    os.chmod(workdir, 0o755)  # the server (user postgres) writes nothing here, pgbench (us) does
    cluster = Cluster(workdir / 'pg')
    rows = []
    try:
        cluster.start()
        with psycopg.connect(**cluster.conninfo('postgres'), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE {DB}')
        for name, args in WAYS:
            print(f'... {name}', flush=True)
            rows.append(measure(cluster, workdir, name, args, options.scale, options.updated, options.control))
    finally:
        cluster.destroy()
        subprocess.run(['rm', '-rf', str(workdir)], check=False)

    print(f'\npgbench_accounts at scale {options.scale}, {options.updated:.0%} of rows updated; pgbench -c 4 -j 2 '
          f'throughout; control period {options.control:.0f} s without maintenance\n')
    header = (f"{'way':<26}{'status':<16}{'given back':>12}{'rewrite s':>10}{'ctl tps':>9}{'rw tps':>9}"
              f"{'rw/ctl':>7}{'p99 ms':>9}{'max ms':>9}{'failed':>7}")
    print(header)
    print('-' * len(header))
    for r in rows:
        ratio = r['rewrite']['tps'] / r['control']['tps'] if r['control']['tps'] else 0.0
        r['tps_ratio'] = ratio
        print(f"{r['way']:<26}{r['status']:<16}{r['bytes_given_back'] / 1048576:>10.1f}MB{r['rewrite_s']:>10.1f}"
              f"{r['control']['tps']:>9.0f}{r['rewrite']['tps']:>9.0f}{ratio:>7.2f}"
              f"{fmt_ms(r['rewrite']['p99_ms']):>9}{fmt_ms(r['rewrite']['max_ms']):>9}{r['failed_transactions']:>7}")
    for r in rows:
        if r['error']:
            print(f"  {r['way']}: {r['error']}")
    full = next(r for r in rows if r['way'] == 'vacuum_full (no skip)')
    repack = next(r for r in rows if r['way'] == 'pg_repack')
    share = repack['bytes_given_back'] / full['bytes_given_back'] if full['bytes_given_back'] else 0.0
    goals = {
        'bytes >= 90% of VACUUM FULL': share >= 0.9,
        'zero failed transactions': repack['failed_transactions'] == 0,
        'max latency < 1 s': repack['rewrite']['max_ms'] is not None and repack['rewrite']['max_ms'] < 1000,
        'throughput >= 50% of control': repack['tps_ratio'] >= 0.5,
    }
    print(f'\npg_repack gave back {share:.0%} of what VACUUM FULL gave back; goals: '
          + ', '.join(f"{goal}: {'met' if ok else 'NOT met'}" for goal, ok in goals.items()))
    return 0 if all(goals.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
