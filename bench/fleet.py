"""Benchmark: what one host of the weekly window costs the controller, and how many hosts fit the
3-hour window on a controller like this one.

    .venv/bin/python bench/fleet.py                        # N = 1, 4, 8 hosts, one batch each
    .venv/bin/python bench/fleet.py --hosts 1,4,8,16 --forks 8
    .venv/bin/python bench/fleet.py --baseline 931e12f     # the same measurement for a git ref, side by side

For each N (and each ref, the checkout first, then --baseline's, interleaved per N):

1. starts N containers `runbook-bench-fleet-<i>` of the prepared image
   runbook-maintenance-target:bookworm-db (PostgreSQL 15 with the demo workload,
   tests/scripts/build-db-image.sh) with --network none and `sleep infinity`, in parallel; starts
   PostgreSQL in each (pg_ctlcluster), keeps --rows-share of the workload's rows (DELETE, VACUUM
   FULL: smaller dumps, a quicker bench) and bloats every user table: an UPDATE of --bloat-share
   of its rows (the first column set to itself), so VACUUM has work;
2. writes an inventory of the N hosts, reached with the community.docker.docker connection as the
   molecule scenarios are (peer authentication as root over the Unix socket, the window evaluated
   at Sunday 02:30, the rollback files, pipelining, the interpreter named), and runs
   playbooks/maintenance-weekly.yml over them with `maintenance_serial` = --serial (default N: one
   batch) and --forks (default N), with the bench's own callback (bench/callback_plugins/
   fleet_timing.py) recording when each task started and ended on each host and the durations
   the modules report themselves;
3. removes the containers (also on error or Ctrl-C; --keep leaves them running).

Printed per N: the wall time, controller CPU seconds per host (user + system of ansible-playbook
and every process it started: getrusage(RUSAGE_CHILDREN) around the run), per host the time of
its tasks split into the work itself (VACUUM: pg_vacuum's summary.duration_s; the dumps:
backup_create's duration_s; verification: backup_verify's duration_s, or its restore.duration_s
where the module does not report one) and orchestration (everything else: module start, transfer,
templating, the strategy, the report), and the ten most expensive tasks. Then the extrapolation:
how many hosts this controller maintains within the window at the measured cost, with the batch
size (maintenance_serial) and forks that achieve it, and which resource binds.

--baseline REF measures the same for a git ref, checked out in a temporary `git worktree` (its
own .build/collections link, this venv) and prints both side by side with the ratios new /
baseline of the orchestration seconds and the controller CPU per host.

Not part of `make test`: a bench, it takes a few minutes (N = 1, 4, 8 on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
IMAGE = 'runbook-maintenance-target:bookworm-db'
PREFIX = 'runbook-bench-fleet-'
# Modules whose own durations are "the work": VACUUM, the dumps, their verification.
WORK_ACTIONS = ('pg_vacuum', 'backup_create', 'backup_verify')
# Per result (or loop item), the first of these that is present is the module's work.
WORK_FIELDS = ('duration_s', 'summary.duration_s', 'restore.duration_s')

# Keeps a share of the demo workload's rows (smaller dumps: a quicker bench), compacted.
SHRINK_SQL = """DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg_toast%' LOOP
    EXECUTE format('DELETE FROM %I.%I WHERE random() >= {keep}', r.nspname, r.relname);
  END LOOP;
END$$"""
BLOAT_SQL = """DO $$
DECLARE r record; col text;
BEGIN
  FOR r IN SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             AND n.nspname NOT LIKE 'pg_toast%' LOOP
    SELECT quote_ident(attname) INTO col FROM pg_attribute
     WHERE attrelid = r.oid AND attnum > 0 AND NOT attisdropped AND attgenerated = '' AND attidentity <> 'a'
     ORDER BY attnum LIMIT 1;
    IF col IS NOT NULL THEN
      EXECUTE format('UPDATE %I.%I SET %s = %s WHERE random() < {share}', r.nspname, r.relname, col, col);
    END IF;
  END LOOP;
