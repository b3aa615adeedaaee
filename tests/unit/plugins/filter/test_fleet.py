"""fleet_summary: the hosts of a rolling window done, failed and not started."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.maintenance.plugins.filter.fleet import FilterModule, fleet_summary

HOSTS = ['a', 'b', 'c', 'd']


def test_a_failed_batch_stops_the_rollout():
    s = fleet_summary(HOSTS, {'a': '', 'b': 'Pre-maintenance checks: PostgreSQL does not answer', 'c': None},
                      active=['a', 'b'], plan={'msg': '4 hosts in batches of 1'})
    assert s['done'] == ['a']
    assert s['failed'] == [{'host': 'b', 'failure': 'Pre-maintenance checks: PostgreSQL does not answer'}]
    assert s['not_started'] == ['c', 'd']  # d has no entry at all
    assert s['status'] == 'failed'
    assert s['counts'] == {'hosts': 4, 'done': 1, 'failed': 1, 'not_started': 2}
    assert s['lines'][0] == 'Fleet weekly: 1 done, 1 failed, 2 not started, of 4'
    assert '  batches: 4 hosts in batches of 1' in s['lines']
    assert '  NOT STARTED  d' in s['lines']


def test_a_host_that_failed_outside_the_steps_is_failed_not_done():
    s = fleet_summary(['a', 'b'], {'a': '', 'b': ''}, active=['a'])
    assert s['done'] == ['a'] and s['failed'][0]['host'] == 'b'
    assert 'stopped before its maintenance steps' in s['failed'][0]['failure']


def test_all_done_and_dry_run_wording():
    assert fleet_summary(HOSTS, dict.fromkeys(HOSTS, ''))['status'] == 'ok'
    dry = fleet_summary(['a'], {'a': ''}, check_mode=True, procedure='monthly')
    assert dry['status'] == 'planned' and dry['lines'][0] == 'Fleet monthly (dry run): 1 planned, 0 failed, 0 not started, of 1'
    assert fleet_summary(['a', 'b'], {'a': ''})['status'] == 'stopped'


def test_bad_input_is_a_filter_error_and_the_filter_is_registered():
    with pytest.raises(AnsibleFilterError):
        fleet_summary('a,b', {})
    assert FilterModule().filters()['fleet_summary'] is fleet_summary


# ---- fleet_merge: the slices of one run (AWX job slicing) read as one ------------------------------

from ansible_collections.runbook.maintenance.plugins.filter.fleet import fleet_merge  # noqa: E402

FLEET = [f'db-{i:02d}' for i in range(1, 11)]


def awx_slice(number, count, failures, run='awx-4711', check_mode=False, procedure='weekly', active=None):
    """What one slice job writes: AWX gives slice n every count-th host of the name-sorted inventory;
    the window's fleet_summary filter itself makes the summary (its plan as the plan task sets it)."""
    hosts = sorted(FLEET)[number - 1::count]
    plan = {'serial': 2, 'msg': f'{len(hosts)} hosts in batches of 2', 'run': run, 'slice': f'job-{4711 + number}',
            'slices': count}
    return fleet_summary(hosts, {h: failures.get(h, '') for h in hosts if failures.get(h, '') is not None},
                         active=active, procedure=procedure, check_mode=check_mode, plan=plan)


def test_the_summary_names_its_run_and_slice():
    s = awx_slice(2, 3, {})
    assert (s['run'], s['slice'], s['slices']) == ('awx-4711', 'job-4713', 3)
    assert s['hosts'] == ['db-02', 'db-05', 'db-08']
    assert 'run' not in fleet_summary(['a'], {'a': ''})  # without a plan: as before


def test_merging_slices_that_all_succeeded():
    merged = fleet_merge([awx_slice(2, 2, {}), awx_slice(1, 2, {})])
    assert merged['status'] == 'ok' and merged['errors'] == [] and merged['duplicates'] == []
    assert sorted(merged['done']) == FLEET and len(merged['hosts']) == 10
    assert merged['counts'] == {'hosts': 10, 'done': 10, 'failed': 0, 'not_started': 0}
    assert merged['slices']['expected'] == 2 and merged['slices']['reported'] == 2
    assert [s['slice'] for s in merged['slices']['each']] == ['job-4712', 'job-4713']
    assert merged['lines'][0] == 'Fleet weekly run awx-4711, 2 of 2 slices: 10 done, 0 failed, 0 not started, of 10'


