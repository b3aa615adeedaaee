"""Fault injection, filesystem half: a full disk at every write, PostgreSQL killed in the middle of
a dump, and another local user (nobody) planting symlinks, hard links and fake backups in the
directories the modules write to and clean.

Every case asserts a clear message, nothing lost, nothing written outside where it should be,
nothing half-made left and no secret (the test password) in the output. Real parts only: a real
tmpfs (mount needs root), a real PostgreSQL, real users.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from pg_helpers import PASSWORD, make_table

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'scripts'))
from pgsandbox import Cluster, bindir as pg_bindir  # noqa: E402  pylint: disable=wrong-import-position

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason='needs root: mounts a tmpfs and acts as the user nobody')
DAY = 86400


# ---- helpers -----------------------------------------------------------------------------------
def as_nobody(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(['runuser', '-u', 'nobody', '--', *argv], capture_output=True, text=True, check=False)


def plant(*argv: str) -> None:
    done = as_nobody(*argv)
    assert done.returncode == 0, f'nobody could not plant: {argv}: {done.stderr}'


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_secret(result: dict) -> None:
    assert PASSWORD not in json.dumps(result), 'the password leaked into the output'


def mode_of(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def tcp_args(pg, dbname: str) -> dict:
    """Connection over TCP with the password, so that a leak of it would show."""
    return dict(login_host='127.0.0.1', login_port=pg.port, login_user='postgres', login_password=PASSWORD,
                login_db=dbname, ssl_mode='disable')


@pytest.fixture()
def shared():
    """A directory every user can reach (pytest's tmp_path is private to root)."""
    base = Path(tempfile.mkdtemp(prefix='runbook-faults-', dir='/tmp'))
    base.chmod(0o755)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def shared_dir(parent: Path, name: str, mode: int) -> Path:
    path = parent / name
    path.mkdir()
    path.chmod(mode)
    return path


@pytest.fixture()
def tmpfs(shared):
    """A 512 KiB tmpfs (a small disk that fills up), unmounted afterwards."""
    if not ROOT:
        pytest.skip('needs root to mount a tmpfs')
    mount = shared / 'small-disk'
    mount.mkdir()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=512k,mode=0755', 'tmpfs', str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f'cannot mount a tmpfs here: {done.stderr.strip()}')
    try:
        yield mount
    finally:
        subprocess.run(['umount', '-l', str(mount)], check=False)


def fill_leaving(mount: Path, pages: int) -> None:
    """Fill the filesystem so that exactly `pages` pages stay free."""
    filler = mount / 'filler'
    if filler.exists():
        filler.unlink()
    info = os.statvfs(mount)
    size = info.f_bavail * info.f_frsize - pages * info.f_frsize
    with open(filler, 'wb') as out:
        out.write(b'\0' * max(size, 0))
    assert os.statvfs(mount).f_bavail == pages


# ---- disk full at every write ------------------------------------------------------------------
def sweep_disk_full(run_module, mount: Path, args: dict, most_pages: int = 12) -> list[str]:
    """Run backup_create with 0, 1, 2... free pages until it succeeds. Every failure must be
    clean; returns the failure messages."""
    dest = mount / 'dest'
    dest.mkdir(exist_ok=True)
    failures = []
    for pages in range(most_pages + 1):
        fill_leaving(mount, pages)
        result = run_module('backup_create', dict(args, dest_dir=str(dest), name=f'b{pages}'))
        no_secret(result)
        assert 'Traceback' not in result['_stderr'] and 'exception' not in result, result
        if result.get('failed'):
            assert result['changed'] is False, result
            assert 'ENOSPC' in result['msg'] and 'the filesystem is full' in result['msg'], result['msg']
            assert 'nothing kept' in result['msg'] and str(dest) in result['msg'], result['msg']
            assert listing(dest) == [], f'a failed backup left {listing(dest)} ({result["msg"]})'
            failures.append(result['msg'])
            continue
        artefact = Path(result['artefact'])
        if 'pg_bin' in args or args.get('kind', 'database') != 'paths':
            readback = subprocess.run([f'{pg_bindir()}/pg_restore', '-f', os.devnull, str(artefact)],
                                      capture_output=True, text=True, check=False)
            assert args.get('kind') == 'globals' or readback.returncode == 0, f'a truncated dump passed: {readback.stderr}'
        manifest = json.loads(Path(f'{artefact}.json').read_text())
        assert manifest['sha256'] == digest(artefact) and manifest['size'] == artefact.stat().st_size
        assert listing(dest) == sorted([artefact.name, f'{artefact.name}.json'])
        return failures
    raise AssertionError(f'never succeeded with up to {most_pages} free pages: {failures[-1:]}')


@needs_root
def test_disk_full_at_every_write_of_a_database_dump(pg, db, run_module, tmpfs):
    name, conn = db
    make_table(conn, 'public', 'orders', 300)
    failures = sweep_disk_full(run_module, tmpfs, tcp_args(pg, name))
    assert any('.dump.json:' in msg for msg in failures), failures   # the manifest's write failed once
    assert any('pg_dump' in msg for msg in failures), failures      # and the dump's


@needs_root
def test_disk_full_at_every_write_of_globals_and_paths(pg, run_module, tmpfs, shared):
    failures = sweep_disk_full(run_module, tmpfs, dict(tcp_args(pg, 'postgres'), kind='globals'))
    assert any('.sql.json:' in msg for msg in failures) and any('.sql:' in msg for msg in failures), failures
    (tmpfs / 'dest').rename(tmpfs / 'dest-globals')
    config = shared / 'config'
    config.mkdir()
    (config / 'model.bin').write_bytes(os.urandom(6000))  # does not compress: 2 pages of archive
    failures = sweep_disk_full(run_module, tmpfs, dict(kind='paths', paths=[str(config)]))
    assert any('.tar.gz.json:' in msg for msg in failures) and any('.tar.gz:' in msg for msg in failures), failures


@needs_root
def test_disk_full_while_compressing_keeps_the_original(run_module, tmpfs):
    logs = tmpfs / 'logs'
    logs.mkdir()
    big = logs / 'app.log.1'
    big.write_bytes(os.urandom(200 * 1024))  # random: the .gz is as big as the file
    old = time.time() - 3 * DAY
    os.utime(big, (old, old))
    before = digest(big)
    fill_leaving(tmpfs, 8)
    result = run_module('disk_cleanup', dict(path=str(logs), action='compress', allowed_roots=[str(tmpfs)]))
    assert result['failed'] is True and result['changed'] is False, result
    assert 'compression failed, the original is kept' in result['msg'] and 'ENOSPC' in result['msg'], result['msg']
    assert listing(logs) == ['app.log.1'] and digest(big) == before  # no .gz, no temporary file, nothing lost
    assert result['bytes_freed'] == 0 and result['files_count'] == 0


# ---- PostgreSQL killed in the middle of a dump -------------------------------------------------
@needs_root
def test_server_killed_in_the_middle_of_a_dump(run_module, shared, tmp_path):
    cluster = Cluster(shared / 'dying', password=PASSWORD).start()
    locker = None
    try:
        with psycopg.connect(**cluster.conninfo(), autocommit=True) as conn:
            make_table(conn, 'public', 'orders', 1000)
        # A session holding an exclusive lock makes pg_dump wait: the server dies while it does.
        locker = psycopg.connect(**cluster.conninfo())
        locker.execute('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE')
        dest = tmp_path / 'dumps'
        proc = run_module.start('backup_create', dict(tcp_args(cluster, 'postgres'), dest_dir=str(dest),
                                                      row_counts='none'))
        deadline = time.monotonic() + 90
        with psycopg.connect(**cluster.conninfo(), autocommit=True) as watch:
            while time.monotonic() < deadline and proc.poll() is None:
                waiting = watch.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' "
                                        "AND wait_event_type = 'Lock'").fetchone()[0]
                if waiting:
                    break
                time.sleep(0.2)
            else:
                pytest.fail(f'pg_dump never waited on the lock: {proc.communicate(timeout=60)}')
        subprocess.run(['runuser', '-u', 'postgres', '--', f'{cluster.bindir}/pg_ctl', '-D', str(cluster.data),
                        '-m', 'immediate', 'stop'], capture_output=True, check=True)
        stdout, stderr = proc.communicate(timeout=120)
        result = run_module.parse(stdout, stderr)
        assert result['failed'] is True and result['changed'] is False, result
        assert 'database backup failed, nothing kept: pg_dump exited with' in result['msg'], result['msg']
        assert listing(dest) == [] and not dest.exists(), listing(dest)  # the directory it made is gone too
        no_secret(result)
    finally:
        if locker is not None:
            try:
                locker.close()
            except psycopg.Error:
                pass
        cluster.destroy()


