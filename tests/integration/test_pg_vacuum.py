"""pg_vacuum against a real PostgreSQL: plans, check mode, locks, windows, names, failures."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import sql

from pg_helpers import PASSWORD, flush_stats, make_table, table_state


def args(pg, dbname, **kw):
    return dict(pg.module_args(dbname), **kw)


def by_name(result):
    return {(t['schema'], t['name']): t for t in result['tables']}


def test_check_mode_plans_and_changes_nothing_then_real_run_matches_then_idempotent(pg, db, run_module):
    name, conn = db
    make_table(conn, 'public', 'bloated', 20_000, dead=8_000)
    make_table(conn, 'sales', 'also_bloated', 10_000, dead=3_000)
    make_table(conn, 'public', 'clean', 5_000)
    before = {t: table_state(conn, *t) for t in [('public', 'bloated'), ('sales', 'also_bloated'), ('public', 'clean')]}

    check = run_module('pg_vacuum', args(pg, name), check=True)
    assert check['changed'] is True, check
    assert [(t['schema'], t['name']) for t in check['tables']] == [('public', 'bloated'), ('sales', 'also_bloated')]
    assert all(t['status'] == 'planned' for t in check['tables'])
    assert check['tables'][0]['dead_tuples_before'] == 8000
    assert '8000 dead tuples' in check['tables'][0]['reason']
    assert check['queries'][-2:] == ['VACUUM (SKIP_LOCKED, ANALYZE) "public"."bloated"',
                                     'VACUUM (SKIP_LOCKED, ANALYZE) "sales"."also_bloated"']
    assert [t['name'] for t in check['not_selected']] == ['clean']
    for table, state in before.items():
        assert table_state(conn, *table) == state, f'check mode changed {table}'

    real = run_module('pg_vacuum', args(pg, name))
    assert real['changed'] is True, real
    assert [(t['schema'], t['name']) for t in real['tables']] == [(t['schema'], t['name']) for t in check['tables']]
    assert [t['query'] for t in real['tables']] == [t['query'] for t in check['tables']]
    assert all(t['status'] == 'done' for t in real['tables'])
    assert real['summary']['done'] == 2 and real['summary']['dead_tuples_removed'] == 11_000
    assert table_state(conn, 'public', 'bloated')['dead'] == 0
    assert table_state(conn, 'public', 'bloated')['last_vacuum'] is not None
    assert table_state(conn, 'public', 'clean')['vacuum_count'] == before[('public', 'clean')]['vacuum_count']

    again_check = run_module('pg_vacuum', args(pg, name), check=True)
    again = run_module('pg_vacuum', args(pg, name))
    assert again_check['changed'] is False and again_check['tables'] == []
    assert again['changed'] is False and again['tables'] == [] and again['queries'] == []


def test_analyze_only_and_thresholds(pg, db, run_module):
    name, conn = db
    make_table(conn, 'public', 'fresh', 3_000)
    conn.execute("UPDATE fresh SET pad = 'y' WHERE id <= 1500")
    flush_stats(conn)
    result = run_module('pg_vacuum', args(pg, name, operation='analyze'))
    assert [t['name'] for t in result['tables']] == ['fresh']
    assert result['tables'][0]['query'] == 'ANALYZE (SKIP_LOCKED) "public"."fresh"'
    assert table_state(conn, 'public', 'fresh')['last_analyze'] is not None
    high = run_module('pg_vacuum', args(pg, name, min_dead_tuples=10**9, min_mod_since_analyze=10**9))
    assert high['changed'] is False


def test_locked_table_is_skipped_within_the_lock_timeout(pg, db, run_module):
    name, conn = db
    make_table(conn, 'public', 'busy', 5_000, dead=2_000)
    make_table(conn, 'public', 'free', 5_000, dead=1_500)
    holder = psycopg.connect(**pg.conninfo(name))
    try:
        holder.execute('LOCK TABLE busy IN ACCESS EXCLUSIVE MODE')  # held until rollback
        skipping = run_module('pg_vacuum', args(pg, name), timeout=60)
        waiting = run_module('pg_vacuum', args(pg, name, skip_locked=False, lock_timeout='300ms'), timeout=60)
    finally:
        holder.rollback()
        holder.close()
    rows = by_name(skipping)
    assert rows[('public', 'busy')]['status'] == 'skipped_locked', skipping
    assert rows[('public', 'free')]['status'] == 'done'
    assert skipping['summary']['skipped_locked'] == 1 and skipping.get('failed') is not True
    # Without SKIP_LOCKED the lock_timeout bounds the wait instead.
    assert by_name(waiting)[('public', 'busy')]['status'] == 'skipped_locked', waiting
    assert 'lock timeout' in by_name(waiting)[('public', 'busy')]['error']
    assert table_state(conn, 'public', 'busy')['dead'] == 2000


@pytest.mark.parametrize('schema, table', [
    ('public', 'Mixed Case'),
    ('weird;schema', 'semi;colon'),
    ('public', 'quote"inside'),
    ('public', "Robert'); DROP TABLE victim; --"),
    ('données', 'tâble_ünïcode'),
])
def test_awkward_identifiers_are_quoted_safely(pg, db, run_module, schema, table):
    name, conn = db
    make_table(conn, 'public', 'victim', 10)
    make_table(conn, schema, table, 4_000, dead=2_000)
    result = run_module('pg_vacuum', args(pg, name))
    assert by_name(result)[(schema, table)]['status'] == 'done', result
    assert table_state(conn, schema, table)['dead'] == 0
    assert conn.execute('SELECT count(*) FROM victim').fetchone() == (10,)
    quoted = '"' + table.replace('"', '""') + '"'
    explicit = run_module('pg_vacuum', args(pg, name, tables=[f'"{schema}".{quoted}'], force=True))
    assert [(t['schema'], t['name']) for t in explicit['tables']] == [(schema, table)], explicit


def test_time_budget_defers_everything_left(pg, db, run_module):
    name, conn = db
    make_table(conn, 'public', 'a', 5_000, dead=2_000)
    make_table(conn, 'public', 'b', 5_000, dead=1_500)
    result = run_module('pg_vacuum', args(pg, name, time_budget='0'))
    assert [t['status'] for t in result['tables']] == ['deferred', 'deferred']
    assert 'deadline' in result['tables'][0]['reason']
    assert result['changed'] is False and result['summary']['deferred'] == 2
    assert table_state(conn, 'public', 'a')['dead'] == 2000
    past = run_module('pg_vacuum', args(pg, name, deadline='2000-01-01T00:00:00+00:00'))
    assert past['summary']['deferred'] == 2


def test_parallel_jobs_do_every_table_once(pg, db, run_module):
    name, conn = db
    tables = [f't{i}' for i in range(6)]
    for table in tables:
        make_table(conn, 'public', table, 3_000, dead=1_200)
    result = run_module('pg_vacuum', args(pg, name, jobs=3))
    assert sorted(t['name'] for t in result['tables']) == tables
    assert all(t['status'] == 'done' for t in result['tables'])
    assert len([q for q in result['queries'] if q.startswith('VACUUM')]) == 6
    assert all(table_state(conn, 'public', t)['dead'] == 0 for t in tables)


def test_table_dropped_mid_run_is_reported_and_the_rest_finishes(pg, db, run_module):
    name, conn = db
    make_table(conn, 'public', 'first', 6_000, dead=3_000)   # most dead tuples: planned first
    make_table(conn, 'public', 'second', 4_000, dead=1_500)
    holder = psycopg.connect(**pg.conninfo(name))
    holder.execute('LOCK TABLE first IN ACCESS EXCLUSIVE MODE')
    proc = run_module.start('pg_vacuum', args(pg, name, skip_locked=False, lock_timeout='30s'))
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # wait until the module waits for the lock on `first`
            waiting = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                   "'runbook.maintenance' AND wait_event_type = 'Lock'").fetchone()[0]
            if waiting:
                break
            time.sleep(0.05)
        assert waiting, 'the module never waited for the lock'
        holder.execute('DROP TABLE second')
        holder.commit()
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        holder.close()
        if proc.poll() is None:
            proc.kill()
    result = run_module.parse(stdout, stderr)
    assert result['failed'] is True
    rows = by_name(result)
    assert rows[('public', 'first')]['status'] == 'done'
    assert rows[('public', 'second')]['status'] == 'failed'
    assert 'no longer exists' in rows[('public', 'second')]['error']
    assert 'public.second' in result['msg']


def test_wrong_password_fails_clearly_without_showing_it(pg, db, run_module):
    name, conn = db
    conn.execute(sql.SQL('CREATE ROLE app LOGIN PASSWORD {}').format(sql.Literal(PASSWORD)))
    good = run_module('pg_vacuum', dict(login_host='127.0.0.1', login_port=pg.port, login_user='app',
                                        login_password=PASSWORD, login_db=name, ssl_mode='disable'))
    assert good.get('failed') is not True, good
    wrong = 'Wr0ng-' + PASSWORD
    bad = run_module('pg_vacuum', dict(login_host='127.0.0.1', login_port=pg.port, login_user='app',
                                       login_password=wrong, login_db=name, ssl_mode='disable'))
    assert bad['failed'] is True
    assert 'Unable to connect' in bad['msg'] and 'password authentication failed' in bad['msg']
    assert f"'{name}'" in bad['msg'] and "'app'" in bad['msg']
    text = str(bad)
    assert wrong not in text and PASSWORD not in text
    conn.execute('DROP ROLE app')


def test_unreachable_server_names_what_failed(run_module):
    result = run_module('pg_vacuum', dict(login_host='127.0.0.1', login_port=1, login_db='x', connect_timeout=2))
    assert result['failed'] is True
    assert "Unable to connect to database 'x'" in result['msg'] and '127.0.0.1:1' in result['msg']


@pytest.mark.parametrize('bad, message', [
    (dict(min_dead_ratio=2.0), 'min_dead_ratio must be between 0 and 1'),
    (dict(lock_timeout='soon'), 'lock_timeout: not a duration'),
    (dict(tables=['a.b.c']), 'not a table name'),
    (dict(jobs=0), 'jobs must be between 1 and 64'),
    (dict(deadline='next sunday'), 'deadline: not an ISO-8601 time'),
    (dict(operation='explode'), 'value of operation must be one of'),
    (dict(deadline='05:00', time_budget='1h'), 'mutually exclusive'),
])
def test_bad_options_fail_clearly(pg, run_module, bad, message):
    result = run_module('pg_vacuum', args(pg, 'postgres', **bad))
    assert result['failed'] is True
    assert message in result['msg'], result['msg']
    assert 'Traceback' not in result['_stderr']


def test_missing_table_is_named(pg, db, run_module):
    name = db[0]
    result = run_module('pg_vacuum', args(pg, name, tables=['public.nope']), check=True)
    assert result['failed'] is True and 'public.nope' in result['msg']


def test_weekly_is_one_pass_with_an_operation_per_table(pg, db, run_module):
    name, conn = db
    make_table(conn, 'public', 'dirty', 5_000, dead=2_000)
    make_table(conn, 'public', 'stale', 3_000)
    conn.execute("UPDATE stale SET pad = 'z' WHERE id <= 1500")  # modifications
    flush_stats(conn)
    conn.execute('VACUUM stale')  # dead tuples gone, statistics still stale
    flush_stats(conn)
    make_table(conn, 'public', 'clean', 3_000)
    result = run_module('pg_vacuum', args(pg, name, operation='weekly'))
    ops = {t['name']: (t['operation'], t['status']) for t in result['tables']}
    assert ops == {'dirty': ('vacuum_analyze', 'done'), 'stale': ('analyze', 'done')}, result['tables']
    assert [t['name'] for t in result['not_selected']] == ['clean']
    assert run_module('pg_vacuum', args(pg, name, operation='weekly'))['changed'] is False
    frozen = run_module('pg_vacuum', args(pg, name, operation='weekly', min_xid_age=1, tables=['clean']))
    assert frozen['tables'][0]['operation'] == 'vacuum_freeze'
    assert frozen['tables'][0]['query'] == 'VACUUM (SKIP_LOCKED, FREEZE) "public"."clean"'
