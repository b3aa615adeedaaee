"""report filters of the incident and drill playbooks (pure logic). The inputs are results left by
real runs (the disk_emergency molecule scenario's check mode, health-check, restore, dr-drill and
connection-issues against a test PostgreSQL), trimmed to the fields the filters read; the expected
pieces are what the playbooks' former Jinja made of the same inputs."""

from __future__ import annotations

import copy

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.maintenance.plugins.filter.report import (
    FilterModule,
    complete_recovery_report,
    connection_issues_report,
    disk_emergency_report,
    dr_database_report,
    dr_drill_report,
    health_check_report,
    pgbackrest_job_report,
    pitr_drill_report,
    pitr_restore_report,
    quarterly_report,
    restore_report,
)

DISK = {
    'assessment': {'largest_directories': [{'bytes': 16048128, 'path': '/var/log/app'},
                                           {'bytes': 2002944, 'path': '/var/log/app/audit'}]},
    'check_mode': True, 'free_after': {'free': 729088, 'free_percent': 4.35},
    'free_before': {'free': 729088, 'free_percent': 4.35, 'mount': '/var/log/app', 'total': 16777216},
    'host': 'runbook-disk-emergency', 'mount': '/var/log/app',
    'stages': [{'backup_copies_bytes_freed': 0, 'docker': [], 'docker_bytes_freed': 0, 'files_bytes_freed': 5000000,
                'free_after': 729088, 'stage': 'safe',
                'jobs': [{'action': 'delete', 'bytes_freed': 5000000, 'files_count': 5, 'name': 'rotated and compressed logs',
                          'open_files': [], 'path': '/var/log/app', 'target_met': True},
                         {'action': 'delete', 'bytes_freed': 0, 'files_count': 0, 'name': 'old logs', 'open_files': [],
                          'path': '/var/log/app', 'target_met': False}]}],
    'target_free_percent': 30, 'target_met': True,
}

HEALTH = {
    'services': {'action': 'check', 'check_mode': False, 'duration_s': 2.2, 'healthy': True, 'restarted': [],
                 'services': [], 'unhealthy': []},
    'services_summary': ['Services on localhost, check: 0 restarted, 0 unhealthy, healthy, checked in 2.2s'],
    'checks': {'pre': {'backup_age_s': -1, 'breakers': {'backups': 'closed', 'maintenance': 'closed'},
                       'disk': [{'days_until_full': None, 'emergency': False, 'free_percent': 29.8, 'growth_bytes': -35213312,
                                 'low': False, 'mount': '/', 'path': '/tmp/report-pg/data'}],
                       'in_recovery': False, 'postgres_available': True, 'replication_lag_s': 0.0,
                       'server_version': '15.18', 'standbys': 0}},
}

SHOP_DUMP = '/tmp/report-run/backups/shop/shop-20261207T122722Z.dump'
CRM_FAILED = {'backup_age_s': 117.348, 'changed': False, 'duration_s': 0.002, 'failed': True, 'item': 'crm',
              'msg': 'the manifest lists no tables, the restore cannot be verified (verify_rows=false restores without that check)',
              'rows_verified': False, 'source': '/tmp/report-run/backups/crm/crm-20261207T122724Z.dump', 'target_database': 'crm'}
NO_DUMP = {'backup_age_s': None, 'changed': False, 'duration_s': 0.0, 'failed': True, 'item': 'nodump',
           'msg': 'latest_in /tmp/report-run/backups/nodump does not exist', 'rows_verified': False, 'source': None,
           'target_database': 'nodump'}
RESTORE = [{'backup_age_s': 113.935, 'changed': True, 'duration_s': 1.174, 'failed': False, 'item': 'shop',
            'rows_verified': True, 'source': SHOP_DUMP, 'target_database': 'shop'}, CRM_FAILED, NO_DUMP]


def _session(pid, user, app, state, duration, action, query):
    return {'action_taken': action, 'application': app, 'client': 'local', 'database': 'shop', 'duration_s': duration,
            'pid': pid, 'query': query, 'state': state, 'superuser': False, 'user': user}


