"""backup.member_problem / read_tar: names of archive members that are unsafe to extract."""

from __future__ import annotations

import io
import tarfile

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import member_problem, read_tar


def info(name: str, kind=tarfile.REGTYPE, linkname: str = '') -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, linkname
    return member


@pytest.mark.parametrize('member, phrase', [
    (info('/etc/passwd'), 'absolute name'),
    (info('etc/../../x'), '".." component'),
    (info('..'), '".." component'),
    (info('dev/null', tarfile.CHRTYPE), 'a device or FIFO'),
    (info('dev/sda', tarfile.BLKTYPE), 'a device or FIFO'),
    (info('run/pipe', tarfile.FIFOTYPE), 'a device or FIFO'),
    (info('etc/shadow-copy', tarfile.LNKTYPE, '/etc/shadow'), 'a hard link'),
    (info('etc/up', tarfile.LNKTYPE, '../x'), 'a hard link'),
])
def test_unsafe_members_are_named(member, phrase):
    assert phrase in member_problem(member)


@pytest.mark.parametrize('member', [
    info('etc/app/app.conf'), info('etc/app', tarfile.DIRTYPE), info('etc/app/..conf'),
    info('etc/app/current', tarfile.SYMTYPE, '/usr/share/app/app.conf'),   # a symlink's target is data
    info('etc/app/other', tarfile.LNKTYPE, 'etc/app/app.conf'),
])
def test_safe_members_pass(member):
    assert member_problem(member) is None


def test_read_tar_reports_every_unsafe_member(tmp_path):
    path = tmp_path / 'a.tar.gz'
    with tarfile.open(path, 'w:gz') as archive:
        for name in ('ok.txt', '../evil', '/abs'):
            member = tarfile.TarInfo(name)
            member.size = 2
            archive.addfile(member, io.BytesIO(b'hi'))
    report = read_tar(str(path))
    assert report.members == 3 and len(report.unsafe) == 2
