"""runbook.maintenance.disk_space run by ansible on localhost: free space per filesystem, growth since
the previous report (from a private state file), days until full; check mode writes nothing; a
planted symbolic link is never followed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / '.build' / 'collections'
GIB = 1024 ** 3


@pytest.fixture(scope='module', autouse=True)
def collection_link():
    link = COLLECTIONS / 'ansible_collections' / 'runbook' / 'maintenance'
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path('../../../..'))


def disk_space(tmp_path: Path, *extra: str, **args) -> dict:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'),
               ANSIBLE_LOAD_CALLBACK_PLUGINS='1', ANSIBLE_STDOUT_CALLBACK='ansible.builtin.json', ANSIBLE_NOCOLOR='1')
    result = subprocess.run([str(Path(sys.executable).parent / 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
                             '-e', f'ansible_python_interpreter={sys.executable}', '-m', 'runbook.maintenance.disk_space',
                             '-a', json.dumps(args), *extra], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    data = json.loads(result.stdout[result.stdout.index('{'):])
    return data['plays'][0]['tasks'][0]['hosts']['localhost']


def test_growth_days_until_full_and_a_private_atomic_state(tmp_path):
    state = tmp_path / 'state' / 'disk-usage.json'
    data = tmp_path / 'data'
    data.mkdir()
    first = disk_space(tmp_path, paths=[str(data), str(tmp_path), '/nonexistent/x'], state_file=str(state))
    assert not first.get('failed'), first
    (fs,) = first['filesystems']  # both paths on one filesystem: measured once
    assert fs['paths'] == [str(data), str(tmp_path)] and first['missing'] == ['/nonexistent/x']
    assert fs['growth_bytes'] is None and fs['days_until_full'] is None  # no previous report
    assert 0 < fs['free_percent'] <= 100 and fs['size_available'] <= fs['size_total']
    assert first['state_written'] and oct(state.stat().st_mode & 0o777) == '0o600'
    assert oct(state.parent.stat().st_mode & 0o777) == '0o700'
    recorded = json.loads(state.read_text())['filesystems'][fs['mount']]
    assert recorded['used'] == fs['size_used']

    # pretend the previous report was a day ago with 10 GiB less in use
    recorded.update(at=time.time() - 86400, used=recorded['used'] - 10 * GIB)
    state.write_text(json.dumps({'version': 1, 'filesystems': {fs['mount']: recorded}}))
    state.chmod(0o600)
    inode = state.stat().st_ino
    second = disk_space(tmp_path, paths=[str(data)], state_file=str(state))
    (fs2,) = second['filesystems']
    assert 9 * GIB < fs2['growth_bytes'] < 11 * GIB  # other processes write meanwhile: not exact
    assert 0.9 * 86400 < fs2['interval_s'] < 1.1 * 86400
    assert fs2['days_until_full'] == pytest.approx(fs2['size_available'] / fs2['growth_bytes_per_day'], rel=0.01)
    assert state.stat().st_ino != inode  # replaced by a rename, never rewritten in place
    assert [p.name for p in state.parent.iterdir()] == ['disk-usage.json']  # no temporary file left

    # check mode: compares, writes nothing
    before = state.read_text()
    third = disk_space(tmp_path, '--check', paths=[str(data)], state_file=str(state))
    assert third['filesystems'][0]['growth_bytes'] is not None and third['state_written'] is False
    assert state.read_text() == before


def test_a_planted_symlink_is_not_followed(tmp_path):
    target = tmp_path / 'elsewhere.json'
    target.write_text(json.dumps({'version': 1, 'filesystems': {'/': {'at': time.time() - 3600, 'used': 1}}}))
    state_dir = tmp_path / 'state'
    state_dir.mkdir(mode=0o700)
    state = state_dir / 'disk-usage.json'
    state.symlink_to(target)
    result = disk_space(tmp_path, paths=[str(tmp_path)], state_file=str(state))
    assert result['filesystems'][0]['growth_bytes'] is None  # the planted file's content was not used
    assert any('never followed' in w for w in result.get('warnings', []))
    assert not state.is_symlink() and state.is_file()  # the link itself was replaced
    assert json.loads(target.read_text())['filesystems']['/']['used'] == 1  # the target untouched


def test_bad_values_fail_clearly(tmp_path):
    result = disk_space(tmp_path, paths=[str(tmp_path)], emergency_free_percent=-1)
    assert result['failed'] and 'emergency_free_percent must be a percentage above 0 and at most 100, got -1' in result['msg']
    short = disk_space(tmp_path, paths=[str(tmp_path)], min_free_percent=100)  # a check that cannot pass
    assert disk_space(tmp_path, paths=[str(tmp_path)], min_free_percent=101)['failed']
    assert short['filesystems'][0]['low'] is True and not short.get('failed')
