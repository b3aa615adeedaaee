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
