"""The EDA side without a JVM: the alertmanager_hosts event filter (pure), and the rulebook's
alert names exist in the shipped Prometheus rules (a renamed alert would silently start nothing)."""

from __future__ import annotations

import runpy
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
FILTER = runpy.run_path(str(REPO / 'extensions' / 'eda' / 'plugins' / 'event_filter' / 'alertmanager_hosts.py'))
RULEBOOK = REPO / 'extensions' / 'eda' / 'rulebooks' / 'runbook_alerts.yml'
RULES = REPO / 'prometheus' / 'rules' / 'runbook.rules.yml'


def notification(*alerts, status='firing'):
    return {'payload': {'version': '4', 'status': status, 'receiver': 'eda', 'groupKey': 'k',
                        'externalURL': 'http://am:9093', 'alerts': list(alerts)},
            'meta': {'endpoint': '', 'headers': {}}}


def alert(status='firing', **labels):
    return {'status': status, 'labels': {'alertname': 'DiskSpaceCritical', **labels},
            'annotations': {'summary': 's'}, 'startsAt': '2026-12-07T02:00:00Z', 'fingerprint': 'f'}


def test_strip_port():
    strip = FILTER['strip_port']
    assert strip('db-1:9100') == 'db-1'
    assert strip('db-1') == 'db-1'
    assert strip('10.0.0.5:9187') == '10.0.0.5'
    assert strip('[2001:db8::1]:9187') == '2001:db8::1'
    assert strip('2001:db8::1') == '2001:db8::1'
    assert strip(' db-1.example.com:9100 ') == 'db-1.example.com'


def test_one_event_per_firing_alert_with_its_host_as_limit():
    events = FILTER['main'](notification(alert(instance='db-1:9100'), alert(host='db-2', instance='x:1'),
                                         alert(status='resolved', instance='db-3:9100')))
    assert [e['host'] for e in events] == ['db-1', 'db-2']  # host label first; resolved dropped
    assert events[0]['meta'] == {'hosts': ['db-1']}
    assert events[0]['alert']['labels']['alertname'] == 'DiskSpaceCritical'
    assert events[0]['receiver'] == 'eda' and events[0]['external_url'] == 'http://am:9093'
    resolved = FILTER['main'](notification(alert(status='resolved', instance='db-3:9100')), include_resolved=True)
    assert [e['host'] for e in resolved] == ['db-3']


def test_no_usable_host_no_event():
    # no host label, an inventory pattern instead of a host, not an Alertmanager notification
    for event in (notification(alert()), notification(alert(instance='db-*:9100')),
                  notification(alert(instance='!db-1')), notification(alert(instance='all:9100')), notification(alert(instance='a,b')),
                  {'payload': {'hello': 1}}, {'payload': 'text'}, {}):
        assert FILTER['main'](event) == [], event
    assert FILTER['main'](notification(alert(node='db-4')), host_labels=['node'])[0]['host'] == 'db-4'


def test_rulebook_alerts_exist_in_the_prometheus_rules_and_every_rule_is_throttled():
    alerts = {r['alert'] for g in yaml.safe_load(RULES.read_text())['groups'] for r in g['rules'] if 'alert' in r}
    ruleset = yaml.safe_load(RULEBOOK.read_text())[0]
    source = ruleset['sources'][0]
    assert source['eda.builtin.webhook']['host'].startswith("{{ runbook_eda_webhook_host | default('127.0.0.1')")
    assert 'runbook_eda_webhook_port' in source['eda.builtin.webhook']['port']
    playbooks = {}
    for rule in ruleset['rules']:
        condition = rule['condition']
        names = yaml.safe_load(condition.split(' in ', 1)[1]) if ' in ' in condition else [condition.split('==')[1].strip(' "')]
        assert set(names) <= alerts, (rule['name'], set(names) - alerts)
        assert rule['throttle']['once_within']
        assert rule['throttle']['group_by_attributes'] == ['event.host', 'event.alert.labels.alertname']
        action = rule['action']['run_playbook']
        for name in names:
            playbooks[name] = (action['name'], action.get('extra_vars', {}))
    assert playbooks['DiskSpaceCritical'][0] == 'runbook.maintenance.disk_emergency'
    assert playbooks['RunbookBackupTooOld'][0] == 'runbook.maintenance.backup'
    assert playbooks['PostgreSQLDown'] == ('runbook.maintenance.dr_failover',
                                           {'failover_action': "{{ runbook_eda_failover_action | default('check') }}"})
    assert playbooks['PostgreSQLReplicationBroken'][0] == 'runbook.maintenance.dr_failover'
    assert playbooks['PostgreSQLTooManyConnections'] == ('runbook.maintenance.connection_issues',
                                                         {'connection_issues_report_only': True})
