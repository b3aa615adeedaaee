"""The circuit breaker state machine, every transition, with an injected clock."""

from __future__ import annotations

import json

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.breaker import (
    Breaker,
    Config,
    StateError,
    Store,
    retry_after,
    transition,
)

CFG = Config(failure_threshold=3, success_threshold=2, reset_timeout=60)


def run(breaker, *actions, now=1000.0, reason=''):
    for action in actions:
        breaker = transition(breaker, action, CFG, now, reason)
    return breaker


def test_failures_below_threshold_keep_it_closed_and_a_success_resets_them():
    b = run(Breaker(), 'record_failure', 'record_failure')
    assert (b.state, b.failures) == ('closed', 2)
    b = run(b, 'record_success')
    assert (b.state, b.failures) == ('closed', 0)


def test_threshold_opens_it_with_time_and_reason():
    b = run(Breaker(), 'record_failure', 'record_failure', 'record_failure', now=500, reason='verify failed')
    assert b.state == 'open' and b.opened_at == 500 and b.reason == 'verify failed'
    assert retry_after(b, CFG, 530) == 30


def test_check_while_open_changes_nothing_before_the_timeout():
    b = run(Breaker(), 'record_failure', 'record_failure', 'record_failure', now=500)
    assert run(b, 'check', now=559) == b
    assert run(b, 'record_failure', now=559).state == 'open'


def test_a_success_seen_while_open_counts_as_a_successful_trial():
    b = run(Breaker(), 'record_failure', 'record_failure', 'record_failure', now=500)
    one = run(b, 'record_success', now=510)
    assert (one.state, one.successes) == ('half_open', 1)
    assert run(one, 'record_success', now=511).state == 'closed'


def test_timeout_lets_a_trial_through_then_successes_close_it():
    b = run(Breaker(), 'record_failure', 'record_failure', 'record_failure', now=500)
    trial = run(b, 'check', now=560)
    assert trial.state == 'half_open' and retry_after(trial, CFG, 560) == 0
    one = run(trial, 'record_success', now=561)
    assert (one.state, one.successes) == ('half_open', 1)
    closed = run(one, 'record_success', now=562)
    assert closed.state == 'closed' and closed.failures == 0 and closed.opened_at is None


def test_a_failure_in_half_open_opens_it_again_with_a_new_time():
    b = run(Breaker(), 'record_failure', 'record_failure', 'record_failure', now=500)
    again = run(b, 'check', 'record_failure', now=600)
    assert again.state == 'open' and again.opened_at == 600


def test_forced_open_stays_open_until_closed():
    b = run(Breaker(), 'open', now=100, reason='health check failed')
    assert b.state == 'open' and b.forced and b.reason == 'health check failed'
    assert run(b, 'check', now=10_000).state == 'open'
    assert run(b, 'record_success', now=10_000).state == 'open'
    assert run(b, 'close').state == 'closed'


def test_open_twice_keeps_the_first_time():
    b = run(Breaker(), 'open', now=100)
    assert run(b, 'open', now=200).opened_at == 100


def test_unchanged_breaker_keeps_its_update_time():
    b = Breaker()
    assert transition(b, 'check', CFG, 5).updated_at is None
    assert transition(b, 'record_failure', CFG, 5).updated_at == 5


@pytest.mark.parametrize('content', ['{not json', '[]', '{"state": "ajar"}', '{"state": "open", "failures": "x"}'])
def test_corrupt_state_is_an_error(tmp_path, content):
    (tmp_path / 'b.json').write_text(content)
    with Store(str(tmp_path), 'b') as store:
        with pytest.raises(StateError):
            store.read()


def test_store_round_trip_and_missing_file_is_closed(tmp_path):
    with Store(str(tmp_path / 'new'), 'b') as store:
        assert store.read() == Breaker()
        store.write(Breaker(state='open', failures=4, opened_at=1.5, reason='x'))
        assert store.read().failures == 4
    assert json.loads((tmp_path / 'new' / 'b.json').read_text())['state'] == 'open'
    assert [p.name for p in (tmp_path / 'new').iterdir() if p.name.startswith('.')] == []
