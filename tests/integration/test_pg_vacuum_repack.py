"""pg_vacuum's online rewrite with pg_repack against a real PostgreSQL with the extension:
a busy table is rewritten under concurrent writes, auto falls back to VACUUM FULL without the
extension, tables without a key are reported, a killed pg_repack leaves nothing behind after the
module's cleanup, check mode changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time

import psycopg
import pytest
from psycopg import sql

from pg_helpers import PASSWORD, flush_stats, make_table

MB = 1024 * 1024
REPACK = '/usr/lib/postgresql/15/bin/pg_repack'

# Skipped on a developer's machine without the package; never under make test (run-all.sh sets
# RUNBOOK_MAKE_TEST after installing it) or in CI.
pytestmark = pytest.mark.skipif(
    not (os.environ.get('CI') or os.environ.get('RUNBOOK_MAKE_TEST')) and not (os.access(REPACK, os.X_OK) or shutil.which('pg_repack')),
    reason='pg_repack is not installed (scripts/pg-bindir.sh installs postgresql-15-repack with INSTALL=1)')


def args(pg, dbname, **kw):
    return dict(pg.module_args(dbname), operation='vacuum_full', min_bloat_bytes=MB, min_bloat_ratio=0.3, **kw)


def total_size(conn, name):
    return conn.execute('SELECT pg_total_relation_size(%s::regclass)',
                        (sql.Identifier('public', name).as_string(conn),)).fetchone()[0]


def bloat(conn, name, rows=60_000, keep_every=4, key=True):
    """Most rows deleted: the file keeps its size, the live rows need little of it."""
    if key:
        make_table(conn, 'public', name, rows)
    else:
        conn.execute(sql.SQL('CREATE TABLE {} (id int, pad text)').format(sql.Identifier(name)))
        conn.execute(sql.SQL("INSERT INTO {} SELECT g, repeat('x', 100) FROM generate_series(1, %s) g")
                     .format(sql.Identifier(name)), (rows,))
    conn.execute(sql.SQL('DELETE FROM {} WHERE id %% %s <> 0').format(sql.Identifier(name)), (keep_every,))
    flush_stats(conn)
    conn.execute(sql.SQL('VACUUM ANALYZE {}').format(sql.Identifier(name)))


def leftovers(conn):
    """pg_repack's temporary objects anywhere in the database, and its triggers."""
    objects = [r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'repack' AND c.relname ~ '^(log|table|pk)_[0-9]+'").fetchall()]
    triggers = [r[0] for r in conn.execute(
        "SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname = 'repack_trigger'").fetchall()]
    return objects + triggers


def fingerprint(conn, name):
    return conn.execute(sql.SQL('SELECT count(*), sum(id), sum(length(pad)) FROM {}').format(sql.Identifier(name))).fetchone()


class Writer(threading.Thread):
    """Short write transactions on a table for as long as it runs (the 'busy table')."""

    def __init__(self, conninfo, name):
        super().__init__(daemon=True)
        self.conninfo, self.name = conninfo, name
        self.stop = threading.Event()
        self.commits = 0
        self.errors: list[str] = []

    def run(self):
        with psycopg.connect(**self.conninfo, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '20s'")
            while not self.stop.is_set():
                try:
                    conn.execute(sql.SQL("UPDATE {} SET pad = repeat('y', 100) WHERE id = %s")
                                 .format(sql.Identifier(self.name)), (4 * (self.commits % 10_000 + 1),))
                    self.commits += 1
                except psycopg.Error as exc:
                    self.errors.append(str(exc))
                time.sleep(0.002)


def test_busy_table_is_rewritten_online_and_shrinks(pg, db, run_module):
    name, conn = db
    conn.execute('CREATE EXTENSION pg_repack')
    bloat(conn, 'busy')
    before_size = total_size(conn, 'busy')
    rows_before = conn.execute('SELECT count(*), sum(id) FROM busy').fetchone()
    writer = Writer(pg.conninfo(name), 'busy')
    writer.start()
    try:
        time.sleep(0.3)
        started = writer.commits
        result = run_module('pg_vacuum', args(pg, name))
        during = writer.commits - started
    finally:
        writer.stop.set()
        writer.join(10)
    assert result.get('failed') is not True, result
    assert result['rewrite_method'] == 'pg_repack' and result['rewrite_method_note'] is None
    row = result['tables'][0]
    assert (row['name'], row['method'], row['status']) == ('busy', 'pg_repack', 'done'), row
    assert row['command'][0].endswith('pg_repack') and '--no-kill-backend' in row['command']
    assert total_size(conn, 'busy') < before_size * 0.6
    assert result['summary']['bytes_reclaimed'] > MB
    # Rows intact (the writer only rewrites pad), every index valid and used.
    assert conn.execute('SELECT count(*), sum(id) FROM busy').fetchone() == rows_before
    assert conn.execute("SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'busy'::regclass").fetchone()[0]
    assert conn.execute('SELECT count(*) FROM busy WHERE id = 400').fetchone()[0] == 1
    assert writer.errors == [] and during > 0, (writer.errors[:3], during)
    assert leftovers(conn) == []


def test_auto_without_the_extension_uses_vacuum_full_and_says_how_to_get_pg_repack(pg, db, run_module):
    name, conn = db
    bloat(conn, 'plain')
    result = run_module('pg_vacuum', args(pg, name))
    assert result['rewrite_method'] == 'vacuum_full'
    assert 'CREATE EXTENSION pg_repack' in result['rewrite_method_note']
    assert 'postgresql-15-repack' in result['rewrite_method_note']
    row = result['tables'][0]
    assert (row['method'], row['status']) == ('vacuum_full', 'done')
    assert row['query'].startswith('VACUUM (SKIP_LOCKED, FULL')


def test_busy_table_skipped_by_vacuum_full_names_the_fix(pg, db, run_module):
    name, conn = db
    bloat(conn, 'held')
    with psycopg.connect(**pg.conninfo(name)) as holder:  # a transaction that keeps writing to it
        holder.execute("UPDATE held SET pad = 'z' WHERE id = 4")
        result = run_module('pg_vacuum', args(pg, name, lock_timeout='1s'))
        holder.rollback()
    row = result['tables'][0]
    assert row['status'] == 'skipped_locked', row
    assert 'CREATE EXTENSION pg_repack' in row['hint'] and 'busy table' in row['hint']
    assert result['summary']['bloat_remaining_bytes'] >= MB


def test_table_without_a_key_is_reported_or_falls_back_when_allowed(pg, db, run_module):
    name, conn = db
    conn.execute('CREATE EXTENSION pg_repack')
    bloat(conn, 'keyless', key=False)
    before = total_size(conn, 'keyless')
    result = run_module('pg_vacuum', args(pg, name))
    row = result['tables'][0]
    assert (row['status'], row['method']) == ('skipped', 'pg_repack'), row
    assert 'primary key' in row['error'] and 'rewrite_fallback=vacuum_full' in row['error']
    assert result['summary']['skipped'] == 1 and result['changed'] is False
    assert result['summary']['bloat_remaining_bytes'] >= MB
    assert total_size(conn, 'keyless') == before

    allowed = run_module('pg_vacuum', args(pg, name, rewrite_fallback='vacuum_full'))
    row = allowed['tables'][0]
    assert (row['status'], row['method']) == ('done', 'vacuum_full'), row
    assert total_size(conn, 'keyless') < before * 0.6


def test_check_mode_shows_the_command_and_changes_nothing(pg, db, run_module):
    name, conn = db
    conn.execute('CREATE EXTENSION pg_repack')
    bloat(conn, 'planned')
    before = (total_size(conn, 'planned'), fingerprint(conn, 'planned'))
    options = dict(args(pg, name), login_unix_socket='', login_host='127.0.0.1', login_password=PASSWORD)
    result = run_module('pg_vacuum', options, check=True)
    row = result['tables'][0]
    assert (row['status'], row['method']) == ('planned', 'pg_repack') and result['changed'] is True
    assert '--table=public.planned' in row['command'] and '--host=127.0.0.1' in row['command']
    assert row['query'] in result['queries']
    assert PASSWORD not in json.dumps(result)
    assert (total_size(conn, 'planned'), fingerprint(conn, 'planned')) == before
    assert leftovers(conn) == []
    # The same over TCP with the password for real: it reaches pg_repack through the environment.
    real = run_module('pg_vacuum', options)
    assert real['tables'][0]['status'] == 'done', real['tables'][0]
    assert PASSWORD not in json.dumps(real)


def test_killed_pg_repack_leaves_nothing_after_the_modules_cleanup(pg, db, run_module):
    name, conn = db
    conn.execute('CREATE EXTENSION pg_repack')
    bloat(conn, 'victim', rows=600_000, keep_every=3)
    fp = fingerprint(conn, 'victim')
    oid = conn.execute("SELECT 'victim'::regclass::oid").fetchone()[0]
    env = {**os.environ, 'PGHOST': str(pg.run), 'PGPORT': str(pg.port), 'PGUSER': 'postgres'}
    proc = subprocess.Popen([REPACK, '--no-order', '--no-kill-backend', f'--dbname={name}', '--table=public.victim'],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'repack.table_{oid}',)).fetchone()[0]:
            break
        time.sleep(0.01)
    assert proc.poll() is None, 'pg_repack finished before it could be killed half-way'
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert leftovers(conn), 'the killed pg_repack left nothing: the test did not interrupt it'
    # Its server session outlives the client for a moment (and holds its lock meanwhile, which
    # pg_vacuum rightly skips): wait until the server has ended it, as a later window would find it.
    deadline = time.monotonic() + 30
    while conn.execute('SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()',
                       (name,)).fetchone()[0] and time.monotonic() < deadline:
        time.sleep(0.05)

    result = run_module('pg_vacuum', args(pg, name))
    row = result['tables'][0]
    assert row['status'] == 'done', row
    assert any(f'_{oid}' in item for item in row['cleanup']), row['cleanup']
    assert leftovers(conn) == []
    assert fingerprint(conn, 'victim') == fp


def test_pg_repack_required_but_missing_fails_clearly(pg, db, run_module):
    name, conn = db
    bloat(conn, 'nope', rows=20_000)
    result = run_module('pg_vacuum', args(pg, name, rewrite_method='pg_repack'))
    assert result['failed'] is True
    assert 'rewrite_method=pg_repack' in result['msg'] and 'CREATE EXTENSION pg_repack' in result['msg']
    assert 'Traceback' not in json.dumps(result)


@pytest.mark.parametrize('option', ['repack_wait_timeout', 'lock_timeout'])
def test_unbounded_waits_are_refused(pg, db, run_module, option):
    name, dummy = db
    result = run_module('pg_vacuum', args(pg, name, **{option: '0'}))
    assert result['failed'] is True and option in result['msg'], result


def test_deadline_defers_a_repack_that_cannot_finish(pg, db, run_module, tmp_path):
    name, conn = db
    conn.execute('CREATE EXTENSION pg_repack')
    bloat(conn, 'slow')
    history = tmp_path / 'history.json'
    size = conn.execute("SELECT pg_table_size('slow') + pg_indexes_size('slow')").fetchone()[0]
    history.write_text(json.dumps({f'{name}/public/slow/vacuum_full/pg_repack': {'duration_s': 7200, 'bytes': size}}))
    result = run_module('pg_vacuum', args(pg, name, time_budget='10m', history_file=str(history)))
    row = result['tables'][0]
    assert row['status'] == 'deferred' and 'last run took 7200' in row['reason'], row
    assert leftovers(conn) == []
