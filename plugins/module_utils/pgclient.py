# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL client-tool plumbing, written once for every module that runs the client tools.

- where a client tool is (``find_bin``: pg_bin_dir, the newest /usr/lib/postgresql/*/bin, PATH);
- the libpq environment built from the login options (the password travels there, never in argv);
- running a tool and failing on its exit status or stderr (``run_tool``), or with a deadline
  (``run_with_deadline``: interrupted, then killed after a grace period);
- SIGTERM/SIGHUP turned into an exception that unwinds through every ``finally`` block
  (``Terminated``), and deferred while a step must not be cut in half (``termination_deferred``);
- scratch databases: a random name, exact row counts of what was restored in them, and their
  removal (``DROP DATABASE ... WITH (FORCE)``, or terminate-then-drop before PostgreSQL 13).
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import signal
import subprocess

from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import connection_kwargs, scrub

try:
    from psycopg import sql
except ImportError:  # the callers check for psycopg first
    sql = None

LIBPQ_ENV = {'host': 'PGHOST', 'port': 'PGPORT', 'user': 'PGUSER', 'password': 'PGPASSWORD', 'dbname': 'PGDATABASE',
             'sslmode': 'PGSSLMODE', 'sslrootcert': 'PGSSLROOTCERT', 'connect_timeout': 'PGCONNECT_TIMEOUT',
             'application_name': 'PGAPPNAME'}
PG_BIN_GLOB = '/usr/lib/postgresql/*/bin'
TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
# Every user table (plain and partitioned) outside the system schemas, with the planner's estimate.
TABLES_QUERY = ("SELECT n.nspname, c.relname, c.relkind, c.reltuples::bigint FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)' "
                "ORDER BY 1, 2")


class ToolError(Exception):
    """A client tool or a query failed; the message is password-free."""


def one_line(value) -> str:
    """Any message on one line (psycopg's errors span several)."""
    return ' '.join(str(value).split())


# ---- the tools -----------------------------------------------------------------------------------
def libpq_environment(params: dict, dbname: str, application_name: bool = True) -> dict:
    """PG* variables for pg_dump/pg_restore/psql built from the login options: the password travels
    here, never in argv; an option left empty is left out (libpq's own default applies).

    ``application_name=False`` leaves PGAPPNAME out, so the tool's sessions keep its own name
    (C(pg_dump), C(pg_repack)) in pg_stat_activity."""
    kwargs = connection_kwargs(params, dbname)
    if not application_name:
        kwargs.pop('application_name', None)
    return {LIBPQ_ENV[key]: str(value) for key, value in kwargs.items() if key in LIBPQ_ENV}


def _major(directory: str) -> int:
    part = directory.rstrip('/').split('/')[-2]
    return int(part) if part.isdigit() else 0


def find_bin(module, name: str, pg_bin_dir: str | None = None, search: str = PG_BIN_GLOB) -> str:
    """pg_bin_dir/name, else the newest /usr/lib/postgresql/*/bin/name, else PATH. Raises ToolError."""
    if pg_bin_dir:
        candidate = os.path.join(pg_bin_dir, name)
        if os.access(candidate, os.X_OK):
            return candidate
        raise ToolError(f'{name} not found in pg_bin_dir {pg_bin_dir}')
    for directory in sorted(glob.glob(search), key=_major, reverse=True):
        if os.access(os.path.join(directory, name), os.X_OK):
            return os.path.join(directory, name)
    found = module.get_bin_path(name)
    if not found:
        raise ToolError(f'{name} not found: install the PostgreSQL client tools or set pg_bin_dir')
    return found


def tool_version(module, path: str) -> str:
    """What ``<tool> --version`` prints (for a manifest)."""
    return module.run_command([path, '--version'], expand_user_and_vars=False)[1].strip()


def run_tool(module, argv: list[str], env: dict, what: str, params: dict) -> str:
    """Run a client tool; fail on a non-zero exit or any stderr line that is not a warning.
    Returns stdout; raises ToolError with a password-free message."""
    rc, out, err = module.run_command(argv, environ_update=env, expand_user_and_vars=False)
    problems = [line for line in (err or '').splitlines() if line.strip() and 'warning' not in line.lower()]
    if rc != 0 or problems:
        raise ToolError(scrub(f"{what} exited with {rc}: {' '.join((err or out).split())[:2000]}", params))
    return out


def run_with_deadline(argv: list[str], env: dict, limit: float | None, grace: float,
                      interrupt: int = signal.SIGINT) -> tuple[int, str, bool]:
    """Run a program, stdout and stderr together, for at most ``limit`` seconds (None: no limit,
    at least one second otherwise). At the limit it gets ``interrupt`` (SIGINT lets pg_repack cancel
    its statements and drop its objects), then SIGKILL after ``grace`` seconds.
    Returns (exit status, output, whether the limit was reached). Written with subprocess because
    run_command has no time limit; ``env`` is the whole environment of the child."""
    timed_out = False
    # run_command cannot interrupt a process at a deadline: Popen here.
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # pylint: disable=ansible-bad-function
                          stderr=subprocess.STDOUT, env=env, text=True, errors='replace') as proc:
        try:
            output, dummy = proc.communicate(timeout=None if limit is None else max(1.0, limit))
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.send_signal(interrupt)
            try:
                output, dummy = proc.communicate(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                output, dummy = proc.communicate()
    return proc.returncode, output or '', timed_out


# ---- termination signals -------------------------------------------------------------------------
class Terminated(BaseException):
    """SIGTERM or SIGHUP (a task timeout, a dropped connection): unwinds through every finally
    block, so scratch databases are dropped and downloads removed before the module exits."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def terminate(signum, _frame) -> None:
    raise Terminated(signum)


def raise_on_termination() -> None:
    """From now on SIGTERM and SIGHUP raise Terminated."""
    for signum in TERMINATING_SIGNALS:
        signal.signal(signum, terminate)


@contextlib.contextmanager
def termination_deferred():
    """SIGTERM and SIGHUP wait until the block is done (a drop, a swap of names): a terminated
    run cannot stop half way through it. A signal that came meanwhile is delivered at the end.
    The handlers are swapped rather than the signals masked: a mask is per thread, and a process
    with other threads (boto3's transfer pool) would take the signal on one of those."""
    pending: list[int] = []

    def remember(signum, _frame) -> None:
        pending.append(signum)

    previous = {signum: signal.signal(signum, remember) for signum in TERMINATING_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if pending:
            handler = previous[pending[0]]
            if callable(handler):
                handler(pending[0], None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), pending[0])


# ---- scratch databases ---------------------------------------------------------------------------
def scratch_name(prefix: str) -> str:
    """A fresh scratch database name, ``<prefix>_<8 hex digits>``."""
    return f'{prefix}_{secrets.token_hex(4)}'


def databases_with_prefix(conn, prefix: str) -> list[str]:
    """Names of the databases starting with ``prefix`` (literally: no LIKE wildcards), sorted."""
    rows = conn.execute('SELECT datname FROM pg_database WHERE left(datname, length(%s)) = %s ORDER BY 1',
                        (prefix, prefix)).fetchall()
    return [row[0] for row in rows]


def list_tables(conn) -> list[tuple[str, str, str, int]]:
    """(schema, name, relkind, planner's row estimate) of every user table, sorted."""
    return [tuple(row) for row in conn.execute(TABLES_QUERY).fetchall()]


def exact_row_counts(conn, only=None, tables=None) -> tuple[dict[tuple[str, str], int], set]:
    """Exact row count of every user table (or of those of ``only``, (schema, name) pairs) and the
    set of partitioned (parent) tables among them, whose count includes their partitions'.
    ``tables`` is what list_tables() returned, when the caller already listed them."""
    wanted = None if only is None else {tuple(t) for t in only}
    counts: dict[tuple[str, str], int] = {}
    parents = set()
    for schema, name, kind, _estimate in (list_tables(conn) if tables is None else tables):
        if wanted is not None and (schema, name) not in wanted:
            continue
        query = sql.SQL('SELECT count(*) FROM {}').format(sql.Identifier(schema, name))
        counts[(schema, name)] = conn.execute(query).fetchone()[0]
        if kind == 'p':
            parents.add((schema, name))
    return counts, parents


def drop_database(conn, name: str, execute=None) -> None:
    """DROP DATABASE IF EXISTS, terminating its sessions (WITH (FORCE) from PostgreSQL 13 on).
    ``execute(query, args=None)`` runs each statement (default conn.execute; a caller that records
    its queries passes its own). Raises psycopg.Error."""
    run = execute or (lambda query, args=None: conn.execute(query, args))
    target = sql.Identifier(name)
    if conn.info.server_version >= 130000:
        run(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(target))
    else:
        run('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s', (name,))
        run(sql.SQL('DROP DATABASE IF EXISTS {}').format(target))
