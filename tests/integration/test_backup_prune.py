"""backup_prune on a real directory and a real S3 server: GFS, safety rules, check == real."""

from __future__ import annotations

import datetime
import json
import os

import boto3

NOW = datetime.datetime.now(datetime.timezone.utc).replace(hour=2, minute=0, second=0, microsecond=0)


def make_history(directory, days, verified=True, latest_verified=True):
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(days):
        created = NOW - datetime.timedelta(days=i)
        name = f"app-{created:%Y%m%d}.dump"
        (directory / name).write_bytes(b'x' * 100)
        flag = latest_verified if i == 0 else verified
        (directory / f'{name}.json').write_text(json.dumps({'created_at': created.strftime('%Y-%m-%dT%H:%M:%SZ'),
                                                            'verified': flag, 'sha256': 'n/a'}))
    return sorted(p.name for p in directory.iterdir())


def put_history(s3, bucket, key_prefix, days):
    """One verified dump a day for `days` days in S3 (<key_prefix>YYYYMMDD.dump and its manifest)."""
    for i in range(days):
        created = NOW - datetime.timedelta(days=i)
        key = f"{key_prefix}{created:%Y%m%d}.dump"
        s3.put_object(Bucket=bucket, Key=key, Body=b'y' * 10)
        s3.put_object(Bucket=bucket, Key=f'{key}.json', Body=json.dumps(
            {'created_at': created.strftime('%Y-%m-%dT%H:%M:%SZ'), 'verified': True}).encode())


def test_check_mode_lists_what_the_real_run_prunes_and_the_newest_stays(run_module, tmp_path):
    store = tmp_path / 'backups'
    before = make_history(store, 90)
    os.symlink('/etc/hostname', store / 'app-symlink.dump')
    check = run_module('backup_prune', {'path': str(store), 'pattern': 'app-*.dump'}, check=True)
    assert sorted(p.name for p in store.iterdir()) == sorted(before + ['app-symlink.dump'])
    real = run_module('backup_prune', {'path': str(store), 'pattern': 'app-*.dump'})
    assert [p['artefact'] for p in real['pruned']] == [p['artefact'] for p in check['pruned']]
    assert len(real['kept']) <= 7 + 4 + 12 and len(real['pruned']) == 90 - len(real['kept'])
    newest = f"app-{NOW:%Y%m%d}.dump"
    assert (store / newest).exists() and (store / f'{newest}.json').exists()
    assert real['kept'][0]['artefact'].endswith(newest) and 'newest verified backup' in real['kept'][0]['reasons']
    for pruned in real['pruned']:
        assert not os.path.exists(pruned['artefact']) and not os.path.exists(pruned['artefact'] + '.json')
    assert os.path.islink(store / 'app-symlink.dump')  # never an artefact
    assert real['bytes_freed'] == 100 * len(real['pruned'])
    again = run_module('backup_prune', {'path': str(store), 'pattern': 'app-*.dump'})
    assert again['changed'] is False and again['pruned'] == []


def test_nothing_is_pruned_while_the_latest_backup_failed_verification(run_module, tmp_path):
    store = tmp_path / 'backups'
    before = make_history(store, 60, latest_verified=False)
    result = run_module('backup_prune', {'path': str(store)})
    assert result['changed'] is False and result['pruned'] == [] and 'failed verification' in result['blocked']
    assert sorted(p.name for p in store.iterdir()) == before


