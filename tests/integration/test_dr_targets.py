"""Declared recovery objectives (dr_targets) judged honestly: maintenance-quarterly.yml run by
ansible-playbook on this host against the fixture's PostgreSQL, with real dumps.

- a dump-only host with a fresh verified dump and the runbook's default targets (RPO 15 min,
  which daily dumps cannot meet by design): the quarterly job is green, and the report carries
  the configuration finding (how to get 15 minutes) instead of a failed drill;
- the same host declaring an RPO of 1 hour with a 3-hour-old newest dump: a declared target is
  missed, the job is red and the report says why.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

from test_backup_restore import backup, set_manifest, work_databases
from pg_helpers import COLLECTIONS, REPO


def quarterly(pg, tmp_path, name, **host_vars):
    reports = tmp_path / 'reports'
    inventory = tmp_path / 'inventory.json'
    inventory.write_text(json.dumps({'databases': {'hosts': {'drillhost': dict({
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
        'runbook_pg_login_unix_socket': str(pg.run), 'runbook_pg_login_port': pg.port,
        'runbook_pg_login_user': 'postgres', 'dr_drill_databases': [name],
        'dr_drill_backup_dir': str(tmp_path / 'backups'), 'dr_drill_amcheck': False,
        'maintenance_force': True, 'security_audit_packages': False,
        'maintenance_report_dir': str(reports)}, **host_vars)}}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    done = subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', str(inventory),
                           str(REPO / 'playbooks' / 'maintenance-quarterly.yml')], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    found = sorted(reports.glob('quarterly-*.json'))
    report = json.loads(found[-1].read_text()) if found else None
    return done, ' '.join(done.stdout.split()), report


def section(report, prefix):
    return next(s for s in report['sections'] if s['title'].startswith(prefix))


def test_quarterly_is_green_with_a_configuration_finding_on_a_healthy_dump_only_host(pg, db, run_module, tmp_path):
    name, conn = db
    conn.execute('CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 500) g')
    backup(run_module, pg, name, tmp_path / 'backups' / name)
    done, out, report = quarterly(pg, tmp_path, name)
    assert done.returncode == 0, out[-3000:]
    assert report['status'] == 'ok', report
    drill = section(report, 'DR drill')
    assert drill['status'] == 'ok', drill
    text = json.dumps(drill)
    assert 'the dump schedule (every 86400s, plus 7200s), not the declared 900s' in text
    finding = section(report, 'Recovery objectives')
    assert finding['status'] == 'findings', finding
    assert any('declared RPO 15m (database failure) is tighter than the dumps (every 24h)' in line
               and 'pgbackrest group' in line for line in finding['lines']), finding
    assert work_databases(pg, '__drill') == []


def test_quarterly_is_red_when_a_declared_target_is_missed(pg, db, run_module, tmp_path):
    name, conn = db
    conn.execute('CREATE TABLE orders AS SELECT g AS id FROM generate_series(1, 500) g')
    artefact, _manifest = backup(run_module, pg, name, tmp_path / 'backups' / name)
    old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=3)
    set_manifest(artefact, created_at=old.strftime('%Y-%m-%dT%H:%M:%SZ'))
    targets = {'database_failure': {'rto': '1h', 'rpo': '1h'}, 'data_corruption': {'rto': '3h', 'rpo': '24h'}}
    done, out, report = quarterly(pg, tmp_path, name, dr_targets=targets, dr_dump_interval='1h')
    assert done.returncode != 0, out[-3000:]
    assert report['status'] == 'failed', report
    assert 'DR drill: RPO missed: the newest restorable backup (' in report['failure']
    assert 'the target is 3600s (declared)' in report['failure']
    assert section(report, 'DR drill')['status'] == 'failed'
    # these targets are within what hourly dumps can meet: no configuration finding
    assert section(report, 'Recovery objectives')['status'] == 'ok'
    assert 'Quarterly maintenance: DR drill: RPO missed' in out
    assert work_databases(pg, '__drill') == []
