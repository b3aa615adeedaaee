"""backup_create against a real PostgreSQL: dumps with manifests, honest failures, archives."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tarfile

from psycopg import sql

from pg_helpers import PASSWORD, make_table


def test_dump_has_a_manifest_with_checksum_versions_and_exact_rows(pg, db, run_module, tmp_path):
    name, conn = db
    make_table(conn, 'public', 'orders', 1234)
    make_table(conn, 'sales', 'Audit Log', 77)
    dest = tmp_path / 'dumps'
    check = run_module('backup_create', dict(pg.module_args(name), dest_dir=str(dest)), check=True)
    assert check['changed'] is True and not dest.exists()
    result = run_module('backup_create', dict(pg.module_args(name), dest_dir=str(dest)))
    artefact = result['artefact']
    assert result.get('failed') is not True, result
    manifest = json.loads(open(artefact + '.json', encoding='utf-8').read())
    assert manifest == result['manifest']
    assert manifest['sha256'] == hashlib.sha256(open(artefact, 'rb').read()).hexdigest()
    assert manifest['size'] == os.path.getsize(artefact) and manifest['format'] == 'custom'
    assert manifest['database'] == name and manifest['server_version'].startswith('15')
    assert 'pg_dump (PostgreSQL) 15' in manifest['pg_dump_version'] and manifest['created_at'].endswith('Z')
    assert {'schema': 'sales', 'name': 'Audit Log', 'rows': 77} in manifest['tables']
    assert {'schema': 'public', 'name': 'orders', 'rows': 1234} in manifest['tables']
    listing = subprocess.run([f'{pg.bindir}/pg_restore', '--list', artefact], capture_output=True, text=True, check=True)
    assert 'TABLE DATA sales Audit Log' in listing.stdout
    assert [p.name for p in dest.iterdir() if p.name.startswith('.')] == []


def test_a_failed_dump_fails_and_leaves_nothing(pg, db, run_module, tmp_path):
    name, conn = db
    conn.execute(sql.SQL('CREATE ROLE app LOGIN PASSWORD {}').format(sql.Literal(PASSWORD)))
    try:
        wrong = 'Wr0ng-' + PASSWORD
        result = run_module('backup_create', dict(login_host='127.0.0.1', login_port=pg.port, login_user='app',
                                                  login_password=wrong, login_db=name, ssl_mode='disable',
                                                  dest_dir=str(tmp_path / 'dumps')))
        assert result['failed'] is True and 'password authentication failed' in result['msg']
        assert wrong not in json.dumps(result)
        # The role can connect but cannot read the table: pg_dump itself fails half-way.
        conn.execute('CREATE TABLE secret (id int)')
        denied = run_module('backup_create', dict(login_host='127.0.0.1', login_port=pg.port, login_user='app',
                                                  login_password=PASSWORD, login_db=name, ssl_mode='disable',
                                                  dest_dir=str(tmp_path / 'dumps'), row_counts='none'))
        assert denied['failed'] is True and 'pg_dump exited with' in denied['msg'] and 'permission denied' in denied['msg']
        assert PASSWORD not in json.dumps(denied)
    finally:
        conn.execute('DROP TABLE IF EXISTS secret')
        conn.execute('DROP ROLE app')
    left = list((tmp_path / 'dumps').iterdir()) if (tmp_path / 'dumps').exists() else []
    assert left == [], f'a failed backup left {left}'


def test_never_overwrites_a_backup(pg, db, run_module, tmp_path):
    name, _conn = db
    args = dict(pg.module_args(name), dest_dir=str(tmp_path), name='fixed')
    assert run_module('backup_create', args).get('failed') is not True
    again = run_module('backup_create', args)
    assert again['failed'] is True and 'never overwritten' in again['msg']


def test_globals_and_paths(pg, run_module, tmp_path):
    glob_result = run_module('backup_create', dict(pg.module_args('postgres'), kind='globals', dest_dir=str(tmp_path)))
    assert 'CREATE ROLE postgres' in open(glob_result['artefact'], encoding='utf-8').read()
    config = tmp_path / 'etc-app'
    config.mkdir()
    (config / 'app.conf').write_text('port = 8080\n')
    os.symlink('/etc/shadow', config / 'link')
    archived = run_module('backup_create', dict(kind='paths', paths=[str(config)], dest_dir=str(tmp_path / 'files')))
    with tarfile.open(archived['artefact']) as archive:
        members = {m.name: m for m in archive.getmembers()}
    inner = str(config).lstrip('/')
    assert f'{inner}/app.conf' in members and members[f'{inner}/link'].issym()
    missing = run_module('backup_create', dict(kind='paths', paths=['/nonexistent/x'], dest_dir=str(tmp_path / 'f2')))
    assert missing['failed'] is True and 'paths not found' in missing['msg']
