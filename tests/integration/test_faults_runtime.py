"""Fault injection at run time: corrupt breaker state, a webhook that never answers, table names
built to end a quote, and a PostgreSQL stopped with `pg_ctl stop -m immediate` in the middle of a
restore and of a VACUUM FULL.

Every case asserts a clear message, no traceback, nothing lost, nothing half-made, and no secret
(a token or password marker) anywhere in the module's output.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ansible_collections.runbook.maintenance.plugins.module_utils import restore as restore_utils
from fault_driver import run_cases
from pg_helpers import COLLECTIONS, PASSWORD
from pgsandbox import Cluster

TOKEN = 'tok-MARKER-5c1d'
DRIVER_ENV = {**os.environ, 'PYTHONPATH': str(COLLECTIONS)}


def everything(result: dict) -> str:
    return json.dumps({k: v for k, v in result.items() if k != '_stderr'}) + result.get('_stderr', '')


def assert_clean(result: dict, *secrets: str) -> None:
    text = everything(result)
    assert 'Traceback' not in text, text[-2000:]
    assert 'exception' not in result, result.get('exception')
    for secret in secrets:
        assert secret not in text, f'a secret is in the output: {text[:2000]}'


# ---- circuit breaker: corrupt state ------------------------------------------------------------
def _big(path: Path) -> None:
    path.write_text('{"state": "closed", "failures": 0, "reason": "' + 'x' * (2 * 1024 * 1024) + '"}')


def _symlink_to_closed(path: Path) -> None:
    elsewhere = path.parent.parent / 'elsewhere.json'
    elsewhere.write_text('{"state": "closed", "failures": 0}')
    path.symlink_to(elsewhere)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


CORRUPT = {
    'not-utf8': lambda p: p.write_bytes(b'{"state": "open", "reason": "\xff\xfe"}'),
    'bare-1e400': lambda p: p.write_text('1e400'),
    'count-1e400': lambda p: p.write_text('{"state": "closed", "failures": 1e400}'),
    'opened_at-1e400': lambda p: p.write_text('{"state": "open", "opened_at": 1e400}'),
    'truncated': lambda p: p.write_text('{"state": "open", "fail'),
    'empty': lambda p: p.write_text(''),
    'list': lambda p: p.write_text('["open", 3]'),
    'string-count': lambda p: p.write_text('{"state": "closed", "failures": "3"}'),
    'negative-count': lambda p: p.write_text('{"state": "closed", "failures": -5}'),
    'nan-count': lambda p: p.write_text('{"state": "closed", "failures": NaN}'),
    'nan-time': lambda p: p.write_text('{"state": "open", "opened_at": NaN}'),
    'unknown-state': lambda p: p.write_text('{"state": "ajar"}'),
    'forced-not-bool': lambda p: p.write_text('{"state": "closed", "forced": "no"}'),
    'deep-nesting': lambda p: p.write_text('[' * 50000 + ']' * 50000),
    'huge-int': lambda p: p.write_text('{"state": "closed", "failures": ' + '9' * 5000 + '}'),
    'huge-file': _big,
    'directory': lambda p: p.mkdir(),
    'symlink-to-closed': _symlink_to_closed,
    'dangling-symlink': lambda p: p.symlink_to(p.parent / 'nowhere.json'),
    'fifo': _fifo,
}


def breaker(run_module, state_dir, check=False, **kw):
    return run_module('circuit_breaker', dict({'name': 'backups', 'state_dir': str(state_dir)}, **kw),
                      check=check, timeout=60)


STEPS = [('guard', dict(action='check'), False), ('soft', dict(action='check', fail_when_open=False), False),
         ('status', dict(action='status'), False), ('counted', dict(action='record_success'), False),
         ('planned', dict(action='reset'), True), ('reset', dict(action='reset'), False),
         ('after', dict(action='check'), False)]


@pytest.fixture(scope='module')
def corrupt_runs(tmp_path_factory):
    """Every corrupt kind through the steps an operator takes, the real module run in one process
    (fault_driver.py) so that the 140 runs take seconds."""
    base = tmp_path_factory.mktemp('corrupt')
    cases, where = [], {}
    for kind in sorted(CORRUPT):
        state_dir = base / kind / 'breakers'
        state_dir.mkdir(parents=True)
        CORRUPT[kind](state_dir / 'backups.json')
        for step, args, check in STEPS:
            where[(kind, step)] = len(cases)
            cases.append(dict({'name': 'backups', 'state_dir': str(state_dir)}, _ansible_check_mode=check, **args))
    results = run_cases('circuit_breaker', cases, base, DRIVER_ENV)
    return base, {key: results[index] for key, index in where.items()}


@pytest.mark.parametrize('kind', sorted(CORRUPT))
def test_corrupt_breaker_state_reads_as_open_and_reset_recovers(corrupt_runs, kind):
    base, runs = corrupt_runs
    step = {name: runs[(kind, name)] for name, _args, _check in STEPS}
    for name, result in step.items():
        assert result['_rc'] != 'exception', f'{name}: {result["_stderr"][-2000:]}'
        assert_clean(result)
    guard = step['guard']
    assert guard['failed'] is True and guard['allowed'] is False and guard['state'] == 'open', guard
    assert 'treated as open' in guard['msg'] and 'reset' in guard['msg']
    soft = step['soft']
    assert soft.get('failed') is not True and soft['allowed'] is False and soft['corrupt'] is True
    status = step['status']
    assert status['state'] != 'closed' and status['allowed'] is False and status['corrupt'] is True
    counted = step['counted']
    assert counted['failed'] is True and 'treated as open' in counted['msg']
    planned = step['planned']
    assert planned.get('failed') is not True and planned['changed'] is True and planned['state'] == 'closed'
    reset = step['reset']
    assert reset.get('failed') is not True and reset['state'] == 'closed' and reset['changed'] is True, reset
    assert reset['previous_state'] == 'corrupt' and reset['corrupt_copy']
    assert step['after'].get('failed') is not True and step['after']['allowed'] is True
    path = base / kind / 'breakers' / 'backups.json'
    info = os.lstat(path)
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert json.loads(path.read_text())['state'] == 'closed'
    if kind == 'symlink-to-closed':
        assert (base / kind / 'elsewhere.json').read_text() == '{"state": "closed", "failures": 0}', \
            'the target of a planted symlink was written'


def test_close_also_recovers_and_keeps_the_evidence(run_module, tmp_path):
    path = tmp_path / 'backups.json'
    path.write_bytes(b'\xff\xfe\x00garbage')
    closed = breaker(run_module, tmp_path, action='close')
    assert closed.get('failed') is not True and closed['state'] == 'closed'
    kept = Path(closed['corrupt_copy'])
    assert kept.read_bytes() == b'\xff\xfe\x00garbage'


@pytest.mark.parametrize('planted', ['symlink', 'directory'])
def test_a_planted_lock_file_is_never_followed(run_module, tmp_path, planted):
    state_dir = tmp_path / 'breakers'
    state_dir.mkdir()
    victim = tmp_path / 'victim'
    if planted == 'symlink':
        (state_dir / 'backups.lock').symlink_to(victim)
    else:
        (state_dir / 'backups.lock').mkdir()
    counted = breaker(run_module, state_dir, action='record_failure')
    assert counted['failed'] is True and 'lock file' in counted['msg']
    assert_clean(counted)
    assert not victim.exists(), 'a lock file was created through a planted symlink'
    reset = breaker(run_module, state_dir, action='reset')
    assert reset.get('failed') is not True and reset['state'] == 'closed', reset
    assert not victim.exists()
    assert stat.S_ISREG(os.lstat(state_dir / 'backups.lock').st_mode)
    assert breaker(run_module, state_dir, action='record_failure')['failures'] == 1


# ---- circuit breaker: a webhook that accepts and never answers ---------------------------------
@pytest.fixture()
def silent_listener():
    """A TCP server on 127.0.0.1 that accepts connections and never says a word."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(('127.0.0.1', 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], held
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def test_a_hung_webhook_is_bounded_named_by_host_and_never_shows_the_token(run_module, tmp_path, silent_listener):
    port, held = silent_listener
    url = f'http://user:{TOKEN}@127.0.0.1:{port}/hooks/{TOKEN}?token={TOKEN}'
    began = time.monotonic()
    result = breaker(run_module, tmp_path, action='open', reason='drill', notify_url=url, url_timeout=1,
                     url_retries=2, url_headers={'X-Api-Key': TOKEN}, url_token=TOKEN)
    elapsed = time.monotonic() - began
    assert held, 'the module never connected to the listener'
    assert result.get('failed') is not True and result['state'] == 'open'
    assert json.loads((tmp_path / 'backups.json').read_text())['state'] == 'open', 'the state was lost'
    note = result['notification']
    assert note['attempts'] == 2 and 'timed out' in note['error'] and note['url'] == f'http://127.0.0.1:{port}'
    warnings = json.dumps(result.get('warnings', []))
    assert f'http://127.0.0.1:{port}' in warnings and 'timed out' in warnings
    assert_clean(result, TOKEN, '/hooks/')
    assert elapsed < 60, f'the notification took {elapsed:.0f}s'  # a generous bound, not a timing assert


