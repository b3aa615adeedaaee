"""service_order: validation of service descriptions and startup order (pure logic)."""

from __future__ import annotations

import itertools

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.maintenance.plugins.filter.service_order import (
    FilterModule,
    ServiceSpecError,
    normalize_service,
    order_services,
)

PG = {'name': 'postgresql', 'unit': 'postgresql@15-main', 'health': {'postgres': True}}
API = {'name': 'api', 'health': {'url': 'http://127.0.0.1:8080/health'}, 'depends_on': ['postgresql']}
FRONTEND = {'name': 'frontend', 'health': {'url': 'http://localhost:8081/health'}, 'depends_on': ['api']}


def names(services):
    return [s['name'] for s in services]


def test_runbook_startup_sequence_from_any_listing():
    for listing in itertools.permutations([PG, API, FRONTEND]):
        assert names(order_services(list(listing))) == ['postgresql', 'api', 'frontend']


def test_unrelated_services_keep_their_listed_order():
    services = [{'name': n, 'health': {'port': 80 + i}} for i, n in enumerate('cab')]
    assert names(order_services(services)) == ['c', 'a', 'b']


def test_every_dependency_comes_first_in_a_diamond():
    services = [
        {'name': 'web', 'health': {'port': 1}, 'depends_on': ['api', 'worker']},
        {'name': 'worker', 'health': {'port': 2}, 'depends_on': ['db', 'queue']},
        {'name': 'api', 'health': {'port': 3}, 'depends_on': ['db']},
        {'name': 'queue', 'health': {'port': 4}},
        {'name': 'db', 'health': {'postgres': True}},
    ]
    ordered = names(order_services(services))
    for service in services:
        for dep in service.get('depends_on', []):
            assert ordered.index(dep) < ordered.index(service['name'])
    assert ordered == ['queue', 'db', 'worker', 'api', 'web']


def test_defaults_are_filled_in():
    api = order_services([PG, API], default_timeout_s=30)[1]
    assert api['kind'] == 'systemd' and api['unit'] == 'api' and api['timeout_s'] == 30
    assert api['health'] == {'url': 'http://127.0.0.1:8080/health', 'type': 'url', 'status': 200}
    assert api['depends_on'] == ['postgresql']
    pg = order_services([PG])[0]
    assert pg['unit'] == 'postgresql@15-main' and pg['depends_on'] == [] and pg['timeout_s'] == 60


def test_docker_services_name_a_container():
    svc = normalize_service({'name': 'api', 'kind': 'docker', 'health': {'command': 'curl -fsS http://127.0.0.1/'}})
    assert svc['container'] == 'api' and 'unit' not in svc
    assert svc['health']['command'] == ['curl', '-fsS', 'http://127.0.0.1/']


def test_input_is_not_modified():
    api = dict(API)
    order_services([PG, api])
    assert api == API


@pytest.mark.parametrize('services, message', [
    ([PG, {'name': 'api', 'health': {'port': 1}, 'depends_on': ['postgres']}],
     'service api depends on unknown service(s) postgres'),
    ([PG, PG], 'service postgresql is listed twice'),
    ([{'name': 'a', 'health': {'port': 1}, 'depends_on': ['a']}], 'service a depends on itself'),
    ([{'name': 'a', 'health': {'port': 1}}, {'name': 'b', 'health': {'port': 1}, 'depends_on': ['c']},
      {'name': 'c', 'health': {'port': 1}, 'depends_on': ['d']}, {'name': 'd', 'health': {'port': 1}, 'depends_on': ['b']}],
     'dependency cycle between services: b -> c -> d -> b'),
    ([{'name': 'x', 'health': {'port': 1}, 'depends_on': ['y']}, {'name': 'y', 'health': {'port': 1}, 'depends_on': ['x']}],
     'dependency cycle between services: x -> y -> x'),
    ([{'name': 'a', 'kind': 'process', 'health': {'port': 1}}], 'service a: kind must be one of systemd, docker'),
    ([{'name': 'a'}], 'service a: a health check is required'),
    ([{'name': 'a', 'health': {}}], "health needs exactly one of url, command, port, postgres, got none"),
    ([{'name': 'a', 'health': {'port': 1, 'postgres': True}}], "got ['port', 'postgres']"),
    ([{'name': 'a', 'health': {'url': 'http://10.0.0.5/health'}}], 'health url must be http(s) on 127.0.0.1'),
    ([{'name': 'a', 'health': {'url': 'ftp://127.0.0.1/'}}], 'health url must be http(s) on 127.0.0.1'),
    ([{'name': 'a', 'health': {'port': 70000}}], 'health port must be a TCP port number'),
    ([{'name': 'a', 'health': {'url': 'http://127.0.0.1/', 'status': 'ok'}}], 'health status must be an HTTP status code'),
    ([{'name': 'a', 'health': {'url': 'http://127.0.0.1/', 'status': 99}}], 'health status must be an HTTP status code'),
    ([{'name': 'a', 'health': {'url': 'http://127.0.0.1/', 'status': True}}], 'health status must be an HTTP status code'),
    ([{'name': 'a', 'health': {'port': 5432, 'host': '192.168.1.1'}}], 'health host must be 127.0.0.1'),
    ([{'name': 'a', 'health': {'postgres': 'yes'}}], 'health postgres must be true'),
    ([{'name': 'a', 'health': {'command': []}}], 'exactly one of url, command, port, postgres, got none'),
    ([{'name': 'a', 'health': {'command': [{'x': 1}]}}], 'health command must be a non-empty list'),
    ([{'name': 'a', 'health': {'command': ['docker', 'exec', 'a', True]}}], '(quote true, false, yes, no)'),
    ([{'name': 'a', 'health': {'port': 1}, 'timeout_s': 0}], 'service a: timeout_s must be a positive whole number'),
    ([{'name': 'a', 'health': {'port': 1}, 'timeout_s': 'soon'}], 'timeout_s must be a positive whole number'),
    ([{'name': 'a', 'health': {'port': 1}, 'timeout_s': True}], 'timeout_s must be a positive whole number'),
    ([{'name': 'a', 'unit': '', 'health': {'port': 1}}], 'service a: unit must be a non-empty string'),
    ([{'name': 'a', 'health': {'port': 1}, 'depends_on': [1]}], 'depends_on must be a list of service names'),
    ([{'health': {'port': 1}}], 'every service needs a name'),
    ([{'name': 'bad name', 'health': {'port': 1}}], 'every service needs a name'),
    (['api'], 'every service must be a dictionary'),
    ({'name': 'a'}, 'services must be a list'),
])
def test_bad_descriptions_fail_clearly(services, message):
    with pytest.raises(ServiceSpecError) as err:
        order_services(services)
    assert message in str(err.value)


def test_filter_raises_ansible_filter_error():
    service_order = FilterModule().filters()['service_order']
    assert names(service_order([FRONTEND, API, PG], default_timeout_s=5)) == ['postgresql', 'api', 'frontend']
    with pytest.raises(AnsibleFilterError, match='service_order: dependency cycle'):
        service_order([{'name': 'x', 'health': {'port': 1}, 'depends_on': ['x2']},
                       {'name': 'x2', 'health': {'port': 1}, 'depends_on': ['x']}])
