"""pg_sessions against a real PostgreSQL: terminate idle-in-transaction sessions (their work rolls
back), cancel long queries, never touch superusers, replication or its own session, check mode,
the max_sessions refusal, and clear errors for bad options."""

from __future__ import annotations

import subprocess
import threading
import time

import psycopg
import pytest
from psycopg import errors

from pgsandbox import bindir

APP = 'rb_sessions_app'
REPL = 'rb_sessions_repl'


@pytest.fixture(scope='module')
def roles(pg):
    """A plain login role (the application) and a replication role, neither superuser."""
    with psycopg.connect(**pg.conninfo(), autocommit=True) as admin:
        for role, extra in ((APP, ''), (REPL, ' REPLICATION')):
            if not admin.execute('SELECT 1 FROM pg_roles WHERE rolname = %s', (role,)).fetchone():
                admin.execute(f'CREATE ROLE {role} LOGIN{extra}')
    return APP, REPL


@pytest.fixture()
def app_db(pg, db, roles):
    """The test database with a table the application role may write to."""
    name, conn = db
    conn.execute('CREATE TABLE orders (id serial PRIMARY KEY, note text)')
    conn.execute(f'GRANT ALL ON orders, orders_id_seq TO {APP}')
    opened = []

    def session(user=APP, application='shop', autocommit=False, **extra):
        c = psycopg.connect(**dict(pg.conninfo(name), user=user), application_name=application,
                            autocommit=autocommit, **extra)
        opened.append(c)
        return c

    yield name, conn, session
    for c in opened:
        try:
            c.close()
        except psycopg.Error:
            pass


def args(pg, dbname, **kw):
    return dict(pg.module_args(dbname), **kw)


def pid_of(conn) -> int:
    return conn.info.backend_pid


def alive(admin, pid: int) -> bool:
    return admin.execute('SELECT count(*) FROM pg_stat_activity WHERE pid = %s', (pid,)).fetchone()[0] == 1


