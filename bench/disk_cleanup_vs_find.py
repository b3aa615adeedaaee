#!/usr/bin/env python
"""Benchmark: the disk_cleanup module against `find TREE -type f -mtime +7 -delete`.

    .venv/bin/python bench/disk_cleanup_vs_find.py [--files 200000] [--rounds 1] [--module-first]
                                                   [--empty] [--seed 1] [--base-dir /var/tmp] [--rm-jobs 8]

In one run, in a throwaway directory under --base-dir (removed at the end, even on error or
SIGTERM, by parallel rm -rf):

0. disk_cleanup run three times on an empty tree so Python and Ansible are warm (the fastest is
   reported: the module's fixed cost, i.e. process start, imports and the /proc scan);
1. two identical trees of --files small files (64 B - 2 KiB; --empty: 0 B) spread over 489
   directories (8 services x 12 months x 4 hosts, with some files at the service and month
   levels too, unevenly), exactly half of them 10-90 days old and the others 1 hour - 5 days
   old, written from one seeded plan with one clock and checked identical (relative path, size
   and mtime of every file);
2. the generation's dirty data flushed (sync) and both trees walked once (every inode lstat'ed),
   so both are equally warm in the dentry and inode caches (nothing is dropped from any cache);
3. `find TREE -type f -mtime +7 -delete` on one tree and the disk_cleanup module (path=TREE,
   age=7d, everything else default: patterns ['*'], every safety check on) on the other, each
   after a sync, each timed end to end (process start included; wall time, and the child's CPU
   time), the module run the way Ansible runs one: a new Python process reading its arguments
   from a JSON file, PYTHONPATH on the collections directory; find first unless --module-first;
4. what remains in each tree listed and compared: both must have deleted exactly the same
   relative paths, namely the old half;
5. both times, the ratio disk_cleanup / find, the goal and whether it is met.

With --rounds N, steps 1-4 are repeated on fresh trees, alternating which tool goes first, and
the goal is judged on each tool's fastest time: on a disk shared with other machines (a VM's
virtual disk) the wall time of the very same deletion varies by 3x from one minute to the next,
and that noise only ever adds time. The CPU time of each process is printed too, for information:
it varies far less.

find's -mtime +7 means "at least 8 whole days old" while age=7d means "at least 7 x 24 h old";
the file ages (10-90 days vs under 5 days) are far from both limits, so both select the same files.

On a filesystem mounted with `discard` (printed at the start), every unlink of a non-empty file
waits for a TRIM of its blocks, for both tools alike, and that dominates both times; --empty
(no data blocks, no TRIM) shows each tool's own cost instead.

Goal: disk_cleanup takes at most 1.3 times find's time, with every safety check on.
Exit status: 0 goal met and same deletions, 1 goal missed, 2 the two deleted different files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / '.build' / 'collections'
COLL_LINK = COLLECTIONS / 'ansible_collections' / 'runbook' / 'maintenance'
MODULE = REPO / 'plugins' / 'modules' / 'disk_cleanup.py'
VENV_PY = REPO / '.venv' / 'bin' / 'python'

SPEED_GOAL = 1.3
GOAL_TEXT = f"at most {SPEED_GOAL} times find's time, with every safety check on"
DAY = 86400
SERVICES = ('nginx', 'app-api', 'app-worker', 'postgres', 'redis', 'cron', 'backup', 'ci-runner')
MONTHS = tuple(f'2025-{m:02d}' for m in range(1, 13))
HOSTS = tuple(f'node-{h:02d}' for h in range(1, 5))
KINDS = (('access', '.log'), ('error', '.log'), ('app', '.log.1'), ('app', '.log.2.gz'), ('dump', '.json'),
         ('job', '.out'), ('cache', '.tmp'), ('chunk', '.dat'), ('trace', '.gz'), ('session', ''))
MIN_SIZE, MAX_SIZE = 64, 2048
FILLER = (b'2025-01-01T00:00:00Z INFO request handled in 12 ms status=200 path=/api/v1/items\n' * 32)[:MAX_SIZE]


def log(message: str) -> None:
    print(f'[{time.strftime("%H:%M:%S")}] {message}', flush=True)


# ---- the tree ------------------------------------------------------------------------------
def directories() -> list[str]:
    """Relative paths of every directory of the tree, parents before children."""
    dirs = []
    for service in SERVICES:
        dirs.append(service)
        for month in MONTHS:
            dirs.append(f'{service}/{month}')
            dirs.extend(f'{service}/{month}/{host}' for host in HOSTS)
    return dirs


def plan(files: int, seed: int, now_ns: int, empty: bool = False) -> dict[str, list[tuple[str, int, int]]]:
    """Deterministic layout: {directory: [(name, size, mtime_ns), ...]}; exactly files // 2 old."""
    rng = random.Random(seed)
    dirs = directories()
    # Uneven, like real trees: a few directories hold many files, most hold a few hundred.
    weights = [(0.15 if d.count('/') < 2 else 1.0) * rng.paretovariate(1.5) for d in dirs]
    placed = rng.choices(range(len(dirs)), weights=weights, k=files)
    old = set(rng.sample(range(files), files // 2))
    layout: dict[str, list[tuple[str, int, int]]] = {d: [] for d in dirs}
    for i in range(files):
        stem, suffix = KINDS[rng.randrange(len(KINDS))]
        if i in old:
            age = rng.uniform(10 * DAY, 90 * DAY)
        else:
            age = rng.uniform(3600, 5 * DAY)
        layout[dirs[placed[i]]].append((f'{stem}-{i:07d}{suffix}', 0 if empty else rng.randint(MIN_SIZE, MAX_SIZE),
                                        now_ns - int(age * 1e9)))
    return layout


def expected_old(layout: dict[str, list[tuple[str, int, int]]], now_ns: int) -> set[str]:
    limit = now_ns - 8 * DAY * 10 ** 9
    return {f'{d}/{name}' for d, entries in layout.items() for name, _size, mtime in entries if mtime < limit}


def generate(root: str, layout: dict[str, list[tuple[str, int, int]]]) -> float:
    """Write one part of a tree (in a worker process): its directories, parents first, and their
    files; returns the seconds it took."""
    began = time.perf_counter()
    data = memoryview(FILLER)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_CLOEXEC', 0)
    for directory, entries in layout.items():
        os.mkdir(os.path.join(root, directory))
        dir_fd = os.open(os.path.join(root, directory), os.O_RDONLY | os.O_DIRECTORY)
        try:
            for name, size, mtime_ns in entries:
                fd = os.open(name, flags, 0o644, dir_fd=dir_fd)
                try:
                    os.write(fd, data[:size])
                    os.utime(fd, ns=(mtime_ns, mtime_ns))
                finally:
                    os.close(fd)
        finally:
            os.close(dir_fd)
    return time.perf_counter() - began


def generate_trees(roots: list[str], layout: dict[str, list[tuple[str, int, int]]]) -> None:
    """The same layout written under each root, one task per (root, top-level directory), two
    processes (creating a file is mostly kernel time; more processes contend in the kernel)."""
    with ProcessPoolExecutor(max_workers=2) as pool:
        jobs = []
        for root in roots:
            os.mkdir(root)
            for service in SERVICES:
                part = {d: entries for d, entries in layout.items() if d == service or d.startswith(service + '/')}
                jobs.append(pool.submit(generate, root, part))
        try:
            for job in jobs:
                job.result()
        except BaseException:  # an error or SIGTERM: drop the queued parts, the caller removes the trees
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def snapshot(root: str) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every regular file (lstat of each: also warms the caches)."""
    found: dict[str, tuple[int, int]] = {}
    pending = ['']
    while pending:
        rel = pending.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as entries:
            for entry in entries:
                path = f'{rel}/{entry.name}' if rel else entry.name
                info = entry.stat(follow_symlinks=False)
                if entry.is_dir(follow_symlinks=False):
                    pending.append(path)
                elif entry.is_file(follow_symlinks=False):
                    found[path] = (info.st_size, info.st_mtime_ns)
    return found


# ---- the two contenders --------------------------------------------------------------------
def timed(argv: list[str], env: dict[str, str] | None = None) \
        -> tuple[subprocess.CompletedProcess, float, tuple[float, float]]:
    """Run argv; (completed process, wall seconds, (user, system) CPU seconds of the child)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, elapsed, (after.ru_utime - usage.ru_utime, after.ru_stime - usage.ru_stime)


def run_find(tree: str) -> tuple[float, tuple[float, float]]:
    done, elapsed, cpu = timed(['find', tree, '-type', 'f', '-mtime', '+7', '-delete'])
    if done.returncode:
        raise RuntimeError(f'find failed ({done.returncode}): {done.stderr.strip()}')
    return elapsed, cpu


def module_env() -> dict[str, str]:
    # No .pyc written into plugins/ (other engineers' tree); compiling fsclean.py costs ~1 ms.
    return {**os.environ, 'PYTHONPATH': str(COLLECTIONS), 'PYTHONDONTWRITEBYTECODE': '1'}


def run_module(workdir: str, args: dict, tag: str) -> tuple[dict, float, tuple[float, float]]:
    args_file = os.path.join(workdir, f'args-{tag}.json')
    with open(args_file, 'w', encoding='utf-8') as out:
        json.dump({'ANSIBLE_MODULE_ARGS': args}, out)
    python = str(VENV_PY) if VENV_PY.exists() else sys.executable
    done, elapsed, cpu = timed([python, str(MODULE), args_file], env=module_env())
    try:
        result = json.loads(done.stdout[done.stdout.index('{'):])
    except ValueError as exc:
        raise RuntimeError(f'disk_cleanup printed no JSON result (rc {done.returncode}):\n'
                           f'stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-2000:]}') from exc
    if result.get('failed'):
        raise RuntimeError(f"disk_cleanup failed: {result.get('msg')}")
    return result, elapsed, cpu


def ensure_collection() -> None:
    if not COLL_LINK.exists():
        log(f'{COLL_LINK} missing: make -C {REPO} collection')
        subprocess.run(['make', '-C', str(REPO), 'collection'], check=True, stdout=subprocess.DEVNULL)


def describe_difference(name_a: str, a: set[str], name_b: str, b: set[str], limit: int = 10) -> list[str]:
    lines = []
    for label, extra in ((f'deleted by {name_a} only', a - b), (f'deleted by {name_b} only', b - a)):
        if extra:
            lines.append(f'  {label}: {len(extra)}, e.g. ' + ', '.join(sorted(extra)[:limit]))
    return lines


def remove_tree(path: str, workers: int) -> None:
    """rm -rf path, its subdirectories two levels down in parallel (on a filesystem mounted with
    discard each unlink of a non-empty file waits for a TRIM, and those overlap well)."""
    if not os.path.exists(path):
        return
    parts = []
    with os.scandir(path) as entries:
        tops = [e for e in entries if e.is_dir(follow_symlinks=False)]
    for top in tops:
        with os.scandir(top.path) as below:
            parts.extend(e.path for e in below if e.is_dir(follow_symlinks=False))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(lambda p: subprocess.run(['rm', '-rf', '--one-file-system', p], check=False), parts))
    if subprocess.run(['rm', '-rf', '--one-file-system', path], check=False).returncode:
        shutil.rmtree(path, ignore_errors=True)


def mount_options(path: str) -> tuple[str, str, list[str]]:
    """(mount point, filesystem type, options) of the filesystem holding path, from /proc/self/mounts."""
    best = ('/', '?', [])
    try:
        with open('/proc/self/mounts', encoding='utf-8') as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) < 4:
                    continue
                point = fields[1].replace('\\040', ' ')
                if (path == point or path.startswith(point.rstrip('/') + '/')) and len(point) >= len(best[0]):
                    best = (point, fields[2], fields[3].split(','))
    except OSError:
        pass
    return best


