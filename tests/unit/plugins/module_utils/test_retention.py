"""GFS retention: examples and properties over random backup histories."""

from __future__ import annotations

import datetime
import random

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.retention import Backup, plan_retention

UTC = datetime.timezone.utc
START = datetime.datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def daily_history(days, verified=True):
    return [Backup(f'b{i:03d}', START - datetime.timedelta(days=i), verified) for i in range(days)]


def test_a_year_of_dailies_keeps_7_daily_4_weekly_12_monthly():
    decision = plan_retention(daily_history(400))
    kept = sorted(decision.keep, reverse=True)
    assert 'b000' in decision.keep and 'newest verified backup' in decision.keep['b000']
    assert all(f'b{i:03d}' in decision.keep for i in range(7))  # the last 7 days
    assert len(kept) <= 7 + 4 + 12 and len(kept) >= 12
    assert len(decision.prune) == 400 - len(kept)
    assert all('outside the 7 daily' in reason for reason in decision.prune.values())


def test_nothing_is_pruned_when_the_latest_backup_failed_verification():
    history = daily_history(30)
    history[0] = Backup('b000', START, verified=False)
    decision = plan_retention(history)
    assert decision.prune == {} and 'failed verification' in decision.blocked


def test_nothing_is_pruned_before_any_verification():
    decision = plan_retention(daily_history(30, verified=None))
    assert decision.prune == {} and decision.blocked


def test_newer_unverified_backups_are_kept_with_the_newest_verified():
    history = daily_history(20)
    history[0] = Backup('b000', START, None)
    history[1] = Backup('b001', START - datetime.timedelta(days=1), None)
    decision = plan_retention(history, daily=1, weekly=0, monthly=0)
    assert set(decision.keep) == {'b000', 'b001', 'b002'}
    assert decision.keep['b002'] == ['newest verified backup', 'daily 2026-11-27']


def test_a_failed_backup_never_represents_a_bucket():
    history = daily_history(10)
    history[3] = Backup('b003', history[3].created_at, False)
    decision = plan_retention(history)
    assert 'b003' in decision.prune and decision.prune['b003'] == 'failed verification and superseded'


def test_negative_counts_are_refused():
    with pytest.raises(ValueError):
        plan_retention([], daily=-1)


@pytest.mark.parametrize('seed', range(200))
def test_properties_over_random_histories(seed):
    rng = random.Random(seed)
    history = [Backup(f'b{i}', START - datetime.timedelta(minutes=rng.randrange(0, 60 * 24 * 800)),
                      rng.choice([True, True, True, False, None])) for i in range(rng.randrange(0, 120))]
    daily, weekly, monthly = rng.randrange(0, 10), rng.randrange(0, 6), rng.randrange(0, 14)
    decision = plan_retention(history, daily, weekly, monthly)
    ids = {b.id for b in history}
    assert set(decision.keep) | set(decision.prune) == ids
    assert not set(decision.keep) & set(decision.prune)
    ordered = sorted(history, key=lambda b: (b.created_at, b.id), reverse=True)
    if ordered and ordered[0].verified is False:
        assert decision.prune == {}
        return
    verified = [b for b in ordered if b.verified]
    if not verified:
        assert decision.prune == {}
        return
    newest = verified[0]
    assert newest.id in decision.keep
    assert all(b.id in decision.keep for b in history if b.created_at >= newest.created_at)
    buckets = len(decision.keep) - sum(1 for b in history if b.created_at > newest.created_at)
    assert buckets <= 1 + daily + weekly + monthly
    # Stable: applying the policy to what it kept prunes nothing more.
    kept = [b for b in history if b.id in decision.keep]
    assert plan_retention(kept, daily, weekly, monthly).prune == {}
