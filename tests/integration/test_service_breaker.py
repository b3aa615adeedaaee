"""playbooks/service-breaker.yml against a small admin API on 127.0.0.1 (written here, token
checked): open and close confirmed and recorded, an API that is down, a wrong token, a read-back
that disagrees, check mode; the token is never in a URL, the output or the report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pgsandbox import free_port

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / 'playbooks' / 'service-breaker.yml'
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / 'ansible-playbook'
COLLECTIONS = REPO / '.build' / 'collections'
TOKEN = 'adm-T0ken-7f3a9c'
PREFIX = '/api/v1/admin/circuit-breaker/'


class AdminAPI:
    """A service's admin API: POST <prefix><name>/open|close, GET <prefix><name> -> {"breaker": {"state": ...}}.
    `stubborn` makes it accept changes without applying them (the read-back disagrees)."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.requests: list[dict] = []
        self.stubborn = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest's output clean
                return

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def authorised(self) -> bool:
                api.requests.append({'method': self.command, 'path': self.path, 'headers': dict(self.headers)})
                if self.headers.get('Authorization') != f'Bearer {TOKEN}':
                    self.answer(401, {'error': 'unauthorized'})
                    return False
                return True

            def do_GET(self):  # noqa: N802 - http.server's naming
                if not self.authorised():
                    return
                name = self.path[len(PREFIX):] if self.path.startswith(PREFIX) else None
                if not name or '/' in name:
                    self.answer(404, {'error': 'no such breaker'})
                    return
                self.answer(200, {'breaker': {'name': name, 'state': api.states.get(name, 'closed')}})

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get('Content-Length') or 0)
                self.rfile.read(length)
                if not self.authorised():
                    return
                parts = self.path[len(PREFIX):].split('/') if self.path.startswith(PREFIX) else []
                if len(parts) != 2 or parts[1] not in ('open', 'close'):
                    self.answer(404, {'error': 'no such action'})
                    return
                if not api.stubborn:
                    api.states[parts[0]] = 'open' if parts[1] == 'open' else 'closed'
                self.answer(200, {'name': parts[0], 'accepted': parts[1]})

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self.server.server_address[1]}'
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def api():
    server = AdminAPI()
    yield server
    server.close()


def run(tmp_path: Path, base_url: str, *extra: str, **variables):
    tmp_path.mkdir(parents=True, exist_ok=True)
    values = {
        'service_breaker_service': 'noa-mcp', 'service_breaker_name': 'claude', 'service_breaker_action': 'open',
        'service_breaker_base_url': base_url, 'service_breaker_token': TOKEN,
        'service_breaker_state_key': 'breaker.state', 'service_breaker_confirm_delay': 0,
        'service_breaker_timeout': 5, 'runbook_breaker_state_dir': str(tmp_path / 'breakers'),
        'maintenance_report_dir': str(tmp_path / 'reports'), 'ansible_python_interpreter': sys.executable,
    }
    values.update(variables)
    # The token reaches ansible in a vars file, as from Vault: never on the command line.
    (tmp_path / 'vars.json').write_text(json.dumps(values))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    done = subprocess.run([str(ANSIBLE_PLAYBOOK), '-i', 'localhost,', '-c', 'local', '-v', str(PLAYBOOK),
                           '-e', f'@{tmp_path / "vars.json"}', *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    reports = sorted((tmp_path / 'reports').glob('service_breaker-*.json'))
    report_text = reports[-1].read_text() if reports else ''
    assert TOKEN not in done.stdout + done.stderr, 'the token was printed'
    assert TOKEN not in report_text, 'the token is in the report'
    for path in (tmp_path / 'reports').glob('*'):
        assert TOKEN not in path.read_text()
    return done, (json.loads(report_text) if report_text else {})


def recorded(tmp_path: Path, name: str = 'noa-mcp.claude') -> dict | None:
    path = tmp_path / 'breakers' / f'{name}.json'
    return json.loads(path.read_text()) if path.exists() else None


def items(report: dict) -> dict:
    return [s for s in report['sections'] if s['title'] == 'Circuit breaker'][0]['items']


def test_open_then_close_confirmed_and_recorded(api, tmp_path):
    done, report = run(tmp_path, api.url)
    assert done.returncode == 0, done.stdout[-4000:]
    assert api.states['claude'] == 'open'
    state = recorded(tmp_path)
    assert state and state['state'] == 'open', state
    assert report['status'] == 'ok' and items(report)['state after'] == 'open'
    assert items(report)['recorded as'] == 'noa-mcp.claude = open'
    posts = [r for r in api.requests if r['method'] == 'POST']
    assert [r['path'] for r in posts] == [PREFIX + 'claude/open']
    for request in api.requests:  # the token travels in the header only
        assert TOKEN not in request['path'] and request['headers']['Authorization'] == f'Bearer {TOKEN}'

    again = run(tmp_path, api.url)[0]  # already open: no second change request
    assert again.returncode == 0
    assert len([r for r in api.requests if r['method'] == 'POST']) == 1

    closed, report = run(tmp_path, api.url, service_breaker_action='close')
    assert closed.returncode == 0, closed.stdout[-4000:]
    assert api.states['claude'] == 'closed' and recorded(tmp_path)['state'] == 'closed'
    assert items(report)['recorded as'] == 'noa-mcp.claude = closed'


def test_check_mode_reads_only(api, tmp_path):
    done, report = run(tmp_path, api.url, '--check')
    assert done.returncode == 0, done.stdout[-4000:]
    assert [r['method'] for r in api.requests] == ['GET']
    assert 'claude' not in api.states and recorded(tmp_path) is None
    assert report['check_mode'] is True and items(report)['state before'] == 'closed'


def test_api_down_fails_clearly_and_records_nothing(tmp_path):
    down = f'http://127.0.0.1:{free_port()}'
    done, report = run(tmp_path, down)
    assert done.returncode != 0
    assert 'cannot read its state' in done.stdout and 'no answer' in done.stdout
    assert recorded(tmp_path) is None, 'a breaker was recorded although the API is down'
    assert report['status'] == 'failed' and items(report)['recorded as'] == 'nothing'


def test_wrong_token_fails_clearly_and_is_never_printed(api, tmp_path):
    done, report = run(tmp_path, api.url, service_breaker_token='wr0ng-adm1n-secret')
    assert done.returncode != 0
    assert 'The token was refused' in done.stdout and '401' in done.stdout
    assert 'wr0ng-adm1n-secret' not in done.stdout + done.stderr + json.dumps(report)
    assert 'claude' not in api.states and recorded(tmp_path) is None


def test_read_back_that_disagrees_fails_and_records_nothing(api, tmp_path):
    api.stubborn = True
    done, report = run(tmp_path, api.url, service_breaker_confirm_retries=1)
    assert done.returncode != 0
    assert 'but' in done.stdout and "breaker.state = \"closed\"" in done.stdout, done.stdout[-3000:]
    assert 'Nothing was recorded' in done.stdout
    assert recorded(tmp_path) is None
    assert report['status'] == 'failed'


def test_token_in_a_url_is_refused(api, tmp_path):
    done = run(tmp_path, api.url, service_breaker_url=f'{api.url}{PREFIX}claude/open?token={TOKEN}')[0]
    assert done.returncode != 0
    assert 'must not be part of a URL' in done.stdout
    assert not [r for r in api.requests if r['method'] == 'POST']
