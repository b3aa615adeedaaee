"""End state after the image_updates scenario (testinfra, on this machine's Docker engine)."""

import glob
import json
import os

import pytest

REGISTRY = '127.0.0.1:5055'
REPORTS = os.path.join(os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', '.'), 'reports')


def inspect(host, what):
    return json.loads(host.check_output(f'docker inspect {what}'))[0]


def reports(procedure='image_updates'):
    found = [json.load(open(f, encoding='utf-8')) for f in sorted(glob.glob(os.path.join(REPORTS, f'{procedure}-*.json')))]
    assert found, f'no report in {REPORTS}'
    return found


def section_lines(report):
    return next(s['lines'] for s in report['sections'] if s['title'] == 'Image updates')


@pytest.mark.parametrize('name', ['db', 'api', 'web'])
def test_services_run_their_spec(host, name):
    info = inspect(host, f'runbook-iu-{name}')
    assert info['State']['Running']
    assert info['HostConfig']['NetworkMode'] == 'none'
    assert info['HostConfig']['Init'] is True
    assert 'APP_MODE=production' in info['Config']['Env']
    assert info['Config']['Labels'].get('runbook.test') == 'image-updates'
    assert host.run(f'docker exec runbook-iu-{name} test -e /healthy').rc == 0


def test_versions_after_the_bad_release_and_the_monthly_window(host):
    """db never changed; api went 1 -> 2 -> (3 put back) -> 4 in the monthly window; web 1 -> 2 -> 3."""
    versions = {n: host.check_output(f'docker exec runbook-iu-{n} cat /version').strip() for n in ('db', 'api', 'web')}
    assert versions == {'db': '1', 'api': '4', 'web': '3'}
    api = inspect(host, 'runbook-iu-api')
    assert api['Image'] == inspect(host, f'{REGISTRY}/runbook-it/api:stable')['Id']
    assert api['Image'] != inspect(host, f'{REGISTRY}/runbook-it/api:stable-previous')['Id']
    assert host.run(f'docker image inspect {REGISTRY}/runbook-it/db:stable-previous').rc != 0


def test_check_mode_planned_what_the_run_did():
    runs = reports()
    check = next(r for r in runs if r['check_mode'])
    real = next(r for r in runs if not r['check_mode'])
    planned = sorted(line.split(':')[0] for line in section_lines(check) if ': would update' in line)
    updated = sorted(line.split(':')[0] for line in section_lines(real) if ': updated (' in line)
    assert planned == updated == ['api', 'web']
    assert real['status'] == 'ok' and real['metrics']['image_updates_updated'] == 2


def test_the_failed_release_is_reported():
    failed = [r for r in reports() if r['status'] == 'failed']
    assert len(failed) == 1
    lines = ' '.join(section_lines(failed[0]))
    assert 'api: rolled back' in lines
    assert failed[0]['metrics']['image_updates_rolled_back'] == 1


def test_the_monthly_window_reported_the_image_updates():
    monthly = reports('monthly')
    assert len(monthly) == 1 and monthly[0]['status'] == 'ok'
    lines = section_lines(monthly[0])
    assert [line.split(':')[0] for line in lines if ': updated (' in line] == ['api', 'web']
