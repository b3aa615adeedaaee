"""backup_restore against real dumps (backup_create), a real PostgreSQL, real swaps.

Every test ends with no temporary database (`<target>__restore_<stamp>`) left on the server;
kept previous databases (`<target>__before_<stamp>`) are dropped by the fixture.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from ansible_collections.runbook.maintenance.plugins.module_utils.jsonfile import write_json_atomic
from pg_helpers import COLLECTIONS, PASSWORD, REPO


# ---- helpers -----------------------------------------------------------------------------------
def seed(conn) -> None:
    """Tables with a serial key, an index, a foreign key, a name that needs quoting, an empty one."""
    conn.execute('CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL)')
    conn.execute("INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 300) g")
    conn.execute('CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric)')
    conn.execute('CREATE INDEX orders_customer_idx ON orders (customer_id)')
    conn.execute('INSERT INTO orders (customer_id, total) SELECT 1 + g % 300, g FROM generate_series(1, 5000) g')
    conn.execute('CREATE SCHEMA "Sales EU"')
    conn.execute('CREATE TABLE "Sales EU"."Line ""Items""" (id int PRIMARY KEY, name text)')
    conn.execute('INSERT INTO "Sales EU"."Line ""Items""" SELECT g, \'n\' || g FROM generate_series(1, 120) g')
    conn.execute('CREATE TABLE empty_one (x int)')


def backup(run_module, pg, name: str, dest: Path, verified=True) -> tuple[Path, dict]:
    """A real backup by backup_create, marked verified in its manifest as the backup role does."""
    result = run_module('backup_create', dict(pg.module_args(name), dest_dir=str(dest)))
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    artefact = Path(result['artefact'])
    set_manifest(artefact, verified=verified)
    return artefact, result['manifest']


def set_manifest(artefact: Path, **changes) -> dict:
    data = json.loads(Path(f'{artefact}.json').read_text())
    data.update(changes)
    write_json_atomic(f'{artefact}.json', data, indent=2, trailing_newline=True)
    return data


def databases(pg) -> list[str]:
    with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
        return [row[0] for row in conn.execute('SELECT datname FROM pg_database ORDER BY 1').fetchall()]


def work_databases(pg, infix: str) -> list[str]:
    return [name for name in databases(pg) if infix in name]


def count(pg, dbname: str, table: str) -> int:
    with psycopg.connect(**pg.conninfo(dbname), autocommit=True) as conn:
        return conn.execute(f'SELECT count(*) FROM {table}').fetchone()[0]


def fingerprint(pg, dbname: str) -> dict:
    """Every table's row count and content hash: what 'unchanged' means."""
    with psycopg.connect(**pg.conninfo(dbname), autocommit=True) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname !~ '^pg_' ORDER BY 1, 2").fetchall()
        out = {}
        for schema, name in tables:
            target = sql.Identifier(schema, name)
            out[f'{schema}.{name}'] = conn.execute(
                sql.SQL('SELECT count(*), md5(string_agg(t::text, \',\' ORDER BY t::text)) FROM {} t').format(target)
            ).fetchone()
    return out


def restore(run_module, pg, check=False, **args) -> dict:
    return run_module('backup_restore', dict(pg.module_args(), **args), check=check)


def assert_no_traceback(result: dict) -> None:
    assert 'Traceback' not in result['_stderr'] and 'exception' not in result, result


@pytest.fixture(autouse=True)
def no_work_database_left(pg):
    yield
    left = work_databases(pg, '__restore_')
    with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
        for name in work_databases(pg, '__before_') + left:
            conn.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))
    assert left == [], 'a temporary database of a restore was left behind'


@pytest.fixture()
def source(db):
    seed(db[1])
    return db


