"""The texts and verdicts of one service probe (the role's reports and failure messages read them)."""

from __future__ import annotations

from ansible_collections.runbook.maintenance.plugins.module_utils.serviceprobe import (
    command_text, container_state, outcome, port_text, postgres_text, reached, unit_properties, unit_state,
    url_text)

SHOW = 'LoadState=loaded\nActiveState=active\nSubState=running\nMainPID=42\nInvocationID=abc123\n'


def test_unit_properties_and_state():
    props = unit_properties(SHOW + 'garbage line\nEmpty=\n')
    assert props['ActiveState'] == 'active' and props['Empty'] == '' and 'garbage line' not in props
    state = unit_state('api', props)
    assert state == {'active': True, 'missing': False, 'stopped': False, 'instance': 'abc123', 'status': 'active',
                     'text': 'unit api active (running)'}
    failed = unit_state('api', unit_properties('LoadState=loaded\nActiveState=failed\nSubState=failed\n'))
    assert failed['stopped'] and not failed['active'] and failed['text'] == 'unit api failed (failed)'
    gone = unit_state('nope', unit_properties('LoadState=not-found\nActiveState=inactive\nSubState=dead\n'))
    assert gone['missing'] and gone['stopped'] and gone['text'] == 'unit nope inactive (dead), not found'
    assert unit_state('x', {})['text'] == 'unit x unknown ()'


def test_container_state():
    running = container_state('web', {'State': {'Status': 'running', 'StartedAt': 't1'}})
    assert running['active'] and running['instance'] == 't1' and running['text'] == 'container web running'
    missing = container_state('web', None)
    assert missing['missing'] and missing['stopped'] and missing['text'] == 'container web not found'
    assert container_state('web', {'State': {'Status': 'exited'}})['stopped']


def test_reached_needs_the_state_and_a_new_instance():
    state = unit_state('api', unit_properties(SHOW))
    assert reached('systemd', 'active', state, '') and not reached('systemd', 'inactive', state, '')
    assert not reached('systemd', 'active', state, 'abc123') and reached('systemd', 'active', state, 'old')
    assert not reached('docker', 'inactive', container_state('c', None), '')  # missing is not "stopped by us"


def test_url_text_names_scheme_host_and_port_only():
    url = 'http://127.0.0.1:8080/health?token=s3cret'
    assert url_text(url, 200, 200, 'ok', '') == 'GET http://127.0.0.1:8080: HTTP 200'
    assert url_text(url, 200, 503, ' warming up\n', '') == 'GET http://127.0.0.1:8080: HTTP 503 (warming up)'
    refused = url_text(url, 200, -1, '', 'Request failed: <urlopen error [Errno 111] Connection refused>')
    assert refused == 'GET http://127.0.0.1:8080: no answer (Request failed: <urlopen error [Errno 111] Connection refused>)'
    # what the uri module used to say, and a URL echoed back by the server
    assert url_text(url, 200, -1, '', 'Status code was -1 and not [200]: timed out') == \
        'GET http://127.0.0.1:8080: no answer (timed out)'
    echoed = url_text(url, 200, 404, f'no route {url}', '')
    assert 's3cret' not in echoed and echoed.endswith('(no route <health URL>)')
    assert url_text('https://localhost/h', 200, 500, 'x' * 500, '').endswith('x' * 200 + ')')


def test_command_port_and_postgres_texts():
    assert command_text(['true'], 0, 'noise', '') == 'true: exit 0'
    assert command_text(['sh', '-c', 'exit 3'], 3, 'boom', 'err') == 'sh -c exit 3: exit 3 (boom err)'
    assert command_text(['sleep', '9'], None, '', 'timed out after 1s') == 'sleep 9: exit ? (timed out after 1s)'
    assert port_text('127.0.0.1', 5432, '') == 'port 127.0.0.1:5432: open'
    assert port_text('::1', 1, 'Timeout when waiting for ::1:1') == 'port ::1:1: Timeout when waiting for ::1:1'
    assert postgres_text(True, '15.10', '') == 'PostgreSQL accepts connections (15.10)'
    assert postgres_text(False, '', '') == 'PostgreSQL does not answer: no detail'


def test_outcome():
    up = unit_state('api', unit_properties(SHOW))
    ok = outcome(up, 'active', {'ok': True, 'text': 'GET http://127.0.0.1:8080: HTTP 200'})
    assert ok['healthy'] and ok['detail'] == 'unit api active (running); GET http://127.0.0.1:8080: HTTP 200'
    sick = outcome(up, 'active', {'ok': False, 'text': 'true: exit 1'})
    assert not sick['healthy'] and sick['state'] == 'unit api active (running)'
    still_up = outcome(up, 'inactive', None)  # waiting for a stop: no health check, never healthy
    assert not still_up['healthy'] and still_up['detail'] == 'unit api active (running)'
    down = outcome(unit_state('api', {'ActiveState': 'failed', 'SubState': 'failed'}), 'active', None)
    assert not down['healthy'] and down['stopped'] and down['detail'] == 'unit api failed (failed)'
