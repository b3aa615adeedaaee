# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Free space per filesystem, its growth since the previous measurement and the days until full
(pure functions; the disk_space module measures and keeps the state)."""

from __future__ import annotations

import os

DAY = 86400.0


def mount_point(path: str) -> str:
    """The mount point of the filesystem holding path (walks up until the device changes)."""
    path = os.path.realpath(path)
    while not os.path.ismount(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def measure(path: str) -> dict:
    """Size and free space of the filesystem holding path, as df -P reports them (free = space an
    unprivileged user may still use)."""
    st = os.statvfs(path)
    total = st.f_blocks * st.f_frsize
    available = st.f_bavail * st.f_frsize
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    return {'size_total': total, 'size_available': available, 'size_used': used,
            'free_percent': free_percent(available, total)}


def free_percent(available: int, total: int) -> float:
    return round(available * 100.0 / total, 1) if total > 0 else 100.0


def growth(previous: dict | None, used_now: int, now: float) -> dict:
    """Growth of the used space since a previous record {'at': epoch, 'used': bytes}.
    Returns interval_s, growth_bytes (negative: space was freed) and growth_bytes_per_day, each None
    without a usable previous record (none, from the future, or not numbers)."""
    empty = {'previous_at': None, 'interval_s': None, 'growth_bytes': None, 'growth_bytes_per_day': None}
    if not isinstance(previous, dict):
        return empty
    at, used = previous.get('at'), previous.get('used')
    if isinstance(at, bool) or isinstance(used, bool) or not isinstance(at, (int, float)) \
            or not isinstance(used, (int, float)):
        return empty
    interval = now - at
    if interval <= 0:
        return empty
    delta = used_now - used
    return {'previous_at': at, 'interval_s': round(interval, 1), 'growth_bytes': int(delta),
            'growth_bytes_per_day': round(delta * DAY / interval, 1)}


def days_until_full(available: int, bytes_per_day: float | None) -> float | None:
    """Days until no space is left at a steady growth rate; None when the usage does not grow."""
    if bytes_per_day is None or bytes_per_day <= 0:
        return None
    return round(max(available, 0) / bytes_per_day, 1)