# ---- a hostile local user ----------------------------------------------------------------------
@needs_root
@pytest.mark.parametrize('dest_mode', [0o1777, 0o777], ids=['sticky', 'world-writable'])
def test_backup_create_follows_no_planted_work_name(pg, db, run_module, shared, dest_mode):
    name, conn = db
    make_table(conn, 'public', 'orders', 50)
    dest = shared_dir(shared, 'dest', dest_mode)
    outside = shared_dir(shared, 'outside', 0o755)
    victim = shared / 'victim.conf'
    victim.write_text('root-owned, must not change\n')
    for planted, target in (('.snap.dir.partial', outside), ('.snap2.dump.partial', victim),
                            ('.globals-x.sql.partial', victim), ('.snap2.dump.json.tmp', victim)):
        plant('ln', '-s', str(target), str(dest / planted))
    directory = run_module('backup_create', dict(tcp_args(pg, name), dest_dir=str(dest), name='snap', format='directory'))
    custom = run_module('backup_create', dict(tcp_args(pg, name), dest_dir=str(dest), name='snap2'))
    globals_ = run_module('backup_create', dict(tcp_args(pg, name), kind='globals', dest_dir=str(dest), name='globals-x'))
    for result in (directory, custom, globals_):
        assert result.get('failed') is not True, result.get('msg')
        no_secret(result)
        artefact = Path(result['artefact'])
        assert not artefact.is_symlink() and os.lstat(artefact).st_uid == 0
        assert mode_of(artefact) in (0o600, 0o700) and mode_of(Path(f'{artefact}.json')) == 0o600
    assert listing(outside) == [], 'the dump was written through a planted symlink'
    assert victim.read_text() == 'root-owned, must not change\n'
    assert (dest / 'snap.dir' / 'toc.dat').is_file()
    assert [n for n in listing(dest) if n.startswith('.') and not (dest / n).is_symlink()] == []  # no work dir left


