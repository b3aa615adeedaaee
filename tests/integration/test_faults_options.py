"""Fault injection, bad input: every duration, size and ratio option of every module, absurd values.

The table is built from the modules' real argument specs (fault_driver.py specs): an option whose
name says it is a duration (timeout, deadline, age, budget, remaining, ...), a size (size, bytes)
or a ratio (ratio, percent) is in it the moment it is added, and must then refuse non-positive
values (where 0 means "no bound"), negative values, 'abc', '1e400', 'inf', 'nan' and values beyond
a sane maximum (100 years, 1 EiB) with a clear fail_json that names it: no traceback, no secret.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pg_helpers import COLLECTIONS

DRIVER = Path(__file__).resolve().parent / 'fault_driver.py'
ENV = {**os.environ, 'PYTHONPATH': str(COLLECTIONS)}
MARKER = 'SECRET-MARKER-7f3a9'

DURATION = re.compile(r'(timeout|deadline|(^|_)age$|duration|interval|budget|remaining|delay|(^|_)wait|ttl)')
SIZE = re.compile(r'(^|_)(size|bytes)($|_)')
RATIO = re.compile(r'(ratio|percent)$')

# Where 0 is a meaningful value, the strictest rather than no bound: older than 0 seconds, at least
# 0 bytes, no time budget left, every backup too old, ...
ZERO_OK = {('disk_cleanup', 'age'), ('disk_cleanup', 'min_size'), ('backup_verify', 'min_size'),
           ('maintenance_window', 'min_remaining'), ('circuit_breaker', 'reset_timeout'),
           ('pg_vacuum', 'min_bloat_bytes'), ('pg_vacuum', 'min_dead_ratio'), ('pg_vacuum', 'min_bloat_ratio'),
           ('pg_vacuum', 'time_budget'), ('backup_verify', 'max_age'), ('backup_verify', 'max_wal_age'),
           ('backup_verify', 'max_size_drop_ratio'), ('pgbackrest_verify', 'max_age'),
           ('pgbackrest_verify', 'max_wal_age'), ('health_check', 'max_backup_age'),
           ('service_probe', 'unit_wait_s'), ('service_probe', 'health_wait_s')}
# Points in time rather than durations.
TIMES = {('pg_vacuum', 'deadline')}
# Names that look like a duration but are not one (an age in transaction IDs).
NOT_DURATIONS = {('pg_vacuum', 'min_xid_age')}
PERCENT = {('disk_cleanup', 'target_free_percent'), ('disk_space', 'min_free_percent'),
           ('disk_space', 'emergency_free_percent'), ('health_check', 'min_free_percent'),
           ('health_check', 'emergency_free_percent')}

NOWHERE = '/nonexistent/runbook-faults'
PG = {'login_unix_socket': NOWHERE, 'login_port': 5999, 'login_password': MARKER, 'connect_timeout': 2}


def base_args(module: str, option: str, tmp: Path) -> dict:
    """Arguments that reach the module's validation and harm nothing if it were skipped."""
    if module == 'backup_verify' and option in ('max_wal_age', 'wal_segment_size'):
        return dict(pgbackrest_stanza='main', pgbackrest_bin='/bin/false')
    return {
        'backup_create': dict(PG, dest_dir=str(tmp / 'dest')),
        'backup_prune': dict(path=str(tmp / 'none')),
        'backup_restore': dict(PG, database='shop', path=str(tmp / 'none.dump')),
        'backup_verify': dict(PG, path=str(tmp / 'none.dump')),
        'circuit_breaker': dict(name='faults', state_dir=str(tmp / 'breakers'), action='status',
                                url_token=MARKER, notify_url=f'http://127.0.0.1:9/hook/{MARKER}'),
        'container_image_status': dict(containers=[{'container': 'c', 'image': 'img:1'}],
                                       docker_host=f'unix://{NOWHERE}/docker.sock'),
        'disk_cleanup': dict(path=str(tmp / 'clean'), allowed_roots=[str(tmp)]),
        'disk_space': dict(paths=[str(tmp)], state_file=str(tmp / 'disk-state.json')),
        'health_check': dict(PG, paths=[str(tmp)], state_file=str(tmp / 'disk-state.json'),
                             backup_dir=str(tmp / 'backups'), breaker_state_dir=str(tmp / 'breakers')),
        'pg_sessions': dict(PG),
        'service_probe': dict(name='faults', kind='docker', container='c', docker_host=f'unix://{NOWHERE}/docker.sock',
                              health_type='command', health_command=['true']),
        'maintenance_window': dict(),
        'pg_vacuum': dict(PG),
        'pgbackrest_expire': dict(stanza='main', pgbackrest_bin='/bin/false'),
        'pgbackrest_verify': dict(stanza='main', pgbackrest_bin='/bin/false'),
    }.get(module, {})


def kind_of(module: str, option: str) -> str | None:
    name = option.split('.')[-1]
    if (module, option) in TIMES:
        return 'time'
    if RATIO.search(name):
        return 'ratio'
    if SIZE.search(name):
        return 'size'
    if DURATION.search(name) and (module, option) not in NOT_DURATIONS:
        return 'duration'
    return None


