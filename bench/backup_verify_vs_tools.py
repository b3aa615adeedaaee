"""Benchmark: backup_verify's checksum and restore checks against the bare tools, `sha256sum` and
`pg_restore -j2`.

    .venv/bin/python bench/backup_verify_vs_tools.py [--size-mib 1024] [--rows 2000000]

In one run (everything under a temporary directory of /var/tmp, removed at the end, also on
error or SIGTERM):

1. checksum: a --size-mib file of random data (64 MiB of os.urandom repeated) with a manifest
   (write_manifest, format plain, the sha256 computed while writing), read once to warm the page
   cache; then, alternating, --runs times each: `sha256sum FILE` and backup_verify with checks
   [checksum], a module process run end to end (process start included). Medians, throughputs
   in MiB/s and their ratio. Also measured, for the breakdown: a bare interpreter start, the
   module with checks [exists] only (its fixed cost: interpreter, imports, argument parsing,
   result) and sha256_file() on the file inside this process (the module's hashing alone).
2. restore: a throwaway PostgreSQL cluster (scripts/pgsandbox.py), a database of four tables of
   --rows rows in total with primary keys, secondary indexes and foreign keys, dumped by
   backup_create (custom format, manifest with exact row counts); then, alternating, --runs
   times each: a bare `pg_restore -j2 --no-owner -d EMPTYDB DUMP` into a database created (from
   template0) before the clock starts, and backup_verify with checks [restore] (restore_jobs 2,
   the same pg_restore binary), which creates its scratch database, restores, counts the rows
   of every table and drops it. A CHECKPOINT precedes every timed run. The steps the module
   adds to the pg_restore are measured on their own: CREATE DATABASE, the row counts of the
   restored tables (the module's queries, on the database the bare pg_restore filled), DROP
   DATABASE WITH (FORCE), and the module's fixed cost (checks [exists]).
3. when a goal is missed (or with --profile always): for the restore, one more backup_verify run
   with pg_bin_dir pointing to a wrapper that logs every pg_restore the module starts (argv,
   start, end), which splits the module's wall time into before / during / after pg_restore.

Goals: backup_verify's checksum reaches at least 0.9 of sha256sum's throughput; the restore check
takes at most 1.15 times a bare pg_restore -j2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / '.build' / 'collections'
VERIFY = REPO / 'plugins' / 'modules' / 'backup_verify.py'
CREATE = REPO / 'plugins' / 'modules' / 'backup_create.py'
sys.path.insert(0, str(REPO / 'scripts'))
sys.path.insert(0, str(COLLECTIONS))

import psycopg  # noqa: E402  pylint: disable=wrong-import-position
from psycopg import sql  # noqa: E402  pylint: disable=wrong-import-position

from pgsandbox import Cluster  # noqa: E402  pylint: disable=wrong-import-position

MIB = 1024 * 1024
PATTERN_MIB = 64
CHECKSUM_GOAL = 0.9
RESTORE_GOAL = 1.15
DB_SOURCE = 'bench_shop'
DB_BARE = 'bench_bare_restore'
VERIFY_PREFIX = 'bench_verify'
# The same catalog query as backup_verify's count_rows(): every ordinary and partitioned table.
TABLES_QUERY = ("SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname !~ '^pg_(toast|temp_)' ORDER BY 1, 2")

# Shares of --rows per table: customers 5%, orders 25%, order_items 55%, events 15%.
SHARES = (('customers', 5), ('orders', 25), ('order_items', 55), ('events', 15))

LOAD_SQL = """
CREATE TABLE customers (id bigint NOT NULL, name text NOT NULL, email text NOT NULL, country text NOT NULL,
                        created_at timestamptz NOT NULL);
INSERT INTO customers
SELECT g, 'customer ' || g, 'user' || g || '@example.com', (ARRAY['DE','FR','US','GB','NL','ES','IT','PL'])[1 + g %% 8],
       timestamptz '2024-01-01' + g * interval '37 seconds'
FROM generate_series(1, %(customers)s) g;

CREATE TABLE orders (id bigint NOT NULL, customer_id bigint NOT NULL, status text NOT NULL, total numeric(12,2) NOT NULL,
                     created_at timestamptz NOT NULL);
INSERT INTO orders
SELECT g, 1 + (g * 7919::bigint) %% %(customers)s, (ARRAY['new','paid','shipped','delivered','cancelled'])[1 + g %% 5],
       round((g %% 100000) / 100.0 + 5, 2), timestamptz '2024-01-01' + g * interval '11 seconds'