# ---- main ----------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0])
    parser.add_argument('--files', type=int, default=200_000, help='files per tree (default 200000)')
    parser.add_argument('--seed', type=int, default=1, help='layout seed (default 1)')
    parser.add_argument('--base-dir', default='/var/tmp',
                        help='where the trees go; must be inside the module default allowed_roots (default /var/tmp)')
    parser.add_argument('--rm-jobs', type=int, default=8,
                        help='parallel rm -rf removing the trees at the end (default 8)')
    parser.add_argument('--empty', action='store_true',
                        help='empty files (no data block to free, so no discard/TRIM wait on unlink): '
                             "shows each tool's own cost; the goal is stated for small files, the default")
    parser.add_argument('--module-first', action='store_true',
                        help='time disk_cleanup before find in the first round (default after)')
    parser.add_argument('--rounds', type=int, default=1,
                        help='fresh pairs of trees timed one after the other, alternating which tool goes first; '
                             "the goal is then judged on each tool's fastest time (default 1)")
    args = parser.parse_args()
    if args.files < 2:
        parser.error('--files must be at least 2')
    if args.rounds < 1:
        parser.error('--rounds must be at least 1')

    # SIGTERM / SIGHUP raise SystemExit so the finally below removes the trees.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))

    ensure_collection()
    started = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix='disk_cleanup_bench-', dir=args.base_dir)
    try:
        return bench(args, workdir)
    finally:
        began = time.perf_counter()
        remove_tree(workdir, args.rm_jobs)
        log(f'removed {workdir} in {time.perf_counter() - began:.1f} s')
        log(f'total runtime {time.perf_counter() - started:.1f} s')


