# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One probe of one service for the service_recovery role: the state of its systemd unit or
container (waiting, polling, for the wanted state and a new instance), then its health check
(HTTP, a command, a TCP port or PostgreSQL), waiting for it to pass.

The texts (RV(state), RV(detail)) are those the role's reports and failure messages have always
shown. Pure functions first (unit properties, texts, verdicts); Prober does the I/O. Written as a
module because the same probe as tasks was about ten tasks and two module runs per probe."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.error
from urllib.parse import urlsplit

STATES = {'active': {'systemd': ('active',), 'docker': ('running',)},
          'inactive': {'systemd': ('inactive', 'failed'), 'docker': ('exited', 'created', 'dead')}}
UNIT_PROPERTIES = 'LoadState,ActiveState,SubState,MainPID,InvocationID'
HEALTH_TYPES = ('url', 'command', 'port', 'postgres')
MAX_BODY = 64 * 1024
URI_PREFIX = 'Status code was -1 and not '


def unit_properties(stdout: str) -> dict:
    """`systemctl show --property=...` output as a dictionary."""
    props = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition('=')
        if sep and key:
            props[key] = value
    return props


def unit_state(unit: str, props: dict) -> dict:
    """active, stopped, missing, instance and the state's text from a unit's properties."""
    active_state = props.get('ActiveState', '')
    text = (f"unit {unit} {props.get('ActiveState', 'unknown')} ({props.get('SubState', '')})"
            + (', not found' if props.get('LoadState', '') == 'not-found' else ''))
    return {'active': active_state == 'active', 'missing': props.get('LoadState', '') == 'not-found',
            'stopped': active_state in STATES['inactive']['systemd'], 'instance': props.get('InvocationID', ''),
            'status': active_state, 'text': text}


def container_state(container: str, info: dict | None) -> dict:
    """The same from `docker inspect` (None: no such container)."""
    state = (info or {}).get('State') or {}
    status = state.get('Status', '')
    return {'active': status == 'running', 'missing': info is None,
            'stopped': (status or 'exited') in STATES['inactive']['docker'], 'instance': state.get('StartedAt', ''),
            'status': status, 'text': f"container {container} {status or 'not found'}"}


def reached(kind: str, want: str, state: dict, old_instance: str) -> bool:
    """Whether the unit or container is in the wanted state (as a new instance when one is named)."""
    if kind == 'docker' and state['missing']:
        return False
    return state['status'] in STATES[want][kind] and (not old_instance or state['instance'] != old_instance)


def url_text(url: str, expected: int, status: int, content: str, msg: str) -> str:
    """'GET http://127.0.0.1:8080: HTTP 503 (why)' - scheme, host and port only (a token in the path
    or query never shows); the URL itself is replaced in what the server or the error said."""
    parts = urlsplit(url)
    port = f':{parts.port}' if parts.port else ''
    text = f"GET {parts.scheme}://{parts.hostname}{port}:" + (f' HTTP {status}' if status > 0 else ' no answer')
    if status != expected:
        why = (content or '').strip()
        if not why:
            why = msg or ''
            if why.startswith(URI_PREFIX) and ']: ' in why:
                why = why.split(']: ', 1)[1]
            why = why.strip()
        if why:
            text += ' (' + why.replace(url, '<health URL>')[:200] + ')'
    return text


def command_text(command: list, rc: int | None, stdout: str, stderr: str) -> str:
    out = f'{stdout} {stderr}'.strip()
    text = f"{' '.join(command)}: exit {'?' if rc is None else rc}"
    if out and rc != 0:
        text += f' ({out[-300:]})'
    return text


def port_text(host: str, port: int, msg: str) -> str:
    return f'port {host}:{port}: {msg or "open"}'


def postgres_text(available: bool, version: str, error: str) -> str:
    if available:
        return f'PostgreSQL accepts connections ({version})'
    return f"PostgreSQL does not answer: {(error or 'no detail').strip()}"


def outcome(state: dict, want: str, health: dict | None) -> dict:
    """The probe's result as the role keeps it."""
    checked = want == 'active' and state['active'] and health is not None
    healthy = bool(state['active'] and checked and health['ok'])
    detail = state['text'] + (f"; {health['text']}" if state['active'] and health is not None else '')
    return {'active': state['active'], 'stopped': state['stopped'], 'missing': state['missing'],
            'instance': state['instance'], 'state': state['text'], 'healthy': healthy, 'detail': detail}


