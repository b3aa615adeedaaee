#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_sessions
short_description: Report, cancel or terminate runaway PostgreSQL sessions, bounded and race-safe
version_added: 0.2.0
description:
  - Reads C(pg_stat_activity) and reports how close the server is to C(max_connections)
    (RV(counts)), with the sessions matching a selection (O(states), O(min_duration),
    O(databases), O(users), O(applications), O(exclude_users), O(exclude_applications)).
  - With O(action=cancel) it cancels their running query (C(pg_cancel_backend)); with
    O(action=terminate) it ends the sessions (C(pg_terminate_backend)), which rolls back their open
    transaction.
  - Never signals this module's own session, replication connections (walsenders), background
    workers or any other backend that is not a C(client backend), and superusers' sessions only
    with O(include_superusers=true).
  - Refuses (and changes nothing) when more than O(max_sessions) sessions are selected.
  - Race-safe, each session is signalled by one statement that first re-checks that the pid is
    still the same backend (C(backend_start), C(usename)) in the same state since the same moment
    (the same query or transaction); a session that finished or moved on meanwhile is left alone
    and reported C(skipped_changed). Then it waits (at most O(wait_timeout)) for the terminated
    sessions to disappear or the cancelled queries to stop.
  - Its own statements are bounded by O(statement_timeout).
author:
  - Runbook Maintainers (@runbook-maintenance)
extends_documentation_fragment:
  - runbook.maintenance.postgres
attributes:
  check_mode:
    support: full
    description: Lists the sessions that would be cancelled or terminated (C(would_cancel), C(would_terminate)) and signals none.
  diff_mode:
    support: none
    description: There is no file or text state to diff.
  idempotent:
    support: full
    description: A second run right after a successful one finds the signalled sessions gone (or their queries stopped).
options:
  action:
    description:
      - V(report) only reads. V(cancel) cancels the running query of each selected session
        (the session stays connected; only O(states) V(active) and V(fastpath function call) run a
        query). V(terminate) ends each selected session and rolls back its open transaction.
      - V(cancel) and V(terminate) need O(states).
    type: str
    default: report
    choices: [report, cancel, terminate]
  states:
    description:
      - Only sessions in these states (the values of C(pg_stat_activity.state)) - V(active),
        V(idle), V(idle in transaction), V(idle in transaction (aborted)),
        V(fastpath function call), V(disabled). Underscores may stand for spaces. Empty means any
        state (O(action=report) only).
    type: list
    elements: str
    default: []
  min_duration:
    description:
      - Only sessions in their state for at least this long, as a duration (V(30s), V(5m), V(1h));
        must be above zero. Unset means any duration.
      - For V(active) and V(fastpath function call) the duration is how long the current query has
        run (C(now() - query_start)); for every other state (V(idle in transaction),
        V(idle), ...) it is how long the session has been in that state (C(now() - state_change)).
    type: str
  databases:
    description: Only sessions connected to a database matching one of these globs (fnmatch, case-sensitive).
    type: list
    elements: str
    default: []
  users:
    description: Only sessions of users matching one of these globs.
    type: list
    elements: str
    default: []
  applications:
    description: Only sessions whose C(application_name) matches one of these globs.
    type: list
    elements: str
    default: []
  exclude_users:
    description: Leave sessions of users matching one of these globs alone.
    type: list
    elements: str
    default: []
  exclude_applications:
    description: Leave sessions whose C(application_name) matches one of these globs alone.
    type: list
    elements: str
    default: []
  include_superusers:
    description: Also select sessions of superusers (left alone by default, listed in RV(protected)).
    type: bool
    default: false
  max_sessions:
    description:
      - The most sessions one call cancels or terminates. When more are selected the module fails
        with the list and signals none of them.
    type: int
    default: 10
  min_connections_free:
    description:
      - Free connection slots (C(max_connections) minus client connections) below which
        RV(counts.below_min_connections_free) is true and a warning is printed.
    type: int
    default: 5
  query_length:
    description: Characters of each session's query text returned (longer texts are cut, ending in C(...)).
    type: int
    default: 300
  statement_timeout:
    description: Longest run of each of this module's own statements, as a duration.
    type: str
    default: 10s
  wait_timeout:
    description:
      - How long to wait, after signalling, for terminated sessions to disappear and cancelled
        queries to stop, as a duration. Those still there are reported with C(confirmed=false)
        and a warning; V(0) does not wait.
    type: str
    default: 10s