END$$"""


# ---- pure logic (tests/unit/bench/test_fleet.py) ---------------------------------------------

def short_action(action: str) -> str:
    """runbook.maintenance.pg_vacuum -> pg_vacuum."""
    return action.rsplit('.', 1)[-1]


def work_seconds(record: dict) -> float:
    """Seconds of a task record that are the work itself (0 for tasks that are not work)."""
    if short_action(record.get('action', '')) not in WORK_ACTIONS:
        return 0.0
    total = 0.0
    for durations in record.get('durations') or []:
        for field in WORK_FIELDS:
            if field in durations:
                total += float(durations[field])
                break
    return total


def parse_timings(lines) -> list[dict]:
    """The callback's JSON lines (blank and malformed lines are skipped: a killed run)."""
    records = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and {'host', 'task', 'start', 'end'} <= record.keys():
            records.append(record)
    return records


def summarize(records: list[dict], hosts: int, wall_s: float, cpu_s: float, top: int = 10) -> dict:
    """Per-host figures of one run: task time, work, orchestration (means over the hosts), the
    span of each host (first task start to last task end) and the most expensive tasks."""
    per_host: dict[str, dict] = {}
    per_task: dict[str, dict] = {}
    for rec in records:
        elapsed = max(float(rec['end']) - float(rec['start']), 0.0)
        work = min(work_seconds(rec), elapsed) if elapsed else work_seconds(rec)
        host = per_host.setdefault(rec['host'], {'task_s': 0.0, 'work_s': 0.0, 'first': rec['start'], 'last': rec['end']})
        host['task_s'] += elapsed
        host['work_s'] += work
        host['first'] = min(host['first'], rec['start'])
        host['last'] = max(host['last'], rec['end'])
        task = per_task.setdefault(rec['task'], {
            'task': rec['task'], 'action': short_action(rec.get('action', '')), 'total_s': 0.0, 'runs': 0})
        task['total_s'] += elapsed
        task['runs'] += 1
    n = max(hosts, 1)
    task_s = sum(h['task_s'] for h in per_host.values()) / n
    work_s = sum(h['work_s'] for h in per_host.values()) / n
    spans = [h['last'] - h['first'] for h in per_host.values()]
    return {
        'hosts': hosts, 'wall_s': wall_s, 'cpu_s': cpu_s, 'cpu_per_host_s': cpu_s / n,
        'task_per_host_s': task_s, 'work_per_host_s': work_s, 'orchestration_per_host_s': task_s - work_s,
        'host_span_s': statistics.median(spans) if spans else 0.0,
        'top_tasks': sorted(per_task.values(), key=lambda t: -t['total_s'])[:top],
    }


def linear_fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least squares y = a + b x; with one point (or one x) the line through the origin."""
    xs = [point[0] for point in points]
    ys = [point[1] for point in points]
    if len(set(xs)) < 2:
        return 0.0, (sum(ys) / sum(xs) if sum(xs) else 0.0)
    mx = sum(xs) / len(xs)
    my = sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    a = my - b * mx
    if a < 0 or b <= 0:  # noise: fall back to the mean cost per host, all of it variable
        return 0.0, sum(ys) / sum(xs)
    return a, b


def batch_seconds(batch: int, host_s: float, cpu_per_host_s: float, cores: float, headroom: float) -> float:
    """One batch of `batch` hosts in parallel: as long as one host takes, or longer when the
    controller's CPU (cores x headroom usable) is the bottleneck."""
    return max(host_s, batch * cpu_per_host_s / (cores * headroom))


