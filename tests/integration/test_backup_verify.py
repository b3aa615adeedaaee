"""backup_verify against real dumps (pg_dump), a real PostgreSQL and a real S3 server.

Every fault of the matrix is made for real (a cut file, a flipped byte, a renamed SQL script,
an old manifest...) and must be caught by the check that is meant to catch it, with a reason a
person on call understands. After every test no scratch database is left on the server.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
from psycopg import sql

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import (
    format_timestamp,
    sha256_file,
    write_manifest,
)
from pg_helpers import PASSWORD

ALL_CHECKS = ['exists', 'checksum', 'format', 'age', 'size', 'restore', 'rows']
PREFIX = 'runbook_verify'
DAY = 86400


# ---- helpers -----------------------------------------------------------------------------------
def seed(conn) -> None:
    """A small database with enough incompressible data that the middle of a dump is table data,
    names that need quoting, an empty table."""
    conn.execute("CREATE TABLE orders (id int PRIMARY KEY, pad text)")
    conn.execute("INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
    conn.execute('CREATE SCHEMA "Sales EU"')
    conn.execute('CREATE TABLE "Sales EU"."Line ""Items""" (id int, name text)')
    conn.execute('INSERT INTO "Sales EU"."Line ""Items""" SELECT g, \'n\' || g FROM generate_series(1, 300) g')
    conn.execute('CREATE TABLE empty_one (x int)')


def table_rows(conn) -> list[dict]:
    tables = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname !~ '^pg_' ORDER BY 1, 2").fetchall()
    return [{'schema': schema, 'name': name,
             'rows': conn.execute(sql.SQL('SELECT count(*) FROM {}').format(sql.Identifier(schema, name))).fetchone()[0]}
            for schema, name in tables]


def pg_dump(pg, dbname: str, dest: Path, fmt: str = 'c') -> Path:
    """A real pg_dump over the fixture's Unix socket, which trusts local users: no password."""
    env = {key: value for key, value in os.environ.items() if key != 'PGPASSWORD'}
    subprocess.run([os.path.join(pg.bindir, 'pg_dump'), f'-F{fmt}', '-h', str(pg.run), '-p', str(pg.port),
                    '-U', 'postgres', '-d', dbname, '-f', str(dest)], check=True, env=env, capture_output=True)
    return dest


def make_backup(pg, db, dest: Path, fmt: str = 'c', age_s: float = 600, mtime_age_s: float | None = None,
                manifest: bool = True) -> Path:
    """A real dump of the test database and its manifest (write_manifest, as the backup role does)."""
    name, conn = db
    dest.parent.mkdir(parents=True, exist_ok=True)
    pg_dump(pg, name, dest, fmt)
    created = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=age_s)
    if manifest:
        write_manifest(str(dest), {
            'created_at': format_timestamp(created), 'host': socket.gethostname(), 'database': name,
            'format': {'c': 'custom', 'p': 'plain', 'd': 'directory', 't': 'tar'}[fmt], 'tables': table_rows(conn)})
    stamp = time.time() - (age_s if mtime_age_s is None else mtime_age_s)
    os.utime(dest, (stamp, stamp))
    return dest


def rewrite_manifest(artefact: Path, **changes) -> None:
    """The manifest of what is there now (as a backup job that hashed a damaged file would write)."""
    data = json.loads(Path(f'{artefact}.json').read_text())
    data.pop('sha256')
    data.pop('size')
    data.update(changes)
    write_manifest(str(artefact), data)


