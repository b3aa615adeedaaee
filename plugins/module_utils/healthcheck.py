# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pre- and post-maintenance checks of the runbook in one pass (runbook.maintenance.health_check).

The pure part, turning measurements into the failure messages of roles/maintenance_checks (word for
word: tests, docs and on-call people grep them), is here so it can be unit-tested; the module
measures.
"""

from __future__ import annotations

import os
import stat
import time

# One query, read-only: recovery state, data directory (when this role may read it), replication
# lag (standbys' replay lag on a primary, time since the last replay on a standby), standbys.
STATE_QUERY = """
SELECT version() AS version,
       pg_is_in_recovery() AS in_recovery,
       CASE WHEN pg_has_role(current_user, 'pg_read_all_settings', 'member')
            THEN current_setting('data_directory') ELSE '' END AS data_directory,
       CASE WHEN pg_is_in_recovery()
            THEN COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0)
            ELSE COALESCE((SELECT max(EXTRACT(EPOCH FROM replay_lag)) FROM pg_stat_replication), 0)
       END::float AS lag_s,
       (SELECT count(*) FROM pg_stat_replication)::int AS standbys
"""


def version_full(version_text: str) -> str:
    """'15.10' from 'PostgreSQL 15.10 (Debian 15.10-0+deb12u1) on x86_64...', as postgresql_ping reports it."""
    parts = (version_text or '').split()
    return parts[1] if len(parts) > 1 else ''


def newest_manifest_age(directory: str, now: float | None = None) -> tuple[int, str | None]:
    """(age in whole seconds of the newest '*.json' file under directory, its path), or (-1, None)
    when there is none (or no such directory). Hidden files and directories (work files of a
    running backup) and symlinks are not counted, nothing is followed: as the role's find did."""
    now = time.time() if now is None else now
    try:
        if not stat.S_ISDIR(os.lstat(directory).st_mode) and not os.path.isdir(directory):
            return -1, None
    except OSError:
        return -1, None
    newest, newest_path = None, None
    for root, dirs, files in os.walk(directory):
        dirs[:] = [name for name in dirs if not name.startswith('.')]
        for name in files:
            if name.startswith('.') or not name.endswith('.json'):
                continue
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if newest is None or info.st_mtime > newest:
                newest, newest_path = info.st_mtime, path
    if newest is None:
        return -1, None
    return int(now - newest), newest_path


def prefix(phase: str) -> str:
    return f'{phase}-check failed:'


def postgres_failures(phase: str, measured: dict, require_primary: bool, host_label: str,
                      max_lag_s: float | None, max_lag_text: str, setting_prefix: str) -> list[str]:
    """The failures of the PostgreSQL checks, in the role's order. A PostgreSQL that does not answer
    is the only one then (nothing else could be measured)."""
    if not measured['postgres_available']:
        return [f"{prefix(phase)} PostgreSQL does not answer ({measured.get('conn_err_msg') or 'no detail'})."]
    failures = []
    if require_primary and measured['in_recovery']:
        failures.append(f'{prefix(phase)} {host_label} is a standby (in recovery) and '
                        f'{setting_prefix}require_primary is true.')
    lag = measured['replication_lag_s']
    if max_lag_s is not None and lag > max_lag_s:
        failures.append(f'{prefix(phase)} replication lag is {round(lag, 1)} s, above '
                        f'{setting_prefix}max_replication_lag_s={max_lag_text}.')
    return failures


def disk_failure(phase: str, filesystem: dict, min_free_text: str, emergency_free_text: str, host_label: str) -> str:
    """The failure of a filesystem short of space, naming the emergency command when it is due."""
    if filesystem['emergency']:
        advice = (f'Under {emergency_free_text}%: run the disk-space emergency now (runbook: within 10 minutes): '
                  f"ansible-playbook playbooks/disk-emergency.yml -l {host_label} -e disk_emergency_path={filesystem['mount']}")
    else:
        advice = 'Run the disk-space emergency procedure first (playbooks/disk-emergency.yml).'
    return (f"{prefix(phase)} only {filesystem['free_percent']}% free on {filesystem['mount']} "
            f"(holding {filesystem['path']}), the threshold is {min_free_text}%. {advice}")


def backup_failure(phase: str, age_s: int, max_age_s: float | None, directory: str, max_age_text: str) -> str | None:
    if max_age_s is None:
        return None
    if age_s < 0:
        return f'{prefix(phase)} no backup found under {directory}.'
    if age_s > max_age_s:
        return f'{prefix(phase)} the newest backup is {age_s // 3600} h old, more than {max_age_text}.'
    return None


def breaker_failure(phase: str, name: str, state: str, reason) -> str:
    return (f'{prefix(phase)} circuit breaker {name} is {state} ({reason}). '
            'Close it once the cause is fixed.')


def filesize(value) -> str:
    """Jinja's filesizeformat(true), which the role's display used: binary units, one decimal."""
    size = float(value)
    if size == 1:
        return '1 Byte'
    if size < 1024:
        return f'{int(size)} Bytes'
    unit, name = 1024, 'KiB'
    for index, name in enumerate(['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB', 'ZiB', 'YiB']):
        unit = 1024 ** (index + 2)
        if size < unit:
            break
    return f'{1024 * size / unit:.1f} {name}'


def disk_line(filesystem: dict) -> str:
    """What the role showed per filesystem: free space, growth, days until full."""
    growth = filesystem.get('growth_bytes')
    if growth is not None and growth >= 0:
        change = f"grew {filesize(growth)} in {round(filesystem['interval_s'] / 3600, 1)} h, "
    elif growth is not None:
        change = f'shrank {filesize(-growth)}, '
    else:
        change = 'no previous report, '
    days = filesystem.get('days_until_full')
    until = f'full in {days} days at that rate' if days is not None else 'not filling up'
    return (f"{filesystem['mount']}: {filesystem['free_percent']}% free ({filesize(filesystem['size_available'])}), "
            f'{change}{until}')