FROM generate_series(1, %(orders)s) g;

CREATE TABLE order_items (order_id bigint NOT NULL, line int NOT NULL, product_id int NOT NULL, quantity int NOT NULL,
                          price numeric(10,2) NOT NULL);
INSERT INTO order_items
SELECT 1 + (g - 1) %% %(orders)s, 1 + (g - 1) / %(orders)s, 1 + (g * 104729::bigint) %% 50000, 1 + g %% 5,
       round((g %% 20000) / 100.0 + 1, 2)
FROM generate_series(1, %(order_items)s) g;

CREATE TABLE events (id bigint NOT NULL, customer_id bigint NOT NULL, kind text NOT NULL, payload jsonb NOT NULL,
                     at timestamptz NOT NULL);
INSERT INTO events
SELECT g, 1 + (g * 31::bigint) %% %(customers)s, (ARRAY['view','click','search','cart','checkout'])[1 + g %% 5],
       jsonb_build_object('page', '/p/' || g %% 1000, 'ms', g %% 5000, 'ua', 'Mozilla/5.0 build ' || g %% 37),
       timestamptz '2024-01-01' + g * interval '3 seconds'
FROM generate_series(1, %(events)s) g;

ALTER TABLE customers ADD PRIMARY KEY (id);
CREATE UNIQUE INDEX customers_email ON customers (email);
CREATE INDEX customers_country_created ON customers (country, created_at);
ALTER TABLE orders ADD PRIMARY KEY (id);
ALTER TABLE orders ADD FOREIGN KEY (customer_id) REFERENCES customers;
CREATE INDEX orders_customer ON orders (customer_id);
CREATE INDEX orders_created ON orders (created_at);
ALTER TABLE order_items ADD PRIMARY KEY (order_id, line);
ALTER TABLE order_items ADD FOREIGN KEY (order_id) REFERENCES orders;
CREATE INDEX order_items_product ON order_items (product_id);
ALTER TABLE events ADD PRIMARY KEY (id);
CREATE INDEX events_customer_at ON events (customer_id, at);
"""

WRAPPER = """#!/bin/sh
# pg_restore, logging its argv and start/end times (bench/backup_verify_vs_tools.py)
began=$(date +%%s.%%N)
"%(real)s" "$@"
rc=$?
ended=$(date +%%s.%%N)
printf '%%s %%s %%s %%s\\n' "$began" "$ended" "$rc" "$*" >> "%(log)s"
exit $rc
"""


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


def connect(cluster: Cluster, dbname: str) -> psycopg.Connection:
    return psycopg.connect(**cluster.conninfo(dbname), autocommit=True)


def timed(argv: list[str], env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    began = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    return time.monotonic() - began, done


def run_module(module: Path, workdir: Path, args: dict, python_args: tuple = ()) -> tuple[dict, float, float]:
    """A module the way Ansible runs it on a target: a new Python process, arguments in a JSON file.
    (result, wall seconds, time.time() at the spawn). python_args go before the module (e.g. -m cProfile)."""
    payload = dict(args, _ansible_check_mode=False, _ansible_no_log=False, _ansible_verbosity=0)
    path = workdir / f'args-{time.monotonic_ns()}.json'
    path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': payload}))
    env = {**os.environ, 'PYTHONPATH': str(COLLECTIONS)}
    spawned = time.time()
    elapsed, done = timed([sys.executable, *python_args, str(module), str(path)], env)
    path.unlink()
    try:
        result = json.loads(done.stdout[done.stdout.index('{'):])
    except ValueError as exc:
        raise RuntimeError(f'{module.name} printed no JSON result:\n{done.stdout}\n{done.stderr}') from exc
    if result.get('failed'):
        raise RuntimeError(f"{module.name} failed: {result.get('msg')}")
    return result, elapsed, spawned


def med(values) -> float:
    return statistics.median(list(values))


def runs_text(values, digits: int = 2) -> str:
    return ', '.join(f'{v:.{digits}f}' for v in values)


# ---- checksum ------------------------------------------------------------------------------------
def make_artefact(directory: Path, size_mib: int) -> tuple[Path, str, float]:
    """A size_mib file of random data (PATTERN_MIB MiB of urandom repeated), fsynced, and its manifest."""
    from ansible_collections.runbook.maintenance.plugins.module_utils.backup import write_manifest  # pylint: disable=import-outside-toplevel
    began = time.monotonic()
    path = directory / 'artefact.bin'
    pattern = os.urandom(PATTERN_MIB * MIB)
    digest = hashlib.sha256()
    left = size_mib * MIB
    with open(path, 'wb') as out:
        while left > 0:
            chunk = pattern if left >= len(pattern) else pattern[:left]
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
        out.flush()
        os.fsync(out.fileno())  # no writeback of this file while the tools run
    sha = digest.hexdigest()
    write_manifest(str(path), {'format': 'plain', 'sha256': sha, 'size': size_mib * MIB})
    return path, sha, time.monotonic() - began


def warm(path: Path) -> float:
    began = time.monotonic()
    with open(path, 'rb') as handle:
        while handle.read(8 * MIB):
            pass
    return time.monotonic() - began


def run_sha256sum(path: Path, expected: str) -> float:
    elapsed, done = timed(['sha256sum', str(path)])
    if done.returncode != 0 or done.stdout.split()[:1] != [expected]:
        raise RuntimeError(f'sha256sum failed or disagrees ({done.returncode}): {done.stdout.strip()} {done.stderr.strip()}')
    return elapsed


def run_verify_checksum(workdir: Path, path: Path, expected: str) -> float:
    result, elapsed, dummy = run_module(VERIFY, workdir, {'path': str(path), 'checks': ['checksum']})
    if not result.get('verified') or result.get('sha256') != expected:
        raise RuntimeError(f"backup_verify did not verify the checksum: {result.get('msg')}")
    return elapsed


def import_costs(runs: int) -> list[tuple[str, float]]:
    """Seconds a new interpreter takes to import what backup_verify imports, median of `runs`, the bare
    interpreter start subtracted (first row: the bare start itself)."""
    env = {**os.environ, 'PYTHONPATH': str(COLLECTIONS)}
    statements = (('bare interpreter start (python -c pass)', 'pass'),
                  ('  import ansible.module_utils.basic', 'import ansible.module_utils.basic'),
                  ('  import psycopg', 'import psycopg'),
                  ('  import boto3 (done at import even for a local path)', 'import boto3'),
                  ('  import of the whole backup_verify module (all of the above and module_utils)',
                   'import ansible_collections.runbook.maintenance.plugins.modules.backup_verify'))
    costs = []
    for label, statement in statements:
        seconds = med(timed([sys.executable, '-c', statement], env)[0] for dummy in range(runs))
        costs.append((label, seconds if not costs else seconds - costs[0][1]))
    return costs


def profile_checksum(workdir: Path, path: Path) -> dict:
    """One backup_verify checks=[checksum] run under cProfile: cumulative seconds of its main parts."""
    prof = workdir / 'verify.prof'
    wall = run_module(VERIFY, workdir, {'path': str(path), 'checks': ['checksum']}, ('-m', 'cProfile', '-o', str(prof)))[1]
    stats = pstats.Stats(str(prof))
    labels = ('imports (outermost importlib _find_and_load calls)', 'AnsibleModule.__init__ (argument parsing and validation)',
              'BackupVerify.verify() (the checks)', '  of which sha256_file() (hashing)', 'exit_json() (result)')
    parts = dict.fromkeys(labels, 0.0)
    for (filename, dummy, function), row in stats.stats.items():
        if function == '_find_and_load':
            key = labels[0]
        elif function == '__init__' and filename.endswith('module_utils/basic.py'):
            key = labels[1]
        elif function == 'verify' and filename.endswith('backup_verify.py'):
            key = labels[2]
        elif function == 'sha256_file':
            key = labels[3]
        elif function == 'exit_json' and filename.endswith('module_utils/basic.py'):
            key = labels[4]
        else:
            continue
        parts[key] += row[3]  # cumulative time
    prof.unlink()
    return {'wall_s': wall, 'profiled_s': stats.total_tt, 'parts': parts}


def checksum_phase(args, workdir: Path) -> dict:
    from ansible_collections.runbook.maintenance.plugins.module_utils.backup import sha256_file  # pylint: disable=import-outside-toplevel
    directory = workdir / 'checksum'
    directory.mkdir()
    log(f'checksum: writing a {args.size_mib} MiB file under {directory} ...')
    path, sha, write_s = make_artefact(directory, args.size_mib)
    warm_s = warm(path)
    log(f'checksum: written and fsynced in {write_s:.1f}s, read once (page cache warm) in {warm_s:.2f}s')
    sha256sum_runs, verify_runs = [], []
    for n in range(args.runs):
        sha256sum_runs.append(run_sha256sum(path, sha))
        verify_runs.append(run_verify_checksum(workdir, path, sha))
        log(f'checksum run {n + 1}/{args.runs}: sha256sum {sha256sum_runs[-1]:.2f}s, '
            f'backup_verify {verify_runs[-1]:.2f}s')
    # Breakdown: interpreter alone, the module's fixed cost (checks [exists]: no hashing), hashing alone.
    python_runs = [timed([sys.executable, '-c', 'pass'])[0] for dummy in range(args.runs)]
    fixed_runs = [run_module(VERIFY, workdir, {'path': str(path), 'checks': ['exists']})[1] for dummy in range(args.runs)]
    hash_runs = []
    for dummy in range(args.runs):
        began = time.monotonic()
        if sha256_file(str(path)) != sha:
            raise RuntimeError('sha256_file() disagrees with the sha256 computed while writing')
        hash_runs.append(time.monotonic() - began)
    out = {
        'size_mib': args.size_mib, 'write_s': write_s, 'warm_s': warm_s,
        'sha256sum_runs': sha256sum_runs, 'verify_runs': verify_runs,
        'sha256sum_s': med(sha256sum_runs), 'verify_s': med(verify_runs),
        'python_start_s': med(python_runs), 'module_fixed_s': med(fixed_runs), 'sha256_file_s': med(hash_runs),
        'python_runs': python_runs, 'fixed_runs': fixed_runs, 'hash_runs': hash_runs,
    }
    out['sha256sum_mibs'] = args.size_mib / out['sha256sum_s']
    out['verify_mibs'] = args.size_mib / out['verify_s']
    out['sha256_file_mibs'] = args.size_mib / out['sha256_file_s']
    out['ratio'] = out['verify_mibs'] / out['sha256sum_mibs']
    out['met'] = out['ratio'] >= CHECKSUM_GOAL
    if args.profile == 'always' or (args.profile == 'auto' and not out['met']):
        log('checksum goal missed: import costs and a cProfile run ...' if not out['met'] else
            'checksum: import costs and a cProfile run ...')
        out['imports'] = import_costs(args.runs)
        out['cprofile'] = profile_checksum(workdir, path)
    path.unlink()  # 1 GiB less in the page cache and on disk for the restore phase
    return out


# ---- restore -------------------------------------------------------------------------------------
def split_rows(rows: int) -> dict[str, int]:
    counts = {name: max(1, rows * share // 100) for name, share in SHARES[:-1]}
    counts[SHARES[-1][0]] = max(1, rows - sum(counts.values()))
    return counts


def load_source(cluster: Cluster, rows: int) -> dict:
    counts = split_rows(rows)
    began = time.monotonic()
    with connect(cluster, 'postgres') as admin:
        admin.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(DB_SOURCE)))
    with connect(cluster, DB_SOURCE) as conn:
        conn.execute(LOAD_SQL % counts)
        conn.execute('VACUUM ANALYZE')
        size = conn.execute('SELECT pg_database_size(current_database())').fetchone()[0]
        indexes = conn.execute("SELECT count(*) FROM pg_indexes WHERE schemaname = 'public'").fetchone()[0]
    return {'counts': counts, 'size': size, 'indexes': indexes, 'load_s': time.monotonic() - began}


def count_rows(cluster: Cluster, dbname: str) -> tuple[int, int, float]:
    """What backup_verify's count_rows() does after its pg_restore: (tables, rows, seconds)."""
    began = time.monotonic()
    total = 0
    with connect(cluster, dbname) as conn:
        tables = conn.execute(TABLES_QUERY).fetchall()
        for schema, name, dummy in tables:
            total += conn.execute(sql.SQL('SELECT count(*) FROM {}').format(sql.Identifier(schema, name))).fetchone()[0]
    return len(tables), total, time.monotonic() - began


