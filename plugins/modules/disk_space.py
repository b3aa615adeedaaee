#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: disk_space
short_description: Free space per filesystem, its growth since the previous report and the days until full
version_added: 0.1.0
description:
  - Measures the filesystems holding O(paths) (one entry per filesystem), compares the used space
    with the previous measurement kept in O(state_file), and returns the growth, the growth per
    day and the days until the filesystem is full at that rate.
  - Flags the filesystems under O(emergency_free_percent) free (the runbook's disk-space emergency,
    5%) and under O(min_free_percent).
  - The state file is private (mode 0600), written atomically (temporary file beside it, then a
    rename), and never read through a symbolic link or from a file another user owns; such a file
    is ignored (with a warning) and replaced.
  - One module call for every path, so the weekly window's pre-check stays cheap.
author:
  - Runbook Maintainers (@runbook-maintenance)
attributes:
  check_mode:
    support: full
    description: Measures and compares (read-only) and writes no state.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: partial
    description: Only the state file changes (a new measurement each run); it is not reported as a change.
options:
  paths:
    description: Paths whose filesystems are measured (missing paths are reported, not measured).
    type: list
    elements: path
    required: true
  state_file:
    description: JSON file keeping the previous measurement per filesystem; empty for no growth tracking.
    type: path
    default: ''
  emergency_free_percent:
    description: Free space (percent) under which the disk-space emergency is due.
    type: float
    default: 5
  min_free_percent:
    description: Free space (percent) under which a filesystem is reported as low.
    type: float
    default: 10
'''

EXAMPLES = r'''
- name: Free space, growth and days until full
  runbook.maintenance.disk_space:
    paths: [/var/lib/postgresql, /var/log]
    state_file: /var/lib/runbook-maintenance/disk-usage.json
  register: disk

- name: Name the emergency procedure for a filesystem under 5%
  ansible.builtin.debug:
    msg: "ansible-playbook playbooks/disk-emergency.yml -l {{ inventory_hostname }} -e disk_emergency_path={{ item.mount }}"
  loop: "{{ disk.filesystems | selectattr('emergency') }}"
'''

RETURN = r'''
filesystems:
  description: One entry per filesystem, in the order of O(paths).
  returned: always
  type: list
  elements: dict
  contains:
    path:
      description: The first of O(paths) on this filesystem.
      type: str
    paths:
      description: Every path of O(paths) on it.
      type: list
      elements: str
    mount:
      description: Mount point.
      type: str
    size_total:
      description: Size in bytes.
      type: int
    size_available:
      description: Bytes free for unprivileged use (as df reports).
      type: int
    size_used:
      description: Bytes in use.
      type: int
    free_percent:
      description: Free space in percent (one decimal).
      type: float
    previous_at:
      description: When the previous measurement was taken (Unix time), or null.
      type: float
    interval_s:
      description: Seconds since the previous measurement, or null.
      type: float
    growth_bytes:
      description: Growth of the used space since then (negative when freed), or null.
      type: int
    growth_bytes_per_day:
      description: That growth per day, or null.
      type: float
    days_until_full:
      description: Days until full at that rate; null when it does not grow.
      type: float
    low:
      description: Under O(min_free_percent).
      type: bool
    emergency:
      description: Under O(emergency_free_percent).
      type: bool
missing:
  description: Paths that do not exist (not measured).
  returned: always
  type: list
  elements: str
state_written:
  description: Whether the state file was written (not in check mode, not without O(state_file)).
  returned: always
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.diskspace import DiskSpace


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            'paths': {'type': 'list', 'elements': 'path', 'required': True},
            'state_file': {'type': 'path', 'default': ''},
            'emergency_free_percent': {'type': 'float', 'default': 5},
            'min_free_percent': {'type': 'float', 'default': 10},
        },
        supports_check_mode=True,
    )
    for name in ('emergency_free_percent', 'min_free_percent'):
        value = module.params[name]
        if not 0 < value <= 100:  # also refuses NaN; 100 makes every filesystem count as short
            module.fail_json(msg=f'{name} must be a percentage above 0 and at most 100, got {value}')
    if not module.params['paths']:
        module.fail_json(msg='paths must name at least one path')
    module.exit_json(**DiskSpace(module).run())


if __name__ == '__main__':
    main()
