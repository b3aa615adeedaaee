"""pg_vacuum's heavier operations against a real PostgreSQL: VACUUM FULL, REINDEX, FREEZE,
free-space guard, duration history, standby."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from pg_helpers import PASSWORD, flush_stats, make_table
from pgsandbox import Cluster

MB = 1024 * 1024


def args(pg, dbname, **kw):
    return dict(pg.module_args(dbname), **kw)


def catalog_size(conn, schema, name):
    return conn.execute('SELECT pg_total_relation_size(%s::regclass)',
                        (sql.Identifier(schema, name).as_string(conn),)).fetchone()[0]


def bloat_heap(conn, name, rows=60_000, keep_every=5):
    """A table most of whose rows were deleted: the file keeps its size, the live rows need little."""
    make_table(conn, 'public', name, rows)
    conn.execute(sql.SQL('DELETE FROM {} WHERE id %% %s <> 0').format(sql.Identifier(name)), (keep_every,))
    flush_stats(conn)
    conn.execute(sql.SQL('VACUUM ANALYZE {}').format(sql.Identifier(name)))  # relpages and stats current


def test_vacuum_full_is_gated_by_bloat_and_shrinks_the_table(pg, db, run_module):
    name, conn = db
    bloat_heap(conn, 'bloated')
    make_table(conn, 'public', 'tight', 60_000)
    options = args(pg, name, operation='vacuum_full', min_bloat_bytes=MB, min_bloat_ratio=0.3)
    before = catalog_size(conn, 'public', 'bloated')

    check = run_module('pg_vacuum', options, check=True)
    assert [t['name'] for t in check['tables']] == ['bloated'], check
    assert 'estimated table bloat' in check['tables'][0]['reason']
    assert 'tight' in [t['name'] for t in check['not_selected']]
    assert catalog_size(conn, 'public', 'bloated') == before

    real = run_module('pg_vacuum', options)
    row = real['tables'][0]
    assert row['status'] == 'done' and row['query'] == 'VACUUM (SKIP_LOCKED, FULL, ANALYZE) "public"."bloated"'
    assert catalog_size(conn, 'public', 'bloated') < before * 0.5
    assert row['size_after'] < row['size_before']
    assert real['summary']['bytes_reclaimed'] > MB
    assert run_module('pg_vacuum', options)['changed'] is False


def test_vacuum_full_needs_verifiable_free_space(pg, db, run_module):
    name, conn = db
    bloat_heap(conn, 'bloated')
    conn.execute(sql.SQL('CREATE ROLE app LOGIN PASSWORD {}').format(sql.Literal(PASSWORD)))
    conn.execute('GRANT SELECT ON bloated TO app')  # pg_stats shows widths only to readers
    try:
        # Over TCP as a role that cannot read data_directory: free space cannot be verified.
        remote = run_module('pg_vacuum', dict(login_host='127.0.0.1', login_port=pg.port, login_user='app',
                                              login_password=PASSWORD, login_db=name, ssl_mode='disable',
                                              operation='vacuum_full', min_bloat_bytes=MB), check=True)
    finally:
        conn.execute('REVOKE SELECT ON bloated FROM app')
        conn.execute('DROP ROLE app')
    assert remote['tables'] == [], remote
    assert 'cannot verify free space' in remote['not_selected'][0]['reason']
    unchecked = run_module('pg_vacuum', args(pg, name, operation='vacuum_full', min_bloat_bytes=MB,
                                             space_check=False), check=True)
    assert [t['name'] for t in unchecked['tables']] == ['bloated']


def test_reindex_concurrently_rebuilds_bloated_indexes_only(pg, db, run_module):
    name, conn = db
    make_table(conn, 'public', 'churned', 20_000)
    conn.execute('CREATE INDEX churned_pad ON churned (pad)')
    for round_ in range(4):  # every update writes new index entries; the old ones stay as bloat
        conn.execute("UPDATE churned SET pad = md5(id::text || %s)", (str(round_),))
    flush_stats(conn)
    conn.execute('VACUUM ANALYZE churned')
    make_table(conn, 'public', 'calm', 20_000)
    index_before = conn.execute("SELECT pg_relation_size('churned_pad')").fetchone()[0]
    options = args(pg, name, operation='reindex', min_bloat_bytes=256 * 1024, min_bloat_ratio=0.3)

    result = run_module('pg_vacuum', options)
    assert [t['name'] for t in result['tables']] == ['churned'], result
    assert result['tables'][0]['query'] == 'REINDEX TABLE CONCURRENTLY "public"."churned"'
    assert 'estimated index bloat' in result['tables'][0]['reason']
    assert conn.execute("SELECT pg_relation_size('churned_pad')").fetchone()[0] < index_before * 0.6
    assert run_module('pg_vacuum', options)['changed'] is False


def test_interrupted_reindex_leftovers_are_dropped_by_the_next_run(pg, db, run_module):
    name, conn = db
    make_table(conn, 'public', 'busy', 20_000)
    conn.execute('CREATE INDEX busy_pad ON busy (pad)')
    for round_ in range(3):
        conn.execute("UPDATE busy SET pad = md5(id::text || %s)", (str(round_),))
    flush_stats(conn)
    conn.execute('VACUUM ANALYZE busy')
    options = args(pg, name, operation='reindex', min_bloat_bytes=64 * 1024, lock_timeout='500ms')
    writer = psycopg.connect(**pg.conninfo(name))
    try:
        writer.execute('UPDATE busy SET pad = pad WHERE id = 1')  # open transaction: REINDEX must wait
        first = run_module('pg_vacuum', options)
    finally:
        writer.rollback()
        writer.close()
    assert first['tables'][0]['status'] == 'skipped_locked', first
    invalid = "SELECT count(*) FROM pg_index WHERE indrelid = 'busy'::regclass AND NOT indisvalid"
    leftovers = conn.execute(invalid).fetchone()[0]
    second = run_module('pg_vacuum', options)
    assert second['tables'][0]['status'] == 'done', second
    assert len(second['tables'][0]['cleanup']) == leftovers - len(first['tables'][0].get('cleanup', []))
    assert conn.execute(invalid).fetchone()[0] == 0


def test_vacuum_freeze_by_xid_age(pg, db, run_module):
    name, conn = db
    make_table(conn, 'public', 'old', 2_000)
    for _i in range(5):
        conn.execute('SELECT txid_current()')  # consume transaction IDs: the table ages
    age = "SELECT age(relfrozenxid) FROM pg_class WHERE relname = 'old'"
    before = conn.execute(age).fetchone()[0]
    assert before >= 5
    result = run_module('pg_vacuum', args(pg, name, operation='vacuum_freeze', min_xid_age=5, tables=['old']))
    assert result['tables'][0]['query'] == 'VACUUM (SKIP_LOCKED, FREEZE) "public"."old"'
    assert result['tables'][0]['status'] == 'done'
    assert conn.execute(age).fetchone()[0] < before
    none = run_module('pg_vacuum', args(pg, name, operation='vacuum_freeze'))
    assert none['tables'] == []  # default threshold: 100 million


def test_history_predicts_rewrites_that_cannot_finish_in_the_window(pg, db, run_module, tmp_path):
    name, conn = db
    bloat_heap(conn, 'bloated')
    history = tmp_path / 'state' / 'history.json'
    options = args(pg, name, operation='vacuum_full', min_bloat_bytes=MB, history_file=str(history))
    run_module('pg_vacuum', options, check=True)
    assert not history.exists(), 'check mode wrote the history file'

    # A past run of this table took 5000 s: with 60 s left it must not start.
    key = f'{name}/public/bloated/vacuum_full'
    history.parent.mkdir()
    history.write_text(json.dumps({key: {'duration_s': 5000, 'bytes': 1, 'at': '2026-11-22T02:10:00Z'}}))
    late = run_module('pg_vacuum', dict(options, time_budget='60'))
    assert late['tables'][0]['status'] == 'deferred', late
    assert 'last run took 5000' in late['tables'][0]['reason']

    history.unlink()
    done = run_module('pg_vacuum', dict(options, time_budget='3600'))
    assert done['tables'][0]['status'] == 'done'
    recorded = json.loads(history.read_text())[key]
    assert recorded['duration_s'] == done['tables'][0]['duration_s'] and recorded['bytes'] > 0


def test_corrupt_history_is_ignored_with_a_warning(pg, db, run_module, tmp_path):
    name, _conn = db
    history = tmp_path / 'history.json'
    history.write_text('{not json')
    result = run_module('pg_vacuum', args(pg, name, history_file=str(history)))
    assert result.get('failed') is not True
    assert 'history_file' in json.dumps(result.get('warnings', []))


@pytest.fixture(scope='module')
def standby(pg):
    base = Path(tempfile.mkdtemp(prefix='runbook-standby-', dir='/tmp' if os.geteuid() == 0 else None))
    cluster = Cluster(base / 'pg').start_standby_of(pg)
    yield cluster
    cluster.destroy()


def test_nothing_runs_on_a_standby(standby, run_module):
    with psycopg.connect(**standby.conninfo()) as conn:
        assert conn.execute('SELECT pg_is_in_recovery()').fetchone()[0] is True
    skipped = run_module('pg_vacuum', args(standby, 'postgres', force=True))
    assert skipped['in_recovery'] is True and skipped['changed'] is False and skipped['tables'] == []
    assert 'standby' in skipped['msg']
    failed = run_module('pg_vacuum', args(standby, 'postgres', on_standby='fail'))
    assert failed['failed'] is True and 'standby' in failed['msg']
