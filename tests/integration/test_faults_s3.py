"""Fault injection, S3: an endpoint that accepts TCP connections and never answers (a hung S3 or
a black-holing proxy). Every module that talks to S3 fails within its bounds (connect/read
timeout x attempts), says that the read timed out and where (scheme, host, port; bucket/key),
creates nothing, and never prints the keys. Issue 17 item 6.
"""

from __future__ import annotations

import socket
import subprocess
import threading

import psycopg
import pytest

SECRET = 'Hung-S3-secret-must-never-print-77'
ACCESS = 'AKIAHUNGENDPOINTKEY1'
BOUND = dict(s3_connect_timeout=3, s3_read_timeout=2, s3_retries=1)   # quick: 2 attempts x 2 s


class SilentServer:
    """Accepts every connection on 127.0.0.1, reads nothing, answers nothing."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.stopped = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopped:
            try:
                conn, _addr = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.stopped = True
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture()
def silent():
    server = SilentServer()
    yield server
    server.close()


def run_raw(run_module, module: str, args: dict, timeout: float) -> tuple[dict, str]:
    argv, _path = run_module.command(module, args)
    done = subprocess.run(argv, capture_output=True, text=True, env=run_module.env, timeout=timeout, check=False)
    return run_module.parse(done.stdout, done.stderr), done.stdout + done.stderr


def s3_args(server: SilentServer, **kw) -> dict:
    return dict(endpoint_url=f'http://127.0.0.1:{server.port}', region='us-east-1', aws_access_key=ACCESS,
                aws_secret_key=SECRET, **kw)


def assert_clear(result: dict, output: str, server: SilentServer, where: str) -> None:
    assert result.get('failed') is True, result
    assert 'Traceback' not in output
    text = result['msg'] + ' '.join(result.get('failures') or [])
    assert 'read timeout' in text and f'http://127.0.0.1:{server.port}' in text, text
    assert 'accepted the connection but sent nothing' in text and where in text, text
    assert SECRET not in output and ACCESS not in output
    assert server.accepted, 'the module never reached the listener'


def test_backup_verify_with_the_default_bounds_fails_clearly(run_module, silent):
    """The issue's case, with the defaults: (1 + 3 retries) x 5 s read timeout, then a clear failure
    (the subprocess bound below is only a guard against hanging forever)."""
    result, output = run_raw(run_module, 'backup_verify', s3_args(silent, s3_bucket='backups', s3_key='pg/app.dump'),
                             timeout=150)
    assert_clear(result, output, silent, 's3://backups/pg/app.dump')
    assert 's3_read_timeout 5s (4 attempt(s), s3_retries 3)' in result['msg']
    assert result['checks']['exists']['ok'] is False


def test_backup_verify_latest_in_says_what_timed_out(run_module, silent):
    result, output = run_raw(run_module, 'backup_verify', s3_args(silent, latest_in='s3://backups/pg/app/', **BOUND),
                             timeout=60)
    assert_clear(result, output, silent, 's3://backups/pg/app/')
    assert 's3_read_timeout 2s (2 attempt(s), s3_retries 1)' in result['msg']


def test_backup_prune_fails_clearly_and_deletes_nothing(run_module, silent):
    result, output = run_raw(run_module, 'backup_prune', s3_args(silent, s3_bucket='backups', s3_prefix='pg/app/',
                                                                 **BOUND), timeout=60)
    assert_clear(result, output, silent, 's3://backups/pg/app/')
    assert 'cannot list the backups' in result['msg']


def test_backup_restore_fails_clearly_and_creates_nothing(pg, run_module, silent, tmp_path):
    def names():
        with psycopg.connect(**pg.conninfo(), autocommit=True) as conn:
            return [row[0] for row in conn.execute('SELECT datname FROM pg_database ORDER BY 1').fetchall()]

    before = names()
    work = tmp_path / 'work'
    work.mkdir()
    for source, where in (({'s3_bucket': 'backups', 's3_key': 'pg/app/app.dump'}, 's3://backups/pg/app/app.dump'),
                          ({'latest_in': 's3://backups/pg/app/'}, 's3://backups/pg/app/')):
        result, output = run_raw(run_module, 'backup_restore', dict(
            pg.module_args(), database='app', target_database='app_from_hung_s3', tmp_dir=str(work),
            **s3_args(silent, **source, **BOUND)), timeout=60)
        assert_clear(result, output, silent, where)
        assert result['changed'] is False and names() == before and list(work.iterdir()) == []


@pytest.mark.parametrize('module, args, phrase', [
    ('backup_verify', {'s3_read_timeout': 0}, 's3_read_timeout must be positive'),
    ('backup_prune', {'s3_read_timeout': -5}, 's3_read_timeout must be positive'),
    ('backup_restore', {'s3_connect_timeout': 0}, 's3_connect_timeout must be positive'),
    ('backup_verify', {'s3_connect_timeout': 100000}, 's3_connect_timeout must be at most 300'),
    ('backup_prune', {'s3_read_timeout': 1e9}, 's3_read_timeout must be at most 3600'),
    ('backup_restore', {'s3_retries': -1}, 's3_retries must be between 0 and 10'),
    ('backup_verify', {'s3_retries': 1000}, 's3_retries must be between 0 and 10'),
])
def test_absurd_bounds_are_refused(run_module, silent, module, args, phrase):
    source = {'backup_verify': {'s3_bucket': 'b', 's3_key': 'k'},
              'backup_prune': {'s3_bucket': 'b'},
              'backup_restore': {'s3_bucket': 'b', 's3_key': 'k', 'database': 'app'}}[module]
    result, output = run_raw(run_module, module, s3_args(silent, **source, **args), timeout=60)
    assert result.get('failed') is True and phrase in result['msg'], result['msg']
    assert 'Traceback' not in output and SECRET not in output
    assert not silent.accepted                                        # refused before any connection


def test_disk_emergency_prune_keeps_local_copies_and_waits_once(run_module, silent, tmp_path):
    """uploaded_keep (the disk emergency) must check each S3 copy; with S3 hung, every local copy is
    kept, and the module waits once, not once per artefact."""
    import json  # pylint: disable=import-outside-toplevel
    backups = tmp_path / 'app'
    backups.mkdir()
    for day in range(1, 6):
        artefact = backups / f'app-2026110{day}.dump'
        artefact.write_bytes(b'x' * 10)
        (backups / f'{artefact.name}.json').write_text(json.dumps({
            'sha256': 'a' * 64, 'size': 10, 'format': 'custom', 'verified': True,
            'created_at': f'2026-11-0{day}T02:00:00Z', 'uploaded_to': f's3://backups/pg/app/{artefact.name}'}))
    result, output = run_raw(run_module, 'backup_prune', s3_args(silent, path=str(backups), uploaded_keep=1, **BOUND),
                             timeout=60)
    assert result.get('failed') is not True, result.get('msg')
    assert result['pruned'] == [] and len(list(backups.iterdir())) == 10
    unchecked = [k for k in result['kept'] if any('S3 copy not checked' in r for r in k['reasons'])]
    assert len(unchecked) == 4 and 'read timeout' in unchecked[0]['reasons'][0]
    assert len(silent.accepted) == 1 + BOUND['s3_retries']             # one bounded wait in all
    assert SECRET not in output and 'Traceback' not in output
