# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Validate service descriptions and put them in startup (dependency) order."""

from __future__ import annotations

DOCUMENTATION = r'''
---
name: service_order
short_description: Validate services described as data and sort them in startup order
version_added: 0.1.0
description:
  - Checks every service description of the C(service_recovery) role (name, kind, unit or
    container, exactly one health check, timeout, dependencies), fills in the defaults and
    returns the services in startup order, each after every service it depends on.
  - Services without a dependency between them keep the order in which they were listed.
  - A dependency cycle, a dependency on an unknown service, a duplicate name or a malformed
    description fails with a message naming the service.
author:
  - Runbook Maintainers (@runbook-maintenance)
options:
  _input:
    description: The services, a list of dictionaries.
    type: list
    elements: dict
    required: true
  default_timeout_s:
    description: Health timeout in seconds for services that do not set C(timeout_s).
    type: int
    default: 60
'''

EXAMPLES = r'''
- name: Startup order
  ansible.builtin.debug:
    msg: "{{ services | runbook.maintenance.service_order(default_timeout_s=30) | map(attribute='name') }}"
  vars:
    services:
      - {name: frontend, unit: frontend, health: {url: 'http://127.0.0.1:8081/health'}, depends_on: [api]}
      - {name: api, unit: api, health: {url: 'http://127.0.0.1:8080/health'}, depends_on: [postgresql]}
      - {name: postgresql, unit: postgresql@15-main, health: {postgres: true}}
  # -> ['postgresql', 'api', 'frontend']
'''

RETURN = r'''
_value:
  description:
    - The services in startup order, each with C(name), C(kind), C(unit) or C(container),
      C(health) (one of C(url), C(command), C(port), C(postgres), with C(type) naming which),
      C(timeout_s) and C(depends_on) filled in.
  type: list
  elements: dict
'''

import re
from urllib.parse import urlsplit

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - outside Ansible
    AnsibleFilterError = ValueError

KINDS = {'systemd': 'unit', 'docker': 'container'}
HEALTH_TYPES = ('url', 'command', 'port', 'postgres')
LOOPBACK = ('127.0.0.1', 'localhost', '::1')
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.@-]*$')


class ServiceSpecError(ValueError):
    """A service description that cannot be used."""


def _positive_int(value, what):
    if isinstance(value, bool):
        raise ServiceSpecError(f'{what} must be a positive whole number of seconds, got {value!r}')
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ServiceSpecError(f'{what} must be a positive whole number of seconds, got {value!r}') from None
    if number <= 0 or str(number) != str(value).strip():
        raise ServiceSpecError(f'{what} must be a positive whole number of seconds, got {value!r}')
    return number


def normalize_health(name, health):
    """One health check of a service, with its type named in C(type)."""
    if not isinstance(health, dict):
        raise ServiceSpecError(f'service {name}: health must be a dictionary with one of {", ".join(HEALTH_TYPES)}')
    present = [key for key in HEALTH_TYPES if health.get(key) not in (None, False, '', [])]
    if len(present) != 1:
        raise ServiceSpecError(
            f'service {name}: health needs exactly one of {", ".join(HEALTH_TYPES)}, got {sorted(present) or "none"}')
    kind = present[0]
    result = dict(health, type=kind)
    if kind == 'url':
        url = str(health['url'])
        parts = urlsplit(url)
        if parts.scheme not in ('http', 'https') or (parts.hostname or '') not in LOOPBACK:
            raise ServiceSpecError(
                f'service {name}: health url must be http(s) on 127.0.0.1, localhost or ::1 '
                f'(it is probed on the host running the service), got {url!r}')
        result['url'] = url
        status = health.get('status', 200)
        if isinstance(status, bool) or not str(status).isdigit() or not 100 <= int(status) <= 599:
            raise ServiceSpecError(f'service {name}: health status must be an HTTP status code (100-599), got {status!r}')
        result['status'] = int(status)
    elif kind == 'command':
        command = health['command']
        if isinstance(command, str):
            command = command.split()
        if not isinstance(command, list) or not command or not all(
                isinstance(a, (str, int)) and not isinstance(a, bool) for a in command):
            raise ServiceSpecError(
                f'service {name}: health command must be a non-empty list of arguments (quote true, false, yes, no), '
                f'got {command!r}')
        result['command'] = [str(a) for a in command]
    elif kind == 'port':
        port = health['port']
        if isinstance(port, bool) or not str(port).isdigit() or not 0 < int(port) < 65536:
            raise ServiceSpecError(f'service {name}: health port must be a TCP port number, got {port!r}')
        result['port'] = int(port)
        result['host'] = str(health.get('host', '127.0.0.1'))
        if result['host'] not in LOOPBACK:
            raise ServiceSpecError(f'service {name}: health host must be 127.0.0.1, localhost or ::1')
    elif health['postgres'] is not True:
        raise ServiceSpecError(f'service {name}: health postgres must be true')
    return result