@needs_root
def test_backup_create_refuses_a_dest_dir_planted_as_a_symlink(pg, db, run_module, shared):
    name, _conn = db
    public = shared_dir(shared, 'public', 0o777)
    outside = shared_dir(shared, 'outside', 0o755)
    plant('ln', '-s', str(outside), str(public / 'backups'))
    check = run_module('backup_create', dict(tcp_args(pg, name), dest_dir=str(public / 'backups' / 'app')), check=True)
    assert check['failed'] is True and 'symlink owned by uid 65534' in check['msg'], check  # check mode tells too
    result = run_module('backup_create', dict(tcp_args(pg, name), dest_dir=str(public / 'backups' / 'app')))
    assert result['failed'] is True and result['changed'] is False
    assert 'symlink owned by uid 65534' in result['msg'] and 'refusing to follow' in result['msg'], result['msg']
    assert listing(outside) == []
    no_secret(result)


@needs_root
def test_backups_are_private_whatever_the_umask(pg, db, run_module, shared):
    name, conn = db
    make_table(conn, 'public', 'orders', 20)
    config = shared_dir(shared, 'config', 0o755)
    (config / 'app.conf').write_text('secret = 1\n')
    previous = os.umask(0o022)
    try:
        results = [run_module('backup_create', dict(tcp_args(pg, name), dest_dir=str(shared / 'b' / 'db'))),
                   run_module('backup_create', dict(tcp_args(pg, name), dest_dir=str(shared / 'b' / 'dir'),
                                                    format='directory')),
                   run_module('backup_create', dict(tcp_args(pg, name), kind='globals', dest_dir=str(shared / 'b' / 'g'))),
                   run_module('backup_create', dict(kind='paths', paths=[str(config)], dest_dir=str(shared / 'b' / 'p')))]
        group = run_module('backup_create', dict(tcp_args(pg, name), kind='globals', dest_dir=str(shared / 'g2'),
                                                 mode='0640', directory_mode='0750'))
    finally:
        os.umask(previous)
    for result in results:
        assert result.get('failed') is not True and result['changed'] is True, result.get('msg')
        artefact = Path(result['artefact'])
        for path in [artefact, Path(f'{artefact}.json'), *(artefact.rglob('*') if artefact.is_dir() else [])]:
            assert mode_of(path) == (0o700 if path.is_dir() else 0o600), (path, oct(mode_of(path)))
            denied = as_nobody('cat', str(path / 'toc.dat' if path.is_dir() else path))
            assert denied.returncode != 0 and 'Permission denied' in denied.stderr, path
        assert mode_of(artefact.parent) == 0o700 and mode_of(artefact.parent.parent) == 0o700  # created by it
    artefact = Path(group['artefact'])
    assert mode_of(artefact) == 0o640 and mode_of(Path(f'{artefact}.json')) == 0o640
    assert mode_of(artefact.parent) == 0o750
    bad = run_module('backup_create', dict(kind='paths', paths=[str(config)], dest_dir=str(shared / 'x'), mode='u+rw'))
    assert bad['failed'] is True and "mode must be an octal mode such as '0600'" in bad['msg'] and not (shared / 'x').exists()


