"""The maintenance window arithmetic: inside/outside, DST changes, windows across midnight."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils import window as win

UTC = datetime.timezone.utc


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


def sunday_berlin():
    return win.make_window(['sunday'], '02:00', '05:00', 'Europe/Berlin')


def test_inside_gives_time_left_until_close():
    state = win.evaluate(sunday_berlin(), at('2026-11-29T02:30:00+01:00'))
    assert state['inside'] is True
    assert state['remaining_s'] == 150 * 60
    assert state['closes_at'] == '2026-11-29T05:00:00+01:00'


@pytest.mark.parametrize('moment', [
    '2026-11-29T01:59:59+01:00',  # a second early
    '2026-11-29T05:00:00+01:00',  # the close is exclusive
    '2026-11-27T03:00:00+01:00',  # Friday
])
def test_outside_edges(moment):
    state = win.evaluate(sunday_berlin(), at(moment))
    assert state['inside'] is False
    assert state['remaining_s'] == 0
    assert state['next_opens_at'].endswith('02:00:00+01:00')


def test_only_the_instant_matters_not_the_zone_of_now():
    # 04:30 UTC is 05:30 in Berlin: outside, although 04:30 would be inside in UTC.
    assert win.evaluate(sunday_berlin(), at('2026-11-29T04:30:00+00:00'))['inside'] is False
    assert win.evaluate(sunday_berlin(), at('2026-11-29T02:30:00+00:00'))['inside'] is True


def test_next_opening_from_friday():
    state = win.evaluate(sunday_berlin(), at('2026-11-27T17:00:00+00:00'))
    assert state['next_opens_at'] == '2026-11-29T02:00:00+01:00'
    assert state['opens_in_s'] == int((at('2026-11-29T01:00:00+00:00') - at('2026-11-27T17:00:00+00:00')).total_seconds())


def test_window_stays_at_local_two_oclock_across_autumn_dst_change():
    # Europe/Berlin leaves summer time on Sunday 2026-10-25 at 03:00 CEST -> 02:00 CET.
    before = win.evaluate(sunday_berlin(), at('2026-10-18T00:30:00+00:00'))  # 02:30 CEST
    after = win.evaluate(sunday_berlin(), at('2026-11-01T01:30:00+00:00'))   # 02:30 CET
    assert before['inside'] and after['inside']
    assert before['opened_at'] == '2026-10-18T02:00:00+02:00'
    assert after['opened_at'] == '2026-11-01T02:00:00+01:00'


def test_spring_forward_gap_opens_at_first_existing_minute():
    # 2026-03-29: clocks jump from 02:00 CET to 03:00 CEST; 02:00 does not exist that night.
    state = win.evaluate(sunday_berlin(), at('2026-03-29T01:10:00+00:00'))  # 03:10 CEST
    assert state['inside'] is True
    assert state['opened_at'] == '2026-03-29T03:00:00+02:00'
    assert state['closes_at'] == '2026-03-29T05:00:00+02:00'
    assert state['remaining_s'] == 110 * 60


def test_window_across_midnight_opened_yesterday():
    window = win.make_window(['saturday'], '23:00', '03:00', 'UTC')
    state = win.evaluate(window, at('2026-11-29T01:00:00+00:00'))  # Sunday 01:00, opened Saturday 23:00
    assert state['inside'] is True
    assert state['remaining_s'] == 2 * 3600
    assert window.length == datetime.timedelta(hours=4)


@pytest.mark.parametrize('days,start,end,tz,message', [
    (['someday'], '02:00', '05:00', 'UTC', 'unknown day'),
    ([], '02:00', '05:00', 'UTC', 'at least one day'),
    (['sun'], '2am', '05:00', 'UTC', 'clock time HH:MM'),
    (['sun'], '02:00', '24:00', 'UTC', 'clock time HH:MM'),
    (['sun'], '02:00', '02:00', 'UTC', 'empty'),
    (['sun'], '02:00', '05:00', 'Mars/Olympus', 'unknown time zone'),
])
def test_bad_windows_are_refused_with_a_reason(days, start, end, tz, message):
    with pytest.raises(ValueError, match=message):
        win.make_window(days, start, end, tz)


def test_days_accept_abbreviations_and_strings():
    assert win.parse_days('Sat, sun') == (5, 6)
    assert win.parse_days(['SUNDAY', 'sun']) == (6,)


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        win.evaluate(sunday_berlin(), datetime.datetime(2026, 11, 29, 2, 30))


def test_describe_is_readable():
    text = win.describe(win.evaluate(sunday_berlin(), at('2026-11-27T17:00:00+00:00')))
    assert text.startswith('outside the maintenance window (Sunday 02:00-05:00 Europe/Berlin)')
    assert '2026-11-29T02:00:00+01:00' in text
