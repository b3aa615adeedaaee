"""runbook.maintenance.rollback_snapshot as a new process, as on a target: the rollback point of a
window in one module run. Check mode writes nothing and says what a real run does; a run saves the
files (content, mode) with a private manifest and points latest at it; nothing changed keeps the
newest; pruning keeps the newest `keep`; unsafe directories are refused; a full disk leaves nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = os.geteuid() == 0


def snapshot(run_module, base: Path, run_id: str, files: list[Path], check: bool = False, **kw) -> dict:
    args = dict({'path': str(base), 'run_id': run_id, 'files': [str(f) for f in files], 'packages': False,
                 'host': 'db1'}, **kw)
    return run_module('rollback_snapshot', args, check=check)


def tree(base: Path) -> list[str]:
    return sorted(str(p.relative_to(base)) for p in base.rglob('*')) if base.exists() else []


@pytest.fixture()
def conf(tmp_path):
    etc = tmp_path / 'etc' / 'postgresql'
    etc.mkdir(parents=True)
    main = etc / 'postgresql.conf'
    main.write_text("shared_buffers = '128MB'\n")
    main.chmod(0o640)
    hba = etc / 'pg_hba.conf'
    hba.write_text('local all all peer\n')
    hba.chmod(0o600)
    return main, hba, tmp_path / 'etc' / 'absent.conf'


def test_check_then_save_then_keep_then_check_equals_real(run_module, tmp_path, conf):
    main, hba, absent = conf
    base = tmp_path / 'var' / 'rollback'
    files = [main, hba, absent]

    planned = snapshot(run_module, base, '20261206T020000Z', files, check=True)
    assert planned['changed'] is True and planned['created'] is False and not planned.get('failed'), planned
    assert planned['saved'] == f'{base}/20261206T020000Z' and planned['missing'] == [str(absent)]
    assert 'Would save a rollback snapshot' in planned['msg'] and not base.exists(), 'check mode wrote'

    saved = snapshot(run_module, base, '20261206T020000Z', files)
    assert saved['changed'] is True and saved['created'] is True and saved['kept_latest'] is False, saved
    assert {k: planned[k] for k in ('saved', 'files', 'missing', 'removed')} == \
        {k: saved[k] for k in ('saved', 'files', 'missing', 'removed')}, 'check mode and the run disagree'
    snap = base / '20261206T020000Z'
    assert os.readlink(base / 'latest') == '20261206T020000Z'
    assert oct(base.stat().st_mode & 0o777) == '0o700' and oct(snap.stat().st_mode & 0o777) == '0o700'
    copy = snap / f'files{main}'
    assert copy.read_text() == main.read_text() and oct(copy.stat().st_mode & 0o777) == '0o640'
    assert oct((snap / f'files{hba}').stat().st_mode & 0o777) == '0o600'
    manifest = json.loads((snap / 'manifest.json').read_text())
    assert oct((snap / 'manifest.json').stat().st_mode & 0o777) == '0o600'
    assert manifest == saved['snapshot'] and manifest['host'] == 'db1' and manifest['missing'] == [str(absent)]
    by_path = {f['path']: f for f in manifest['files']}
    assert by_path[str(main)]['sha256'] == hashlib.sha256(main.read_bytes()).hexdigest()
    assert by_path[str(main)]['mode'] == '0640' and by_path[str(hba)]['mode'] == '0600'
    assert by_path[str(main)]['owner'] and by_path[str(main)]['group']
    assert not [p for p in base.iterdir() if p.name.startswith('.')], 'a work file was left'

    # Nothing changed: the newest snapshot is the rollback point, in check mode and for real.
    before = tree(base)
    for check in (True, False):
        kept = snapshot(run_module, base, '20261213T020000Z', files, check=check)
        assert kept['changed'] is False and kept['kept_latest'] is True and kept['saved'] == str(snap), kept
        assert 'it is kept as the rollback point' in kept['msg']
    assert tree(base) == before

    # A mode change alone is a change.
    main.chmod(0o644)
    assert snapshot(run_module, base, '20261213T020000Z', files, check=True)['changed'] is True
    assert tree(base) == before


def test_packages_are_recorded_when_dpkg_is_there(run_module, tmp_path, conf):
    if not Path('/usr/bin/dpkg-query').exists():
        pytest.skip('no dpkg on this machine')
    result = snapshot(run_module, tmp_path / 'rb', '1', [conf[0]], packages=True)
    assert result['packages_recorded'] > 10 and 'dpkg' in result['snapshot']['packages'], result


def test_keep_prunes_the_oldest_and_never_the_new_one(run_module, tmp_path, conf):
    main = conf[0]
    base = tmp_path / 'rb'
    for n in range(1, 5):
        main.write_text(f'work_mem = {n}MB\n')
        result = snapshot(run_module, base, f'2026120{n}T020000Z', [main], keep=2)
        assert result['created'], result
    assert sorted(p.name for p in base.iterdir()) == ['20261203T020000Z', '20261204T020000Z', 'latest']
    assert result['removed'] == ['20261202T020000Z']
    main.write_text('work_mem = 5MB\n')
    planned = snapshot(run_module, base, '20261205T020000Z', [main], keep=2, check=True)
    assert planned['removed'] == ['20261203T020000Z'] and len(list(base.iterdir())) == 3
    # An existing name is never overwritten.
    refused = snapshot(run_module, base, '20261203T020000Z', [main], keep=2)
    assert refused['failed'] and 'never overwritten' in refused['msg'], refused
    assert (base / '20261203T020000Z' / f'files{main}').read_text() == 'work_mem = 3MB\n'


@pytest.mark.parametrize('case', ['world-writable', 'symlink', 'run_id', 'keep', 'relative'])
def test_refusals_are_clear_and_change_nothing(run_module, tmp_path, conf, case):
    base = tmp_path / 'rb'
    args = {}
    if case == 'world-writable':
        base.mkdir(mode=0o700)
        base.chmod(0o777)
    elif case == 'symlink':
        (tmp_path / 'elsewhere').mkdir(mode=0o700)
        base.symlink_to(tmp_path / 'elsewhere')
    elif case == 'run_id':
        args['run_id'] = '../etc'
    elif case == 'keep':
        args['keep'] = 0
    result = run_module('rollback_snapshot', dict({'path': str(base), 'run_id': '1', 'packages': False,
                                                   'files': ['etc/x.conf' if case == 'relative' else str(conf[0])]},
                                                  **args))
    assert result.get('failed') and 'Traceback' not in result['_stderr'], result
    expected = {'world-writable': 'writable by no one else', 'symlink': 'is a symlink', 'run_id': 'run_id must be',
                'keep': 'keep must be at least 1', 'relative': 'absolute paths'}[case]
    assert expected in result['msg'], result['msg']
    assert not (tmp_path / 'elsewhere').exists() or not any((tmp_path / 'elsewhere').iterdir())
    assert not base.is_dir() or base.is_symlink() or not any(base.iterdir())


@pytest.mark.skipif(not ROOT, reason='needs root to mount a tmpfs')
def test_a_full_disk_leaves_nothing_and_keeps_latest(run_module, tmp_path, conf):
    mount = tmp_path / 'small'
    mount.mkdir()
    done = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=256k,mode=0700', 'tmpfs', str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f'cannot mount a tmpfs here: {done.stderr.strip()}')
    try:
        base = mount / 'rb'
        first = snapshot(run_module, base, '1', [conf[0]])
        assert first['created'], first
        big = tmp_path / 'big.conf'
        big.write_bytes(b'#' * (400 * 1024))  # does not fit
        failed = snapshot(run_module, base, '2', [conf[0], big])
        assert failed.get('failed') and 'ENOSPC' in failed['msg'] and 'nothing of it was left' in failed['msg'], failed
        assert sorted(p.name for p in base.iterdir()) == ['1', 'latest'] and os.readlink(base / 'latest') == '1'
    finally:
        subprocess.run(['umount', '-l', str(mount)], check=False)