requirements:
  - psycopg >= 3.1
notes:
  - Seeing other users' states and queries needs a superuser or a member of C(pg_read_all_stats);
    signalling them needs a superuser or C(pg_signal_backend) (never superusers' sessions then).
    A login without the first is warned about.
  - The module's own connection uses C(application_name=runbook.maintenance).
seealso:
  - name: Server signaling functions
    description: pg_cancel_backend and pg_terminate_backend in the PostgreSQL documentation.
    link: https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-ADMIN-SIGNAL
  - name: pg_stat_activity
    description: The view the sessions are read from.
    link: https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ACTIVITY-VIEW
'''

EXAMPLES = r'''
- name: How close is the server to max_connections, and what is running
  runbook.maintenance.pg_sessions:
    login_unix_socket: /var/run/postgresql
  register: sessions

- name: End sessions idle in a transaction for more than 10 minutes (their transactions roll back)
  runbook.maintenance.pg_sessions:
    action: terminate
    states: [idle in transaction, idle in transaction (aborted)]
    min_duration: 10m
    databases: [app]
    exclude_applications: [pg_dump, "runbook.*"]
    max_sessions: 20

- name: Cancel queries of the web users running for more than 5 minutes (dry run)
  runbook.maintenance.pg_sessions:
    action: cancel
    states: [active]
    min_duration: 5m
    users: ["web_*"]
  check_mode: true
'''

RETURN = r'''
sessions:
  description: The sessions matching the selection (not the protected ones), longest first.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: Backend process ID.
      type: int
    database:
      description: Database the session is connected to.
      type: str
    user:
      description: User of the session.
      type: str
    application:
      description: Its C(application_name).
      type: str
    client:
      description: Client address and port, C(local) for a Unix socket.
      type: str
    state:
      description: Its state.
      type: str
    duration_s:
      description: Seconds in that state (or, when active, running the current query); see RV(sessions[].duration_from).
      type: float
    duration_from:
      description: The column the duration is measured from, C(query_start) or C(state_change).
      type: str
    xact_duration_s:
      description: Seconds since its transaction started (null outside a transaction).
      type: float
    query:
      description: Its current (or last) query, on one line, cut to O(query_length) characters.
      type: str
    action_taken:
      description:
        - C(none) (report, or a refused call), C(would_cancel), C(would_terminate) (check mode),
          C(cancelled), C(terminated), C(skipped_changed) (it finished or moved on before the
          signal), C(failed) (see C(error)).
      type: str
    confirmed:
      description: After a signal, whether the session disappeared (terminate) or its query stopped (cancel) within O(wait_timeout).
      type: bool
      returned: when signalled
    error:
      description: Why signalling failed.
      type: str
      returned: when failed
  sample:
    - pid: 4123
      database: app
      user: web
      application: puma
      client: 10.0.3.7:52144
      state: idle in transaction
      duration_s: 812.4
      duration_from: state_change
      xact_duration_s: 815.0
      query: UPDATE orders SET status = 'paid' WHERE id = 7
      action_taken: terminated
      confirmed: true
protected:
  description: Sessions that match the selection but are never signalled, with the reason (own session, replication, background worker, superuser).
  returned: always
  type: list
  elements: dict
  sample: [{pid: 77, user: postgres, backend_type: client backend, reason: "superuser 'postgres' (include_superusers is false)"}]
counts:
  description: Client connections (those C(max_connections) limits) when the module started.
  returned: always
  type: dict
  contains:
    per_state:
      description: Client connections per state (C(unknown) for sessions whose state is hidden from this login).
      type: dict
    total:
      description: Client connections.
      type: int
    max_connections:
      description: The server's C(max_connections).
      type: int
    used_percent:
      description: RV(counts.total) as a percentage of C(max_connections).
      type: float
    connections_free:
      description: C(max_connections) minus RV(counts.total).
      type: int
    connections_free_non_superuser:
      description: Free slots left for ordinary users (C(superuser_reserved_connections) kept apart).
      type: int
    below_min_connections_free:
      description: Whether RV(counts.connections_free) is below O(min_connections_free).
      type: bool
  sample:
    per_state: {active: 3, idle: 40, idle in transaction: 2}
    total: 45
    other_backends: 6
    max_connections: 50
    superuser_reserved_connections: 3
    connections_free: 5
    connections_free_non_superuser: 2
    used_percent: 90.0
    min_connections_free: 5
    below_min_connections_free: false
counts_after:
  description: The same counts after the sessions were signalled.
  returned: when sessions were signalled
  type: dict
changed:
  description: Whether a session was cancelled or terminated (in check mode, would be).
  returned: always
  type: bool
queries:
  description: Statements run (in check mode, the signals that would run), parameters filled in.
  returned: always
  type: list
  elements: str
  sample: ["SELECT set_config('statement_timeout', '10000ms', false)"]
action:
  description: The action.
  returned: always
  type: str
  sample: terminate
'''

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import (
    check_connection_options,
    connect,
    ensure_psycopg,
    postgres_common_argument_spec,
    scrub,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.sessions import (
    ACTIONS,
    ACTIVITY_QUERY,
    SIGNAL_FUNCTIONS,
    SIGNAL_QUERY,
    STILL_THERE_QUERY,
    Session,
    count_sessions,
    limit_problem,
    make_criteria,
    select,
    session_row,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import check_duration, check_pg_timeout

try:
    import psycopg
except ImportError:  # reported by ensure_psycopg
    psycopg = None

SETTINGS_QUERY = ("SELECT current_setting('max_connections')::int, "
                  "current_setting('superuser_reserved_connections')::int, "
                  "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
                  "OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')")
NOT_SUPERUSER = ' AND NOT COALESCE((SELECT r.rolsuper FROM pg_roles r WHERE r.oid = usesysid), false)'
POLL_INTERVAL = 0.1


class PgSessions:
    """Reads the sessions, selects, and signals the selected ones."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.queries: list[str] = []
        check_connection_options(module)
        try:
            self.criteria = make_criteria(self.params)
            # Its own statements are bounded (PostgreSQL reads 0 as no timeout), and so is the wait.
            self.statement_timeout = check_pg_timeout('statement_timeout', self.params['statement_timeout'])
            self.wait_s = check_duration('wait_timeout', self.params['wait_timeout'], maximum=3600)
        except ValueError as exc:
            module.fail_json(msg=str(exc))
        for name in ('max_sessions', 'min_connections_free', 'query_length'):
            if self.params[name] < 0:
                module.fail_json(msg=f'{name} cannot be negative, got {self.params[name]}')

    def run_sql(self, conn, query: str, params=None, record: bool = True):
        if record:
            self.queries.append(self.render(conn, query, params))
        return conn.execute(query, params)

    @staticmethod
    def render(conn, query: str, params) -> str:
        if not params:
            return query
        return psycopg.ClientCursor(conn).mogrify(query, params)

    def read_sessions(self, conn) -> list[Session]:
        return [Session(*row) for row in self.run_sql(conn, ACTIVITY_QUERY).fetchall()]

    def signal_query(self, function: str, session: Session) -> tuple[str, tuple]:
        query = SIGNAL_QUERY.format(function=function, since=session.since_column)
        if not self.criteria.include_superusers:
            query += NOT_SUPERUSER
        return query, (session.pid, session.backend_start, session.user, session.state, session.since)

    def run(self) -> dict:
        p = self.params
        action = p['action']
        ensure_psycopg(self.module)
        conn = connect(self.module)
        try:
            self.run_sql(conn, "SELECT set_config('statement_timeout', %s, false)", (self.statement_timeout,))
            max_connections, reserved, sees_all = self.run_sql(conn, SETTINGS_QUERY).fetchone()
            if not sees_all:
                self.module.warn(f"{p['login_user']} is neither a superuser nor a member of pg_read_all_stats: "
                                 "the state and query of other users' sessions are hidden and cannot be selected")
            sessions = self.read_sessions(conn)
            selected, protected = select(sessions, self.criteria)
            counts = count_sessions(sessions, max_connections, reserved, p['min_connections_free'])
            if counts['below_min_connections_free']:
                self.module.warn(f"only {counts['connections_free']} connection slots free of {max_connections} "
                                 f"(min_connections_free={p['min_connections_free']}, {counts['used_percent']}% used)")
            result = {
                'changed': False, 'action': action, 'counts': counts, 'queries': self.queries,
                'protected': [dict(pid=s.pid, database=s.database, user=s.user, application=s.application,
                                   backend_type=s.backend_type, state=s.state, reason=why) for s, why in protected],
                'sessions': [session_row(s, p['query_length'], 'none') for s in selected],
            }
            if action == 'report' or not selected:
                return result
            refusal = limit_problem(action, len(selected), p['max_sessions'])
            if refusal:
                self.module.fail_json(msg=refusal, **result)

            function = SIGNAL_FUNCTIONS[action]
            if self.module.check_mode:
                for row, session in zip(result['sessions'], selected):
                    row['action_taken'] = f'would_{action}'
                    self.queries.append(self.render(conn, *self.signal_query(function, session)))
                result['changed'] = True
                return result

            done = []
            for row, session in zip(result['sessions'], selected):
                self.signal(conn, function, action, session, row)
                if row['action_taken'] in ('cancelled', 'terminated'):
                    done.append((row, session))
            self.wait_for(conn, done)
            result['changed'] = bool(done)
            if done:
                result['counts_after'] = count_sessions(self.read_sessions(conn), max_connections, reserved,
                                                        p['min_connections_free'])
            return result
        finally:
            conn.close()

    def signal(self, conn, function: str, action: str, session: Session, row: dict) -> None:
        query, args = self.signal_query(function, session)
        try:
            found = self.run_sql(conn, query, args).fetchone()
        except psycopg.Error as exc:
            row.update(action_taken='failed', error=scrub(' '.join(str(exc).split()), self.params))
            return
        if found is None:
            row['action_taken'] = 'skipped_changed'
        elif found[0]:
            row['action_taken'] = 'cancelled' if action == 'cancel' else 'terminated'
        else:
            row.update(action_taken='failed', error=f'{function} returned false (the process was not signalled)')

    def wait_for(self, conn, done: list) -> None:
        """Wait (bounded) until every terminated session is gone, every cancelled query stopped."""
        pending = list(done)
        deadline = time.monotonic() + self.wait_s
        first = True
        while pending:
            still = []
            for row, session in pending:
                query = STILL_THERE_QUERY.format(since=session.since_column)
                args = (session.pid, session.backend_start, session.state, session.since)
                if self.run_sql(conn, query, args, record=first).fetchone()[0]:
                    still.append((row, session))
                else:
                    row['confirmed'] = True
            first = False
            pending = still
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(POLL_INTERVAL)
        for row, _session in pending:
            row['confirmed'] = False
        if pending:
            what = 'still connected' if self.params['action'] == 'terminate' else 'still running the same query'
            self.module.warn(f"{len(pending)} signalled session(s) {what} after {self.params['wait_timeout']}: "
                             f"pids {', '.join(str(row['pid']) for row, _s in pending)}")


def main() -> None:
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        action=dict(type='str', default='report', choices=list(ACTIONS)),
        states=dict(type='list', elements='str', default=[]),
        min_duration=dict(type='str'),
        databases=dict(type='list', elements='str', default=[]),
        users=dict(type='list', elements='str', default=[]),
        applications=dict(type='list', elements='str', default=[]),
        exclude_users=dict(type='list', elements='str', default=[]),
        exclude_applications=dict(type='list', elements='str', default=[]),
        include_superusers=dict(type='bool', default=False),
        max_sessions=dict(type='int', default=10),
        min_connections_free=dict(type='int', default=5),
        query_length=dict(type='int', default=300),
        statement_timeout=dict(type='str', default='10s'),
        wait_timeout=dict(type='str', default='10s'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    try:
        result = PgSessions(module).run()
    except psycopg.Error as exc:
        module.fail_json(msg=scrub(f"PostgreSQL error on {module.params['login_db']!r}: "
                                   f"{' '.join(str(exc).split())}", module.params))
    failed = [f"pid {row['pid']}: {row['error']}" for row in result['sessions'] if row['action_taken'] == 'failed']
    if failed:
        module.fail_json(msg=f"{len(failed)} session(s) could not be signalled: " + '; '.join(failed), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
