#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: maintenance_window
short_description: Decide whether a maintenance run may start now, and when it must stop
version_added: 0.2.0
description:
  - Evaluates a recurring maintenance window (by default Sunday 02:00-05:00) in an explicit time
    zone, daylight-saving changes included, and refuses a run outside it unless O(force=true).
  - Inside the window it returns the time left and a RV(deadline) (ISO-8601, UTC) for
    M(runbook.maintenance.pg_vacuum), so no
    new table is started after the window closes. A forced run gets O(force_budget) from now instead.
  - A dry run (check mode) outside the window is allowed, with a warning, because it changes nothing
    and planning ahead of the window is its purpose.
  - Read-only; usually run once on the controller (C(delegate_to=localhost), C(run_once=true)).
author:
  - Runbook Maintainers (@runbook-maintenance)
attributes:
  check_mode:
    support: full
    description: Evaluates the window the same way; outside it, allows the dry run with a warning.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: Reads the clock only.
options:
  days:
    description: Days the window opens (V(sunday) or V(sun), any case).
    type: list
    elements: str
    default: [sunday]
  start:
    description: Wall-clock time the window opens (HH:MM) in O(timezone).
    type: str
    default: '02:00'
  end:
    description: Wall-clock time it closes (HH:MM); not after O(start) means the next day.
    type: str
    default: '05:00'
  timezone:
    description: IANA time zone of the window (V(Europe/Berlin), V(America/New_York), V(UTC)).
    type: str
    default: UTC
  force:
    description: Run outside the window (an operator's decision, recorded in the result).
    type: bool
    default: false
  force_budget:
    description: Time a forced run may use for new work (V(3h), V(90m)); the deadline is now plus this.
    type: str
    default: 3h
  min_remaining:
    description:
      - Refuse to start when less than this is left of the window (for example V(15m)), since work
        started at 04:58 cannot be finished by 05:00. V(0) disables the check.
    type: str
    default: 10m
  now:
    description:
      - Evaluate as if it were this time (ISO-8601 with an offset), to see what a scheduled run would
        do or to test the guard. The deadline stays relative to the real clock.
    type: str
'''

EXAMPLES = r'''
- name: Refuse to run outside Sunday 02:00-05:00 Berlin time
  runbook.maintenance.maintenance_window:
    days: [sunday]
    start: '02:00'
    end: '05:00'
    timezone: Europe/Berlin
    force: "{{ maintenance_force | default(false) }}"
  delegate_to: localhost
  run_once: true
  register: window

- name: Hand the time left to pg_vacuum
  runbook.maintenance.pg_vacuum:
    operation: weekly
    deadline: "{{ window.deadline }}"
'''

RETURN = r'''
allowed:
  description: Whether the run may go ahead (inside the window, forced, or a dry run).
  returned: always
  type: bool
inside:
  description: Whether the evaluated time is inside the window.
  returned: always
  type: bool
forced:
  description: Whether the run goes ahead only because of O(force).
  returned: always
  type: bool
deadline:
  description: When new work must stop (UTC, ISO-8601); empty when the run is not allowed.
  returned: always
  type: str
  sample: '2026-11-29T04:00:00+00:00'
remaining_s:
  description: Seconds left in the window (or of the forced budget).
  returned: always
  type: int
closes_at:
  description: When the current window closes, in the window's time zone; null outside it.
  returned: always
  type: str
next_opens_at:
  description: When the next window opens, in the window's time zone.
  returned: always
  type: str
window:
  description: The evaluation (days, start, end, timezone, now, opened_at, closes_at, next_opens_at, length_s).
  returned: always
  type: dict
msg:
  description: One readable line, e.g. why the run was refused.
  returned: always
  type: str
'''

import datetime

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import check_duration
from ansible_collections.runbook.maintenance.plugins.module_utils import window as win


class WindowGuard:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params

    def run(self) -> dict:
        p = self.params
        try:
            window = win.make_window(p['days'], p['start'], p['end'], p['timezone'])
            budget = check_duration('force_budget', p['force_budget'])
            min_remaining = check_duration('min_remaining', p['min_remaining'], allow_zero=True)
            real_now = datetime.datetime.now(datetime.timezone.utc)
            now = real_now
            if p['now']:
                now = datetime.datetime.fromisoformat(p['now'].replace('Z', '+00:00'))
                if now.tzinfo is None:
                    raise ValueError(f"now must carry an offset, e.g. '2026-11-29T02:30:00+01:00' (got {p['now']!r})")
        except ValueError as exc:
            self.module.fail_json(msg=f'maintenance window: {exc}')
        state = win.evaluate(window, now)
        result = {'changed': False, 'inside': state['inside'], 'forced': False, 'allowed': False, 'deadline': '',
                  'remaining_s': state['remaining_s'], 'closes_at': state['closes_at'],
                  'next_opens_at': state['next_opens_at'], 'window': state}
        description = win.describe(state)
        if state['inside'] and state['remaining_s'] >= min_remaining:
            result.update(allowed=True, msg=description,
                          deadline=(real_now + datetime.timedelta(seconds=state['remaining_s'])).isoformat(timespec='seconds'))
            return result
        if state['inside']:
            reason = (f"only {state['remaining_s'] // 60} min left in the maintenance window (less than "
                      f"min_remaining {p['min_remaining']}): not starting")
        else:
            reason = description
        if p['force']:
            result.update(allowed=True, forced=True, remaining_s=int(budget),
                          deadline=(real_now + datetime.timedelta(seconds=budget)).isoformat(timespec='seconds'),
                          msg=f'{reason}; forced (maintenance_force), new work stops after {p["force_budget"]}')
            self.module.warn(f'running outside the maintenance window because it was forced: {reason}')
            return result
        if self.module.check_mode:
            result.update(allowed=True, remaining_s=int(window.length.total_seconds()),
                          deadline=(real_now + window.length).isoformat(timespec='seconds'),
                          msg=f'{reason}; a dry run is allowed (it changes nothing)')
            self.module.warn(f'dry run outside the maintenance window: {reason}')
            return result
        result['msg'] = f'{reason}. Refusing to run; set maintenance_force=true to run anyway.'
        self.module.fail_json(**result)
        return result  # pragma: no cover


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            days=dict(type='list', elements='str', default=['sunday']),
            start=dict(type='str', default='02:00'),
            end=dict(type='str', default='05:00'),
            timezone=dict(type='str', default='UTC'),
            force=dict(type='bool', default=False),
            force_budget=dict(type='str', default='3h'),
            min_remaining=dict(type='str', default='10m'),
            now=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**WindowGuard(module).run())


if __name__ == '__main__':
    main()