def scratch_databases(pg) -> list[str]:
    with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
        return [row[0] for row in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'runbook\\_verify%' ORDER BY 1").fetchall()]


def databases(pg) -> list[str]:
    with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
        return [row[0] for row in conn.execute('SELECT datname FROM pg_database ORDER BY 1').fetchall()]


def verify(run_module, pg, check=False, **args) -> dict:
    return run_module('backup_verify', dict(pg.module_args(), **args), check=check)


def failed_checks(result: dict) -> set[str]:
    return {name for name, check in result['checks'].items() if check['ok'] is False}


def failure_of(result: dict, check: str) -> str:
    lines = [line for line in result['failures'] if line.startswith(f'{check}: ')]
    assert len(lines) == 1, result['failures']
    return lines[0]


def assert_no_traceback(result: dict) -> None:
    assert 'Traceback' not in result['_stderr'] and 'exception' not in result, result


@pytest.fixture(autouse=True)
def no_scratch_database_left(pg):
    yield
    assert scratch_databases(pg) == [], 'a scratch database of the restore check was left behind'


@pytest.fixture()
def source(db):
    seed(db[1])
    return db


@pytest.fixture()
def s3(s3_server):
    client = boto3.client('s3', endpoint_url=s3_server, region_name='us-east-1',
                          aws_access_key_id='testing', aws_secret_access_key='testing')
    bucket = f'backups-{uuid.uuid4().hex[:12]}'
    client.create_bucket(Bucket=bucket)
    return client, bucket


def s3_args(s3_server, bucket: str, **kw) -> dict:
    return dict(endpoint_url=s3_server, region='us-east-1', aws_access_key='testing', aws_secret_key='testing',
                s3_bucket=bucket, **kw)


def upload(client, bucket: str, key: str, artefact: Path, metadata_sha256: str | None = None,
           manifest: bool = True) -> None:
    extra = {'Metadata': {'sha256': metadata_sha256}} if metadata_sha256 else {}
    client.upload_file(str(artefact), bucket, key, ExtraArgs=extra)
    if manifest:
        client.upload_file(f'{artefact}.json', bucket, f'{key}.json')


# ---- the good case -----------------------------------------------------------------------------
def test_good_dump_passes_every_check_including_restore_and_rows(pg, source, run_module, tmp_path):
    dump = make_backup(pg, source, tmp_path / 'app.dump')
    result = verify(run_module, pg, path=str(dump), checks=ALL_CHECKS, min_size='10k')
    assert result['verified'] is True and not result.get('failed'), result
    assert result['changed'] is False
    assert [name for name, check in result['checks'].items() if check['ok']] == ALL_CHECKS
    assert result['failures'] == []
    assert result['artefact'] == str(dump)
    assert result['sha256'] == sha256_file(str(dump)) and result['size_bytes'] == dump.stat().st_size
    assert 550 < result['age_s'] < 900
    assert 'matches the manifest' in result['checks']['checksum']['detail']
    assert 'every data block read by pg_restore' in result['checks']['format']['detail']
    restore = result['restore']
    assert restore['tables'] == 3 and restore['rows'] == 20300 and restore['dropped'] is True
    assert restore['database'].startswith(f'{PREFIX}_') and restore['duration_s'] > 0
    assert result['checks']['rows']['detail'] == '3 tables have exactly the row counts of the manifest'
    assert result['manifest']['database'] == source[0]
    assert restore['database'] not in databases(pg)


def test_restore_over_tcp_with_a_password_through_the_environment(pg, source, run_module, tmp_path):
    dump = make_backup(pg, source, tmp_path / 'app.dump')
    args = dict(login_host='127.0.0.1', login_port=pg.port, login_user='postgres', login_password=PASSWORD,
                path=str(dump), checks=['restore', 'rows'])
    result = run_module('backup_verify', args)
    assert result['verified'] is True, result
    assert PASSWORD not in json.dumps(result)


# ---- the fault matrix --------------------------------------------------------------------------
def truncated(pg, db, tmp_path):
    dump = make_backup(pg, db, tmp_path / 'app.dump')
    data = dump.read_bytes()
    dump.write_bytes(data[:len(data) * 6 // 10])
    rewrite_manifest(dump)  # hashed after the cut: the checksum agrees, only reading it through can tell
    listed = subprocess.run([os.path.join(pg.bindir, 'pg_restore'), '--list', str(dump)], capture_output=True,
                            check=False)
    assert listed.returncode == 0, 'pg_restore --list alone should not notice the cut'
    return dump, {}


def flipped_byte(pg, db, tmp_path):
    dump = make_backup(pg, db, tmp_path / 'app.dump')
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    return dump, {}


def zero_bytes(pg, db, tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    dump = tmp_path / 'app.dump'
    dump.write_bytes(b'')
    write_manifest(str(dump), {'created_at': format_timestamp(datetime.datetime.now(datetime.timezone.utc)),
                               'host': 'db1', 'database': db[0], 'format': 'custom', 'tables': table_rows(db[1])})
    return dump, {}


def plain_sql_renamed(pg, db, tmp_path):
    dump = make_backup(pg, db, tmp_path / 'app.dump', fmt='p')
    rewrite_manifest(dump, format='custom')  # the job believed it wrote a custom dump
    return dump, {}


def checksum_mismatch(pg, db, tmp_path):
    dump = make_backup(pg, db, tmp_path / 'app.dump')
    return dump, {'expected_sha256': hashlib.sha256(b'what the uploader recorded').hexdigest()}


def missing_manifest(pg, db, tmp_path):
    dump = make_backup(pg, db, tmp_path / 'app.dump')
    Path(f'{dump}.json').unlink()
    return dump, {}


def stale(pg, db, tmp_path):
    return make_backup(pg, db, tmp_path / 'app.dump', age_s=3 * DAY, mtime_age_s=60), {'max_age': '26h'}


def shrunken(pg, db, tmp_path):
    make_backup(pg, db, tmp_path / 'app-1.dump', age_s=DAY + 600)
    db[1].execute('DELETE FROM orders WHERE id > 2000')
    dump = make_backup(pg, db, tmp_path / 'app-2.dump')
    return dump, {'max_size_drop_ratio': 0.5, 'pattern': 'app-*.dump'}


FAULTS = {
    # case: (build, checks failing, (check, reason substring))
    'truncated': (truncated, {'format'},
                  ('format', 'pg_restore cannot read the archive to the end')),
    'flipped_byte': (flipped_byte, {'checksum', 'format'},
                     ('checksum', "does not match the manifest's")),
    'zero_bytes': (zero_bytes, {'size', 'format'},
                   ('size', 'the artefact is empty (0 bytes)')),
    'plain_sql_renamed': (plain_sql_renamed, {'format'},
                          ('format', 'not a pg_dump custom-format archive: it is a plain SQL script')),
    'checksum_mismatch': (checksum_mismatch, {'checksum'},
                          ('checksum', 'does not match expected_sha256')),
    'missing_manifest': (missing_manifest, {'checksum', 'rows'},
                         ('checksum', 'manifest missing (')),
    'stale': (stale, {'age'},
              ('age', 'old (created')),
    'shrunken': (shrunken, {'size'},
                 ('size', 'smaller than the previous artefact app-1.dump')),
}


@pytest.mark.parametrize('case', list(FAULTS))
def test_fault_is_caught_by_its_check_with_its_reason(pg, source, run_module, tmp_path, case):
    build, failing, (check, reason) = FAULTS[case]
    dump, extra = build(pg, source, tmp_path)
    before = databases(pg)
    result = verify(run_module, pg, path=str(dump), checks=ALL_CHECKS, **extra)
    assert_no_traceback(result)
    assert result['failed'] is True and result['verified'] is False and result['changed'] is False, result
    assert failed_checks(result) == failing, result['checks']
    assert reason in failure_of(result, check)
    for name in failing:
        assert name in result['msg'], 'the message names every failed check'
    assert len(result['failures']) == len(failing)
    assert databases(pg) == before


def test_fault_details_are_specific(pg, source, run_module, tmp_path):
    """The second reason of the two-check cases, and the ones whose wording matters on call."""
    dump = flipped_byte(pg, source, tmp_path)[0]
    result = verify(run_module, pg, path=str(dump))
    assert 'incorrect data check' in failure_of(result, 'format') or 'uncompress' in failure_of(result, 'format')
    dump = truncated(pg, source, tmp_path / 'cut')[0]
    result = verify(run_module, pg, path=str(dump))
    assert 'pg_restore --list alone would pass' in failure_of(result, 'format')
    assert 'end of file' in failure_of(result, 'format')
    dump = stale(pg, source, tmp_path / 'stale')[0]
    result = verify(run_module, pg, path=str(dump))
    assert 'older than max_age 26h' in failure_of(result, 'age') and 'per the manifest' in failure_of(result, 'age')
    dump = zero_bytes(pg, source, tmp_path / 'empty')[0]
    result = verify(run_module, pg, path=str(dump))
    assert failure_of(result, 'format') == 'format: not a pg_dump custom-format archive: the file is empty (0 bytes)'
    dump = missing_manifest(pg, source, tmp_path / 'nomanifest')[0]
    result = verify(run_module, pg, path=str(dump))
    assert 'per its modification time, the manifest is missing' in result['checks']['age']['detail']
    dump = plain_sql_renamed(pg, source, tmp_path / 'plain')[0]
    result = verify(run_module, pg, path=str(dump), checks=['format', 'restore'])
    expected = 'not run: the format check failed, the archive is not restorable as it is'
    assert result['checks']['restore'] == {'ok': None, 'detail': expected}


def test_failed_restore_still_drops_the_scratch_database(pg, source, run_module, tmp_path):
    dump = truncated(pg, source, tmp_path)[0]
    result = verify(run_module, pg, path=str(dump), checks=['restore', 'rows'])
    assert failed_checks(result) == {'restore'}, result['checks']
    assert 'pg_restore into the scratch database' in failure_of(result, 'restore')
    assert result['restore']['dropped'] is True
    assert result['checks']['rows']['ok'] is None
    assert scratch_databases(pg) == []


def test_terminated_mid_restore_still_drops_the_scratch_database(pg, db, run_module, tmp_path):
    """SIGTERM (a task timeout) while pg_restore copies rows: the scratch database is dropped, the
    module still answers in JSON, pg_restore does not linger."""
    name, conn = db
    # A CHECK that sleeps for every row, but only inside a scratch database: the restore's COPY
    # takes seconds, deterministically, while making the dump costs nothing.
    conn.execute("CREATE FUNCTION slow_ok(int) RETURNS boolean LANGUAGE sql AS $$ SELECT CASE WHEN "
                 "current_database() LIKE 'runbook_verify%' THEN pg_sleep(0.05) IS NOT NULL ELSE true END $$")
    conn.execute('CREATE TABLE slow (id int CHECK (public.slow_ok(id)))')
    conn.execute('INSERT INTO slow SELECT generate_series(1, 1000)')
    dump = make_backup(pg, db, tmp_path / 'slow.dump')
    process = run_module.start('backup_verify', dict(pg.module_args(), path=str(dump), checks=['restore']))
    deadline = time.monotonic() + 60
    with psycopg.connect(**pg.conninfo(), autocommit=True) as admin:
        while time.monotonic() < deadline and process.poll() is None and not admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE 'runbook\\_verify%' "
                "AND query LIKE 'COPY %'").fetchone()[0]:
            time.sleep(0.02)
    assert process.poll() is None, 'the module ended before the restore was under way'
    process.terminate()
    stdout, stderr = process.communicate(timeout=60)
    result = run_module.parse(stdout, stderr)
    assert result['failed'] is True and result['msg'].startswith('terminated by signal 15'), result
    assert 'was dropped' in result['msg'] and result['restore']['dropped'] is True
    assert scratch_databases(pg) == []
    lingering = subprocess.run(['pgrep', '-f', f'pg_restore.*{dump}'], capture_output=True, text=True, check=False)
    assert lingering.stdout == ''


def test_rows_differ_from_the_manifest(pg, source, run_module, tmp_path):
    dump = make_backup(pg, source, tmp_path / 'app.dump')
    data = json.loads(Path(f'{dump}.json').read_text())
    for table in data['tables']:
        if table['name'] == 'orders':
            table['rows'] += 1
    data['tables'].append({'schema': 'public', 'name': 'gone', 'rows': 5})
    write_manifest(str(dump), data)
    result = verify(run_module, pg, path=str(dump), checks=['rows'])
    assert failed_checks(result) == {'rows'}
    line = failure_of(result, 'rows')
    assert 'public.orders has 20000 rows restored, the manifest says 20001' in line
    assert 'public.gone is missing from the restore' in line


def test_fail_on_error_false_reports_without_failing(pg, source, run_module, tmp_path):
    dump, extra = stale(pg, source, tmp_path)
    result = verify(run_module, pg, path=str(dump), fail_on_error=False, **extra)
    assert not result.get('failed') and result['verified'] is False
    assert result['failures'] and result['failures'][0].startswith('age: ')


# ---- latest_in, check mode, archives -----------------------------------------------------------
def test_latest_in_picks_the_newest_artefact(pg, source, run_module, tmp_path):
    store = tmp_path / 'backups'
    # Names sort the other way round: the modification time decides.
    make_backup(pg, source, store / 'app-c.dump', age_s=3 * 3600)
    make_backup(pg, source, store / 'app-a.dump', age_s=600)
    make_backup(pg, source, store / 'app-b.dump', age_s=2 * 3600)
    (store / '.app-d.dump.partial').write_bytes(b'PGDMP in progress')  # a running backup's partial file
    for path in store.iterdir():
        if path.name.endswith('.json'):
            os.utime(path)  # manifests are newer than every artefact, still never one
    result = verify(run_module, pg, latest_in=str(store), max_size_drop_ratio=0.5)
    assert result['verified'] is True, result
    assert result['artefact'] == str(store / 'app-a.dump')
    assert result['previous']['artefact'] == str(store / 'app-b.dump')
    only_c = verify(run_module, pg, latest_in=str(store), pattern='app-c*')
    assert only_c['artefact'] == str(store / 'app-c.dump')


def test_latest_in_an_empty_directory_fails_on_exists(pg, run_module, tmp_path):
    result = verify(run_module, pg, latest_in=str(tmp_path))
    assert failed_checks(result) == {'exists'}
    assert "no artefact matching '*'" in failure_of(result, 'exists')
    assert result['checks']['checksum'] == {'ok': None, 'detail': 'not run: no artefact'}


def test_check_mode_reads_only_and_skips_the_restore(pg, source, run_module, tmp_path):
    store = tmp_path / 'store'  # the module runner writes its arguments file in tmp_path
    dump = make_backup(pg, source, store / 'app.dump')
    files_before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.iterdir()}
    dbs_before = databases(pg)
    result = verify(run_module, pg, check=True, path=str(dump), checks=ALL_CHECKS)
    assert result['changed'] is False and result['verified'] is True, result
    assert result['checks']['restore'] == {'ok': None, 'detail': 'skipped in check mode'}
    assert result['checks']['rows'] == {'ok': None, 'detail': 'skipped in check mode'}
    assert all(result['checks'][name]['ok'] for name in ('exists', 'checksum', 'format', 'age', 'size'))
    assert result['restore'] is None
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.iterdir()} == files_before
    assert databases(pg) == dbs_before


def test_directory_and_tar_dumps_verify_and_restore(pg, source, run_module, tmp_path):
    name, conn = source
    folder = tmp_path / 'app.dir'
    pg_dump(pg, name, folder, fmt='d')
    write_manifest(str(folder), {'created_at': format_timestamp(datetime.datetime.now(datetime.timezone.utc)),
                                 'host': 'db1', 'database': name, 'format': 'directory', 'tables': table_rows(conn)})
    as_dir = verify(run_module, pg, path=str(folder), checks=ALL_CHECKS)
    assert as_dir['verified'] is True, as_dir
    assert 'directory-format dump' in as_dir['checks']['format']['detail']
    assert as_dir['restore']['rows'] == 20300

    archive = tmp_path / 'app.tar.gz'
    with tarfile.open(archive, 'w:gz') as tar:
        tar.add(folder, arcname='app')
    write_manifest(str(archive), {'created_at': format_timestamp(datetime.datetime.now(datetime.timezone.utc)),
                                  'host': 'db1', 'database': name, 'format': 'directory',
                                  'tables': table_rows(conn)})
    as_tgz = verify(run_module, pg, path=str(archive), checks=ALL_CHECKS)
    assert as_tgz["verified"] is True, as_tgz["failures"]
    assert as_tgz['checks']['format']['detail'].startswith('gzip-compressed tar archive read to its end')
    assert as_tgz['restore']['tables'] == 3

    tar_format = make_backup(pg, source, tmp_path / 'app.tar', fmt='t')
    as_tar = verify(run_module, pg, path=str(tar_format), checks=ALL_CHECKS)
    assert as_tar['verified'] is True, as_tar['failures']
    assert as_tar['checks']['format']['detail'].startswith('tar archive read to its end')

    data = archive.read_bytes()
    archive.write_bytes(data[:len(data) // 2])
    rewrite_manifest(archive)
    cut = verify(run_module, pg, path=str(archive), checks=ALL_CHECKS)
    assert failed_checks(cut) == {'format'}, cut['checks']
    assert failure_of(cut, 'format').startswith('format: tar archive: the archive cannot be read to the end')


def test_plain_sql_dump_must_be_complete(pg, source, run_module, tmp_path):
    dump = make_backup(pg, source, tmp_path / 'app.sql', fmt='p')
    good = verify(run_module, pg, path=str(dump))
    assert good['verified'] is True, good
    assert 'complete trailer present' in good['checks']['format']['detail']
    text = dump.read_bytes()
    dump.write_bytes(text[:len(text) - 200])
    rewrite_manifest(dump)
    cut = verify(run_module, pg, path=str(dump), checks=['format', 'restore'])
    assert failed_checks(cut) == {'format'}
    assert 'the SQL dump is incomplete' in failure_of(cut, 'format')


def test_bad_input_fails_with_a_clear_message(pg, run_module, tmp_path):
    cases = [
        ({'path': str(tmp_path / 'x.dump'), 'max_age': 'soon'}, 'max_age: not a duration'),
        ({'path': str(tmp_path / 'x.dump'), 'min_size': 'big'}, 'min_size: not a size'),
        ({'path': str(tmp_path / 'x.dump'), 'expected_sha256': 'abc'}, 'expected_sha256 must be 64 hexadecimal digits'),
        ({'path': str(tmp_path / 'x.dump'), 'max_size_drop_ratio': 2}, 'max_size_drop_ratio must be between 0 and 1'),
        ({'path': str(tmp_path / 'x.dump'), 'restore_db_prefix': 'x; DROP'}, 'restore_db_prefix must be'),
        ({'path': str(tmp_path / 'x.dump'), 'checks': ['exists', 'vibes']}, 'vibes'),
        ({'path': str(tmp_path / 'x.dump'), 's3_bucket': 'b', 's3_key': 'k'}, 'mutually exclusive'),
        ({}, 'one of the following is required'),
        ({'latest_in': 's3://'}, 'latest_in: not an S3 URL'),
        ({'latest_in': 'backups/app'}, 'latest_in must be an absolute path or an s3:// URL'),
    ]
    for args, message in cases:
        result = verify(run_module, pg, **args)
        assert result.get('failed') is True, (args, result)
        assert message in result['msg'], (args, result['msg'])
        assert_no_traceback(result)


# ---- S3 ------------------------------------------------------------------------------------------
def test_s3_object_verifies_against_manifest_and_metadata_and_restores(pg, source, run_module, tmp_path, s3,
                                                                       s3_server):
    client, bucket = s3
    dump = make_backup(pg, source, tmp_path / 'app.dump')
    upload(client, bucket, 'pg/app/app.dump', dump, metadata_sha256=sha256_file(str(dump)))
    result = verify(run_module, pg, checks=ALL_CHECKS, **s3_args(s3_server, bucket, s3_key='pg/app/app.dump'))
    assert result['verified'] is True, result
    assert result['artefact'] == f's3://{bucket}/pg/app/app.dump'
    assert result['checks']['checksum']['detail'].endswith(
        'matches the manifest and the object metadata (x-amz-meta-sha256)')
    assert result['restore']['rows'] == 20300 and result['sha256'] == sha256_file(str(dump))
    assert 'testing' not in json.dumps({k: v for k, v in result.items() if k != 'invocation'})


def test_s3_object_missing(pg, run_module, s3, s3_server):
    client, bucket = s3
    result = verify(run_module, pg, checks=ALL_CHECKS, **s3_args(s3_server, bucket, s3_key='pg/app/none.dump'))
    assert failed_checks(result) == {'exists'}, result['checks']
    assert failure_of(result, 'exists') == f'exists: s3://{bucket}/pg/app/none.dump does not exist'
    assert all(result['checks'][name]['ok'] is None for name in ALL_CHECKS[1:])
    assert_no_traceback(result)


def test_s3_content_differs_from_its_recorded_checksum(pg, source, run_module, tmp_path, s3, s3_server):
    client, bucket = s3
    name, conn = source
    original = make_backup(pg, source, tmp_path / 'orig' / 'app.dump')
    conn.execute('INSERT INTO orders VALUES (100001, %s)', ('another valid dump, other content',))
    other = pg_dump(pg, name, tmp_path / 'other.dump')
    client.upload_file(str(other), bucket, 'pg/app/app.dump', ExtraArgs={'Metadata': {'sha256': sha256_file(str(original))}})
    client.put_object(Bucket=bucket, Key='pg/app/app.dump.json',
                      Body=json.dumps(dict(json.loads(Path(f'{original}.json').read_text()),
                                           size=other.stat().st_size)).encode())
    result = verify(run_module, pg, **s3_args(s3_server, bucket, s3_key='pg/app/app.dump'))
    assert failed_checks(result) == {'checksum'}, result['checks']
    line = failure_of(result, 'checksum')
    assert "does not match the object's metadata sha256 (x-amz-meta-sha256)" in line
    assert "does not match the manifest's" in line
    assert result['sha256'] == sha256_file(str(other))


def test_s3_missing_manifest_is_its_own_failure_even_with_metadata(pg, source, run_module, tmp_path, s3, s3_server):
    client, bucket = s3
    dump = make_backup(pg, source, tmp_path / 'app.dump')
    upload(client, bucket, 'app.dump', dump, metadata_sha256=sha256_file(str(dump)), manifest=False)
    result = verify(run_module, pg, **s3_args(s3_server, bucket, s3_key='app.dump'))
    assert failed_checks(result) == {'checksum'}
    assert failure_of(result, 'checksum') == f'checksum: manifest missing (s3://{bucket}/app.dump.json)'
    assert 'per its LastModified, the manifest is missing' in result['checks']['age']['detail']


def test_s3_latest_in_picks_the_newest_and_compares_with_the_previous(pg, source, run_module, tmp_path, s3,
                                                                      s3_server):
    client, bucket = s3
    name, conn = source
    for index in range(3):
        dump = make_backup(pg, source, tmp_path / f'app-{index}.dump')
        upload(client, bucket, f'pg/app/app-{index}.dump', dump)
        time.sleep(1.1)  # LastModified has a one-second resolution
    client.put_object(Bucket=bucket, Key='pg/app/deeper/app-9.dump', Body=b'not in this folder')
    conn.execute('DELETE FROM orders WHERE id > 100')
    small = make_backup(pg, source, tmp_path / 'app-3.dump')
    upload(client, bucket, 'pg/app/app-3.dump', small)
    base = dict(endpoint_url=s3_server, region='us-east-1', aws_access_key='testing', aws_secret_key='testing')
    result = run_module('backup_verify', dict(base, latest_in=f's3://{bucket}/pg/app', max_size_drop_ratio=0.5))
    assert result['artefact'] == f's3://{bucket}/pg/app/app-3.dump'
    assert failed_checks(result) == {'size'}, result['checks']
    assert 'smaller than the previous artefact app-2.dump' in failure_of(result, 'size')
    empty = run_module('backup_verify', dict(base, latest_in=f's3://{bucket}/nothing/'))
    assert failed_checks(empty) == {'exists'} and 'no artefact' in failure_of(empty, 'exists')


def test_s3_body_is_streamed_not_buffered(s3, s3_server, pg, run_module):
    """A multipart upload above boto3's threshold: the download is hashed in chunks and matches."""
    client, bucket = s3
    body = os.urandom(9 * 1024 * 1024)
    digest = hashlib.sha256(body).hexdigest()
    client.upload_fileobj(io.BytesIO(body), bucket, 'files/blob.bin', ExtraArgs={'Metadata': {'sha256': digest}})
    result = verify(run_module, pg, checks=['checksum', 'format'], expected_sha256=digest,
                    **s3_args(s3_server, bucket, s3_key='files/blob.bin'))
    assert result['verified'] is True, result
    assert result['sha256'] == digest and result['size_bytes'] == len(body)


# ---- record=true: the verdict written into the manifest ------------------------------------------
def test_record_writes_the_verdict_into_the_manifest_atomically(pg, source, run_module, tmp_path):
    store = tmp_path / 'store'
    dump = make_backup(pg, source, store / 'app.dump')
    manifest = Path(f'{dump}.json')
    before = json.loads(manifest.read_text())
    result = verify(run_module, pg, path=str(dump), record=True, record_mode='0640')
    assert result['verified'] is True and result['recorded'] is True and result['changed'] is True, result
    assert result['manifest_path'] == str(manifest)
    written = json.loads(manifest.read_text())
    # Exactly what the backup role's copy task wrote: the manifest, verified and verification (the checks).
    assert written == dict(before, verified=True, verification=result['checks'])
    assert manifest.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in store.iterdir() if p.name.startswith('.')] == []  # no temporary file left
    # The manifest written is still one backup_verify accepts.
    again = verify(run_module, pg, path=str(dump), checks=['exists', 'checksum'])
    assert again['verified'] is True and again['manifest']['verified'] is True, again


def test_record_keeps_the_manifest_mode_and_records_a_failure(pg, source, run_module, tmp_path):
    dump = make_backup(pg, source, tmp_path / 'store' / 'app.dump')
    manifest = Path(f'{dump}.json')
    manifest.chmod(0o600)
    result = verify(run_module, pg, path=str(dump), record=True, max_age='1m', fail_on_error=False)
    assert result['verified'] is False and result['recorded'] is True, result
    written = json.loads(manifest.read_text())
    assert written['verified'] is False and written['verification']['age']['ok'] is False
    assert manifest.stat().st_mode & 0o777 == 0o600


def test_record_in_check_mode_writes_nothing_and_says_it_would(pg, source, run_module, tmp_path):
    store = tmp_path / 'store'
    dump = make_backup(pg, source, store / 'app.dump')
    files_before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.iterdir()}
    result = verify(run_module, pg, check=True, path=str(dump), record=True)
    assert result['changed'] is True and result['recorded'] is False, result
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in store.iterdir()} == files_before


def test_record_never_follows_a_symlinked_manifest(pg, source, run_module, tmp_path):
    store = tmp_path / 'store'
    dump = make_backup(pg, source, store / 'app.dump')
    target = tmp_path / 'elsewhere.json'
    Path(f'{dump}.json').rename(target)
    original = target.read_bytes()
    Path(f'{dump}.json').symlink_to(target)
    result = verify(run_module, pg, path=str(dump), record=True, fail_on_error=False)
    assert_no_traceback(result)
    assert result['recorded'] is False and result['changed'] is False, result
    assert target.read_bytes() == original and Path(f'{dump}.json').is_symlink()
    assert 'not recorded' in json.dumps(result.get('warnings', [])), result


def test_record_refuses_s3_and_a_bad_mode(pg, run_module, tmp_path):
    result = verify(run_module, pg, s3_bucket='b', s3_key='k.dump', record=True)
    assert result['failed'] and 'record applies to a local artefact' in result['msg'], result
    result = verify(run_module, pg, path=str(tmp_path / 'x.dump'), record=True, record_mode='rwx')
    assert result['failed'] and 'record_mode must be an octal mode' in result['msg'], result
    assert_no_traceback(result)