def test_notify_timeout_alias_and_its_bounds(run_module, tmp_path, silent_listener):
    port, _held = silent_listener
    result = breaker(run_module, tmp_path, action='open', notify_url=f'http://127.0.0.1:{port}/x',
                     notify_timeout=1, url_retries=1)
    assert result['notification']['attempts'] == 1 and 'no answer within 1s' in result['notification']['error']
    for bad in (0, -1, 100000):
        refused = breaker(run_module, tmp_path, action='open', notify_url='http://127.0.0.1:9/x', notify_timeout=bad)
        assert refused['failed'] is True and 'url_timeout' in refused['msg']


# ---- selective restore: table names built to end a quote ---------------------------------------
NASTY = ['a$runbook_restore_check$b', '$$', 'x$check$y', "it's; DROP TABLE victim; --", 'semi;colon',
         'back\\slash', '$1', 'quote"d']


def test_selective_restore_of_tables_named_to_end_a_quote(pg, db, run_module, tmp_path):
    name, conn = db
    conn.execute('CREATE TABLE victim (id int)')
    conn.execute('INSERT INTO victim VALUES (1)')
    for index, table in enumerate(NASTY):
        conn.execute(sql.SQL('CREATE TABLE {} (id int PRIMARY KEY, v text)').format(sql.Identifier(table)))
        conn.execute(sql.SQL("INSERT INTO {} SELECT g, 'v' || g FROM generate_series(1, {}) g").format(
            sql.Identifier(table), sql.Literal(10 + index)))
    made = run_module('backup_create', dict(pg.module_args(name), dest_dir=str(tmp_path / 'backups')))
    assert made.get('failed') is not True, made.get('msg')
    manifest_path = Path(f"{made['artefact']}.json")
    manifest = json.loads(manifest_path.read_text())
    manifest['verified'] = True
    manifest_path.write_text(json.dumps(manifest))
    for table in NASTY:
        conn.execute(sql.SQL('DELETE FROM {}').format(sql.Identifier(table)))

    tables = ['public.' + '"' + t.replace('"', '""') + '"' for t in NASTY]
    result = run_module('backup_restore', dict(pg.module_args(), database=name, path=made['artefact'], tables=tables,
                                               force=True, safety_dump=False), timeout=300)
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    assert_clean(result)
    assert result['rows_verified'] is True
    for index, table in enumerate(NASTY):
        got = conn.execute(sql.SQL('SELECT count(*) FROM {}').format(sql.Identifier(table))).fetchone()[0]
        assert got == 10 + index, table
    assert conn.execute('SELECT count(*) FROM victim').fetchone()[0] == 1

    with psycopg.connect(**pg.conninfo(), autocommit=True) as admin:
        left = admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f'{name}__restore_%',)).fetchall()
    assert left == []


