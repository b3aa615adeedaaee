"""roles/backup with S3 (moto on 127.0.0.1): dumps, the globals dump and the paths archive are
verified, uploaded with their verified manifests, and pruned with the same 7/4/12 retention, on
disk and in S3. Also: backup_verify refuses a paths archive whose members are unsafe to extract.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import secrets
import subprocess
import sys
import tarfile
from pathlib import Path

import boto3
import pytest

from pg_helpers import COLLECTIONS, REPO

SECRET = 'Role-S3-secret-never-printed-42'


def old_manifest(kind: str, fmt: str, days: int, sha: str, size: int) -> dict:
    created = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
    return {'kind': kind, 'format': fmt, 'sha256': sha, 'size': size, 'verified': True,
            'created_at': created.strftime('%Y-%m-%dT%H:%M:%SZ')}


def run_playbook(tmp_path: Path, hostvars: dict, playbook: str = 'backup.yml') -> subprocess.CompletedProcess:
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'databases': {'hosts': {'backuphost': dict(
        ansible_connection='local', ansible_python_interpreter=sys.executable, **hostvars)}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    return subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', str(inventory),
                           str(REPO / 'playbooks' / playbook)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def test_role_verifies_uploads_and_prunes_dumps_globals_and_paths(pg, db, run_module, tmp_path, s3_server):
    name, conn = db
    conn.execute('CREATE TABLE t (id int PRIMARY KEY)')
    conn.execute('INSERT INTO t SELECT generate_series(1, 50)')
    client = boto3.client('s3', endpoint_url=s3_server, region_name='us-east-1', aws_access_key_id='testing',
                          aws_secret_access_key='testing')
    bucket = f'role-{secrets.token_hex(4)}'
    client.create_bucket(Bucket=bucket)
    prefix = 'pg/backuphost/'
    config = tmp_path / 'etc' / 'app'
    config.mkdir(parents=True)
    (config / 'app.conf').write_text('listen = 127.0.0.1\n')
    (config / 'current').symlink_to('app.conf')
    backups = tmp_path / 'backups'
    # Older verified paths archives and globals dumps, one a month, on disk and in S3: 7 daily, 4 weekly,
    # 12 monthly keep the newest ones; those older than 12 months of backups go.
    (backups / 'files').mkdir(parents=True)
    (backups / 'globals').mkdir(parents=True)
    for days in [31 * k for k in range(1, 16)]:
        for folder, base, kind, fmt in (('files', f'paths-old{days:03d}.tar.gz', 'paths', 'tar'),
                                        ('globals', f'globals-old{days:03d}.sql', 'globals', 'plain')):
            body = secrets.token_bytes(64)
            manifest = old_manifest(kind, fmt, days, 'a' * 64, len(body))
            (backups / folder / base).write_bytes(body)
            (backups / folder / f'{base}.json').write_text(json.dumps(manifest))
            client.put_object(Bucket=bucket, Key=f'{prefix}{folder}/{base}', Body=body)
            client.put_object(Bucket=bucket, Key=f'{prefix}{folder}/{base}.json', Body=json.dumps(manifest).encode())

    done = run_playbook(tmp_path, dict(
        runbook_pg_login_unix_socket=str(pg.run), runbook_pg_login_port=pg.port, runbook_pg_login_user='postgres',
        backup_databases=[name], backup_dir=str(backups), backup_paths=[str(config)],
        backup_verify_restore=False, backup_s3_bucket=bucket, backup_s3_prefix=prefix,
        backup_s3_endpoint_url=s3_server, backup_s3_access_key='testing', backup_s3_secret_key=SECRET,
        backup_s3_encryption_mode='', runbook_breaker_state_dir=str(tmp_path / 'breakers'),
        maintenance_report_dir=str(tmp_path / 'reports')))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert SECRET not in out

    keys = sorted(o['Key'] for o in client.list_objects_v2(Bucket=bucket)['Contents'])
    for folder, start in ((name, f'{name}-'), ('globals', 'globals-'), ('files', 'paths-')):
        mine = [k for k in keys if k.startswith(f'{prefix}{folder}/{start}') and '-old' not in k]
        artefacts = [k for k in mine if not k.endswith('.json')]
        assert len(artefacts) == 1 and f'{artefacts[0]}.json' in mine, (folder, keys)
        manifest = json.loads(client.get_object(Bucket=bucket, Key=f'{artefacts[0]}.json')['Body'].read())
        assert manifest['verified'] is True, manifest                 # the uploaded manifest is the verified one
        head = client.head_object(Bucket=bucket, Key=artefacts[0])
        assert head['Metadata']['sha256'] == manifest['sha256'] and head['ContentLength'] == manifest['size']
        if folder == 'files':
            paths_key = artefacts[0]
            assert manifest['kind'] == 'paths'
            assert 'every member name safe' in manifest['verification']['format']['detail']
    # Retention applied to the globals dumps and the paths archives too, on disk and in S3.
    for folder, base in (('files', 'paths-old{:03d}.tar.gz'), ('globals', 'globals-old{:03d}.sql')):
        local = {p.name for p in (backups / folder).iterdir()}
        for k in (1, 6):                                               # daily: kept
            assert base.format(31 * k) in local and f'{prefix}{folder}/{base.format(31 * k)}' in keys
        for k in (14, 15):                                             # beyond 12 months: pruned
            assert base.format(31 * k) not in local and f'{base.format(31 * k)}.json' not in local
            assert f'{prefix}{folder}/{base.format(31 * k)}' not in keys
            assert f'{prefix}{folder}/{base.format(31 * k)}.json' not in keys

    # The uploaded paths archive verifies from S3 on its own (as the recovery of a lost host does).
    result = run_module('backup_verify', dict(endpoint_url=s3_server, region='us-east-1', aws_access_key='testing',
                                              aws_secret_key=SECRET, s3_bucket=bucket, s3_key=paths_key))
    assert result['verified'] is True, result['msg']


def tar_with(tmp_path: Path, members: list[tarfile.TarInfo]) -> Path:
    path = tmp_path / 'paths-evil.tar.gz'
    with tarfile.open(path, 'w:gz') as archive:
        good = tarfile.TarInfo('etc/app/app.conf')
        good.size = 3
        archive.addfile(good, io.BytesIO(b'ok\n'))
        for member in members:
            archive.addfile(member, io.BytesIO(b'x' * member.size) if member.isfile() else None)
    return path


@pytest.mark.parametrize('kind', ['dotdot', 'absolute', 'device', 'fifo', 'hardlink'])
def test_paths_archive_with_an_unsafe_member_fails_format(run_module, tmp_path, kind):
    member = tarfile.TarInfo({'dotdot': 'etc/../../evil', 'absolute': '/etc/cron.d/evil'}.get(kind, 'etc/x'))
    if kind in ('dotdot', 'absolute'):
        member.size = 1
    elif kind == 'device':
        member.type, member.devmajor, member.devminor = tarfile.CHRTYPE, 1, 3
    elif kind == 'fifo':
        member.type = tarfile.FIFOTYPE
    else:
        member.type, member.linkname = tarfile.LNKTYPE, '../../etc/shadow'
    archive = tar_with(tmp_path, [member])
    manifest = {'kind': 'paths', 'format': 'tar', 'created_at': datetime.datetime.now(
        datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}
    manifest['sha256'] = hashlib.sha256(archive.read_bytes()).hexdigest()
    manifest['size'] = archive.stat().st_size
    Path(f'{archive}.json').write_text(json.dumps(manifest))
    result = run_module('backup_verify', {'path': str(archive), 'checks': ['exists', 'checksum', 'format']})
    assert result['failed'] is True and result['checks']['checksum']['ok'] is True
    detail = result['checks']['format']['detail']
    assert 'unsafe to extract' in detail, detail
    assert {'dotdot': 'a ".." component', 'absolute': 'absolute name', 'device': 'a device or FIFO',
            'fifo': 'a device or FIFO', 'hardlink': 'a hard link'}[kind] in detail