def test_s3_prefix_retention(run_module, s3_server):
    s3 = boto3.client('s3', endpoint_url=s3_server, region_name='us-east-1')
    s3.create_bucket(Bucket='prune-test')
    put_history(s3, 'prune-test', 'pg/app/app-', 40)
    s3.put_object(Bucket='prune-test', Key='pg/other/keep-me.dump', Body=b'z')
    args = {'s3_bucket': 'prune-test', 's3_prefix': 'pg/app/', 'endpoint_url': s3_server, 'region': 'us-east-1',
            'aws_access_key': 'testing', 'aws_secret_key': 'testing-secret-key'}
    check = run_module('backup_prune', args, check=True)
    assert len(s3.list_objects_v2(Bucket='prune-test', Prefix='pg/app/')['Contents']) == 80
    real = run_module('backup_prune', args)
    assert [p['artefact'] for p in real['pruned']] == [p['artefact'] for p in check['pruned']] and real['pruned']
    left = {o['Key'] for o in s3.list_objects_v2(Bucket='prune-test')['Contents']}
    assert 'pg/other/keep-me.dump' in left and f"pg/app/app-{NOW:%Y%m%d}.dump" in left
    assert len(left) == 1 + 2 * len(real['kept'])
    assert 'testing-secret-key' not in json.dumps(real)


def test_a_missing_directory_has_nothing_to_prune_but_a_file_is_refused(run_module, tmp_path):
    empty = run_module('backup_prune', {'path': str(tmp_path / 'not-yet')})
    assert empty.get('failed') is not True and empty['pruned'] == [] and empty['kept'] == []
    (tmp_path / 'file').write_text('x')
    refused = run_module('backup_prune', {'path': str(tmp_path / 'file')})
    assert refused['failed'] is True and 'not a directory' in refused['msg']


def test_emergency_mode_deletes_only_local_copies_verified_in_s3(run_module, s3_server, tmp_path):
    import hashlib  # pylint: disable=import-outside-toplevel
    s3 = boto3.client('s3', endpoint_url=s3_server, region_name='us-east-1')
    s3.create_bucket(Bucket='copies')
    store = tmp_path / 'local'
    store.mkdir()
    for i, kind in enumerate(['uploaded', 'uploaded', 'uploaded', 'bad_copy', 'missing_copy', 'not_uploaded']):
        created = NOW - datetime.timedelta(days=i)
        name = f'app-{created:%Y%m%d}.dump'
        body = f'dump {i}'.encode()
        (store / name).write_bytes(body)
        sha = hashlib.sha256(body).hexdigest()
        manifest = {'created_at': created.strftime('%Y-%m-%dT%H:%M:%SZ'), 'verified': True, 'sha256': sha,
                    'size': len(body)}
        if kind != 'not_uploaded':
            manifest['uploaded_to'] = f's3://copies/pg/{name}'
        if kind in ('uploaded', 'bad_copy'):
            s3.put_object(Bucket='copies', Key=f'pg/{name}', Body=body,
                          Metadata={'sha256': sha if kind == 'uploaded' else '0' * 64})
        (store / f'{name}.json').write_text(json.dumps(manifest))
    args = {'path': str(store), 'uploaded_keep': 1, 'endpoint_url': s3_server, 'region': 'us-east-1',
            'aws_access_key': 'testing', 'aws_secret_key': 'testing'}
    check = run_module('backup_prune', args, check=True)
    real = run_module('backup_prune', args)
    assert [p['artefact'] for p in real['pruned']] == [p['artefact'] for p in check['pruned']]
    gone = sorted(os.path.basename(p['artefact']) for p in real['pruned'])
    expected = sorted(f"app-{NOW - datetime.timedelta(days=i):%Y%m%d}.dump" for i in (1, 2))
    assert gone == expected, real
    reasons = {os.path.basename(k['artefact']): k['reasons'][0] for k in real['kept']}
    assert reasons[f"app-{NOW - datetime.timedelta(days=3):%Y%m%d}.dump"].startswith('S3 copy not trusted: its sha256')
    assert reasons[f"app-{NOW - datetime.timedelta(days=4):%Y%m%d}.dump"].startswith('S3 copy not trusted: cannot read')
    assert reasons[f"app-{NOW - datetime.timedelta(days=5):%Y%m%d}.dump"] == 'not uploaded and verified'


