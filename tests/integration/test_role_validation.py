"""Role interfaces at run time: a wrong variable fails before the role's first task.

Each case includes a role (or a tasks_from entry point) with one wrong variable and nothing else
wrong, and checks that the play stopped at Ansible's argument validation: the run fails, the
message names the variable, and the role's first task never started (so no PostgreSQL, Docker or
apt is needed here, and nothing could have changed). A control run with valid values, some of
them strings as `-e` passes them, gets past the validation and runs the role.
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
- name: One role with the given variables
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: The role under test
      ansible.builtin.include_role:
        name: runbook.maintenance.{role}
        tasks_from: {entry}
"""


def run_role(tmp_path: Path, role: str, variables: dict, entry: str = 'main', *extra: str) -> subprocess.CompletedProcess:
    playbook = tmp_path / 'play.yml'
    playbook.write_text(PLAYBOOK.format(role=role, entry=entry))
    values = tmp_path / 'vars.json'
    values.write_text(json.dumps({'ansible_python_interpreter': sys.executable, **variables}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    return subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', 'localhost,', str(playbook),
                           '-e', f'@{values}', *extra], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


# role, entry point, the wrong variable, the role's first task (must never start), what the message says
WRONG = [
    ('maintenance_window', 'main', {'maintenance_window_days': {'sunday': True}},
     'Is this run inside the maintenance window?', 'maintenance_window_days'),
    ('maintenance_checks', 'main', {'maintenance_checks_phase': 'during'},
     'Validate the phase', 'maintenance_checks_phase must be one of: pre, post'),
    ('backup', 'main', {'backup_databases': {'shop': 1}},
     'Find the databases to back up', 'backup_databases'),
    ('pg_maintenance', 'main', {'pg_maintenance_operations': ['vacuum', 'vaccum_full']},
     'Find the databases to maintain', 'vaccum_full'),
    ('disk_emergency', 'main', {'disk_emergency_safe_jobs': [{'path': '/var/log', 'age': '1d'}]},
     'Assess the filesystem in trouble', 'name'),
    ('image_updates', 'main', {'image_updates_apply': 'maybe'},
     'Put the services in startup order', 'image_updates_apply'),
    ('pgbackrest', 'restore_scratch', {'pgbackrest_restore_type': 'yesterday'},
     'Refuse anything that could touch the live cluster', 'pgbackrest_restore_type must be one of'),
]


@pytest.mark.parametrize('role,entry,variables,first_task,message', WRONG, ids=[f'{w[0]}-{w[1]}' for w in WRONG])
def test_a_wrong_variable_fails_before_the_role_runs(tmp_path, role, entry, variables, first_task, message):
    done = run_role(tmp_path, role, variables, entry)
    out = done.stdout + done.stderr
    assert done.returncode != 0, out
    assert f"Validating arguments against arg spec '{entry}'" in out, out
    assert 'Validation of arguments failed' in out, out
    assert message in out, out
    assert first_task not in out, out  # the validation is the role's first task; nothing else started
    assert 'ok=1 ' in out and 'changed=0 ' in out and 'failed=1 ' in out, out  # ok: the include itself


def test_valid_values_pass_and_the_role_runs(tmp_path):
    """The control: the same harness with valid values, some of them strings from -e, runs the role."""
    done = run_role(tmp_path, 'maintenance_window', {'maintenance_window_days': ['Sunday', 'sat']}, 'main',
                    '-e', 'maintenance_window_now=2026-11-29T02:30:00+00:00', '-e', 'maintenance_force=false',
                    '-e', 'maintenance_window_min_remaining=15m')
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert 'The arg spec validation passed' in out or "Validating arguments against arg spec 'main'" in out, out
    assert 'Is this run inside the maintenance window?' in out, out
