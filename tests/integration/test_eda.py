"""Event-Driven Ansible end to end: ansible-rulebook runs extensions/eda/rulebooks/runbook_alerts.yml
on 127.0.0.1, Alertmanager webhook notifications (JSON version 4) are posted to it, and the
disk-space emergency runs against the alert's host (the instance label without its port) and
cleans a sandbox directory; a second identical alert within the throttle window starts nothing.

Needs Java 17 (tests/scripts/tools.sh installs it) and ansible-rulebook (requirements-test.txt)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLLECTIONS = REPO / '.build' / 'collections'
START_TIMEOUT = 180    # ansible-rulebook starts the JVM: ~12 s on a quiet machine, 30 s under load
RUN_TIMEOUT = 300      # one disk-emergency run: ~15 s quiet, ~110 s on a 2-core machine at load 19


def java_home() -> str | None:
    for candidate in (os.environ.get('JAVA_HOME'), '/usr/lib/jvm/java-17-openjdk-amd64',
                      '/usr/lib/jvm/java-17-openjdk-arm64'):
        if candidate and (Path(candidate) / 'bin' / 'java').exists():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def free_percent(path: Path) -> float:
    st = os.statvfs(path)
    return round(st.f_bavail * 100.0 / st.f_blocks, 2)


def make_sandbox(sandbox: Path) -> Path:
    """A directory with old rotated logs (to clean) and a live log (to keep)."""
    sandbox.mkdir(parents=True)
    old = time.time() - 3 * 86400
    for name, size in (('app.log.1', 64 * 1024), ('app.log.2.gz', 4096), ('app.log', 4096)):
        path = sandbox / name
        path.write_bytes(os.urandom(size))
        if name != 'app.log':
            os.utime(path, (old, old))
    return sandbox


def can_mount_privately(tmp_path: Path) -> bool:
    """Root may mount a tmpfs in a private mount namespace (gone with the process, nothing left)."""
    if os.geteuid() != 0 or not shutil.which('unshare'):
        return False
    probe = tmp_path / 'probe'
    probe.mkdir()
    result = subprocess.run(['unshare', '--mount', '--propagation', 'private', 'mount', '-t', 'tmpfs', '-o', 'size=1m',
                             'runbook-probe', str(probe)], capture_output=True, timeout=30, check=False)
    return result.returncode == 0


def inventory(tmp_path: Path, sandboxes: dict[str, Path]) -> Path:
    hosts = {}
    for host, sandbox in sandboxes.items():
        hosts[host] = {
            'ansible_connection': 'local',
            'ansible_python_interpreter': sys.executable,
            'disk_emergency_path': str(sandbox),
            'disk_emergency_allowed_roots': [str(sandbox)],
            'disk_emergency_target_free_percent': 100,  # never met: every eligible file goes
            'disk_emergency_safe_jobs': [{'name': 'rotated logs', 'path': str(sandbox),
                                          'patterns': ['*.gz', '*.[0-9]'], 'age': '1d'}],
            'disk_emergency_aggressive_jobs': [],
            'disk_emergency_journald_max_size': '',
            'disk_emergency_docker': False,
            'maintenance_report_dir': str(tmp_path / 'reports'),
        }
    path = tmp_path / 'inventory.yml'
    path.write_text(yaml.safe_dump({'all': {'children': {'databases': {'hosts': hosts}}}}))
    return path


def alert_notification(instance: str, alertname: str = 'DiskSpaceCritical') -> dict:
    """What Alertmanager posts to a webhook receiver (version 4)."""
    labels = {'alertname': alertname, 'instance': instance, 'job': 'node', 'severity': 'P1',
              'mountpoint': '/var/log', 'device': '/dev/vdb', 'fstype': 'ext4'}
    return {
        'version': '4', 'groupKey': '{}:{alertname="%s"}' % alertname, 'truncatedAlerts': 0,
        'status': 'firing', 'receiver': 'runbook-eda',
        'groupLabels': {'alertname': alertname}, 'commonLabels': labels,
        'commonAnnotations': {'summary': '/var/log has 4% free', 'runbook_url': 'playbooks/disk-emergency.yml'},
        'externalURL': 'http://alertmanager.example:9093',
        'alerts': [{
            'status': 'firing', 'labels': labels,
            'annotations': {'summary': '/var/log has 4% free', 'runbook_url': 'playbooks/disk-emergency.yml'},
            'startsAt': '2026-12-07T02:00:00Z', 'endsAt': '0001-01-01T00:00:00Z',
            'generatorURL': 'http://prometheus.example:9090/graph', 'fingerprint': 'c0ffee' + instance[:4].encode().hex(),
        }],
    }


def post(port: int, body: dict) -> int:
    request = urllib.request.Request(f'http://127.0.0.1:{port}/', data=json.dumps(body).encode(),
                                     headers={'Content-Type': 'application/json'}, method='POST')
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback only)
        return response.status


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            pytest.fail(f'ansible-rulebook exited ({proc.returncode}) while waiting for {what}:\n'
                        + log.read_text()[-4000:])
        time.sleep(0.5)
    pytest.fail(f'timed out after {timeout}s waiting for {what}:\n' + log.read_text()[-4000:])


def descendants(root: int) -> list[int]:
    """Every process below root (from /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / 'stat').read_text().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def reports(tmp_path: Path, host: str) -> list[Path]:
    return sorted((tmp_path / 'reports').glob(f'disk_emergency-{host}-*.json'))