def test_sets_prune_each_directory_as_its_own_call_would_in_one_run(run_module, tmp_path):
    app, other, blocked = tmp_path / 'app', tmp_path / 'other', tmp_path / 'blocked'
    make_history(app, 60)
    make_history(other, 30)
    before_blocked = make_history(blocked, 20, latest_verified=False)
    sets = [{'path': str(app), 'pattern': 'app-*.dump'}, {'path': str(other), 'pattern': 'app-*'},
            {'path': str(blocked)}, {'path': str(tmp_path / 'not-yet')}]
    check = run_module('backup_prune', {'sets': sets}, check=True)
    assert len(list(app.iterdir())) == 120 and len(list(other.iterdir())) == 60
    real = run_module('backup_prune', {'sets': sets})
    assert real.get('failed') is not True, real
    assert [s['pruned'] for s in real['sets']] == [s['pruned'] for s in check['sets']]
    assert [s.get('path') for s in real['sets']] == [s['path'] for s in sets]
    assert [s['pattern'] for s in real['sets']] == ['app-*.dump', 'app-*', '*', '*']
    # the same as one call per directory: a fresh history pruned alone gives the same kept set
    alone = tmp_path / 'alone'
    make_history(alone, 60)
    single = run_module('backup_prune', {'path': str(alone), 'pattern': 'app-*.dump'})
    assert [os.path.basename(k['artefact']) for k in real['sets'][0]['kept']] == \
        [os.path.basename(k['artefact']) for k in single['kept']]
    assert real['sets'][0]['changed'] and real['sets'][1]['changed']
    assert real['sets'][2]['changed'] is False and 'failed verification' in real['sets'][2]['blocked']
    assert sorted(p.name for p in blocked.iterdir()) == before_blocked
    assert real['sets'][3]['kept'] == [] and real['sets'][3]['pruned'] == []
    assert real['pruned'] == real['sets'][0]['pruned'] + real['sets'][1]['pruned']
    assert real['bytes_freed'] == sum(s['bytes_freed'] for s in real['sets']) == 100 * len(real['pruned'])
    again = run_module('backup_prune', {'sets': sets})
    assert again['changed'] is False and again['pruned'] == []


def test_sets_in_s3_and_sets_that_cannot_be_refused_clearly(run_module, s3_server, tmp_path):
    s3 = boto3.client('s3', endpoint_url=s3_server, region_name='us-east-1')
    s3.create_bucket(Bucket='prune-sets')
    for prefix in ('pg/app/', 'pg/globals/'):
        put_history(s3, 'prune-sets', f'{prefix}x-', 30)
    args = {'s3_bucket': 'prune-sets', 'endpoint_url': s3_server, 'region': 'us-east-1',
            'aws_access_key': 'testing', 'aws_secret_key': 'testing-secret-key',
            'sets': [{'s3_prefix': 'pg/app/', 'pattern': 'x-*'}, {'s3_prefix': 'pg/globals/', 'pattern': 'x-*'}]}
    real = run_module('backup_prune', args)
    assert real.get('failed') is not True, real
    assert [s['s3_prefix'] for s in real['sets']] == ['pg/app/', 'pg/globals/']
    for prefix, result in zip(('pg/app/', 'pg/globals/'), real['sets']):
        left = s3.list_objects_v2(Bucket='prune-sets', Prefix=prefix)['Contents']
        assert result['pruned'] and len(left) == 2 * len(result['kept'])
    refusals = [
        ({'sets': [{'path': str(tmp_path)}], 'pattern': 'x-*'}, 'sets cannot be combined with pattern'),
        ({'sets': []}, 'sets is empty'),
        ({'sets': [{'pattern': 'x-*'}]}, 'set 1 has no path'),
        ({'sets': [{'s3_prefix': 'pg/'}]}, 'set 1 has s3_prefix, which needs s3_bucket'),
        (dict(args, sets=[{'path': str(tmp_path)}]), 'set 1 has path: with s3_bucket, each set names an s3_prefix'),
    ]
    (tmp_path / 'file').write_text('x')
    refusals.append(({'sets': [{'path': str(tmp_path)}, {'path': str(tmp_path / 'file')}]}, 'not a directory'))
    for options, message in refusals:
        refused = run_module('backup_prune', options)
        assert refused.get('failed') is True and message in refused['msg'], (options, refused)
        assert 'testing-secret-key' not in json.dumps(refused)
