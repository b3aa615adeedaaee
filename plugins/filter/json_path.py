# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""json_path: the value at a dotted path of keys (and list indexes) in parsed JSON, or None.

Written by hand because community.general.json_query needs jmespath (not a dependency of the
collection) and a missing key must give None (the caller reports what it found), not an error.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def json_path(data, path):
    if not isinstance(path, str) or not path.strip():
        raise AnsibleFilterError('json_path: the path must be a non-empty string such as state or breaker.state')
    value = data
    for part in path.strip().split('.'):
        if isinstance(value, dict):
            if part not in value:
                return None
            value = value[part]
        elif isinstance(value, list) and part.lstrip('-').isdigit():
            index = int(part)
            if not -len(value) <= index < len(value):
                return None
            value = value[index]
        else:
            return None
    return value


class FilterModule:
    def filters(self):
        return {'json_path': json_path}
