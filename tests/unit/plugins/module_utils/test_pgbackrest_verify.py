"""pgbackrest_verify: the stanza's verdicts on pgBackRest's recorded output (fixtures/pgbackrest,
captured from pgBackRest 2.45), the options checked, the command line. No mocks: the verdicts are
pure functions of the parsed output and the time."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import CheckFailed
from ansible_collections.runbook.maintenance.plugins.module_utils.pgbackrest import (
    QUIET_OPTIONS,
    archived_segments,
    parse_info,
    parse_verify,
    pgbackrest_argv,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.pgbackrest_verify import (
    PGBACKREST_CHECKS,
    check_age,
    check_repository,
    check_wal_age,
    check_wal_gaps,
    describe_backups,
    finish,
    new_result,
    option_errors,
)

UTC = datetime.timezone.utc
FIXTURES = Path(__file__).resolve().parent / 'fixtures' / 'pgbackrest'
INFO = parse_info((FIXTURES / 'info.json').read_text(), 'lab')
SEGMENTS = archived_segments((FIXTURES / 'repo-ls.json').read_text())
SEGMENTS_GAP = archived_segments((FIXTURES / 'repo-ls-gap.json').read_text())
# The incremental backup ended at 1795800738 (2026-11-27T17:32:18Z), the newest segment arrived then too.
NEWEST_END = datetime.datetime.fromtimestamp(1795800738, UTC)


def params(**kw):
    base = {'stanza': 'lab', 'config': None, 'checks': list(PGBACKREST_CHECKS), 'max_age': '26h',
            'max_wal_age': None, 'wal_segment_size': '16M'}
    base.update(kw)
    return base


# ---- the verdicts --------------------------------------------------------------------------------
def test_a_healthy_repository_verifies():
    result = new_result('lab')
    detail = check_repository(result, parse_verify((FIXTURES / 'verify.txt').read_text()))
    assert detail == 'pgbackrest verify: 3 backups valid, 8 WAL segments checked'
    assert result['pgbackrest']['verify_status'] == 'ok' and result['pgbackrest']['invalid_backups'] == []


def test_a_corrupt_file_fails_the_repository_check_naming_the_backups():
    result = new_result('lab')
    with pytest.raises(CheckFailed, match='checksum invalid: 1'):
        check_repository(result, parse_verify((FIXTURES / 'verify-error.txt').read_text()))
    assert result['pgbackrest']['verify_status'] == 'error'
    assert result['pgbackrest']['invalid_backups'] == ['20261127-173210F_20261127-173215D',
                                                       '20261127-173210F_20261127-173217I']


def test_age_of_the_newest_backup_against_max_age():
    result = new_result('lab')
    now = NEWEST_END + datetime.timedelta(hours=3)
    detail = check_age(result, INFO, now, 26 * 3600, '26h')
    assert detail.startswith('newest backup 20261127-173210F_20261127-173217I (incr) 3h old')
    assert detail.endswith(', max_age 26h')
    assert result['age_s'] == 10800.0
    assert result['pgbackrest']['newest_backup'] == {'label': '20261127-173210F_20261127-173217I', 'type': 'incr',
                                                     'stopped': '2026-11-27T17:32:18Z'}
    with pytest.raises(CheckFailed, match='older than max_age 2h'):
        check_age(new_result('lab'), INFO, now, 2 * 3600, '2h')
    assert check_age(new_result('lab'), INFO, now, None, None).endswith(', no max_age')


def test_a_backup_from_the_future_is_a_clock_problem():
    with pytest.raises(CheckFailed, match='in the future: a wrong clock'):
        check_age(new_result('lab'), INFO, NEWEST_END - datetime.timedelta(hours=1), None, None)
    # within the tolerance: no failure, shown as 0s old
    assert ' 0s old' in check_age(new_result('lab'), INFO, NEWEST_END - datetime.timedelta(seconds=60), None, None)


def test_a_stanza_without_backups_fails_age():
    empty = parse_info('[{"name": "lab", "status": {"code": 2, "message": "no valid backups"}, "backup": [],'
                       ' "archive": []}]', 'lab')
    with pytest.raises(CheckFailed, match=r'stanza lab holds no backup \(no valid backups\)'):
        check_age(new_result('lab'), empty, NEWEST_END, None, None)


def test_wal_age_is_the_recovery_point_objective():
    result = new_result('lab')
    now = NEWEST_END + datetime.timedelta(minutes=5)
    detail = check_wal_age(result, SEGMENTS, now, 900, '15m')
    assert detail == 'newest archived WAL segment 000000010000000000000008 archived 5m ago, max_wal_age 15m'
    assert result['pgbackrest']['wal_age_s'] == 300.0
    assert result['pgbackrest']['newest_wal'] == {'segment': '000000010000000000000008',
                                                  'archived_at': '2026-11-27T17:32:18Z'}
    result = new_result('lab')
    with pytest.raises(CheckFailed, match=r'more than max_wal_age 1m \(the RPO\)'):
        check_wal_age(result, SEGMENTS, now, 60, '1m')
    assert result['pgbackrest']['wal_age_s'] == 300.0  # recorded also when it fails
    with pytest.raises(CheckFailed, match='no WAL segment is archived'):
        check_wal_age(new_result('lab'), {}, now, None, None)


def test_wal_gaps_none_in_a_complete_archive():
    result = new_result('lab')
    detail = check_wal_gaps(result, INFO, SEGMENTS, 16 * 1024 * 1024)
    assert detail.startswith("every backup has its WAL; no gap from the newest full backup's first segment "
                             '000000010000000000000002')
    assert result['pgbackrest']['wal_gaps'] == [] and result['pgbackrest']['unrestorable_backups'] == {}


def test_a_deleted_segment_makes_the_full_backup_unrestorable_and_breaks_pitr():
    result = new_result('lab')
    with pytest.raises(CheckFailed) as failed:
        check_wal_gaps(result, INFO, SEGMENTS_GAP, 16 * 1024 * 1024)
    assert 'backup 20261127-173210F cannot be restored, WAL it needs is missing: 000000010000000000000003' \
        in str(failed.value)
    assert result['pgbackrest']['wal_gaps'] == [{'first': '000000010000000000000003',
                                                 'last': '000000010000000000000003', 'count': 1}]
    assert result['pgbackrest']['unrestorable_backups'] == {'20261127-173210F': ['000000010000000000000003']}


def test_finish_names_every_failed_check():
    result = new_result('lab')
    result['checks'].update(age={'ok': True, 'detail': 'fine'}, wal_age={'ok': False, 'detail': 'too old'})
    finish(result)
    assert result['verified'] is False and result['failures'] == ['wal_age: too old']
    assert result['msg'] == 'pgbackrest stanza lab: 1 check(s) failed (wal_age): wal_age: too old'
    result['checks']['wal_age'] = {'ok': True, 'detail': 'ok'}
    assert finish(result)['msg'] == 'pgbackrest stanza lab verified: age, wal_age' and result['verified']


def test_backups_are_listed_oldest_first():
    listed = describe_backups(list(reversed(INFO.backups)))
    assert [b['type'] for b in listed] == ['full', 'diff', 'incr']
    assert listed[0] == {'label': '20261127-173210F', 'type': 'full', 'stopped': '2026-11-27T17:32:14Z',
                         'archive_start': '000000010000000000000002', 'archive_stop': '000000010000000000000003',
                         'error': False}


# ---- options -------------------------------------------------------------------------------------
def test_options_in_seconds_and_bytes():
    errors, settings = option_errors(params(max_wal_age='15m', max_age='0'))
    assert errors == [] and settings == {'max_age': 0.0, 'max_wal_age': 900.0, 'segment_size': 16 * 1024 * 1024}
    assert option_errors(params(max_age=''))[1]['max_age'] is None  # empty: reported, never fails


@pytest.mark.parametrize('changes, names', [
    ({'stanza': '../etc'}, ["stanza must be letters, digits, '_', '.' or '-', got '../etc'"]),
    ({'wal_segment_size': '3M'}, ['wal_segment_size: a WAL segment size is a power of two, got 3145728']),
    ({'wal_segment_size': '0'}, ["wal_segment_size must be positive, got '0'"]),
    ({'max_wal_age': 'soon'}, ['max_wal_age']),
    ({'checks': []}, ['checks cannot be empty']),
    ({'checks': ['restore']}, ['checks restore apply to a backup artefact']),
    ({'config': '/nonexistent/pgbackrest.conf'}, ['config /nonexistent/pgbackrest.conf is not a file']),
])
def test_bad_options_are_named(changes, names):
    errors, _settings = option_errors(params(**changes))
    assert len(errors) == len(names)
    for error, name in zip(errors, names):
        assert error.startswith(name)


def test_backup_verify_option_names_in_the_messages():
    p = {'pgbackrest_stanza': 'a b', 'pgbackrest_config': '/nonexistent', 'checks': ['age'], 'max_age': '26h',
         'max_wal_age': None, 'wal_segment_size': '16M'}
    errors, _settings = option_errors(p, 'pgbackrest_stanza', 'pgbackrest_config')
    assert errors[0].startswith('pgbackrest_stanza must be') and errors[1].startswith('pgbackrest_config ')


def test_the_command_line_shared_with_pgbackrest_expire():
    assert pgbackrest_argv('/usr/bin/pgbackrest', 'main', None, ['info', '--output=json']) == \
        ['/usr/bin/pgbackrest', '--stanza=main', *QUIET_OPTIONS, 'info', '--output=json']
    assert pgbackrest_argv('pgbackrest', 'main', '/etc/pb.conf', ['expire', '--set=X'], quiet=False) == \
        ['pgbackrest', '--stanza=main', '--config=/etc/pb.conf', 'expire', '--set=X']
