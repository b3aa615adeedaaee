# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Maintenance windows: 'Sunday 02:00-05:00 Europe/Berlin' as pure, unit-tested arithmetic.

A window opens on each of its days at a wall-clock time in an explicit time zone and lasts until
its end time (on the next day when the end is not after the start). Wall-clock times are resolved
with zoneinfo, so a window stays at 02:00 local time across daylight-saving changes; a start that
falls into a spring-forward gap begins at the first existing instant after it.
"""

from __future__ import annotations

import dataclasses
import datetime
import re

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # pragma: no cover - Python < 3.9
    ZoneInfo = None
    ZoneInfoNotFoundError = KeyError

DAYS = ('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday')
_DAY_ALIASES = {d[:3]: i for i, d in enumerate(DAYS)} | {d: i for i, d in enumerate(DAYS)}
_CLOCK_RE = re.compile(r'^([01]?\d|2[0-3]):([0-5]\d)$')
_UTC = datetime.timezone.utc


@dataclasses.dataclass(frozen=True)
class Window:
    days: tuple[int, ...]  # 0 = Monday
    start: datetime.time
    end: datetime.time
    tz: datetime.tzinfo
    tz_name: str

    @property
    def length(self) -> datetime.timedelta:
        start = datetime.timedelta(hours=self.start.hour, minutes=self.start.minute)
        end = datetime.timedelta(hours=self.end.hour, minutes=self.end.minute)
        return end - start if end > start else end - start + datetime.timedelta(days=1)


@dataclasses.dataclass(frozen=True)
class Occurrence:
    opens: datetime.datetime
    closes: datetime.datetime


def parse_clock(value: str, what: str) -> datetime.time:
    match = _CLOCK_RE.match(str(value).strip())
    if not match:
        raise ValueError(f"{what} must be a clock time HH:MM, e.g. '02:00' (got {value!r})")
    return datetime.time(int(match.group(1)), int(match.group(2)))


def parse_days(values) -> tuple[int, ...]:
    if isinstance(values, str):
        values = [v for v in re.split(r'[,\s]+', values) if v]
    if not values:
        raise ValueError('the window needs at least one day')
    days = []
    for value in values:
        key = str(value).strip().lower()
        if key not in _DAY_ALIASES:
            raise ValueError(f"unknown day {value!r} (expected one of {', '.join(DAYS)}, or their first three letters)")
        days.append(_DAY_ALIASES[key])
    return tuple(sorted(set(days)))


def load_zone(name: str) -> datetime.tzinfo:
    if name.upper() in ('UTC', 'Z', 'ETC/UTC'):
        return _UTC
    if ZoneInfo is None:  # pragma: no cover
        raise ValueError('time zones need Python 3.9 or later (zoneinfo)')
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as 'Europe/Berlin' or 'UTC'; "
                         f"is tzdata installed?)") from exc


def make_window(days, start: str, end: str, timezone: str) -> Window:
    start_t = parse_clock(start, 'the window start')
    end_t = parse_clock(end, 'the window end')
    if start_t == end_t:
        raise ValueError(f'the window start and end are the same time ({start}): it would be empty')
    return Window(parse_days(days), start_t, end_t, load_zone(timezone), timezone)


def _resolve(day: datetime.date, clock: datetime.time, tz: datetime.tzinfo) -> datetime.datetime:
    """The instant of a wall-clock time on a date; in a DST gap, the first instant after it."""
    naive = datetime.datetime.combine(day, clock)
    local = naive.replace(tzinfo=tz)
    as_utc = local.astimezone(_UTC)
    if as_utc.astimezone(tz).replace(tzinfo=None) != naive:  # the wall time does not exist
        # Walk forward to the first minute that exists (the gap is at most a few hours).
        probe = naive
        for _minute in range(24 * 60):
            probe += datetime.timedelta(minutes=1)
            candidate = probe.replace(tzinfo=tz)
            if candidate.astimezone(_UTC).astimezone(tz).replace(tzinfo=None) == probe:
                return candidate.astimezone(_UTC)
    return as_utc


def occurrence_on(window: Window, day: datetime.date) -> Occurrence:
    opens = _resolve(day, window.start, window.tz)
    end_day = day if window.end > window.start else day + datetime.timedelta(days=1)
    closes = _resolve(end_day, window.end, window.tz)
    return Occurrence(opens, closes)


def evaluate(window: Window, now: datetime.datetime) -> dict:
    """Where `now` (aware) stands relative to the window: inside or not, and the times around it."""
    if now.tzinfo is None:
        raise ValueError('now must carry a time zone')
    local_today = now.astimezone(window.tz).date()
    current = None
    following = None
    # A window that crosses midnight may have opened yesterday; look one day back, a week ahead.
    for offset in range(-1, 8):
        day = local_today + datetime.timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        occ = occurrence_on(window, day)
        if occ.opens <= now < occ.closes:
            current = occ
        elif occ.opens > now and following is None:
            following = occ
    result = {
        'inside': current is not None,
        'now': _iso(now, window.tz),
        'timezone': window.tz_name,
        'days': [DAYS[d] for d in window.days],
        'start': window.start.strftime('%H:%M'),
        'end': window.end.strftime('%H:%M'),
        'length_s': int(window.length.total_seconds()),
    }
    if current:
        result.update(opened_at=_iso(current.opens, window.tz), closes_at=_iso(current.closes, window.tz),
                      remaining_s=int((current.closes - now).total_seconds()))
    else:
        result.update(opened_at=None, closes_at=None, remaining_s=0)
    if following:
        result.update(next_opens_at=_iso(following.opens, window.tz), next_closes_at=_iso(following.closes, window.tz),
                      opens_in_s=int((following.opens - now).total_seconds()))
    else:  # pragma: no cover - every window recurs within a week
        result.update(next_opens_at=None, next_closes_at=None, opens_in_s=None)
    return result


def _iso(moment: datetime.datetime, tz: datetime.tzinfo) -> str:
    return moment.astimezone(tz).isoformat(timespec='seconds')


def describe(result: dict) -> str:
    days = ', '.join(d.capitalize() for d in result['days'])
    span = f"{days} {result['start']}-{result['end']} {result['timezone']}"
    if result['inside']:
        minutes = result['remaining_s'] // 60
        return f"inside the maintenance window ({span}): {minutes} min left, closes at {result['closes_at']}"
    return f"outside the maintenance window ({span}): it is {result['now']}; next window opens at {result['next_opens_at']}"