COUNTS = {'connections_free': 96, 'max_connections': 100, 'total': 4, 'used_percent': 4.0,
          'per_state': {'active': 3, 'disabled': 0, 'idle': 0, 'idle in transaction': 1}}
CONN_CHECK = {
    'host': 'localhost', 'report_only': False, 'check_mode': True, 'before': COUNTS, 'after': COUNTS,
    'cancel': {'ran': True, 'candidates': 2, 'signalled': 0, 'sessions': [
        _session(23640, 'app', 'report-job', 'active', 78.11, 'would_cancel', 'select pg_sleep(100)'),
        _session(25842, 'app', 'report-job', 'active', 15.399, 'would_cancel', 'select pg_sleep(100)')]},
    'terminate': {'ran': True, 'candidates': 1, 'signalled': 0, 'sessions': [
        _session(25841, 'app', 'shop', 'idle in transaction', 19.605, 'would_terminate',
                 "insert into orders values (100000+31210,'u');")]},
    'max_used_percent': 90.0, 'projected_used_percent': 3.0, 'room_ok': True,
}

FINDING = ('declared RPO 15m (database failure) is tighter than the dumps (every 24h) can meet on this dump-only host: '
           'put it into the pgbackrest group')
DR = {
    'check_mode': False, 'passed': False, 'pitr_host': False, 'findings': [FINDING],
    'rpo_basis': 'the dump schedule (every 86400s, plus 7200s), not the declared 900s: dumps cannot meet it, see the configuration finding',
    'rpo_declared_s': 900, 'rpo_target_s': 93600, 'rto_target_s': 3600,
    'databases': [
        {'amcheck': 'passed', 'database': 'shop', 'passed': True, 'reasons': [], 'rows_verified': True,
         'rpo_s': 917.95, 'rto_s': 0.466},
        {'amcheck': 'not run (restore failed)', 'database': 'crm', 'passed': False, 'rows_verified': False,
         'reasons': ['restore failed: the manifest lists no tables, the restore cannot be verified '
                     '(verify_rows=false restores without that check)'],
         'rpo_s': 922.113, 'rto_s': None}],
}

PITR = {'passed': True, 'rto_s': 41.2, 'rpo_s': 3.5, 'rto_target_s': 3600, 'rpo_target_s': 900, 'reasons': [],
        'target_time': '2026-12-07 12:00:00+00', 'recovery_point': '2026-12-07 11:59:58.1+00', 'stanza': 'main'}


# ---- disk_emergency_report -------------------------------------------------------------------------

def test_disk_emergency_check_mode_plans_the_cleanup():
    rep = disk_emergency_report(DISK, check_mode=True)
    assert rep['sections'] == [
        {'title': 'Free space', 'status': 'would be met',
         'items': {'filesystem': '/var/log/app', 'before': '4.35% free (712.0 KiB)', 'after': '4.35% free (712.0 KiB)',
                   'target': '30% free'}},
        {'title': 'Stages', 'lines': ['safe: 4.8 MiB of files, 0 Bytes of Docker, 0 Bytes of backup copies',
                                      '  rotated and compressed logs (/var/log/app): delete 5 files, 4.8 MiB']}]
    assert rep['metrics'] == {'disk_free_ratio{mount="/var/log/app"}': 0.0435, 'disk_target_met{mount="/var/log/app"}': True}
    assert rep['summary'] == '/var/log/app: 4.35% -> 4.35% free (target 30%, would be met), 4.8 MiB would be freed'
    assert rep['bytes_freed'] == 5000000


def test_disk_emergency_target_missed_lists_the_largest_directories_and_held_files():
    res = copy.deepcopy(DISK)
    res.update(target_met=False, mount='/var/"log')
    res['stages'][0]['jobs'][0]['open_files'] = ['/var/log/app/a.log']
    res['stages'].append({'stage': 'database', 'vacuum': {}})
    rep = disk_emergency_report(res)
    assert rep['sections'][0]['status'] == 'NOT MET'
    assert rep['sections'][1]['lines'][1].endswith('delete 5 files, 4.8 MiB, 1 held open kept')
    assert rep['sections'][1]['lines'][2] == 'database: VACUUM of the bloated tables (see the databases below)'
    assert rep['sections'][2] == {'title': 'Largest directories (before the cleanup)',
                                  'lines': ['  15.3 MiB  /var/log/app', '   1.9 MiB  /var/log/app/audit']}
    assert 'disk_target_met{mount="/var/\\"log"}' in rep['metrics']
    assert rep['summary'].endswith('NOT MET), 4.8 MiB freed')