def test_a_failed_batch_in_one_slice_stops_only_that_slice():
    # slice 1 of 2: db-01 db-03 db-05 db-07 db-09; db-03 failed in its second batch, db-07/db-09 never started
    one = awx_slice(1, 2, {'db-03': 'Pre-maintenance checks: PostgreSQL does not answer', 'db-07': None, 'db-09': None},
                    active=['db-01', 'db-05'])
    two = awx_slice(2, 2, {})
    merged = fleet_merge([one, two])
    assert merged['status'] == 'failed'
    assert merged['failed'] == [{'host': 'db-03', 'failure': 'Pre-maintenance checks: PostgreSQL does not answer'}]
    assert merged['not_started'] == ['db-07', 'db-09']
    assert len(merged['done']) == 7 and 'db-10' in merged['done']
    assert '  slice job-4712: failed, 2 done, 1 failed, 2 not started, of 5' in merged['lines']
    assert '  FAILED       db-03: Pre-maintenance checks: PostgreSQL does not answer' in merged['lines']


def test_a_host_in_two_slices_is_an_error_not_hidden():
    one = awx_slice(1, 2, {})
    two = awx_slice(2, 2, {})
    two = fleet_summary(two['hosts'] + ['db-01'], dict.fromkeys(two['hosts'] + ['db-01'], ''),
                        plan={'run': 'awx-4711', 'slice': 'job-4713', 'slices': 2})
    merged = fleet_merge([one, two])
    assert merged['status'] == 'error'
    assert merged['duplicates'] == [{'host': 'db-01', 'slices': ['job-4712', 'job-4713']}]
    assert 'host db-01 is in 2 slices: job-4712, job-4713' in merged['errors']
    assert merged['counts']['hosts'] == 10 and merged['done'].count('db-01') == 1
    assert any('ERROR' in line and 'db-01' in line for line in merged['lines'])


def test_a_slice_that_did_not_report_makes_it_incomplete():
    merged = fleet_merge([awx_slice(1, 3, {}), awx_slice(3, 3, {})])
    assert merged['status'] == 'incomplete' and merged['slices']['missing'] == 1
    assert '1 of 3 slices did not report: their hosts are not in this summary' in merged['errors']
    # the count can be given (a run sliced into fewer jobs than the template says: fewer hosts than slices)
    assert fleet_merge([awx_slice(1, 3, {}), awx_slice(3, 3, {})], slices='2')['status'] == 'ok'


def test_slices_that_do_not_belong_together_are_errors():
    other_run = fleet_merge([awx_slice(1, 2, {}), awx_slice(2, 2, {}, run='awx-4800')])
    assert other_run['status'] == 'error' and any('differ in run' in e for e in other_run['errors'])
    mixed = fleet_merge([awx_slice(1, 2, {}), awx_slice(2, 2, {}, check_mode=True)])
    assert mixed['status'] == 'error' and any('differ in check_mode' in e for e in mixed['errors'])
    twice = fleet_merge([awx_slice(1, 2, {}), awx_slice(1, 2, {})])
    assert twice['status'] == 'error' and any('reported twice' in e for e in twice['errors'])


def test_a_dry_run_merges_as_planned():
    merged = fleet_merge([awx_slice(1, 2, {}, check_mode=True), awx_slice(2, 2, {}, check_mode=True)])
    assert merged['status'] == 'planned' and merged['check_mode'] is True
    assert '(dry run)' in merged['lines'][0] and '10 planned' in merged['lines'][0]


NOT_LISTS = {'procedure': 'weekly', 'hosts': 'a', 'done': [], 'failed': [], 'not_started': []}


@pytest.mark.parametrize('bad', [[], 'fleet.json', [{'hosts': []}], [NOT_LISTS]])
def test_bad_input_is_a_filter_error(bad):
    with pytest.raises(AnsibleFilterError):
        fleet_merge(bad)


def test_bad_slice_count_is_a_filter_error_and_the_filter_is_registered():
    with pytest.raises(AnsibleFilterError):
        fleet_merge([awx_slice(1, 1, {})], slices=0)
    assert FilterModule().filters()['fleet_merge'] is fleet_merge
