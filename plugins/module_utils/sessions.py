# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which PostgreSQL sessions pg_sessions may cancel or terminate: pure selection logic.

Nothing here talks to a server: the module reads pg_stat_activity into Session rows and these
functions decide, so unit tests can cover every rule.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import re

from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import check_duration, parse_duration

ACTIONS = ('report', 'cancel', 'terminate')
# pg_stat_activity.state values (PostgreSQL 9.2 to 17).
STATES = ('active', 'idle', 'idle in transaction', 'idle in transaction (aborted)',
          'fastpath function call', 'disabled')
# A cancel request stops the query that is running: only these states run one.
CANCELLABLE_STATES = ('active', 'fastpath function call')
# States whose duration is measured from query_start (how long the query has run); every other
# state from state_change (how long the session has been in that state).
QUERY_STATES = ('active', 'fastpath function call')
CLIENT_BACKEND = 'client backend'

ACTIVITY_QUERY = (
    'SELECT a.pid, a.datname, a.usename, a.application_name, host(a.client_addr), a.client_port, '
    'a.state, a.backend_type, COALESCE(r.rolsuper, false), a.backend_start, a.state_change, '
    'a.query_start, a.xact_start, a.query, a.wait_event_type, a.wait_event, '
    'EXTRACT(EPOCH FROM now() - a.state_change)::float8, '
    'EXTRACT(EPOCH FROM now() - a.query_start)::float8, '
    'EXTRACT(EPOCH FROM now() - a.xact_start)::float8, '
    'a.pid = pg_backend_pid() '
    'FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid '
    'ORDER BY a.pid'
)

# One statement checks that the pid is still the same backend, in the same state since the same
# moment (the same transaction or query), and signals it: a pid reused by a new connection, or a
# session that moved on since it was read, is left alone.
SIGNAL_QUERY = (
    'SELECT {function}(pid) FROM pg_stat_activity '
    "WHERE pid = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend' "
    'AND backend_start = %s AND usename IS NOT DISTINCT FROM %s '
    'AND state IS NOT DISTINCT FROM %s AND {since} IS NOT DISTINCT FROM %s'
)
SIGNAL_FUNCTIONS = {'cancel': 'pg_cancel_backend', 'terminate': 'pg_terminate_backend'}
# Is the signalled backend (terminate) or its query (cancel) still there?
STILL_THERE_QUERY = (
    'SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND backend_start = %s '
    'AND state IS NOT DISTINCT FROM %s AND {since} IS NOT DISTINCT FROM %s'
)


@dataclasses.dataclass(frozen=True)
class Session:
    """One row of pg_stat_activity, as ACTIVITY_QUERY reads it."""

    pid: int
    database: str | None
    user: str | None
    application: str | None
    client_addr: str | None
    client_port: int | None
    state: str | None
    backend_type: str | None
    superuser: bool
    backend_start: object
    state_change: object
    query_start: object
    xact_start: object
    query: str | None
    wait_event_type: str | None
    wait_event: str | None
    state_s: float | None
    query_s: float | None
    xact_s: float | None
    own: bool

    @property
    def since_column(self) -> str:
        return duration_basis(self.state)

    @property
    def since(self):
        return self.query_start if self.since_column == 'query_start' else self.state_change

    @property
    def duration_s(self) -> float | None:
        value = self.query_s if self.since_column == 'query_start' else self.state_s
        return None if value is None else max(0.0, float(value))

    @property
    def client(self) -> str:
        if self.client_addr:
            return f'{self.client_addr}:{self.client_port}' if self.client_port not in (None, -1) else self.client_addr
        return 'local' if self.client_port == -1 or self.backend_type == CLIENT_BACKEND else ''


@dataclasses.dataclass(frozen=True)
class Criteria:
    """What pg_sessions was asked to select (validated by make_criteria)."""

    states: tuple = ()
    min_duration_s: float | None = None
    databases: tuple = ()
    users: tuple = ()
    applications: tuple = ()
    exclude_users: tuple = ()
    exclude_applications: tuple = ()
    include_superusers: bool = False