def test_disk_emergency_without_a_result_reports_nothing():
    assert disk_emergency_report({}) == {'sections': [], 'metrics': {}, 'summary': '', 'bytes_freed': 0}
    assert disk_emergency_report(None)['sections'] == []


# ---- health_check_report -----------------------------------------------------------------------------

def test_health_check_healthy():
    rep = health_check_report(HEALTH, failures=[], host='localhost')
    assert rep['lines'] == ['Services on localhost, check: 0 restarted, 0 unhealthy, healthy, checked in 2.2s',
                            'PostgreSQL 15.18: accepts connections, primary',
                            '  /: 29.8% free, grew -35213312 Bytes since the previous report', 'HEALTHY']
    assert rep['sections'] == [{'title': 'Services', 'status': 'ok', 'lines': HEALTH['services_summary']}]
    assert rep['metrics'] == {'health_check_healthy': True, 'health_check_unhealthy_services': 0,
                              'disk_free_ratio{mount="/"}': 0.298}


def test_health_check_unhealthy_names_the_disk_emergency_command():
    res = copy.deepcopy(HEALTH)
    res['services'].update(healthy=False, unhealthy=['api'])
    res['checks']['pre']['in_recovery'] = True
    res['checks']['pre']['disk'] = [{'mount': '/srv', 'free_percent': 3.1, 'emergency': True, 'days_until_full': 1.5,
                                     'growth_bytes': None}]
    rep = health_check_report(res, failures=['services: api unhealthy'], host='db-1', emergency_free_percent=7)
    assert rep['lines'][1:] == ['PostgreSQL 15.18: accepts connections, standby (in recovery)',
                                '  /srv: 3.1% free, full in 1.5 days at that rate - UNDER 7%: ansible-playbook '
                                'playbooks/disk-emergency.yml -l db-1 -e disk_emergency_path=/srv',
                                'UNHEALTHY: services: api unhealthy']
    assert rep['sections'][0]['status'] == 'failed'
    assert rep['metrics'] == {'health_check_healthy': False, 'health_check_unhealthy_services': 1,
                              'disk_free_ratio{mount="/srv"}': 0.031, 'disk_days_until_full{mount="/srv"}': 1.5}


def test_health_check_before_any_result():
    rep = health_check_report({'services_summary': None}, failures=['services: boom'])
    assert rep['sections'] == [{'title': 'Services', 'status': 'failed', 'lines': ['no result']}]
    assert rep['lines'] == ['UNHEALTHY: services: boom']


# ---- restore_report --------------------------------------------------------------------------------

def test_restore_real_run_with_failures():
    rep = restore_report(RESTORE)
    assert rep['sections'] == [{'title': 'Databases', 'status': 'restored', 'items': {
        'shop': 'restored into shop in 1.174s (RTO), backup 113.935s old (RPO), rows verified',
        'crm': 'FAILED: ' + CRM_FAILED['msg'],
        'nodump': 'FAILED: latest_in /tmp/report-run/backups/nodump does not exist'}}]
    assert rep['metrics'] == {'restore_rto_seconds': 1.174, 'restore_rpo_seconds': 113.935}


def test_restore_check_mode_and_failed_run():
    plan = [dict(RESTORE[0], rows_verified=False), CRM_FAILED]
    rep = restore_report(plan, check_mode=True)
    assert rep['sections'][0]['status'] == 'planned'
    assert rep['sections'][0]['items']['shop'] == f'would restore {SHOP_DUMP} into shop'
    assert rep['metrics'] == {'restore_rto_seconds': None, 'restore_rpo_seconds': None}
    assert restore_report(RESTORE, failure='Restore: x')['sections'][0]['status'] == 'failed'
    assert restore_report([])['sections'][0]['items'] == {'-': 'no database restored'}
    with pytest.raises(AnsibleFilterError, match='expects a list'):
        restore_report({'item': 'shop'})


