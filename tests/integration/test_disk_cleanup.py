"""disk_cleanup on a real tree: safety (symlinks, open files, refused paths), selection, check == real."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

DAY = 86400


def make_file(path: Path, size: int, age_days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'x' * size)
    stamp = time.time() - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture()
def tree(tmp_path):
    """/tmp/.../logs with old and new files, a symlink to precious old files, nested dirs."""
    root = tmp_path / 'logs'
    precious = tmp_path / 'precious'
    files = {
        'old1': make_file(root / 'app.log.1', 1000, 10),
        'old2': make_file(root / 'app.log.2', 2000, 20),
        'old_nested': make_file(root / 'sub' / 'worker.log.1', 3000, 9),
        'new': make_file(root / 'app.log', 500, 0.1),
        'old_keep': make_file(root / 'keep' / 'important.log', 4000, 30),
        'old_txt': make_file(root / 'notes.txt', 700, 15),
        'precious': make_file(precious / 'data.log', 5000, 40),
    }
    os.symlink(precious, root / 'link_to_precious')
    os.symlink(precious / 'data.log', root / 'file_link.log')
    return root, files


def run_cleanup(run_module, check=False, **kw):
    return run_module('disk_cleanup', kw, check=check)


def test_check_mode_lists_exactly_what_the_real_run_deletes(run_module, tree):
    root, files = tree
    options = dict(path=str(root), patterns=['*.log*'], excludes=['keep/'], age='7d')
    check = run_cleanup(run_module, check=True, **options)
    assert all(f.exists() for f in files.values()), 'check mode deleted something'
    expected = sorted(str(files[k]) for k in ('old1', 'old2', 'old_nested'))
    assert sorted(check['files']) == expected, check
    assert check['bytes_freed'] == 6000 and check['changed'] is True

    real = run_cleanup(run_module, **options)
    assert real['files'] == check['files']
    assert real['bytes_freed'] == 6000 == sum(len(b'x') * s for s in (1000, 2000, 3000))
    assert not any(files[k].exists() for k in ('old1', 'old2', 'old_nested'))
    for survivor in ('new', 'old_keep', 'old_txt', 'precious'):
        assert files[survivor].exists(), survivor
    assert real['skipped_files']['symlink'] == 2 and real['skipped_files']['too_new'] == 1
    again = run_cleanup(run_module, **options)
    assert again['changed'] is False and again['files'] == []


def test_open_file_is_not_deleted_but_can_be_truncated(run_module, tmp_path):
    root = tmp_path / 'logs'
    held = make_file(root / 'held.log', 8000, 10)
    loose = make_file(root / 'loose.log', 100, 10)
    holder = subprocess.Popen([sys.executable, '-c', 'import sys, time; f = open(sys.argv[1]); time.sleep(60)',
                               str(held)])
    try:
        time.sleep(0.5)  # let it open the file
        result = run_cleanup(run_module, path=str(root), age='1d')
        assert held.exists() and not loose.exists()
        assert result['skipped_files']['open'] == 1 and result['open_files'] == [str(held)]
        truncated = run_cleanup(run_module, path=str(root), age='1d', action='truncate')
        assert held.exists() and held.stat().st_size == 0
        assert truncated['bytes_freed'] == 8000
    finally:
        holder.kill()
        holder.wait()


def test_keep_newest_per_directory(run_module, tmp_path):
    root = tmp_path / 'backups'
    for i in range(5):
        make_file(root / 'a' / f'dump.{i}', 10, 10 + i)
        make_file(root / 'b' / f'dump.{i}', 10, 10 + i)
    result = run_cleanup(run_module, path=str(root), keep_newest=2)
    left = sorted(p.name for p in (root / 'a').iterdir())
    assert left == ['dump.0', 'dump.1'] and sorted(p.name for p in (root / 'b').iterdir()) == left
    assert result['files_count'] == 6 and result['skipped_files']['kept_newest'] == 4


def test_compress_keeps_mode_and_mtime(run_module, tmp_path):
    root = tmp_path / 'logs'
    log = make_file(root / 'big.log', 100_000, 3)
    os.chmod(log, 0o640)
    mtime = log.stat().st_mtime
    result = run_cleanup(run_module, path=str(root), age='1d', action='compress')
    packed = root / 'big.log.gz'
    assert not log.exists() and packed.exists()
    assert oct(packed.stat().st_mode & 0o777) == '0o640'
    assert abs(packed.stat().st_mtime - mtime) < 1
    assert gzip.decompress(packed.read_bytes()) == b'x' * 100_000
    assert result['bytes_freed'] == 100_000 - packed.stat().st_size
    assert run_cleanup(run_module, path=str(root), age='1d', action='compress')['changed'] is False


def test_target_stops_as_soon_as_it_is_met(run_module, tmp_path):
    root = tmp_path / 'logs'
    for i in range(5):
        make_file(root / f'f{i}.log', 1000, 10 + i)
    # A target the filesystem already meets: nothing is removed.
    met = run_cleanup(run_module, path=str(root), target_free_bytes='1')
    assert met['files'] == [] and met['target_met'] is True
    # An unreachable target: everything matching goes, oldest first, and the target is not met.
    unmet = run_cleanup(run_module, path=str(root), target_free_percent=100, check=True)
    assert [Path(f).name for f in unmet['files']] == ['f4.log', 'f3.log', 'f2.log', 'f1.log', 'f0.log']
    assert unmet['target_met'] is False


@pytest.mark.parametrize('path, message', [
    ('/', 'refusing to clean /'),
    ('/etc', 'inside the system tree /etc'),
    ('/usr/share', 'inside the system tree /usr'),
    ('/var/lib/postgresql', 'not inside allowed_roots'),
    ('relative/dir', 'path must be absolute'),
])
def test_refused_paths_fail_clearly(run_module, path, message):
    result = run_cleanup(run_module, path=path)
    assert result['failed'] is True and message in result['msg'], result['msg']
    assert 'Traceback' not in result['_stderr']


def test_a_symlinked_path_is_judged_by_where_it_leads(run_module, tmp_path):
    link = tmp_path / 'innocent'
    os.symlink('/etc', link)
    result = run_cleanup(run_module, path=str(link))
    assert result['failed'] is True and 'inside the system tree /etc' in result['msg']
    allowed_elsewhere = run_cleanup(run_module, path=str(tmp_path), allowed_roots=['/srv/nothing'])
    assert allowed_elsewhere['failed'] is True and 'not inside allowed_roots' in allowed_elsewhere['msg']


@pytest.mark.parametrize('bad, message', [
    (dict(age='a week'), 'age: not a duration'),
    (dict(min_size='huge'), 'min_size: not a size'),
    (dict(target_free_percent=150), 'target_free_percent must be in'),
    (dict(keep_newest=-1), 'keep_newest cannot be negative'),
    (dict(action='shred'), 'value of action must be one of'),
])
def test_bad_options_fail_clearly(run_module, tmp_path, bad, message):
    result = run_cleanup(run_module, path=str(tmp_path), **bad)
    assert result['failed'] is True and message in result['msg'], result['msg']


def docker_client():
    docker = pytest.importorskip('docker')
    try:
        client = docker.from_env()
        client.ping()
        client.images.get('runbook-maintenance-target:bookworm')
    except Exception as exc:  # noqa: BLE001 - no engine / no image on a developer's laptop
        pytest.skip(f'no Docker engine with the target image here: {exc}')
    return client


def test_docker_prune_removes_only_stopped_labelled_containers_and_check_mode_matches(run_module, tmp_path):
    client = docker_client()
    label = f'runbook.test={os.getpid()}-{time.monotonic_ns()}'
    key, value = label.split('=')
    stopped = client.containers.create('runbook-maintenance-target:bookworm', 'true', network_mode='none',
                                       labels={key: value})
    running = client.containers.run('runbook-maintenance-target:bookworm', 'sleep 60', network_mode='none',
                                    labels={key: value}, detach=True)
    try:
        prune = {'containers': True, 'dangling_images': False, 'build_cache': False, 'labels': [label]}
        check = run_cleanup(run_module, check=True, path=str(tmp_path), patterns=['nothing'], docker_prune=prune)
        assert check['docker'][0]['items'] == [stopped.name] and check['docker'][0]['removed'] == 1
        client.containers.get(stopped.id)  # still there after check mode
        real = run_cleanup(run_module, path=str(tmp_path), patterns=['nothing'], docker_prune=prune)
        assert real['docker'][0]['removed'] == 1 and real['changed'] is True
        with pytest.raises(Exception):
            client.containers.get(stopped.id)
        assert client.containers.get(running.id).status == 'running'
        again = run_cleanup(run_module, path=str(tmp_path), patterns=['nothing'], docker_prune=prune)
        assert again['changed'] is False
    finally:
        running.remove(force=True)
        try:
            stopped.remove(force=True)
        except Exception:  # noqa: BLE001 - already pruned
            pass