def make_pair(args, workdir: str, tag: str, now_ns: int) -> tuple[str, str, dict[str, tuple[int, int]], set[str]]:
    """Two identical fresh trees, synced and warm: (tree for find, tree for the module, their files, the old ones)."""
    tree_find = os.path.join(workdir, f'find-{tag}')
    tree_module = os.path.join(workdir, f'module-{tag}')
    layout = plan(args.files, args.seed, now_ns, args.empty)
    log(f'generating two identical trees of {args.files} files in {len(layout) + 1} directories')
    began = time.perf_counter()
    generate_trees([tree_find, tree_module], layout)
    log(f'generated in {time.perf_counter() - began:.1f} s; sync')
    os.sync()
    old = expected_old(layout, now_ns)
    began = time.perf_counter()
    before_find = snapshot(tree_find)
    before_module = snapshot(tree_module)
    log(f'warm walk of both trees (lstat of every file) in {time.perf_counter() - began:.1f} s')
    if before_find != before_module:
        raise RuntimeError('the two generated trees differ: '
                           + '; '.join(describe_difference('tree find', set(before_find), 'tree module',
                                                           set(before_module))))
    if len(before_find) != args.files:
        raise RuntimeError(f'{len(before_find)} files generated, {args.files} expected')
    log(f'trees identical: {len(before_find)} files each, {len(old)} of them older than 8 days, '
        f'{sum(size for size, _mtime in before_find.values()) / 2**20:.0f} MiB of contents each')
    return tree_find, tree_module, before_find, old


