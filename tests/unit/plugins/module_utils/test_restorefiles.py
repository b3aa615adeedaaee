"""restorefiles: paths archives put back safely (real files and archives), globals script filtering."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.restore import RestoreError
from ansible_collections.runbook.maintenance.plugins.module_utils.restorefiles import (
    extract_paths,
    globals_plan,
    plan_paths,
)


def archive(tmp_path, members) -> str:
    path = tmp_path / 'paths.tar.gz'
    with tarfile.open(path, 'w:gz') as tar:
        for name, kind, data, link in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode = kind, link, 0o640
            if kind == tarfile.REGTYPE:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                info.mode = 0o750 if kind == tarfile.DIRTYPE else 0o777
                tar.addfile(info)
    return str(path)


GOOD = [('etc/app', tarfile.DIRTYPE, b'', ''), ('etc/app/a.conf', tarfile.REGTYPE, b'a=1\n', ''),
        ('etc/app/cur', tarfile.SYMTYPE, b'', 'a.conf'), ('etc/app/hard', tarfile.LNKTYPE, b'', 'etc/app/a.conf')]


def test_plan_then_extract(tmp_path):
    path = archive(tmp_path, GOOD)
    root = tmp_path / 'root'
    root.mkdir()
    plan = plan_paths(path, str(root))
    assert plan.members == 4 and plan.replace == [] and 'etc/app/a.conf' in plan.create
    assert extract_paths(path, str(root)) == 4
    assert (root / 'etc/app/a.conf').read_text() == 'a=1\n'
    assert oct((root / 'etc/app/a.conf').stat().st_mode & 0o777) == oct(0o640)
    assert os.readlink(root / 'etc/app/cur') == 'a.conf'
    assert (root / 'etc/app/hard').stat().st_ino == (root / 'etc/app/a.conf').stat().st_ino
    again = plan_paths(path, str(root))
    assert 'etc/app/a.conf' in again.replace and again.create == []
    assert not [n for n in os.listdir(root / 'etc/app') if n.startswith('.')]   # no temporary left


def test_a_planted_symlink_at_a_file_name_is_replaced_not_followed(tmp_path):
    path = archive(tmp_path, GOOD)
    root = tmp_path / 'root'
    (root / 'etc/app').mkdir(parents=True)
    victim = tmp_path / 'victim'
    victim.write_text('keep')
    (root / 'etc/app/a.conf').symlink_to(victim)
    extract_paths(path, str(root))
    assert victim.read_text() == 'keep' and not (root / 'etc/app/a.conf').is_symlink()


def test_a_symlinked_directory_on_the_way_is_refused(tmp_path):
    path = archive(tmp_path, GOOD)
    root = tmp_path / 'root'
    root.mkdir()
    outside = tmp_path / 'outside'
    outside.mkdir()
    (root / 'etc').symlink_to(outside)
    with pytest.raises(RestoreError, match='refusing to write through it'):
        plan_paths(path, str(root))
    with pytest.raises(RestoreError):
        extract_paths(path, str(root))
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize('member', [('../evil', tarfile.REGTYPE, b'x', ''), ('/abs', tarfile.REGTYPE, b'x', ''),
                                    ('dev/null', tarfile.CHRTYPE, b'', '')])
def test_unsafe_archives_write_nothing(tmp_path, member):
    path = archive(tmp_path, GOOD + [member])
    root = tmp_path / 'root'
    root.mkdir()
    with pytest.raises(RestoreError, match='nothing was written'):
        plan_paths(path, str(root))
    assert list(root.iterdir()) == []


def test_globals_plan_skips_creating_existing_roles_only():
    script = ('CREATE ROLE postgres;\nALTER ROLE postgres WITH SUPERUSER;\nCREATE ROLE app;\n'
              'ALTER ROLE app WITH LOGIN;\nCREATE ROLE "Odd ""Name""";\n')
    out, created, existing = globals_plan(script, {'postgres'})
    assert created == ['app', 'Odd "Name"'] and existing == ['postgres']
    assert 'CREATE ROLE postgres;' not in out and 'ALTER ROLE postgres WITH SUPERUSER;' in out
    assert 'CREATE ROLE app;' in out
