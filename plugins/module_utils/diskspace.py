# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Free space per filesystem, its growth since the previous measurement and the days until full
(pure functions), and DiskSpace, the measurement with its state file that the disk_space and
health_check modules share."""

from __future__ import annotations

import json
import os
import stat
import time

from ansible_collections.runbook.maintenance.plugins.module_utils.jsonfile import write_json_atomic

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


class DiskSpace:
    """What the disk_space module does (runbook.maintenance.health_check does the same): measure
    paths' filesystems, and keep the measurement in the state file (not in check mode).
    module supplies params (paths, state_file, min_free_percent, emergency_free_percent),
    check_mode and warn()."""

    def __init__(self, module, params: dict | None = None) -> None:
        self.module = module
        self.params = module.params if params is None else params

    def read_state(self, path: str) -> dict:
        """The previous state, or {} (none, unreadable, planted: a symlink, not a regular file, or
        owned by someone else)."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, 'O_NONBLOCK', 0))
        except FileNotFoundError:
            return {}
        except OSError as exc:
            self.module.warn(f'disk_space: ignoring the state file {path}: {exc.strerror} (a symbolic link is never followed)')
            return {}
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_size > 1024 * 1024:
                self.module.warn(f'disk_space: ignoring the state file {path}: not a regular file of this user '
                                 '(or too big); it is replaced')
                return {}
            with os.fdopen(fd, 'r', encoding='utf-8') as handle:
                fd = None
                data = json.load(handle)
        except (OSError, ValueError) as exc:
            self.module.warn(f'disk_space: ignoring the unreadable state file {path}: {exc}')
            return {}
        finally:
            if fd is not None:
                os.close(fd)
        return data if isinstance(data, dict) and isinstance(data.get('filesystems'), dict) else {}

    def run(self) -> dict:
        now = time.time()
        state_file = self.params['state_file']
        previous = self.read_state(state_file).get('filesystems', {}) if state_file else {}
        filesystems, by_mount, missing = [], {}, []
        for path in self.params['paths']:
            if not os.path.exists(path):
                missing.append(path)
                continue
            mount = mount_point(path)
            if mount in by_mount:
                by_mount[mount]['paths'].append(path)
                continue
            entry = {'path': path, 'paths': [path], 'mount': mount, **measure(path)}
            entry.update(growth(previous.get(mount), entry['size_used'], now))
            entry['days_until_full'] = days_until_full(entry['size_available'], entry['growth_bytes_per_day'])
            entry['low'] = entry['free_percent'] < self.params['min_free_percent']
            entry['emergency'] = entry['free_percent'] < self.params['emergency_free_percent']
            by_mount[mount] = entry
            filesystems.append(entry)
        written = False
        if state_file and not self.module.check_mode and filesystems:
            directory = os.path.dirname(os.path.abspath(state_file))
            if not os.path.isdir(directory):
                os.makedirs(directory, mode=0o700, exist_ok=True)
            kept = {m: r for m, r in previous.items() if isinstance(r, dict)}
            kept.update({f['mount']: {'at': now, 'used': f['size_used'], 'size_total': f['size_total']}
                         for f in filesystems})
            try:
                write_json_atomic(state_file, {'version': 1, 'filesystems': kept}, indent=1,
                                  trailing_newline=True, mode=0o600)
                written = True
            except OSError as exc:
                self.module.warn(f'disk_space: could not write the state file {state_file}: {exc}')
        return {'changed': False, 'filesystems': filesystems, 'missing': missing, 'state_written': written}