def admin_timed(cluster: Cluster, statement) -> float:
    with connect(cluster, 'postgres') as admin:
        began = time.monotonic()
        admin.execute(statement)
        return time.monotonic() - began


def checkpoint(cluster: Cluster) -> None:
    with connect(cluster, 'postgres') as admin:
        admin.execute('CHECKPOINT')


def bare_restore(cluster: Cluster, pg_restore: str, dump: str, jobs: int, expected_rows: int) -> dict:
    """Create the empty database (untimed), pg_restore into it (timed), then measure the module's extra
    steps on it: the row counts and the DROP."""
    target = sql.Identifier(DB_BARE)
    create_s = admin_timed(cluster, sql.SQL('CREATE DATABASE {} TEMPLATE template0').format(target))
    checkpoint(cluster)
    env = {**os.environ, 'PGHOST': str(cluster.run), 'PGPORT': str(cluster.port), 'PGUSER': 'postgres'}
    elapsed, done = timed([pg_restore, f'-j{jobs}', '--no-owner', '-d', DB_BARE, dump], env)
    if done.returncode != 0 or done.stderr.strip():
        raise RuntimeError(f'pg_restore failed ({done.returncode}): {done.stderr.strip()[:2000]}')
    tables, rows, count_s = count_rows(cluster, DB_BARE)
    if rows != expected_rows:
        raise RuntimeError(f'the bare pg_restore restored {rows} rows, {expected_rows} expected')
    drop_s = admin_timed(cluster, sql.SQL('DROP DATABASE {} WITH (FORCE)').format(target))
    return {'pg_restore_s': elapsed, 'create_s': create_s, 'count_s': count_s, 'drop_s': drop_s, 'tables': tables,
            'rows': rows}