def normalize_service(service, default_timeout_s=60):
    """A validated copy of one service description with every default filled in."""
    if not isinstance(service, dict):
        raise ServiceSpecError(f'every service must be a dictionary, got {service!r}')
    name = service.get('name')
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ServiceSpecError(f'every service needs a name (letters, digits, _ . @ -), got {name!r}')
    kind = service.get('kind', 'systemd')
    if kind not in KINDS:
        raise ServiceSpecError(f'service {name}: kind must be one of {", ".join(KINDS)}, got {kind!r}')
    result = dict(service, kind=kind)
    target_key = KINDS[kind]
    target = service.get(target_key, name)
    if not isinstance(target, str) or not target:
        raise ServiceSpecError(f'service {name}: {target_key} must be a non-empty string')
    result[target_key] = target
    if 'health' not in service:
        raise ServiceSpecError(f'service {name}: a health check is required (url, command, port or postgres)')
    result['health'] = normalize_health(name, service['health'])
    result['timeout_s'] = _positive_int(service.get('timeout_s', default_timeout_s), f'service {name}: timeout_s')
    depends_on = service.get('depends_on') or []
    if isinstance(depends_on, str):
        depends_on = [depends_on]
    if not isinstance(depends_on, list) or not all(isinstance(d, str) for d in depends_on):
        raise ServiceSpecError(f'service {name}: depends_on must be a list of service names')
    if name in depends_on:
        raise ServiceSpecError(f'service {name} depends on itself')
    result['depends_on'] = list(dict.fromkeys(depends_on))
    return result


def _find_cycle(pending, deps):
    """A dependency cycle among the services left unsorted, as a list of names (first == last)."""
    start = next(iter(pending))
    path, seen = [start], {start: 0}
    while True:
        nxt = next(d for d in deps[path[-1]] if d in pending)
        if nxt in seen:
            return path[seen[nxt]:] + [nxt]
        seen[nxt] = len(path)
        path.append(nxt)


def order_services(services, default_timeout_s=60):
    """Validated services in startup order (stable: unrelated services keep the listed order).

    Raises ServiceSpecError on a malformed description, a duplicate name, an unknown
    dependency or a dependency cycle.
    """
    if not isinstance(services, list):
        raise ServiceSpecError(f'services must be a list, got {type(services).__name__}')
    normalized = [normalize_service(s, default_timeout_s) for s in services]
    by_name = {}
    for service in normalized:
        if service['name'] in by_name:
            raise ServiceSpecError(f'service {service["name"]} is listed twice')
        by_name[service['name']] = service
    for service in normalized:
        unknown = [d for d in service['depends_on'] if d not in by_name]
        if unknown:
            raise ServiceSpecError(
                f'service {service["name"]} depends on unknown service(s) {", ".join(unknown)} '
                f'(known: {", ".join(by_name)})')
    deps = {name: service['depends_on'] for name, service in by_name.items()}
    ordered, done = [], set()
    pending = dict.fromkeys(by_name)  # keeps the listed order
    while pending:
        ready = next((n for n in pending if all(d in done for d in deps[n])), None)
        if ready is None:
            cycle = _find_cycle(pending, deps)
            raise ServiceSpecError(f'dependency cycle between services: {" -> ".join(cycle)}')
        ordered.append(by_name[ready])
        done.add(ready)
        del pending[ready]
    return ordered


def service_order(services, default_timeout_s=60):
    """Filter entry point: errors become AnsibleFilterError."""
    try:
        return order_services(services, default_timeout_s)
    except ServiceSpecError as exc:
        raise AnsibleFilterError(f'service_order: {exc}') from None


class FilterModule:
    """runbook.maintenance.service_order"""

    def filters(self):
        return {'service_order': service_order}
