#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: health_check
short_description: The runbook's pre- and post-maintenance checks in one call
version_added: 0.2.0
description:
  - Measures in one call what the runbook checks before and after a maintenance window, and
    reports every measurement with the list of checks that failed (RV(failures)), for the caller
    to stop on. It never fails because a check failed; it fails only on invalid options.
  - PostgreSQL answers (RV(postgres_available), RV(server_version)); its recovery state
    (RV(in_recovery), failing with O(require_primary=true) on a standby), its data directory (when
    the login role may read it, a member of C(pg_read_all_settings)), the replication lag
    (RV(replication_lag_s), the largest replay lag of the standbys on a primary, the time since the
    last replayed transaction on a standby; failing above O(max_replication_lag_s)) and the number
    of standbys (RV(standbys)). One connection, one read-only query.
  - Free space of the filesystems holding the data directory (else O(fallback_path)) and O(paths),
    with the growth since the previous measurement and the days until full, kept in O(state_file)
    exactly as C(runbook.maintenance.disk_space) does (RV(disk)); a filesystem under
    O(min_free_percent) fails, under O(emergency_free_percent) the failure names the disk-space
    emergency command.
  - The age of the newest backup manifest (C(*.json), hidden files and directories left out,
    symlinks not followed) under O(backup_dir) (RV(backup_age_s)); older than O(max_backup_age),
    or none, fails.
  - The state of the circuit breakers O(breakers) and O(required_closed_breakers), read without
    a lock file being created (RV(breakers)); an open breaker of O(required_closed_breakers)
    fails. A corrupt state file reads as open, with a warning.
  - The failure messages are those of the C(runbook.maintenance.maintenance_checks) role, which
    calls this module; each starts with C(<phase>-check failed).
author:
  - Runbook Maintainers (@runbook-maintenance)
extends_documentation_fragment:
  - runbook.maintenance.postgres
attributes:
  check_mode:
    support: full
    description:
      - Everything is measured and reported in check mode too; only the O(state_file) is not
        written (as C(runbook.maintenance.disk_space)).
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: Reads only, never reports a change (the O(state_file) is bookkeeping of the measurement).
options:
  phase:
    description: The word the failure messages start with, V(pre) gives C(pre-check failed:).
    type: str
    default: health
  host_label:
    description: How the messages name this host (the inventory name). Default, the host's name.
    type: str
  setting_prefix:
    description:
      - Prefix of the setting names the failure messages name, V(maintenance_checks_) makes them
        name the role's variables (C(maintenance_checks_max_replication_lag_s=300)).
    type: str
    default: ''
  require_primary:
    description: Fail on a standby (a server in recovery).
    type: bool
    default: false
  max_replication_lag_s:
    description: Replication lag (seconds) above which the check fails. Unset or empty, measured and not enforced.
    type: raw
  paths:
    description: Extra paths whose filesystems must have O(min_free_percent) free.
    type: list
    elements: path
    default: []
  fallback_path:
    description: Path measured when the data directory cannot be read (PostgreSQL down, or not allowed).
    type: path
    default: /
  state_file:
    description:
      - Private JSON file keeping the last measurement per filesystem (the one of
        C(runbook.maintenance.disk_space), which shares it). Empty, no growth tracking.
    type: path
    default: ''
  min_free_percent:
    description: Free space, in percent, under which a filesystem fails the check (above 0, at most 100).
    type: raw
    default: 10
  emergency_free_percent:
    description: Free space, in percent, under which the disk-space emergency is due (C(emergency) in RV(disk)).
    type: raw
    default: 5
  backup_dir:
    description: Directory whose newest backup manifest's age is measured. Unset, RV(backup_age_s) is -1.
    type: path
  max_backup_age:
    description: Oldest acceptable newest backup (V(26h), V(2d)). Unset or empty, measured and not enforced.
    type: str
    default: ''
  breakers:
    description: Circuit breakers whose state is read and reported.
    type: list
    elements: str
    default: []
  required_closed_breakers:
    description: Circuit breakers that must not be open (their state is reported too).
    type: list
    elements: str
    default: []
  breaker_state_dir:
    description: Directory of the circuit breakers' state (as O(runbook.maintenance.circuit_breaker#module:state_dir)).
    type: path
    default: /var/lib/runbook-maintenance/breakers