def wait_state(admin, pid: int, state: str, older_than: float, bound: float = 30) -> None:
    """Wait (bounded) until the session is in `state` for more than `older_than` seconds."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        row = admin.execute(
            'SELECT state, EXTRACT(EPOCH FROM now() - CASE WHEN state = %s THEN query_start ELSE state_change END) '
            'FROM pg_stat_activity WHERE pid = %s', ('active', pid)).fetchone()
        if row and row[0] == state and row[1] is not None and row[1] > older_than:
            return
        time.sleep(0.1)
    raise AssertionError(f'pid {pid} did not reach {state!r} for {older_than}s')


def idle_in_transaction(session, note: str, **kw):
    """A session that inserted a row and then sits idle in its open transaction."""
    c = session(**kw)
    c.execute('INSERT INTO orders (note) VALUES (%s)', (note,))
    return c


def rows(admin, note: str) -> int:
    return admin.execute('SELECT count(*) FROM orders WHERE note = %s', (note,)).fetchone()[0]


def by_pid(result) -> dict:
    return {row['pid']: row for row in result['sessions']}


def test_idle_in_transaction_past_its_limit_is_terminated_and_rolled_back(pg, app_db, run_module):
    name, admin, session = app_db
    stuck = idle_in_transaction(session, 'uncommitted')
    idle = session(autocommit=True)
    idle.execute('SELECT 1')
    wait_state(admin, pid_of(stuck), 'idle in transaction', 1.5)

    result = run_module('pg_sessions', args(pg, name, action='terminate', states=['idle in transaction'],
                                            min_duration='1s', databases=[name]))
    assert result.get('failed') is not True, result
    assert result['changed'] is True
    row = by_pid(result)[pid_of(stuck)]
    assert row['action_taken'] == 'terminated' and row['confirmed'] is True
    assert row['state'] == 'idle in transaction' and row['duration_from'] == 'state_change'
    assert row['duration_s'] >= 1 and row['user'] == APP and row['application'] == 'shop'
    assert row['database'] == name and row['client'] == 'local'
    assert row['query'].startswith('INSERT INTO orders')
    assert pid_of(idle) not in by_pid(result), 'an idle session (not selected) was listed'
    assert any('pg_terminate_backend' in q and str(pid_of(stuck)) in q and 'backend_start' in q
               for q in result['queries'])
    assert any("statement_timeout" in q for q in result['queries'])

    assert not alive(admin, pid_of(stuck))
    assert rows(admin, 'uncommitted') == 0, 'the terminated transaction was not rolled back'
    with pytest.raises(psycopg.OperationalError):
        stuck.execute('SELECT 1')
    assert alive(admin, pid_of(idle)), 'a session in another state was terminated'
    assert result['counts_after']['total'] < result['counts']['total']

    again = run_module('pg_sessions', args(pg, name, action='terminate', states=['idle in transaction'],
                                           min_duration='1s', databases=[name]))
    assert again['changed'] is False and again['sessions'] == []


def test_young_sessions_stay_below_min_duration(pg, app_db, run_module):
    name, admin, session = app_db
    young = idle_in_transaction(session, 'young')
    result = run_module('pg_sessions', args(pg, name, action='terminate', states=['idle_in_transaction'],
                                            min_duration='1h', databases=[name]))
    assert result['changed'] is False and result['sessions'] == [], result
    assert alive(admin, pid_of(young))
    young.commit()
    assert rows(admin, 'young') == 1


def test_active_long_query_is_cancelled_and_the_session_kept(pg, app_db, run_module):
    name, admin, session = app_db
    runner = session(autocommit=True, application='report-job')
    outcome = {}

    def long_query():
        try:
            runner.execute('SELECT pg_sleep(120)')
            outcome['error'] = None
        except psycopg.Error as exc:  # the cancel arrives as QueryCanceled
            outcome['error'] = exc

    thread = threading.Thread(target=long_query, daemon=True)
    thread.start()
    wait_state(admin, pid_of(runner), 'active', 1.5)

    result = run_module('pg_sessions', args(pg, name, action='cancel', states=['active'], min_duration='1s',
                                            applications=['report-*']))
    assert result.get('failed') is not True, result
    thread.join(timeout=60)
    assert not thread.is_alive(), 'the query was not cancelled'
    assert isinstance(outcome['error'], errors.QueryCanceled), outcome
    row = by_pid(result)[pid_of(runner)]
    assert row['action_taken'] == 'cancelled' and row['confirmed'] is True
    assert row['duration_from'] == 'query_start' and 'pg_sleep' in row['query']
    assert list(by_pid(result)) == [pid_of(runner)]
    assert alive(admin, pid_of(runner)), 'cancel ended the session'
    assert runner.execute('SELECT 1').fetchone() == (1,)


def test_superusers_replication_and_its_own_session_are_never_touched(pg, app_db, run_module, tmp_path):
    name, admin, session = app_db
    su = idle_in_transaction(session, 'superuser work', user='postgres', application='su-console')
    logical = session(user=REPL, application='repl-logical', autocommit=True, replication='database')
    physical = session(user=REPL, application='repl-physical', autocommit=True, replication='true')
    receiver = subprocess.Popen(  # a real WAL stream, as a standby or an archiver would hold it
        [f'{bindir()}/pg_receivewal', '-D', str(tmp_path), '-h', pg.conninfo()['host'], '-p', str(pg.port),
         '-U', REPL, '--no-loop', '--no-sync'],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={'PGAPPNAME': 'repl-receivewal', 'PATH': '/usr/bin:/bin'})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'repl-receivewal'").fetchone()[0] == 0:
            assert receiver.poll() is None, receiver.stderr.read()
            time.sleep(0.1)
        receiver_pid = admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'repl-receivewal'").fetchone()[0]
        wait_state(admin, pid_of(su), 'idle in transaction', 1.0)
        every_state = ['active', 'idle', 'idle in transaction', 'idle in transaction (aborted)',
                       'fastpath function call', 'disabled']
        targets = [pid_of(su), pid_of(logical), pid_of(physical), receiver_pid]

        # Everything of these users, in every state, superusers included: still no replication.
        result = run_module('pg_sessions', args(pg, name, action='terminate', states=every_state,
                                                users=['postgres', REPL], applications=['su-*', 'repl-*'],
                                                max_sessions=10))
        assert result.get('failed') is not True, result
        assert result['changed'] is False and result['sessions'] == [], result
        protected = {row['pid']: row['reason'] for row in result['protected']}
        assert 'superuser' in protected[pid_of(su)]
        for pid in (pid_of(logical), pid_of(physical), receiver_pid):
            assert 'replication' in protected[pid], protected
        assert all(alive(admin, pid) for pid in targets)
        assert receiver.poll() is None, 'pg_receivewal lost its stream'

        # Its own session: selected by every criterion, protected, and the run completes.
        own = run_module('pg_sessions', args(pg, name, action='terminate', states=['active'],
                                             applications=['runbook.maintenance'], include_superusers=True))
        assert own.get('failed') is not True, own
        assert own['sessions'] == [] and any(r['reason'] == "this module's own session" for r in own['protected'])

        # With include_superusers the superuser's session may go; replication still never.
        su_run = run_module('pg_sessions', args(pg, name, action='terminate', states=every_state,
                                                users=['postgres', REPL], applications=['su-*', 'repl-*'],
                                                include_superusers=True))
        assert [row['pid'] for row in su_run['sessions']] == [pid_of(su)], su_run
        assert su_run['sessions'][0]['action_taken'] == 'terminated' and su_run['sessions'][0]['superuser'] is True
        assert not alive(admin, pid_of(su)) and rows(admin, 'superuser work') == 0
        assert all(alive(admin, pid) for pid in targets[1:])
        assert receiver.poll() is None
    finally:
        receiver.terminate()
        receiver.wait(timeout=30)


def test_check_mode_lists_and_changes_nothing(pg, app_db, run_module):
    name, admin, session = app_db
    stuck = idle_in_transaction(session, 'kept by check mode')
    wait_state(admin, pid_of(stuck), 'idle in transaction', 1.0)
    result = run_module('pg_sessions', args(pg, name, action='terminate', states=['idle in transaction'],
                                            min_duration='500ms', databases=[name]), check=True)
    assert result['changed'] is True, result
    assert by_pid(result)[pid_of(stuck)]['action_taken'] == 'would_terminate'
    assert any('pg_terminate_backend' in q for q in result['queries'])
    assert 'counts_after' not in result
    assert alive(admin, pid_of(stuck))
    stuck.commit()
    assert rows(admin, 'kept by check mode') == 1


def test_more_than_max_sessions_refuses_and_changes_nothing(pg, app_db, run_module):
    name, admin, session = app_db
    stuck = [idle_in_transaction(session, f'bulk {i}') for i in range(3)]
    wait_state(admin, pid_of(stuck[-1]), 'idle in transaction', 1.0)
    call = args(pg, name, action='terminate', states=['idle in transaction'], min_duration='500ms',
                databases=[name], max_sessions=2)
    for check in (True, False):
        result = run_module('pg_sessions', call, check=check)
        assert result['failed'] is True and result['changed'] is False, result
        assert 'refusing to terminate 3 sessions' in result['msg'] and 'max_sessions=2' in result['msg']
        assert 'nothing was terminated' in result['msg']
        assert {row['action_taken'] for row in result['sessions']} == {'none'}
        assert not any('pg_terminate_backend' in q for q in result['queries'])
        assert all(alive(admin, pid_of(c)) for c in stuck)
    for c in stuck:
        c.commit()
    assert sum(rows(admin, f'bulk {i}') for i in range(3)) == 3


def test_report_counts_and_connection_headroom(pg, app_db, run_module):
    name, admin, session = app_db
    held = [idle_in_transaction(session, f'held {i}') for i in range(2)]
    idle = session(autocommit=True)
    idle.execute('SELECT 1')
    result = run_module('pg_sessions', args(pg, name, databases=[name], users=[APP], min_connections_free=49))
    assert result['changed'] is False and result['action'] == 'report'
    counts = result['counts']
    assert counts['max_connections'] == 50
    assert counts['per_state']['idle in transaction'] >= 2 and counts['per_state']['idle'] >= 1
    assert counts['total'] >= 4  # the three above and the module's own session
    assert counts['connections_free'] == 50 - counts['total']
    assert counts['used_percent'] == round(counts['total'] * 100 / 50, 1)
    assert counts['below_min_connections_free'] is True
    assert 'connection slots free' in str(result.get('warnings'))
    assert {row['pid'] for row in result['sessions']} == {pid_of(c) for c in held + [idle]}
    assert {row['action_taken'] for row in result['sessions']} == {'none'}
    assert all(alive(admin, pid_of(c)) for c in held + [idle])
    ok = run_module('pg_sessions', args(pg, name, states=['active'], min_connections_free=1))
    assert ok['counts']['below_min_connections_free'] is False


def test_long_queries_are_cut(pg, app_db, run_module):
    name, admin, session = app_db
    c = session(autocommit=True)
    c.execute("SELECT '" + 'x' * 2000 + "' AS long_one")
    result = run_module('pg_sessions', args(pg, name, users=[APP], query_length=120))
    row = by_pid(result)[pid_of(c)]
    assert len(row['query']) == 120 and row['query'].endswith('...')


@pytest.mark.parametrize('bad, message', [
    ({'states': ['idle in transactoin']}, "unknown session state 'idle in transactoin'"),
    ({'states': ['idle'], 'min_duration': '-5m'}, 'min_duration must be a positive duration'),
    ({'states': ['idle'], 'min_duration': '0'}, 'min_duration must be above zero'),
    ({'states': ['idle'], 'min_duration': 'soon'}, 'not a duration'),
    ({'states': ['idle'], 'applications': ['app[']}, "unclosed '['"),
    ({'states': ['idle'], 'users': ['']}, 'empty pattern'),
    ({'action': 'cancel', 'states': ['idle in transaction']}, 'action=cancel stops a running query'),
    ({'action': 'terminate'}, 'action=terminate needs states'),
    ({'states': ['idle'], 'max_sessions': -1}, 'max_sessions cannot be negative'),
    ({'states': ['idle'], 'statement_timeout': '0s'}, 'statement_timeout must be positive'),
    ({'action': 'shoot'}, 'value of action must be one of'),
])
def test_bad_options_fail_clearly(pg, run_module, bad, message):
    result = run_module('pg_sessions', dict(pg.module_args(), **bad))
    assert result['failed'] is True, result
    assert message in result['msg'], result['msg']
    assert 'Traceback' not in result['msg'] + result['_stderr']
    assert not result.get('changed')


def test_wrong_password_is_never_printed(pg, run_module):
    secret = 'Wr0ng-Pa55word'
    result = run_module('pg_sessions', {'login_host': '127.0.0.1', 'login_port': pg.port, 'login_user': 'postgres',
                                        'login_password': secret})
    assert result['failed'] is True and 'Unable to connect' in result['msg']
    assert secret not in result['msg'] + result['_stderr']