class Prober:
    """Reads a service's state and health, polling until it is reached or the time is up."""

    def __init__(self, module) -> None:
        self.module = module
        self.p = module.params
        self.poll = float(self.p['poll_interval_s'])
        self.timeout = float(self.p['probe_timeout_s'])
        self.attempts = 0
        self._docker = None

    # -- the state ----------------------------------------------------------------------------
    def read_state(self) -> dict:
        if self.p['kind'] == 'systemd':
            systemctl = self.module.get_bin_path('systemctl', required=True)
            rc, out, err = self.module.run_command([systemctl, 'show', self.p['unit'], f'--property={UNIT_PROPERTIES}'])
            if rc != 0:
                self.module.fail_json(msg=f"cannot read the state of unit {self.p['unit']}: systemctl show exited {rc}: "
                                      f"{err.strip()[:300]}")
            return unit_state(self.p['unit'], unit_properties(out))
        return container_state(self.p['container'], self.inspect())

    def inspect(self) -> dict | None:
        if self._docker is None:
            from ansible_collections.runbook.maintenance.plugins.module_utils.dockersdk import connect  # pylint: disable=import-outside-toplevel
            self._docker = connect(self.module, self.p['docker_host'], int(max(self.timeout, 1)))
        docker, client = self._docker
        try:
            return client.api.inspect_container(self.p['container'])
        except docker.errors.NotFound:
            return None
        except Exception as exc:  # noqa: BLE001 - the SDK raises several types
            self.module.fail_json(msg=f"cannot read the state of container {self.p['container']}: {exc}")
        return None

    def wait_state(self) -> dict:
        deadline = time.monotonic() + float(self.p['unit_wait_s'])
        while True:
            self.attempts += 1
            state = self.read_state()
            if time.monotonic() >= deadline or reached(self.p['kind'], self.p['want'], state, self.p['old_instance']):
                return state
            time.sleep(self.poll)

    # -- the health check ---------------------------------------------------------------------
    def check_url(self) -> dict:
        """GET the URL as the uri module did (open_url: credentials in the URL, proxies, certificates)."""
        # ansible.module_utils.urls imports cryptography (x509): only for URL checks.
        from ansible.module_utils.urls import open_url  # pylint: disable=import-outside-toplevel
        url = self.p['health_url']
        status, content, msg = -1, '', ''
        try:
            with open_url(url, method='GET', timeout=self.timeout, validate_certs=self.p['health_validate_certs'],
                          follow_redirects='safe') as response:
                status = response.status
                content = response.read(MAX_BODY).decode('utf-8', 'replace')
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                content = exc.read(MAX_BODY).decode('utf-8', 'replace')
            except OSError:
                content = ''
        except urllib.error.URLError as exc:
            msg = f'Request failed: {exc}'
        except (TimeoutError, socket.timeout) as exc:
            msg = f'Connection failure: {exc or "timed out"}'
        except Exception as exc:  # noqa: BLE001 - ssl, http.client and ansible's own connection errors
            msg = f'Connection failure: {exc}'
        expected = int(self.p['health_status'])
        return {'ok': status == expected, 'text': url_text(url, expected, status, content, msg)}

    def check_command(self) -> dict:
        """The health command, bounded by probe_timeout_s (run_command has no time limit)."""
        from ansible_collections.runbook.maintenance.plugins.module_utils.pgclient import run_with_deadline  # pylint: disable=import-outside-toplevel
        command = self.p['health_command']
        try:
            rc, output, timed_out = run_with_deadline(command, dict(os.environ), self.timeout, 1, signal.SIGTERM)
        except OSError as exc:
            return {'ok': False, 'text': command_text(command, 127, '', str(exc))}
        if timed_out:
            return {'ok': False, 'text': command_text(command, None, '', f'timed out after {max(self.timeout, 1):g}s')}
        return {'ok': rc == 0, 'text': command_text(command, rc, output, '')}

    def check_port(self, wait_s: float) -> dict:
        """As ansible.builtin.wait_for: connect until the port answers or max(wait_s, 1) is over."""
        host, port = self.p['health_host'], int(self.p['health_port'])
        deadline = time.monotonic() + max(wait_s, 1)
        while True:
            try:
                with socket.create_connection((host, port), timeout=self.timeout):
                    return {'ok': True, 'text': port_text(host, port, '')}
            except OSError:
                pass
            if time.monotonic() >= deadline:
                return {'ok': False, 'text': port_text(host, port, f'Timeout when waiting for {host}:{port}')}
            time.sleep(self.poll)

    def check_postgres(self) -> dict:
        from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import (  # pylint: disable=import-outside-toplevel
            connection_kwargs, ensure_psycopg, psycopg, scrub, server_version)
        ensure_psycopg(self.module)
        kwargs = connection_kwargs(self.p)
        kwargs['connect_timeout'] = int(max(1, min(kwargs.get('connect_timeout', 10), self.timeout)))
        try:
            with psycopg.connect(autocommit=True, **kwargs) as conn:
                conn.execute('SELECT 1')
                version = server_version(conn)['full']
        except Exception as exc:  # noqa: BLE001 - psycopg.Error, or libpq option errors of other types
            return {'ok': False, 'text': postgres_text(False, '', scrub(' '.join(str(exc).split()), self.p))}
        return {'ok': True, 'text': postgres_text(True, version, '')}

    def check_health(self) -> dict:
        kind = self.p['health_type']
        wait_s = float(self.p['health_wait_s'])
        if kind == 'port':
            self.attempts += 1
            return self.check_port(wait_s)
        deadline = time.monotonic() + wait_s
        check = {'url': self.check_url, 'command': self.check_command, 'postgres': self.check_postgres}[kind]
        while True:
            self.attempts += 1
            health = check()
            if health['ok'] or time.monotonic() >= deadline:
                return health
            time.sleep(self.poll)

    def run(self) -> dict:
        started = time.monotonic()
        state = self.wait_state()
        health = self.check_health() if self.p['want'] == 'active' and state['active'] else None
        result = outcome(state, self.p['want'], health)
        result.update(changed=False, attempts=self.attempts, elapsed_s=round(time.monotonic() - started, 1))
        return result
