"""bench/fleet.py's pure logic: the callback's records, work versus orchestration, the fit and
the extrapolation to the window."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / 'bench' / 'fleet.py'
SPEC = importlib.util.spec_from_file_location('fleet_bench', BENCH)
fleet = importlib.util.module_from_spec(SPEC)
sys.modules['fleet_bench'] = fleet
SPEC.loader.exec_module(fleet)


def rec(host, task, action, start, end, durations=None):
    return {'host': host, 'task': task, 'action': action, 'start': start, 'end': end, 'status': 'ok',
            'durations': durations if durations is not None else [{}]}


def test_work_is_the_modules_own_durations_of_the_work_modules_only():
    vacuum = rec('h', 'vacuum', 'runbook.maintenance.pg_vacuum', 0, 5,
                 [{'summary.duration_s': 1.5}, {'summary.duration_s': 0.5}])
    verify = rec('h', 'verify', 'runbook.maintenance.backup_verify', 0, 9,
                 [{'duration_s': 4.0, 'restore.duration_s': 3.0}, {'restore.duration_s': 2.0}])
    breaker = rec('h', 'breaker', 'runbook.maintenance.circuit_breaker', 0, 1, [{'duration_s': 0.7}])
    assert fleet.work_seconds(vacuum) == 2.0
    assert fleet.work_seconds(verify) == 6.0  # the top-level duration first, restore's where it is missing
    assert fleet.work_seconds(breaker) == 0.0
    assert fleet.work_seconds({'action': 'backup_create'}) == 0.0


def test_parse_timings_skips_blank_and_broken_lines():
    good = json.dumps(rec('h', 't', 'debug', 1, 2))
    assert len(fleet.parse_timings([good, '', '{broken', '[]', json.dumps({'host': 'h'}), good + '\n'])) == 2


def test_summarize_splits_task_time_into_work_and_orchestration():
    records = [rec('a', 'dump', 'backup_create', 0, 10, [{'duration_s': 8.0}]),
               rec('a', 'check', 'postgresql_query', 10, 12),
               rec('b', 'dump', 'backup_create', 0, 6, [{'duration_s': 4.0}]),
               rec('b', 'check', 'postgresql_query', 6, 10)]
    s = fleet.summarize(records, hosts=2, wall_s=15, cpu_s=9)
    assert s['task_per_host_s'] == 11 and s['work_per_host_s'] == 6 and s['orchestration_per_host_s'] == 5
    assert s['cpu_per_host_s'] == 4.5 and s['host_span_s'] == 11
    assert [t['task'] for t in s['top_tasks']] == ['dump', 'check'] and s['top_tasks'][0]['total_s'] == 16


def test_linear_fit():
    assert fleet.linear_fit([(1, 12), (4, 42), (8, 82)]) == pytest.approx((2.0, 10.0))
    assert fleet.linear_fit([(2, 20)]) == (0.0, 10.0)
    assert fleet.linear_fit([(1, 30), (4, 20)]) == (0.0, 10.0)  # a falling line is noise: the mean


def test_extrapolation_controller_cpu_binds():
    # 2 cores at 80%, 3 h: 17280 CPU-s; 10 s fixed, 40 s per host -> 431 hosts.
    ext = fleet.extrapolate(10, 40, 120, cores=2, window_s=10800, headroom=0.8, max_forks=50)
    assert ext['hosts_cpu'] == 431 and ext['binding'] == 'controller CPU'
    assert ext['hosts'] <= 431 and ext['serial'] >= 1
    batches = -(-ext['hosts'] // ext['serial'])
    per_batch = fleet.batch_seconds(ext['serial'], 120, 40, 2, 0.8)
    assert batches * per_batch <= 10800


def test_extrapolation_per_host_time_binds_with_few_forks():
    ext = fleet.extrapolate(0, 1, 3600, cores=2, window_s=10800, headroom=0.8, max_forks=4)
    assert ext['hosts'] == 12 and ext['serial'] == 4 and ext['binding'].startswith('per-host work time')


def test_extrapolation_one_host_longer_than_the_window():
    assert fleet.extrapolate(0, 1, 20000, cores=2, window_s=10800)['hosts'] == 0
    with pytest.raises(ValueError):
        fleet.extrapolate(0, 0, 100, cores=2, window_s=10800)
