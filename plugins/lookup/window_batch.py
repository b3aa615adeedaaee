# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""window_batch: the batch size (serial) that gets a fleet through what is left of the window."""

from __future__ import annotations

DOCUMENTATION = r'''
name: window_batch
author:
  - Runbook Maintainers (@runbook-maintenance)
version_added: 0.2.0
short_description: The batch size that gets a fleet through the maintenance window
description:
  - Plans the rolling batches of a maintenance window on the controller. The cost of one host is
    measured from the newest reports of the procedure in O(report_dir) (the JSON reports
    roles/maintenance_report writes, their C(duration_s); dry runs are left out); without such
    reports it is O(assumed_cost). The time left is what is left of the window now (the same
    arithmetic as runbook.maintenance.maintenance_window), or O(remaining).
  - The batch size is the smallest that fits - one host at a time when the whole fleet fits one
    after the other, else the fleet spread over the batches that fit the time left, each
    taking the cost of one host times O(margin). When not even one batch fits, the whole fleet
    is one batch and RV(_raw[].fits) is false.
  - Returns one dictionary (use C(lookup(...)) or C(query(...)) and take the first element).
  - playbooks/maintenance-window.yml uses it unless C(maintenance_serial) is set.
options:
  _terms:
    description: The hosts of the fleet (e.g. C(ansible_play_hosts_all)); their number is the fleet size.
    type: list
    elements: str
    required: true
  report_dir:
    description: Directory of the reports on the controller (roles/maintenance_report's C(maintenance_report_dir)).
    type: path
    default: /var/tmp/runbook-reports
  procedure:
    description: Procedure whose reports measure the cost (C(weekly), C(monthly)).
    type: str
    default: weekly
  history:
    description: How many of the newest reports of the procedure are read; the cost is the longest of them.
    type: int
    default: 10
  assumed_cost:
    description: Cost of one host when there is no report yet, as a duration (V(30m), V(900)).
    type: str
    default: 30m
  margin:
    description: The measured cost is multiplied by this (a host may take longer than last time).
    type: float
    default: 1.25
  max_batch:
    description: Largest batch allowed (0 - no limit beyond the fleet size).
    type: int
    default: 0
  remaining:
    description:
      - Seconds (or a duration) left for the fleet. Unset - computed from the window options
        below, the whole window length when the run is outside it (a dry run, or a run the
        window refuses), O(window_force_budget) when O(window_force) is true outside it.
    type: str
  window_days:
    description: Days of the window (as C(maintenance_window_days)).
    type: list
    elements: str
    default: [sunday]
  window_start:
    description: Start of the window, HH:MM.
    type: str
    default: "02:00"
  window_end:
    description: End of the window, HH:MM.
    type: str
    default: "05:00"
  window_timezone:
    description: Time zone of the window (IANA name).
    type: str
    default: UTC
  window_now:
    description: Evaluate as if it were this time (ISO-8601 with an offset); empty - the clock.
    type: str
    default: ""
  window_force:
    description: A forced run outside the window (C(maintenance_force)).
    type: bool
    default: false
  window_force_budget:
    description: Time a forced run may use (C(maintenance_window_force_budget)).
    type: str
    default: 3h
'''

EXAMPLES = r'''
- name: Plan the batches of 40 hosts in what is left of the window
  ansible.builtin.debug:
    msg: "{{ lookup('runbook.maintenance.window_batch', ansible_play_hosts_all, report_dir='/var/tmp/runbook-reports').msg }}"
  run_once: true
'''

RETURN = r'''
_raw:
  description: One dictionary, the plan.
  type: list
  elements: dict
  contains:
    serial:
      description: The batch size.
      type: int
    fleet:
      description: The number of hosts.
      type: int
    batches:
      description: How many batches that makes.
      type: int
    cost_s:
      description: Seconds one batch is expected to take (the cost of one host times O(margin)).
      type: float
    basis:
      description: Where the cost comes from (the reports read, or the assumption).
      type: str
    remaining_s:
      description: Seconds left for the fleet.
      type: float
    fits:
      description: Whether the fleet fits the time left at that batch size.
      type: bool
    msg:
      description: The plan in one sentence.
      type: str
'''

import datetime
import json
import math
import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import parse_duration
from ansible_collections.runbook.maintenance.plugins.module_utils.window import evaluate, make_window


