"""runbook.maintenance.service_probe as a new process against real things: a container of the test
image on this machine's Docker engine (no network), an HTTP server, a TCP port and PostgreSQL on
127.0.0.1, real commands. The systemd side runs in the molecule scenarios (service_failure, dr,
complete_recovery), where systemd is PID 1."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

IMAGE = os.environ.get('RUNBOOK_TARGET_IMAGE', 'runbook-maintenance-target:bookworm')
TOKEN = 'tok-9c1e4a'


def docker_ready() -> bool:
    if not shutil.which('docker'):
        return False
    return subprocess.run(['docker', 'image', 'inspect', IMAGE], capture_output=True, check=False).returncode == 0


@pytest.fixture(scope='module')
def container():
    if not docker_ready():
        pytest.skip(f'needs the Docker engine and the image {IMAGE} (make test builds it)')
    name = f'runbook-probe-{os.getpid()}'
    subprocess.run(['docker', 'rm', '-f', name], capture_output=True, check=False)
    subprocess.run(['docker', 'run', '-d', '--name', name, '--network', 'none', IMAGE, 'sleep', 'infinity'],
                   capture_output=True, check=True)
    yield name
    subprocess.run(['docker', 'rm', '-f', name], capture_output=True, check=False)


@pytest.fixture(scope='module')
def http():
    """/ok 200; /sick 503 'warming up'; /later 503 for its first `later['failures']` requests, then 200."""
    later = {'failures': 0, 'seen': 0}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            path = self.path.split('?')[0]
            with lock:
                if path.startswith('/later'):
                    later['seen'] += 1
                ready = later['seen'] > later['failures']
            good = path.startswith('/ok') or (path.startswith('/later') and ready)
            body = b'fine' if good else b'warming up'
            self.send_response(200 if good else 503)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{server.server_address[1]}', later
    server.shutdown()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def probe(run_module, container, **kw):
    args = dict({'name': 'svc', 'kind': 'docker', 'container': container, 'poll_interval_s': 0.3,
                 'probe_timeout_s': 2, 'health_type': 'command', 'health_command': ['true']}, **kw)
    return run_module('service_probe', args)


def test_each_health_check_reports_what_the_role_shows(run_module, container, http, pg):
    base, _ready = http
    ok = probe(run_module, container)
    assert ok['active'] and ok['healthy'] and not ok['missing'] and ok['instance'], ok
    assert ok['detail'] == f'container {container} running; true: exit 0' and ok['changed'] is False

    failing = probe(run_module, container, health_command=['sh', '-c', 'echo boom; exit 3'])
    assert not failing['healthy'] and failing['detail'].endswith('sh -c echo boom; exit 3: exit 3 (boom)')
    slow = probe(run_module, container, health_command=['sleep', '30'], probe_timeout_s=1)
    assert not slow['healthy'] and slow['detail'].endswith('sleep 30: exit ? (timed out after 1s)'), slow

    url = f'{base}/ok/{TOKEN}?key={TOKEN}'
    good = probe(run_module, container, health_type='url', health_url=url)
    assert good['healthy'] and good['detail'].endswith(f'GET {base}: HTTP 200')
    sick = probe(run_module, container, health_type='url', health_url=f'{base}/sick/{TOKEN}')
    assert not sick['healthy'] and sick['detail'].endswith(f'GET {base}: HTTP 503 (warming up)')
    down = probe(run_module, container, health_type='url', health_url=f'http://127.0.0.1:{closed_port()}/{TOKEN}')
    assert not down['healthy'] and ': no answer (Request failed:' in down['detail'] and 'refused' in down['detail']
    for result in (good, sick, down):
        assert TOKEN not in json.dumps({k: v for k, v in result.items() if k != '_stderr'}), 'the token leaked'

    port = int(base.rsplit(':', 1)[1])
    assert probe(run_module, container, health_type='port', health_port=port)['detail'].endswith(
        f'port 127.0.0.1:{port}: open')
    shut = closed_port()
    started = time.monotonic()
    refused = probe(run_module, container, health_type='port', health_port=shut)
    assert not refused['healthy'] and refused['detail'].endswith(f'Timeout when waiting for 127.0.0.1:{shut}')
    assert time.monotonic() - started >= 1  # wait_for's least wait

    conn = {'login_unix_socket': str(pg.run), 'login_port': pg.port, 'login_user': 'postgres'}
    answers = probe(run_module, container, health_type='postgres', **conn)
    assert answers['healthy'] and 'PostgreSQL accepts connections (' in answers['detail'], answers
    unreachable = dict(conn)
    unreachable['login_port'] = closed_port()
    silent = probe(run_module, container, health_type='postgres', **unreachable)
    assert not silent['healthy'] and 'PostgreSQL does not answer: ' in silent['detail']


def test_waits_for_the_health_check_within_its_time(run_module, container, http):
    base, later = http
    later.update(failures=3, seen=0)  # the next three GETs of /later answer 503
    once = probe(run_module, container, health_type='url', health_url=f'{base}/later')
    assert not once['healthy'] and once['attempts'] == 2 and later['seen'] == 1  # one state read, one check
    waited = probe(run_module, container, health_type='url', health_url=f'{base}/later', health_wait_s=30)
    assert waited['healthy'] and waited['attempts'] == 4 and later['seen'] == 4, waited  # 503, 503, 200
    later.update(failures=10 ** 6, seen=0)
    started = time.monotonic()
    gave_up = probe(run_module, container, health_type='url', health_url=f'{base}/later', health_wait_s=1.5)
    assert not gave_up['healthy'] and later['seen'] >= 2 and time.monotonic() - started >= 1.5, gave_up


def test_states_missing_a_new_instance_and_a_stop(run_module, container):
    missing = probe(run_module, 'runbook-probe-nosuch')
    assert missing['missing'] and missing['stopped'] and not missing['healthy'] and not missing['active']
    assert missing['detail'] == 'container runbook-probe-nosuch not found'

    before = probe(run_module, container)
    same = probe(run_module, container, old_instance=before['instance'], unit_wait_s=1)
    assert same['active'] and same['instance'] == before['instance'] and same['elapsed_s'] >= 1  # waited, no new one
    subprocess.run(['docker', 'restart', '-t', '0', container], capture_output=True, check=True)
    new = probe(run_module, container, old_instance=before['instance'], unit_wait_s=20)
    assert new['active'] and new['healthy'] and new['instance'] != before['instance'], new

    subprocess.Popen(['sh', '-c', f'sleep 1; docker stop -t 0 {container} >/dev/null'])
    stopped = probe(run_module, container, want='inactive', unit_wait_s=20)
    assert stopped['stopped'] and not stopped['active'] and not stopped['healthy'], stopped
    assert stopped['detail'] == f'container {container} exited'
    subprocess.run(['docker', 'start', container], capture_output=True, check=True)


@pytest.mark.parametrize('args, expected', [
    ({'health_type': 'url'}, 'health_type=url needs health_url'),
    ({'health_type': 'url', 'health_url': 'ftp://127.0.0.1/x'}, 'health_url must be an http'),
    ({'health_type': 'port', 'health_port': 70000}, 'health_port must be a TCP port'),
    ({'health_type': 'url', 'health_url': 'http://127.0.0.1:9/', 'health_status': 0}, 'health_status must be an HTTP'),
    ({'health_type': 'url', 'health_url': 'http://127.0.0.1:9/', 'health_status': 2000}, 'health_status must be an HTTP'),
    ({'unit_wait_s': -1}, 'unit_wait_s must be between 0'),
    ({'poll_interval_s': 0}, 'poll_interval_s must be above 0'),
    ({'kind': 'systemd'}, 'unit'),
])
def test_bad_options_fail_clearly(run_module, args, expected):
    base = {'name': 'svc', 'kind': 'docker', 'container': 'c', 'health_type': 'command', 'health_command': ['true']}
    if args.get('kind') == 'systemd':
        base.pop('container')
    result = run_module('service_probe', dict(base, **args))
    assert result.get('failed') and expected in result['msg'] and 'Traceback' not in result['_stderr'], result