def verify_args(cluster: Cluster, dump: str, jobs: int, bindir: str) -> dict:
    return dict(cluster.module_args('postgres'), path=dump, checks=['restore'], restore_jobs=jobs,
                restore_db_prefix=VERIFY_PREFIX, pg_bin_dir=bindir)


def verify_restore(cluster: Cluster, workdir: Path, dump: str, jobs: int, bindir: str, expected_rows: int) -> dict:
    checkpoint(cluster)
    result, elapsed, spawned = run_module(VERIFY, workdir, verify_args(cluster, dump, jobs, bindir))
    info = result.get('restore') or {}
    if not result.get('verified') or not info.get('dropped') or info.get('rows') != expected_rows:
        raise RuntimeError(f"backup_verify's restore check did not pass as expected: {result.get('msg')} {info}")
    return {'wall_s': elapsed, 'duration_s': info['duration_s'], 'tables': info['tables'], 'rows': info['rows'],
            'spawned': spawned, 'warnings': result.get('warnings') or []}


def instrumented_restore(cluster: Cluster, workdir: Path, dump: str, jobs: int, expected_rows: int) -> dict:
    """backup_verify with pg_bin_dir pointing to a pg_restore wrapper that logs each call: the module's
    wall time split into before / during / after pg_restore, and every pg_restore it started."""
    wrapdir = workdir / 'wrapper'
    wrapdir.mkdir(exist_ok=True)
    calls_log = wrapdir / 'calls.log'
    calls_log.unlink(missing_ok=True)
    wrapper = wrapdir / 'pg_restore'
    wrapper.write_text(WRAPPER % {'real': f'{cluster.bindir}/pg_restore', 'log': calls_log})
    wrapper.chmod(0o755)
    run = verify_restore(cluster, workdir, dump, jobs, str(wrapdir), expected_rows)
    ended = run['spawned'] + run['wall_s']
    calls = []
    for line in calls_log.read_text().splitlines():
        began, finished, rc, argv = line.split(' ', 3)
        calls.append({'start': float(began), 'end': float(finished), 'rc': int(rc), 'argv': argv})
    out = {'wall_s': run['wall_s'], 'duration_s': run['duration_s'], 'calls': calls}
    if calls:
        out['before_s'] = calls[0]['start'] - run['spawned']
        out['pg_restore_s'] = sum(call['end'] - call['start'] for call in calls)
        out['after_s'] = ended - calls[-1]['end']
    return out


