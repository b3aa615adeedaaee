"""Pure logic of plugins/module_utils/healthcheck.py: the failure messages of roles/maintenance_checks
(word for word), the newest backup manifest, the display line of a filesystem."""

from __future__ import annotations

import os

from ansible_collections.runbook.maintenance.plugins.module_utils import healthcheck

UP = {'postgres_available': True, 'in_recovery': False, 'replication_lag_s': 0.0, 'conn_err_msg': ''}


def test_postgres_down_is_the_only_postgres_failure():
    down = dict(UP, postgres_available=False, conn_err_msg='connection refused')
    assert healthcheck.postgres_failures('pre', down, True, 'db1', 1.0, '1', 'maintenance_checks_') == [
        'pre-check failed: PostgreSQL does not answer (connection refused).']
    assert healthcheck.postgres_failures('post', dict(down, conn_err_msg=''), False, 'db1', None, '', '') == [
        'post-check failed: PostgreSQL does not answer (no detail).']


def test_standby_and_lag_messages_name_the_role_settings():
    standby = dict(UP, in_recovery=True, replication_lag_s=412.26)
    assert healthcheck.postgres_failures('pre', standby, True, 'db-2', 300.0, '300', 'maintenance_checks_') == [
        'pre-check failed: db-2 is a standby (in recovery) and maintenance_checks_require_primary is true.',
        'pre-check failed: replication lag is 412.3 s, above maintenance_checks_max_replication_lag_s=300.']
    assert healthcheck.postgres_failures('pre', standby, False, 'db-2', None, '', 'x_') == []  # not enforced
    assert healthcheck.postgres_failures('pre', dict(UP, replication_lag_s=300.0), False, 'h', 300.0, '300', '') == []


def test_disk_failure_names_the_emergency_command_under_the_emergency_threshold():
    fs = {'mount': '/', 'path': '/var/lib/postgresql/15/main', 'free_percent': 4.2, 'emergency': True}
    assert healthcheck.disk_failure('pre', fs, '10', '5', 'db1') == (
        'pre-check failed: only 4.2% free on / (holding /var/lib/postgresql/15/main), the threshold is 10%. '
        'Under 5%: run the disk-space emergency now (runbook: within 10 minutes): '
        'ansible-playbook playbooks/disk-emergency.yml -l db1 -e disk_emergency_path=/')
    low = dict(fs, free_percent=8.0, emergency=False)
    assert healthcheck.disk_failure('post', low, '10', '5', 'db1') == (
        'post-check failed: only 8.0% free on / (holding /var/lib/postgresql/15/main), the threshold is 10%. '
        'Run the disk-space emergency procedure first (playbooks/disk-emergency.yml).')


def test_backup_and_breaker_messages():
    assert healthcheck.backup_failure('pre', -1, 93600.0, '/b', '26h') == 'pre-check failed: no backup found under /b.'
    assert healthcheck.backup_failure('pre', 100000, 93600.0, '/b', '26h') == \
        'pre-check failed: the newest backup is 27 h old, more than 26h.'
    assert healthcheck.backup_failure('pre', 3600, 93600.0, '/b', '26h') is None
    assert healthcheck.backup_failure('pre', -1, None, '/b', '') is None  # not enforced
    assert healthcheck.breaker_failure('post', 'maintenance', 'open', 'pre-check failed') == \
        'post-check failed: circuit breaker maintenance is open (pre-check failed). Close it once the cause is fixed.'


def test_newest_manifest_skips_hidden_files_and_symlinks(tmp_path):
    assert healthcheck.newest_manifest_age(str(tmp_path / 'none')) == (-1, None)
    assert healthcheck.newest_manifest_age(str(tmp_path)) == (-1, None)
    (tmp_path / 'app').mkdir()
    old = tmp_path / 'app' / 'app-1.dump.json'
    old.write_text('{}')
    os.utime(old, (1000, 1000))
    hidden = tmp_path / 'app' / '.work-1.tmp'
    hidden.mkdir()
    (hidden / 'new.json').write_text('{}')
    (tmp_path / 'app' / '.partial.json').write_text('{}')
    (tmp_path / 'app' / 'link.json').symlink_to(hidden / 'new.json')
    (tmp_path / 'app' / 'app-1.dump').write_text('x')
    assert healthcheck.newest_manifest_age(str(tmp_path), now=4600) == (3600, str(old))


def test_disk_line_and_filesize_like_jinja():
    assert healthcheck.filesize(1) == '1 Byte' and healthcheck.filesize(1023) == '1023 Bytes'
    assert healthcheck.filesize(1536) == '1.5 KiB' and healthcheck.filesize(5 * 1024 ** 3) == '5.0 GiB'
    fs = {'mount': '/', 'free_percent': 42.1, 'size_available': 5 * 1024 ** 3, 'growth_bytes': None,
          'interval_s': None, 'days_until_full': None}
    assert healthcheck.disk_line(fs) == '/: 42.1% free (5.0 GiB), no previous report, not filling up'
    grew = dict(fs, growth_bytes=1024 ** 3, interval_s=86400.0, days_until_full=5.0)
    assert healthcheck.disk_line(grew) == '/: 42.1% free (5.0 GiB), grew 1.0 GiB in 24.0 h, full in 5.0 days at that rate'
    assert healthcheck.disk_line(dict(fs, growth_bytes=-2048)) == '/: 42.1% free (5.0 GiB), shrank 2.0 KiB, not filling up'


def test_version():
    assert healthcheck.version_full('PostgreSQL 15.10 (Debian 15.10-0+deb12u1) on x86_64-pc-linux-gnu') == '15.10'
    assert healthcheck.version_full('') == ''
