"""Durations and deadlines."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import (
    parse_deadline,
    parse_duration,
    pg_interval,
)


@pytest.mark.parametrize('value, seconds', [
    ('90', 90), (90, 90), ('90s', 90), ('500ms', 0.5), ('15min', 900), ('2m', 120), ('12h', 43200),
    ('7d', 604800), ('1w', 604800), ('1.5h', 5400), (' 3 S ', 3),
])
def test_parse_duration(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize('value', ['', 'abc', '5 parsecs', '-3s', -1, True, '1h30m'])
def test_parse_duration_rejects(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_pg_interval_is_milliseconds():
    assert pg_interval('5s') == '5000ms'
    assert pg_interval('250ms') == '250ms'


def test_deadline_iso_with_zone():
    got = parse_deadline('2026-11-29T05:00:00+01:00')
    assert got.utcoffset() == datetime.timedelta(hours=1)
    assert got.hour == 5


def test_deadline_clock_time_is_next_occurrence():
    zone = datetime.timezone.utc
    now = datetime.datetime(2026, 11, 29, 3, 0, tzinfo=zone)
    assert parse_deadline('05:00', now) == datetime.datetime(2026, 11, 29, 5, 0, tzinfo=zone)
    assert parse_deadline('02:00', now) == datetime.datetime(2026, 11, 30, 2, 0, tzinfo=zone)


def test_deadline_naive_is_local_and_aware():
    assert parse_deadline('2026-11-29T05:00:00').tzinfo is not None


def test_deadline_rejects_garbage():
    with pytest.raises(ValueError, match='ISO-8601'):
        parse_deadline('next sunday')
