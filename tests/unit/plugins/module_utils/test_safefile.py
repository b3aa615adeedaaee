"""safefile: private work directories, no-replace publication, modes whatever the umask."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.fsclean import Candidate, expected_release
from ansible_collections.runbook.maintenance.plugins.module_utils.safefile import (
    UnsafePath,
    WorkDir,
    check_plain_name,
    check_trusted_path,
    describe_os_error,
    ensure_dir,
    remove_created,
    sanitize_name,
    set_tree_mode,
    shared_dir_warning,
)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.parametrize('name', ['', '.', '..', 'a/b', '../x', 'x\x00y', '.hidden'])
def test_names_that_are_not_plain_are_refused(name):
    assert check_plain_name(name)


@pytest.mark.parametrize('name', ['app-20261129T020000Z', 'lit-$HOME-~x', 'a b'])
def test_plain_names_pass(name):
    assert check_plain_name(name) is None


def test_sanitize_name():
    assert sanitize_name('a/b') == 'a_b' and sanitize_name('.x') == '_x' and sanitize_name('ok') == 'ok'


def test_describe_os_error_names_file_and_cause():
    text = describe_os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), '/b/x.dump.json')
    assert text == '/b/x.dump.json: No space left on device [ENOSPC, the filesystem is full]'
    assert 'EIO' in describe_os_error(OSError(errno.EIO, 'Input/output error'), '/b/x')


def test_ensure_dir_creates_private_parents_whatever_the_umask(tmp_path):
    previous = os.umask(0)
    try:
        created = ensure_dir(str(tmp_path / 'a' / 'b'), 0o700)
    finally:
        os.umask(previous)
    assert created == [str(tmp_path / 'a'), str(tmp_path / 'a' / 'b')]
    assert mode(tmp_path / 'a') == 0o700 and mode(tmp_path / 'a' / 'b') == 0o700
    assert ensure_dir(str(tmp_path / 'a' / 'b')) == []  # exists: left as it is
    remove_created(created)
    assert not (tmp_path / 'a').exists()


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to give a symlink to another user')
def test_a_symlink_of_another_user_in_the_path_is_refused(tmp_path):
    (tmp_path / 'target').mkdir()
    os.symlink(tmp_path / 'target', tmp_path / 'link')
    check_trusted_path(str(tmp_path / 'link' / 'x'))  # ours: followed
    os.lchown(tmp_path / 'link', 65534, 65534)
    with pytest.raises(UnsafePath, match='symlink owned by uid 65534'):
        ensure_dir(str(tmp_path / 'link' / 'x'))
    assert list((tmp_path / 'target').iterdir()) == []


def test_publish_never_replaces_or_follows_a_planted_name(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_text('keep')
    os.symlink(victim, tmp_path / 'backup.dump')
    with pytest.raises(FileExistsError):
        with WorkDir(str(tmp_path), 'test') as work:
            fd = work.create('backup.dump')
            os.write(fd, b'data')
            os.close(fd)
            assert mode(work.path) == 0o700 and mode(work.join('backup.dump')) == 0o600
            work.publish('backup.dump')
    assert victim.read_text() == 'keep' and os.path.islink(tmp_path / 'backup.dump')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['backup.dump', 'victim']  # work directory gone


def test_rollback_removes_what_was_published(tmp_path):
    with pytest.raises(RuntimeError):
        with WorkDir(str(tmp_path), 'test') as work:
            for name in ('a.dump', 'a.dump.json'):
                os.close(work.create(name))
            work.publish('a.dump')
            raise RuntimeError('the manifest could not be written')
    assert list(tmp_path.iterdir()) == []
    with WorkDir(str(tmp_path), 'test') as work:
        os.mkdir(work.join('d.dir'))
        os.close(os.open(work.join('d.dir/toc.dat'), os.O_CREAT | os.O_WRONLY, 0o644))
        set_tree_mode(work.join('d.dir'), 0o600, 0o700)
        work.publish('d.dir')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['d.dir']
    assert mode(tmp_path / 'd.dir') == 0o700 and mode(tmp_path / 'd.dir' / 'toc.dat') == 0o600


def test_shared_dir_warning(tmp_path):
    tmp_path.chmod(0o700)
    assert shared_dir_warning(str(tmp_path)) is None
    tmp_path.chmod(0o1777)
    assert 'can be written by other users' in shared_dir_warning(str(tmp_path))
    tmp_path.chmod(0o700)


def candidate(relpath: str, ino: int, nlink: int) -> Candidate:
    return Candidate(relpath, 100, 4096, 0.0, 1, ino, False, nlink)


def test_expected_release_counts_an_inode_once_and_only_when_every_name_goes():
    alone = candidate('a', 1, 1)
    outside = candidate('b', 2, 2)             # its other name is elsewhere
    first, second = candidate('c1', 3, 2), candidate('c2', 3, 2)
    releases = expected_release([alone, outside, first, second])
    assert releases == {(1, 1): 'a', (1, 3): 'c2'}
