"""report filters: report sections and metrics from the roles' results (pure logic)."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.maintenance.plugins.filter.report import (
    FilterModule,
    backup_report,
    backup_result,
    checks_report_metrics,
    window_report,
)

# The backup role's registers as Ansible leaves them (the fields the result reads).
REGISTERS = {
    'dumps': {'results': [{'item': 'shop', 'artefact': '/b/shop/shop-1.dump'},
                          {'item': 'crm', 'artefact': '/b/crm/crm-1.dump'}]},
    'verifications': {'results': [
        {'item': {'item': 'shop', 'artefact': '/b/shop/shop-1.dump'}, 'verified': True, 'size_bytes': 2048,
         'failures': [], 'age_s': 12.34},
        {'item': {'item': 'crm', 'artefact': '/b/crm/crm-1.dump'}, 'verified': False, 'size_bytes': 10,
         'failures': ['row count differs'], 'age_s': 3},
        {'item': {'item': 'skipped'}, 'skipped': True}]},
    'reused': ['hr'], 'dump_targets': ['shop', 'crm'], 'failures': ['crm: row count differs'],
    'globals_dump': {'artefact': '/b/globals/globals-1.sql'}, 'paths_archive': {'skipped': True},
    'pruned_local': {'results': [{'item': {'dir': '/b/shop'}, 'kept': [1, 2], 'pruned': [3], 'bytes_freed': 1024,
                                  'blocked': ''}]},
    'pruned_s3': None, 'breaker': {'allowed': False, 'reason': 'verification failed'},
    'breaker_name': 'backups', 's3_bucket': 'bkt', 's3_prefix': 'pg/db1/', 'reuse_within': '1h',
}


def test_backup_result_reads_only_what_ran():
    res = backup_result(REGISTERS)
    assert res['ran'] is True
    assert [v['database'] for v in res['verifications']] == ['shop', 'crm']
    assert res['verifications'][0] == {'database': 'shop', 'artefact': '/b/shop/shop-1.dump', 'size_bytes': 2048,
                                       'verified': True, 'failures': [], 'age_s': 12.34}
    assert res['globals_artefact'] == '/b/globals/globals-1.sql' and res['files_artefact'] is None
    assert res['pruned'] == [{'set': '/b/shop', 'where': 'on disk', 'kept': 2, 'pruned': 1,
                              'bytes_freed': 1024, 'blocked': ''}]
    assert res['bytes_pruned'] == 1024
    assert res['breaker'] == {'name': 'backups', 'allowed': False, 'reason': 'verification failed'}


def test_backup_result_of_a_role_that_stopped_early():
    res = backup_result({'breaker_name': 'backups'})
    assert res['ran'] is False and res['verifications'] == [] and res['breaker'] is None
    assert backup_report(res)['sections'] == []


def test_backup_report_sections_metrics_summary():
    rep = backup_report(backup_result(REGISTERS), failure='')
    titles = [s['title'] for s in rep['sections']]
    assert titles == ['Backups', 'Globals and files', 'Verification failures', 'Copy to S3', 'Retention']
    backups = rep['sections'][0]
    assert backups['status'] == 'failed'
    assert backups['items'] == {'shop': 'shop-1.dump, 2.0 KiB, verified',
                                'crm': 'crm-1.dump, 10 Bytes, FAILED verification (below)',
                                'hr': 'reused a dump verified within 1h'}
    assert rep['sections'][3]['lines'] == ['1 verified dumps copied to s3://bkt/pg/db1/']
    assert rep['sections'][4]['lines'] == ['/b/shop on disk: kept 2, pruned 1 (1.0 KiB)',
                                           'skipped: the backups breaker is open (verification failed)']
    assert rep['metrics'] == {'backup_count': 1, 'backup_verified': False, 'backup_age_seconds': 12.3,
                              'backup_size_bytes{database="shop"}': 2048, 'breaker_open{breaker="backups"}': True}
    assert rep['summary'] == '1 of 2 new dumps verified, 1 reused, 1.0 KiB pruned'


def test_backup_report_in_check_mode_plans_and_copies_nothing():
    regs = dict(REGISTERS, verifications=None, failures=[], reused=[], breaker=None, pruned_local=None)
    rep = backup_report(backup_result(regs), check_mode=True)
    assert rep['sections'][0] == {'title': 'Backups', 'status': 'planned', 'items': {
        'shop': 'shop-1.dump (would be created and verified)', 'crm': 'crm-1.dump (would be created and verified)'}}
    assert 'Copy to S3' not in [s['title'] for s in rep['sections']]
    assert rep['metrics'] == {'backup_count': 0, 'backup_verified': True}


def test_backup_report_failure_marks_the_run_unverified():
    regs = dict(REGISTERS, failures=[], verifications={'results': [REGISTERS['verifications']['results'][0]]})
    rep = backup_report(backup_result(regs), failure='Dump each database: disk full')
    assert rep['metrics']['backup_verified'] is False
    assert rep['sections'][0]['status'] == 'failed'
    assert 'Copy to S3' not in [s['title'] for s in rep['sections']]


def test_database_label_is_escaped():
    regs = dict(REGISTERS, verifications={'results': [
        {'item': {'item': 'we"ird\\db', 'artefact': '/x'}, 'verified': True, 'size_bytes': 1, 'age_s': 1}]})
    assert 'backup_size_bytes{database="we\\"ird\\\\db"}' in backup_report(backup_result(regs))['metrics']


def test_window_report_sections_in_order_and_bytes_freed():
    rep = window_report({
        'window': {'forced': True, 'msg': 'outside the window, forced'},
        'checks': {'pre': {'backup_age_s': 99}, 'post': {'backup_age_s': 3600, 'breakers': {'backups': 'open', 'x': 'closed'},
                                                         'replication_lag_s': '1.5'}},
        'backup': backup_result(REGISTERS), 'rollback_saved': '/var/lib/rollback/1',
        'package_updates': {'planned': [{'name': 'openssl'}, {'name': 'libpq5'}]}, 'package_updates_applied': False,
        'image_updates_section': {'title': 'Image updates', 'lines': ['none']},
        'log_cleanup': {'compressed_files': 2, 'compressed_bytes_saved': 2048, 'deleted_files': 1, 'deleted_bytes': 1024},
        'docker_cleanup': [{'bytes_reclaimed': 1024}, {'bytes_reclaimed': 0}],
    })
    assert [s['title'] for s in rep['sections']] == ['Window', 'Backups', 'Rollback point', 'Package updates',
                                                     'Image updates', 'Log cleanup', 'Docker cleanup']
    assert rep['sections'][0] == {'title': 'Window', 'status': 'forced', 'lines': ['outside the window, forced']}
    assert rep['sections'][1]['items'] == {'shop': 'shop-1.dump, 2.0 KiB, verified',
                                           'crm': 'crm-1.dump, 10 Bytes, FAILED: row count differs',
                                           'hr': 'reused a dump verified within the last 1h'}
    assert rep['sections'][3] == {'title': 'Package updates', 'status': 'planned', 'lines': ['2 planned: openssl, libpq5']}
    assert rep['sections'][5]['items'] == {'compressed': '2 files, 2.0 KiB saved', 'deleted': '1 files, 1.0 KiB'}
    assert rep['sections'][6]['lines'] == ['1.0 KiB freed']
    assert rep['bytes_freed'] == 1024 + 1024 + 2048
    assert rep['metrics'] == {'backup_age_seconds': 3600, 'breaker_open{breaker="backups"}': True,
                              'breaker_open{breaker="x"}': False, 'replication_lag_seconds': 1.5}


def test_window_report_of_a_refused_window_has_only_the_window():
    rep = window_report({})
    assert rep == {'sections': [{'title': 'Window', 'status': 'ok', 'lines': ['not evaluated']}],
                   'metrics': {}, 'bytes_freed': 0}


def test_checks_metrics_fall_back_to_the_pre_checks_and_skip_an_unknown_backup_age():
    assert checks_report_metrics({'pre': {'backup_age_s': -1, 'breakers': {}}}) == {}
    assert checks_report_metrics({'pre': {'backup_age_s': 5}}) == {'backup_age_seconds': 5}
    assert checks_report_metrics(None) == {}


@pytest.mark.parametrize('name', ['backup_result', 'backup_report', 'window_report', 'checks_report_metrics'])
def test_filters_refuse_what_is_not_a_dictionary(name):
    with pytest.raises(AnsibleFilterError):
        FilterModule().filters()[name](['not', 'a', 'dict'])


def test_backup_result_reads_one_prune_call_per_set_list_like_a_loop():
    sets = {'changed': True, 'sets': [
        {'path': '/b/shop', 'pattern': 'shop-*', 'kept': [1, 2], 'pruned': [3], 'bytes_freed': 1024, 'blocked': None},
        {'path': '/b/globals', 'pattern': 'globals-*', 'kept': [1], 'pruned': [], 'bytes_freed': 0,
         'blocked': 'the latest backup failed verification'}]}
    s3 = {'sets': [{'s3_prefix': 'pg/db1/shop/', 'pattern': 'shop-*', 'kept': [1], 'pruned': [2, 3], 'bytes_freed': 10}]}
    res = backup_result(dict(REGISTERS, pruned_local=sets, pruned_s3=s3))
    assert [(p['set'], p['where'], p['kept'], p['pruned'], p['bytes_freed']) for p in res['pruned']] == [
        ('shop', 'on disk', 2, 1, 1024), ('globals', 'on disk', 1, 0, 0), ('shop', 'in S3', 1, 2, 10)]
    assert res['pruned'][1]['blocked'] == 'the latest backup failed verification'
    assert res['bytes_pruned'] == 1034


def test_verification_queries_are_judged_against_their_expected_output():
    from ansible_collections.runbook.maintenance.plugins.filter.report import verification_queries
    register = {'results': [
        {'item': {'name': 'orders kept', 'sql': 'select count(*) from orders', 'expect': 1000}, 'stdout': ' 1000\n'},
        {'item': {'sql': 'select max(id) from orders', 'expect': '7'}, 'stdout': '8'},
        {'item': {'sql': 'select now()'}, 'stdout': '2026-12-06'},
        {'item': {'sql': 'select 1', 'expect': None}, 'stdout': '1'}]}
    assert verification_queries(register) == [
        {'name': 'orders kept', 'output': '1000', 'expect': 1000, 'ok': True},
        {'name': 'select max(id) from orders', 'output': '8', 'expect': '7', 'ok': False},
        {'name': 'select now()', 'output': '2026-12-06', 'expect': None, 'ok': True},
        {'name': 'select 1', 'output': '1', 'expect': None, 'ok': True}]
    assert verification_queries({}) == [] and verification_queries(None) == []


def test_recovery_backups_used_lists_archives_then_the_dumps_restored():
    from ansible_collections.runbook.maintenance.plugins.filter.report import recovery_backups_used
    artefacts = [{'kind': 'globals', 'artefact': '/b/globals/g.sql', 'created_at': 'T1', 'age_s': 60.0}]
    restored = [{'item': 'shop', 'source': 's3://b/shop.dump', 'backup_created_at': 'T0', 'backup_age_s': 120.0},
                {'item': 'crm', 'source': None}]
    assert recovery_backups_used(artefacts, restored) == [
        {'name': 'globals', 'artefact': '/b/globals/g.sql', 'created_at': 'T1', 'age_s': 60.0},
        {'name': 'database shop', 'artefact': 's3://b/shop.dump', 'created_at': 'T0', 'age_s': 120.0}]
    assert recovery_backups_used(None) == []
