"""The rebuilt host after the complete recovery (testinfra, through docker exec)."""

from __future__ import annotations

import glob
import json
import os
import re

import pytest

# The lost host's container is gone: only the replacement is tested.
testinfra_hosts = ['runbook-cr-new']

STORE = '/mnt/offhost/postgresql/runbook-cr-old'


def psql(host, sql, db='postgres'):
    return host.check_output(f'psql -X -d {db} -Atc "{sql}"')


def newest_manifest(host, database):
    names = host.check_output(f'ls {STORE}/{database}').split()
    newest = sorted(n for n in names if n.endswith('.dump.json'))[-1]
    return json.loads(host.file(f'{STORE}/{database}/{newest}').content_string)


def test_roles_are_back_with_their_passwords(host):
    roles = psql(host, "SELECT rolname FROM pg_roles WHERE rolname IN ('app_owner', 'app_user', 'report_reader') ORDER BY 1")
    assert roles.split() == ['app_owner', 'app_user', 'report_reader']
    assert psql(host, "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'report_reader'") == '5'
    # Password authentication over TCP on loopback (scram-sha-256 in the default pg_hba.conf).
    out = host.check_output("PGPASSWORD=reader-secret-2 psql -X -h 127.0.0.1 -U report_reader -d shop -Atc 'SELECT count(*) FROM orders'")
    assert out == '1500'
    out = host.check_output("PGPASSWORD=app-secret-1 psql -X -h 127.0.0.1 -U app_user -d auth -Atc 'SELECT current_user'")
    assert out == 'app_user'
    wrong = host.run("PGPASSWORD=wrong psql -X -h 127.0.0.1 -U app_user -d auth -Atc 'SELECT 1'")
    assert wrong.rc != 0 and 'password authentication failed' in wrong.stderr


def test_databases_have_every_row_that_was_backed_up(host):
    for database in ('shop', 'auth'):
        manifest = newest_manifest(host, database)
        assert manifest['verified'] is True
        assert manifest['tables'], manifest
        for table in manifest['tables']:
            count = psql(host, f"SELECT count(*) FROM {table['schema']}.{table['name']}", database)
            assert int(count) == table['rows'], (database, table)
    tables = psql(host, "SELECT tableowner FROM pg_tables WHERE tablename = 'orders'", 'shop')
    assert tables == 'app_owner'


@pytest.mark.xfail(strict=True, reason='known gap: a pg_dump without --create does not carry the database owner; '
                   'backup_create does not record it in the manifest, so a restore into a new database belongs to the login user')
def test_databases_keep_their_owners(host):
    owners = psql(host, "SELECT datname || ':' || pg_get_userbyid(datdba) FROM pg_database WHERE datname IN ('shop', 'auth') ORDER BY 1")
    assert owners.split() == ['auth:app_user', 'shop:app_owner']


def test_no_database_was_overwritten_by_the_later_run(host):
    assert psql(host, 'SELECT note FROM after_recovery', 'shop') == 'written after the recovery'
    names = psql(host, 'SELECT datname FROM pg_database').split()
    assert not [n for n in names if '__before' in n or '__restore' in n], names


def test_configuration_is_back_as_it_was(host):
    lost = json.load(open(os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'lost-host.json')))
    lost.pop('end')
    assert len(lost) == 5
    for path, expected in lost.items():
        digest = host.check_output(f'sha256sum {path}').split()[0]
        mode_owner = host.check_output(f"stat -c '%a %U' {path}")
        assert f'{digest} {mode_owner}' == expected, path
    link = host.file('/etc/demo-app/current.ini')
    assert link.is_symlink and link.linked_to == '/etc/demo-app/app.ini'
    assert host.file('/etc/demo-app/secrets').mode == 0o700


def test_postgresql_runs_with_the_restored_configuration(host):
    assert psql(host, 'SHOW work_mem') == '12MB'
    # psql sets its own application_name: read what the configuration files gave
    assert psql(host, "SELECT setting FROM pg_file_settings WHERE name = 'application_name' AND applied") == 'restored-config'


def test_services_are_healthy(host):
    assert host.service('postgresql@15-main').is_running
    assert host.service('demo-api').is_running
    assert host.check_output('curl -s -o /dev/null -w "%{http_code}" http://127.0.0.1:8080/health') == '200'


def test_the_report_measures_rto_and_rpo():
    reports = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports')
    runs = [json.load(open(p)) for p in sorted(glob.glob(f'{reports}/dr_complete_recovery-*.json'))]
    plans = [r for r in runs if r['check_mode']]
    real = [r for r in runs if not r['check_mode']]
    assert plans and plans[0]['status'] == 'planned', plans
    assert real[0]['status'] == 'ok', real[0]
    text = json.dumps(real[0]['sections'])
    assert re.search(r'restored (shop, auth|auth, shop)', text), text
    assert 'target 7200s: met' in text, text
    assert 'target 86400s: met' in text, text
    assert 'database shop' in text and 'globals' in text and 'paths' in text, text  # the backups used
    # the later run (idempotence) restored nothing and left both databases alone
    later = json.dumps(real[-1]['sections'])
    assert re.search(r'left alone, it exists on this host: (shop, auth|auth, shop)', later), later
