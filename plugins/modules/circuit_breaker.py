#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: circuit_breaker
short_description: A circuit breaker whose state survives across tasks, runs and processes
version_added: 0.1.0
description:
  - Keeps a named breaker (C(closed), C(open), C(half_open)) in a JSON file, so a failure seen by
    one task or run stops risky steps in later ones. Consecutive failures open it; after
    O(reset_timeout) it lets a trial through (C(half_open)); successes close it again (a success
    recorded while it is open counts as a successful trial).
  - State changes are made under an exclusive file lock and written atomically, so concurrent
    tasks count every event and a process killed mid-write never leaves a corrupt file.
  - On every state change it can POST the new state as JSON to an HTTP endpoint (for example a
    service's admin circuit-breaker API); the breaker's own state is kept even if that fails.
author:
  - Runbook Maintainers (@runbook-maintenance)
attributes:
  check_mode:
    support: full
    description: Reports the transition it would make and writes nothing (no file, no notification).
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: partial
    description: C(check), C(status), C(open) and C(close) are idempotent; recording events counts them.
options:
  name:
    description: The breaker's name (letters, digits, C(.), C(_), C(-)), e.g. V(backups), V(maintenance).
    type: str
    required: true
  state_dir:
    description:
      - Directory of the state files on the host that runs the task. Use C(delegate_to=localhost)
        to keep the state on the controller.
    type: path
    default: /var/lib/runbook-maintenance/breakers
  action:
    description:
      - V(check) fails when the breaker is open (unless O(fail_when_open=false)); an open breaker
        whose O(reset_timeout) has passed becomes C(half_open) and lets a trial through.
      - V(record_success), V(record_failure) (with O(reason)) count events; V(open) (with
        O(reason)) opens it by hand until V(close); V(status) only reads.
    type: str
    default: check
    choices: [check, record_success, record_failure, open, close, status]
  reason:
    description: Why, for V(record_failure) and V(open); kept in the state and reported.
    type: str
    default: ''
  failure_threshold:
    description: Consecutive failures that open the breaker.
    type: int
    default: 3
  success_threshold:
    description: Successes in C(half_open) that close it.
    type: int
    default: 1
  reset_timeout:
    description: How long an open breaker stays open before a trial (V(90s), V(15m), V(1h)).
    type: str
    default: 1h
  fail_when_open:
    description: With V(check), fail the task when the breaker is open.
    type: bool
    default: true
  notify_url:
    description: On every state change, POST the new state as JSON here.
    type: str
  url_headers:
    description: Extra HTTP headers of the notification.
    type: dict
    default: {}
  url_token:
    description: Bearer token sent in the C(Authorization) header of the notification.
    type: str
  url_timeout:
    description: Seconds to wait for the endpoint, per attempt.
    type: int
    default: 5
  url_retries:
    description: Attempts before giving up on the notification (a short pause between them).
    type: int
    default: 3
  validate_certs:
    description: Verify the endpoint's TLS certificate.
    type: bool
    default: true
'''

EXAMPLES = r'''
- name: Stop destructive steps while new backups do not verify
  runbook.maintenance.circuit_breaker:
    name: backups
    state_dir: /var/lib/runbook-maintenance/breakers
    action: check
  delegate_to: localhost

- name: Record the failed verification
  runbook.maintenance.circuit_breaker:
    name: backups
    action: record_failure
    reason: "backup_verify failed: {{ verify.failures | join('; ') }}"
    failure_threshold: 1
    notify_url: https://api.internal.example/admin/circuit-breakers/backups
    url_token: "{{ vault_admin_token }}"
  delegate_to: localhost

- name: Is the provider breaker open? (no failure)
  runbook.maintenance.circuit_breaker:
    name: ai-provider
    action: check
    fail_when_open: false
  register: provider
'''

RETURN = r'''
name:
  description: The breaker's name.
  returned: always
  type: str
  sample: backups
state_file:
  description: The file holding the breaker's state.
  returned: always
  type: str
  sample: /var/lib/runbook-maintenance/breakers/backups.json
changed:
  description: Whether the state or the counters changed (or would, in check mode).
  returned: always
  type: bool
state:
  description: State after the action (in check mode, the state it would have).
  returned: always
  type: str
  sample: open
previous_state:
  description: State before the action.
  returned: always
  type: str
  sample: closed
allowed:
  description: Whether the guarded step may run (the breaker is not open).
  returned: always
  type: bool
  sample: false
failures:
  description: Consecutive failures counted.
  returned: always
  type: int
  sample: 3
successes:
  description: Successes counted in C(half_open).
  returned: always
  type: int
  sample: 0
opened_at:
  description: When it opened (ISO-8601 UTC), null when closed.
  returned: always
  type: str
  sample: '2026-11-29T02:14:07Z'
retry_after_s:
  description: Seconds until an open breaker lets a trial through (null when opened by hand).
  returned: always
  type: float
  sample: 3540.0
reason:
  description: Why it opened (or the last failure).
  returned: always
  type: str
  sample: backup_verify failed on app.dump
forced:
  description: Whether it was opened by hand (stays open until closed).
  returned: always
  type: bool
  sample: false
notification:
  description: The HTTP notification of a state change (status, attempts, error).
  returned: when a state change was notified
  type: dict
  sample: {url: 'https://api.example/admin/cb', status: 200, attempts: 1, error: null}
'''

import datetime
import json
import os
import socket
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.runbook.maintenance.plugins.module_utils.breaker import (
    ACTIONS,
    Breaker,
    NAME_RE,
    Config,
    StateError,
    Store,
    retry_after,
    transition,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import parse_duration


def iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


class CircuitBreaker:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        p = module.params
        errors = []
        if not NAME_RE.match(p['name']):
            errors.append(f"name must be letters, digits, '.', '_' or '-' (got {p['name']!r})")
        for key in ('failure_threshold', 'success_threshold', 'url_retries', 'url_timeout'):
            if p[key] < 1:
                errors.append(f'{key} must be at least 1, got {p[key]}')
        try:
            reset = parse_duration(p['reset_timeout'])
        except ValueError as exc:
            errors.append(f'reset_timeout: {exc}')
            reset = 0
        if errors:
            module.fail_json(msg='Invalid options: ' + '; '.join(errors))
        self.config = Config(p['failure_threshold'], p['success_threshold'], reset)

    def notify(self, result: dict) -> dict:
        p = self.module.params
        headers = {'Content-Type': 'application/json', **(p['url_headers'] or {})}
        if p['url_token']:
            headers['Authorization'] = f"Bearer {p['url_token']}"
        payload = {key: result[key] for key in ('state', 'previous_state', 'failures', 'opened_at', 'reason', 'forced')}
        payload.update(name=p['name'], host=socket.gethostname(), changed_at=iso(time.time()))
        report = {'url': p['notify_url'], 'status': None, 'attempts': 0, 'error': None, 'response': None}
        for attempt in range(1, p['url_retries'] + 1):
            report['attempts'] = attempt
            try:
                response = open_url(p['notify_url'], data=json.dumps(payload), headers=headers, method='POST',
                                    timeout=p['url_timeout'], validate_certs=p['validate_certs'])
                report.update(status=response.getcode(), error=None,
                              response=response.read(4096).decode('utf-8', 'replace'))
                return report
            except Exception as exc:  # noqa: BLE001 - HTTPError, URLError, timeouts: all reported
                report.update(status=getattr(exc, 'code', None), error=str(exc))
                if attempt < p['url_retries']:
                    time.sleep(0.5 * attempt)
        return report

    def run(self) -> dict:
        p = self.module.params
        now = time.time()
        store = Store(p['state_dir'], p['name'], readonly=self.module.check_mode or p['action'] == 'status')
        try:
            with store:
                try:
                    before = store.read()
                except StateError:
                    if p['action'] != 'close':
                        raise
                    # Resetting is how an operator recovers from a corrupt file: keep it as evidence.
                    before = Breaker(state='open', reason='state file was unreadable')
                    if not self.module.check_mode:
                        os.replace(store.path, f'{store.path}.corrupt-{int(now)}')
                after = before if p['action'] == 'status' else transition(before, p['action'], self.config, now, p['reason'])
                changed = after.key() != before.key()
                if changed and not self.module.check_mode:
                    store.write(after)
        except StateError as exc:
            self.module.fail_json(
                msg=f"circuit breaker {p['name']!r}: {exc}; treated as open. Inspect the file, then reset "
                    f"it with action=close.", state='open', previous_state=None, allowed=False,
                name=p['name'], state_file=store.path)
        except OSError as exc:
            self.module.fail_json(msg=f"circuit breaker {p['name']!r}: cannot use {p['state_dir']}: {exc}",
                                  state='open', allowed=False, name=p['name'])
        result = {
            'changed': changed, 'name': p['name'], 'state_file': store.path,
            'state': after.state, 'previous_state': before.state, 'allowed': after.state != 'open',
            'failures': after.failures, 'successes': after.successes, 'opened_at': iso(after.opened_at),
            'retry_after_s': None if after.forced else round(retry_after(after, self.config, now), 1),
            'reason': after.reason, 'forced': after.forced,
        }
        if p['notify_url'] and after.state != before.state and not self.module.check_mode:
            result['notification'] = self.notify(result)
            if result['notification']['error']:
                self.module.warn(f"state change of {p['name']} not notified to {p['notify_url']}: "
                                 f"{result['notification']['error']} (the state itself is saved)")
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='str', required=True),
            state_dir=dict(type='path', default='/var/lib/runbook-maintenance/breakers'),
            action=dict(type='str', default='check', choices=list(ACTIONS)),
            reason=dict(type='str', default=''),
            failure_threshold=dict(type='int', default=3),
            success_threshold=dict(type='int', default=1),
            reset_timeout=dict(type='str', default='1h'),
            fail_when_open=dict(type='bool', default=True),
            notify_url=dict(type='str'),
            url_headers=dict(type='dict', default={}),
            url_token=dict(type='str', no_log=True),
            url_timeout=dict(type='int', default=5),
            url_retries=dict(type='int', default=3),
            validate_certs=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    result = CircuitBreaker(module).run()
    if module.params['action'] == 'check' and not result['allowed'] and module.params['fail_when_open']:
        wait = '' if result['retry_after_s'] is None else f", trial allowed in {result['retry_after_s']:.0f}s"
        module.fail_json(msg=f"circuit breaker {result['name']!r} is open since {result['opened_at']} "
                             f"({result['reason'] or 'no reason given'}){wait}", **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
