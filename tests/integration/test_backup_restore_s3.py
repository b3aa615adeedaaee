"""backup_restore from S3 (moto on 127.0.0.1, over real HTTP) into a real PostgreSQL.

A restore from `s3_bucket` + `s3_key` or `latest_in: s3://bucket/prefix/` downloads the dump into
a private directory of `tmp_dir`, checks its sha256 and size against the manifest the backup role
uploads beside it, and restores it only then. Every refusal leaves no database and no file behind,
and the secret key never appears in anything the module prints.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import boto3
import psycopg
import pytest
from psycopg import sql

from pgsandbox import free_port

SECRET = 'Tr0ub4dor-S3-secret-never-printed'
ACCESS = 'AKIARUNBOOKTESTKEY01'


# ---- helpers -----------------------------------------------------------------------------------
def seed(conn) -> None:
    conn.execute('CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL)')
    conn.execute("INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 300) g")
    conn.execute('CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric)')
    conn.execute('INSERT INTO orders (customer_id, total) SELECT 1 + g % 300, g FROM generate_series(1, 2000) g')


def run_raw(run_module, module: str, args: dict, check: bool = False, timeout: float = 180) -> tuple[dict, str]:
    """Run a module; (its result, everything it printed on stdout and stderr)."""
    argv, _path = run_module.command(module, args, check)
    done = subprocess.run(argv, capture_output=True, text=True, env=run_module.env, timeout=timeout, check=False)
    return run_module.parse(done.stdout, done.stderr), done.stdout + done.stderr


def databases(pg) -> list[str]:
    with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
        return [row[0] for row in conn.execute('SELECT datname FROM pg_database ORDER BY 1').fetchall()]


def drop(pg, name: str) -> None:
    with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))


def make_dump(run_module, pg, database: str, dest: Path) -> tuple[Path, dict]:
    result = run_module('backup_create', dict(pg.module_args(database), dest_dir=str(dest)))
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    return Path(result['artefact']), result['manifest']


def upload(client, bucket: str, key: str, artefact: Path, manifest: dict | None, metadata: bool = True) -> None:
    """As roles/backup uploads: the dump (sha256 in its metadata) and its manifest beside it."""
    extra = {'Metadata': {'sha256': manifest['sha256']}} if metadata and manifest else {}
    client.put_object(Bucket=bucket, Key=key, Body=artefact.read_bytes(), **extra)
    if manifest is not None:
        client.put_object(Bucket=bucket, Key=f'{key}.json', Body=json.dumps(manifest).encode())


@pytest.fixture()
def bucket(s3_server):
    client = boto3.client('s3', endpoint_url=s3_server, region_name='us-east-1',
                          aws_access_key_id='testing', aws_secret_access_key='testing')
    name = f'restore-{secrets.token_hex(4)}'
    client.create_bucket(Bucket=name)
    return client, name


@pytest.fixture()
def dumped(pg, db, run_module, tmp_path):
    """A seeded database and a real dump of it with a verified manifest."""
    name, conn = db
    seed(conn)
    artefact, manifest = make_dump(run_module, pg, name, tmp_path / 'local')
    manifest = dict(manifest, verified=True)
    return name, artefact, manifest


@pytest.fixture()
def target(pg):
    name = f'rs3_{secrets.token_hex(4)}'
    yield name
    drop(pg, name)
    with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
        for (left,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (f'{name}__%',)).fetchall():
            conn.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(left)))


def s3_args(endpoint: str, **kw) -> dict:
    return dict(endpoint_url=endpoint, region='us-east-1', aws_access_key=ACCESS, aws_secret_key=SECRET, **kw)


def assert_refused(result: dict, output: str, pg, before: list[str], tmp: Path, *phrases: str) -> None:
    assert result.get('failed') is True and result['changed'] is False, result
    for phrase in phrases:
        assert phrase in result['msg'], result['msg']
    assert 'Traceback' not in output
    assert SECRET not in output
    assert databases(pg) == before                                   # no database created
    assert list(tmp.iterdir()) == []                                 # no download left


# ---- restores ----------------------------------------------------------------------------------
def test_full_restore_from_s3_key_into_a_new_database(pg, dumped, bucket, s3_server, run_module, tmp_path, target):
    name, artefact, manifest = dumped
    client, bucket_name = bucket
    key = f'postgresql/db1/{name}/{artefact.name}'
    upload(client, bucket_name, key, artefact, manifest)
    work = tmp_path / 'work'
    work.mkdir()
    result, output = run_raw(run_module, 'backup_restore', dict(
        pg.module_args(), database=name, target_database=target, s3_bucket=bucket_name, s3_key=key,
        tmp_dir=str(work), **s3_args(s3_server)))
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    assert result['source'] == f's3://{bucket_name}/{key}'
    assert result['downloaded_bytes'] == artefact.stat().st_size == manifest['size']
    assert manifest['sha256'] in result['checksum'] and 'computed while downloading' in result['checksum']
    assert result['rows_verified'] is True and result['rows'] == {'public.customers': 300, 'public.orders': 2000}
    assert result['plan'][0].startswith(f's3://{bucket_name}/{key}'.join(['download ', ''])) or \
        result['plan'][0].startswith('download ')
    with psycopg.connect(**pg.conninfo(target), autocommit=True) as conn:
        assert conn.execute('SELECT count(*), sum(total) FROM orders').fetchone() == (2000, 2001000)
        assert conn.execute('SELECT count(*) FROM customers').fetchone()[0] == 300
    assert list(work.iterdir()) == []                                # the download is gone
    assert SECRET not in output


def test_latest_in_restores_the_newest_verified_dump(pg, dumped, bucket, s3_server, run_module, tmp_path, target):
    name, artefact, manifest = dumped
    client, bucket_name = bucket
    prefix = f'postgresql/db1/{name}/'
    upload(client, bucket_name, f'{prefix}{name}-1-old.dump', artefact, manifest)
    time.sleep(1.1)                                                   # LastModified has 1 s resolution
    upload(client, bucket_name, f'{prefix}{name}-2-good.dump', artefact, manifest)
    time.sleep(1.1)
    upload(client, bucket_name, f'{prefix}{name}-3-unverified.dump', artefact, dict(manifest, verified=False))
    upload(client, bucket_name, f'{prefix}other/{name}-9-deeper.dump', artefact, manifest)   # not directly under
    work = tmp_path / 'work'
    work.mkdir()
    args = dict(pg.module_args(), database=name, target_database=target, latest_in=f's3://{bucket_name}/{prefix}',
                tmp_dir=str(work), **s3_args(s3_server))

    planned, output = run_raw(run_module, 'backup_restore', args, check=True)
    assert planned.get('failed') is not True, planned.get('msg')
    assert planned['source'] == f's3://{bucket_name}/{prefix}{name}-2-good.dump'
    assert planned['downloaded_bytes'] == 0 and 'not downloaded in check mode' in planned['checksum']
    assert any('failed verification' in p for p in planned['passed_over'])
    assert target not in databases(pg) and list(work.iterdir()) == []
    assert SECRET not in output

    result, output = run_raw(run_module, 'backup_restore', args)
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    assert result['source'] == planned['source'] and result['rows_verified'] is True
    with psycopg.connect(**pg.conninfo(target), autocommit=True) as conn:
        assert conn.execute('SELECT count(*) FROM orders').fetchone()[0] == 2000
    assert SECRET not in output


# ---- refusals ----------------------------------------------------------------------------------
def test_checksum_mismatch_is_refused_before_anything_is_restored(pg, dumped, bucket, s3_server, run_module,
                                                                  tmp_path, target):
    name, artefact, manifest = dumped
    client, bucket_name = bucket
    data = bytearray(artefact.read_bytes())
    data[len(data) // 2] ^= 0xFF                                      # same size, one byte flipped
    damaged = tmp_path / 'damaged.dump'
    damaged.write_bytes(bytes(data))
    upload(client, bucket_name, 'pg/damaged.dump', damaged, manifest, metadata=False)
    work = tmp_path / 'work'
    work.mkdir()
    before = databases(pg)
    result, output = run_raw(run_module, 'backup_restore', dict(
        pg.module_args(), database=name, target_database=target, s3_bucket=bucket_name, s3_key='pg/damaged.dump',
        tmp_dir=str(work), **s3_args(s3_server)))
    assert_refused(result, output, pg, before, work, 'checksum: sha256 of', manifest['sha256'], 'nothing was restored')


def test_metadata_checksum_differing_from_the_manifest_is_refused(pg, dumped, bucket, s3_server, run_module,
                                                                  tmp_path, target):
    name, artefact, manifest = dumped
    client, bucket_name = bucket
    client.put_object(Bucket=bucket_name, Key='pg/x.dump', Body=artefact.read_bytes(), Metadata={'sha256': '0' * 64})
    client.put_object(Bucket=bucket_name, Key='pg/x.dump.json', Body=json.dumps(manifest).encode())
    work = tmp_path / 'work'
    work.mkdir()
    before = databases(pg)
    result, output = run_raw(run_module, 'backup_restore', dict(
        pg.module_args(), database=name, target_database=target, s3_bucket=bucket_name, s3_key='pg/x.dump',
        tmp_dir=str(work), **s3_args(s3_server)))
    assert_refused(result, output, pg, before, work, 'x-amz-meta-sha256', 'nothing was downloaded')


def test_missing_manifest_is_refused(pg, dumped, bucket, s3_server, run_module, tmp_path, target):
    name, artefact, _manifest = dumped
    client, bucket_name = bucket
    upload(client, bucket_name, 'pg/alone.dump', artefact, None)
    work = tmp_path / 'work'
    work.mkdir()
    before = databases(pg)
    result, output = run_raw(run_module, 'backup_restore', dict(
        pg.module_args(), database=name, target_database=target, s3_bucket=bucket_name, s3_key='pg/alone.dump',
        tmp_dir=str(work), **s3_args(s3_server)))
    assert_refused(result, output, pg, before, work, f'no manifest (s3://{bucket_name}/pg/alone.dump.json)')
    # latest_in says why the only candidate is passed over
    result, output = run_raw(run_module, 'backup_restore', dict(
        pg.module_args(), database=name, target_database=target, latest_in=f's3://{bucket_name}/pg/',
        tmp_dir=str(work), **s3_args(s3_server)))
    assert_refused(result, output, pg, before, work, 'no restorable verified dump', 'alone.dump: no manifest')


def test_unverified_artefact_is_refused(pg, dumped, bucket, s3_server, run_module, tmp_path, target):
    name, artefact, manifest = dumped
    client, bucket_name = bucket
    unverified = {k: v for k, v in manifest.items() if k != 'verified'}
    upload(client, bucket_name, 'pg/new.dump', artefact, unverified)
    upload(client, bucket_name, 'pg/bad.dump', artefact, dict(manifest, verified=False))
    work = tmp_path / 'work'
    work.mkdir()
    before = databases(pg)
    for key, phrase in (('pg/new.dump', 'was never verified'), ('pg/bad.dump', 'failed verification')):
        result, output = run_raw(run_module, 'backup_restore', dict(
            pg.module_args(), database=name, target_database=target, s3_bucket=bucket_name, s3_key=key,
            tmp_dir=str(work), **s3_args(s3_server)))
        assert_refused(result, output, pg, before, work, f's3://{bucket_name}/{key} is not restored', phrase)


def test_dump_of_another_database_is_refused(pg, dumped, bucket, s3_server, run_module, tmp_path, target):
    _name, artefact, manifest = dumped
    client, bucket_name = bucket
    upload(client, bucket_name, 'pg/app.dump', artefact, manifest)
    work = tmp_path / 'work'
    work.mkdir()
    before = databases(pg)
    result, output = run_raw(run_module, 'backup_restore', dict(
        pg.module_args(), database='some_other_db', target_database=target, s3_bucket=bucket_name,
        s3_key='pg/app.dump', tmp_dir=str(work), **s3_args(s3_server)))
    assert_refused(result, output, pg, before, work, "not 'some_other_db'")


# ---- credentials (a moto server that checks signatures) ----------------------------------------
@pytest.fixture(scope='module')
def auth_s3():
    """moto in its own process with authentication on (after the 4 IAM calls that create a user,
    its key and an s3:* policy); yields (endpoint, access key id, secret)."""
    port = free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT='4')
    server = subprocess.Popen([sys.executable, '-c', 'from moto.server import main; main()', '-H', '127.0.0.1',
                               '-p', str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f'http://127.0.0.1:{port}'
    try:
        iam = boto3.client('iam', endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id='x',
                           aws_secret_access_key='y')
        deadline = time.monotonic() + 30
        while True:
            try:
                iam.create_user(UserName='backup')
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        key = iam.create_access_key(UserName='backup')['AccessKey']
        policy = iam.create_policy(PolicyName='s3all', PolicyDocument=json.dumps({
            'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 's3:*', 'Resource': '*'}]}))
        iam.attach_user_policy(UserName='backup', PolicyArn=policy['Policy']['Arn'])
        yield endpoint, key['AccessKeyId'], key['SecretAccessKey']
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_wrong_secret_key_is_refused_and_never_printed(pg, dumped, auth_s3, run_module, tmp_path, target):
    name, artefact, manifest = dumped
    endpoint, access, secret = auth_s3
    client = boto3.client('s3', endpoint_url=endpoint, region_name='us-east-1', aws_access_key_id=access,
                          aws_secret_access_key=secret)
    client.create_bucket(Bucket='authbucket')
    upload(client, 'authbucket', f'pg/{name}.dump', artefact, manifest)
    work = tmp_path / 'work'
    work.mkdir()
    before = databases(pg)
    wrong = 'Wr0ng-' + secret[::-1]
    for source in ({'s3_bucket': 'authbucket', 's3_key': f'pg/{name}.dump'}, {'latest_in': 's3://authbucket/pg/'}):
        result, output = run_raw(run_module, 'backup_restore', dict(
            pg.module_args(), database=name, target_database=target, tmp_dir=str(work), endpoint_url=endpoint,
            region='us-east-1', aws_access_key=access, aws_secret_key=wrong, **source))
        assert_refused(result, output, pg, before, work, 'refused the credentials', 'SignatureDoesNotMatch',
                       'wrong aws_secret_key')
        assert wrong not in output and secret not in output
    # the right key restores (the refusal was about the key, not the setup)
    result, output = run_raw(run_module, 'backup_restore', dict(
        pg.module_args(), database=name, target_database=target, tmp_dir=str(work), endpoint_url=endpoint,
        region='us-east-1', aws_access_key=access, aws_secret_key=secret, latest_in='s3://authbucket/pg/'))
    assert result.get('failed') is not True, result.get('msg')
    assert result['rows_verified'] is True and secret not in output


def test_bad_s3_options_fail_clearly(pg, run_module, tmp_path):
    for args, phrase in (
            ({'s3_key': 'k'}, 'required together'),
            ({'latest_in': 's3://', 'endpoint_url': 'http://127.0.0.1:9'}, 'latest_in: not an S3 URL'),
            ({'s3_bucket': 'b', 's3_key': 'k', 's3_read_timeout': 0}, 's3_read_timeout must be positive'),
            ({'s3_bucket': 'b', 's3_key': 'k', 's3_connect_timeout': -1}, 's3_connect_timeout must be positive'),
            ({'s3_bucket': 'b', 's3_key': 'k', 's3_retries': 99}, 's3_retries must be between 0 and 10'),
            ({'s3_bucket': 'b', 's3_key': 'k', 'endpoint_url': 'ftp://x'}, 'endpoint_url must be an http'),
            ({'s3_bucket': 'b', 's3_key': 'k', 'path': str(tmp_path)}, 'mutually exclusive')):
        result, output = run_raw(run_module, 'backup_restore', dict(pg.module_args(), database='x', **args))
        assert result.get('failed') is True and phrase in result['msg'], (args, result['msg'])
        assert 'Traceback' not in output


# ---- globals dumps and paths archives (kind) ---------------------------------------------------
def verified_backup(run_module, pg, **args) -> tuple[Path, dict]:
    result = run_module('backup_create', dict(pg.module_args(), **args))
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    return Path(result['artefact']), dict(result['manifest'], verified=True)


def test_globals_from_s3_recreate_the_roles(pg, bucket, s3_server, run_module, tmp_path):
    client, bucket_name = bucket
    role = f'rs3_role_{secrets.token_hex(3)}'
    with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN CONNECTION LIMIT 7").format(sql.Identifier(role)))
    try:
        artefact, manifest = verified_backup(run_module, pg, kind='globals', dest_dir=str(tmp_path / 'globals'))
        upload(client, bucket_name, f'pg/globals/{artefact.name}', artefact, manifest)
        with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL('DROP ROLE {}').format(sql.Identifier(role)))   # the lost host
        args = dict(pg.module_args(), kind='globals', latest_in=f's3://{bucket_name}/pg/globals/',
                    tmp_dir=str(tmp_path), **s3_args(s3_server))
        planned, output = run_raw(run_module, 'backup_restore', args, check=True)
        assert planned.get('failed') is not True, planned.get('msg')
        assert planned['downloaded_bytes'] == 0 and SECRET not in output
        result, output = run_raw(run_module, 'backup_restore', args)
        assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
        assert role in result['roles']['created'] and 'postgres' in result['roles']['altered']
        assert result['changed'] is True and SECRET not in output
        with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
            assert conn.execute('SELECT rolconnlimit, rolcanlogin FROM pg_roles WHERE rolname = %s',
                                (role,)).fetchone() == (7, True)
        # a paths archive is not a globals dump
        upload(client, bucket_name, 'pg/wrong/globals-x.sql', artefact, dict(manifest, kind='paths', format='tar'))
        wrong, output = run_raw(run_module, 'backup_restore', dict(args, latest_in=f's3://{bucket_name}/pg/wrong/'))
        assert wrong['failed'] is True and 'a paths backup, not a globals backup' in wrong['msg']
    finally:
        with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL('DROP ROLE IF EXISTS {}').format(sql.Identifier(role)))


def test_paths_from_s3_put_back_safely(pg, bucket, s3_server, run_module, tmp_path):
    client, bucket_name = bucket
    source = tmp_path / 'src' / 'etc' / 'app'
    source.mkdir(parents=True)
    (source / 'app.conf').write_text('listen = 127.0.0.1\n')
    (source / 'app.conf').chmod(0o640)
    (source / 'current').symlink_to('app.conf')
    artefact, manifest = verified_backup(run_module, pg, kind='paths', paths=[str(source)],
                                         dest_dir=str(tmp_path / 'files'))
    upload(client, bucket_name, f'pg/files/{artefact.name}', artefact, manifest)
    root = tmp_path / 'root'
    root.mkdir()
    restored = root / str(source).lstrip('/')
    args = dict(pg.module_args(), kind='paths', dest=str(root), latest_in=f's3://{bucket_name}/pg/files/',
                tmp_dir=str(tmp_path), **s3_args(s3_server))

    result, output = run_raw(run_module, 'backup_restore', args)
    assert result.get('failed') is not True, (result.get('msg'), result.get('_stderr'))
    assert (restored / 'app.conf').read_text() == 'listen = 127.0.0.1\n'
    assert oct((restored / 'app.conf').stat().st_mode & 0o777) == oct(0o640)
    assert os.readlink(restored / 'current') == 'app.conf' and SECRET not in output

    (restored / 'app.conf').write_text('changed\n')                 # an existing file: only with force
    refused, dummy = run_raw(run_module, 'backup_restore', args)
    assert refused['failed'] is True and 'would be replaced' in refused['msg'] and 'force: true' in refused['msg']
    assert (restored / 'app.conf').read_text() == 'changed\n'
    forced, dummy = run_raw(run_module, 'backup_restore', dict(args, force=True))
    assert forced.get('failed') is not True, forced.get('msg')
    assert (restored / 'app.conf').read_text() == 'listen = 127.0.0.1\n'

    outside = tmp_path / 'outside'                                  # a planted symlink on the way
    outside.mkdir()
    for child in restored.iterdir():
        child.unlink()
    restored.rmdir()
    restored.symlink_to(outside)
    planted, dummy = run_raw(run_module, 'backup_restore', dict(args, force=True))
    assert planted['failed'] is True and 'refusing to write through it' in planted['msg'], planted['msg']
    assert list(outside.iterdir()) == []
