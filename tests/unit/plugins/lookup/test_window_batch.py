"""window_batch: the batch size that gets a fleet through the window, from the last reports."""

from __future__ import annotations

import json

import pytest

from ansible_collections.runbook.maintenance.plugins.lookup.window_batch import (
    measured_cost,
    plan,
    plan_batches,
    read_reports,
    window_remaining,
)

SUNDAY_0230 = '2026-11-29T02:30:00+00:00'
WINDOW = {'days': ['sunday'], 'start': '02:00', 'end': '05:00', 'timezone': 'UTC'}


def report(host, duration, finished, procedure='weekly', check_mode=False, status='ok'):
    return {'host': host, 'procedure': procedure, 'duration_s': duration, 'finished_epoch': finished,
            'check_mode': check_mode, 'status': status}


def test_one_host_at_a_time_when_the_whole_fleet_fits_in_turn():
    assert plan_batches(4, 600, 9000) == {'serial': 1, 'batches': 4, 'fits': True}


def test_the_fleet_is_spread_over_the_batches_that_fit():
    # 9000 s left, 1000 s per batch: 9 batches fit; 40 hosts -> batches of 5 (8 batches).
    assert plan_batches(40, 1000, 9000) == {'serial': 5, 'batches': 8, 'fits': True}
    assert plan_batches(10, 1000, 9000)['serial'] == 2


def test_nothing_fits_one_batch_of_everything_and_says_so():
    assert plan_batches(6, 10000, 9000) == {'serial': 6, 'batches': 1, 'fits': False}
    assert plan_batches(6, 10000, 9000, max_batch=4) == {'serial': 4, 'batches': 2, 'fits': False}


def test_a_cap_that_makes_the_fleet_miss_the_window_is_reported():
    result = plan_batches(100, 1000, 9000, max_batch=5)
    assert result == {'serial': 5, 'batches': 20, 'fits': False}


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        plan_batches(3, 0, 100)
    with pytest.raises(ValueError):
        plan_batches(-1, 10, 100)


def test_the_cost_is_the_longest_of_the_newest_real_runs_of_the_procedure():
    reports = [report('a', 100, 10), report('b', 300, 20), report('c', 200, 30),
               report('d', 999, 40, check_mode=True),           # a dry run is no measure
               report('e', 888, 50, procedure='monthly'),       # another procedure
               report('f', 'x', 60), report('g', 0, 70)]       # not measured
    assert measured_cost(reports, 'weekly') == (300, 3)
    assert measured_cost(reports, 'weekly', history=1) == (200, 1)  # only the newest
    assert measured_cost(reports, 'monthly') == (888, 1)
    assert measured_cost([], 'weekly') == (None, 0)


def test_reports_are_read_from_the_directory_skipping_garbage_and_fleet_summaries(tmp_path):
    (tmp_path / 'weekly-a-1.json').write_text(json.dumps(report('a', 120, 1)))
    (tmp_path / 'weekly-b-1.json').write_text('{not json')
    (tmp_path / 'fleet-weekly-1.json').write_text(json.dumps({'procedure': 'weekly', 'duration_s': 5000}))
    (tmp_path / 'weekly-a-1.txt').write_text('text')
    assert [r['host'] for r in read_reports(str(tmp_path))] == ['a']
    assert read_reports(str(tmp_path / 'missing')) == []


def test_window_remaining_inside_outside_and_forced():
    assert window_remaining(now=SUNDAY_0230, **WINDOW) == 9000
    assert window_remaining(now='2026-11-30T12:00:00+00:00', **WINDOW) == 3 * 3600  # outside: a whole window
    assert window_remaining(now='2026-11-30T12:00:00+00:00', force=True, force_budget='1h', **WINDOW) == 3600
    with pytest.raises(ValueError):
        window_remaining(now='2026-11-29T02:30:00', **WINDOW)  # no offset


def test_plan_from_history_and_without(tmp_path):
    hosts = [f'db{i}' for i in range(30)]
    window = dict(WINDOW, now=SUNDAY_0230)
    assumed = plan(hosts, str(tmp_path), assumed_cost='30m', **window)
    # 1800 s x 1.25 = 2250 s a batch, 9000 s left: 4 batches, 30 hosts -> batches of 8.
    assert (assumed['serial'], assumed['batches'], assumed['cost_s'], assumed['fits']) == (8, 4, 2250, True)
    assert assumed['basis'].startswith('assumed')
    for i in range(3):
        (tmp_path / f'weekly-db{i}.json').write_text(json.dumps(report(f'db{i}', 400 + i * 100, i)))
    measured = plan(hosts, str(tmp_path), **window)
    # longest 600 s x 1.25 = 750 s a batch: 12 batches fit, 30 hosts -> batches of 3 (10 batches).
    assert (measured['serial'], measured['batches'], measured['cost_s']) == (3, 10, 750)
    assert 'newest 3 weekly reports' in measured['basis'] and '30 hosts in batches of 3' in measured['msg']
    fixed = plan(hosts, str(tmp_path), remaining='1h', **window)
    assert fixed['remaining_s'] == 3600 and fixed['serial'] == 8  # 4 batches of 750 s fit in 3600 s: 30 hosts in 4 batches
    with pytest.raises(ValueError):
        plan(hosts, str(tmp_path), margin=0.5, **window)
