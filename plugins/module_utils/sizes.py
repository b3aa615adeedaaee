# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizes as options give them (500, '10k', '20M', '1.5GiB'): the one parser of the collection.

Every size option of every module (min_size, target_free_bytes, wal_segment_size,
min_bloat_bytes, ...) is read by check_size, so the same text means the same bytes everywhere
and an absurd value fails the same way, naming its option.
"""

from __future__ import annotations

import math
import re

_SIZE_UNITS = {'': 1, 'b': 1, 'k': 1024, 'kb': 1024, 'kib': 1024, 'm': 1024 ** 2, 'mb': 1024 ** 2, 'mib': 1024 ** 2,
               'g': 1024 ** 3, 'gb': 1024 ** 3, 'gib': 1024 ** 3, 't': 1024 ** 4, 'tb': 1024 ** 4, 'tib': 1024 ** 4}
_SIZE_RE = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$')


# The largest size any option accepts (1 EiB): beyond it a value is a typo, never an intention.
MAX_SIZE_BYTES = 1024 ** 6


def parse_size(value) -> int:
    """Bytes in 500, '500', '10k', '10M', '1.5GiB'. Raises ValueError (also for NaN, infinity
    and values beyond MAX_SIZE_BYTES, which int() would turn into an OverflowError or nonsense)."""
    if isinstance(value, bool):
        raise ValueError(f'not a size: {value!r}')
    if isinstance(value, (int, float)):
        number = float(value) if isinstance(value, float) else value
        unit = 1
    else:
        match = _SIZE_RE.match(str(value))
        if not match or match.group(2).lower() not in _SIZE_UNITS:
            raise ValueError(f"not a size: {value!r} (e.g. 500, '10k', '20M', '1G')")
        number, unit = float(match.group(1)), _SIZE_UNITS[match.group(2).lower()]
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(f'not a finite size: {value!r}')
    if number < 0:
        raise ValueError(f'a size cannot be negative: {value!r}')
    if number * unit > MAX_SIZE_BYTES:
        raise ValueError(f'{value!r} is beyond the sane maximum of 1 EiB')
    return int(number * unit)


def check_size(name: str, value, allow_zero: bool = True, maximum: int = MAX_SIZE_BYTES) -> int:
    """Bytes of the size option `name`, or ValueError whose message names the option."""
    try:
        size = parse_size(value)
    except ValueError as exc:
        raise ValueError(f'{name}: {exc}') from None
    if size == 0 and not allow_zero:
        raise ValueError(f'{name} must be positive, got {value!r}')
    if size > maximum:
        raise ValueError(f'{name} is {value!r}, beyond the sane maximum of {maximum} bytes')
    return size