# ---- connection_issues_report ----------------------------------------------------------------------

def test_connection_issues_check_mode():
    rep = connection_issues_report(CONN_CHECK, check_mode=True, cancel_after='1s', idle_after='1s')
    assert rep['sections'] == [
        {'title': 'Connections', 'status': 'would be ok', 'items': {
            'before': '4 of 100 (4.0%, 96 free); active 3, idle in transaction 1',
            'after': '4 of 100 (4.0%, 96 free); active 3, idle in transaction 1',
            'wanted': 'at most 90% used', 'if the terminations ran': '3.0% used'}},
        {'title': 'Runaway queries (active over 1s)', 'lines': [
            'pid 23640 app@shop (report-job, local) active 78s: would be cancelled -- select pg_sleep(100)',
            'pid 25842 app@shop (report-job, local) active 15s: would be cancelled -- select pg_sleep(100)']},
        {'title': 'Idle in transaction (over 1s)', 'lines': [
            "pid 25841 app@shop (shop, local) idle in transaction 20s: would be terminated -- "
            "insert into orders values (100000+31210,'u');"]}]
    assert rep['metrics'] == {'connections_used': 4, 'connections_max': 100, 'connections_used_ratio': 0.04,
                              'sessions_cancelled': 0, 'sessions_terminated': 0, 'connections_room_ok': True}
    assert rep['summary'] == ('connections 4.0% -> 4.0% of 100 (report only), 2 queries would be cancelled, '
                              '1 sessions would be terminated')


def test_connection_issues_real_run_and_a_failed_step():
    res = copy.deepcopy(CONN_CHECK)
    res['check_mode'] = False
    res['cancel'].update(signalled=2, sessions=[dict(s, action_taken='cancelled') for s in res['cancel']['sessions']])
    rep = connection_issues_report(res)
    assert rep['sections'][0]['status'] == 'ok' and 'if the terminations ran' not in rep['sections'][0]['items']
    assert rep['sections'][1]['title'] == 'Runaway queries (active over 5m)'
    assert rep['sections'][1]['lines'][0].endswith('active 78s: cancelled -- select pg_sleep(100)')
    assert rep['summary'] == 'connections 4.0% -> 4.0% of 100, 2 queries cancelled, 0 sessions terminated'
    # a refused step: what was measured before it, no metrics, no summary
    partial = {k: res[k] for k in ('host', 'report_only', 'check_mode', 'before', 'max_used_percent')}
    partial['cancel'] = {'ran': False, 'sessions': [], 'candidates': 0, 'signalled': 0}
    partial['terminate'] = partial['cancel']
    rep = connection_issues_report(partial)
    assert rep['sections'] == [{'title': 'Connections', 'status': 'FULL', 'items': {
        'before': '4 of 100 (4.0%, 96 free); active 3, idle in transaction 1', 'after': 'not measured',
        'wanted': 'at most 90% used'}}]
    assert rep['metrics'] == {} and rep['summary'] == ''
    assert connection_issues_report({}) == {'sections': [], 'metrics': {}, 'summary': ''}


# ---- dr_drill_report and quarterly_report ------------------------------------------------------------

def test_dr_drill_report():
    rep = dr_drill_report(DR)
    assert rep['section'] == {'title': 'DR drill (targets RTO 3600s, RPO 93600s)', 'status': 'failed', 'items': {
        'RPO judged against': DR['rpo_basis'], 'configuration finding 1': FINDING,
        'shop': 'passed, RTO 0.466s, RPO 917.95s',
        'crm': 'FAILED, RTO Nones, RPO 922.113s: ' + DR['databases'][1]['reasons'][0]}}
    assert rep['sections'] == [rep['section']]
    assert rep['metrics'] == {'dr_drill_passed': False, 'dr_targets_findings': 1, 'dr_drill_rto_seconds': 0.466,
                              'dr_drill_rpo_seconds': 922.113}
    assert rep['failure'] == 'DR drill failed: ' + DR['databases'][1]['reasons'][0]
    assert dr_drill_report(DR, check_mode=True)['failure'] == ''
    assert dr_drill_report(dict(DR, databases=[]))['failure'] == 'DR drill failed: no database was drilled'


