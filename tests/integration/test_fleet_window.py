"""A rolling weekly window over a fleet of three hosts, one of them with its PostgreSQL down:
maintenance-weekly.yml run by ansible-playbook on this host, batches of one (what the window plans
for three hosts without any report: runbook.maintenance.window_batch), the default
maintenance_max_fail_percentage 0.

The first host is maintained, the second fails its pre-checks (nothing listens on its port), the
rollout stops there: the third host is untouched (no report, no breaker, no rollback snapshot, no
file of its own written) and the fleet summary on the controller names the hosts done, failed and
not started.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from pg_helpers import COLLECTIONS, REPO

HOSTS = ('fleet-a', 'fleet-b', 'fleet-c')


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]  # no server: no socket file .s.PGSQL.<port> either


def test_a_failed_host_stops_the_rollout_and_the_fleet_summary_says_which(pg, tmp_path):
    reports = tmp_path / 'reports'
    hosts = {}
    for name in HOSTS:
        state = tmp_path / name
        conf = tmp_path / f'{name}.conf'
        conf.write_text(f'# configuration of {name}\n')
        hosts[name] = {
            'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
            'runbook_pg_login_unix_socket': str(pg.run),
            'runbook_pg_login_port': closed_port() if name == 'fleet-b' else pg.port,
            'runbook_pg_login_user': 'postgres',
            'runbook_breaker_state_dir': str(state / 'breakers'),
            'backup_dir': str(state / 'backups'),
            'maintenance_rollback_dir': str(state / 'rollback'),
            'maintenance_rollback_files': [str(conf)],
            'maintenance_rollback_packages': False,
        }
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'databases': {'hosts': hosts, 'vars': {
        'maintenance_report_dir': str(reports),
        'maintenance_window_now': '2026-11-29T02:30:00+00:00', 'maintenance_window_timezone': 'UTC',
        # The steps that are not under test are off (a cheaper run): backup, cleanups, the rollback point.
        'maintenance_backup': False, 'maintenance_package_updates': False, 'maintenance_image_updates': False,
        'maintenance_docker_cleanup': False, 'maintenance_log_cleanup': False,
        'maintenance_rollback_snapshot_enabled': False}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    done = subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', str(inventory),
                           str(REPO / 'playbooks' / 'maintenance-weekly.yml')], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    out = ' '.join(done.stdout.split())
    assert done.returncode != 0, out[-3000:]
    # Planned from no history: three hosts one at a time fit what is left of the window.
    assert '3 hosts in batches of 1 (3 batches' in out, out[-3000:]
    assert 'assumed (no weekly report in' in out

    # The first host was maintained, the second failed, the third was never started.
    by_host = {}
    for path in reports.glob('weekly-*.json'):
        data = json.loads(path.read_text())
        by_host[data['host']] = data
    assert set(by_host) == {'fleet-a', 'fleet-b'}, out[-3000:]
    assert by_host['fleet-a']['status'] == 'ok'
    assert by_host['fleet-b']['status'] == 'failed'
    assert 'fleet-c' not in out.split('PLAY [Maintenance window (weekly)]', 1)[1].split('Fleet summary', 1)[0]
    assert not (tmp_path / 'fleet-c').exists(), sorted(p.name for p in (tmp_path / 'fleet-c').rglob('*'))
    assert (tmp_path / 'fleet-a' / 'breakers').is_dir()  # the good window closed its breaker
    assert (tmp_path / 'fleet-b' / 'breakers').is_dir()  # the failed pre-check opened its breaker

    # The fleet summary of the run, on the controller and printed.
    summaries = sorted(reports.glob('fleet-weekly-*.json'))
    assert len(summaries) == 1, summaries
    summary = json.loads(summaries[0].read_text())
    assert summary['done'] == ['fleet-a']
    assert [item['host'] for item in summary['failed']] == ['fleet-b']
    assert summary['failed'][0]['failure']
    assert summary['not_started'] == ['fleet-c']
    assert summary['status'] == 'failed'
    assert summary['counts'] == {'hosts': 3, 'done': 1, 'failed': 1, 'not_started': 1}
    text = summaries[0].with_suffix('.txt').read_text()
    assert 'NOT STARTED  fleet-c' in text and 'FAILED       fleet-b' in text and 'DONE         fleet-a' in text
    assert 'Fleet weekly: 1 done, 1 failed, 1 not started, of 3' in out