def restore_phase(args, workdir: Path, state: dict) -> dict:
    cluster = Cluster(workdir / 'pg', autovacuum=False)
    state['cluster'] = cluster  # destroyed by main() whatever happens next
    cluster.start()
    out: dict = {}
    with connect(cluster, 'postgres') as conn:
        out['server_version'] = conn.execute('SHOW server_version').fetchone()[0]
    log(f"restore: PostgreSQL {out['server_version']}, socket {cluster.run}, bindir {cluster.bindir}")
    source = load_source(cluster, args.rows)
    out['source'] = source
    log(f"restore: {DB_SOURCE} loaded in {source['load_s']:.1f}s: {source['counts']}, "
        f"{source['size'] / MIB:.0f} MiB, {source['indexes']} indexes")

    dumps = workdir / 'dumps'
    result, create_wall, dummy = run_module(CREATE, workdir, dict(
        cluster.module_args(DB_SOURCE), dest_dir=str(dumps), name=DB_SOURCE, format='custom', pg_bin_dir=cluster.bindir))
    dump = result['artefact']
    out['dump'] = {'path': dump, 'size': os.path.getsize(dump), 'create_wall_s': create_wall,
                   'create_duration_s': result['duration_s']}
    expected_rows = sum(source['counts'].values())
    warm(Path(dump))
    log(f"restore: backup_create dumped {out['dump']['size'] / MIB:.1f} MiB in {create_wall:.1f}s")

    pg_restore = f'{cluster.bindir}/pg_restore'
    bare_runs, verify_runs = [], []
    for n in range(args.runs):
        bare_runs.append(bare_restore(cluster, pg_restore, dump, args.jobs, expected_rows))
        verify_runs.append(verify_restore(cluster, workdir, dump, args.jobs, cluster.bindir, expected_rows))
        log(f"restore run {n + 1}/{args.runs}: pg_restore -j{args.jobs} {bare_runs[-1]['pg_restore_s']:.2f}s, "
            f"backup_verify [restore] {verify_runs[-1]['wall_s']:.2f}s (restore.duration_s "
            f"{verify_runs[-1]['duration_s']:.2f})")
    fixed_runs = [run_module(VERIFY, workdir, {'path': dump, 'checks': ['exists']})[1] for dummy in range(args.runs)]
    out.update({
        'bare_runs': bare_runs, 'verify_runs': verify_runs, 'fixed_runs': fixed_runs,
        'bare_s': med(r['pg_restore_s'] for r in bare_runs), 'verify_s': med(r['wall_s'] for r in verify_runs),
        'verify_duration_s': med(r['duration_s'] for r in verify_runs),
        'create_s': med(r['create_s'] for r in bare_runs), 'count_s': med(r['count_s'] for r in bare_runs),
        'drop_s': med(r['drop_s'] for r in bare_runs), 'module_fixed_s': med(fixed_runs),
        'tables': bare_runs[0]['tables'], 'rows': expected_rows,
        'warnings': sorted({w for r in verify_runs for w in r['warnings']}),
    })
    out['ratio'] = out['verify_s'] / out['bare_s']
    out['met'] = out['ratio'] <= RESTORE_GOAL
    if args.profile == 'always' or (args.profile == 'auto' and not out['met']):
        log('restore goal missed: one instrumented backup_verify run (pg_restore wrapper) ...' if not out['met']
            else 'restore: one instrumented backup_verify run (pg_restore wrapper) ...')
        out['instrumented'] = instrumented_restore(cluster, workdir, dump, args.jobs, expected_rows)
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