def test_quarterly_report_with_both_drills():
    passed = dict(DR, passed=True, databases=DR['databases'][:1], findings=[])
    rep = quarterly_report({'dr_drill': passed, 'pitr_drill': PITR, 'security_audit_findings': ['superusers: postgres, admin']},
                           pitr_expected=True)
    assert [s['title'] for s in rep['sections']] == ['DR drill (targets RTO 3600s, RPO 93600s)',
                                                     'PITR drill (targets RTO 3600s, RPO 900s)',
                                                     'Recovery objectives (configuration)', 'Security audit']
    assert rep['sections'][1]['items'] == {'RTO': '41.2s', 'RPO': '3.5s', 'recovery point': '2026-12-07 11:59:58.1+00',
                                           'reasons': 'none'}
    assert rep['sections'][3] == {'title': 'Security audit', 'status': 'findings', 'lines': ['superusers: postgres, admin']}
    assert rep['metrics'] == {'security_audit_findings': 1, 'dr_drill_passed': True, 'dr_targets_findings': 0,
                              'dr_drill_rto_seconds': 0.466, 'dr_drill_rpo_seconds': 917.95, 'pitr_drill_passed': True,
                              'pitr_drill_rto_seconds': 41.2, 'pitr_drill_rpo_seconds': 3.5}
    assert rep['failure'] == ''


def test_quarterly_report_failures_and_findings():
    rep = quarterly_report({'dr_drill': DR, 'pitr_drill': None, 'security_audit_findings': []},
                           pitr_expected=True, pitr_undrilled=True)
    assert rep['failure'] == 'DR drill: ' + DR['databases'][1]['reasons'][0] + ' | PITR drill: did not run'
    objectives = rep['sections'][1]
    assert objectives['status'] == 'findings' and objectives['lines'][0] == FINDING
    assert objectives['lines'][1].startswith('the host is in the pgbackrest group but quarterly_pitr_drill is false')
    assert rep['metrics']['dr_targets_findings'] == 1 and 'pitr_drill_passed' not in rep['metrics']
    rep = quarterly_report({'security_audit_findings': []})
    assert rep['sections'][0] == {'title': 'DR drill', 'status': 'failed', 'lines': ['the drill did not finish']}
    assert rep['metrics'] == {'security_audit_findings': 0, 'dr_drill_passed': False, 'dr_targets_findings': 0}
    assert rep['failure'] == 'DR drill: did not run'


def test_pitr_drill_report():
    rep = pitr_drill_report(PITR)
    assert rep == {'sections': [{'title': 'PITR drill (targets RTO 3600s, RPO 900s)', 'status': 'ok', 'items': {
        'stanza': 'main', 'RTO': '41.2s', 'RPO': '3.5s', 'target time': '2026-12-07 12:00:00+00',
        'recovery point': '2026-12-07 11:59:58.1+00'}}],
        'metrics': {'pitr_drill_passed': True, 'pitr_drill_rto_seconds': 41.2, 'pitr_drill_rpo_seconds': 3.5}, 'failure': ''}
    bad = dict(PITR, passed=False, rpo_s=-1.0, recovery_point='',
               reasons=['measured RPO -1.0s is over the target 900s (or unknown)'])
    rep = pitr_drill_report(bad, stanza='db', rto_target_s=60, rpo_target_s=5)
    assert rep['sections'][0]['title'] == 'PITR drill (targets RTO 60s, RPO 5s)'
    assert rep['sections'][0]['status'] == 'failed' and rep['sections'][0]['items']['stanza'] == 'db'
    assert rep['failure'] == 'PITR drill failed: measured RPO -1.0s is over the target 900s (or unknown)'


# ---- pgbackrest_job_report (pgbackrest_verify / pgbackrest_expire as their RETURN documents them) ------

VERIFY = {'verified': True, 'failures': [], 'age_s': 27780.6, 'pgbackrest': {
    'stanza': 'main', 'verify_status': 'ok', 'wal_age_s': 48.5, 'wal_gaps': [],
    'newest_backup': {'label': '20261129-021500F_20261130-021500D', 'type': 'diff', 'stopped': '2026-11-30T02:16:40Z'},
    'newest_wal': {'segment': '00000001000000A2000000C4', 'archived_at': '2026-11-30T09:59:12Z'}}}
