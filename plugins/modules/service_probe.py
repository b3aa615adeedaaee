#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: service_probe
short_description: One probe of a service - the state of its unit or container, then its health check, waiting for both
version_added: 0.3.0
description:
  - Reads the state of a systemd unit (C(systemctl show)) or a Docker container (the Docker SDK),
    polling every O(poll_interval_s) for up to O(unit_wait_s) until it is in the O(want) state -
    as a new instance (another InvocationID or StartedAt) when O(old_instance) is given.
  - When the service is up and O(want=active), runs its health check - an HTTP GET of
    O(health_url) expecting O(health_status), a command O(health_command) that must exit 0, a TCP
    connection to O(health_host):O(health_port), or a connection to PostgreSQL (the shared
    connection options) - again polling for up to O(health_wait_s). Each attempt is bounded by
    O(probe_timeout_s).
  - Never fails because the service is down or unhealthy; it reports it (RV(healthy),
    RV(detail)) for the caller to act on. It fails only on invalid options or when the state
    cannot be read at all.
  - The C(runbook.maintenance.service_recovery) role calls it for every probe (before, after a
    restart, after a stop). One module run where the same probe as tasks took about ten tasks and
    two module runs.
  - The health URL may carry a token - it is C(no_log), and RV(detail) names its scheme, host and
    port only.
author:
  - Runbook Maintainers (@runbook-maintenance)
extends_documentation_fragment:
  - runbook.maintenance.postgres
attributes:
  check_mode:
    support: full
    description: Only reads and probes; runs the same in check mode (a dry run needs the real state).
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: Changes nothing.
options:
  name:
    description: The service's name (for messages).
    type: str
    required: true
  kind:
    description: What runs the service.
    type: str
    choices: [systemd, docker]
    default: systemd
  unit:
    description: The systemd unit (O(kind=systemd)).
    type: str
  container:
    description: The container's name (O(kind=docker)).
    type: str
  docker_host:
    description: The Docker daemon (O(kind=docker)).
    type: str
    default: unix:///var/run/docker.sock
  want:
    description: The state waited for - V(active) (running, then healthy) or V(inactive) (stopped; no health check).
    type: str
    choices: [active, inactive]
    default: active
  unit_wait_s:
    description: Seconds to wait for the O(want) state (0 - read once).
    type: float
    default: 0
  health_wait_s:
    description: Seconds to wait for the health check to pass (0 - check once).
    type: float
    default: 0
  old_instance:
    description: The unit's InvocationID or the container's StartedAt before a restart - the state only counts for another instance.
    type: str
    default: ''
  poll_interval_s:
    description: Seconds between two attempts.
    type: float
    default: 2
  probe_timeout_s:
    description: Seconds one attempt may take (HTTP request, TCP connect, health command, PostgreSQL connection).
    type: float
    default: 5
  health_type:
    description: The health check.
    type: str
    choices: [url, command, port, postgres]
    required: true
  health_url:
    description: O(health_type=url) - the URL (http or https); C(user:password@) in it is sent as Basic authentication.
    type: str
  health_status:
    description: O(health_type=url) - the status that means healthy (an HTTP status code, 100 to 599).
    type: int
    default: 200
  health_validate_certs:
    description: O(health_type=url) - verify the TLS certificate of an https URL.
    type: bool
    default: true
  health_command:
    description: O(health_type=command) - the command and its arguments (no shell); exit 0 means healthy.
    type: list
    elements: str
  health_host:
    description: O(health_type=port) - the host to connect to.
    type: str
    default: 127.0.0.1
  health_port:
    description: O(health_type=port) - the TCP port.
    type: int
'''

EXAMPLES = r'''
- name: Is the API up and healthy?
  runbook.maintenance.service_probe:
    name: api
    unit: api.service
    health_type: url
    health_url: http://127.0.0.1:8080/health
  register: api

- name: After a restart - wait up to 30 s for a new instance, then up to 60 s for its health
  runbook.maintenance.service_probe:
    name: postgresql
    unit: postgresql@15-main
    health_type: postgres
    login_unix_socket: /var/run/postgresql
    unit_wait_s: 30
    health_wait_s: 60
    old_instance: "{{ api.instance }}"
