# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""duration_seconds: '26h' -> 93600.0, the same parser the modules use (module_utils/timeutil.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import parse_duration


def duration_seconds(value) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise AnsibleFilterError(f'duration_seconds: {exc}') from exc


class FilterModule:
    def filters(self):
        return {'duration_seconds': duration_seconds}
