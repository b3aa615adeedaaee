"""roles/complete_recovery/files/restore_paths.py: the safe put-back of a paths archive.

Real archives and real files in a temporary directory, the script run as the role runs it.
"""

from __future__ import annotations

import grp
import io
import json
import os
import pwd
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / 'roles' / 'complete_recovery' / 'files' / 'restore_paths.py'
USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(archive, *args):
    proc = subprocess.run([sys.executable, str(SCRIPT), '--archive', str(archive), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, json.loads(proc.stdout)


def info(name, kind=tarfile.REGTYPE, data=b'', mode=0o644, link=''):
    member = tarfile.TarInfo(name.lstrip('/'))
    member.type, member.mode, member.linkname = kind, mode, link
    member.uname, member.gname = USER, GROUP
    member.size = len(data) if kind == tarfile.REGTYPE else 0
    return member, (io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def make(path, members):
    with tarfile.open(path, 'w:gz') as archive:
        for member, data in members:
            archive.addfile(member, data)
    return path


@pytest.fixture
def root(tmp_path):
    return tmp_path / 'etc' / 'app'


@pytest.fixture
def good(tmp_path, root):
    return make(tmp_path / 'good.tar.gz', [
        info(str(root), tarfile.DIRTYPE, mode=0o755),
        info(f'{root}/app.ini', data=b'port = 8080\n'),
        info(f'{root}/secret', data=b'token\n', mode=0o600),
        info(f'{root}/current.ini', tarfile.SYMTYPE, link='app.ini'),
    ])


def test_puts_back_files_modes_and_links_then_has_nothing_to_do(good, root):
    rc, out = run(good, '--root', str(root))
    assert rc == 0 and out['changed'] and len(out['changes']) == 4, out
    assert (root / 'app.ini').read_bytes() == b'port = 8080\n'
    assert (root / 'secret').stat().st_mode & 0o777 == 0o600
    assert os.readlink(root / 'current.ini') == 'app.ini'
    rc, out = run(good, '--root', str(root))
    assert rc == 0 and not out['changed'] and out['unchanged'] == 4, out


def test_check_mode_plans_and_writes_nothing(good, root):
    root.mkdir(parents=True)
    (root / 'app.ini').write_bytes(b'port = 9999\n')
    rc, out = run(good, '--root', str(root), '--check')
    assert rc == 0 and out['changed']
    assert f'{root}/app.ini: content' in out['changes']
    assert (root / 'app.ini').read_bytes() == b'port = 9999\n'
    assert not (root / 'secret').exists()


def test_only_and_exclude_choose_the_members(good, root):
    rc, out = run(good, '--root', str(root), '--only', f'{root}/secret')
    assert rc == 0 and out['members'] == 1 and not (root / 'app.ini').exists()
    rc, out = run(good, '--root', str(root), '--exclude', f'{root}/secret', '--check')
    assert rc == 0 and out['members'] == 3


def test_a_changed_file_is_replaced_never_written_through_a_planted_hard_link(good, root, tmp_path):
    run(good, '--root', str(root))
    outside = tmp_path / 'outside'
    outside.write_bytes(b'precious\n')
    (root / 'app.ini').unlink()
    os.link(outside, root / 'app.ini')
    rc, out = run(good, '--root', str(root))
    assert rc == 0 and out['changes'] == [f'{root}/app.ini: content']
    assert outside.read_bytes() == b'precious\n'
    assert (root / 'app.ini').read_bytes() == b'port = 8080\n'


@pytest.mark.parametrize('members, message', [
    ([('/elsewhere/passwd', tarfile.REGTYPE, '')], 'outside the declared roots'),
    ([('{root}/../../evil', tarfile.REGTYPE, '')], 'not a plain relative name'),
    ([('{root}/l', tarfile.SYMTYPE, '/tmp'), ('{root}/l/evil', tarfile.REGTYPE, '')], 'below the symlink'),
    ([('{root}/h', tarfile.LNKTYPE, 'etc/shadow')], 'neither a file, a directory nor a symlink'),
    ([('{root}/fifo', tarfile.FIFOTYPE, '')], 'neither a file, a directory nor a symlink'),
])
def test_a_bad_archive_is_refused_before_anything_is_written(tmp_path, root, members, message):
    entries = [info(str(root), tarfile.DIRTYPE, mode=0o755), info(f'{root}/first', data=b'1')]
    for name, kind, link in members:
        entries.append(info(name.format(root=root), kind, data=b'x' if kind == tarfile.REGTYPE else b'', link=link))
    rc, out = run(make(tmp_path / 'bad.tar.gz', entries), '--root', str(root))
    assert rc == 1 and out['failed'] and message in out['msg'], out
    assert 'nothing was put back' in out['msg'] and not out['changed']
    assert not root.exists()


def test_a_symlink_on_the_host_is_never_followed(good, root, tmp_path):
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    root.parent.mkdir(parents=True)
    root.symlink_to(elsewhere)
    rc, out = run(good, '--root', str(root))
    # the root itself is a symlink: its members would land in elsewhere/
    assert rc == 1 and 'symlink on this host' in out['msg'], out
    assert list(elsewhere.iterdir()) == []