def extrapolate(cpu_fixed_s: float, cpu_per_host_s: float, host_s: float, cores: float, window_s: float,
                headroom: float = 0.8, max_forks: int = 50) -> dict:
    """How many hosts fit the window, and the smallest batch (serial, forks) that achieves it.

    cpu_fixed_s / cpu_per_host_s: the controller CPU of a run, a + b * hosts; host_s: how long
    one host's window takes when the controller is not the bottleneck; cores x headroom: the CPU
    the controller can give; max_forks: the largest batch run in parallel."""
    if host_s <= 0 or cpu_per_host_s <= 0 or window_s <= 0:
        raise ValueError('host_s, cpu_per_host_s and window_s must be positive')
    if host_s > window_s:
        return {'hosts': 0, 'serial': 0, 'forks': 0, 'batches': 0, 'binding': 'one host takes longer than the window',
                'hosts_cpu': 0, 'hosts_time': 0}
    budget = cores * headroom * window_s - cpu_fixed_s
    hosts_cpu = max(int(budget // cpu_per_host_s), 0)
    per_window = int(window_s // host_s)  # batches that fit when each takes one host's time
    hosts_time = max_forks * per_window
    hosts = min(hosts_cpu, hosts_time)
    binding = ('controller CPU' if hosts_cpu <= hosts_time
               else f'per-host work time ({per_window} batches of at most {max_forks} forks fit)')
    serial = 0
    for batch in range(1, min(max_forks, max(hosts, 1)) + 1):
        total = math.ceil(hosts / batch) * batch_seconds(batch, host_s, cpu_per_host_s, cores, headroom)
        if total + cpu_fixed_s / (cores * headroom) <= window_s:
            serial = batch
            break
    while hosts and not serial:  # the CPU rounding left no batch that fits: one host fewer
        hosts -= 1
        for batch in range(1, min(max_forks, hosts) + 1):
            if math.ceil(hosts / batch) * batch_seconds(batch, host_s, cpu_per_host_s, cores, headroom) <= window_s:
                serial = batch
                break
    return {'hosts': hosts, 'serial': serial, 'forks': serial, 'batches': math.ceil(hosts / serial) if serial else 0,
            'binding': binding, 'hosts_cpu': hosts_cpu, 'hosts_time': hosts_time}


def ratio(new: float, old: float) -> float | None:
    return new / old if old else None


# ---- containers, inventory, the run ------------------------------------------------------------

def sh(argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def start_container(index: int, share: float, keep: float) -> str:
    name = f'{PREFIX}{index}'
    sh(['docker', 'rm', '-f', name], check=False)
    sh(['docker', 'run', '-d', '--name', name, '--hostname', name, '--network', 'none',
        '--stop-signal', 'SIGKILL', '--label', 'owner=runbook-bench-fleet', IMAGE, 'sleep', 'infinity'])
    sh(['docker', 'exec', name, 'pg_ctlcluster', '15', 'main', 'start'])
    psql = ['docker', 'exec', name, 'runuser', '-u', 'postgres', '--', 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1']
    dbs = sh(psql + ['-At', '-c', "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres'"])
    for db in dbs.stdout.split():
        if keep < 1:
            sh(psql + ['-d', db, '-c', SHRINK_SQL.replace('{keep}', repr(float(keep))), '-c', 'VACUUM FULL'])
        sh(psql + ['-d', db, '-c', BLOAT_SQL.replace('{share}', repr(float(share)))])
    return name


def remove_containers(names) -> None:
    names = list(names)
    if names:
        sh(['docker', 'rm', '-f', *names], check=False)


def write_inventory(path: Path, names: list[str], reports: Path) -> None:
    group_vars = {
        'ansible_connection': 'community.docker.docker',
        'ansible_python_interpreter': '/usr/bin/python3',
        'runbook_pg_login_unix_socket': '/var/run/postgresql',
        'runbook_pg_login_port': 5432,
        'runbook_pg_login_user': 'root',
        'maintenance_report_dir': str(reports),
        'maintenance_window_now': '2026-11-29T02:30:00+00:00',
        'maintenance_rollback_files': ['/etc/postgresql/15/main/postgresql.conf', '/etc/postgresql/15/main/pg_hba.conf'],
    }
    inventory = {'all': {'children': {'databases': {
        'hosts': {name: {'ansible_host': name} for name in names}, 'vars': group_vars}}}}
    path.write_text(json.dumps(inventory, indent=1) + '\n', encoding='utf-8')  # JSON is YAML


def run_playbook(checkout: Path, inventory: Path, timings: Path, serial: int, forks: int, log: Path) -> tuple[float, float, int]:
    env = dict(os.environ,
               ANSIBLE_CONFIG=str(checkout / 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=str(checkout / '.build' / 'collections'),
               ANSIBLE_LOCAL_TEMP=str(checkout / '.build' / 'ansible-tmp'),
               ANSIBLE_HOME=str(checkout / '.build' / 'ansible-home'),
               ANSIBLE_CALLBACK_PLUGINS=str(REPO / 'bench' / 'callback_plugins'),
               ANSIBLE_CALLBACKS_ENABLED='fleet_timing',
               ANSIBLE_PIPELINING='true', ANSIBLE_NOCOLOR='1',
               FLEET_TIMING_FILE=str(timings),
               PATH=f'{VENV_BIN}:{os.environ.get("PATH", "")}')
    argv = [str(VENV_BIN / 'ansible-playbook'), '-i', str(inventory), 'playbooks/maintenance-weekly.yml',
            '--forks', str(forks), '-e', json.dumps({'maintenance_serial': serial})]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    with open(log, 'w', encoding='utf-8') as out:
        rc = subprocess.run(argv, cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc


class Checkout:
    """The checkout to measure: this one, or a ref in a temporary git worktree."""

    def __init__(self, ref: str | None) -> None:
        self.ref = ref
        self.tmp = None
        if ref is None:
            self.path = REPO
            self.label = 'this checkout'
        else:
            self.tmp = Path(tempfile.mkdtemp(prefix='runbook-bench-fleet-ref-'))
            self.path = self.tmp / 'wt'
            sh(['git', '-C', str(REPO), 'worktree', 'add', '--detach', str(self.path), ref])
            commit = sh(['git', '-C', str(self.path), 'rev-parse', '--short', 'HEAD']).stdout.strip()
            self.label = f'{ref} ({commit})' if not commit.startswith(ref) else commit
        link = self.path / '.build' / 'collections' / 'ansible_collections' / 'runbook' / 'maintenance'
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path('../../../..'))
        for sub in ('ansible-tmp', 'ansible-home'):
            (self.path / '.build' / sub).mkdir(parents=True, exist_ok=True)

    def remove(self) -> None:
        if self.tmp is not None:
            sh(['git', '-C', str(REPO), 'worktree', 'remove', '--force', str(self.path)], check=False)
            subprocess.run(['rm', '-rf', str(self.tmp)], check=False)


def measure(checkout: Checkout, hosts: int, args, work: Path, live: set) -> dict:
    serial = args.serial or hosts
    forks = args.forks or max(hosts, 1)
    tag = f"{'base' if checkout.ref else 'new'}-{hosts}"
    with ThreadPoolExecutor(max_workers=min(hosts, 8)) as pool:
        futures = [pool.submit(start_container, i, args.bloat_share, args.rows_share) for i in range(1, hosts + 1)]
        live.update(f'{PREFIX}{i}' for i in range(1, hosts + 1))
        names = [f.result() for f in futures]
    inventory = work / f'inventory-{tag}.yml'
    write_inventory(inventory, names, work / f'reports-{tag}')
    timings = work / f'timings-{tag}.jsonl'
    log = work / f'ansible-{tag}.log'
    wall, cpu, rc = run_playbook(checkout.path, inventory, timings, serial, forks, log)
    with open(timings, encoding='utf-8') as lines:
        result = summarize(parse_timings(lines), hosts, wall, cpu)
    result.update(serial=serial, forks=forks, rc=rc, log=str(log), ref=checkout.label)
    if not args.keep:
        remove_containers(names)
        live.difference_update(names)
    if rc != 0:
        tail = log.read_text(encoding='utf-8', errors='replace').splitlines()[-25:]
        print(f'ansible-playbook exited {rc} ({checkout.label}, {hosts} hosts); the end of {log}:', *tail, sep='\n  ',
              file=sys.stderr)
    return result


# ---- printing -----------------------------------------------------------------------------------

def fit_of(results: list[dict]) -> dict:
    a, b = linear_fit([(r['hosts'], r['cpu_s']) for r in results])
    one = [r for r in results if r['hosts'] == min(x['hosts'] for x in results)]
    host_s = statistics.median(r['host_span_s'] for r in one)  # the least contended runs
    return {'cpu_fixed_s': a, 'cpu_per_host_s': b, 'host_s': host_s}


def print_runs(title: str, results: list[dict]) -> None:
    print(f'\n== {title}')
    print(f"{'hosts':>5} {'serial':>6} {'forks':>5} {'wall s':>7} {'CPU s':>7} {'CPU/host':>8} "
          f"{'task/host':>9} {'work/host':>9} {'orch/host':>9} {'host span':>9} {'rc':>3}")
    for r in results:
        print(f"{r['hosts']:>5} {r['serial']:>6} {r['forks']:>5} {r['wall_s']:>7.1f} {r['cpu_s']:>7.1f} "
              f"{r['cpu_per_host_s']:>8.2f} {r['task_per_host_s']:>9.2f} {r['work_per_host_s']:>9.2f} "
              f"{r['orchestration_per_host_s']:>9.2f} {r['host_span_s']:>9.1f} {r['rc']:>3}")
    biggest = max(results, key=lambda r: r['hosts'])
    print(f"\nThe ten most expensive tasks ({biggest['hosts']} hosts; seconds summed over the hosts):")
    for t in biggest['top_tasks']:
        print(f"  {t['total_s']:7.2f} s  {t['runs']:>3} runs  {t['action']:<28} {t['task']}")


def print_extrapolation(title: str, results: list[dict], args) -> dict:
    fit = fit_of(results)
    ext = extrapolate(fit['cpu_fixed_s'], fit['cpu_per_host_s'], fit['host_s'], args.cores,
                      args.window_hours * 3600, args.headroom, args.max_forks)
    print(f"\nExtrapolation ({title}): controller CPU = {fit['cpu_fixed_s']:.1f} s + {fit['cpu_per_host_s']:.2f} s "
          f"x hosts (fit over N); one host's window {fit['host_s']:.1f} s; {args.cores:g} cores at "
          f"{args.headroom:.0%}; window {args.window_hours:g} h; at most {args.max_forks} forks")
    print(f"  -> {ext['hosts']} hosts in the window (CPU allows {ext['hosts_cpu']}, per-host time allows "
          f"{ext['hosts_time']}), maintenance_serial={ext['serial']} --forks {ext['forks']} "
          f"({ext['batches']} batches); binds: {ext['binding']}")
    return {**fit, **ext}


def on_sigterm(signum, frame):
    raise KeyboardInterrupt(f'signal {signum}')


def main() -> int:  # pylint: disable=too-many-locals,too-many-statements
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--hosts', default='1,4,8', help='comma-separated host counts (1,4,8)')
    parser.add_argument('--serial', type=int, default=0, help='maintenance_serial (default: N, one batch)')
    parser.add_argument('--forks', type=int, default=0, help='--forks (default: N)')
    parser.add_argument('--baseline', metavar='REF', help='also measure this git ref (temporary worktree)')
    parser.add_argument('--bloat-share', type=float, default=0.2, help='share of every table\'s rows updated before the run')
    parser.add_argument('--rows-share', type=float, default=0.25,
                        help="share of the demo workload's rows kept (0.25: smaller dumps, a quicker bench; 1: all)")
    parser.add_argument('--window-hours', type=float, default=3.0)
    parser.add_argument('--headroom', type=float, default=0.8, help='share of the controller CPU usable (0.8)')
    parser.add_argument('--max-forks', type=int, default=50, help='largest batch considered in the extrapolation')
    parser.add_argument('--cores', type=float, default=float(os.cpu_count() or 1))
    parser.add_argument('--keep', action='store_true', help='leave the containers running')
    parser.add_argument('--results', default=str(REPO / 'bench' / 'results'), help="where fleet.json goes ('' = nowhere)")
    args = parser.parse_args()
    try:
        counts = [int(x) for x in args.hosts.split(',') if x.strip()]
    except ValueError:
        parser.error('--hosts takes comma-separated numbers, e.g. 1,4,8')
    if not counts or min(counts) < 1 or any(not 0 < v <= 1 for v in (args.bloat_share, args.rows_share, args.headroom)):
        parser.error('--hosts must be positive, --bloat-share, --rows-share and --headroom in (0, 1]')
    if sh(['docker', 'image', 'inspect', IMAGE], check=False).returncode != 0:
        parser.error(f'no image {IMAGE}: run tests/scripts/build-image.sh and tests/scripts/build-db-image.sh')

    live: set[str] = set()
    signal.signal(signal.SIGTERM, on_sigterm)
    checkouts = [Checkout(None)]
    work = Path(tempfile.mkdtemp(prefix='runbook-bench-fleet-'))
    results: dict[str, list[dict]] = {}
    interrupted = False
    try:
        if args.baseline:
            checkouts.append(Checkout(args.baseline))
        print(f'Logs and timings in {work}; load average {os.getloadavg()[0]:.1f}', flush=True)
        for hosts in counts:
            for checkout in checkouts:
                began = time.monotonic()
                r = measure(checkout, hosts, args, work, live)
                results.setdefault(checkout.label, []).append(r)
                print(f"  {checkout.label}: {hosts} hosts, wall {r['wall_s']:.1f} s, CPU {r['cpu_s']:.1f} s, rc {r['rc']} "
                      f"({time.monotonic() - began:.0f} s with the containers; load {os.getloadavg()[0]:.1f})", flush=True)
    except KeyboardInterrupt:  # the runs finished so far are still printed
        print('interrupted: the containers are removed once those being prepared are ready', file=sys.stderr)
        interrupted = True
    finally:
        if not args.keep:
            remove_containers(live)
        for checkout in checkouts:
            checkout.remove()
    summary = {}
    for label, runs in results.items():
        if not runs:
            continue
        print_runs(label, runs)
        summary[label] = {'runs': runs, 'extrapolation': print_extrapolation(label, runs, args)}
    if args.baseline and len(results) == 2 and len(results[checkouts[0].label]) == len(results[checkouts[1].label]):
        new_label, base_label = checkouts[0].label, checkouts[1].label
        print(f'\n== Side by side: new ({new_label}) / baseline ({base_label})')
        print(f"{'hosts':>5} {'orch/host new':>13} {'base':>7} {'ratio':>6} {'CPU/host new':>12} {'base':>7} {'ratio':>6}")
        for new, base in zip(results[new_label], results[base_label]):
            o = ratio(new['orchestration_per_host_s'], base['orchestration_per_host_s'])
            c = ratio(new['cpu_per_host_s'], base['cpu_per_host_s'])
            print(f"{new['hosts']:>5} {new['orchestration_per_host_s']:>13.2f} {base['orchestration_per_host_s']:>7.2f} "
                  f"{o if o is not None else float('nan'):>6.2f} {new['cpu_per_host_s']:>12.2f} "
                  f"{base['cpu_per_host_s']:>7.2f} {c if c is not None else float('nan'):>6.2f}")
        fit_ratio = ratio(summary[new_label]['extrapolation']['cpu_per_host_s'],
                          summary[base_label]['extrapolation']['cpu_per_host_s'])
        print(f'Marginal controller CPU per host (fit), new / baseline: {fit_ratio:.2f} (goal of issue #16 item 2: <= 0.5)')
    if args.results:
        out = Path(args.results)
        out.mkdir(parents=True, exist_ok=True)
        (out / 'fleet.json').write_text(json.dumps(summary, indent=1) + '\n', encoding='utf-8')
    failed = [r for runs in results.values() for r in runs if r['rc'] != 0]
    return 130 if interrupted else (1 if failed else 0)


if __name__ == '__main__':
    sys.exit(main())
