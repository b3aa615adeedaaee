"""End state after the service-failure recovery (testinfra, through docker exec)."""

from __future__ import annotations

import pytest

UNITS = ['postgresql@15-main', 'api', 'frontend']  # the runbook's startup sequence


def unit_props(host, unit):
    out = host.check_output(
        f'systemctl show {unit} --property=ActiveState,SubState,ActiveEnterTimestampMonotonic,NRestarts')
    return dict(line.split('=', 1) for line in out.splitlines())


@pytest.mark.parametrize('unit', UNITS)
def test_units_are_active(host, unit):
    props = unit_props(host, unit)
    assert props['ActiveState'] == 'active' and props['SubState'] == 'running'


def test_postgresql_accepts_connections(host):
    assert host.check_output('runuser -u postgres -- psql -Atc "SELECT 1"') == '1'


@pytest.mark.parametrize('port', [8080, 8081])
def test_health_endpoints_answer_200(host, port):
    code = host.check_output(f'curl -s -o /dev/null -w "%{{http_code}}" http://127.0.0.1:{port}/health')
    assert code == '200'


def test_started_in_dependency_order(host):
    started = [int(unit_props(host, unit)['ActiveEnterTimestampMonotonic']) for unit in UNITS]
    assert all(t > 0 for t in started)
    assert started == sorted(started) and len(set(started)) == len(started)


def test_api_was_killed_once_it_ignored_sigterm(host):
    journal = host.check_output('journalctl --unit api --no-pager --output cat')
    assert 'Sent signal SIGKILL' in journal


def test_negative_case_dependant_never_started(host):
    props = host.check_output('systemctl show broken-child --property=ActiveState,InvocationID')
    assert 'ActiveState=inactive' in props.splitlines()
    assert 'InvocationID=' in props.splitlines()