def read_reports(report_dir: str) -> list[dict]:
    """The JSON reports in a directory (unreadable or malformed files are skipped)."""
    reports = []
    try:
        names = os.listdir(report_dir)
    except OSError:
        return reports
    for name in names:
        if not name.endswith('.json') or name.startswith('fleet-'):
            continue
        try:
            with open(os.path.join(report_dir, name), encoding='utf-8') as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            reports.append(data)
    return reports


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def measured_cost(reports: list[dict], procedure: str, history: int = 10) -> tuple[float | None, int]:
    """The longest duration among the newest `history` real (not dry) runs of the procedure that
    finished, and how many reports that is; (None, 0) without any."""
    runs = []
    for report in reports:
        if report.get('procedure') != procedure or str(report.get('check_mode')).lower() == 'true':
            continue
        duration = _number(report.get('duration_s'))
        if duration is None or duration == 0:
            continue
        runs.append((_number(report.get('finished_epoch')) or 0.0, duration))
    runs.sort(reverse=True)
    newest = runs[:max(int(history), 1)]
    if not newest:
        return None, 0
    return max(entry[1] for entry in newest), len(newest)


def plan_batches(fleet: int, cost_s: float, remaining_s: float, max_batch: int = 0) -> dict:
    """The smallest batch size that gets `fleet` hosts through `remaining_s` when a batch takes
    `cost_s`; the whole fleet (capped at max_batch) when nothing fits."""
    if fleet < 0 or cost_s <= 0 or remaining_s < 0 or max_batch < 0:
        raise ValueError('fleet, remaining and max_batch must not be negative, the cost must be positive')
    if fleet == 0:
        return {'serial': 1, 'batches': 0, 'fits': True}
    cap = min(max_batch, fleet) if max_batch else fleet
    slots = int(remaining_s // cost_s)  # batches that fit one after the other
    if slots <= 0:
        return {'serial': cap, 'batches': math.ceil(fleet / cap), 'fits': False}
    serial = min(math.ceil(fleet / slots), cap)
    batches = math.ceil(fleet / serial)
    return {'serial': serial, 'batches': batches, 'fits': batches <= slots}


def window_remaining(days, start: str, end: str, timezone: str, now: str = '', force: bool = False,
                     force_budget: str = '3h') -> float:
    """Seconds left of the window now; its whole length outside it (a dry run plans a window), the
    force budget for a forced run outside it."""
    window = make_window(days, start, end, timezone)
    if now:
        moment = datetime.datetime.fromisoformat(str(now).replace('Z', '+00:00'))
        if moment.tzinfo is None:
            raise ValueError(f'window_now must carry an offset (got {now!r})')
    else:
        moment = datetime.datetime.now(datetime.timezone.utc)
    state = evaluate(window, moment)
    if state['inside']:
        return float(state['remaining_s'])
    return parse_duration(force_budget) if force else float(state['length_s'])


def plan(hosts, report_dir: str, procedure: str = 'weekly', history: int = 10, assumed_cost='30m',
         margin: float = 1.25, max_batch: int = 0, remaining=None, **window) -> dict:
    fleet = len(hosts)
    if margin < 1:
        raise ValueError(f'margin must be at least 1 (got {margin})')
    cost, count = measured_cost(read_reports(report_dir), procedure, history)
    if cost is None:
        cost, basis = parse_duration(assumed_cost), f'assumed (no {procedure} report in {report_dir})'
    else:
        basis = f'the longest of the newest {count} {procedure} reports in {report_dir}'
    if remaining in (None, ''):
        remaining_s = window_remaining(**window)
    else:
        remaining_s = parse_duration(remaining)
    cost_s = round(cost * margin, 1)
    result = plan_batches(fleet, cost_s, remaining_s, max_batch)
    result.update(fleet=fleet, cost_s=cost_s, basis=basis, remaining_s=remaining_s)
    result['msg'] = (f"{fleet} hosts in batches of {result['serial']} ({result['batches']} batches of about "
                     f"{cost_s:.0f}s each: {basis}, times {margin:g}) in {remaining_s:.0f}s left"
                     + ('' if result['fits'] else ': the fleet does NOT fit the time left'))
    return result


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        hosts = terms[0] if len(terms) == 1 and isinstance(terms[0], list) else terms
        opts = {name: self.get_option(name) for name in (
            'report_dir', 'procedure', 'history', 'assumed_cost', 'margin', 'max_batch', 'remaining')}
        window = {'days': self.get_option('window_days'), 'start': self.get_option('window_start'),
                  'end': self.get_option('window_end'), 'timezone': self.get_option('window_timezone'),
                  'now': self.get_option('window_now') or '', 'force': self.get_option('window_force'),
                  'force_budget': self.get_option('window_force_budget')}
        try:
            return [plan([str(h) for h in hosts], **opts, **window)]
        except ValueError as exc:
            raise AnsibleLookupError(f'window_batch: {exc}') from exc
