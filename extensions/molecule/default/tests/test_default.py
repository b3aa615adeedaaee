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
