#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pg_vacuum
short_description: Targeted, bounded VACUUM, ANALYZE and REINDEX of one PostgreSQL database
version_added: 0.1.0
description:
  - Reads the statistics of every table of one database, picks the tables whose dead tuples,
    modifications, transaction ID age or estimated bloat pass the thresholds, orders them by
    expected benefit, and runs the maintenance operation on them only.
  - Production-safe by default, locks are bounded by O(lock_timeout) and tables locked by
    other sessions are skipped (O(skip_locked)) instead of waited for.
  - A maintenance window is honoured with O(deadline) or O(time_budget), no table is started
    after it, the rest are reported as C(deferred).
  - In check mode the plan is returned (each table with the reason it was chosen and the
    statement that would run) and nothing is executed.
  - Does nothing on a standby server (every operation writes), see O(on_standby).
author:
  - Runbook Maintainers (@runbook-maintenance)
extends_documentation_fragment:
  - runbook.maintenance.postgres
attributes:
  check_mode:
    support: full
    description: Returns the plan and runs no maintenance statement.
  diff_mode:
    support: none
    description: There is no file or text state to diff.
  idempotent:
    support: full
    description: A second run right after a successful one finds nothing above the thresholds.
options:
  operation:
    description:
      - The maintenance to run on each selected table.
      - V(vacuum_full) and V(reindex) are selected by estimated bloat, V(vacuum_freeze) by the
        age of C(relfrozenxid), V(analyze) by rows modified since the last analyze, V(vacuum) by
        dead tuples, V(vacuum_analyze) by dead tuples or modifications.
      - V(weekly) is the weekly task set in one pass (one plan, one connection pool) - per table
        the first of V(vacuum_freeze) (near wraparound), V(vacuum_analyze) (dead tuples or
        modifications), V(analyze) whose threshold it passes; RV(tables[].operation) says which.
    type: str
    default: vacuum_analyze
    choices: [ vacuum, analyze, vacuum_analyze, vacuum_freeze, vacuum_full, reindex, weekly ]
  tables:
    description:
      - Only these tables, as C(schema.table) (or C(table) for the public schema). Use double
        quotes around a name holding a dot. A table that does not exist is an error.
    type: list
    elements: str
    default: []
  schemas:
    description:
      - Only tables of these schemas.
    type: list
    elements: str
    default: []
  exclude:
    description:
      - Glob patterns matched against C(schema.table) and the bare table name; matching tables
        are left alone.
    type: list
    elements: str
    default: []
  min_dead_tuples:
    description: Minimum number of dead tuples for V(vacuum) and V(vacuum_analyze).
    type: int
    default: 1000
  min_dead_ratio:
    description: Minimum dead / (live + dead) ratio, between 0 and 1, for V(vacuum) and V(vacuum_analyze).
    type: float
    default: 0.05
  min_mod_since_analyze:
    description: Minimum rows modified since the last analyze, for V(analyze) and V(vacuum_analyze).
    type: int
    default: 1000
  min_xid_age:
    description: Minimum C(age(relfrozenxid)) for V(vacuum_freeze) (wraparound prevention).
    type: int
    default: 100000000
  min_bloat_ratio:
    description: Minimum estimated bloat ratio, between 0 and 1, for V(vacuum_full) and V(reindex).
    type: float
    default: 0.3
  min_bloat_bytes:
    description: Minimum estimated bloat in bytes for V(vacuum_full) and V(reindex).
    type: int
    default: 10485760
  max_table_bytes:
    description: Tables (with their indexes) larger than this are left alone, too large for the window.
    type: int
  force:
    description: Take every selected table regardless of thresholds.
    type: bool
    default: false
  lock_timeout:
    description:
      - Longest wait for a lock, as a duration (V(5s), V(500ms), V(1m)). A table whose lock is not
        granted in time is reported C(skipped_locked).
    type: str
    default: 5s
  skip_locked:
    description:
      - Skip tables another session holds a conflicting lock on, without waiting
        (C(SKIP_LOCKED), PostgreSQL 12 and later; older servers rely on O(lock_timeout)).
    type: bool
    default: true
  statement_timeout:
    description: Longest run of one statement, as a duration. Unset means no limit.
    type: str
  deadline:
    description:
      - End of the maintenance window as ISO-8601 (V(2026-11-29T05:00:00+01:00)) or a clock time
        (V(05:00), its next occurrence in the host's time zone). No table is started after it.
      - Mutually exclusive with O(time_budget).
    type: str
  time_budget:
    description:
      - Seconds (or a duration such as V(2h)) from the start of the task after which no table is
        started. Mutually exclusive with O(deadline).
    type: str
  jobs:
    description: Parallel connections, like C(vacuumdb --jobs). A table is never worked on twice at once.
    type: int
    default: 1
  space_check:
    description:
      - Before V(vacuum_full) (a copy of the table and its indexes) and V(reindex) (a copy of the
        indexes), require free space for the copy plus 20% on the filesystem holding the table.
        Checked when the plan is made and again before each table starts (counting rewrites in
        flight).
      - Free space can only be measured when the module runs on the database host (Unix socket
        or localhost connection) with the data directory readable (superuser or
        C(pg_read_all_settings)); otherwise such tables are left alone, with the reason. Set
        V(false) to rewrite without checking.
    type: bool
    default: true
  history_file:
    description:
      - JSON file on the host running the module where the duration of each V(vacuum_full) and
        V(reindex) is kept, to predict whether a rewrite can finish before O(deadline). Written
        atomically, never in check mode. Without it only durations measured during this run
        are used (and 50 MB/s before the first one).
    type: path
  on_standby:
    description: What to do when the server is a standby, where no operation can run.
    type: str
    default: skip
    choices: [ skip, fail ]
  rewrite_method:
    description:
      - How V(vacuum_full) rewrites a table.
      - V(pg_repack) rebuilds it online with the C(pg_repack) client and extension, holding the
        ACCESS EXCLUSIVE lock only for a moment at the start and at the swap, so that busy tables
        (which C(VACUUM FULL) with O(skip_locked) never gets) are rewritten too. The extension must
        be installed in the database (C(CREATE EXTENSION pg_repack)), a client program of the same
        version must be on the host running the module, and O(login_user) must be a superuser;
        otherwise the task fails before anything runs.
      - V(vacuum_full) always uses C(VACUUM FULL).
      - V(auto) uses pg_repack when all of the above holds and C(VACUUM FULL) otherwise (the result's
        RV(rewrite_method_note) says why, with the one-line fix).
      - Tables without a primary key or a unique index on NOT NULL columns cannot be repacked, see
        O(rewrite_fallback).
    type: str
    default: auto
    choices: [ auto, pg_repack, vacuum_full ]
  rewrite_fallback:
    description:
      - What happens to a table pg_repack cannot rewrite (no primary key or unique index on NOT NULL
        columns) when pg_repack is the method.
      - V(skip) reports it (status C(skipped), with the reason and the fix) and leaves it alone;
        V(vacuum_full) rewrites it with C(VACUUM FULL), which holds its lock for the whole rewrite.
    type: str
    default: skip
    choices: [ skip, vacuum_full ]
  repack_wait_timeout:
    description:
      - How long pg_repack tries to get its brief ACCESS EXCLUSIVE locks (at the start and at the
        swap), as a duration; it tries in short attempts, so other sessions never queue behind it
        for long. A table whose lock is not granted in time is reported C(skipped_locked) and left
        as it was (pg_repack cleans up after itself).
    type: str
    default: 60s
  repack_kill_backends:
    description:
      - Let pg_repack cancel, then terminate, the sessions that still hold a conflicting lock when
        O(repack_wait_timeout) has passed. Off by default, other sessions are never touched.
    type: bool
    default: false
  repack_bin:
    description:
      - The pg_repack client program. Default C(/usr/lib/postgresql/<server major>/bin/pg_repack),
        else C(pg_repack) on the PATH.
    type: path
requirements:
  - psycopg >= 3.1
notes:
  - Statistics come from C(pg_stat_all_tables); with autovacuum and the statistics collector
    working they are current within a second or so.
  - With pg_repack, a rewrite is interrupted at O(deadline) (pg_repack cancels and cleans up after
    itself); temporary objects an interrupted run left behind (its trigger on the table, the
    C(repack.log_<oid>) and C(repack.table_<oid>) tables) are dropped before and after each table
    and listed in RV(tables[].cleanup).
seealso:
  - name: VACUUM
    description: PostgreSQL documentation of VACUUM.
    link: https://www.postgresql.org/docs/current/sql-vacuum.html
  - name: vacuumdb
    description: The command line tool this module is measured against.
    link: https://www.postgresql.org/docs/current/app-vacuumdb.html
  - name: pg_repack
    description: Online rewrite of tables, used by O(rewrite_method).
    link: https://reorg.github.io/pg_repack/
'''

EXAMPLES = r'''
- name: Weekly targeted VACUUM ANALYZE, bounded by the window
  runbook.maintenance.pg_vacuum:
    login_db: app
    login_unix_socket: /var/run/postgresql
    deadline: "05:00"
    jobs: 2

- name: Show what would be vacuumed, change nothing
  runbook.maintenance.pg_vacuum:
    login_db: app
  check_mode: true
  register: plan

- name: Only two tables, skip anything locked, never wait more than 2 seconds for a lock
  runbook.maintenance.pg_vacuum:
    login_db: app
    tables: [public.orders, "audit.events"]
    lock_timeout: 2s

- name: Monthly rewrite of bloated tables, online with pg_repack where the extension is installed
  runbook.maintenance.pg_vacuum:
    login_db: app
    operation: vacuum_full
    rewrite_method: auto
    repack_wait_timeout: 30s
    deadline: "05:00"

- name: Set the connection once for every PostgreSQL module of the collection
  module_defaults:
    group/runbook.maintenance.postgres:
      login_host: db1.example.com
      login_user: maintenance
      login_password: "{{ vault_pg_password }}"
  block:
    - name: Vacuum the app database
      runbook.maintenance.pg_vacuum:
        login_db: app
'''

RETURN = r'''
tables:
  description: One entry per table chosen for the operation, in the order they were processed.
  returned: always
  type: list
  elements: dict
  contains:
    schema:
      description: Schema of the table.
      type: str
    name:
      description: Name of the table.
      type: str
    operation:
      description: The operation.
      type: str
    status:
      description:
        - One of C(done), C(skipped_locked), C(deferred), C(failed), C(planned) (check mode),
          C(skipped) (pg_repack cannot rewrite it and O(rewrite_fallback=skip); see C(error)).
      type: str
    method:
      description:
        - How the table is (or would be) worked on. For V(vacuum_full) C(pg_repack) or
          C(vacuum_full); for the other operations the operation itself.
      type: str
    command:
      description: The pg_repack argument list (no password, which travels in the environment).
      type: list
      elements: str
      returned: when the method is C(pg_repack)
    estimated_bloat_bytes:
      description: Estimated reclaimable bytes of the table, for V(vacuum_full) and V(reindex).
      type: int
    hint:
      description:
        - For a busy table that C(VACUUM FULL) could not lock (C(skipped_locked)) while pg_repack was
          not usable, what to do so it gets rewritten online.
      type: str
      returned: when applicable
    reason:
      description: Why the table was chosen (or deferred).
      type: str
    query:
      description: The statement for this table.
      type: str
    duration_s:
      description: Seconds the statement took.
      type: float
    dead_tuples_before:
      description: Dead tuples before the operation.
      type: int
    dead_tuples_after:
      description: Dead tuples after the operation (null when it did not run).
      type: int
    size_before:
      description:
        - Table size in bytes (heap, TOAST, maps) before, measured right before the operation
          (in check mode, and when the table is locked, the catalog's estimate from C(relpages)).
      type: int
    size_after:
      description: Table size in bytes after (null when it did not run).
      type: int
    error:
      description: The error, for C(failed) and C(skipped_locked) tables.
      type: str
    cleanup:
      description:
        - Invalid index copies left by an interrupted C(REINDEX CONCURRENTLY) that were dropped, or
          the pg_repack leftovers (trigger, log and copy tables of an interrupted run) that were dropped.
      type: list
      elements: str
      returned: for V(reindex) and pg_repack rewrites
  sample:
    - schema: public
      name: orders
      operation: vacuum_analyze
      status: done
      reason: 52000 dead tuples (34% of rows; thresholds 1000 and 5%)
      query: VACUUM (SKIP_LOCKED, ANALYZE) "public"."orders"
      duration_s: 0.41
      dead_tuples_before: 52000
      dead_tuples_after: 0
      size_before: 9379840
      size_after: 9379840
      error: null
not_selected:
  description: Tables left alone, with the reason (below threshold, excluded, too large).
  returned: always
  type: list
  elements: dict
  sample:
    - schema: public
      name: countries
      reason: "below threshold: 0 dead tuples (0% of rows; thresholds 1000 and 5%)"
      dead_tuples: 0
queries:
  description: Statements run (or, in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample: ["SET lock_timeout = '5000ms'", 'VACUUM (SKIP_LOCKED, ANALYZE) "public"."orders"']
summary:
  description: Counts per status and what the run achieved.
  returned: always
  type: dict
  sample:
    done: 3
    skipped_locked: 0
    deferred: 0
    failed: 0
    planned: 0
    skipped: 0
    tables_considered: 12
    dead_tuples_removed: 180000
    bytes_reclaimed: 0
    bloat_remaining_bytes: 0
    duration_s: 1.9
server_version:
  description: Version of the server.
  returned: always
  type: dict
  sample: {major: 15, minor: 18, full: '15.18', raw: 150018}
database:
  description: The database worked on.
  returned: always
  type: str
  sample: app
operation:
  description: The operation.
  returned: always
  type: str
  sample: vacuum_analyze
in_recovery:
  description: Whether the server is a standby.
  returned: always
  type: bool
  sample: false
rewrite_method:
  description: For V(vacuum_full), the method of this run, C(pg_repack) or C(vacuum_full).
  returned: for V(vacuum_full)
  type: str
  sample: pg_repack
rewrite_method_note:
  description: Why pg_repack is not used (with the fix), when O(rewrite_method=auto) chose C(VACUUM FULL).
  returned: for V(vacuum_full)
  type: str
  sample: >-
    the pg_repack extension is not installed in database app (rewrite it online with pg_repack: install the
    package (Debian: postgresql-15-repack) and run CREATE EXTENSION pg_repack in database app)
'''

import dataclasses
import datetime
import os
import queue
import shlex
import signal
import threading
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import (
    connect,
    connection_kwargs,
    describe_target,
    ensure_psycopg,
    connection_option_errors,
    postgres_common_argument_spec,
    qualified,
    scrub,
    server_version,
    set_session_timeouts,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.pgclient import libpq_environment, run_with_deadline
from ansible_collections.runbook.maintenance.plugins.module_utils.jsonfile import read_json, write_json_atomic
from ansible_collections.runbook.maintenance.plugins.module_utils.sizes import check_size
from ansible_collections.runbook.maintenance.plugins.module_utils.repack import (
    BACKENDS_QUERY,
    FALLBACKS,
    KEYS_QUERY,
    LEFTOVERS_QUERY,
    METHODS,
    backend_patterns,
    leftover_oids,
    parse_output,
    repack_command,
    resolve_method,
    table_method,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import (
    MAX_DURATION_S,
    check_duration,
    check_pg_timeout,
    parse_deadline,
    parse_duration,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.vacuum import (
    ACTIVITY_QUERY,
    BLOAT_OPERATIONS,
    OPERATIONS,
    STATS_QUERY,
    STATUSES,
    PlanItem,
    TableStats,
    Thresholds,
    build_plan,
    clean_history,
    parse_table_name,
)

try:
    import psycopg
    from psycopg import sql
except ImportError:  # reported by ensure_psycopg
    psycopg = None
    sql = None

LOCK_NOT_AVAILABLE = '55P03'
# Throughput assumed for a VACUUM FULL before one has been measured in this run (bytes/s).
DEFAULT_REWRITE_RATE = 50 * 1024 * 1024
# pg_repack copies, logs concurrent changes and rebuilds the indexes: assume half that rate.
DEFAULT_REPACK_RATE = DEFAULT_REWRITE_RATE / 2
# After the deadline pg_repack gets SIGINT (it cancels and drops its objects), then this long.
REPACK_GRACE_S = 30
REWRITES = ('vacuum_full', 'reindex')
# Free space a rewrite needs, relative to the copy it makes (the copy, WAL, sort space).
SPACE_FACTOR = 1.2
LOCAL_HOSTS = ('', 'localhost', '127.0.0.1', '::1')
# Sizes (and, after the operation, dead tuples) of one table in one round trip. The size
# functions lock the table: set_config(..., true) bounds that wait to 50 ms for this statement
# only (autocommit: its own transaction), and OFFSET 0 keeps the subquery, so the setting is
# made before the sizes are read. A table another session holds gets no exact size.
_BOUNDED = "(SELECT %s::regclass AS r, set_config('lock_timeout', '50ms', true) OFFSET 0) bounded"
SIZE_QUERY = 'SELECT pg_table_size(r), pg_indexes_size(r) FROM ' + _BOUNDED
AFTER_QUERY = 'SELECT COALESCE(pg_stat_get_dead_tuples(r), 0), pg_table_size(r), pg_indexes_size(r) FROM ' + _BOUNDED
DEAD_QUERY = 'SELECT COALESCE(pg_stat_get_dead_tuples(%s::regclass), 0)'
FIELDS = [f.name for f in dataclasses.fields(TableStats)]


def rewrite_bytes(item: PlanItem) -> int:
    """Bytes a rewrite copies: the heap and its indexes for VACUUM FULL, the indexes for REINDEX."""
    stats = item.stats
    return stats.index_bytes if item.operation == 'reindex' else stats.table_bytes + stats.index_bytes


def free_bytes(path: str | None) -> int | None:
    """Bytes available to unprivileged users on the filesystem holding path, if it is here."""
    if not path or not os.path.isdir(path):
        return None
    try:
        info = os.statvfs(path)
    except OSError:
        return None
    return info.f_bavail * info.f_frsize


class PgVacuum:
    """Plans and runs the maintenance of one database."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.params = module.params
        self.started = time.monotonic()
        self.queries: list[str] = []
        self.lock = threading.Lock()
        self.rewrite_rate: float | None = None
        self.limits, self.tables, self.deadline = self._validate()
        self.history = self._load_history()
        self.reserved: dict[str, int] = {}
        self.paths: dict[int, str | None] = {}
        self.rewrite_method: str | None = None
        self.rewrite_note: str | None = None
        self.repack_bin: str | None = None

    def _load_history(self) -> dict:
        """Past rewrite durations. A history file that is unreadable or corrupt (a symlink, not
        UTF-8, not JSON, wrong types, NaN) is only a loss of predictions: warn, start afresh,
        and the next save replaces it."""
        path = self.params['history_file']
        if not path or not os.path.lexists(path):
            return {}
        try:
            data, dropped = clean_history(read_json(path))
        except (OSError, ValueError) as exc:
            self.module.warn(f'history_file {path} is unreadable, durations start afresh: {exc}')
            return {}
        if dropped:
            self.module.warn(f'history_file {path}: {dropped} malformed entr{"y" if dropped == 1 else "ies"} ignored')
        return data

    def _save_history(self) -> None:
        path = self.params['history_file']
        if not path or self.module.check_mode:
            return
        directory = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(directory, exist_ok=True)
            # A new file renamed over the name: a planted symlink is replaced, never followed.
            write_json_atomic(path, self.history, indent=1, mode=0o600)
        except OSError as exc:
            self.module.warn(f'could not write history_file {path}: {exc.strerror or exc}')

    def history_key(self, item: PlanItem) -> str:
        key = f"{self.params['login_db']}/{item.stats.schema}/{item.stats.name}/{item.operation}"
        return key + '/pg_repack' if item.extra.get('method') == 'pg_repack' else key

    # ---- input -------------------------------------------------------------------------
    def _validate(self) -> tuple[Thresholds, list[tuple[str, str]], float | None]:
        p = self.params
        errors = []
        for name in ('min_dead_ratio', 'min_bloat_ratio'):
            if not 0 <= p[name] <= 1:
                errors.append(f'{name} must be between 0 and 1, got {p[name]}')
        for name in ('min_dead_tuples', 'min_mod_since_analyze', 'min_xid_age'):
            if p[name] < 0:
                errors.append(f'{name} cannot be negative, got {p[name]}')
            elif p[name] > 2 ** 63 - 1:
                errors.append(f'{name} is beyond any count PostgreSQL keeps, got {str(p[name])[:30]}')
        for name, allow_zero in (('min_bloat_bytes', True), ('max_table_bytes', False)):
            if p[name] is not None:
                try:
                    check_size(name, p[name], allow_zero=allow_zero)
                except ValueError as exc:
                    errors.append(str(exc))
        if p['jobs'] < 1 or p['jobs'] > 64:
            errors.append(f"jobs must be between 1 and 64, got {p['jobs']}")
        errors.extend(connection_option_errors(p))
        # A lock bound must be a bound: PostgreSQL reads 0 as "wait forever".
        self.timeouts = {}
        for name in ('lock_timeout', 'statement_timeout'):
            if p[name] is None and name == 'statement_timeout':
                continue
            try:
                self.timeouts[name] = check_pg_timeout(name, p[name] if p[name] is not None else '')
            except ValueError as exc:
                errors.append(str(exc))
        # pg_repack's bounded wait for its brief exclusive locks (its --wait-timeout, in seconds).
        try:
            self.repack_wait = check_duration('repack_wait_timeout', p['repack_wait_timeout'], minimum=1.0,
                                              maximum=86400.0)
        except ValueError as exc:
            errors.append(str(exc))
        tables = []
        for text in p['tables']:
            try:
                tables.append(parse_table_name(text))
            except ValueError as exc:
                errors.append(f'tables: {exc}')
        deadline = None
        if p['deadline']:
            try:
                deadline_dt = parse_deadline(p['deadline'])
                now = datetime.datetime.now().astimezone()
                deadline = self.started + (deadline_dt - now).total_seconds()
                if deadline - self.started > MAX_DURATION_S:
                    errors.append(f"deadline {p['deadline']!r} is more than 100 years ahead")
            except ValueError as exc:
                errors.append(f'deadline: {exc}')
        elif p['time_budget'] is not None:
            try:
                deadline = self.started + check_duration('time_budget', p['time_budget'], allow_zero=True)  # 0: start nothing
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            self.module.fail_json(msg='Invalid options: ' + '; '.join(errors))
        limits = Thresholds(
            min_dead_tuples=p['min_dead_tuples'], min_dead_ratio=p['min_dead_ratio'],
            min_mod_since_analyze=p['min_mod_since_analyze'], min_xid_age=p['min_xid_age'],
            min_bloat_ratio=p['min_bloat_ratio'], min_bloat_bytes=p['min_bloat_bytes'],
            max_table_bytes=p['max_table_bytes'], force=p['force'])
        return limits, tables, deadline

    # ---- SQL ---------------------------------------------------------------------------
    def statement(self, item: PlanItem, version: int):
        target = qualified(item.stats.schema, item.stats.name)
        op = item.operation
        skip_locked = self.params['skip_locked'] and version >= 120000
        if op == 'reindex':
            if version >= 120000:
                return sql.SQL('REINDEX TABLE CONCURRENTLY {}').format(target)
            return sql.SQL('REINDEX TABLE {}').format(target)
        options = {
            'vacuum': [], 'analyze': [], 'vacuum_analyze': ['ANALYZE'],
            'vacuum_freeze': ['FREEZE'], 'vacuum_full': ['FULL', 'ANALYZE'],
        }[op]
        if skip_locked:
            options = ['SKIP_LOCKED'] + options
        verb = 'ANALYZE' if op == 'analyze' else 'VACUUM'
        if options:
            return sql.SQL(verb + ' (' + ', '.join(options) + ') {}').format(target)
        return sql.SQL(verb + ' {}').format(target)

    def record(self, text: str) -> None:
        with self.lock:
            self.queries.append(text)

    def open_session(self):
        conn = connect(self.module, self.params['login_db'])
        return conn, self.prepare_session(conn)

    def prepare_session(self, conn) -> list[str]:
        """JIT off, lock_timeout and statement_timeout for this session; the SET statements."""
        # The catalog query is cheap; JIT compiling it would cost seconds on large catalogs.
        conn.execute("SELECT set_config('jit', 'off', false)")
        return set_session_timeouts(conn, self.timeouts.get('lock_timeout'), self.timeouts.get('statement_timeout'))

    def start_extra_sessions(self, count: int) -> tuple[list, list]:
        """Open `count` more sessions in the background while the plan is made, so every job
        starts working as soon as the plan is ready. Returns the threads and, once they are
        joined, one connection or error message per thread (never fail_json from a thread)."""
        opened: list = []

        def opener() -> None:
            conn = None
            try:
                conn = psycopg.connect(autocommit=True, **connection_kwargs(self.params))
                self.prepare_session(conn)
                opened.append(conn)
            except Exception as exc:  # noqa: BLE001 - reported by the main thread, password scrubbed
                if conn is not None:
                    conn.close()
                opened.append(scrub(f"{describe_target(self.params)}: {' '.join(str(exc).split())}", self.params))

        threads = [threading.Thread(target=opener, daemon=True) for dummy in range(count)]
        for thread in threads:
            thread.start()
        return threads, opened

    def collect_extra_sessions(self, pending: tuple[list, list], wanted: int) -> list:
        """Up to `wanted` of the background sessions; the others are closed. A session that
        could not be opened leaves its job out, with a warning."""
        threads, opened = pending
        for thread in threads:
            thread.join()
        conns = [item for item in opened if not isinstance(item, str)]
        errors = [item for item in opened if isinstance(item, str)]
        for conn in conns[wanted:]:
            conn.close()
        if errors and len(conns) < wanted:
            self.module.warn(f'{len(errors)} parallel connection(s) could not be opened, working with '
                             f'{len(conns) + 1} job(s): {errors[0]}')
        return conns[:wanted]

    # ---- work --------------------------------------------------------------------------
    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def should_defer(self, item: PlanItem) -> str | None:
        left = self.remaining()
        if left is None:
            return None
        if left <= 0:
            return 'deadline reached: not started'
        if item.operation in REWRITES:
            expected, basis = self.expected_duration(item)
            if expected > left:
                return (f'deadline: expected to take {expected:.0f}s ({basis}), only {left:.0f}s left')
        return None

    def expected_duration(self, item: PlanItem) -> tuple[float, str]:
        """Predicted seconds for a rewrite: its own past duration scaled to its size, else the
        rate measured in this run, else a conservative default."""
        size = rewrite_bytes(item)
        past = self.history.get(self.history_key(item))
        if past and past.get('bytes') and past.get('duration_s') is not None:
            return past['duration_s'] * size / past['bytes'], f"last run took {past['duration_s']}s"
        if item.extra.get('method') == 'pg_repack':
            return size / DEFAULT_REPACK_RATE, 'assumed 25 MB/s for pg_repack'
        if self.rewrite_rate:
            return size / self.rewrite_rate, 'rate measured in this run'
        return size / DEFAULT_REWRITE_RATE, 'assumed 50 MB/s'

    # ---- free space for rewrites -------------------------------------------------------
    def load_paths(self, conn) -> None:
        """Directory of each tablespace, when this host can see it (None otherwise)."""
        p = self.params
        host = p['login_unix_socket'] or p['login_host']
        local = host.startswith('/') or host in LOCAL_HOSTS or bool(p['login_unix_socket'])
        try:
            data_dir = conn.execute("SELECT current_setting('data_directory')").fetchone()[0]
        except psycopg.Error:
            data_dir = None
        default_space = conn.execute(
            'SELECT dattablespace FROM pg_database WHERE datname = current_database()').fetchone()[0]
        for oid, name, location in conn.execute(
                'SELECT oid, spcname, pg_tablespace_location(oid) FROM pg_tablespace').fetchall():
            path = location or (data_dir if name in ('pg_default', 'pg_global') else None)
            self.paths[oid] = path if local else None
            if oid == default_space:
                self.paths[0] = self.paths[oid]

    def space_problem(self, item: PlanItem) -> str | None:
        """Why a rewrite must not start for lack of (verifiable) room; reserves the room if not."""
        if item.operation not in REWRITES or not self.params['space_check']:
            return None
        path = self.paths.get(item.stats.tablespace)
        need = int(rewrite_bytes(item) * SPACE_FACTOR)
        with self.lock:
            free = free_bytes(path)
            if free is None:
                return ('cannot verify free space for the rewrite from this host (run on the database '
                        'host with the data directory readable, or set space_check=false)')
            free -= self.reserved.get(path, 0)
            if free < need:
                return f'not enough free space for the rewrite: needs {need} bytes, {free} available'
            self.reserved[path] = self.reserved.get(path, 0) + need
        return None

    def release_space(self, item: PlanItem) -> None:
        if item.operation in REWRITES and self.params['space_check']:
            path = self.paths.get(item.stats.tablespace)
            with self.lock:
                self.reserved[path] = max(0, self.reserved.get(path, 0) - int(rewrite_bytes(item) * SPACE_FACTOR))

    def run_item(self, conn, notices: list, item: PlanItem, version: int) -> dict:
        query = self.statement(item, version)
        row = self.planned_row(conn, item, version)
        if row['status'] == 'skipped':
            return row
        why_defer = self.should_defer(item) or self.space_problem(item)
        if why_defer:
            row.update(status='deferred', reason=f'{item.reason}; {why_defer}')
            return row
        sizes = self.measure_size(conn, item.stats.schema, item.stats.name)
        if sizes:
            row['size_before'], row['index_size_before'] = sizes
        try:
            if item.extra.get('method') == 'pg_repack':
                return self.execute_repack(conn, item, row)
            return self.execute_item(conn, notices, item, query, row)
        finally:
            self.release_space(item)

    def execute_item(self, conn, notices: list, item: PlanItem, query, row: dict) -> dict:
        stats = item.stats
        text = row['query']
        if item.operation == 'reindex' and 'CONCURRENTLY' in text:
            # Leftovers of an earlier interrupted REINDEX CONCURRENTLY would be copied again.
            row['cleanup'] = self.drop_leftover_indexes(conn, stats)
        self.record(text)
        notices.clear()
        start = time.monotonic()
        try:
            conn.execute(query)
        except psycopg.errors.LockNotAvailable as exc:
            row.update(status='skipped_locked', error=' '.join(str(exc).split()))
        except psycopg.errors.UndefinedTable:
            row.update(status='failed', error='table no longer exists (dropped after the plan was made)')
        except psycopg.errors.QueryCanceled as exc:
            row.update(status='failed', error=f"statement timeout: {' '.join(str(exc).split())}")
        except psycopg.Error as exc:
            row.update(status='failed', error=scrub(' '.join(str(exc).split()), self.params))
        else:
            locked = [message for sqlstate, message in notices if sqlstate == LOCK_NOT_AVAILABLE]
            if locked:
                row.update(status='skipped_locked', error=locked[0])
            else:
                row['status'] = 'done'
        row['duration_s'] = round(time.monotonic() - start, 3)
        if row['status'] == 'skipped_locked' and item.operation == 'vacuum_full' and self.rewrite_note:
            row['hint'] = (f'busy table: VACUUM FULL needs an ACCESS EXCLUSIVE lock for the whole rewrite; '
                           f'{self.rewrite_note}')
        self.finish_row(conn, item, row)
        return row

    def finish_row(self, conn, item: PlanItem, row: dict) -> None:
        """Sizes after a successful operation, and the duration of rewrites for the next plan."""
        if row['status'] == 'done':
            self.measure_after(conn, row)
            if item.operation in REWRITES:
                with self.lock:
                    self.history[self.history_key(item)] = {
                        'duration_s': row['duration_s'], 'bytes': rewrite_bytes(item),
                        'at': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}
                    if row['duration_s'] > 0.5 and item.extra.get('method') != 'pg_repack':
                        self.rewrite_rate = rewrite_bytes(item) / row['duration_s']
        elif item.operation == 'reindex' and 'CONCURRENTLY' in row['query']:
            row['cleanup'] = row.get('cleanup', []) + self.drop_leftover_indexes(conn, item.stats)

    # ---- pg_repack ---------------------------------------------------------------------
    def execute_repack(self, conn, item: PlanItem, row: dict) -> dict:
        """One table rewritten online by pg_repack, bounded by the deadline and
        statement_timeout; whatever an interrupted run leaves behind is dropped."""
        oid = item.extra['oid']
        row['cleanup'] = []
        if self.repack_busy(conn, oid):
            row.update(status='skipped_locked', error='another pg_repack is working on this table')
            return row
        row['cleanup'] += self.drop_repack_leftovers(conn, oid)
        self.record(row['query'])
        start = time.monotonic()
        limit = self.remaining()
        if self.params['statement_timeout']:
            bound = parse_duration(self.params['statement_timeout'])
            limit = bound if limit is None else min(limit, bound)
        returncode, output, interrupted = self.run_repack(item.extra['argv'], limit)
        row['duration_s'] = round(time.monotonic() - start, 3)
        if interrupted:
            row.update(status='failed', error=f'pg_repack interrupted after {row["duration_s"]:.0f}s: {interrupted} '
                                              f'({" ".join(output.split())[-300:]})')
        else:
            status, error = parse_output(returncode, output)
            row.update(status=status, error=scrub(error, self.params) if error else None)
        # Verify: nothing of this run (or of a killed one) may stay on the table.
        row['cleanup'] += self.drop_repack_leftovers(conn, oid)
        self.finish_row(conn, item, row)
        return row

    def run_repack(self, argv: list[str], limit: float | None) -> tuple[int, str, str | None]:
        """pg_repack with the password in its environment. At the limit it gets SIGINT (it cancels
        its statements and drops its objects), then SIGKILL after a grace period
        (module_utils pgclient.run_with_deadline: run_command has no time limit)."""
        env = dict(os.environ)
        # PGAPPNAME left out: pg_repack's sessions keep their own name ('pg_repack')
        env.update(libpq_environment(self.params, self.params['login_db'], application_name=False))
        env.pop('PGAPPNAME', None)
        returncode, output, timed_out = run_with_deadline(argv, env, limit, REPACK_GRACE_S, signal.SIGINT)
        return returncode, output, 'the deadline (or statement_timeout) was reached' if timed_out else None

    def repack_busy(self, conn, oid: int) -> bool:
        """Whether a live pg_repack session (another operator's) is working on this table."""
        try:
            return bool(conn.execute(BACKENDS_QUERY, backend_patterns(oid)).fetchall())
        except psycopg.Error:
            return False

    def drop_repack_leftovers(self, conn, oid: int) -> list[str]:
        """Drop the trigger, log and copy tables an interrupted pg_repack left for this table: first
        the server sessions of a killed client still working on them (bounded wait), then
        repack.repack_drop(), pg_repack's own cleanup function. Returns what was dropped."""
        try:
            names = [name for (name,) in conn.execute(LEFTOVERS_QUERY).fetchall()]
        except psycopg.Error:
            return []
        if oid not in leftover_oids(names):
            return []
        found = sorted(name for name in names if name.endswith(f'_{oid}') or f'_{oid}_' in name)
        try:
            pids = [pid for (pid,) in conn.execute(BACKENDS_QUERY, backend_patterns(oid)).fetchall()]
            for pid in pids:
                self.record(f'SELECT pg_terminate_backend({pid})')
                conn.execute('SELECT pg_terminate_backend(%s)', (pid,))
            deadline = time.monotonic() + 10
            while pids and time.monotonic() < deadline:
                if not conn.execute('SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)', (pids,)).fetchone()[0]:
                    break
                time.sleep(0.1)
            self.record(f'SELECT repack.repack_drop({oid}, 4)')
            conn.execute('SELECT repack.repack_drop(%s, 4)', (oid,))
        except psycopg.Error as exc:
            self.module.warn(f"could not drop pg_repack's leftovers for table OID {oid} ({', '.join(found)}); "
                             f"the next run retries: {' '.join(str(exc).split())}")
            return []
        return [name.replace('table_trigger_', 'trigger repack_trigger on table OID ') for name in found]

    def prepare_rewrites(self, conn, plan: list[PlanItem], version: int) -> None:
        """The rewrite method of this run and of each table of a VACUUM FULL plan."""
        p = self.params
        major = version // 10000
        extension = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'pg_repack'").fetchone()
        superuser = conn.execute('SELECT rolsuper FROM pg_roles WHERE rolname = current_user').fetchone()
        client, client_version = None, None
        if p['rewrite_method'] != 'vacuum_full':
            client = p['repack_bin'] or next(
                (path for path in (f'/usr/lib/postgresql/{major}/bin/pg_repack',) if os.access(path, os.X_OK)), None) \
                or self.module.get_bin_path('pg_repack')
            if client and os.access(client, os.X_OK):
                rc, out, dummy = self.module.run_command([client, '--version'], expand_user_and_vars=False)
                client_version = out.strip() if rc == 0 else None
            else:
                client = None
        method, note, error = resolve_method(p['rewrite_method'], extension[0] if extension else None, client,
                                             client_version, bool(superuser and superuser[0]), p['login_db'], major)
        if error:
            self.module.fail_json(msg=error)
        self.rewrite_method, self.rewrite_note, self.repack_bin = method, note, client
        if method != 'pg_repack':
            for item in plan:
                item.extra['method'] = 'vacuum_full'
            return
        keys = {(schema, name): (oid, has_key) for oid, schema, name, kind, has_key in conn.execute(
            KEYS_QUERY, ([i.stats.schema for i in plan], [i.stats.name for i in plan])).fetchall()}
        connection = {'host': p['login_unix_socket'] or p['login_host'], 'port': p['login_port'], 'user': p['login_user']}
        wait = self.repack_wait
        for item in plan:
            oid, has_key = keys.get((item.stats.schema, item.stats.name), (None, False))
            chosen, why = table_method('pg_repack', bool(has_key), p['rewrite_fallback'])
            item.extra.update(method=chosen, oid=oid, note=why)
            if chosen == 'pg_repack':
                item.extra['argv'] = repack_command(client, p['login_db'], item.stats.schema, item.stats.name, wait,
                                                    p['repack_kill_backends'], 1, connection)

    def drop_leftover_indexes(self, conn, stats: TableStats) -> list[str]:
        """An interrupted REINDEX CONCURRENTLY leaves invalid '<index>_ccnew' copies behind:
        drop them so a failed window does not leave the table with extra indexes to maintain."""
        dropped = []
        try:
            leftovers = conn.execute(
                "SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
                "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relname = %s AND NOT i.indisvalid AND ic.relname ~ '_ccnew[0-9]*$'",
                (stats.schema, stats.name)).fetchall()
            for (index,) in leftovers:
                drop = sql.SQL('DROP INDEX CONCURRENTLY IF EXISTS {}').format(qualified(stats.schema, index))
                self.record(drop.as_string(conn))
                conn.execute(drop)
                dropped.append(index)
        except psycopg.Error as exc:
            self.module.warn(f'could not drop invalid index copies on {stats.qualified_name} '
                             f"(the next run retries): {' '.join(str(exc).split())}")
        return dropped

    @staticmethod
    def measure_size(conn, schema: str, name: str) -> tuple[int, int] | None:
        """Exact (table, indexes) bytes, or None when another session holds the table: the size
        functions take a lock, so they get 50 ms at most and the catalog estimate stands in."""
        try:
            return conn.execute(SIZE_QUERY, (qualified(schema, name).as_string(conn),)).fetchone()
        except psycopg.Error:
            return None

    def measure_after(self, conn, row: dict) -> None:
        """Dead tuples and sizes after the operation, in one round trip (dead tuples alone
        when the sizes cannot be read)."""
        target = qualified(row['schema'], row['name']).as_string(conn)
        try:
            row['dead_tuples_after'], row['size_after'], row['index_size_after'] = conn.execute(
                AFTER_QUERY, (target,)).fetchone()
            return
        except psycopg.Error:
            pass
        try:
            row['dead_tuples_after'] = conn.execute(DEAD_QUERY, (target,)).fetchone()[0]
        except psycopg.Error:
            pass  # dropped meanwhile: nothing to measure

    def worker(self, conn, work: queue.Queue, results: dict, version: int) -> None:
        """Takes the next table until none is left (no waiting between tables)."""
        notices: list = []
        # A Diagnostic is only readable inside the handler: keep what we need of it.
        conn.add_notice_handler(lambda diag: notices.append((diag.sqlstate, diag.message_primary)))
        while True:
            try:
                index, item = work.get_nowait()
            except queue.Empty:
                return
            results[index] = self.run_item(conn, notices, item, version)

    def fetch_stats(self, conn) -> list[TableStats]:
        # Only the rewrites read the bloat estimate's inputs: the others use the cheaper query.
        cursor = conn.execute(STATS_QUERY if self.params['operation'] in BLOAT_OPERATIONS else ACTIVITY_QUERY)
        names = [column.name for column in cursor.description]
        rows = cursor.fetchall()
        if names == FIELDS:
            return [TableStats(*row) for row in rows]
        return [TableStats(**dict(zip(names, row))) for row in rows]

    def run(self) -> dict:
        p = self.params
        ensure_psycopg(self.module)
        conn, timeouts = self.open_session()
        version = conn.info.server_version
        result = {
            'changed': False, 'database': p['login_db'], 'operation': p['operation'],
            'server_version': server_version(conn),
            'tables': [], 'not_selected': [], 'queries': [],
        }
        in_recovery = conn.execute('SELECT pg_is_in_recovery()').fetchone()[0]
        result['in_recovery'] = in_recovery
        if in_recovery:
            conn.close()
            msg = f"{p['login_db']}: the server is a standby (in recovery); {p['operation']} cannot run there"
            if p['on_standby'] == 'fail':
                self.module.fail_json(msg=msg, **result)
            result.update(msg=msg, summary=self.summarize([], 0))
            return result

        # The other jobs' sessions open while the plan is made (not in check mode: nothing runs).
        pending = (self.start_extra_sessions(p['jobs'] - 1)
                   if p['jobs'] > 1 and not self.module.check_mode else ([], []))
        extra: list | None = None
        try:
            all_stats = self.fetch_stats(conn)
            plan, left_alone, missing = build_plan(all_stats, p['operation'], self.limits, self.tables,
                                                   p['schemas'], p['exclude'])
            if p['operation'] == 'vacuum_full' and plan:
                self.prepare_rewrites(conn, plan, version)
            if p['operation'] in REWRITES and p['space_check'] and plan:
                plan, left_alone = self.plan_space(conn, plan, left_alone)
            if missing:
                self.module.fail_json(msg=f"Tables not found in database {p['login_db']!r}: {', '.join(missing)}",
                                      **result)
            result['not_selected'] = left_alone
            if p['operation'] == 'vacuum_full':
                result['rewrite_method'] = self.rewrite_method or (
                    'vacuum_full' if p['rewrite_method'] == 'vacuum_full' else None)
                result['rewrite_method_note'] = self.rewrite_note

            if self.module.check_mode or not plan:
                result['tables'] = [self.planned_row(conn, item, version) for item in plan]
                result['queries'] = (timeouts if plan else []) + [row['query'] for row in result['tables']
                                                                  if row['status'] == 'planned']
                result['changed'] = any(row['status'] == 'planned' for row in result['tables'])
                result['summary'] = self.summarize(result['tables'], len(all_stats))
                return result

            self.queries.extend(timeouts)
            work: queue.Queue = queue.Queue()
            for index, item in enumerate(plan):
                work.put((index, item))
            results: dict[int, dict] = {}
            extra = self.collect_extra_sessions(pending, min(p['jobs'], len(plan)) - 1)
            threads = [threading.Thread(target=self.worker, args=(other, work, results, version))
                       for other in extra]
            for thread in threads:
                thread.start()
            try:
                self.worker(conn, work, results, version)
            finally:
                for thread in threads:
                    thread.join()
        finally:
            for other in self.collect_extra_sessions(pending, 0) if extra is None else extra:
                other.close()
            conn.close()
        self._save_history()
        result['tables'] = [results[i] for i in sorted(results)]
        result['queries'] = self.queries
        result['changed'] = any(row['status'] == 'done' for row in result['tables'])
        result['summary'] = self.summarize(result['tables'], len(all_stats))
        return result

    def plan_space(self, conn, plan: list[PlanItem], left_alone: list[dict]) -> tuple[list[PlanItem], list[dict]]:
        """Leave out rewrites there is no (verifiable) room for, saying why."""
        self.load_paths(conn)
        kept = []
        for item in plan:
            problem = self.space_problem(item)
            self.release_space(item)
            if problem:
                left_alone.append({'schema': item.stats.schema, 'name': item.stats.name,
                                   'reason': f'{item.reason}; {problem}', 'dead_tuples': item.stats.dead_tuples})
            else:
                kept.append(item)
        return kept, left_alone

    def planned_row(self, conn, item: PlanItem, version: int) -> dict:
        stats = item.stats
        row = {
            'schema': stats.schema, 'name': stats.name, 'operation': item.operation,
            'method': item.extra.get('method') or item.operation,
            'status': 'planned', 'reason': item.reason,
            'query': self.statement(item, version).as_string(conn), 'duration_s': None,
            'dead_tuples_before': stats.dead_tuples, 'dead_tuples_after': None,
            'live_tuples': stats.live_tuples, 'size_before': stats.table_bytes, 'size_after': None,
            'index_size_before': stats.index_bytes, 'index_size_after': None, 'error': None,
        }
        if item.operation in REWRITES:
            row['estimated_bloat_bytes'] = int(item.benefit)
        if item.operation == 'vacuum_full' and self.rewrite_method == 'pg_repack':
            if item.extra.get('method') is None:
                row.update(method='pg_repack', status='skipped', query='', error=item.extra.get('note'))
            elif item.extra.get('method') == 'pg_repack':
                row['command'] = item.extra['argv']
                row['query'] = shlex.join(item.extra['argv'])
            elif item.extra.get('note'):
                row['reason'] = f"{item.reason}; {item.extra['note']}"
        return row

    def summarize(self, rows: list[dict], considered: int) -> dict:
        summary = {status: 0 for status in STATUSES}
        for row in rows:
            summary[row['status']] += 1
        done = [row for row in rows if row['status'] == 'done']
        summary['tables_considered'] = considered
        summary['dead_tuples_removed'] = sum(
            max(0, row['dead_tuples_before'] - (row['dead_tuples_after'] or 0)) for row in done)
        summary['bytes_reclaimed'] = sum(
            max(0, (row['size_before'] + row['index_size_before'])
                - ((row['size_after'] or 0) + (row['index_size_after'] or 0))) for row in done)
        # Bloat the rewrites could not give back: tables skipped, locked, deferred or failed.
        summary['bloat_remaining_bytes'] = sum(
            row.get('estimated_bloat_bytes') or 0 for row in rows
            if row['status'] in ('skipped', 'skipped_locked', 'deferred', 'failed'))
        summary['duration_s'] = round(time.monotonic() - self.started, 3)
        return summary


def main() -> None:
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        operation=dict(type='str', default='vacuum_analyze', choices=list(OPERATIONS)),
        tables=dict(type='list', elements='str', default=[]),
        schemas=dict(type='list', elements='str', default=[]),
        exclude=dict(type='list', elements='str', default=[]),
        min_dead_tuples=dict(type='int', default=1000),
        min_dead_ratio=dict(type='float', default=0.05),
        min_mod_since_analyze=dict(type='int', default=1000),
        min_xid_age=dict(type='int', default=100_000_000),
        min_bloat_ratio=dict(type='float', default=0.3),
        min_bloat_bytes=dict(type='int', default=10 * 1024 * 1024),
        max_table_bytes=dict(type='int'),
        force=dict(type='bool', default=False),
        lock_timeout=dict(type='str', default='5s'),
        skip_locked=dict(type='bool', default=True),
        statement_timeout=dict(type='str'),
        deadline=dict(type='str'),
        time_budget=dict(type='str'),
        jobs=dict(type='int', default=1),
        space_check=dict(type='bool', default=True),
        history_file=dict(type='path'),
        on_standby=dict(type='str', default='skip', choices=['skip', 'fail']),
        rewrite_method=dict(type='str', default='auto', choices=list(METHODS)),
        rewrite_fallback=dict(type='str', default='skip', choices=list(FALLBACKS)),
        repack_wait_timeout=dict(type='str', default='60s'),
        repack_kill_backends=dict(type='bool', default=False),
        repack_bin=dict(type='path'),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[('deadline', 'time_budget')],
        supports_check_mode=True,
    )
    try:
        result = PgVacuum(module).run()
    except psycopg.Error as exc:  # anything not tied to one table: planning, catalog reads
        module.fail_json(msg=scrub(f"PostgreSQL error on database {module.params['login_db']!r}: "
                                   f"{' '.join(str(exc).split())}", module.params))
    failed = [f"{row['schema']}.{row['name']}: {row['error']}" for row in result['tables'] if row['status'] == 'failed']
    if failed:
        module.fail_json(msg=f"{len(failed)} table(s) failed: " + '; '.join(failed), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
