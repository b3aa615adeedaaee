# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations and deadlines as operators write them ('90s', '12h', '7d', ISO-8601)."""

from __future__ import annotations

import datetime
import math
import re

_UNITS = {'ms': 0.001, 's': 1, 'm': 60, 'min': 60, 'h': 3600, 'd': 86400, 'w': 604800}
_DURATION_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)?\s*$', re.IGNORECASE)


# The longest duration any option of the collection accepts: beyond it a value is a typo
# (or '1e400'), never an intention.
MAX_DURATION_S = 100 * 365 * 86400.0
# lock_timeout, statement_timeout and the like are ints of milliseconds in PostgreSQL.
PG_TIMEOUT_MAX_S = 2147483647 / 1000.0


def _finite(number: float, value) -> float:
    if not math.isfinite(number):
        raise ValueError(f'not a finite duration: {value!r}')
    return number


def parse_duration(value, default_unit: str = 's') -> float:
    """Seconds in '90', '90s', '15min', '12h', '7d', '1w' (or a number). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f'not a duration: {value!r}')
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f'a duration cannot be negative: {value!r}')
        try:
            return _finite(float(value) * _UNITS[default_unit], value)
        except OverflowError:
            raise ValueError(f'not a finite duration: {value!r}') from None
    match = _DURATION_RE.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (expected a number with an optional unit "
                         f"ms, s, m/min, h, d or w, e.g. '90s', '12h', '7d')")
    number, unit = match.groups()
    return _finite(float(number) * _UNITS[(unit or default_unit).lower()], value)


def describe_seconds(seconds: float) -> str:
    """'100 years', '24.8 days', '3 hours' - a bound in words."""
    for unit, size in (('years', 365 * 86400), ('days', 86400), ('hours', 3600), ('minutes', 60)):
        if seconds >= size:
            return f'{seconds / size:.3g} {unit}'
    return f'{seconds:.3g} seconds'


def check_duration(name: str, value, allow_zero: bool = False, minimum: float = 0.0,
                   maximum: float = MAX_DURATION_S, default_unit: str = 's') -> float:
    """Seconds of the option `name`, or ValueError whose message names the option.

    Refuses what is not a duration ('abc', '1e400', 'inf', 'nan', negative numbers), 0 unless
    allow_zero (for a timeout, 0 usually means "wait forever": a bound must be a bound), values
    below `minimum` (a positive value that would round to 0 where it is used) and values beyond
    `maximum` (100 years by default).
    """
    try:
        seconds = parse_duration(value, default_unit)
    except ValueError as exc:
        raise ValueError(f'{name}: {exc}') from None
    if seconds == 0 and not allow_zero:
        raise ValueError(f'{name} must be positive, got {value!r} (0 would mean no bound at all)')
    if seconds and seconds < minimum:
        raise ValueError(f'{name} must be at least {minimum * 1000:g}ms, got {value!r}')
    if seconds > maximum:
        raise ValueError(f'{name} is {value!r}, beyond the sane maximum of {describe_seconds(maximum)}')
    return seconds


def check_pg_timeout(name: str, value, default_unit: str = 's') -> str:
    """A positive PostgreSQL timeout ('5000ms') for `name`: at least 1ms (0 means no timeout
    in PostgreSQL), at most what PostgreSQL accepts (about 24.8 days). Raises ValueError."""
    seconds = check_duration(name, value, minimum=0.001, maximum=PG_TIMEOUT_MAX_S, default_unit=default_unit)
    return f'{int(round(seconds * 1000))}ms'


def duration_errors(params: dict, rules: dict) -> list:
    """The problems of the duration options named in rules ({name: check_duration keywords});
    options that are None or '' are not set and not checked."""
    errors = []
    for name, keywords in rules.items():
        if params.get(name) in (None, ''):
            continue
        try:
            check_duration(name, params[name], **keywords)
        except ValueError as exc:
            errors.append(str(exc))
    return errors


def pg_interval(value) -> str:
    """A duration in the form PostgreSQL settings accept ('5000ms')."""
    return f'{int(round(parse_duration(value) * 1000))}ms'


def parse_deadline(value: str, now: datetime.datetime | None = None) -> datetime.datetime:
    """An aware datetime from ISO-8601 ('2026-11-29T05:00:00+01:00') or a clock time ('05:00').

    A naive value is taken in the host's local time zone; a bare clock time means its next
    occurrence (today if still ahead, else tomorrow).
    """
    now = now or datetime.datetime.now().astimezone()
    text = str(value).strip()
    if re.match(r'^\d{1,2}:\d{2}(:\d{2})?$', text):
        clock = datetime.time.fromisoformat(text.zfill(5) if len(text) == 4 else text)
        candidate = now.replace(hour=clock.hour, minute=clock.minute, second=clock.second, microsecond=0)
        if candidate <= now:
            candidate += datetime.timedelta(days=1)
        return candidate
    try:
        parsed = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 time: {value!r} (e.g. '2026-11-29T05:00:00+01:00' or '05:00')") from exc
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()
    return parsed