@pytest.mark.parametrize('table', NASTY)
def test_the_row_count_check_runs_and_raises_whatever_the_name(db, table):
    """The composed check block is valid SQL for PostgreSQL and raises on a mismatch."""
    _name, conn = db
    conn.execute(sql.SQL('CREATE TABLE {} (id int)').format(sql.Identifier(table)))
    conn.execute(sql.SQL('INSERT INTO {} VALUES (1), (2)').format(sql.Identifier(table)))
    conn.execute(restore_utils.count_check_sql([{'schema': 'public', 'name': table, 'rows': 2}]))
    with pytest.raises(psycopg.errors.RaiseException, match='runbook restore check: public.* has 2 rows restored'):
        conn.execute(restore_utils.count_check_sql([{'schema': 'public', 'name': table, 'rows': 3}]))


# ---- PostgreSQL stopped in the middle ------------------------------------------------------------
@pytest.fixture(scope='module')
def doomed(tmp_path_factory):
    """A cluster of our own that the tests stop with -m immediate (the session's one stays up)."""
    base = tmp_path_factory.mktemp('doomed', numbered=True)
    cluster = Cluster(base / 'pg', password=PASSWORD).start()
    yield cluster
    cluster.destroy()


def stop_immediate(cluster: Cluster) -> None:
    done = cluster._as_owner([f'{cluster.bindir}/pg_ctl', '-D', str(cluster.data), '-m', 'immediate', '-w',
                              'stop'])  # pylint: disable=protected-access
    assert done.returncode == 0, done.stderr