def test_names_reach_the_client_tools_literally(pg, db, run_module, tmp_path):
    name, _conn = db
    literal = 'lit-$HOME-${USER}-~x'
    for kind, suffix in (('database', '.dump'), ('globals', '.sql')):
        result = run_module('backup_create', dict(tcp_args(pg, name), kind=kind, dest_dir=str(tmp_path / 'd'), name=literal))
        assert result.get('failed') is not True, result.get('msg')
        assert result['artefact'] == str(tmp_path / 'd' / f'{literal}{suffix}')
        assert (tmp_path / 'd' / f'{literal}{suffix}').is_file() and (tmp_path / 'd' / f'{literal}{suffix}.json').is_file()
    for bad in ('../escape', '.hidden'):
        refused = run_module('backup_create', dict(tcp_args(pg, name), dest_dir=str(tmp_path / 'n'), name=bad))
        assert refused['failed'] is True and refused['changed'] is False, refused
        assert 'plain file name' in refused['msg'] or 'cannot start with a dot' in refused['msg'], refused['msg']
    assert not (tmp_path / 'escape.dump').exists() and not (tmp_path / 'n').exists()


@needs_root
def test_safety_dump_of_a_restore_is_private(pg, db, run_module, shared, tmp_path):
    name, conn = db
    make_table(conn, 'public', 'orders', 30)
    backup = run_module('backup_create', dict(tcp_args(pg, name), dest_dir=str(tmp_path / 'backups')))
    assert backup.get('failed') is not True, backup.get('msg')
    previous = os.umask(0o022)
    try:
        result = run_module('backup_restore', dict(tcp_args(pg, 'postgres'), database=name, path=backup['artefact'],
                                                   force=True, require_verified=False,
                                                   safety_dump_dir=str(shared / 'safety' / name)))
    finally:
        os.umask(previous)
    assert result.get('failed') is not True, result.get('msg')
    no_secret(result)
    safety = Path(result['safety_dump']['artefact'])
    assert mode_of(safety) == 0o600 and mode_of(Path(f'{safety}.json')) == 0o600
    assert mode_of(safety.parent) == 0o700 and mode_of(safety.parent.parent) == 0o700
    assert as_nobody('cat', str(safety)).returncode != 0


def old(path: Path, days: float = 10) -> Path:
    stamp = time.time() - days * DAY
    os.utime(path, (stamp, stamp), follow_symlinks=False)
    return path


