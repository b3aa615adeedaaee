"""Failover logic: WAL positions, pg_waldump's end of WAL, PgBouncer repointing, the verdict."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.maintenance.plugins.filter.failover import FilterModule
from ansible_collections.runbook.maintenance.plugins.module_utils.failover import (
    failover_verdict,
    lsn_diff,
    lsn_to_int,
    parse_waldump,
    pgbouncer_repoint,
)

# Real output of PostgreSQL 15's pg_waldump on a primary killed after two commits its standby missed.
WALDUMP_OUT = (
    'rmgr: Transaction len (rec/tot):     34/    34, tx:        726, lsn: 0/03004508, prev 0/030044C8, '
    'desc: COMMIT 2026-12-07 01:24:06.358906 UTC\n'
    'rmgr: Transaction len (rec/tot):     34/    34, tx:        727, lsn: 0/030045B8, prev 0/03004578, '
    'desc: COMMIT 2026-12-07 01:24:08.402200 UTC\n')
WALDUMP_ERR = ('pg_waldump: error: error in WAL record at 0/30045B8: invalid record length at 0/30045E0: '
               'wanted 24, got 0\n')


def test_lsn():
    assert lsn_to_int('0/30045E0') == 0x30045E0
    assert lsn_to_int('16/B374D848') == (0x16 << 32) | 0xB374D848
    assert lsn_diff('1/0', '0/FFFFFFFF') == 1
    for bad in ('', None, '0x3', '1/2/3', 'G/1'):
        with pytest.raises(ValueError):
            lsn_to_int(bad)


def test_waldump_end_of_wal_and_lost_commits():
    summary = parse_waldump(WALDUMP_OUT, WALDUMP_ERR, '0/3004480')
    assert summary['end_lsn'] == '0/30045E0'
    assert summary['lost_bytes'] == 0x30045E0 - 0x3004480
    assert summary['commits'] == 2
    assert summary['last_commit_epoch'] - summary['first_commit_epoch'] == pytest.approx(2.043294)
    assert summary['first_commit_epoch'] == pytest.approx(1796606646.358906)


def test_waldump_nothing_after_the_standby():
    summary = parse_waldump('', 'pg_waldump: error: could not find a valid record after 0/3004480\n', '0/3004480')
    assert summary == {'start_lsn': '0/3004480', 'end_lsn': '0/3004480', 'lost_bytes': 0, 'commits': 0,
                       'first_commit_epoch': None, 'last_commit_epoch': None}


def test_waldump_unknown_end():
    summary = parse_waldump(WALDUMP_OUT, 'pg_waldump: error: could not open directory "x": Permission denied', '0/1')
    assert summary['end_lsn'] is None and summary['lost_bytes'] is None and summary['commits'] == 2


def test_waldump_offset_timezone():
    out = 'rmgr: Transaction lsn: 0/1, prev 0/0, desc: COMMIT 2026-12-07 02:24:06 +01\n'
    assert parse_waldump(out, '', '0/1')['last_commit_epoch'] == parse_waldump(
        'lsn: 0/1, desc: COMMIT 2026-12-07 01:24:06 UTC', '', '0/1')['last_commit_epoch']


INI = """;; pgbouncer
[databases]
shop = host=/var/run/postgresql port=5432 dbname=shop
; old = host=/var/run/postgresql port=5432
auth = host='/var/run/postgresql' dbname=auth user=app
reports = host=reporting.internal port=5432 dbname=reports
moved = host=/var/run/postgresql port=5433 dbname=moved