def report_checksum(c: dict, runs: int) -> None:
    print(f"1. checksum of a {c['size_mib']} MiB file, page cache warm; median of {runs} runs, process start included")
    print(table([
        ('sha256sum FILE', f"{c['sha256sum_s']:.3f}", f"{c['sha256sum_mibs']:.0f}", runs_text(c['sha256sum_runs'], 3)),
        ('backup_verify checks=[checksum]', f"{c['verify_s']:.3f}", f"{c['verify_mibs']:.0f}", runs_text(c['verify_runs'], 3)),
    ], ('tool', 'wall s', 'MiB/s', 'runs (s)')))
    print(f"ratio of throughputs backup_verify / sha256sum: {c['ratio']:.3f}")
    print(f"goal: backup_verify's checksum reaches at least {CHECKSUM_GOAL:g} of sha256sum's throughput: "
          f"{c['ratio']:.3f} {'>=' if c['met'] else '<'} {CHECKSUM_GOAL:g}: {'met' if c['met'] else 'NOT met'}")
    hashing = c['sha256_file_s']
    rest = c['verify_s'] - c['module_fixed_s'] - hashing
    print(f"where backup_verify's {c['verify_s']:.3f}s go (medians of {runs}):")
    print(table([
        ('bare interpreter start (python -c pass)', f"{c['python_start_s']:.3f}", ''),
        ('module fixed cost: backup_verify checks=[exists] (start, imports, arguments, result)',
         f"{c['module_fixed_s']:.3f}", f"{c['module_fixed_s'] / c['verify_s']:.0%}"),
        (f"hashing: sha256_file() in-process ({c['sha256_file_mibs']:.0f} MiB/s)", f'{hashing:.3f}',
         f"{hashing / c['verify_s']:.0%}"),
        ('rest (manifest read, checksum check bookkeeping, noise)', f'{rest:.3f}', f"{rest / c['verify_s']:.0%}"),
    ], ('  part', 's', 'share')))
    if c.get('imports'):
        print(f'import costs in a new interpreter (median of {runs}, beyond the bare start):')
        print(table([(label, f'{seconds:.3f}') for label, seconds in c['imports']], ('  import', 's')))
    if c.get('cprofile'):
        prof = c['cprofile']
        print(f"one backup_verify checks=[checksum] run under cProfile: wall {prof['wall_s']:.3f}s, "
              f"{prof['profiled_s']:.3f}s profiled (cumulative seconds, parts overlap where nested):")
        print(table([(label, f'{seconds:.3f}') for label, seconds in prof['parts'].items()], ('  part', 's')))
    if not c['met']:
        cause = 'process start' if c['module_fixed_s'] > hashing else 'hashing'
        print(f'  => the goal is missed mostly by {cause}: fixed cost {c["module_fixed_s"]:.3f}s, hashing {hashing:.3f}s '
              f"(sha256sum alone hashes at {c['sha256sum_mibs']:.0f} MiB/s)")