def one_round(args, workdir: str, number: int, module_first: bool) -> dict:
    """Fresh pair of trees, find and disk_cleanup timed on them, deletions compared; the pair removed."""
    tree_find, tree_module, before, old = make_pair(args, workdir, str(number), time.time_ns())

    def timed_find() -> tuple[float, tuple[float, float]]:
        os.sync()
        log(f'find {tree_find} -type f -mtime +7 -delete')
        elapsed, cpu = run_find(tree_find)
        log(f'  find: {elapsed:.3f} s')
        return elapsed, cpu

    def timed_module() -> tuple[dict, float, tuple[float, float]]:
        os.sync()
        log(f'disk_cleanup path={tree_module} age=7d (defaults: patterns [*], every safety check)')
        result, elapsed, cpu = run_module(workdir, {'path': tree_module, 'age': '7d'}, f'bench{number}')
        log(f'  disk_cleanup: {elapsed:.3f} s')
        return result, elapsed, cpu

    if module_first:
        result, t_module, cpu_module = timed_module()
        t_find, cpu_find = timed_find()
    else:
        t_find, cpu_find = timed_find()
        result, t_module, cpu_module = timed_module()
    after_find = set(snapshot(tree_find))
    after_module = set(snapshot(tree_module))
    began = time.perf_counter()
    for tree in (tree_find, tree_module):
        remove_tree(tree, args.rm_jobs)
    log(f'round {number}: trees removed in {time.perf_counter() - began:.1f} s')
    return {'number': number, 'module_first': module_first, 'old': old,
            't_find': t_find, 'cpu_find': cpu_find, 'left_find': len(after_find),
            'deleted_find': set(before) - after_find,
            't_module': t_module, 'cpu_module': cpu_module, 'left_module': len(after_module),
            'deleted_module': set(before) - after_module, 'result': result}