def test_alert_runs_the_disk_emergency_once_per_host_within_the_throttle(tmp_path):
    home = java_home()
    if home is None:
        pytest.fail('Java 17 not found: tests/scripts/tools.sh installs openjdk-17-jre-headless')
    rulebook_bin = BIN / 'ansible-rulebook'
    assert rulebook_bin.exists(), 'ansible-rulebook missing: pip install -r requirements-test.txt'
    link = COLLECTIONS / 'ansible_collections' / 'runbook' / 'maintenance'
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path('../../../..'))

    # The sandboxes live on a filesystem of their own: the emergency's assessment (du of the whole
    # filesystem in trouble) is then instant. As root, a 16 MiB tmpfs mounted in a private mount
    # namespace of ansible-rulebook (seen from here through /proc/PID/root, gone with the process);
    # otherwise plain directories under tmp_path (slower: du of the filesystem holding /tmp).
    fs = tmp_path / 'fs'
    fs.mkdir()
    sandboxes = {host: fs / host / 'logs' for host in ('db-1', 'db-2')}
    private = can_mount_privately(tmp_path)
    port = free_port()
    variables = tmp_path / 'eda-vars.yml'
    variables.write_text(yaml.safe_dump({'runbook_eda_webhook_port': port}))
    env = dict(os.environ, JAVA_HOME=home, PATH=f'{BIN}{os.pathsep}{os.environ.get("PATH", "")}',
               ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_LOCAL_TEMP=str(tmp_path / 'ansible-tmp'),
               ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
    command = [str(rulebook_bin), '--rulebook', 'runbook.maintenance.runbook_alerts',
               '--inventory', str(inventory(tmp_path, sandboxes)), '--vars', str(variables), '-v']
    if private:
        command = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c',
                   'mount -t tmpfs -o size=16m,mode=0755 runbook-eda "$0" && exec "$@"', str(fs), *command]
    log = tmp_path / 'rulebook.log'
    with log.open('w') as out:
        proc = subprocess.Popen(  # pylint: disable=consider-using-with
            command, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def seen(path: Path) -> Path:  # a sandbox path as this process reaches it
        return Path(f'/proc/{proc.pid}/root') / path.relative_to('/') if private else path

    try:
        def listening():
            with socket.socket() as sock:
                sock.settimeout(1)
                return sock.connect_ex(('127.0.0.1', port)) == 0
        wait_for(listening, START_TIMEOUT, 'the webhook to listen', proc, log)
        if private:
            assert os.stat(seen(fs)).st_dev != os.stat(fs).st_dev, 'the tmpfs is not mounted'
        for host, sandbox in sandboxes.items():
            make_sandbox(seen(sandbox))
        # the target (100% free) must not be met before the cleanup, or nothing is cleaned
        assert free_percent(seen(sandboxes['db-1'])) < 100

        # the first alert: the emergency runs on db-1 (instance db-1:9100, the port taken off)
        assert post(port, alert_notification('db-1:9100')) == 200
        wait_for(lambda: reports(tmp_path, 'db-1'), RUN_TIMEOUT, 'the disk-emergency report of db-1', proc, log)
        box = seen(sandboxes['db-1'])
        assert sorted(p.name for p in box.iterdir()) == ['app.log']  # old rotated logs cleaned, live log kept
        report = json.loads(reports(tmp_path, 'db-1')[0].read_text())
        assert report['procedure'] == 'disk_emergency' and report['host'] == 'db-1' and report['status'] == 'ok'
        assert seen(sandboxes['db-2']).joinpath('app.log.1').exists()  # the limit: only the alert's host

        # the same alert again (Alertmanager's repeat, a flap) within the throttle window: ignored;
        # then the same alert for db-2: runs. Events are handled in order, so once db-2's run is
        # done the repeat for db-1 has been handled too.
        (box / 'app.log.3').write_bytes(b'x' * 4096)
        os.utime(box / 'app.log.3', (time.time() - 3 * 86400,) * 2)
        assert post(port, alert_notification('db-1:9100')) == 200
        assert post(port, alert_notification('db-2:9100')) == 200
        wait_for(lambda: reports(tmp_path, 'db-2'), RUN_TIMEOUT, 'the disk-emergency report of db-2', proc, log)
        assert sorted(p.name for p in seen(sandboxes['db-2']).iterdir()) == ['app.log']
        assert len(reports(tmp_path, 'db-1')) == 1, 'the repeated alert started a second run'
        assert (box / 'app.log.3').exists()

        # an alert without a host label runs nothing anywhere (never a run on every host)
        no_host = alert_notification('db-1:9100', 'RunbookDiskFreeCritical')
        for alert in no_host['alerts']:
            del alert['labels']['instance']
        assert post(port, no_host) == 200
        assert proc.poll() is None
    finally:
        # ansible-runner starts each playbook in a session of its own: end those too, or a run still
        # going on outlives the test.
        for pid in descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
