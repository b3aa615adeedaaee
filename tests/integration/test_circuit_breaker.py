"""circuit_breaker across real processes: concurrency, kills mid-write, corrupt files, HTTP."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def breaker(run_module, state_dir, check=False, **kw):
    return run_module('circuit_breaker', dict({'name': 'backups', 'state_dir': str(state_dir)}, **kw), check=check)


def test_opens_after_threshold_check_fails_then_trial_and_close(run_module, tmp_path):
    for _i in range(2):
        assert breaker(run_module, tmp_path, action='record_failure', reason='verify failed')['state'] == 'closed'
    opened = breaker(run_module, tmp_path, action='record_failure', reason='verify failed')
    assert opened['state'] == 'open' and opened['previous_state'] == 'closed' and opened['changed'] is True
    blocked = breaker(run_module, tmp_path, action='check')
    assert blocked['failed'] is True and 'is open since' in blocked['msg'] and 'verify failed' in blocked['msg']
    soft = breaker(run_module, tmp_path, action='check', fail_when_open=False)
    assert soft.get('failed') is not True and soft['allowed'] is False and soft['changed'] is False
    trial = breaker(run_module, tmp_path, action='check', reset_timeout='0s')
    assert trial['state'] == 'half_open' and trial['allowed'] is True
    closed = breaker(run_module, tmp_path, action='record_success')
    assert closed['state'] == 'closed' and closed['failures'] == 0


def test_check_mode_reports_the_transition_and_writes_nothing(run_module, tmp_path):
    state_dir = tmp_path / 'breakers'
    result = breaker(run_module, state_dir, check=True, action='record_failure', failure_threshold=1)
    assert result['state'] == 'open' and result['changed'] is True
    assert not state_dir.exists(), 'check mode created the state directory'


def test_twenty_concurrent_failures_count_twenty(run_module, tmp_path):
    procs = [run_module.start('circuit_breaker', {'name': 'backups', 'state_dir': str(tmp_path),
                                                  'action': 'record_failure', 'failure_threshold': 100})
             for _i in range(20)]
    for proc in procs:
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    assert json.loads((tmp_path / 'backups.json').read_text())['failures'] == 20


def test_processes_killed_mid_write_never_leave_a_corrupt_file(run_module, tmp_path):
    rng = random.Random(7)
    killed = 0
    for _round in range(5):
        procs = [run_module.start('circuit_breaker', {'name': 'backups', 'state_dir': str(tmp_path),
                                                      'action': 'record_failure', 'failure_threshold': 1000})
                 for _i in range(8)]
        time.sleep(rng.uniform(0.2, 0.5))  # about when they import, lock, write
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
        for proc in procs:
            proc.communicate(timeout=30)
        if (tmp_path / 'backups.json').exists():
            json.loads((tmp_path / 'backups.json').read_text())  # raises if half-written
    status = breaker(run_module, tmp_path, action='status')
    assert status.get('failed') is not True and 0 <= status['failures'] <= 40
    print(f'{killed} writers killed; {status["failures"]} failures recorded')


def test_corrupt_file_fails_clearly_and_counts_as_open(run_module, tmp_path):
    (tmp_path / 'backups.json').write_text('{"state": "open", "fail')
    result = breaker(run_module, tmp_path, action='check')
    assert result['failed'] is True and result['state'] == 'open' and result['allowed'] is False
    assert 'not valid JSON' in result['msg'] and 'treated as open' in result['msg']
    assert 'Traceback' not in result['_stderr']
    assert breaker(run_module, tmp_path, action='record_success')['failed'] is True  # never counted over
    reset = breaker(run_module, tmp_path, action='close')  # the operator's way out
    assert reset.get('failed') is not True and reset['state'] == 'closed'
    kept = [p.name for p in tmp_path.iterdir() if '.corrupt-' in p.name]
    assert len(kept) == 1, 'the unreadable file is kept as evidence'


@pytest.fixture()
def endpoint():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers['Content-Length']))
            received.append({'body': json.loads(body), 'auth': self.headers.get('Authorization'),
                             'team': self.headers.get('X-Team')})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'ok')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}/admin/circuit-breakers/backups', received
    server.shutdown()


def test_state_change_is_posted_to_the_endpoint(run_module, tmp_path, endpoint):
    url, received = endpoint
    token = 'tok-s3cr3t'
    opened = breaker(run_module, tmp_path, action='open', reason='provider down', notify_url=url, url_token=token,
                     url_headers={'X-Team': 'sre'})
    assert opened['notification']['status'] == 200 and opened['notification']['attempts'] == 1
    assert received[0]['body']['state'] == 'open' and received[0]['body']['name'] == 'backups'
    assert received[0]['auth'] == f'Bearer {token}' and received[0]['team'] == 'sre'
    assert token not in json.dumps(opened)
    breaker(run_module, tmp_path, action='open', notify_url=url)  # no change: no notification
    assert len(received) == 1


def test_endpoint_down_does_not_lose_the_state(run_module, tmp_path):
    result = breaker(run_module, tmp_path, action='open', reason='x', notify_url='http://127.0.0.1:1/cb',
                     url_retries=2, url_timeout=1)
    assert result.get('failed') is not True and result['state'] == 'open'
    assert result['notification']['attempts'] == 2 and result['notification']['error']
    assert json.loads((tmp_path / 'backups.json').read_text())['state'] == 'open'


@pytest.mark.parametrize('bad, message', [
    (dict(name='../etc/passwd'), 'name must be letters'),
    (dict(failure_threshold=0), 'failure_threshold must be at least 1'),
    (dict(reset_timeout='later'), 'reset_timeout: not a duration'),
])
def test_bad_options_fail_clearly(run_module, tmp_path, bad, message):
    result = breaker(run_module, tmp_path, **bad)
    assert result['failed'] is True and message in result['msg']
