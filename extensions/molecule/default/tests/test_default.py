"""State of the database after the weekly maintenance (testinfra, through docker exec)."""

from __future__ import annotations

import pytest

BLOATED = [('shop', 'public', 'orders'), ('shop', 'sales', 'invoices'), ('shop', 'sales', 'Audit Log'),
           ('analytics', 'events', 'page_views'), ('auth', 'public', 'sessions')]
CLEAN = [('shop', 'public', 'countries'), ('shop', 'public', 'customers'), ('analytics', 'public', 'daily_rollup'),
         ('auth', 'public', 'users')]


def stat(host, database, schema, table):
    query = ("SELECT n_dead_tup, vacuum_count, analyze_count FROM pg_stat_user_tables "
             f"WHERE schemaname = '{schema}' AND relname = '{table}'")
    out = host.check_output(f'runuser -u postgres -- psql -d {database} -AtF, -c "{query}"')
    dead, vacuums, analyzes = (int(x) for x in out.split(','))
    return dead, vacuums, analyzes


def test_postgresql_still_answers(host):
    assert host.check_output('runuser -u postgres -- psql -Atc "SELECT 1"') == '1'


@pytest.mark.parametrize('database, schema, table', BLOATED)
def test_bloated_tables_were_vacuumed(host, database, schema, table):
    dead, vacuums = stat(host, database, schema, table)[:2]
    assert dead == 0
    assert vacuums == 2  # the workload's own VACUUM, then exactly one by the maintenance


@pytest.mark.parametrize('database, schema, table', CLEAN)
def test_clean_tables_were_left_alone(host, database, schema, table):
    vacuums, analyzes = stat(host, database, schema, table)[1:]
    assert vacuums == 1 and analyzes == 1  # only the workload's own VACUUM ANALYZE


def test_the_window_took_one_verified_backup_per_database(host):
    """The converge dumped and verified each database; the idempotence run reused those dumps."""
    import json
    for database in ('shop', 'analytics', 'auth', 'postgres'):
        manifests = host.check_output(f'ls /var/backups/postgresql/{database}/ | grep -c "\\.json$" || true')
        assert manifests == '1', (database, manifests)
        name = host.check_output(f'ls /var/backups/postgresql/{database}/*.json')
        manifest = json.loads(host.file(name).content_string)
        assert manifest['verified'] is True and manifest['database'] == database


def test_one_rollback_snapshot_holds_the_configuration(host):
    """Saved before the window; the idempotence run found nothing changed and kept it."""
    import json
    snapshots = host.check_output('ls /var/lib/runbook-maintenance/rollback').split()
    assert sorted(snapshots)[-1] == 'latest' and len(snapshots) == 2, snapshots
    manifest = json.loads(host.file('/var/lib/runbook-maintenance/rollback/latest/manifest.json').content_string)
    saved = {f['path']: f['sha256'] for f in manifest['files']}
    for path in ('/etc/postgresql/15/main/postgresql.conf', '/etc/postgresql/15/main/pg_hba.conf'):
        assert saved[path] == host.file(path).sha256sum
        assert host.file(f'/var/lib/runbook-maintenance/rollback/latest/files{path}').sha256sum == saved[path]
    assert manifest['packages']['postgresql-15']


def test_the_maintenance_breaker_is_closed_after_the_guards(host):
    import json
    state = json.loads(host.file('/var/lib/runbook-maintenance/breakers/maintenance.json').content_string)
    assert state['state'] == 'closed'
