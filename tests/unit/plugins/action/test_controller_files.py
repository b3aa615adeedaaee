"""controller_files: a run's report files written on the controller, all or none, nothing followed."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from ansible_collections.runbook.maintenance.plugins.action import controller_files
from ansible_collections.runbook.maintenance.plugins.action.controller_files import check_files, write_files
from ansible_collections.runbook.maintenance.plugins.module_utils.safefile import UnsafePath

FILES = [{'name': 'weekly-db1.json', 'content': '{"status": "ok"}\n'},
         {'name': 'weekly-db1.txt', 'content': 'Status: ok – done\n'}]


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_both_files_are_written_with_the_mode_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        out = write_files(str(tmp_path / 'reports' / 'sub'), FILES, 0o640, 0o750)
    finally:
        os.umask(old)
    assert out['created_dir'] is True
    assert [os.path.basename(p) for p in out['files']] == ['weekly-db1.json', 'weekly-db1.txt']
    assert (tmp_path / 'reports' / 'sub' / 'weekly-db1.txt').read_text(encoding='utf-8') == 'Status: ok – done\n'
    assert mode(tmp_path / 'reports' / 'sub' / 'weekly-db1.json') == 0o640
    assert mode(tmp_path / 'reports') == 0o750 and mode(tmp_path / 'reports' / 'sub') == 0o750
    assert sorted(os.listdir(tmp_path / 'reports' / 'sub')) == ['weekly-db1.json', 'weekly-db1.txt']


def test_an_existing_file_is_replaced_and_an_existing_directory_keeps_its_mode(tmp_path):
    tmp_path.chmod(0o755)
    (tmp_path / 'weekly-db1.json').write_text('old')
    out = write_files(str(tmp_path), FILES, 0o600, 0o700)
    assert out['created_dir'] is False
    assert (tmp_path / 'weekly-db1.json').read_text() == '{"status": "ok"}\n'
    assert mode(tmp_path / 'weekly-db1.json') == 0o600
    assert mode(tmp_path) == 0o755


def test_a_symlink_planted_under_a_final_name_is_replaced_not_followed(tmp_path):
    victim = tmp_path / 'victim'
    victim.write_text('precious')
    reports = tmp_path / 'reports'
    reports.mkdir()
    (reports / 'weekly-db1.json').symlink_to(victim)
    write_files(str(reports), FILES, 0o640, 0o750)
    assert victim.read_text() == 'precious'
    assert not (reports / 'weekly-db1.json').is_symlink()
    assert (reports / 'weekly-db1.json').read_text() == '{"status": "ok"}\n'


def test_a_symlink_owned_by_another_user_in_the_path_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip('needs root to make a link owned by another user')
    target = tmp_path / 'elsewhere'
    target.mkdir()
    link = tmp_path / 'reports'
    link.symlink_to(target)
    os.lchown(link, 65534, 65534)
    with pytest.raises(UnsafePath, match='owned by uid 65534'):
        write_files(str(link / 'sub'), FILES, 0o640, 0o750)
    assert not os.listdir(target)


def test_a_failed_write_leaves_nothing_not_even_the_directory_it_made(tmp_path, monkeypatch):
    calls = []
    real_write = os.write

    def full_disk(fd, data):
        calls.append(fd)
        if len(calls) == 2:  # the second file: the first one is already written under its work name
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_write(fd, data)

    monkeypatch.setattr(controller_files.os, 'write', full_disk)
    with pytest.raises(OSError) as caught:
        write_files(str(tmp_path / 'reports'), FILES, 0o640, 0o750)
    assert caught.value.errno == errno.ENOSPC
    assert not (tmp_path / 'reports').exists()


def test_a_failed_write_in_an_existing_directory_leaves_the_old_files_alone(tmp_path, monkeypatch):
    (tmp_path / 'weekly-db1.json').write_text('old')

    def full_disk(fd, data):
        raise OSError(errno.ENOSPC, 'No space left on device')

    monkeypatch.setattr(controller_files.os, 'write', full_disk)
    with pytest.raises(OSError):
        write_files(str(tmp_path), FILES, 0o640, 0o750)
    assert os.listdir(tmp_path) == ['weekly-db1.json']
    assert (tmp_path / 'weekly-db1.json').read_text() == 'old'


@pytest.mark.parametrize(('files', 'problem'), [
    ([{'name': '../etc/passwd', 'content': ''}], 'plain file name'),
    ([{'name': '.hidden', 'content': ''}], 'cannot start with a dot'),
    ([{'name': '', 'content': ''}], 'plain file name'),
    ([{'name': 'a.json', 'content': ''}, {'name': 'a.json', 'content': ''}], 'given twice'),
])
def test_names_that_are_not_plain_or_given_twice_are_refused(files, problem):
    assert problem in '; '.join(check_files(files))


def test_plain_distinct_names_pass():
    assert not check_files(FILES)
