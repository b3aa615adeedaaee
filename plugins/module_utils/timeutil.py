# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Durations and deadlines as operators write them ('90s', '12h', '7d', ISO-8601)."""

from __future__ import annotations

import datetime
import re

_UNITS = {'ms': 0.001, 's': 1, 'm': 60, 'min': 60, 'h': 3600, 'd': 86400, 'w': 604800}
_DURATION_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d|w)?\s*$', re.IGNORECASE)


def parse_duration(value, default_unit: str = 's') -> float:
    """Seconds in '90', '90s', '15min', '12h', '7d', '1w' (or a number). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f'not a duration: {value!r}')
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f'a duration cannot be negative: {value!r}')
        return float(value) * _UNITS[default_unit]
    match = _DURATION_RE.match(str(value))
    if not match:
        raise ValueError(f"not a duration: {value!r} (expected a number with an optional unit "
                         f"ms, s, m/min, h, d or w, e.g. '90s', '12h', '7d')")
    number, unit = match.groups()
    return float(number) * _UNITS[(unit or default_unit).lower()]


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