EXPIRE = {'kept': [{'label': '20261129-021500F'}, {'label': '20261122-021500F'}], 'expired': [{'label': '20261001-021500F'}],
          'blocked': None}
RETENTION = {'daily': 7, 'weekly': 4, 'monthly': 12}


def test_pgbackrest_job_verified_and_expired():
    rep = pgbackrest_job_report({'verify': VERIFY, 'expire': EXPIRE, 'breaker_check': {'allowed': True}},
                                retention=RETENTION, max_age='26h', max_wal_age='900s')
    assert rep['sections'] == [
        {'title': 'Verification', 'status': 'ok', 'items': {
            'verify': 'ok', 'newest backup': '20261129-021500F_20261130-021500D (diff, 2026-11-30T02:16:40Z, 27781s old, limit 26h)',
            'newest WAL': '00000001000000A2000000C4 archived 2026-11-30T09:59:12Z, 48s ago (RPO 900s)', 'WAL gaps': 0}},
        {'title': 'Retention (7 daily / 4 weekly / 12 monthly full sets)', 'status': 'ok',
         'lines': ['kept 20261129-021500F, 20261122-021500F', 'expired 20261001-021500F']}]
    assert rep['metrics'] == {'pgbackrest_verified': True, 'pgbackrest_backup_age_seconds': 27780.6,
                              'pgbackrest_wal_age_seconds': 48.5, 'pgbackrest_sets_expired': 1,
                              'breaker_open{breaker="backups"}': False}
    planned = pgbackrest_job_report({'verify': VERIFY, 'expire': dict(EXPIRE, expired=[])}, check_mode=True)
    assert planned['sections'][1]['lines'][1] == 'would expire nothing'


def test_pgbackrest_job_failed_verification_and_open_breaker():
    bad = dict(VERIFY, verified=False, age_s=None, failures=['wal_age: newest archived WAL segment 2h old, max_wal_age 15m'],
               pgbackrest=dict(VERIFY['pgbackrest'], newest_wal=None, wal_age_s=None))
    rep = pgbackrest_job_report({'verify': bad, 'expire': {'skipped': True}, 'breaker_check': {'allowed': True}},
                                retention=RETENTION, failure='Fail: the stanza did not verify')
    assert [s['title'] for s in rep['sections']][:2] == ['Verification', 'Failures']
    assert rep['sections'][0]['items']['newest WAL'] == 'none'
    assert rep['sections'][1]['lines'] == bad['failures']
    assert rep['sections'][2]['lines'] == ['skipped: the stanza did not verify']
    assert rep['metrics'] == {'pgbackrest_verified': False, 'breaker_open{breaker="backups"}': False}
    rep = pgbackrest_job_report({'verify': VERIFY, 'breaker_check': {'allowed': False, 'reason': 'threshold 1 reached'}},
                                breaker='pg')
    assert rep['sections'][-1]['lines'] == ['skipped: the pg breaker is open (threshold 1 reached)']
    rep = pgbackrest_job_report({}, failure='Verify the stanza: pgbackrest not found')
    assert rep['sections'][0]['items'] == {'verify': 'not run', 'newest backup': 'none', 'newest WAL': 'none', 'WAL gaps': 0}
    assert rep['sections'][1]['lines'] == ['Verify the stanza: pgbackrest not found']


# ---- dr_database_report --------------------------------------------------------------------------

DB_FAILURE = {
    'recovered': True, 'rto_met': True, 'rpo_met': True, 'rto_s': 41.3, 'rpo_s': 812.4, 'rto_target_s': 3600.0,
    'rpo_target_s': 86400.0, 'restored': ['shop'], 'method': 'none', 'pitr': {}, 'pitr_host': False,
    'services': {'healthy': True, 'services': [{'name': 'postgresql', 'action': 'none'}, {'name': 'api', 'action': 'restart'}]},
}