def report(args, rnd: dict) -> bool:
    """Print one round; True when both deleted exactly the old files."""
    deleted_find, deleted_module, old = rnd['deleted_find'], rnd['deleted_module'], rnd['old']
    cpu_find, cpu_module, result = rnd['cpu_find'], rnd['cpu_module'], rnd['result']
    same = deleted_find == deleted_module
    as_expected = deleted_find == old and deleted_module == old
    ratio = rnd['t_module'] / rnd['t_find']
    print()
    print(f'round {rnd["number"]}: {args.files} {"empty" if args.empty else "small"} files in '
          f'{len(directories()) + 1} directories, {len(old)} older than 8 days (seed {args.seed}); '
          f'{"disk_cleanup" if rnd["module_first"] else "find"} timed first')
    print(f'find -type f -mtime +7 -delete : {rnd["t_find"]:8.3f} s  deleted {len(deleted_find)}, '
          f'{rnd["left_find"]} left; CPU {cpu_find[0]:.2f} s user + {cpu_find[1]:.2f} s sys')
    print(f'disk_cleanup age=7d            : {rnd["t_module"]:8.3f} s  deleted {len(deleted_module)}, '
          f'{rnd["left_module"]} left; CPU {cpu_module[0]:.2f} s user + {cpu_module[1]:.2f} s sys')
    skipped = result.get('skipped_files') or result.get('skipped') or {}  # the key was renamed once
    print(f'  module result: files_count {result.get("files_count")}, errors {len(result.get("errors") or [])}, '
          f'skipped {json.dumps({k: v for k, v in skipped.items() if v})}')
    print(f'ratio disk_cleanup / find      : {ratio:8.2f}')
    print(f'CPU ratio (user+sys), for info : {sum(cpu_module) / max(sum(cpu_find), 1e-9):8.2f}')
    if same:
        print(f'deleted files                  : identical ({len(deleted_find)} relative paths)'
              + ('' if as_expected else ', but NOT exactly the files older than 8 days'))
    else:
        print('deleted files                  : DIFFERENT')
        for line in describe_difference('find', deleted_find, 'disk_cleanup', deleted_module):
            print(line)
    if not as_expected:
        for name, deleted in (('find', deleted_find), ('disk_cleanup', deleted_module)):
            for line in describe_difference(name, deleted, 'the plan (files > 8 days old)', old):
                print(line)
    if result.get('errors'):
        print('disk_cleanup errors (first 5): ' + '; '.join(result['errors'][:5]))
    return same and as_expected


def bench(args, workdir: str) -> int:
    point, fstype, options = mount_options(os.path.realpath(workdir))
    log(f'{workdir} is on {point} ({fstype}, {",".join(options)})')
    if 'discard' in options and not args.empty:
        log('  mounted with discard: every unlink of a non-empty file waits for a TRIM, '
            'for find and disk_cleanup alike')

    # Python and Ansible warm, and the module's fixed cost (start, imports, /proc scan) measured.
    empty = os.path.join(workdir, 'empty')
    os.mkdir(empty)
    fixed = [run_module(workdir, {'path': empty, 'age': '7d'}, f'warmup{i}')[1] for i in range(3)]
    log('disk_cleanup on an empty tree (fixed cost): ' + ', '.join(f'{t:.3f} s' for t in fixed))

    rounds = []
    for number in range(1, args.rounds + 1):
        if args.rounds > 1:
            log(f'---- round {number} of {args.rounds}')
        # Rounds alternate which tool goes first, starting with --module-first's choice.
        rounds.append(one_round(args, workdir, number, args.module_first == (number % 2 == 1)))

    verdicts = [report(args, rnd) for rnd in rounds]  # every round printed, even after a wrong one
    correct = all(verdicts)
    print()
    print(f'fixed cost of disk_cleanup (start, imports, /proc scan; empty tree): {min(fixed):.3f} s')
    # A shared disk only ever adds time: over several rounds, compare each tool's fastest run.
    best_find = min(rnd['t_find'] for rnd in rounds)
    best_module = min(rnd['t_module'] for rnd in rounds)
    ratio = best_module / best_find
    if len(rounds) > 1:
        print(f'{len(rounds)} rounds: find ' + ', '.join(f'{rnd["t_find"]:.3f}' for rnd in rounds)
              + ' s; disk_cleanup ' + ', '.join(f'{rnd["t_module"]:.3f}' for rnd in rounds) + ' s')
        print('  ratio per round ' + ', '.join(f'{rnd["t_module"] / rnd["t_find"]:.2f}' for rnd in rounds)
              + f' (median {statistics.median(rnd["t_module"] / rnd["t_find"] for rnd in rounds):.2f})')
        print(f'best times                     : find {best_find:.3f} s, disk_cleanup {best_module:.3f} s')
    met = ratio <= SPEED_GOAL
    print(f'ratio disk_cleanup / find      : {ratio:8.2f}' + (' (best vs best)' if len(rounds) > 1 else ''))
    print(f'goal                           : {GOAL_TEXT}')
    print(f'goal met                       : {"yes" if met else "NO"} '
          f'({ratio:.2f} {"<=" if met else ">"} {SPEED_GOAL})')
    print(f'deleted files                  : {"identical in every round" if correct else "DIFFERENT (see above)"}')
    if not correct:
        return 2
    return 0 if met else 1


if __name__ == '__main__':
    sys.exit(main())
