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
      - V(reset) writes a fresh closed breaker whatever the file holds (like V(close)).
      - A corrupt state file (not UTF-8, not JSON, a number beyond a float, wrong types, negative
        counts, too large, a directory, a symlink) is treated as open, never as closed. V(check)
        fails (or reports RV(allowed=false) with O(fail_when_open=false)), V(status) warns and
        reports it, V(record_success) and V(record_failure) fail. V(reset), V(close) and V(open)
        recover it, the corrupt file is renamed C(<name>.json.corrupt-<time>) (a symlink itself,
        never what it points to) and a new private (0600) state is written atomically.
    type: str
    default: check
    choices: [check, record_success, record_failure, open, close, reset, status]
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
    description:
      - On every state change, POST the new state as JSON here (http or https; redirects are not
        followed).
      - Treated as a secret (it may carry a token in its path or query); messages and results show
        its scheme and host only.
    type: str
  url_headers:
    description: Extra HTTP headers of the notification. Treated as secrets (never shown).
    type: dict
    default: {}
  url_token:
    description: Bearer token sent in the C(Authorization) header of the notification.
    type: str
  url_timeout:
    description:
      - Seconds to wait for the endpoint to connect and to answer, per attempt (1 to 300). An
        endpoint that accepts and never answers costs at most O(url_retries) times this, then a
        warning names it (scheme and host) and says it timed out; the state itself is saved.
    type: int
    default: 5
    aliases: [notify_timeout]
  url_retries:
    description: Attempts before giving up on the notification (1 to 10, a short pause between them).
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

- name: Recover a breaker whose state file is corrupt (the old file is kept beside it)
  runbook.maintenance.circuit_breaker:
    name: backups
    action: reset
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
  description: The HTTP notification of a state change (status, attempts, error); C(url) is the
    endpoint's scheme and host only.
  returned: when a state change was notified
  type: dict
  sample: {url: 'https://api.example', status: 200, attempts: 1, error: null}
corrupt:
  description: Whether the state file could not be read (the breaker is then treated as open).
  returned: always
  type: bool
  sample: false
recovered_from:
  description: What was wrong with the state file that V(reset), V(close) or V(open) replaced.
  returned: when a corrupt state file was replaced
  type: str
  sample: "/var/lib/runbook-maintenance/breakers/backups.json is not UTF-8 text (byte 0)"
corrupt_copy:
  description: Where the corrupt state file was kept (null in check mode).
  returned: when a corrupt state file was replaced
  type: str
  sample: /var/lib/runbook-maintenance/breakers/backups.json.corrupt-20261129T021407
