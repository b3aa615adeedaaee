"""The failover role's fresh base backup (rejoin), when it fails: the old primary's data is never lost.

roles/failover/tasks/basebackup.yml moves the old data directory aside, copies the new primary
with pg_basebackup, and on failure removes the partial copy and puts the old directory back. Two
real failures and a real copy, on localhost with the real pg_basebackup against the real PostgreSQL
of the tests:
- the copy: the old data directory is kept aside under its stamped name, the new one is a standby
  of the server (standby.signal, primary_conninfo) and the step is in the report's steps;
- pg_basebackup refused by the server (a role that does not exist): the old data directory is
  back in place, nothing of the copy or of the moved-aside name is left;
- the data directory is a mount point (a dedicated volume, as production hosts have), so it cannot
  be moved aside: nothing is removed (the rescue used to remove the data directory's contents
  although they had never been moved away), and the message says what to do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pg_helpers import COLLECTIONS, REPO

PLAYBOOK = """\
- name: The failover role's base backup step
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Base backup of the old primary from the new one
      ansible.builtin.include_role:
        name: runbook.maintenance.failover
        tasks_from: basebackup
"""


def run_basebackup(tmp_path: Path, pg, data_dir: Path, user: str = 'no_such_replication_role',
                   extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    playbook = tmp_path / 'play.yml'
    playbook.write_text(PLAYBOOK)
    # Host variables, not extra vars: the role's set_fact (its steps) must be able to change them.
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'all': {'hosts': {'localhost': {
        'ansible_python_interpreter': sys.executable,
        'ansible_become_method': 'su',  # root to root: no sudo needed on the controller
        '_failover_p': {'host': 'localhost', 'data_dir': str(data_dir), 'bin_dir': pg.bindir, 'os_user': 'root'},
        '_failover_s': {'host': 'new-primary'},
        '_failover_repl_conninfo': f'host={pg.run} port={pg.port} user={user} application_name=old_primary',
        '_failover_steps': [],
        'failover_basebackup_timeout_s': 60,
    }}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    return subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', str(inventory), str(playbook),
                           *extra], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def old_data(data_dir: Path) -> None:
    data_dir.mkdir(exist_ok=True)
    (data_dir / 'PG_VERSION').write_text('15\n')
    (data_dir / 'base').mkdir()
    (data_dir / 'base' / 'diverged-writes').write_text('the transactions only the old primary has\n')


def assert_untouched_at(data_dir: Path) -> None:
    assert (data_dir / 'PG_VERSION').read_text() == '15\n'
    assert (data_dir / 'base' / 'diverged-writes').read_text().startswith('the transactions')
    assert sorted(p.name for p in data_dir.iterdir()) == ['PG_VERSION', 'base']


def assert_untouched(data_dir: Path) -> None:
    assert_untouched_at(data_dir)
    assert not list(data_dir.parent.glob(f'{data_dir.name}.before-rejoin-*')), list(data_dir.parent.iterdir())


@pytest.mark.skipif(os.geteuid() != 0, reason='becomes root with su (as the role becomes the cluster owner)')
def test_a_fresh_copy_keeps_the_old_data_directory_aside(pg, tmp_path):
    data_dir = tmp_path / 'node' / 'main'
    data_dir.parent.mkdir()
    old_data(data_dir)
    steps = tmp_path / 'steps.json'
    check = tmp_path / 'check.yml'
    check.write_text('- name: The steps\n  hosts: localhost\n  connection: local\n  gather_facts: false\n  tasks:\n'
                     '    - name: Write them\n      ansible.builtin.copy:\n'
                     f'        dest: {steps}\n        content: "{{{{ _failover_steps | to_json }}}}"\n        mode: "0600"\n')
    done = run_basebackup(tmp_path, pg, data_dir, user='postgres', extra=(str(check),))
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    kept = list(data_dir.parent.glob('main.before-rejoin-*'))
    assert len(kept) == 1, list(data_dir.parent.iterdir())
    assert_untouched_at(kept[0])
    assert (data_dir / 'standby.signal').exists() and (data_dir / 'PG_VERSION').read_text().strip().isdigit()
    assert 'application_name=old_primary' in (data_dir / 'postgresql.auto.conf').read_text()
    said = json.loads(steps.read_text())
    assert len(said) == 1 and said[0].startswith('fresh base backup from new-primary') and kept[0].name in said[0], said


@pytest.mark.skipif(os.geteuid() != 0, reason='becomes root with su (as the role becomes the cluster owner)')
def test_a_refused_base_backup_puts_the_old_data_directory_back(pg, tmp_path):
    data_dir = tmp_path / 'node' / 'main'
    data_dir.parent.mkdir()
    old_data(data_dir)
    done = run_basebackup(tmp_path, pg, data_dir)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out[-3000:]
    assert 'pg_basebackup from new-primary failed' in out and 'no_such_replication_role' in out, out[-3000:]
    assert 'The old data directory is back in place' in out and 'stays stopped and fenced' in out, out[-3000:]
    assert_untouched(data_dir)


@pytest.mark.skipif(os.geteuid() != 0, reason='mounts a tmpfs (needs root)')
def test_a_data_directory_that_is_a_mount_point_is_never_emptied(pg, tmp_path):
    data_dir = tmp_path / 'node' / 'main'
    data_dir.mkdir(parents=True)
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', str(data_dir)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f'cannot mount a tmpfs here: {mounted.stderr.strip()}')
    try:
        old_data(data_dir)
        done = run_basebackup(tmp_path, pg, data_dir)
        out = done.stdout + done.stderr
        assert done.returncode != 0, out[-3000:]
        assert f'The old data directory {data_dir} could not be moved aside' in out, out[-3000:]
        assert 'busy' in out and 'Nothing was removed or copied' in out and 'failover_rejoin_method=rewind' in out, out[-3000:]
        assert_untouched(data_dir)
    finally:
        subprocess.run(['umount', '-l', str(data_dir)], check=False)