def bad_values(module: str, option: str, kind: str, typ: str) -> list:
    zero_ok = (module, option) in ZERO_OK
    if kind == 'time':
        return ['abc', '1e400', '3000-01-01T00:00:00+00:00']
    if kind == 'ratio':
        return ['nan', 'inf', '-0.5', '1e400', '101' if (module, option) in PERCENT else '1.5'] + \
            ([] if zero_ok else ['0'])
    if typ in ('int', 'float'):
        values = [-1, 'abc', '1e400', 10 ** 13 if kind == 'duration' else 10 ** 19]
        return values + ([] if zero_ok else [0])
    if kind == 'duration':
        values = ['-1s', '-5', 'abc', '1e400', 'inf', 'nan', '9' * 40, '40000d']
        return values + ([] if zero_ok else ['0', '0s'])
    values = ['-1', '-5M', 'abc', '1e400', 'inf', 'nan', '9' * 40, '2000000T']
    return values + ([] if zero_ok else ['0'])


def good_value(kind: str, typ: str, module: str, option: str):
    if kind == 'time':
        return '05:00'
    if kind == 'ratio':
        return 50 if (module, option) in PERCENT else 0.5
    if kind == 'duration':
        return 30 if typ in ('int', 'float') else '30s'
    return 16777216 if typ in ('int', 'float') else '16M'


def _specs() -> dict:
    done = subprocess.run([sys.executable, str(DRIVER), 'specs'], capture_output=True, text=True, env=ENV,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


SPECS = _specs()
TABLE = sorted((module, option, kind_of(module, option), spec['type'], tuple(spec['aliases']))
               for module, options in SPECS.items() for option, spec in options.items()
               if kind_of(module, option) and '.' not in option)


def test_the_table_is_built_from_the_argument_specs():
    """The classification still finds the options known today (a broken pattern would empty it)."""
    pairs = {row[:2] for row in TABLE}
    for known in [('pg_vacuum', 'lock_timeout'), ('pg_vacuum', 'statement_timeout'), ('pg_vacuum', 'time_budget'),
                  ('pg_vacuum', 'deadline'), ('backup_restore', 'lock_timeout'), ('backup_verify', 'max_age'),
                  ('backup_verify', 'min_size'), ('disk_cleanup', 'target_free_bytes'), ('disk_cleanup', 'age'),
                  ('maintenance_window', 'force_budget'), ('maintenance_window', 'min_remaining'),
                  ('circuit_breaker', 'reset_timeout'), ('circuit_breaker', 'url_timeout'),
                  ('container_image_status', 'timeout'), ('backup_create', 'connect_timeout'),
                  ('pg_vacuum', 'max_table_bytes'), ('pgbackrest_verify', 'max_wal_age'),
                  ('pgbackrest_verify', 'wal_segment_size')]:
        assert known in pairs, f'{known} is no longer classified as a duration/size option'
    stale = {pair for pair in ZERO_OK | TIMES | PERCENT if pair not in pairs}
    stale |= {pair for pair in NOT_DURATIONS if pair[1] not in SPECS.get(pair[0], {})}
    assert not stale, f'rules for options that no longer exist: {stale}'


@pytest.fixture(scope='module')
def outcomes(tmp_path_factory):
    """Every case of the table, run module by module (one process each, in parallel)."""
    tmp = tmp_path_factory.mktemp('faults-options')
    (tmp / 'clean').mkdir()
    cases: dict[str, list] = {}
    index: dict[tuple, int] = {}
    for module, option, kind, typ, _aliases in TABLE:
        values = [('good', good_value(kind, typ, module, option))] + \
            [('bad', value) for value in bad_values(module, option, kind, typ)]
        for label, value in values:
            args = dict(base_args(module, option, tmp), **{option: value})
            args.update(_ansible_check_mode=True, _ansible_no_log=False)
            index[(module, option, label, repr(value))] = len(cases.setdefault(module, []))
            cases[module].append(args)

    def run(module):
        path = tmp / f'{module}.json'
        path.write_text(json.dumps(cases[module]))
        done = subprocess.run([sys.executable, str(DRIVER), 'run', module, str(path)], capture_output=True,
                              text=True, env=ENV, timeout=600, check=False)
        assert done.returncode == 0, done.stderr
        return module, json.loads(done.stdout)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(run, sorted(cases)))
    return {key: results[key[0]][position] for key, position in index.items()}


def parse(outcome: dict) -> dict:
    text = outcome['stdout']
    try:
        return json.loads(text[text.index('{'):])
    except ValueError:
        return {'_unparsed': text}


@pytest.mark.parametrize('module, option, kind, typ, aliases', TABLE,
                         ids=[f'{m}-{o}' for m, o, *_rest in TABLE])
def test_absurd_values_fail_clearly_naming_the_option(outcomes, module, option, kind, typ, aliases):
    problems = []
    for (mod, opt, label, value), outcome in outcomes.items():
        if (mod, opt) != (module, option):
            continue
        result = parse(outcome)
        everything = outcome['stdout'] + outcome['stderr']
        names = (option, *aliases)
        msg = str(result.get('msg', ''))
        if 'Traceback' in everything or outcome['rc'] == 'exception':
            problems.append(f'{value}: traceback: {everything[-400:]}')
        if MARKER in everything:
            problems.append(f'{value}: the secret marker is in the output')
        if label == 'bad':
            if result.get('failed') is not True or not any(name in msg for name in names):
                problems.append(f'{value}: not refused naming {option} (rc {outcome["rc"]}, msg {msg[:200]!r})')
        elif any(re.search(rf'\b{re.escape(name)}\b', msg) for name in names):
            problems.append(f'{value} (a sane value) was refused: {msg[:200]!r}')
    assert not problems, f'{module} {option} ({kind}, {typ}):\n' + '\n'.join(problems)