def test_dr_database_dump_only_host():
    rep = dr_database_report(DB_FAILURE, missing=['shop'])
    assert rep['sections'] == [
        {'title': 'Recovery', 'status': 'ok', 'items': {
            'missing': 'shop', 'restored': 'shop', 'RTO': '41.3s (target 3600s: met)',
            'cluster': 'answering (its own data directory)',
            'RPO': '812.4s, the age of the dump restored (target 86400s: met). This host is dump-only: its RPO is bounded by '
                   'its dump schedule (every 24h); for 15 minutes put it into the pgbackrest group (WAL archiving and '
                   'point-in-time recovery: playbooks/pgbackrest.yml, docs/pitr.md)'}},
        {'title': 'Services', 'status': 'ok', 'items': {'postgresql': 'none', 'api': 'restart'}}]
    assert rep['metrics'] == {'dr_database_rto_seconds': 41.3, 'dr_database_rpo_seconds': 812.4, 'dr_database_recovered': True,
                              'dr_database_rpo_met': True, 'dr_database_rto_met': True}


def test_dr_database_pgbackrest_and_unconfirmed():
    pitr = {'stanza': 'main', 'previous_data': '/var/lib/postgresql/15/main.failed', 'failure_time': '2026-12-07T10:00:00Z',
            'last_segment': '000000010000000000000009', 'last_archived_at': '2026-12-07T09:59:48Z', 'recovery_point': None}
    items = dr_database_report(dict(DB_FAILURE, method='pgbackrest', rpo_s=12.0, rpo_target_s=900.0, pitr=pitr,
                                    restored=[]))['sections'][0]['items']
    assert items['restored'] == 'nothing' and items['missing'] == 'none'
    assert items['cluster'] == ('restored to the end of the WAL archive (pgBackRest stanza main), the failed data directory '
                                'kept as /var/lib/postgresql/15/main.failed')
    assert items['RPO'] == ('12.0s (target 900s: met): the failure at 2026-12-07T10:00:00Z, the newest WAL segment in the '
                            'repository (000000010000000000000009) arrived at 2026-12-07T09:59:48Z; last transaction replayed unknown')
    rep = dr_database_report(dict(DB_FAILURE, method='pgbackrest-unconfirmed', recovered=False, rpo_s=-1.0, services={}))
    assert rep['sections'][0]['status'] == 'failed'
    assert rep['sections'][0]['items']['cluster'].startswith('NOT restored: it does not start')
    assert rep['sections'][0]['items']['RPO'] == 'no data lost (nothing restored)'
    assert rep['sections'][1] == {'title': 'Services', 'status': 'failed', 'items': {}}
    rpo = dr_database_report(dict(DB_FAILURE, pitr_host=True, rpo_met=False, rpo_target_s=900.0))['sections'][0]['items']['RPO']
    assert rpo.startswith('812.4s, the age of the dump restored (target 900s: MISSED): the cluster was running')


# ---- pitr_restore_report -------------------------------------------------------------------------

PITR_RESTORE = {'target_type': 'time', 'target': '2026-12-07 10:00:00+00', 'state': 'running',
                'recovery_point': '2026-12-07 09:59:58.2+00', 'restore_s': 14.2, 'ready_s': 21.9, 'scratch_port': 5499,
                'swapped': False, 'previous_data': None, 'verified': True,
                'queries': [{'name': 'orders', 'output': '500', 'expect': '500', 'ok': True}]}


def test_pitr_restore_report():
    args = {'target_type': 'time', 'target': '2026-12-07 10:00:00+00', 'scratch_port': 5499}
    rep = pitr_restore_report(PITR_RESTORE, **args)
    assert rep == {'sections': [{'title': 'Point-in-time restore (target RTO 3 h)', 'status': 'restored', 'items': {
        'target': 'time 2026-12-07 10:00:00+00', 'recovery point': '2026-12-07 09:59:58.2+00',
        'scratch instance': 'port 5499, running', 'restore': '14.2s, ready after 21.9s', 'verification': 'passed: orders = 500',
        'swap': 'not done (pitr_confirm_swap=true swaps a verified restore in)'}}],
        'metrics': {'pitr_restore_ready_seconds': 21.9, 'pitr_restore_verified': True, 'pitr_restore_swapped': False}}
    swapped = dict(PITR_RESTORE, swapped=True, timeline=3, total_s=88.4, previous_data='/var/lib/postgresql/15/main.before')
    rep = pitr_restore_report(swapped, **args)
    assert rep['sections'][0]['status'] == 'swapped in'
    assert rep['sections'][0]['items']['swap'] == ('live, timeline 3, 88.4s after the restore started; old data kept as '
                                                   '/var/lib/postgresql/15/main.before')
    rep = pitr_restore_report({}, failure='Restore: boom', **args)
    assert rep['sections'][0]['status'] == 'failed'
    assert rep['sections'][0]['items']['verification'] == 'not run'
    assert rep['sections'][0]['items']['scratch instance'] == 'port 5499, not started'
    assert rep['metrics'] == {'pitr_restore_ready_seconds': None, 'pitr_restore_verified': False, 'pitr_restore_swapped': False}
    assert pitr_restore_report(dict(PITR_RESTORE, queries=[]))['sections'][0]['items']['verification'] == 'passed: no query'


