"""The schedules the role installed (testinfra, through docker exec): the timer's next elapse is
a Sunday at 02:00 in Europe/Berlin, systemd's own calendar arithmetic covers the spring-forward
night, and the flock lock never lets a second run start while one is running."""

from __future__ import annotations

import datetime
import re
import time
from zoneinfo import ZoneInfo

import pytest

SYSTEMD = 'runbook-schedule-systemd'
CRON = 'runbook-schedule-cron'
NAME = 'runbook-maintenance-weekly'
SCRIPT = f'/usr/local/sbin/{NAME}'
RUNS = '/var/tmp/stub-runs.log'
BERLIN = ZoneInfo('Europe/Berlin')


def on(host, name):
    if host.backend.get_hostname() != name:
        pytest.skip(f'only on {name}')


def wait_for(host, command, attempts=60):
    """Poll (0.25 s apart) until the shell command succeeds; no duration is asserted."""
    for _attempt in range(attempts):
        if host.run(command).rc == 0:
            return True
        time.sleep(0.25)
    return False


def runs(host):
    content = host.run(f'cat {RUNS}').stdout
    return [line for line in content.splitlines() if line.startswith('start ')]


# ---- systemd ------------------------------------------------------------------------------------

def test_timer_is_enabled_active_and_listed(host):
    on(host, SYSTEMD)
    assert host.run(f'systemctl is-enabled {NAME}.timer').stdout.strip() == 'enabled'
    assert host.run(f'systemctl is-active {NAME}.timer').stdout.strip() == 'active'
    listed = host.check_output('systemctl list-timers --all --no-pager')
    assert f'{NAME}.timer' in listed and f'{NAME}.service' in listed


def test_next_elapse_is_a_sunday_0200_in_berlin(host):
    on(host, SYSTEMD)
    # The container's clock is UTC: list-timers prints the next elapse in UTC.
    line = next(row for row in host.check_output('systemctl list-timers --no-pager --no-legend').splitlines()
                if f'{NAME}.timer' in row)
    stamp = re.match(r'\w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC ', line).group(1)
    local = datetime.datetime.fromisoformat(stamp).replace(tzinfo=datetime.timezone.utc).astimezone(BERLIN)
    now = datetime.datetime.now(BERLIN)
    shown = host.check_output(f'systemctl show {NAME}.timer -p NextElapseUSecRealtime')
    assert shown == f'NextElapseUSecRealtime={line[:len("Sun 2026-11-29 01:00:00 UTC")]}'
    # 03:00 only on the spring-forward night (last Sunday of March), when 02:00 does not exist
    spring_forward = local.month == 3 and local.day >= 25
    assert (local.weekday(), local.hour, local.minute) == (6, 3 if spring_forward else 2, 0), local
    assert datetime.timedelta(0) < local - now <= datetime.timedelta(days=7)


def test_unit_files(host):
    on(host, SYSTEMD)
    timer = host.file(f'/etc/systemd/system/{NAME}.timer').content_string
    assert 'OnCalendar=Sun *-*-* 02:00:00 Europe/Berlin' in timer
    assert 'OnCalendar=Sun *-03-25..31 03:00:00 Europe/Berlin' in timer
    assert 'Persistent=true' in timer and 'RandomizedDelaySec=0' in timer
    service = host.file(f'/etc/systemd/system/{NAME}.service').content_string
    assert f'ExecStart={SCRIPT}' in service and 'Type=oneshot' in service
    assert 'SuccessExitStatus=75' in service


def elapses(host, expression, base):
    out = host.check_output(f"systemd-analyze calendar --iterations=6 --base-time='{base}' '{expression}'")
    stamps = re.findall(r'(?:Next elapse|Iter\. #\d+): \w{3} (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC', out)
    return [datetime.datetime.fromisoformat(s).replace(tzinfo=datetime.timezone.utc) for s in stamps]


