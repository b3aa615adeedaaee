"""runbook.maintenance.health_check against a real PostgreSQL: one call measures what the
maintenance_checks role checks (server, recovery, lag, disk with its state file, newest backup,
circuit breakers) and returns the role's failure messages; check mode writes nothing."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pg_helpers import PASSWORD


def health(run_module, pg, check=False, **args) -> dict:
    return run_module('health_check', dict(pg.module_args(), **args), check=check)


def test_everything_healthy_in_one_call(pg, run_module, tmp_path):
    backups = tmp_path / 'backups' / 'app'
    backups.mkdir(parents=True)
    manifest = backups / 'app-1.dump.json'
    manifest.write_text('{}')
    os.utime(manifest, (time.time() - 7200, time.time() - 7200))
    state = tmp_path / 'state' / 'disk-usage.json'
    breakers = tmp_path / 'breakers'
    result = health(run_module, pg, phase='pre', host_label='db1', max_replication_lag_s=300, state_file=str(state),
                    backup_dir=str(tmp_path / 'backups'), max_backup_age='26h', breakers=['maintenance', 'backups'],
                    required_closed_breakers=['maintenance'], breaker_state_dir=str(breakers), paths=[str(tmp_path)])
    assert not result.get('failed') and result['changed'] is False, result
    assert result['failures'] == [] and result['failure_details'] == []
    assert result['postgres_available'] is True and result['conn_err_msg'] == ''
    with_version = result['server_version']
    assert with_version.split('.')[0].isdigit(), with_version
    assert result['in_recovery'] is False and result['standbys'] == 0 and result['replication_lag_s'] == 0.0
    assert result['data_directory'] and Path(result['data_directory']).is_dir()  # a superuser may read it
    assert result['disk'] and result['disk'][0]['path'] == result['data_directory']
    assert len(result['disk_summary']) == len(result['disk'])
    assert 7190 <= result['backup_age_s'] <= 7300 and result['newest_backup'] == str(manifest)
    assert result['breakers'] == {'maintenance': 'closed', 'backups': 'closed'}
    assert result['state_written'] is True and oct(state.stat().st_mode & 0o777) == '0o600'
    assert not breakers.exists()  # reading a breaker creates nothing


def test_failures_carry_the_role_messages(pg, run_module, tmp_path):
    breakers = tmp_path / 'breakers'
    opened = run_module('circuit_breaker', {'name': 'maintenance', 'state_dir': str(breakers), 'action': 'open',
                                            'reason': 'pre-check failed'})
    assert opened['state'] == 'open', opened
    result = health(run_module, pg, phase='post', host_label='db1', backup_dir=str(tmp_path / 'nothing'),
                    max_backup_age='1d', min_free_percent=100, emergency_free_percent='5', breakers=['maintenance'],
                    required_closed_breakers=['maintenance'], breaker_state_dir=str(breakers),
                    setting_prefix='maintenance_checks_', max_replication_lag_s='')
    assert not result.get('failed'), result
    checks = [d['check'] for d in result['failure_details']]
    assert checks[0] == 'disk' and checks[-2:] == ['backup', 'breaker'], result['failure_details']
    assert result['failures'][0].startswith('post-check failed: only ')
    assert 'the threshold is 100%. Run the disk-space emergency procedure first (playbooks/disk-emergency.yml).' \
        in result['failures'][0]
    assert result['failures'][-2] == f"post-check failed: no backup found under {tmp_path / 'nothing'}."
    assert result['failures'][-1] == ('post-check failed: circuit breaker maintenance is open (pre-check failed). '
                                      'Close it once the cause is fixed.')
    assert result['breakers'] == {'maintenance': 'open'} and result['backup_age_s'] == -1


def test_postgres_down_is_reported_without_the_password(pg, run_module, tmp_path):
    args = dict(login_host='127.0.0.1', login_port=1, login_user='postgres', login_password=PASSWORD,
                connect_timeout=2)
    result = run_module('health_check', dict(args, phase='pre', fallback_path=str(tmp_path)))
    assert not result.get('failed'), result
    assert result['postgres_available'] is False and result['server_version'] == ''
    assert result['failures'][0].startswith('pre-check failed: PostgreSQL does not answer (')
    assert result['disk'][0]['path'] == str(tmp_path)  # the fallback path is measured
    assert PASSWORD not in json.dumps(result)


def test_check_mode_writes_no_state_file(pg, run_module, tmp_path):
    state = tmp_path / 'state' / 'disk-usage.json'
    result = health(run_module, pg, check=True, state_file=str(state))
    assert not result.get('failed') and result['changed'] is False, result
    assert result['postgres_available'] is True and result['state_written'] is False
    assert not state.exists() and not state.parent.exists()


def test_bad_options_fail_clearly(pg, run_module):
    result = health(run_module, pg, min_free_percent='lots', max_backup_age='soon', breakers=['../x'])
    assert result['failed'] and result['msg'].startswith('Invalid options: ')
    assert 'min_free_percent must be a number' in result['msg'] and 'max_backup_age' in result['msg']
    assert "breaker names must be" in result['msg']
    assert 'Traceback' not in result.get('_stderr', '')