@needs_root
@pytest.mark.parametrize('action', ['truncate', 'compress', 'delete'])
def test_disk_cleanup_never_acts_through_planted_links(run_module, shared, action):
    area = shared_dir(shared, 'area', 0o1777)
    outside = shared_dir(shared, 'etc-like', 0o755)
    victim = outside / 'passwd'
    victim.write_text('root:x:0:0::/root:/bin/bash\n' * 50)
    linked = outside / 'shadow'
    linked.write_text('root:$y$secret-hash:19000::::::\n' * 50)
    before = {p: digest(p) for p in (victim, linked)}
    plant('ln', '-s', str(victim), str(area / 'app.log'))        # a symlink planted by nobody
    os.link(linked, area / 'rotated.log.1')                       # a hard link to a file outside
    own = area / 'nobody.log.1'
    plant('sh', '-c', f'head -c 4000 /dev/zero > {own}')           # a plain old file: fair game
    for path in (area / 'app.log', area / 'rotated.log.1', own):
        old(path)
    result = run_module('disk_cleanup', dict(path=str(area), action=action, allowed_roots=[str(area)]))
    assert result.get('failed') is not True, result.get('msg')
    assert {p: digest(p) for p in (victim, linked)} == before, 'a file outside the allowed area changed'
    assert os.path.islink(area / 'app.log') and result['skipped_files']['symlink'] == 1
    hard = str(area / 'rotated.log.1')
    assert result['hardlinked_files'] == [hard]
    if action == 'delete':
        # The name goes, the data stays (another name holds it): its bytes are not freed.
        assert not os.path.lexists(hard) and linked.stat().st_nlink == 1
        assert result['bytes_freed'] == 4000 and result['files_count'] == 2
    else:
        assert os.path.exists(hard) and result['skipped_files']['hardlinked'] == 1
        assert result['files_count'] == 1 and str(own) in result['files'][0]


@needs_root
def test_disk_cleanup_check_mode_counts_no_bytes_for_a_hard_link(run_module, shared):
    area = shared_dir(shared, 'area', 0o755)
    outside = shared_dir(shared, 'keep', 0o755)
    (outside / 'data').write_bytes(b'd' * 8000)
    os.link(outside / 'data', area / 'data.old')
    (area / 'plain.old').write_bytes(b'p' * 3000)
    both = area / 'twice.old'
    both.write_bytes(b't' * 5000)
    os.link(both, area / 'twice-again.old')  # both names inside: deleting both frees the data
    for path in area.iterdir():
        old(path)
    check = run_module('disk_cleanup', dict(path=str(area), allowed_roots=[str(area)]), check=True)
    real = run_module('disk_cleanup', dict(path=str(area), allowed_roots=[str(area)]))
    assert check['bytes_freed'] == real['bytes_freed'] == 3000 + 5000, (check['bytes_freed'], real['bytes_freed'])
    assert (outside / 'data').read_bytes() == b'd' * 8000


@needs_root
def test_backup_prune_ignores_a_planted_newer_backup(run_module, shared):
    store = shared_dir(shared, 'backups', 0o1777)
    now = datetime.datetime.now(datetime.timezone.utc)
    real = []
    for days in (3, 2, 1):
        created = now - datetime.timedelta(days=days)
        artefact = store / f'app-{created:%Y%m%d}.dump'
        artefact.write_bytes(b'PGDMP' + b'x' * 100)
        Path(f'{artefact}.json').write_text(json.dumps({'created_at': created.strftime('%Y-%m-%dT%H:%M:%SZ'),
                                                        'verified': True, 'sha256': 'n/a'}))
        real.append(artefact)
    fake = store / f'app-{now:%Y%m%d}.dump'
    plant('sh', '-c', f'echo fake > {fake}')
    plant('sh', '-c', "echo '{\"created_at\": \"%s\", \"verified\": true}' > %s.json"
          % ((now + datetime.timedelta(hours=1)).strftime('%Y-%m-%dT%H:%M:%SZ'), fake))
    victim = shared / 'victim.json'
    victim.write_text('{"verified": true}')
    plant('ln', '-s', str(victim), str(store / 'app-20000101.dump.json'))
    result = run_module('backup_prune', dict(path=str(store), pattern='app-*.dump', daily=1, weekly=0, monthly=0))
    assert result.get('failed') is not True, result.get('msg')
    assert real[-1].exists() and Path(f'{real[-1]}.json').exists(), 'the newest real backup was pruned'
    assert result['kept'][0]['artefact'] == str(real[-1])
    assert not real[0].exists() and not real[1].exists()
    assert fake.exists() and any(str(fake) in line for line in result['ignored'])
    assert victim.read_text() == '{"verified": true}'