def test_systemd_calendar_across_both_dst_changes(host):
    on(host, SYSTEMD)
    weekly = elapses(host, 'Sun *-*-* 02:00:00 Europe/Berlin', '2026-03-16 00:00 UTC')
    utc = datetime.timezone.utc
    # Winter: 01:00 UTC. The spring-forward night (03-29) has no 02:00: systemd skips it.
    assert weekly[:3] == [datetime.datetime(2026, 3, 22, 1, tzinfo=utc), datetime.datetime(2026, 4, 5, 0, tzinfo=utc),
                          datetime.datetime(2026, 4, 12, 0, tzinfo=utc)]
    gap = elapses(host, 'Sun *-03-25..31 03:00:00 Europe/Berlin', '2026-03-16 00:00 UTC')
    assert gap[0] == datetime.datetime(2026, 3, 29, 1, tzinfo=utc)  # 03:00 CEST: the extra line covers it
    autumn = elapses(host, 'Sun *-*-* 02:00:00 Europe/Berlin', '2026-10-17 00:00 UTC')
    assert all(e.astimezone(BERLIN).hour == 2 and e.astimezone(BERLIN).weekday() == 6 for e in autumn)
    assert datetime.datetime(2026, 11, 1, 1, tzinfo=utc) in autumn  # winter time again: 01:00 UTC


def test_a_second_run_never_starts_while_one_runs(host):
    on(host, SYSTEMD)
    host.run(f'rm -f {RUNS}')
    assert host.run(f'systemctl start --no-block {NAME}.service').rc == 0
    assert wait_for(host, f'grep -q "^start" {RUNS}'), host.run(f'journalctl -u {NAME} --no-pager').stdout
    # The same unit again: systemd does not start a second instance of a running oneshot.
    assert host.run(f'systemctl start --no-block {NAME}.service').rc == 0
    # The wrapper directly (a manual run, cron, another timer): the lock stops it.
    second = host.run(SCRIPT)
    assert second.rc == 75, second.stdout + second.stderr
    assert 'another run holds' in second.stderr
    # A oneshot is 'activating' while it runs, then 'inactive'.
    assert wait_for(host, f'grep -q "^end" {RUNS}')
    assert wait_for(host, f'systemctl show -p ActiveState --value {NAME}.service | grep -qx inactive')
    started = runs(host)
    assert len(started) == 1, started
    assert '/opt/runbook-maintenance' in started[0]
    assert '-i inventories/local playbooks/maintenance-weekly.yml -e maintenance_window_timezone=Europe/Berlin' in started[0]
    assert host.run(f'systemctl show {NAME}.service -p Result').stdout.strip() == 'Result=success'
    # The lock is released with the run: the next one starts.
    assert host.run(f'env STUB_SLEEP=0 {SCRIPT}').rc == 0
    assert len(runs(host)) == 2


# ---- cron ---------------------------------------------------------------------------------------

def test_cron_entry(host):
    on(host, CRON)
    entry = host.file(f'/etc/cron.d/{NAME}')
    assert entry.exists and entry.user == 'root' and entry.mode == 0o644
    lines = [line for line in entry.content_string.splitlines() if line and not line.startswith('#')]
    assert lines == [f'0 2 * * 0 root {SCRIPT} >>/var/log/{NAME}.log 2>&1']
    # One schedule only: no systemd units on the cron host.
    assert not host.file(f'/etc/systemd/system/{NAME}.timer').exists


def test_cron_runs_are_locked_too(host):
    on(host, CRON)
    host.run(f'rm -f {RUNS}')
    host.run(f'sh -c "{SCRIPT} >/dev/null 2>&1 &"')
    assert wait_for(host, f'grep -q "^start" {RUNS}')
    second = host.run(SCRIPT)
    assert second.rc == 75 and 'another run holds' in second.stderr
    assert wait_for(host, f'grep -q "^end" {RUNS}')
    assert len(runs(host)) == 1


# ---- the daily pgBackRest job (schedule_pgbackrest_backup) ---------------------------------------

PGB = 'runbook-pgbackrest-backup'


def test_daily_pgbackrest_job_timer(host):
    on(host, SYSTEMD)
    assert host.run(f'systemctl is-active {PGB}.timer').stdout.strip() == 'active'
    timer = host.file(f'/etc/systemd/system/{PGB}.timer').content_string
    assert 'OnCalendar=*-*-* 05:30:00 Europe/Berlin' in timer
    assert 'Sun *-03-25..31' not in timer  # the weekly's spring-forward line is not the daily job's
    assert 'playbooks/pgbackrest-backup.yml' in host.file(f'/usr/local/sbin/{PGB}').content_string


def test_daily_pgbackrest_job_cron_entry(host):
    on(host, CRON)
    lines = [line for line in host.file(f'/etc/cron.d/{PGB}').content_string.splitlines()
             if line and not line.startswith('#')]
    assert lines == [f'30 5 * * * root /usr/local/sbin/{PGB} >>/var/log/{PGB}.log 2>&1']
    assert 'playbooks/pgbackrest-backup.yml' in host.file(f'/usr/local/sbin/{PGB}').content_string