requirements:
  - psycopg >= 3.1 on the host running the module
seealso:
  - module: runbook.maintenance.disk_space
  - module: runbook.maintenance.circuit_breaker
  - name: roles/maintenance_checks
    description: The role that runs these checks before and after a maintenance window.
    link: https://github.com/runbook-maintenance/runbook.maintenance/blob/main/roles/maintenance_checks/defaults/main.yml
'''

EXAMPLES = r'''
- name: Pre-checks in one call (connection from module_defaults group/runbook.maintenance.postgres)
  runbook.maintenance.health_check:
    phase: pre
    host_label: "{{ inventory_hostname }}"
    max_replication_lag_s: 300
    state_file: /var/lib/runbook-maintenance/disk-usage.json
    backup_dir: /var/backups/postgresql
    max_backup_age: 26h
    breakers: [maintenance, backups]
    required_closed_breakers: [maintenance]
  register: health

- name: Stop on any failed check
  ansible.builtin.fail:
    msg: "{{ health.failures | join(' ') }}"
  when: health.failures | length > 0
'''

RETURN = r'''
postgres_available:
  description: Whether PostgreSQL answered.
  returned: always
  type: bool
  sample: true
conn_err_msg:
  description: Why PostgreSQL did not answer (empty when it did; never the password).
  returned: always
  type: str
  sample: ''
server_version:
  description: The server's version as C(community.postgresql.postgresql_ping) gives it in C(full) (empty when down).
  returned: always
  type: str
  sample: '15.10'
in_recovery:
  description: Whether the server is a standby (false when down).
  returned: always
  type: bool
  sample: false
data_directory:
  description: The data directory (empty when down or not readable by the login role).
  returned: always
  type: str
  sample: /var/lib/postgresql/15/main
replication_lag_s:
  description: Replication lag in seconds, one decimal (0 when down).
  returned: always
  type: float
  sample: 0.4
standbys:
  description: Number of standbys streaming from this server.
  returned: always
  type: int
  sample: 1
