"""Failover and rejoin: the data, replication, PgBouncer, the fence, the reports (testinfra, docker exec)."""

from __future__ import annotations

import glob
import json
import os
import re


def psql(host, sql, port=5432, db='shop'):
    return host.check_output(f'runuser -u postgres -- psql -X -At -p {port} -d {db} -c "{sql}"')


def report(action):
    reports = os.path.join(os.environ['MOLECULE_EPHEMERAL_DIRECTORY'], 'reports')
    found = []
    for path in sorted(glob.glob(f'{reports}/dr_failover-pg-standby-*.json')):
        with open(path, encoding='utf-8') as handle:
            data = json.load(handle)
        if data['title'] == f'DR - failover ({action})' and not data.get('check_mode'):
            found.append(data)
    assert found, f'no {action} report in {reports}'
    return found


def section(data, title):
    return next(s for s in data['sections'] if s['title'] == title)


def test_new_primary_has_the_rows_but_not_the_lost_ones(host):
    assert psql(host, 'SELECT pg_is_in_recovery()', port=5433) == 'f'
    assert psql(host, 'SELECT count(*) FROM orders WHERE id <= 100', port=5433) == '100'
    # written through PgBouncer after the failover and after the rejoin
    assert psql(host, "SELECT count(*) FROM orders WHERE id BETWEEN 101 AND 110 AND note LIKE '%pgbouncer 5433'", port=5433) == '10'
    assert psql(host, 'SELECT count(*) FROM orders WHERE id = 2001', port=5433) == '1'
    # the two commits the standby never received are gone: that is the data loss the report measured
    assert psql(host, 'SELECT count(*) FROM orders WHERE id IN (1001, 1002)', port=5433) == '0'


def test_old_primary_is_a_streaming_standby_of_the_new_one(host):
    assert psql(host, 'SELECT pg_is_in_recovery()', db='postgres') == 't'
    assert psql(host, 'SELECT status, sender_port FROM pg_stat_wal_receiver', db='postgres') == 'streaming|5433'
    assert psql(host, "SELECT state FROM pg_stat_replication WHERE application_name = 'pg_main_main'",
                port=5433, db='postgres') == 'streaming'
    # rows flow again: everything of the new primary is on the old one, the lost rows were rewound away
    assert psql(host, 'SELECT count(*) FROM orders') == '111'
    assert psql(host, 'SELECT count(*) FROM orders WHERE id IN (1001, 1002)') == '0'


def test_pgbouncer_points_at_the_new_primary(host):
    ini = host.file('/etc/pgbouncer/pgbouncer.ini').content_string
    assert 'shop = host=/var/run/postgresql port=5433 dbname=shop user=postgres' in ini
    assert 'port=5432' not in ini.split('[pgbouncer]')[0]
    assert ini.startswith(';; the application')  # comments kept
    backups = host.check_output('ls /etc/pgbouncer/').split()
    assert any(name.startswith('pgbouncer.ini.') for name in backups)  # the previous file kept
    through = host.check_output(
        "psql -X -At -h /var/run/postgresql -p 6432 -U root -d shop -c \"SELECT current_setting('port'), pg_is_in_recovery()\"")
    assert through == '5433|f'


def test_fence_is_lifted_after_the_rejoin(host):
    assert not host.file('/etc/postgresql/15/main/runbook-failover-fence.json').exists
    assert host.file('/etc/postgresql/15/main/start.conf').content_string.strip() == 'auto'  # as before the fence
    assert host.file('/var/lib/postgresql/15/main/standby.signal').exists
    conf = host.file('/var/lib/postgresql/15/main/postgresql.auto.conf').content_string
    assert "primary_conninfo = 'host=/var/run/postgresql port=5433 user=postgres application_name=pg_main_main'" in conf
    assert 'password' not in conf


def test_failover_report_measured_the_loss_and_the_rto(host):
    # this run's reports (older runs may have left theirs): refused, failover, idempotence rerun
    refused, failover, rerun = report('failover')[-3:]
    assert refused['failure'] and not failover['failure'] and not rerun['failure']
    assert failover['status'] == 'ok' and failover['procedure'] == 'dr_failover'
    lost = section(failover, 'RTO and data lost')['items']
    assert lost['data lost'].endswith('transactions (RPO 900 s: met)')
    assert 'target 3600 s: met' in lost['RTO (clients on the new primary)']
    metrics = failover['metrics']
    assert metrics['failover_data_lost_transactions'] >= 2
    assert metrics['failover_data_lost_seconds'] >= 2.5  # the two lost commits were 3 s apart
    assert metrics['failover_data_lost_bytes'] > 0
    assert 0 < metrics['failover_writes_seconds'] <= metrics['failover_rto_seconds']
    assert metrics['failover_succeeded'] in (True, 1)
    steps = section(failover, 'Failover')['lines']
    assert steps[0].startswith('fenced pg-main 15/main: was not running, standby.signal placed, start.conf manual')
    assert steps[1].startswith('promoted pg-standby 15/standby, takes writes')
    assert 'shop, postgres repointed to /var/run/postgresql:5433, reloaded, a client connection reached it' in steps[2]
    assert rerun is not failover and rerun['metrics'].get('failover_rto_seconds') is None  # nothing failed over again
    assert section(rerun, 'Failover')['lines'][1].startswith('pg-standby was already the primary')


def test_refused_failover_left_a_report(host):
    refused = report('failover')[-3]
    assert 'Failover refused' in refused['failure'] and 'more than the RPO of 1 s' in refused['failure']
    assert refused['metrics']['failover_succeeded'] in (False, 0)
    assert section(refused, 'Standby lag (data a failover would lose)')['items']['verdict'].startswith('REFUSED')


def test_rejoin_report(host):
    rejoin = report('rejoin')[-2:]  # the rejoin and the second run
    assert rejoin[0]['metrics']['failover_rejoin_streaming'] in (True, 1)
    # pg_rewind, or (when its crash recovery of the killed primary fails) the base-backup fallback
    rejoined = re.compile(r'^rejoined by (pg_rewind|pg_rewind \(failed\), then pg_basebackup|pg_basebackup): '
                          r'pg-main 15/main streams from pg-standby')
    assert any(rejoined.match(line) for line in section(rejoin[0], 'Rejoin')['lines']), section(rejoin[0], 'Rejoin')
    assert any(line.startswith('already rejoined') for line in section(rejoin[-1], 'Rejoin')['lines'])