# ---- full restore ------------------------------------------------------------------------------
def test_full_restore_swaps_in_the_backup_after_a_safety_dump(pg, source, run_module, tmp_path):
    name, conn = source
    artefact, manifest = backup(run_module, pg, name, tmp_path / 'backups')
    before = fingerprint(pg, name)
    conn.execute('DELETE FROM orders WHERE id > 1000')                 # the disaster
    conn.execute("UPDATE customers SET name = 'oops'")
    damaged = fingerprint(pg, name)

    result = restore(run_module, pg, database=name, latest_in=str(tmp_path / 'backups'), force=True,
                     safety_dump_dir=str(tmp_path / 'safety'))
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    assert_no_traceback(result)
    conn.close()
    assert fingerprint(pg, name) == before
    assert result['changed'] is True and result['rows_verified'] is True
    assert result['source'] == str(artefact) and result['manifest']['sha256'] == manifest['sha256']
    assert result['rows']['public.orders'] == 5000 and result['rows']['Sales EU.Line "Items"'] == 120
    assert result['backup_created_at'] == manifest['created_at'] and result['backup_age_s'] >= 0
    assert result['duration_s'] > 0
    previous = result['previous_database']
    assert '__before_' in previous and previous in databases(pg)
    assert fingerprint(pg, previous) == damaged                          # kept as it was
    safety = Path(result['safety_dump']['artefact'])
    assert safety.parent == tmp_path / 'safety' and safety.is_file()
    safety_manifest = json.loads(Path(f'{safety}.json').read_text())
    assert {'schema': 'public', 'name': 'orders', 'rows': 1000} in safety_manifest['tables']
    assert safety_manifest['database'] == name and len(safety_manifest['sha256']) == 64
    # The order the brief demands: dump, refuse connections, terminate, rename away, rename in.
    plan = result['plan']
    assert [i for i, s in enumerate(plan) if s.startswith(('dump the current', 'refuse new', 'rename'))] == \
        sorted(i for i, s in enumerate(plan) if s.startswith(('dump the current', 'refuse new', 'rename')))
    renames = [q for q in result['queries'] if 'RENAME TO' in q]
    assert renames == [f'ALTER DATABASE "{name}" RENAME TO "{previous}"',
                       f'ALTER DATABASE "{result["temporary_database"]}" RENAME TO "{name}"']
    # Sequences came back with the data: the next insert does not collide.
    with psycopg.connect(**pg.conninfo(name), autocommit=True) as again:
        again.execute('INSERT INTO orders (customer_id, total) VALUES (1, 1)')


def test_an_existing_database_is_refused_without_force(pg, source, run_module, tmp_path):
    name, conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    conn.execute('DELETE FROM orders')
    damaged = fingerprint(pg, name)
    listed = databases(pg)
    result = restore(run_module, pg, database=name, path=str(artefact), safety_dump_dir=str(tmp_path / 'safety'))
    assert result['failed'] is True and result['changed'] is False
    assert f'database {name} exists' in result['msg'] and 'force: true' in result['msg']
    assert fingerprint(pg, name) == damaged and databases(pg) == listed
    assert not (tmp_path / 'safety').exists()


def test_a_missing_target_needs_no_force_and_is_kept_without_safety_dump(pg, source, run_module, tmp_path):
    name, _conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    copy = f'{name}_copy'
    try:
        result = restore(run_module, pg, database=name, target_database=copy, path=str(artefact))
        assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
        assert result['previous_database'] is None and result['safety_dump'] is None
        assert fingerprint(pg, copy) == fingerprint(pg, name)
    finally:
        with psycopg.connect(**pg.conninfo(), autocommit=True) as admin:
            admin.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(copy)))


def test_force_with_keep_previous_false_drops_the_replaced_database(pg, source, run_module, tmp_path):
    name, conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    conn.execute('TRUNCATE orders')
    conn.close()
    result = restore(run_module, pg, database=name, path=str(artefact), force=True, keep_previous=False,
                     safety_dump=False)
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    assert result['previous_database'] is None and work_databases(pg, '__before_') == []
    assert count(pg, name, 'orders') == 5000