disk:
  description:
    - One entry per filesystem, as RV(runbook.maintenance.disk_space#module:filesystems) of
      C(runbook.maintenance.disk_space) (C(path), C(paths), C(mount), C(size_total),
      C(size_available), C(size_used), C(free_percent), C(growth_bytes), C(interval_s),
      C(growth_bytes_per_day), C(days_until_full), C(low), C(emergency)).
  returned: always
  type: list
  elements: dict
disk_summary:
  description: One line per filesystem, its free space, growth and days until full.
  returned: always
  type: list
  elements: str
  sample: ['/: 42.1% free (12.3 GiB), no previous report, not filling up']
missing:
  description: Paths of O(paths) that do not exist (not measured).
  returned: always
  type: list
  elements: str
state_written:
  description: Whether O(state_file) was written (never in check mode).
  returned: always
  type: bool
backup_age_s:
  description: Age in whole seconds of the newest manifest under O(backup_dir), -1 when there is none.
  returned: always
  type: int
  sample: 3600
newest_backup:
  description: The newest manifest under O(backup_dir) (null when none).
  returned: always
  type: str
breakers:
  description: Each breaker of O(breakers) and O(required_closed_breakers), name to state (V(closed), V(open), V(half_open)).
  returned: always
  type: dict
  sample: {maintenance: closed, backups: closed}
breaker_details:
  description: Each breaker's C(state), C(allowed), C(reason) and C(corrupt).
  returned: always
  type: dict
failures:
  description: One message per failed check, in the order PostgreSQL, disk, backup, breakers.
  returned: always
  type: list
  elements: str
  sample: ['pre-check failed: circuit breaker maintenance is open (pre-check failed). Close it once the cause is fixed.']
failure_details:
  description: Each failure as C(check) (V(postgres), V(disk), V(backup), V(breaker)), C(message) and C(subject) (the mount or breaker).
  returned: always
  type: list
  elements: dict
'''

import math
import socket
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils import healthcheck
from ansible_collections.runbook.maintenance.plugins.module_utils.breaker import NAME_RE, StateError, Store
from ansible_collections.runbook.maintenance.plugins.module_utils.diskspace import DiskSpace
from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import (
    connection_kwargs,
    connection_option_errors,
    ensure_psycopg,
    postgres_common_argument_spec,
    psycopg,
    scrub,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import check_duration


def percent(name: str, value, errors: list) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        errors.append(f'{name} must be a number, got {value!r}')
        return 0.0
    if not 0 < number <= 100:  # also refuses NaN
        errors.append(f'{name} must be a percentage above 0 and at most 100, got {value}')
    return number


class HealthCheck:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        p = module.params
        errors = connection_option_errors(p)
        if not p['phase'] or not p['phase'].strip():
            errors.append('phase cannot be empty')
        self.min_free = percent('min_free_percent', p['min_free_percent'], errors)
        self.emergency_free = percent('emergency_free_percent', p['emergency_free_percent'], errors)
        self.max_lag = None
        if p['max_replication_lag_s'] not in (None, ''):
            try:
                self.max_lag = float(p['max_replication_lag_s'])
                if not math.isfinite(self.max_lag) or self.max_lag < 0:
                    raise ValueError
            except (TypeError, ValueError):
                errors.append(f"max_replication_lag_s must be a number of seconds (0 or more), got {p['max_replication_lag_s']!r}")
        self.max_backup_age = None
        if p['max_backup_age'] not in (None, ''):
            try:
                # 0: every backup is too old (as backup_verify's max_age); beyond 100 years: refused
                self.max_backup_age = check_duration('max_backup_age', p['max_backup_age'], allow_zero=True)
            except ValueError as exc:
                errors.append(str(exc))
        for name in list(p['breakers']) + list(p['required_closed_breakers']):
            if not NAME_RE.match(name or ''):
                errors.append(f"breaker names must be letters, digits, '.', '_' or '-' (got {name!r})")
        if errors:
            module.fail_json(msg='Invalid options: ' + '; '.join(errors))
        self.host_label = p['host_label'] or socket.gethostname()

    def postgres(self) -> dict:
        measured = {'postgres_available': False, 'conn_err_msg': '', 'server_version': '', 'in_recovery': False,
                    'data_directory': '', 'replication_lag_s': 0.0, 'standbys': 0}
        ensure_psycopg(self.module)
        params = self.module.params
        try:
            with psycopg.connect(autocommit=True, **connection_kwargs(params)) as conn:
                row = conn.execute(healthcheck.STATE_QUERY).fetchone()
        except psycopg.Error as exc:
            measured['conn_err_msg'] = scrub(' '.join(str(exc).split()), params)
            return measured
        except Exception as exc:  # noqa: BLE001 - libpq option errors arrive as other types
            measured['conn_err_msg'] = scrub(f'invalid connection settings: {exc}', params)
            return measured
        version, in_recovery, data_directory, lag, standbys = row
        measured.update(postgres_available=True, server_version=healthcheck.version_full(version),
                        in_recovery=bool(in_recovery), data_directory=data_directory or '',
                        replication_lag_s=round(float(lag or 0), 1), standbys=int(standbys or 0))
        return measured

    def breakers(self) -> dict:
        p = self.module.params
        details = {}
        names = list(p['breakers']) + [n for n in p['required_closed_breakers'] if n not in p['breakers']]
        for name in dict.fromkeys(names):
            store = Store(p['breaker_state_dir'], name, readonly=True)
            try:
                with store:
                    breaker = store.read()
                details[name] = {'state': breaker.state, 'allowed': breaker.state != 'open',
                                 'reason': breaker.reason, 'corrupt': False}
            except StateError as exc:
                self.module.warn(f"circuit breaker {name!r}: {exc}; treated as open. Inspect the file, then recover "
                                 f"it with action=reset (or close), which keeps the corrupt file beside it.")
                details[name] = {'state': 'open', 'allowed': False, 'reason': str(exc), 'corrupt': True}
            except OSError as exc:
                self.module.fail_json(msg=f"circuit breaker {name!r}: cannot use {p['breaker_state_dir']}: "
                                          f"{exc.strerror or exc}")
        return details

    def run(self) -> dict:
        p = self.module.params
        phase = p['phase']
        details = []
        result = {'changed': False}
        pg = self.postgres()
        result.update(pg)
        for message in healthcheck.postgres_failures(phase, pg, p['require_primary'], self.host_label, self.max_lag,
                                                     str(p['max_replication_lag_s']), p['setting_prefix']):
            details.append({'check': 'postgres', 'message': message, 'subject': None})

        paths = list(dict.fromkeys(path for path in [pg['data_directory'] or p['fallback_path']] + list(p['paths']) if path))
        disk = DiskSpace(self.module, {'paths': paths, 'state_file': p['state_file'],
                                       'min_free_percent': self.min_free,
                                       'emergency_free_percent': self.emergency_free}).run()
        result.update(disk=disk['filesystems'], missing=disk['missing'], state_written=disk['state_written'],
                      disk_summary=[healthcheck.disk_line(fs) for fs in disk['filesystems']])
        for filesystem in disk['filesystems']:
            if filesystem['free_percent'] < self.min_free:
                details.append({'check': 'disk', 'subject': filesystem['mount'], 'message': healthcheck.disk_failure(
                    phase, filesystem, str(p['min_free_percent']), str(p['emergency_free_percent']), self.host_label)})

        age, newest = (-1, None)
        if p['backup_dir']:
            age, newest = healthcheck.newest_manifest_age(p['backup_dir'], time.time())
        result.update(backup_age_s=age, newest_backup=newest)
        message = healthcheck.backup_failure(phase, age, self.max_backup_age, p['backup_dir'], p['max_backup_age'])
        if message:
            details.append({'check': 'backup', 'message': message, 'subject': p['backup_dir']})

        breakers = self.breakers()
        result.update(breakers={name: info['state'] for name, info in breakers.items()}, breaker_details=breakers)
        for name in p['required_closed_breakers']:
            info = breakers[name]
            if not info['allowed']:
                details.append({'check': 'breaker', 'subject': name,
                                'message': healthcheck.breaker_failure(phase, name, info['state'], info['reason'])})
        result.update(failure_details=details, failures=[d['message'] for d in details])
        result['msg'] = (f'{len(details)} check(s) failed' if details else 'every check passed')
        return result


def main() -> None:
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        phase=dict(type='str', default='health'),
        host_label=dict(type='str'),
        setting_prefix=dict(type='str', default=''),
        require_primary=dict(type='bool', default=False),
        max_replication_lag_s=dict(type='raw'),
        paths=dict(type='list', elements='path', default=[]),
        fallback_path=dict(type='path', default='/'),
        state_file=dict(type='path', default=''),
        min_free_percent=dict(type='raw', default=10),
        emergency_free_percent=dict(type='raw', default=5),
        backup_dir=dict(type='path'),
        max_backup_age=dict(type='str', default=''),
        breakers=dict(type='list', elements='str', default=[]),
        required_closed_breakers=dict(type='list', elements='str', default=[]),
        breaker_state_dir=dict(type='path', default='/var/lib/runbook-maintenance/breakers'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    module.exit_json(**HealthCheck(module).run())


if __name__ == '__main__':
    main()
