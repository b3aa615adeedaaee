"""playbooks/connection-issues.yml run by ansible-playbook against the test PostgreSQL: report
only, check mode, the real run (runaway query cancelled, idle-in-transaction session terminated
and rolled back), and a pool that stays full (clear failure, report written)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / 'playbooks' / 'connection-issues.yml'
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / 'ansible-playbook'
COLLECTIONS = REPO / '.build' / 'collections'
APP = 'rb_conn_app'


@pytest.fixture(scope='module')
def app_role(pg):
    with psycopg.connect(**pg.conninfo(), autocommit=True) as admin:
        if not admin.execute('SELECT 1 FROM pg_roles WHERE rolname = %s', (APP,)).fetchone():
            admin.execute(f'CREATE ROLE {APP} LOGIN')
    return APP


@pytest.fixture()
def incident(pg, db, app_role):
    """A runaway query and a session idle in a transaction with an uncommitted insert, both
    older than the 1 s limits the tests use."""
    name, admin = db
    admin.execute('CREATE TABLE orders (id serial PRIMARY KEY, note text)')
    admin.execute(f'GRANT ALL ON orders, orders_id_seq TO {APP}')
    info = dict(pg.conninfo(name), user=APP)
    stuck = psycopg.connect(**info, application_name='shop')
    stuck.execute("INSERT INTO orders (note) VALUES ('uncommitted')")
    runaway = psycopg.connect(**info, application_name='report-job', autocommit=True)
    outcome = {}

    def long_query():
        try:
            runaway.execute('SELECT pg_sleep(900)')
            outcome['error'] = None
        except psycopg.Error as exc:
            outcome['error'] = exc

    thread = threading.Thread(target=long_query, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ages = dict(admin.execute(
            "SELECT pid, EXTRACT(EPOCH FROM now() - CASE WHEN state = 'active' THEN query_start ELSE state_change END) "
            "FROM pg_stat_activity WHERE pid IN (%s, %s) AND state IN ('active', 'idle in transaction')",
            (stuck.info.backend_pid, runaway.info.backend_pid)).fetchall())
        if len(ages) == 2 and min(ages.values()) > 1.5:
            break
        time.sleep(0.1)
    else:
        raise AssertionError('the incident sessions did not age')
    yield {'name': name, 'admin': admin, 'stuck': stuck, 'runaway': runaway, 'thread': thread, 'outcome': outcome}
    for conn in (stuck, runaway):
        try:
            conn.cancel_safe(timeout=5) if not conn.closed else None
            conn.close()
        except psycopg.Error:
            pass
    thread.join(timeout=30)


def alive(admin, pid: int) -> bool:
    return admin.execute('SELECT count(*) FROM pg_stat_activity WHERE pid = %s', (pid,)).fetchone()[0] == 1


def run_playbook(pg, tmp_path: Path, name: str, *extra: str, **variables) -> tuple[subprocess.CompletedProcess, dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    reports = tmp_path / 'reports'
    values = {
        'runbook_pg_login_unix_socket': str(pg.run), 'runbook_pg_login_port': pg.port,
        'runbook_pg_login_user': 'postgres', 'runbook_pg_login_db': name,
        'connection_issues_databases': [name], 'connection_issues_cancel_after': '1s',
        'connection_issues_idle_in_transaction_after': '1s',
        'maintenance_report_dir': str(reports), 'maintenance_report_metrics_dir': str(tmp_path / 'metrics'),
        'ansible_python_interpreter': sys.executable,
    }
    values.update(variables)
    (tmp_path / 'metrics').mkdir(exist_ok=True)
    extra_file = tmp_path / 'vars.json'
    extra_file.write_text(json.dumps(values))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'))
    done = subprocess.run([str(ANSIBLE_PLAYBOOK), '-i', 'localhost,', '-c', 'local', str(PLAYBOOK),
                           '-e', f'@{extra_file}', *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    found = sorted(reports.glob('connection_issues-*.json')) if reports.exists() else []
    report = json.loads(found[-1].read_text()) if found else {}
    return done, report


def section(report: dict, prefix: str) -> dict:
    matches = [s for s in report.get('sections', []) if s['title'].startswith(prefix)]
    assert matches, f"no section {prefix!r} in {[s['title'] for s in report.get('sections', [])]}"
    return matches[0]


def rows(admin, note: str) -> int:
    return admin.execute('SELECT count(*) FROM orders WHERE note = %s', (note,)).fetchone()[0]


def test_report_only_check_mode_and_refusal_change_nothing(pg, incident, tmp_path):
    stuck, runaway, admin = incident['stuck'], incident['runaway'], incident['admin']

    done, report = run_playbook(pg, tmp_path / 'report-only', incident['name'], connection_issues_report_only=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert report['status'] == 'ok' and report['procedure'] == 'connection_issues'
    terminate = section(report, 'Idle in transaction')['lines']
    cancel = section(report, 'Runaway queries')['lines']
    assert any(f"pid {stuck.info.backend_pid} " in line and 'would be terminated' in line for line in terminate)
    assert any(f"pid {runaway.info.backend_pid} " in line and 'would be cancelled' in line for line in cancel)
    assert section(report, 'Connections')['items']['if the terminations ran'].endswith('% used')

    done, report = run_playbook(pg, tmp_path / 'check', incident['name'], '--check')
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert report['check_mode'] is True
    assert any('would be terminated' in line for line in section(report, 'Idle in transaction')['lines'])
    assert not list((tmp_path / 'check' / 'metrics').glob('*.prom')), 'a dry run wrote metrics'

    done, report = run_playbook(pg, tmp_path / 'refused', incident['name'], connection_issues_max_sessions=0)
    assert done.returncode != 0
    assert 'refusing to cancel 1 sessions' in done.stdout
    assert report['status'] == 'failed' and 'refusing to cancel' in report['failure']

    assert alive(admin, stuck.info.backend_pid)
    assert incident['thread'].is_alive(), 'the runaway query was cancelled'
    stuck.commit()
    assert rows(admin, 'uncommitted') == 1


def test_real_run_cancels_terminates_rolls_back_and_reports(pg, incident, tmp_path):
    done, report = run_playbook(pg, tmp_path, incident['name'])
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    admin = incident['admin']
    assert not alive(admin, incident['stuck'].info.backend_pid)
    assert rows(admin, 'uncommitted') == 0, 'the terminated transaction was not rolled back'
    incident['thread'].join(timeout=60)
    assert isinstance(incident['outcome']['error'], psycopg.errors.QueryCanceled)
    assert alive(admin, incident['runaway'].info.backend_pid), 'cancel ended the session'

    assert report['status'] == 'ok'
    assert section(report, 'Connections')['status'] == 'ok'
    assert any('terminated' in line for line in section(report, 'Idle in transaction')['lines'])
    assert any('cancelled' in line for line in section(report, 'Runaway queries')['lines'])
    metrics = (tmp_path / 'metrics' / 'runbook_maintenance_connection_issues.prom').read_text()
    assert 'runbook_maintenance_sessions_terminated{' in metrics
    assert [line for line in metrics.splitlines() if line.startswith('runbook_maintenance_sessions_terminated{')][0].endswith(' 1')
    assert [line for line in metrics.splitlines() if line.startswith('runbook_maintenance_sessions_cancelled{')][0].endswith(' 1')


def test_pool_still_full_fails_clearly_with_the_report(pg, db, tmp_path):
    done, report = run_playbook(pg, tmp_path, db[0], connection_issues_max_used_percent=0.5)
    assert done.returncode != 0
    assert 'the pool is still full' in done.stdout
    assert report['status'] == 'failed' and 'the pool is still full' in report['failure']
    assert section(report, 'Connections')['status'] == 'FULL'
