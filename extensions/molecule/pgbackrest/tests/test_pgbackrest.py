"""pgBackRest: archiving, backups, the PITR drill, restore and swap, verify, retention (testinfra, through docker exec)."""

from __future__ import annotations

import json
import os

# Written on the controller by the side effect (runbook.maintenance.controller_files).
RESULTS = os.path.join(os.environ.get('MOLECULE_EPHEMERAL_DIRECTORY', '.'), 'results')


def result(_host, name):  # the tests pass their testinfra host; the results are on the controller
    with open(os.path.join(RESULTS, f'{name}.json'), encoding='utf-8') as handle:
        return json.load(handle)


def psql(host, sql):
    return host.check_output(f'runuser -u postgres -- psql -X -At -c "{sql}"')


def info(host):
    return json.loads(host.check_output('runuser -u postgres -- pgbackrest --stanza=main info --output=json'))[0]


def test_archiving_is_on_through_pgbackrest(host):
    assert psql(host, 'SHOW archive_mode') == 'on'
    assert psql(host, 'SHOW archive_command').startswith('pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=main archive-push')
    assert psql(host, 'SHOW archive_timeout') == '10s'
    assert psql(host, 'SELECT failed_count FROM pg_stat_archiver') == '0'
    conf = host.file('/etc/pgbackrest/pgbackrest.conf')
    assert conf.mode == 0o640 and 'repo1-retention-full-type=time\nrepo1-retention-full=400\n' in conf.content_string


def test_backups_were_taken_and_the_repository_verified(host):
    verify = result(host, 'verify-healthy')
    assert verify['verified'] is True, verify['failures']
    assert set(verify['checks']) == {'repository', 'age', 'wal_age', 'wal_gaps'}
    assert [b['type'] for b in verify['pgbackrest']['backups']] == ['full', 'diff', 'incr']
    assert verify['pgbackrest']['wal_age_s'] < 900  # the newest WAL is within the 15-minute RPO


def test_the_pitr_drill_passed_within_the_rpo(host):
    drill = result(host, 'drill')
    assert drill['passed'] is True, drill['reasons']
    assert drill['reasons'] == []
    assert 0 <= drill['rpo_s'] < 900
    assert drill['rto_s'] > 0 and drill['recovery_point']
    assert drill['recovery_point'] <= drill['failure_time'].replace(' ', 'T')
    assert not host.file('/var/lib/postgresql/15/pitr-drill').exists  # the scratch instance is gone
    assert psql(host, "SELECT count(*) FROM runbook_pitr_drill") == '0'  # and the drill's rows


def test_the_restore_point_restore_was_verified_then_swapped_in(host):
    report = result(host, 'restore')
    assert report['verified'] is True and report['swapped'] is True
    assert report['state'] == 'paused' and report['target'] == 'before-bad-deploy'
    assert report['queries'] == [{'name': 'all 100 precious rows are back', 'output': '100', 'expect': '100', 'ok': True}]
    # the live cluster has the rows back, archives again on the new timeline and is a primary
    assert psql(host, 'SELECT count(*) FROM precious WHERE id <= 100') == '100'
    assert psql(host, 'SELECT pg_is_in_recovery()') == 'f'
    assert int(report['timeline']) >= 2
    assert host.file(report['previous_data']).is_directory  # the damaged data is kept


def test_verify_catches_a_corrupted_repository_file(host):
    verify = result(host, 'verify-corrupt')
    assert verify['verified'] is False
    assert verify['checks']['repository']['ok'] is False
    assert 'checksum invalid' in verify['checks']['repository']['detail']
    assert verify['pgbackrest']['invalid_backups']


def test_retention_expires_nothing_while_the_newest_set_fails_verification(host):
    blocked = result(host, 'expire-blocked')
    assert blocked['changed'] is False and blocked['expired'] == []
    assert 'failed verification' in blocked['blocked']


def test_retention_keeps_the_newest_set_and_expires_the_older_ones(host):
    plan, done, again = result(host, 'expire-plan'), result(host, 'expire-done'), result(host, 'expire-again')
    assert plan['expired'] and [s['label'] for s in plan['expired']] == [s['label'] for s in done['expired']]
    assert done['changed'] is True and again['changed'] is False and again['expired'] == []
    # every set was taken today: the daily bucket keeps the newest one only
    assert len(done['kept']) == 1 and 'newest verified backup' in done['kept'][0]['reasons']
    # The daily job (later in side_effect) takes a newer full set and expires this one in turn: what
    # stays is the set kept here or newer ones (labels sort by time), never an expired one.
    fulls = [b['label'] for b in info(host)['backup'] if b['type'] == 'full']
    assert fulls and all(label >= done['kept'][0]['label'] for label in fulls), (fulls, done['kept'])
    expired = {s['label'] for s in done['expired']}
    assert not any(b['label'].split('_')[0] in expired for b in info(host)['backup'])  # dependants went too