def duration_basis(state: str | None) -> str:
    """The pg_stat_activity column a session's duration in its state is measured from."""
    return 'query_start' if state in QUERY_STATES else 'state_change'


def normalize_states(values) -> tuple:
    """PostgreSQL state names (case and underscores forgiven); ValueError on an unknown one."""
    out = []
    for value in values or []:
        name = ' '.join(str(value).replace('_', ' ').split()).lower()
        if name not in STATES:
            raise ValueError(f"unknown session state {value!r}: expected one of {', '.join(STATES)}")
        if name not in out:
            out.append(name)
    return tuple(out)


_UNCLOSED_BRACKET = re.compile(r'\[(?![^\]]*\])')


def validate_globs(option: str, patterns) -> tuple:
    """Glob patterns (fnmatch), refusing empty ones and an unclosed '[' (a likely typo that
    fnmatch would silently take literally)."""
    out = []
    for pattern in patterns or []:
        text = '' if pattern is None else str(pattern)
        if not text.strip():
            raise ValueError(f'{option}: an empty pattern matches nothing useful; remove it')
        if _UNCLOSED_BRACKET.search(text):
            raise ValueError(f"{option}: pattern {text!r} has an unclosed '[' "
                             f"(write '[[]' for a literal bracket)")
        out.append(text)
    return tuple(out)


