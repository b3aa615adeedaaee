"""Database state after the monthly window (testinfra, through docker exec), and its report."""

from __future__ import annotations

import pytest

# Tables whose deletes left most of their pages empty (over the 40% bloat threshold).
REWRITTEN = [('shop', 'sales', 'Audit Log'), ('auth', 'public', 'sessions')]
UNTOUCHED_BY_REWRITE = [('shop', 'public', 'countries'), ('shop', 'public', 'customers'),
                        ('auth', 'public', 'users'), ('analytics', 'public', 'daily_rollup')]


def sizes_before(host):
    rows = host.file('/var/tmp/sizes-before.txt').content_string.splitlines()
    return {tuple(r.split('|')[:3]): int(r.split('|')[3]) for r in rows if r}


def size_now(host, database, schema, table):
    query = f"SELECT pg_total_relation_size(format('%I.%I', '{schema}', '{table}'))"
    return int(host.check_output(f'runuser -u postgres -- psql -d {database} -Atc "{query}"'))


def dead_now(host, database, schema, table):
    query = f"SELECT n_dead_tup FROM pg_stat_user_tables WHERE schemaname = '{schema}' AND relname = '{table}'"
    return int(host.check_output(f'runuser -u postgres -- psql -d {database} -Atc "{query}"'))


@pytest.mark.parametrize('database, schema, table', REWRITTEN)
def test_bloated_tables_were_rewritten_smaller(host, database, schema, table):
    before = sizes_before(host)[(database, schema, table)]
    assert size_now(host, database, schema, table) < before * 0.7
    assert dead_now(host, database, schema, table) == 0


@pytest.mark.parametrize('database, schema, table', UNTOUCHED_BY_REWRITE)
def test_clean_tables_keep_their_size(host, database, schema, table):
    assert size_now(host, database, schema, table) == sizes_before(host)[(database, schema, table)]


def test_rewrite_durations_were_recorded(host):
    history = host.file('/var/lib/postgresql/runbook-pg_vacuum-history.json')
    assert history.exists
    assert 'sessions/vacuum_full/pg_repack' in history.content_string


@pytest.mark.parametrize('database', ['shop', 'auth'])
def test_pg_repack_was_used_and_left_nothing_behind(host, database):
    def psql(query):
        return host.check_output(f'runuser -u postgres -- psql -d {database} -Atc "{query}"')
    assert psql("SELECT extname FROM pg_extension WHERE extname = 'pg_repack'") == 'pg_repack'
    assert psql("SELECT count(*) FROM pg_trigger WHERE tgname = 'repack_trigger'") == '0'
    assert psql("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'repack' AND c.relname ~ '^(log|table)_[0-9]+'") == '0'


def test_no_invalid_index_is_left(host):
    for database in ('shop', 'analytics', 'auth'):
        out = host.check_output(f'runuser -u postgres -- psql -d {database} -Atc '
                                '"SELECT count(*) FROM pg_index WHERE NOT indisvalid"')
        assert out == '0'


def test_the_monthly_report_records_the_rewrites_and_the_package_plan():
    import glob
    import json
    import os
    reports = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports')
    report = json.load(open(sorted(glob.glob(f'{reports}/monthly-*.json'))[-1]))
    assert report['status'] == 'ok', report.get('failure')
    operations = {run['operation'] for run in report['databases']}
    assert {'weekly', 'vacuum_full', 'reindex'} <= operations
    # The converge run rewrote the bloated tables online (the newest report is the idempotence run's).
    runs = [run for path in sorted(glob.glob(f'{reports}/monthly-*.json'))
            for run in json.load(open(path))['databases'] if run['operation'] == 'vacuum_full']
    rewrites = [t for run in runs for t in run['tables'] if t['status'] != 'planned']
    assert {t['name'] for t in rewrites} >= {'Audit Log', 'sessions'}
    assert {(t['method'], t['status']) for t in rewrites} == {('pg_repack', 'done')}
    assert {run['rewrite_method'] for run in runs if any(t['status'] == 'done' for t in run['tables'])} == {'pg_repack'}
    titles = [section['title'] for section in report['sections']]
    assert 'Package updates' in titles and 'Backups' in titles and 'Window' in titles