# ---- complete_recovery_report ----------------------------------------------------------------------

RECOVERY = {'recovered': True, 'source': 'dumps', 'rto_s': 121.4, 'rto_target_s': 7200, 'rto_met': True, 'rpo_s': 3600.2,
            'rpo_target_s': 86400, 'rpo_met': True,
            'steps': [{'step': 'packages', 'status': 'ok', 'detail': 'postgresql-15 present'},
                      {'step': 'cluster', 'status': 'changed', 'detail': 'initdb 15/main'}],
            'backups_used': [{'name': 'database shop', 'artefact': '/srv/backups/shop/shop-20261207T020000Z.dump',
                              'created_at': '2026-12-07T02:00:00Z', 'age_s': 3600.2}]}


def test_complete_recovery_report():
    services = {'healthy': True, 'services': [{'name': 'postgresql', 'action': 'start'}]}
    rep = complete_recovery_report(RECOVERY, services=services, host='db-1')
    assert rep['sections'] == [
        {'title': 'Steps', 'status': 'ok', 'items': {'packages': 'ok: postgresql-15 present', 'cluster': 'changed: initdb 15/main'}},
        {'title': 'Objectives', 'status': 'ok', 'items': {
            'RTO': '121.4s (target 7200s: met)',
            'RPO': '3600.2s, the age of the oldest of the newest backups used (target 86400s: met)'}},
        {'title': 'Backups used', 'items': {'database shop': 'shop-20261207T020000Z.dump, made 2026-12-07T02:00:00Z (3600.2s old)'}},
        {'title': 'Services', 'status': 'ok', 'items': {'postgresql': 'start'}}]
    assert rep['summary'] == 'rebuilt db-1 from dumps in 121.4s'
    assert rep['metrics'] == {'dr_complete_recovery_rto_seconds': 121.4, 'dr_complete_recovery_rpo_seconds': 3600.2,
                              'dr_complete_recovery_recovered': True, 'dr_complete_recovery_rto_met': True}
    plan = complete_recovery_report(dict(RECOVERY, recovered=False), host='db-1', check_mode=True)
    assert plan['summary'] == 'plan for db-1 from dumps'
    assert plan['sections'][1]['items']['RTO'] == 'measured by a real run (target 7200s)'
    assert plan['sections'][3] == {'title': 'Services', 'status': 'planned', 'items': {}}
    bad = complete_recovery_report(dict(RECOVERY, recovered=False, rpo_s=-1.0, backups_used=[]), failure='Restore: boom', host='db-1')
    assert bad['summary'].startswith('FAILED to rebuild db-1 from dumps')
    assert bad['sections'][0]['status'] == 'failed' and bad['sections'][1]['items']['RPO'] == 'no backup used'
    assert bad['sections'][2]['items'] == {'none': 'no backup found'}


def test_bad_input_is_a_clear_error():
    for name in ('disk_emergency_report', 'health_check_report', 'connection_issues_report', 'dr_drill_report',
                 'quarterly_report', 'pitr_drill_report', 'pgbackrest_job_report', 'dr_database_report',
                 'pitr_restore_report', 'complete_recovery_report'):
        with pytest.raises(AnsibleFilterError, match=f'{name}: expects a dictionary'):
            FilterModule().filters()[name]('not a dict')