def parse_min_duration(value) -> float | None:
    """Seconds of a duration like '5m' that must be above zero; None when unset."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if text.startswith('-'):
        raise ValueError(f'min_duration must be a positive duration, got {value!r}')
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ValueError(f'min_duration: {exc}') from None
    if seconds <= 0:
        raise ValueError(f"min_duration must be above zero, got {value!r} (leave it unset to select "
                         f"regardless of duration)")
    return check_duration('min_duration', text)


def make_criteria(params: dict) -> Criteria:
    """Criteria from the module parameters; ValueError with a clear message on bad values."""
    action = params.get('action') or 'report'
    states = normalize_states(params.get('states'))
    if action == 'cancel':
        wrong = [state for state in states if state not in CANCELLABLE_STATES]
        if wrong:
            raise ValueError(f"action=cancel stops a running query; sessions in state {', '.join(map(repr, wrong))} "
                             f"run none (use action=terminate for them, or states: [active])")
    if action in ('cancel', 'terminate') and not states:
        raise ValueError(f'action={action} needs states (e.g. [active] or [idle in transaction]): '
                         f'it never signals sessions whatever they are doing')
    return Criteria(
        states=states,
        min_duration_s=parse_min_duration(params.get('min_duration')),
        databases=validate_globs('databases', params.get('databases')),
        users=validate_globs('users', params.get('users')),
        applications=validate_globs('applications', params.get('applications')),
        exclude_users=validate_globs('exclude_users', params.get('exclude_users')),
        exclude_applications=validate_globs('exclude_applications', params.get('exclude_applications')),
        include_superusers=bool(params.get('include_superusers')),
    )


def _matches(value: str | None, patterns: tuple) -> bool:
    return any(fnmatch.fnmatchcase(value or '', pattern) for pattern in patterns)


def filter_reason(session: Session, criteria: Criteria) -> str | None:
    """Why the session does not match the selection (None: it matches)."""
    if criteria.states and session.state not in criteria.states:
        return f'state {session.state!r} not selected'
    if criteria.min_duration_s is not None:
        duration = session.duration_s
        if duration is None or duration < criteria.min_duration_s:
            return f'{session.state} for {duration or 0:.0f}s, below {criteria.min_duration_s:.0f}s'
    if criteria.databases and not _matches(session.database, criteria.databases):
        return f'database {session.database!r} not selected'
    if criteria.users and not _matches(session.user, criteria.users):
        return f'user {session.user!r} not selected'
    if criteria.applications and not _matches(session.application, criteria.applications):
        return f'application {session.application!r} not selected'
    if criteria.exclude_users and _matches(session.user, criteria.exclude_users):
        return f'user {session.user!r} excluded'
    if criteria.exclude_applications and _matches(session.application, criteria.exclude_applications):
        return f'application {session.application!r} excluded'
    return None


def protection(session: Session, criteria: Criteria) -> str | None:
    """Why the session is never signalled, whatever the selection (None: it may be)."""
    if session.own:
        return "this module's own session"
    if session.backend_type != CLIENT_BACKEND:
        kind = session.backend_type or 'unknown'
        if kind == 'walsender':
            return 'replication connection (walsender)'
        return f'not a client backend ({kind})'
    if session.superuser and not criteria.include_superusers:
        return f'superuser {session.user!r} (include_superusers is false)'
    return None


def select(sessions, criteria: Criteria) -> tuple[list, list]:
    """(selected, protected): sessions matching the criteria, longest first, and those matching
    but never signalled, each with the reason."""
    selected, protected = [], []
    for session in sessions:
        if filter_reason(session, criteria) is not None:
            continue
        why = protection(session, criteria)
        if why:
            protected.append((session, why))
        else:
            selected.append(session)
    selected.sort(key=lambda s: (-(s.duration_s or 0), s.pid))
    return selected, protected


def limit_problem(action: str, selected: int, max_sessions: int) -> str | None:
    """The refusal message when more sessions are selected than one call may signal."""
    if action == 'report' or selected <= max_sessions:
        return None
    past = 'cancelled' if action == 'cancel' else 'terminated'
    return (f'refusing to {action} {selected} sessions: more than max_sessions={max_sessions}; nothing was '
            f'{past}. Narrow the selection (states, min_duration, databases, users, applications) or '
            f'raise max_sessions after looking at the list')


def count_sessions(sessions, max_connections: int, reserved: int, min_free: int) -> dict:
    """Counts per state of the client backends (the connections max_connections limits), and how
    close the server is to the limit."""
    clients = [s for s in sessions if s.backend_type == CLIENT_BACKEND]
    per_state: dict = {state: 0 for state in STATES}
    for session in clients:
        key = session.state or 'unknown'
        per_state[key] = per_state.get(key, 0) + 1
    used = len(clients)
    free = max(0, max_connections - used)
    return {
        'per_state': per_state,
        'total': used,
        'other_backends': len(sessions) - used,
        'max_connections': max_connections,
        'superuser_reserved_connections': reserved,
        'connections_free': free,
        'connections_free_non_superuser': max(0, max_connections - reserved - used),
        'used_percent': round(used * 100.0 / max_connections, 1) if max_connections else 0.0,
        'min_connections_free': min_free,
        'below_min_connections_free': free < min_free,
    }


def truncate(text: str | None, length: int) -> str:
    """The query text, one line, at most `length` characters (an ellipsis says it was cut)."""
    flat = ' '.join((text or '').split())
    if length > 0 and len(flat) > length:
        return flat[:max(0, length - 3)] + '...'
    return flat


def session_row(session: Session, query_length: int, action_taken: str) -> dict:
    """What the module returns for one session."""
    duration = session.duration_s
    return {
        'pid': session.pid,
        'database': session.database,
        'user': session.user,
        'application': session.application,
        'client': session.client,
        'state': session.state,
        'backend_type': session.backend_type,
        'superuser': session.superuser,
        'duration_s': None if duration is None else round(duration, 3),
        'duration_from': session.since_column,
        'xact_duration_s': None if session.xact_s is None else round(max(0.0, session.xact_s), 3),
        'wait_event': (f'{session.wait_event_type}:{session.wait_event}'
                       if session.wait_event_type else None),
        'query': truncate(session.query, query_length),
        'action_taken': action_taken,
    }