'''

import datetime
import json
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.breaker import (
    ACTIONS,
    NAME_RE,
    RECOVERING_ACTIONS,
    Breaker,
    Config,
    StateError,
    Store,
    retry_after,
    transition,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.redact import redact, url_origin
from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import check_duration

NOTIFY_TIMEOUT_MAX = 300
NOTIFY_RETRIES_MAX = 10


def iso(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def describe_error(exc: Exception, timeout: int) -> str:
    """What went wrong with one notification attempt, in words (no URL: the caller adds its origin)."""
    reason = getattr(exc, 'reason', None)
    if isinstance(exc, (socket.timeout, TimeoutError)) or isinstance(reason, (socket.timeout, TimeoutError)) \
            or 'timed out' in str(exc):
        return f'no answer within {timeout}s (timed out)'
    if getattr(exc, 'code', None) is not None:
        return f'HTTP {exc.code}'
    return str(reason or exc)


class CircuitBreaker:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        p = module.params
        errors = []
        if not NAME_RE.match(p['name']):
            errors.append(f"name must be letters, digits, '.', '_' or '-' (got {p['name']!r})")
        for key in ('failure_threshold', 'success_threshold'):
            if p[key] < 1:
                errors.append(f'{key} must be at least 1, got {p[key]}')
            elif p[key] > 1000000:
                errors.append(f'{key} must be at most 1000000, got {p[key]}')
        if not 1 <= p['url_retries'] <= NOTIFY_RETRIES_MAX:
            errors.append(f"url_retries must be between 1 and {NOTIFY_RETRIES_MAX}, got {p['url_retries']}")
        if not 1 <= p['url_timeout'] <= NOTIFY_TIMEOUT_MAX:
            errors.append(f"url_timeout (notify_timeout) must be between 1 and {NOTIFY_TIMEOUT_MAX} seconds, "
                          f"got {p['url_timeout']} (0 or less would mean no bound)")
        try:
            reset = check_duration('reset_timeout', p['reset_timeout'], allow_zero=True)  # 0: trial at once
        except ValueError as exc:
            errors.append(str(exc))
            reset = 0
        if p['notify_url'] is not None and url_origin(p['notify_url']) == '<unparsable URL>':
            errors.append('notify_url is not an http(s) URL with a host')
        elif p['notify_url'] is not None and not url_origin(p['notify_url']).startswith(('http://', 'https://')):
            errors.append(f"notify_url must be http or https, got {url_origin(p['notify_url']).split(':', maxsplit=1)[0]}")
        if errors:
            module.fail_json(msg='Invalid options: ' + '; '.join(errors))
        self.config = Config(p['failure_threshold'], p['success_threshold'], reset)

    def secrets(self) -> list:
        p = self.module.params
        return [p['notify_url'], p['url_token'], *[str(v) for v in (p['url_headers'] or {}).values()]]

    def notify(self, result: dict) -> dict:
        """POST the new state; every attempt bounded by url_timeout. The report names the
        endpoint by scheme and host only: its path, query and headers may carry a token."""
        # Imported here: ansible's urls pulls in cryptography's x509 (about 0.3 CPU-seconds), which
        # every breaker check would pay for a notification it rarely sends.
        from ansible.module_utils.urls import open_url  # pylint: disable=import-outside-toplevel
        p = self.module.params
        headers = {'Content-Type': 'application/json', **(p['url_headers'] or {})}
        if p['url_token']:
            headers['Authorization'] = f"Bearer {p['url_token']}"
        payload = {key: result[key] for key in ('state', 'previous_state', 'failures', 'opened_at', 'reason', 'forced')}
        payload.update(name=p['name'], host=socket.gethostname(), changed_at=iso(time.time()))
        report = {'url': url_origin(p['notify_url']), 'status': None, 'attempts': 0, 'error': None, 'response': None}
        for attempt in range(1, p['url_retries'] + 1):
            report['attempts'] = attempt
            try:
                response = open_url(p['notify_url'], data=json.dumps(payload), headers=headers, method='POST',
                                    timeout=p['url_timeout'], validate_certs=p['validate_certs'],
                                    follow_redirects='none')
                report.update(status=response.getcode(), error=None,
                              response=redact(response.read(4096).decode('utf-8', 'replace'), self.secrets()))
                return report
            except Exception as exc:  # noqa: BLE001 - HTTPError, URLError, timeouts: all reported
                report.update(status=getattr(exc, 'code', None),
                              error=redact(describe_error(exc, p['url_timeout']), self.secrets()))
                if attempt < p['url_retries']:
                    time.sleep(0.5 * attempt)
        return report

    def run(self) -> dict:
        p = self.module.params
        now = time.time()
        readonly = self.module.check_mode or p['action'] == 'status'
        store = Store(p['state_dir'], p['name'], readonly=readonly, recover=p['action'] in RECOVERING_ACTIONS)
        corrupt, set_aside = None, None
        try:
            with store:
                try:
                    before = store.read()
                except StateError as exc:
                    corrupt = str(exc)
                    # Unknown state is treated as open: a guard never reads it as closed and healthy.
                    before = Breaker(state='open', reason='state file is corrupt')
                    if p['action'] not in RECOVERING_ACTIONS:
                        raise
                    # close, reset and open rewrite it; the corrupt file is kept beside it as evidence.
                    if not self.module.check_mode:
                        set_aside = store.set_aside(now)
                action = 'close' if p['action'] == 'reset' else p['action']
                after = before if action == 'status' else transition(before, action, self.config, now, p['reason'])
                changed = after.key() != before.key() or corrupt is not None
                if changed and not self.module.check_mode:
                    store.write(after)
        except StateError as exc:
            fields = dict(state='open', previous_state=None, allowed=False, corrupt=True, name=p['name'],
                          state_file=store.path, failures=None, successes=None, opened_at=None,
                          retry_after_s=None, reason=str(exc), forced=False, changed=False)
            message = (f"circuit breaker {p['name']!r}: {exc}; treated as open. Inspect the file, then recover "
                       f"it with action=reset (or close), which keeps the corrupt file beside it.")
            if p['action'] == 'status' or (p['action'] == 'check' and not p['fail_when_open']):
                self.module.warn(message)
                return dict(fields, msg=message)
            self.module.fail_json(msg=message, **fields)
        except OSError as exc:
            self.module.fail_json(msg=f"circuit breaker {p['name']!r}: cannot use {p['state_dir']}: "
                                      f"{exc.strerror or exc}", state='open', allowed=False, name=p['name'])
        result = {
            'changed': changed, 'name': p['name'], 'state_file': store.path,
            'state': after.state, 'previous_state': 'corrupt' if corrupt else before.state,
            'allowed': after.state != 'open', 'corrupt': False,
            'failures': after.failures, 'successes': after.successes, 'opened_at': iso(after.opened_at),
            'retry_after_s': None if after.forced else round(retry_after(after, self.config, now), 1),
            'reason': after.reason, 'forced': after.forced,
        }
        if corrupt:
            result['recovered_from'] = corrupt
            result['corrupt_copy'] = set_aside
            self.module.warn(f"circuit breaker {p['name']!r}: the state file was corrupt ({corrupt}); "
                             f"rewritten as {after.state}" + (f', the old file kept as {set_aside}' if set_aside else ''))
        if p['notify_url'] and after.state != before.state and not self.module.check_mode:
            result['notification'] = self.notify(result)
            if result['notification']['error']:
                self.module.warn(f"state change of {p['name']} not notified to {result['notification']['url']}: "
                                 f"{result['notification']['error']} after {result['notification']['attempts']} "
                                 f"attempt(s) (the state itself is saved)")
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
            notify_url=dict(type='str', no_log=True),
            url_headers=dict(type='dict', default={}, no_log=True),
            url_token=dict(type='str', no_log=True),
            url_timeout=dict(type='int', default=5, aliases=['notify_timeout']),
            url_retries=dict(type='int', default=3),
            validate_certs=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    result = CircuitBreaker(module).run()
    if module.params['action'] == 'check' and not result['allowed'] and module.params['fail_when_open'] \
            and not result.get('corrupt'):
        wait = '' if result['retry_after_s'] is None else f", trial allowed in {result['retry_after_s']:.0f}s"
        module.fail_json(msg=f"circuit breaker {result['name']!r} is open since {result['opened_at']} "
                             f"({result['reason'] or 'no reason given'}){wait}", **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