'''

RETURN = r'''
active:
  description: The unit is active (the container is running).
  returned: always
  type: bool
stopped:
  description: The unit is inactive or failed (the container exited, created or dead; or missing).
  returned: always
  type: bool
missing:
  description: No such unit or container.
  returned: always
  type: bool
instance:
  description: The unit's InvocationID (the container's StartedAt) - a restart changes it.
  returned: always
  type: str
state:
  description: The state as a sentence, e.g. C(unit api active (running)).
  returned: always
  type: str
healthy:
  description: Up and its health check passed (always false with O(want=inactive)).
  returned: always
  type: bool
detail:
  description: "The state and the health check's outcome, e.g. C(unit api active (running); GET http://127.0.0.1:8080: HTTP 503 (starting))."
  returned: always
  type: str
attempts:
  description: State reads and health checks made.
  returned: always
  type: int
elapsed_s:
  description: Seconds the probe took.
  returned: always
  type: float
'''

import math

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import (
    check_connection_options, postgres_common_argument_spec)
from ansible_collections.runbook.maintenance.plugins.module_utils.serviceprobe import HEALTH_TYPES, Prober

# A wait longer than a day is a typo, not a bound.
MAX_WAIT_S = 86400


def option_errors(params: dict) -> list[str]:
    errors = []
    for name in ('unit_wait_s', 'health_wait_s'):
        value = params[name]
        if not (math.isfinite(value) and 0 <= value <= MAX_WAIT_S):
            errors.append(f'{name} must be between 0 and {MAX_WAIT_S} seconds, got {value}')
    for name in ('poll_interval_s', 'probe_timeout_s'):
        value = params[name]
        if not (math.isfinite(value) and 0 < value <= 3600):
            errors.append(f'{name} must be above 0 and at most 3600 seconds, got {value}')
    needs = {'url': 'health_url', 'command': 'health_command', 'port': 'health_port'}.get(params['health_type'])
    if needs and not params[needs]:
        errors.append(f"health_type={params['health_type']} needs {needs}")
    if params['health_type'] == 'url' and not str(params['health_url'] or '').startswith(('http://', 'https://')):
        errors.append('health_url must be an http:// or https:// URL')
    if params['health_type'] == 'url' and not 100 <= params['health_status'] <= 599:
        errors.append(f"health_status must be an HTTP status code (100-599), got {params['health_status']}")
    if params['health_type'] == 'port' and params['health_port'] and not 1 <= params['health_port'] <= 65535:
        errors.append(f"health_port must be a TCP port (1-65535), got {params['health_port']}")
    return errors


def main() -> None:
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        kind=dict(type='str', choices=['systemd', 'docker'], default='systemd'),
        unit=dict(type='str'),
        container=dict(type='str'),
        docker_host=dict(type='str', default='unix:///var/run/docker.sock'),
        want=dict(type='str', choices=['active', 'inactive'], default='active'),
        unit_wait_s=dict(type='float', default=0),
        health_wait_s=dict(type='float', default=0),
        old_instance=dict(type='str', default=''),
        poll_interval_s=dict(type='float', default=2),
        probe_timeout_s=dict(type='float', default=5),
        health_type=dict(type='str', choices=list(HEALTH_TYPES), required=True),
        health_url=dict(type='str', no_log=True),
        health_status=dict(type='int', default=200),
        health_validate_certs=dict(type='bool', default=True),
        health_command=dict(type='list', elements='str'),
        health_host=dict(type='str', default='127.0.0.1'),
        health_port=dict(type='int'),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_if=[('kind', 'systemd', ['unit']), ('kind', 'docker', ['container'])],
        supports_check_mode=True,
    )
    errors = option_errors(module.params)
    if errors:
        module.fail_json(msg='Invalid options: ' + '; '.join(errors))
    check_connection_options(module)
    module.exit_json(**Prober(module).run())


if __name__ == '__main__':
    main()
