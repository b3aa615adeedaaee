"""pg_sessions' selection rules: states, durations, globs, protections, limits, counts."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.sessions import (
    Criteria,
    Session,
    count_sessions,
    duration_basis,
    limit_problem,
    make_criteria,
    normalize_states,
    parse_min_duration,
    protection,
    select,
    session_row,
    truncate,
    validate_globs,
)


def session(pid=100, state='idle in transaction', user='app', database='shop', application='web',
            backend_type='client backend', superuser=False, state_s=600.0, query_s=650.0, own=False, **kw):
    values = dict(pid=pid, database=database, user=user, application=application, client_addr=None,
                  client_port=-1, state=state, backend_type=backend_type, superuser=superuser,
                  backend_start='b', state_change='sc', query_start='qs', xact_start='xs', query='SELECT 1',
                  wait_event_type=None, wait_event=None, state_s=state_s, query_s=query_s, xact_s=700.0, own=own)
    values.update(kw)
    return Session(**values)


def test_states_are_postgres_values_with_underscores_and_case_forgiven():
    assert normalize_states(['Idle_In_Transaction', 'active', 'active']) == ('idle in transaction', 'active')
    assert normalize_states(['idle in transaction (aborted)']) == ('idle in transaction (aborted)',)
    with pytest.raises(ValueError, match="unknown session state 'waiting'"):
        normalize_states(['waiting'])


@pytest.mark.parametrize('value, seconds', [(None, None), ('', None), ('5m', 300), ('90', 90), ('500ms', 0.5)])
def test_min_duration(value, seconds):
    assert parse_min_duration(value) == seconds


@pytest.mark.parametrize('value, message', [('-5m', 'positive'), ('0', 'above zero'), ('0s', 'above zero'),
                                            ('later', 'not a duration')])
def test_min_duration_refuses_bad_values(value, message):
    with pytest.raises(ValueError, match=message):
        parse_min_duration(value)


def test_globs_refuse_empty_and_unclosed_brackets_but_keep_valid_classes():
    assert validate_globs('users', ['web_*', 'batch[0-9]', '[[]x']) == ('web_*', 'batch[0-9]', '[[]x')
    with pytest.raises(ValueError, match="unclosed"):
        validate_globs('users', ['app['])
    with pytest.raises(ValueError, match='empty pattern'):
        validate_globs('applications', ['  '])


def test_duration_is_query_time_when_active_and_state_time_otherwise():
    assert duration_basis('active') == 'query_start'
    assert duration_basis('fastpath function call') == 'query_start'
    assert duration_basis('idle in transaction') == 'state_change'
    assert session(state='active', state_s=5, query_s=40).duration_s == 40
    assert session(state='idle in transaction', state_s=5, query_s=40).duration_s == 5
    assert session(state='idle', state_s=None).duration_s is None


def test_criteria_rules_per_action():
    with pytest.raises(ValueError, match='needs states'):
        make_criteria({'action': 'terminate'})
    with pytest.raises(ValueError, match='cancel stops a running query'):
        make_criteria({'action': 'cancel', 'states': ['idle']})
    crit = make_criteria({'action': 'cancel', 'states': ['active'], 'min_duration': '5m', 'users': ['web*']})
    assert crit.states == ('active',) and crit.min_duration_s == 300 and crit.users == ('web*',)
    assert make_criteria({}).states == ()  # report: anything


def test_selection_filters():
    crit = Criteria(states=('idle in transaction',), min_duration_s=300, databases=('shop',),
                    users=('app', 'web_*'), exclude_applications=('pg_dump',))
    picked = select([
        session(pid=1),                                      # selected
        session(pid=2, state='idle'),                        # other state
        session(pid=3, state_s=10),                          # too young
        session(pid=4, database='crm'),                      # other database
        session(pid=5, user='web_api', state_s=900),         # glob user, older: first
        session(pid=6, user='report'),                       # other user
        session(pid=7, application='pg_dump'),               # excluded application
    ], crit)[0]
    assert [s.pid for s in picked] == [5, 1]


def test_exclusions_win_over_inclusions():
    crit = Criteria(users=('*',), exclude_users=('admin*',))
    picked = select([session(pid=1, user='admin_ops'), session(pid=2, user='app')], crit)[0]
    assert [s.pid for s in picked] == [2]


def test_protected_sessions_are_never_selected():
    crit = Criteria()
    sessions = [session(pid=1, own=True), session(pid=2, backend_type='walsender'),
                session(pid=3, backend_type='autovacuum worker'), session(pid=4, superuser=True, user='postgres'),
                session(pid=5)]
    picked, protected = select(sessions, crit)
    assert [s.pid for s in picked] == [5]
    reasons = {s.pid: why for s, why in protected}
    assert reasons[1] == "this module's own session"
    assert 'replication' in reasons[2]
    assert 'autovacuum worker' in reasons[3]
    assert 'superuser' in reasons[4]
    picked, protected = select(sessions, Criteria(include_superusers=True))
    assert sorted(s.pid for s in picked) == [4, 5]
    assert protection(session(pid=9, own=True, superuser=True), Criteria(include_superusers=True))


def test_limit_refuses_beyond_max_sessions_only_when_acting():
    assert limit_problem('report', 100, 2) is None
    assert limit_problem('terminate', 2, 2) is None
    msg = limit_problem('terminate', 3, 2)
    assert 'refusing to terminate 3 sessions' in msg and 'nothing was terminated' in msg
    assert 'nothing was cancelled' in limit_problem('cancel', 5, 0)


def test_counts_only_client_backends_against_max_connections():
    sessions = [session(pid=i, state='idle') for i in range(40)] + [
        session(pid=100, state='active'), session(pid=101, state=None),
        session(pid=200, backend_type='walsender', state='active'), session(pid=201, backend_type='checkpointer')]
    counts = count_sessions(sessions, max_connections=50, reserved=3, min_free=10)
    assert counts['total'] == 42 and counts['other_backends'] == 2
    assert counts['per_state']['idle'] == 40 and counts['per_state']['active'] == 1
    assert counts['per_state']['unknown'] == 1
    assert counts['connections_free'] == 8 and counts['connections_free_non_superuser'] == 5
    assert counts['used_percent'] == 84.0
    assert counts['below_min_connections_free'] is True
    assert count_sessions(sessions, 100, 3, 10)['below_min_connections_free'] is False


def test_query_text_is_flattened_and_cut():
    assert truncate('SELECT\n  1', 300) == 'SELECT 1'
    cut = truncate('x' * 500, 300)
    assert len(cut) == 300 and cut.endswith('...')
    assert truncate(None, 10) == ''


def test_session_row_shape():
    row = session_row(session(client_addr='10.0.0.1', client_port=5555), 300, 'none')
    assert row['client'] == '10.0.0.1:5555' and row['duration_from'] == 'state_change'
    assert row['action_taken'] == 'none' and row['duration_s'] == 600.0
    assert session_row(session(), 300, 'none')['client'] == 'local'