def tcp_args(cluster: Cluster, dbname: str = 'postgres') -> dict:
    """Over TCP with the password: the password must never appear, whatever fails."""
    return {'login_host': '127.0.0.1', 'login_port': cluster.port, 'login_user': 'postgres',
            'login_password': PASSWORD, 'login_db': dbname, 'connect_timeout': 5}


def wait_for(predicate, what: str, proc: subprocess.Popen, bound: float = 240):
    """Poll until predicate() is true; fail if the module ended first (the fault came too late)."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f'the module ended before {what}: {out[-1500:]} {err[-1500:]}')
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f'{what} never happened')


def active(cluster: Cluster, pattern: str, dbname: str | None = None) -> bool:
    try:
        with psycopg.connect(**cluster.conninfo(), autocommit=True, connect_timeout=5) as conn:
            return conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE %s AND state = 'active' "
                "AND pid <> pg_backend_pid() AND (%s::text IS NULL OR datname LIKE %s)",
                (pattern, dbname, dbname)).fetchone()[0] > 0
    except psycopg.Error:
        return False


def fill(cluster: Cluster, dbname: str, rows: int) -> None:
    with psycopg.connect(**cluster.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(dbname)))
        admin.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(dbname)))
    with psycopg.connect(**cluster.conninfo(dbname), autocommit=True) as conn:
        conn.execute('CREATE TABLE big (id int PRIMARY KEY, a text, b text, c int)')
        conn.execute("INSERT INTO big SELECT g, md5(g::text), md5((g * 7)::text), g %% 1000 "
                     "FROM generate_series(1, %s) g", (rows,))
        conn.execute('CREATE INDEX big_a ON big (a)')
        conn.execute('CREATE INDEX big_b ON big (b)')
        conn.execute('DELETE FROM big WHERE id % 3 = 0')


def content(cluster: Cluster, dbname: str) -> tuple:
    with psycopg.connect(**cluster.conninfo(dbname), autocommit=True) as conn:
        return conn.execute("SELECT count(*), sum(c), md5(string_agg(a, ',' ORDER BY id)) FROM big").fetchone()


def test_server_stopped_during_a_restore(doomed, run_module, tmp_path):
    fill(doomed, 'shop', 250_000)
    made = run_module('backup_create', dict(tcp_args(doomed, 'shop'), dest_dir=str(tmp_path / 'backups')),
                      timeout=600)
    assert made.get('failed') is not True, made.get('msg')
    manifest_path = Path(f"{made['artefact']}.json")
    manifest = json.loads(manifest_path.read_text())
    manifest['verified'] = True
    manifest_path.write_text(json.dumps(manifest))
    with psycopg.connect(**doomed.conninfo('shop'), autocommit=True) as conn:
        conn.execute('UPDATE big SET c = c + 1 WHERE id < 100')  # the original differs from the backup
    before = content(doomed, 'shop')

    args = dict(tcp_args(doomed), database='shop', path=made['artefact'], force=True,
                safety_dump_dir=str(tmp_path / 'safety'))
    proc = run_module.start('backup_restore', args)
    wait_for(lambda: active(doomed, '%', 'shop__restore_%'), 'the restore filled its temporary database', proc)
    stop_immediate(doomed)
    out, err = proc.communicate(timeout=300)
    result = run_module.parse(out, err)
    assert result['failed'] is True and result['changed'] is False
    assert_clean(result, PASSWORD)
    assert 'shop__restore_' in result['msg'] and 'next restore' in result['msg'], result['msg']

    doomed.start()
    assert content(doomed, 'shop') == before, 'the original database was touched'
    with psycopg.connect(**doomed.conninfo(), autocommit=True) as conn:
        left = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'shop__%'")]
    assert left and all('__restore_' in name for name in left), left  # the server died: it could not drop it

    again = run_module('backup_restore', dict(args, safety_dump=False, keep_previous=False), timeout=600)
    assert again.get('failed') is not True, again.get('msg')
    assert_clean(again, PASSWORD)
    assert sorted(again['leftovers_dropped']) == sorted(left)
    with psycopg.connect(**doomed.conninfo(), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'shop\\_\\_%'").fetchone()[0] == 0


def test_a_running_restore_keeps_its_temporary_database(doomed, run_module, tmp_path):
    """The next run drops only what nobody owns: a live restore's database is left alone."""
    doomed.start()
    with psycopg.connect(**doomed.conninfo(), autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "live__restore_20260101_000000"')
        conn.execute('CREATE DATABASE "live__restore_20260101_000000"')
        conn.execute('CREATE DATABASE "live__restore_20260101_000001"')
        conn.execute('SELECT pg_advisory_lock(%s)', (restore_utils.work_lock_key('live__restore_20260101_000000'),))
        fill(doomed, 'live', 1000)
        made = run_module('backup_create', dict(tcp_args(doomed, 'live'), dest_dir=str(tmp_path / 'b')))
        manifest_path = Path(f"{made['artefact']}.json")
        manifest = dict(json.loads(manifest_path.read_text()), verified=True)
        manifest_path.write_text(json.dumps(manifest))
        result = run_module('backup_restore', dict(tcp_args(doomed), database='live', path=made['artefact'],
                                                   force=True, safety_dump=False, keep_previous=False))
        assert result.get('failed') is not True, result.get('msg')
        assert result['leftovers_dropped'] == ['live__restore_20260101_000001']
        assert 'live__restore_20260101_000000' in json.dumps(result.get('warnings', []))
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'live__%'")]
        assert names == ['live__restore_20260101_000000']
        conn.execute('DROP DATABASE "live__restore_20260101_000000"')


def test_server_stopped_during_vacuum_full(doomed, run_module, tmp_path):
    doomed.start()
    fill(doomed, 'vac', 400_000)
    before = content(doomed, 'vac')
    args = dict(tcp_args(doomed, 'vac'), operation='vacuum_full', tables=['public.big'], force=True,
                space_check=False, lock_timeout='5s')
    proc = run_module.start('pg_vacuum', args)
    wait_for(lambda: active(doomed, 'VACUUM (%FULL%', 'vac'), 'VACUUM FULL started', proc)
    stop_immediate(doomed)
    out, err = proc.communicate(timeout=300)
    result = run_module.parse(out, err)
    assert result['failed'] is True
    assert_clean(result, PASSWORD)
    assert 'big' in result['msg'] and ('server' in result['msg'] or 'connection' in result['msg']), result['msg']

    doomed.start()
    assert content(doomed, 'vac') == before, 'rows were lost'
    again = run_module('pg_vacuum', args, timeout=600)  # the interrupted work can simply be run again
    assert again.get('failed') is not True, again.get('msg')
    assert content(doomed, 'vac') == before
