"""prometheus/rules/runbook.rules.yml: valid for Prometheus (`promtool check rules`), its unit tests
pass (`promtool test rules`), and every alert carries what the on-call and the EDA rulebook rely on:
a severity P0-P3 with the response time of that severity, and a runbook_url naming a playbook."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / 'prometheus' / 'rules' / 'runbook.rules.yml'
RULE_TESTS = REPO / 'prometheus' / 'rules' / 'runbook.rules.test.yml'
# NOA incident response: P0 5 minutes, P1 15 minutes (10 for the disk and connection incidents of
# the runbooks), P2 1 hour, P3 24 hours.
RESPONSE = {'P0': '5 minutes', 'P1': ('15 minutes', '10 minutes'), 'P2': '1 hour', 'P3': '24 hours'}


def promtool() -> str:
    path = shutil.which('promtool')
    if not path:
        pytest.fail('promtool not found: tests/scripts/tools.sh installs it (Debian package prometheus)')
    return path


def alerts() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())['groups'] for rule in group['rules'] if 'alert' in rule]


def test_promtool_check_rules():
    result = subprocess.run([promtool(), 'check', 'rules', str(RULES)], capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'SUCCESS: {len(alerts())} rules found' in result.stdout


def test_promtool_test_rules():
    result = subprocess.run([promtool(), 'test', 'rules', str(RULE_TESTS)], capture_output=True, text=True,
                            cwd=RULE_TESTS.parent, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'SUCCESS' in result.stdout


def test_every_alert_has_severity_response_and_playbook():
    names = [rule['alert'] for rule in alerts()]
    assert len(names) == len(set(names)), 'alert names must be unique'
    playbooks = {p.name for p in (REPO / 'playbooks').glob('*.yml')}
    for rule in alerts():
        severity = rule['labels']['severity']
        assert severity in RESPONSE, (rule['alert'], severity)
        response = rule['annotations']['response']
        assert response.startswith(f'{severity}: respond within '), rule['alert']
        expected = RESPONSE[severity]
        assert any(t in response for t in ((expected,) if isinstance(expected, str) else expected)), rule['alert']
        named = re.findall(r'playbooks/([a-z0-9-]+\.yml)', rule['annotations']['runbook_url'])
        if rule['alert'] != 'RunbookProcedureFailed':  # any procedure: its own report says which playbook
            assert named, f"{rule['alert']}: runbook_url names no playbook"
        for playbook in named:
            assert playbook in playbooks, f"{rule['alert']}: {playbook} does not exist"
        assert rule['annotations']['summary']


def test_every_alert_is_unit_tested_firing_and_quiet():
    fired, quiet = set(), set()
    for case in yaml.safe_load(RULE_TESTS.read_text())['tests']:
        for check in case.get('alert_rule_test', []):
            (fired if check['exp_alerts'] else quiet).add(check['alertname'])
    names = {rule['alert'] for rule in alerts()}
    assert names - fired == set(), 'alerts never expected to fire in the tests'
    assert names - quiet == set(), 'alerts never expected to stay quiet in the tests'