def test_verify_reports_a_missing_wal_segment(host):
    verify = result(host, 'verify-gap')
    lost = result(host, 'lost-segment')['segment'][:24]
    assert verify['verified'] is False
    gaps = verify['pgbackrest']['wal_gaps']
    assert any(gap['first'] <= lost <= gap['last'] for gap in gaps), gaps


def test_backups_are_scheduled_in_the_window(host):
    cron = host.file('/etc/cron.d/runbook-pgbackrest').content_string
    assert '15 2 * * 0 postgres pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=main --type=full backup' in cron
    assert '15 2 * * 1-6 postgres pgbackrest --config=/etc/pgbackrest/pgbackrest.conf --stanza=main --type=diff backup' in cron


# ---- the daily job (playbooks/pgbackrest-backup.yml) -------------------------------------------
def test_a_failed_verification_opens_the_backups_breaker_and_expires_nothing(host):
    failed = result(host, 'job-failed')
    assert failed['rc'] != 0
    assert failed['breaker']['state'] == 'open'
    assert failed['breaker']['reason'].startswith('pgBackRest stanza main: repository')
    assert failed['sets_after'] == failed['sets_before']  # nothing expired
    assert 'The stanza did not verify, nothing expired' in ' '.join(failed['stdout'])


def test_the_healthy_job_verifies_closes_the_breaker_and_expires_the_older_sets(host):
    job = result(host, 'job-ok')
    assert job['verify']['verified'] is True, job['verify']['failures']
    assert job['verify']['pgbackrest']['wal_age_s'] < 900
    expire = job['expire']
    assert expire['blocked'] is None and expire['changed'] is True
    newest = info(host)['backup'][-1]
    assert newest['type'] == 'full'  # the job's own backup
    assert [k['label'] for k in expire['kept']] == [newest['label']]  # every set is today's: the daily slot keeps the newest
    assert expire['expired'], expire  # and the older full sets really went
    labels = {b['label'] for b in info(host)['backup']}
    assert not labels & {e['label'] for e in expire['expired']}
    breaker = json.loads(host.file('/var/lib/runbook-maintenance/breakers/backups.json').content_string)
    assert breaker['state'] == 'closed', breaker


# ---- a database failure recovered to the end of the WAL archive -----------------------------------
def test_without_confirmation_the_lost_cluster_is_left_alone_and_the_plan_shown(host):
    said = result(host, 'dr-refusals')
    assert said['check']['rc'] == 0, said['check']['stdout'][-2000:]
    assert 'Would restore stanza main to the end of the WAL archive' in ' '.join(said['check']['stdout'].split())
    assert said['unconfirmed']['rc'] != 0
    assert 'dr_database_pitr_confirm=true' in said['unconfirmed']['stdout']


def test_the_lost_cluster_is_back_with_the_rows_only_the_wal_held(host):
    dr = result(host, 'dr-database')
    assert dr['recovered'] is True and dr['method'] == 'pgbackrest'
    assert psql(host, 'SELECT count(*) FROM after_backup') == '250'
    assert psql(host, 'SELECT pg_is_in_recovery()') == 'f'
    assert host.file(dr['pitr']['previous_data']).is_directory  # the failed data directory is kept
    # archiving goes on from the new timeline
    assert psql(host, 'SHOW archive_mode') == 'on'
    assert psql(host, 'SELECT failed_count FROM pg_stat_archiver') == '0'


def test_the_database_failure_rpo_is_measured_from_the_archive(host):
    dr = result(host, 'dr-database')
    pitr = dr['pitr']
    assert pitr['last_segment'] != 'none' and pitr['last_archived_at'] <= pitr['failure_time']
    assert 0 <= float(dr['rpo_s']) == float(pitr['rpo_s']) < 900
    assert dr['rpo_met'] is True and float(dr['rpo_target_s']) == 900
    assert pitr['recovery_point']  # the last transaction replayed