def report_restore(r: dict, args) -> None:
    src = r['source']
    print(f"2. restore of {DB_SOURCE}: {len(src['counts'])} tables, {r['rows']} rows "
          f"({', '.join(f'{k} {v}' for k, v in src['counts'].items())}), {src['indexes']} indexes, 3 foreign keys, "
          f"{src['size'] / MIB:.0f} MiB; custom-format dump by backup_create: {r['dump']['size'] / MIB:.1f} MiB "
          f"in {r['dump']['create_wall_s']:.1f}s")
    print(f"   PostgreSQL {r['server_version']}; median of {args.runs} runs each, alternating, CHECKPOINT before each")
    print(table([
        (f'pg_restore -j{args.jobs} --no-owner -d EMPTYDB DUMP', f"{r['bare_s']:.2f}", '',
         runs_text(x['pg_restore_s'] for x in r['bare_runs'])),
        (f'backup_verify checks=[restore] restore_jobs={args.jobs}', f"{r['verify_s']:.2f}", f"{r['verify_duration_s']:.2f}",
         runs_text(x['wall_s'] for x in r['verify_runs'])),
    ], ('tool', 'wall s', 'restore.duration_s', 'runs (wall s)')))
    pairs = [v['wall_s'] / b['pg_restore_s'] for b, v in zip(r['bare_runs'], r['verify_runs'])]
    print(f"ratio backup_verify / pg_restore: {r['ratio']:.3f} (medians; per alternating pair: {runs_text(pairs, 3)})")
    print(f"goal: the restore check takes at most {RESTORE_GOAL:g} times a bare pg_restore -j{args.jobs}: "
          f"{r['verify_s']:.2f}s {'<=' if r['met'] else '>'} {RESTORE_GOAL:g} x {r['bare_s']:.2f}s = "
          f"{RESTORE_GOAL * r['bare_s']:.2f}s: {'met' if r['met'] else 'NOT met'}")
    extra = r['module_fixed_s'] + r['create_s'] + r['count_s'] + r['drop_s']
    print(f"steps the restore check adds to pg_restore, measured on their own (medians of {args.runs}):")
    print(table([
        ('module fixed cost: backup_verify checks=[exists] on the dump', f"{r['module_fixed_s']:.3f}",
         f"{r['module_fixed_s'] / r['bare_s']:.1%}"),
        ('CREATE DATABASE ... TEMPLATE template0', f"{r['create_s']:.3f}", f"{r['create_s'] / r['bare_s']:.1%}"),
        (f"row counts: count(*) of the {r['tables']} restored tables (first scan after the restore)",
         f"{r['count_s']:.3f}", f"{r['count_s'] / r['bare_s']:.1%}"),
        ('DROP DATABASE ... WITH (FORCE) of the restored database', f"{r['drop_s']:.3f}", f"{r['drop_s'] / r['bare_s']:.1%}"),
        ('sum of the added steps', f'{extra:.3f}', f"{extra / r['bare_s']:.1%}"),
        ('  pg_restore + added steps (expected wall of the check)', f"{r['bare_s'] + extra:.2f}",
         f"{(r['bare_s'] + extra) / r['bare_s']:.3f}x"),
        ('  measured wall of the check', f"{r['verify_s']:.2f}", f"{r['ratio']:.3f}x"),
    ], ('  step', 's', 'of pg_restore')))
    if r['warnings']:
        print(f"  module warnings: {'; '.join(r['warnings'])}")
    inst = r.get('instrumented')
    if inst:
        print(f"instrumented run (pg_bin_dir = a logging pg_restore wrapper): wall {inst['wall_s']:.2f}s, "
              f"restore.duration_s {inst['duration_s']:.2f}")
        if inst['calls']:
            print(table([
                ('before pg_restore (start, imports, connect, leftovers query, CREATE DATABASE)', f"{inst['before_s']:.3f}"),
                (f"pg_restore ({len(inst['calls'])} call(s))", f"{inst['pg_restore_s']:.3f}"),
                ('after pg_restore (row counts, DROP DATABASE, result, exit)', f"{inst['after_s']:.3f}"),
            ], ('  part', 's')))
            for call in inst['calls']:
                print(f"  pg_restore call (exit {call['rc']}, {call['end'] - call['start']:.2f}s): {call['argv']}")
    if not r['met']:
        parts = [('module fixed cost', r['module_fixed_s']), ('CREATE DATABASE', r['create_s']),
                 ('row counts', r['count_s']), ('DROP DATABASE', r['drop_s'])]
        if inst and inst['calls']:
            parts.append(('pg_restore inside the module minus the bare one', inst['pg_restore_s'] - r['bare_s']))
        parts = sorted((part for part in parts if part[1] > 0), key=lambda part: -part[1])
        over = r['verify_s'] - RESTORE_GOAL * r['bare_s']
        print(f"  => over the goal by {over:.2f}s; largest added costs: {', '.join(f'{name} {s:.2f}s' for name, s in parts)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size-mib', type=int, default=1024, help='size of the checksum artefact in MiB (1024)')
    parser.add_argument('--rows', type=int, default=2000000, help='rows of the restore database, all tables (2000000)')
    parser.add_argument('--runs', type=int, default=3, help='timed runs of each tool (3; the median is reported)')
    parser.add_argument('--jobs', type=int, default=2, help='pg_restore -j and restore_jobs (2)')
    parser.add_argument('--tmp-dir', type=Path, default=Path('/var/tmp'), help='where the temporary directory goes (/var/tmp)')
    parser.add_argument('--profile', choices=('auto', 'always', 'never'), default='auto',
                        help='instrumented restore run when the restore goal is missed (auto), always or never')
    parser.add_argument('--json', type=Path, help='also write the figures to this JSON file')
    args = parser.parse_args()
    if args.size_mib < 1 or args.rows < 100 or args.runs < 1 or args.jobs < 1:
        parser.error('--size-mib, --runs and --jobs must be at least 1, --rows at least 100')
    if not (COLLECTIONS / 'ansible_collections' / 'runbook' / 'maintenance').exists():
        subprocess.run(['make', '-C', str(REPO), 'collection'], check=True)

    # SIGTERM/SIGHUP end the run through the finally below, which removes the cluster and the files.
    def interrupted(signum, frame):
        raise KeyboardInterrupt(f'signal {signum}')
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    started = time.monotonic()
    busy_start = cpu_busy()
    workdir = Path(tempfile.mkdtemp(prefix='backup-verify-bench-', dir=str(args.tmp_dir)))
    workdir.chmod(0o755)  # the server runs as the postgres user and must reach its directory
    state: dict = {}
    try:
        checksum = checksum_phase(args, workdir)
        restore = restore_phase(args, workdir, state)
    finally:
        try:
            if state.get('cluster') is not None:
                state.pop('cluster').destroy()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    total_s = time.monotonic() - started
    busy_end = cpu_busy()

    print()
    print('=' * 110)
    busy = [b for b in (busy_start, busy_end) if b is not None]
    print(f'backup_verify vs sha256sum and pg_restore  ({os.cpu_count()} CPUs, CPU busy with other work: '
          + ' before, '.join(f'{b:.0%}' for b in busy) + ' after)')
    if busy and max(busy) > 0.25:
        print('  WARNING: the machine was busy with other work: the timings are inflated and noisy')
    print()
    report_checksum(checksum, args.runs)
    print()
    report_restore(restore, args)
    print()
    print(table([
        ('checksum: backup_verify / sha256sum throughput', f"{checksum['ratio']:.3f}", f'>= {CHECKSUM_GOAL:g}',
         'met' if checksum['met'] else 'NOT met'),
        (f'restore: backup_verify [restore] / pg_restore -j{args.jobs} time', f"{restore['ratio']:.3f}",
         f'<= {RESTORE_GOAL:g}', 'met' if restore['met'] else 'NOT met'),
    ], ('goal', 'ratio', 'target', 'verdict')))
    print()
    print(f'total runtime: {total_s:.1f}s')
    print('=' * 110)
    if args.json:
        args.json.write_text(json.dumps({'args': {k: str(v) for k, v in vars(args).items()}, 'checksum': checksum,
                                         'restore': restore, 'total_s': total_s, 'cpu_busy_other': [busy_start, busy_end]},
                                        indent=1, default=str) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