def test_sessions_on_the_target_are_terminated_for_the_swap(pg, source, run_module, tmp_path):
    name, conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    idle = psycopg.connect(**pg.conninfo(name), autocommit=True)   # an application still connected
    result = restore(run_module, pg, database=name, path=str(artefact), force=True, safety_dump=False)
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    with pytest.raises(psycopg.OperationalError):
        idle.execute('SELECT 1')
    conn.close()


# ---- check mode --------------------------------------------------------------------------------
def test_check_mode_returns_the_plan_and_changes_nothing(pg, source, run_module, tmp_path):
    name, conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    conn.execute('DELETE FROM orders WHERE id > 10')
    listed, content = databases(pg), fingerprint(pg, name)
    full = restore(run_module, pg, check=True, database=name, path=str(artefact), force=True,
                   safety_dump_dir=str(tmp_path / 'safety'))
    partial = restore(run_module, pg, check=True, database=name, path=str(artefact), force=True,
                      tables=['public.orders'], safety_dump_dir=str(tmp_path / 'safety'))
    for result in (full, partial):
        assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
        assert result['changed'] is True and result['queries'] == [] and result['safety_dump'] is None
    assert databases(pg) == listed and fingerprint(pg, name) == content
    assert not (tmp_path / 'safety').exists()
    assert any(step.startswith(f'rename {name} to ') and '__before_' in step for step in full['plan'])
    assert any('replace public.orders' in step for step in partial['plan'])
    refused = restore(run_module, pg, check=True, database=name, path=str(artefact))
    assert refused['failed'] is True and 'force' in refused['msg']


# ---- selective restore -------------------------------------------------------------------------
def test_selective_restore_replaces_only_the_listed_tables_with_force(pg, source, run_module, tmp_path):
    name, conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    conn.execute('DELETE FROM orders WHERE id > 100')
    conn.execute('DROP TABLE "Sales EU"."Line ""Items"""')
    conn.execute("INSERT INTO customers (name) VALUES ('newer than the backup')")  # must survive
    tables = ['public.orders', '"Sales EU"."Line ""Items"""']

    refused = restore(run_module, pg, database=name, path=str(artefact), tables=tables,
                      safety_dump_dir=str(tmp_path / 'safety'))
    assert refused['failed'] is True and 'public.orders' in refused['msg'] and 'force: true' in refused['msg']
    assert count(pg, name, 'orders') == 100

    result = restore(run_module, pg, database=name, path=str(artefact), tables=tables, force=True,
                     safety_dump_dir=str(tmp_path / 'safety'))
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    assert_no_traceback(result)
    assert result['rows'] == {'public.orders': 5000, 'Sales EU.Line "Items"': 120} and result['rows_verified']
    assert count(pg, name, 'orders') == 5000 and count(pg, name, '"Sales EU"."Line ""Items"""') == 120
    assert count(pg, name, 'customers') == 301
    with psycopg.connect(**pg.conninfo(name), autocommit=True) as check:
        indexes = {row[0] for row in check.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'orders'")}
        assert indexes == {'orders_pkey', 'orders_customer_idx'}
        fks = check.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'orders'::regclass "
                            "AND contype = 'f'").fetchone()[0]
        assert fks == 1
        check.execute('INSERT INTO orders (customer_id, total) VALUES (1, 1)')  # the sequence came back
    safety = json.loads(Path(f"{result['safety_dump']['artefact']}.json").read_text())
    assert safety['tables'] == [{'schema': 'public', 'name': 'orders', 'rows': 100}]  # only what existed
    assert work_databases(pg, '__before_') == []


def test_selective_restore_of_a_referenced_table_rolls_back_and_says_why(pg, source, run_module, tmp_path):
    name, conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    conn.execute("UPDATE customers SET name = 'changed'")
    content = fingerprint(pg, name)
    result = restore(run_module, pg, database=name, path=str(artefact), tables=['customers'], force=True,
                     safety_dump=False)
    assert result['failed'] is True and result['changed'] is False
    assert 'rolled back' in result['msg'] and 'list the tables that reference it' in result['msg']
    assert fingerprint(pg, name) == content