[pgbouncer]
listen_port = 6432
host = /var/run/postgresql
"""


def test_pgbouncer_repoint():
    result = pgbouncer_repoint(INI, '/var/run/postgresql', 5432, '/var/run/postgresql', 5433)
    assert result['changed'] == ['shop', 'auth']
    assert result['already'] == ['moved'] and result['other'] == ['reports']
    lines = result['text'].splitlines()
    assert lines[2] == 'shop = host=/var/run/postgresql port=5433 dbname=shop'
    assert lines[3] == '; old = host=/var/run/postgresql port=5432'  # comments untouched
    assert lines[4] == 'auth = host=/var/run/postgresql dbname=auth user=app port=5433'
    assert lines[5] == 'reports = host=reporting.internal port=5432 dbname=reports'
    assert result['text'].endswith('[pgbouncer]\nlisten_port = 6432\nhost = /var/run/postgresql\n')
    again = pgbouncer_repoint(result['text'], '/var/run/postgresql', 5432, '/var/run/postgresql', 5433)
    assert again['changed'] == [] and again['text'] == result['text']  # idempotent


def test_pgbouncer_repoint_other_host_with_quotes():
    text = "[databases]\n* = host=db-1.internal port=5432\nx = host=db-1.internal\n"
    result = pgbouncer_repoint(text, 'db-1.internal', '5432', "db 2's", 6543)
    assert result['changed'] == ['*', 'x']
    assert result['text'] == ("[databases]\n* = host='db 2''s' port=6543\nx = host='db 2''s' port=6543\n")


STANDBY = {'answers': True, 'in_recovery': True, 'receiver_status': 'streaming'}


def test_verdict_healthy_switchover_and_crash():
    up = failover_verdict(STANDBY, {'state': 'up'}, {'bytes': 0, 'seconds': 0}, 900)
    assert up['go'] and not up['reasons'] and 'planned switchover' in up['warnings'][0]
    crash = failover_verdict(dict(STANDBY, receiver_status=None), {'state': 'down'}, {'bytes': 352, 'seconds': 2}, 900)
    assert crash['go'] and crash['reasons'] == [] and crash['blockers'] == [] and not crash['forced']


def test_verdict_too_far_behind_needs_force():
    loss = {'bytes': 10_000_000, 'seconds': 1200}
    refused = failover_verdict(STANDBY, {'state': 'down'}, loss, 900)
    assert not refused['go'] and 'more than the RPO of 900 s' in refused['reasons'][0]
    forced = failover_verdict(STANDBY, {'state': 'down'}, loss, 900, force=True)
    assert forced['go'] and forced['forced']


def test_verdict_unreachable_primary_and_unknown_loss():
    unreachable = failover_verdict(STANDBY, {'state': 'unreachable'}, {'bytes': None, 'seconds': None}, 900)
    assert not unreachable['go'] and len(unreachable['reasons']) == 1 and 'cannot be reached' in unreachable['reasons'][0]
    unknown = failover_verdict(STANDBY, {'state': 'down'}, {'bytes': None, 'seconds': None}, 900)
    assert not unknown['go'] and 'cannot be measured' in unknown['reasons'][0]
    assert failover_verdict(STANDBY, {'state': 'unreachable'}, {}, 900, True)['go']


def test_verdict_not_streaming_while_primary_up():
    verdict = failover_verdict(dict(STANDBY, receiver_status='waiting'), {'state': 'up'}, {'bytes': 0, 'seconds': 0}, 900)
    assert not verdict['go'] and 'not streaming' in verdict['reasons'][0]


def test_verdict_blockers_ignore_force():
    down = failover_verdict({'answers': False, 'error': 'connection refused'}, {'state': 'down'}, {}, 900, True)
    assert not down['go'] and 'connection refused' in down['blockers'][0]
    split = failover_verdict(dict(STANDBY, in_recovery=False), {'state': 'up'}, {}, 900, True)
    assert not split['go'] and 'split brain' in split['blockers'][0]
    swapped = failover_verdict(STANDBY, {'state': 'recovery'}, {'bytes': 0, 'seconds': 0}, 900, True)
    assert not swapped['go'] and 'inventory' in swapped['blockers'][0]


def test_verdict_already_promoted_is_a_rerun():
    verdict = failover_verdict(dict(STANDBY, in_recovery=False), {'state': 'down'}, {}, 900)
    assert verdict['go'] and verdict['already_promoted'] and not verdict['reasons']


def test_filters_wrap_errors():
    filters = FilterModule().filters()
    assert filters['pg_waldump_summary']({'stdout': WALDUMP_OUT, 'stderr': WALDUMP_ERR}, '0/3004480')['commits'] == 2
    with pytest.raises(AnsibleFilterError, match='not a WAL position'):
        filters['pg_waldump_summary']({'stdout': '', 'stderr': ''}, 'nonsense')
    with pytest.raises(AnsibleFilterError, match='dictionaries'):
        filters['failover_verdict']('x', {}, {}, 900)
    assert filters['pgbouncer_repoint'](INI, '/var/run/postgresql', 5432, '/var/run/postgresql', 5433)['changed'] == ['shop', 'auth']
