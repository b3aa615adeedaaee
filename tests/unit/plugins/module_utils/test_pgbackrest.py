"""pgbackrest: info, verify and repo-ls output read as data, WAL gaps, the expire plan (captured output, no mocks)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.pgbackrest import (
    BackupSet,
    PgBackRestError,
    archived_segments,
    dependants,
    missing_between,
    newest_segment,
    parse_info,
    parse_verify,
    pitr_gaps,
    plan_expire,
    segment_name,
    segment_number,
    segment_parts,
    set_verdicts,
    wal_gaps,
)

UTC = datetime.timezone.utc

# Captured from pgBackRest 2.45 (Debian bookworm) on a PostgreSQL 15 test cluster, stanza 'lab'
# (fixtures/pgbackrest/): one full, one diff, one incr backup; VERIFY_ERROR after one repository
# file of the diff was overwritten; REPO_LS_GAP after segment ...03 was deleted from the archive.
FIXTURES = Path(__file__).resolve().parent / 'fixtures' / 'pgbackrest'
INFO_JSON = (FIXTURES / 'info.json').read_text()
REPO_LS_OK = (FIXTURES / 'repo-ls.json').read_text()
REPO_LS_GAP = (FIXTURES / 'repo-ls-gap.json').read_text()
VERIFY_OK = (FIXTURES / 'verify.txt').read_text()
VERIFY_ERROR = (FIXTURES / 'verify-error.txt').read_text()


# ---- info ----------------------------------------------------------------------------------------
def test_info_reads_the_backup_sets_and_archive_range():
    info = parse_info(INFO_JSON, 'lab')
    assert info.ok and info.status_message == 'ok' and info.cipher == 'none'
    assert [b.type for b in info.backups] == ['full', 'diff', 'incr']
    full, diff, incr = info.backups
    assert full.label == '20261127-173210F' and full.full_label == full.label
    assert incr.full_label == full.label and incr.prior == diff.label
    assert incr.references == (full.label, diff.label)
    assert full.archive_start == '000000010000000000000002' and full.archive_stop == '000000010000000000000003'
    assert full.stopped == datetime.datetime.fromtimestamp(1795800734, UTC)
    assert info.newest() is incr
    assert info.current_archive() == {'id': '15-1', 'min': '000000010000000000000001', 'max': '000000010000000000000008'}


def test_info_of_a_missing_stanza_has_its_status():
    text = ('[{"archive":[],"backup":[],"cipher":"none","db":[],"name":"nope","repo":[{"cipher":"none","key":1,'
            '"status":{"code":1,"message":"missing stanza path"}}],"status":{"code":1,"lock":{"backup":'
            '{"held":false}},"message":"missing stanza path"}}]')
    info = parse_info(text, 'nope')
    assert not info.ok and info.status_message == 'missing stanza path' and info.newest() is None


@pytest.mark.parametrize('text, message', [
    ('not json', 'did not print JSON'),
    ('{}', 'list of stanzas'),
    ('[]', "no stanza 'lab'"),
    ('[{"name": "lab", "status": {"code": 0}, "backup": [{"label": "x"}]}]', 'lacks'),
    ('[{"name": "lab", "status": {"code": 0}, "backup": [{"label": "x", "type": "full", '
     '"timestamp": {"start": "yesterday", "stop": 1}}]}]', 'not an epoch timestamp'),
])
def test_info_that_cannot_be_read_is_a_clear_error(text, message):
    with pytest.raises(PgBackRestError, match=message):
        parse_info(text, 'lab')


# ---- verify --------------------------------------------------------------------------------------
def test_verify_ok():
    result = parse_verify(VERIFY_OK)
    assert result['status'] == 'ok' and result['problems'] == []
    assert set(result['backups'].values()) == {'valid'} and len(result['backups']) == 3
    assert result['archives'] == {'15-1': {'checked': 8, 'valid': 8}}


def test_verify_names_the_corrupt_backups():
    result = parse_verify(VERIFY_ERROR)
    assert result['status'] == 'error'
    assert result['backups']['20261127-173210F'] == 'valid'
    assert result['backups']['20261127-173210F_20261127-173215D'] == 'invalid'
    assert result['problems'] == ['backup 20261127-173210F_20261127-173215D: checksum invalid: 1',
                                  'backup 20261127-173210F_20261127-173217I: checksum invalid: 1']


def test_verify_without_verbose_and_invalid_wal():
    text = ('stanza: lab\nstatus: error\n  archiveId: 15-1, total WAL checked: 4, total valid WAL: 3\n'
            '    missing: 0, checksum invalid: 1, size invalid: 0, other: 0\n'
            '  backup: 20261127-173210F, status: manifest missing, total files checked: 0, total valid files: 0\n')
    result = parse_verify(text)
    assert result['backups'] == {'20261127-173210F': 'manifest missing'}
    assert 'archive 15-1: 1 of 4 WAL segments invalid' in result['problems']
    assert 'backup 20261127-173210F: manifest missing' in result['problems']


def test_verify_output_without_status_is_an_error():
    with pytest.raises(PgBackRestError, match='no status'):
        parse_verify('P00  ERROR: [055]: unable to load info file')


# ---- WAL -----------------------------------------------------------------------------------------
def test_segment_names():
    assert segment_parts('000000010000000000000003-553d515b402cf5d505cd7868930fa3287d6cd275.gz') == (1, 0, 3)
    assert segment_parts('000000010000000A000000FF') == (1, 10, 255)
    for other in ('000000010000000000000002.00000028.backup', '00000002.history', '000000010000000000000004.partial',
                  'archive.info'):
        assert segment_parts(other) is None
    assert segment_number('0000000100000001000000FF') == (1, 511)
    assert segment_name(1, 256) == '000000010000000100000000'
    assert segment_name(2, 9, 1024 * 1024 * 1024) == '000000020000000200000001'  # 4 per log at 1 GB
    with pytest.raises(ValueError):
        segment_number('archive.info')
    with pytest.raises(ValueError):
        segment_name(1, 1, 1000)


def test_archived_segments_and_the_newest():
    segments = archived_segments(REPO_LS_OK, '15-1')
    assert sorted(segments) == [f'0000000100000000000000{n:02X}' for n in range(1, 9)]
    name, when = newest_segment(segments)
    assert name == '000000010000000000000008' and when == datetime.datetime.fromtimestamp(1795800738, UTC)
    assert archived_segments(REPO_LS_OK, '14-2') == {}
    assert newest_segment({}) is None
    with pytest.raises(PgBackRestError):
        archived_segments('[]')


def test_no_gap_in_a_complete_archive():
    assert wal_gaps(archived_segments(REPO_LS_OK, '15-1'), '000000010000000000000002') == []


def test_a_deleted_segment_is_a_gap():
    segments = archived_segments(REPO_LS_GAP, '15-1')
    assert wal_gaps(segments, '000000010000000000000002') == [
        {'first': '000000010000000000000003', 'last': '000000010000000000000003', 'count': 1}]
    # a gap before the backup's first segment does not matter to it
    assert wal_gaps(segments, '000000010000000000000004') == []


def test_gaps_across_a_log_boundary_and_on_a_later_timeline():
    names = ['0000000100000000000000FD', '000000010000000100000001',
             '000000020000000100000005', '000000020000000100000008']
    segments = dict.fromkeys(names, datetime.datetime(2026, 11, 1, tzinfo=UTC))
    assert wal_gaps(segments, '0000000100000000000000FD') == [
        {'first': '0000000100000000000000FE', 'last': '000000010000000100000000', 'count': 3},
        {'first': '000000020000000100000006', 'last': '000000020000000100000007', 'count': 2}]
    # the start segment itself missing is a gap too
    assert wal_gaps(segments, '0000000100000000000000FB')[0] == {
        'first': '0000000100000000000000FB', 'last': '0000000100000000000000FC', 'count': 2}


def test_pitr_gaps_name_the_unrestorable_backup():
    info = parse_info(INFO_JSON, 'lab')
    complete = archived_segments(REPO_LS_OK, '15-1')
    assert pitr_gaps(info.backups, complete) == {'unrestorable': {}, 'gaps': [], 'since': '000000010000000000000002'}
    found = pitr_gaps(info.backups, archived_segments(REPO_LS_GAP, '15-1'))
    # segment 03 is the full backup's last: the full and the sets built on it are fine by verify, not here
    assert found['unrestorable'] == {'20261127-173210F': ['000000010000000000000003']}
    assert found['gaps'] == [{'first': '000000010000000000000003', 'last': '000000010000000000000003', 'count': 1}]


def test_wal_expired_between_old_full_backups_is_no_gap():
    when = datetime.datetime(2026, 11, 1, tzinfo=UTC)
    old = BackupSet('20261101-010000F', 'full', when, when, '000000010000000000000002', '000000010000000000000002')
    new = BackupSet('20261108-010000F', 'full', when + datetime.timedelta(days=7), when + datetime.timedelta(days=7),
                    '000000010000000000000009', '00000001000000000000000A')
    segments = dict.fromkeys(['000000010000000000000002'] + [f'0000000100000000000000{n:02X}' for n in range(9, 14)], when)
    assert pitr_gaps([old, new], segments) == {'unrestorable': {}, 'gaps': [], 'since': '000000010000000000000009'}
    del segments['00000001000000000000000B']
    assert pitr_gaps([old, new], segments)['gaps'][0]['first'] == '00000001000000000000000B'
    assert missing_between(segments, '000000010000000000000002', '000000010000000000000004') == [
        '000000010000000000000003', '000000010000000000000004']
    with pytest.raises(ValueError):
        missing_between(segments, '000000010000000000000002', '000000020000000000000004')
    assert pitr_gaps([], segments) == {'unrestorable': {}, 'gaps': [], 'since': None}


# ---- retention -----------------------------------------------------------------------------------
def history(days: int, now: datetime.datetime, with_diffs: bool = True) -> list[BackupSet]:
    """A full backup every day at 01:00 for ``days`` days, each with a diff at 13:00."""
    sets = []
    for ago in range(days, -1, -1):
        day = (now - datetime.timedelta(days=ago)).replace(hour=1, minute=0, second=0, microsecond=0)
        label = day.strftime('%Y%m%d-%H%M%SF')
        sets.append(BackupSet(label, 'full', day, day + datetime.timedelta(minutes=5), None, None))
        if with_diffs:
            later = day + datetime.timedelta(hours=12)
            sets.append(BackupSet(f"{label}_{later.strftime('%Y%m%d-%H%M%SD')}", 'diff', later,
                                  later + datetime.timedelta(minutes=1), None, None, prior=label, references=(label,)))
    return sets


def test_verdicts_per_full_set():
    info = parse_info(INFO_JSON, 'lab')
    assert set_verdicts(info.backups, parse_verify(VERIFY_OK)) == {'20261127-173210F': True}
    assert set_verdicts(info.backups, parse_verify(VERIFY_ERROR)) == {'20261127-173210F': False}
    assert set_verdicts(info.backups, None) == {'20261127-173210F': None}
    errored = [BackupSet('20261127-173210F', 'full', info.backups[0].started, info.backups[0].stopped, None, None,
                         error=True)]
    assert set_verdicts(errored, parse_verify(VERIFY_OK)) == {'20261127-173210F': False}


def test_gfs_over_a_year_of_full_sets():
    now = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # a Sunday
    backups = history(400, now)
    verdicts = dict.fromkeys({b.full_label for b in backups}, True)
    decision = plan_expire(backups, verdicts)
    assert decision.blocked is None
    kept = sorted(decision.keep)
    assert len(kept) == len(set(kept))
    newest = max(b.full_label for b in backups)
    assert newest in decision.keep and 'newest verified backup' in decision.keep[newest]
    assert 7 <= len(kept) <= 7 + 4 + 12
    # every kept label is a full; the diffs are never planned on their own
    assert all(label.endswith('F') for label in kept + list(decision.prune))
    # the 12 monthly are in 12 different months
    monthly = [label for label, reasons in decision.keep.items() if any(r.startswith('monthly') for r in reasons)]
    assert len({label[:6] for label in monthly}) == 12
    assert len(decision.keep) + len(decision.prune) == 401


def test_sets_dated_by_their_newest_backup():
    now = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    full = BackupSet('20261101-010000F', 'full', now - datetime.timedelta(days=28), now - datetime.timedelta(days=28),
                     None, None)
    diff = BackupSet('20261101-010000F_20261129-010000D', 'diff', now, now, None, None, prior=full.label)
    other = BackupSet('20261120-010000F', 'full', now - datetime.timedelta(days=9), now - datetime.timedelta(days=9),
                      None, None)
    decision = plan_expire([full, diff, other], {full.label: True, other.label: True}, daily=1, weekly=0, monthly=0)
    # the older full has today's diff: it is the newest set, the other goes
    assert list(decision.prune) == [other.label] and full.label in decision.keep
    assert dependants([full, diff, other], full.label) == [diff.label]


def test_nothing_expires_when_the_latest_set_failed_or_none_verified():
    now = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    backups = history(40, now, with_diffs=False)
    labels = sorted(b.label for b in backups)
    verdicts = dict.fromkeys(labels, True)
    verdicts[labels[-1]] = False
    decision = plan_expire(backups, verdicts)
    assert decision.prune == {} and 'failed verification' in decision.blocked
    assert plan_expire(backups, dict.fromkeys(labels, None)).prune == {}
    # the caller's verification of the newest backup overrides the repository's verdict
    assert plan_expire(backups, verdicts, latest_verified=True).prune
    assert plan_expire(backups, dict.fromkeys(labels, True), latest_verified=False).prune == {}


def test_newest_verified_and_anything_newer_are_kept():
    now = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    backups = history(20, now, with_diffs=False)
    labels = sorted(b.label for b in backups)
    verdicts = dict.fromkeys(labels, True)
    verdicts[labels[-1]] = None  # not verified yet
    decision = plan_expire(backups, verdicts, daily=1, weekly=0, monthly=0)
    assert set(decision.keep) == {labels[-1], labels[-2]}
    assert 'newer than the newest verified backup' in decision.keep[labels[-1]]
    assert len(decision.prune) == 19


def test_no_full_backup_no_plan():
    assert plan_expire([], {}).prune == {}
    json.dumps(plan_expire([], {}).keep)