def test_a_table_not_in_the_backup_is_refused(pg, source, run_module, tmp_path):
    name, _conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    result = restore(run_module, pg, database=name, path=str(artefact), tables=['public.nope'], force=True)
    assert result['failed'] is True and 'public.nope' in result['msg'] and 'not in the backup' in result['msg']


# ---- refusals: the source ----------------------------------------------------------------------
def test_an_unverified_artefact_is_refused_and_passed_over(pg, source, run_module, tmp_path):
    name, _conn = source
    older, _m = backup(run_module, pg, name, tmp_path / 'backups')
    os.utime(older, (os.path.getmtime(older) - 3600,) * 2)
    made, _m = backup(run_module, pg, name, tmp_path / 'other', verified=None)
    newer = tmp_path / 'backups' / f'{name}-99990101T000000Z.dump'
    made.rename(newer)
    Path(f'{made}.json').rename(f'{newer}.json')
    listed = databases(pg)

    refused = restore(run_module, pg, database=name, path=str(newer), force=True, safety_dump=False)
    assert refused['failed'] is True and 'never verified' in refused['msg'] and 'require_verified' in refused['msg']
    assert databases(pg) == listed

    planned = restore(run_module, pg, check=True, database=name, latest_in=str(tmp_path / 'backups'), force=True,
                      safety_dump=False)
    assert planned['source'] == str(older)
    assert planned['passed_over'] == [f'{newer.name}: it was never verified (manifest verified: None); '
                                      'require_verified=false restores it anyway']
    set_manifest(older, verified=False)
    nothing = restore(run_module, pg, check=True, database=name, latest_in=str(tmp_path / 'backups'))
    assert nothing['failed'] is True and 'no restorable verified dump' in nothing['msg']
    assert 'failed verification' in nothing['msg']


def test_a_checksum_mismatch_is_refused(pg, source, run_module, tmp_path):
    name, conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    data = bytearray(artefact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artefact.write_bytes(bytes(data))
    conn.execute('DELETE FROM orders')
    content, listed = fingerprint(pg, name), databases(pg)
    result = restore(run_module, pg, database=name, path=str(artefact), force=True, safety_dump=False)
    assert result['failed'] is True and result['msg'].startswith('checksum: sha256 of')
    assert 'the manifest says' in result['msg']
    assert fingerprint(pg, name) == content and databases(pg) == listed


def test_a_manifest_of_another_database_is_refused(pg, source, run_module, tmp_path):
    name, _conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    result = restore(run_module, pg, database='billing', path=str(artefact))
    assert result['failed'] is True and f"a dump of database '{name}', not 'billing'" in result['msg']


# ---- failures mid-restore ----------------------------------------------------------------------
def test_rows_that_do_not_match_drop_the_new_database_and_leave_the_old_one(pg, source, run_module, tmp_path):
    name, conn = source
    artefact, manifest = backup(run_module, pg, name, tmp_path / 'backups')
    tables = [dict(t, rows=t['rows'] + 1) if t['name'] == 'orders' else t for t in manifest['tables']]
    set_manifest(artefact, tables=tables)
    conn.execute('DELETE FROM orders WHERE id > 10')
    content, listed = fingerprint(pg, name), databases(pg)
    result = restore(run_module, pg, database=name, path=str(artefact), force=True,
                     safety_dump_dir=str(tmp_path / 'safety'))
    assert result['failed'] is True and result['changed'] is False
    assert 'public.orders has 5000 rows restored, the manifest says 5001' in result['msg']
    assert 'was dropped' in result['msg']
    assert fingerprint(pg, name) == content and databases(pg) == listed
    assert not (tmp_path / 'safety').exists()


def test_a_failing_pg_restore_leaves_the_existing_database_untouched(pg, source, run_module, tmp_path):
    name, conn = source
    conn.execute('CREATE ROLE restore_gone')
    conn.execute('ALTER TABLE orders OWNER TO restore_gone')
    try:
        artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
        conn.execute('ALTER TABLE orders OWNER TO postgres')
    finally:
        conn.execute('DROP ROLE restore_gone')
    conn.execute('DELETE FROM orders WHERE id > 10')
    content, listed = fingerprint(pg, name), databases(pg)
    result = restore(run_module, pg, database=name, path=str(artefact), force=True, safety_dump=False)
    assert result['failed'] is True and result['changed'] is False
    assert 'pg_restore into' in result['msg'] and 'restore_gone' in result['msg'] and 'no_owner' in result['msg']
    assert fingerprint(pg, name) == content and databases(pg) == listed
    # Without the owners it restores.
    done = restore(run_module, pg, database=name, path=str(artefact), force=True, safety_dump=False, no_owner=True)
    assert done.get('failed') is not True, (done.get('msg'), done.get('_stderr'))
    conn.close()
    assert count(pg, name, 'orders') == 5000


def test_a_bad_password_fails_clearly_without_the_password(pg, source, run_module, tmp_path):
    name, _conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    wrong = 'Wr0ng-' + PASSWORD
    result = run_module('backup_restore', dict(login_host='127.0.0.1', login_port=pg.port, login_user='postgres',
                                               login_password=wrong, ssl_mode='disable', database=name,
                                               path=str(artefact), force=True, safety_dump=False))
    assert result['failed'] is True and 'password authentication failed' in result['msg']
    assert wrong not in json.dumps(result) and PASSWORD not in json.dumps(result)
    assert_no_traceback(result)


def test_over_tcp_the_password_travels_in_the_environment(pg, source, run_module, tmp_path):
    name, conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups')
    conn.execute('DELETE FROM orders')
    conn.close()
    result = run_module('backup_restore', dict(login_host='127.0.0.1', login_port=pg.port, login_user='postgres',
                                               login_password=PASSWORD, ssl_mode='disable', database=name,
                                               path=str(artefact), force=True, tables=['orders'],
                                               safety_dump_dir=str(tmp_path / 'safety')))
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    assert PASSWORD not in json.dumps(result)
    assert count(pg, name, 'orders') == 5000


# ---- the DR drill playbook ---------------------------------------------------------------------
def test_the_drill_says_a_stale_dump_misses_the_rpo(pg, source, run_module, tmp_path):
    """playbooks/dr-drill.yml run by ansible-playbook on this host against the fixture's server: on
    a dump-only host declared at the default RPO of 15 min (a configuration finding, not a failure),
    the dumps are judged against their daily schedule: a two-day-old newest dump (the backup job
    stopped) fails the drill saying why, and its scratch database is dropped all the same."""
    name, _conn = source
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups' / name)
    day_old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=2)
    set_manifest(artefact, created_at=day_old.strftime('%Y-%m-%dT%H:%M:%SZ'))
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'databases': {'hosts': {'drillhost': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
        'runbook_pg_login_unix_socket': str(pg.run), 'runbook_pg_login_port': pg.port,
        'runbook_pg_login_user': 'postgres', 'dr_drill_databases': [name],
        'dr_drill_backup_dir': str(tmp_path / 'backups')}}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    done = subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', str(inventory),
                           str(REPO / 'playbooks' / 'dr-drill.yml')], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    out = ' '.join(done.stdout.split())
    assert done.returncode != 0, out
    assert f'{name}: FAIL - RTO ' in out and 'rows verified, pg_amcheck passed' in out
    assert 'RPO missed: the newest restorable backup (' in out
    assert 'the target is 93600s (the dump schedule (every 86400s, plus 7200s), not the declared 900s' in out
    assert 'Configuration findings: declared RPO 15m (database failure) is tighter than the dumps' in out
    assert 'DR drill failed: ' in out
    assert work_databases(pg, '__drill') == []
