"""roles/maintenance_report run by ansible-playbook on localhost: the text and JSON report with
sections, Prometheus textfile metrics (parsed strictly), and the webhook notification captured
by a receiver on 127.0.0.1."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / 'tests' / 'integration' / 'playbooks' / 'report.yml'
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / 'ansible-playbook'
COLLECTIONS = REPO / '.build' / 'collections'

# A pg_vacuum result as runbook.maintenance.pg_vacuum registers it (the fields the report reads).
VACUUM_RESULT = {
    'database': 'shop', 'operation': 'vacuum_analyze', 'server_version': {'full': '15.10'},
    'summary': {'done': 1, 'planned': 0, 'skipped_locked': 0, 'deferred': 0, 'failed': 0,
                'dead_tuples_removed': 80000, 'bytes_reclaimed': 4096, 'duration_s': 0.21},
    'tables': [{'schema': 'public', 'name': 'orders', 'status': 'done', 'operation': 'vacuum_analyze',
                'duration_s': 0.21, 'dead_tuples_before': 80000, 'dead_tuples_after': 0,
                'reason': '80000 dead tuples (29% of rows; thresholds 1000 and 5%)', 'error': None,
                'size_before': 0, 'size_after': None, 'index_size_before': 0, 'index_size_after': None}],
    'not_selected': [{'schema': 'public', 'name': 'countries', 'reason': 'below threshold'}],
}


# ---- a strict reader of the Prometheus text exposition format ------------------------------

METRIC_NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:\\[\\"n]|[^"\\\n])*)"')
SAMPLE = re.compile(rf'^({METRIC_NAME})(?:\{{(.*)\}})? ([^ ]+)(?: (-?[0-9]+))?$')
FLOAT = re.compile(r'^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$|^[-+]?Inf$|^NaN$')


class ExpositionError(AssertionError):
    pass


def parse_exposition(text: str) -> dict:
    """Parse text format 0.0.4 strictly: HELP and TYPE once per family and before its samples,
    families contiguous, labels well formed and unique, values floats, no duplicate series.
    Returns {'samples': {(name, ((label, value), ...)): float}, 'help': {...}, 'type': {...}}."""
    if not text.endswith('\n'):
        raise ExpositionError('the file does not end with a newline')
    helps, types, samples = {}, {}, {}
    finished, current = set(), None
    for number, line in enumerate(text.split('\n')[:-1], 1):
        where = f'line {number}: {line!r}'
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if len(parts) >= 3 and parts[1] in ('HELP', 'TYPE'):
                name = parts[2]
                if not re.fullmatch(METRIC_NAME, name):
                    raise ExpositionError(f'{where}: bad metric name')
                if name in finished or (name != current and name in helps | types):
                    raise ExpositionError(f'{where}: family {name} is not contiguous')
                if current != name:
                    if current is not None:
                        finished.add(current)
                    current = name
                if any(key[0] == name for key in samples):
                    raise ExpositionError(f'{where}: {parts[1]} after samples of {name}')
                table = helps if parts[1] == 'HELP' else types
                if name in table:
                    raise ExpositionError(f'{where}: second {parts[1]} for {name}')
                if parts[1] == 'TYPE' and (len(parts) != 4 or parts[3] not in
                                           ('counter', 'gauge', 'histogram', 'summary', 'untyped')):
                    raise ExpositionError(f'{where}: bad TYPE')
                table[name] = parts[3] if len(parts) == 4 else ''
            continue
        if not line.strip():
            continue
        match = SAMPLE.match(line)
        if not match:
            raise ExpositionError(f'{where}: not a sample line')
        name, label_text, value, _timestamp = match.groups()
        if name != current:
            if name in finished:
                raise ExpositionError(f'{where}: family {name} is not contiguous')
            if current is not None:
                finished.add(current)
            current = name
        labels = []
        if label_text:
            rest = label_text
            while rest:
                pair = LABEL_PAIR.match(rest)
                if not pair:
                    raise ExpositionError(f'{where}: bad labels at {rest!r}')
                labels.append((pair.group(1), pair.group(2)))
                rest = rest[pair.end():]
                if rest.startswith(','):
                    rest = rest[1:]
                elif rest:
                    raise ExpositionError(f'{where}: bad labels at {rest!r}')
        if len({pair[0] for pair in labels}) != len(labels):
            raise ExpositionError(f'{where}: a label appears twice')
        if not FLOAT.match(value):
            raise ExpositionError(f'{where}: value {value!r} is not a float')
        key = (name, tuple(sorted(labels)))
        if key in samples:
            raise ExpositionError(f'{where}: duplicate series')
        samples[key] = float(value)
    return {'samples': samples, 'help': helps, 'type': types}


def test_the_parser_is_strict():
    good = '# HELP a_x x\n# TYPE a_x gauge\na_x{l="1"} 1\na_x{l="2"} 2.5e3\n'
    assert parse_exposition(good)['samples'][('a_x', (('l', '2'),))] == 2500.0
    for bad in ('a_x 1',                                   # no final newline
                'a_x{l="1"} one\n',                        # not a float
                'a_x{l=1} 1\n',                            # unquoted label value
                'a_x{l="1",l="2"} 1\n',                    # label twice
                'a_x 1\na_x 2\n',                          # duplicate series
                'a_x 1\nb_y 1\na_x{l="1"} 2\n',            # family split in two
                'a_x 1\n# TYPE a_x gauge\n',               # TYPE after samples
                '# TYPE a_x gauges\na_x 1\n'):             # bad type
        with pytest.raises(ExpositionError):
            parse_exposition(bad)


def series(parsed: dict, name: str, **labels) -> float:
    return parsed['samples'][(name, tuple(sorted(labels.items())))]


# ---- fixtures: the webhook receiver, ansible-playbook ------------------------------------------

class Receiver:
    """Captures every POST on 127.0.0.1 (ephemeral port) and answers 200."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                receiver.requests.append({'path': self.path, 'headers': dict(self.headers),
                                          'body': body.decode()})
                self.send_response(200)
                self.send_header('Content-Type', 'text/plain')
                self.end_headers()
                self.wfile.write(b'ok')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def receiver():
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture()
def secret() -> str:
    return f'sekret-{uuid.uuid4().hex}'


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]  # closed again on leaving: connections are refused


@pytest.fixture(scope='module', autouse=True)
def collection_link():
    """The checkout as runbook.maintenance (what `make collection` does, if it has not run)."""
    link = COLLECTIONS / 'ansible_collections' / 'runbook' / 'maintenance'
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path('../../../..'))
    assert (link / 'roles' / 'maintenance_report').is_dir()


class Run:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.reports = tmp_path / 'reports'
        self.metrics = tmp_path / 'metrics'
        self.count = 0

    def __call__(self, *args: str, **variables) -> subprocess.CompletedProcess:
        self.count += 1
        extra = self.tmp / f'vars-{self.count}.json'
        extra.write_text(json.dumps({'maintenance_report_dir': str(self.reports), **variables}))
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
                   ANSIBLE_HOME=str(REPO / '.build' / 'ansible-home'), ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
                   ANSIBLE_LOCAL_TEMP=str(self.tmp / 'ansible-tmp'))
        return subprocess.run([str(ANSIBLE_PLAYBOOK), '-i', 'localhost,', str(PLAYBOOK), '-e', f'@{extra}', *args],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)

    def prom(self, procedure: str) -> Path:
        return self.metrics / f'runbook_maintenance_{procedure}.prom'

    def newest_report(self, ext: str) -> Path:
        found = sorted(self.reports.glob(f'*.{ext}'), key=lambda p: p.stat().st_mtime_ns)
        assert found, f'no .{ext} report in {self.reports}'
        return found[-1]


@pytest.fixture()
def run(tmp_path):
    return Run(tmp_path)


def started(seconds_ago: int = 90) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)).strftime('%Y-%m-%dT%H:%M:%SZ')


def backup_vars(run: Run, **more) -> dict:
    return {
        'maintenance_report_title': 'Daily backups',
        'maintenance_report_procedure': 'backup',
        'maintenance_report_started': started(),
        'maintenance_report_metrics_dir': str(run.metrics),
        'maintenance_report_sections': [
            {'title': 'Backups', 'status': 'ok',
             'items': {'shop': 'shop-20261129T020000Z.dump, 1.2 MiB, verified', 'auth': 'auth-20261129T020000Z.dump'}},
            {'title': 'Retention', 'lines': ['7 daily / 4 weekly / 12 monthly', '3 old dumps deleted']},
        ],
        'maintenance_report_metrics': {'backup_age_seconds': 42, 'backup_verified': True,
                                       'breaker_open{breaker="backups"}': 0, 'breaker_open{breaker="maintenance"}': 1,
                                       'dr_drill_rto_seconds': 1260.5, 'dr_drill_rpo_seconds': '300',
                                       'dr_drill_passed': None},  # not measured: left out
        'maintenance_report_bytes_freed': 1000,
        'maintenance_report_vacuum': [VACUUM_RESULT],
        'maintenance_report_webhook_delay': 0,
        **more,
    }


def flat(text: str) -> str:
    """Output with the YAML callback's line folding undone."""
    return ' '.join(text.split())


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


# ---- the tests -------------------------------------------------------------------------------

def test_success_report_sections_metrics_and_no_notification_on_success(run, receiver, secret):
    url = f'http://127.0.0.1:{receiver.port}/services/T0/B0/{secret}'
    out = ok(run(**backup_vars(run, maintenance_report_webhook_url=url)))

    assert receiver.requests == []  # notify_on defaults to [failure]
    assert secret not in out

    text = run.newest_report('txt').read_text()
    assert run.newest_report('txt').name.startswith('backup-localhost-')
    assert 'Daily backups on localhost' in text
    assert 'status OK' in text and 'took ' in text
    assert 'Backups [OK]\n  shop  shop-20261129T020000Z.dump, 1.2 MiB, verified\n  auth  auth-' in text
    assert 'Retention\n  7 daily / 4 weekly / 12 monthly\n  3 old dumps deleted\n' in text
    assert 'Database shop' in text  # the vacuum part is still there
    # the report is printed as a list of lines (terminal and AWX)
    assert '- \'  shop  shop-20261129T020000Z.dump, 1.2 MiB, verified\'' in out

    report = json.loads(run.newest_report('json').read_text())
    assert report['procedure'] == 'backup' and report['status'] == 'ok' and report['host'] == 'localhost'
    assert report['sections'][0]['items']['shop'].startswith('shop-')
    assert report['bytes_reclaimed'] == 1000 + 4096
    assert 90 <= report['duration_s'] < 3600
    assert report['databases'][0]['database'] == 'shop'

    prom = run.prom('backup')
    assert oct(prom.stat().st_mode & 0o777) == '0o644'
    parsed = parse_exposition(prom.read_text())
    labels = {'procedure': 'backup', 'host': 'localhost'}
    for family in ('last_run_timestamp_seconds', 'last_success_timestamp_seconds', 'last_run_duration_seconds',
                   'last_run_status', 'last_run_reclaimed_bytes', 'backup_age_seconds', 'backup_verified',
                   'breaker_open'):
        name = f'runbook_maintenance_{family}'
        assert parsed['type'][name] == 'gauge' and parsed['help'][name], name
    assert series(parsed, 'runbook_maintenance_last_run_status', **labels) == 1
    last_run = series(parsed, 'runbook_maintenance_last_run_timestamp_seconds', **labels)
    assert series(parsed, 'runbook_maintenance_last_success_timestamp_seconds', **labels) == last_run
    assert abs(last_run - report['finished_epoch']) < 1
    assert series(parsed, 'runbook_maintenance_last_run_duration_seconds', **labels) == report['duration_s']
    assert series(parsed, 'runbook_maintenance_last_run_reclaimed_bytes', **labels) == 5096
    assert series(parsed, 'runbook_maintenance_backup_age_seconds', **labels) == 42
    assert series(parsed, 'runbook_maintenance_backup_verified', **labels) == 1
    assert series(parsed, 'runbook_maintenance_breaker_open', breaker='backups', **labels) == 0
    assert series(parsed, 'runbook_maintenance_breaker_open', breaker='maintenance', **labels) == 1
    assert math.isclose(series(parsed, 'runbook_maintenance_dr_drill_rto_seconds', **labels), 1260.5)
    assert series(parsed, 'runbook_maintenance_dr_drill_rpo_seconds', **labels) == 300  # a numeric string
    assert 'RTO' in parsed['help']['runbook_maintenance_dr_drill_rto_seconds']
    assert not [key for key in parsed['samples'] if key[0] == 'runbook_maintenance_dr_drill_passed']
    assert sorted(p.name for p in run.metrics.iterdir()) == [prom.name]  # no temporary file left


def test_failed_run_notifies_keeps_last_success_and_replaces_the_file_atomically(run, receiver, secret):
    url = f'http://127.0.0.1:{receiver.port}/services/T0/B0/{secret}'
    ok(run(**backup_vars(run, maintenance_report_webhook_url=url)))
    labels = {'procedure': 'backup', 'host': 'localhost'}
    first = parse_exposition(run.prom('backup').read_text())
    first_inode = run.prom('backup').stat().st_ino
    success = series(first, 'runbook_maintenance_last_success_timestamp_seconds', **labels)

    failure = 'Verify each new dump: checksum: sha256 does not match the manifest'
    out = ok(run('-v', **backup_vars(run, maintenance_report_webhook_url=url, maintenance_report_failure=failure)))
    assert secret not in out

    second = parse_exposition(run.prom('backup').read_text())
    assert series(second, 'runbook_maintenance_last_run_status', **labels) == 0
    assert series(second, 'runbook_maintenance_last_success_timestamp_seconds', **labels) == success
    assert series(second, 'runbook_maintenance_last_run_timestamp_seconds', **labels) > success
    # replaced by a rename (a new inode), never rewritten in place; nothing left beside it
    assert run.prom('backup').stat().st_ino != first_inode
    assert sorted(p.name for p in run.metrics.iterdir()) == [run.prom('backup').name]

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    assert request['path'] == f'/services/T0/B0/{secret}'
    assert request['headers']['Content-Type'].startswith('application/json')
    assert secret not in request['body']
    payload = json.loads(request['body'])
    assert 'FAILED' in payload['text'] and 'Daily backups on localhost' in payload['text']
    assert failure[:40] in payload['text']
    attachment = payload['attachments'][0]
    assert attachment['color'] == 'danger'
    fields = {f['title']: f['value'] for f in attachment['fields']}
    assert fields['Procedure'] == 'backup'
    assert fields['Host'] == 'localhost'
    assert fields['Status'] == 'FAILED'
    assert fields['Failure'] == failure
    assert re.fullmatch(r'(\d+h \d+m|\d+m \d+s|[\d.]+s)', fields['Duration'])
    assert 'Backups: ok' in fields['Summary']


def test_completion_notifies_a_success_with_extra_payload_fields(run, receiver, secret):
    url = f'http://127.0.0.1:{receiver.port}/hooks/{secret}'
    ok(run(**backup_vars(run, maintenance_report_webhook_url=url, maintenance_report_notify_on=['completion'],
                         maintenance_report_summary='2 dumps verified, 3 pruned',
                         maintenance_report_webhook_payload_extra={'username': 'runbook'})))
    assert len(receiver.requests) == 1
    payload = json.loads(receiver.requests[0]['body'])
    assert payload['username'] == 'runbook'
    assert payload['text'].startswith(':white_check_mark: Daily backups on localhost: OK after ')
    fields = {f['title']: f['value'] for f in payload['attachments'][0]['fields']}
    assert fields['Status'] == 'OK' and 'Failure' not in fields
    assert fields['Summary'] == '2 dumps verified, 3 pruned'
    assert payload['attachments'][0]['color'] == 'good'


def test_completion_only_does_not_notify_a_failure(run, receiver, secret):
    url = f'http://127.0.0.1:{receiver.port}/hooks/{secret}'
    ok(run(**backup_vars(run, maintenance_report_webhook_url=url, maintenance_report_notify_on=['completion'],
                         maintenance_report_failure='a step failed')))
    assert receiver.requests == []


def test_a_dead_webhook_only_warns_unless_told_to_fail(run, secret):
    url = f'http://127.0.0.1:{closed_port()}/services/T0/B0/{secret}'
    common = dict(maintenance_report_webhook_url=url, maintenance_report_failure='a step failed',
                  maintenance_report_webhook_retries=1, maintenance_report_webhook_timeout=5)
    out = ok(run(**backup_vars(run, **common)))
    assert 'WARNING: the backup notification was not delivered to webhook: HTTP status -1 after 2 attempt(s)' in flat(out)
    assert secret not in out
    assert series(parse_exposition(run.prom('backup').read_text()), 'runbook_maintenance_last_run_status',
                  procedure='backup', host='localhost') == 0  # the metrics are still written

    failed = run(**backup_vars(run, maintenance_report_webhook_fail_on_error=True, **common))
    assert failed.returncode != 0
    assert 'notification was not delivered' in failed.stdout
    assert secret not in failed.stdout + failed.stderr


def test_check_mode_writes_no_metrics_and_sends_nothing(run, receiver, secret):
    url = f'http://127.0.0.1:{receiver.port}/hooks/{secret}'
    out = ok(run('--check', **backup_vars(run, maintenance_report_webhook_url=url,
                                          maintenance_report_notify_on=['failure', 'completion'])))
    assert not run.prom('backup').exists()
    assert receiver.requests == []
    report = json.loads(run.newest_report('json').read_text())
    assert report['check_mode'] is True and report['status'] == 'planned'
    assert 'CHECK MODE' in out


def test_the_weekly_call_without_the_new_variables_still_works(run):
    out = ok(run(maintenance_report_title='Weekly maintenance', maintenance_report_started=started(3700),
                 maintenance_report_checks={}, maintenance_report_vacuum=[VACUUM_RESULT], maintenance_report_failure=''))
    text = run.newest_report('txt').read_text()
    assert run.newest_report('txt').name.startswith('weekly-localhost-')
    assert 'Weekly maintenance on localhost' in text
    assert ', took 1h 1m, status OK' in text
    assert '  VACUUM ANALYZE: 1 done, 0 planned' in text
    assert 'LEFT ALONE     public.countries: below threshold' in text
    assert 'Total: 1 databases, 1 tables done' in text
    assert not run.metrics.exists()  # no metrics directory given: no metrics
    assert 'Notify the webhook' in out


def test_bad_metrics_are_refused_with_a_clear_message(run):
    bad = {'backup-age': 1, 'breaker_open{breaker=x}': 1, 'dr_drill_passed{host="x"}': 1, 'last_run_status': 1,
           'backup_age_seconds': 'recent'}
    result = run(**backup_vars(run, maintenance_report_metrics=bad))
    assert result.returncode != 0
    for complaint in ('metric name "backup-age" is not a Prometheus name',
                      'labels of "breaker_open{breaker=x}" are not name="value" pairs',
                      'labels procedure and host of "dr_drill_passed{host=\\"x\\"}" are set by the role',
                      'metric last_run_status is written by the role itself',
                      'metric "backup_age_seconds" has a value that is not a number: "recent"'):
        assert complaint in result.stdout, complaint
    assert not run.prom('backup').exists()
    # refused only after the report was written and shown: the on-call still sees the run
    assert json.loads(run.newest_report('json').read_text())['status'] == 'ok'
    assert '- Daily backups on localhost' in result.stdout


def test_the_monthly_rewrite_names_the_method_the_busy_tables_and_the_bloat_left(run):
    """pg_vacuum's vacuum_full result: the method of the run, per table, and for a busy table that
    VACUUM FULL could not lock (pg_repack not installed) the one-line fix; bloat given back and left."""
    rewrite = {
        'database': 'shop', 'operation': 'vacuum_full', 'server_version': {'full': '15.10'},
        'rewrite_method': 'vacuum_full',
        'rewrite_method_note': 'the pg_repack extension is not installed in database shop (install it)',
        'summary': {'done': 1, 'planned': 0, 'skipped_locked': 1, 'skipped': 0, 'deferred': 0, 'failed': 0,
                    'dead_tuples_removed': 0, 'bytes_reclaimed': 3 * 1048576, 'bloat_remaining_bytes': 5 * 1048576,
                    'duration_s': 1.5},
        'tables': [
            {'schema': 'public', 'name': 'quiet', 'status': 'done', 'operation': 'vacuum_full', 'method': 'vacuum_full',
             'duration_s': 1.2, 'dead_tuples_before': 0, 'dead_tuples_after': 0, 'reason': 'estimated table bloat',
             'error': None, 'size_before': 4194304, 'size_after': 1048576, 'index_size_before': 0,
             'index_size_after': 0, 'estimated_bloat_bytes': 3145728},
            {'schema': 'public', 'name': 'orders', 'status': 'skipped_locked', 'operation': 'vacuum_full',
             'method': 'vacuum_full', 'duration_s': 1.0, 'dead_tuples_before': 10, 'dead_tuples_after': None,
             'reason': 'estimated table bloat', 'error': 'lock not available',
             'hint': 'busy table: CREATE EXTENSION pg_repack', 'size_before': 9, 'size_after': None,
             'index_size_before': 0, 'index_size_after': None, 'estimated_bloat_bytes': 5242880}],
        'not_selected': [],
    }
    ok(run(maintenance_report_title='Monthly maintenance', maintenance_report_started=started(),
           maintenance_report_checks={}, maintenance_report_vacuum=[rewrite], maintenance_report_failure=''))
    text = run.newest_report('txt').read_text()
    assert '  VACUUM FULL: 1 done, 0 planned, 1 skipped (locked), 0 skipped,' in text
    assert 'bloat given back 3.0 MiB, remaining on tables not rewritten 5.0 MiB; method vacuum_full (the pg_repack' in text
    assert 'SKIPPED_LOCKED public.orders [vacuum_full]' in text
    assert '\n                   fix: busy table: CREATE EXTENSION pg_repack\n' in text
    assert 'DONE           public.quiet [vacuum_full]' in text
    report = json.loads(run.newest_report('json').read_text())
    assert report['databases'][0]['rewrite_method'] == 'vacuum_full'


# ---- severity and paging: PagerDuty Events API v2, Alertmanager, problems besides a failure -------

class Silent:
    """Accepts connections on 127.0.0.1 and never answers (a hung receiver)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


def by_path(receiver: Receiver, fragment: str) -> list[dict]:
    return [r for r in receiver.requests if fragment in r['path']]


def test_pagerduty_and_alertmanager_page_a_failure_and_resolve_on_the_next_good_run(run, receiver, secret):
    token = f'token-{uuid.uuid4().hex}'
    notifiers = dict(maintenance_report_pagerduty_routing_key=secret,
                     maintenance_report_pagerduty_url=f'http://127.0.0.1:{receiver.port}/v2/enqueue',
                     maintenance_report_alertmanager_url=f'http://127.0.0.1:{receiver.port}/am/',
                     maintenance_report_alertmanager_token=token,
                     maintenance_report_alertmanager_labels={'team': 'dba'})
    failure = 'Verify each new dump: checksum: sha256 does not match the manifest'
    out = ok(run(**backup_vars(run, maintenance_report_failure=failure, **notifiers)))
    assert secret not in out and token not in out

    report = json.loads(run.newest_report('json').read_text())
    assert report['severity'] == 'P1' and report['page'] is True
    assert report['response'].startswith('P1: respond within 15 minutes')
    assert report['problems'][0] == failure
    text = run.newest_report('txt').read_text()
    assert 'status FAILED, severity P1' in text and 'P1: respond within 15 minutes' in text

    (pd,) = by_path(receiver, '/v2/enqueue')
    event = json.loads(pd['body'])
    assert pd['headers']['Content-Type'].startswith('application/json')
    assert event['routing_key'] == secret and event['event_action'] == 'trigger'
    assert event['dedup_key'] == 'runbook.maintenance/localhost/backup'
    payload = event['payload']
    assert payload['severity'] == 'error' and payload['source'] == 'localhost'  # P1 -> error
    assert payload['summary'].startswith('[P1] Daily backups on localhost: ') and failure in payload['summary']
    assert payload['component'] == 'backup' and payload['custom_details']['severity'] == 'P1'
    assert re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ', payload['timestamp'])

    (am,) = by_path(receiver, '/am/api/v2/alerts')
    assert am['headers']['Authorization'] == f'Bearer {token}'
    alerts = json.loads(am['body'])
    assert isinstance(alerts, list) and len(alerts) == 1
    alert = alerts[0]
    assert alert['labels'] == {'alertname': 'RunbookRunFailed', 'severity': 'P1', 'host': 'localhost',
                               'procedure': 'backup', 'source': 'runbook.maintenance', 'team': 'dba'}
    assert alert['annotations']['runbook_url'] == 'playbooks/backup.yml'
    assert alert['annotations']['response'].startswith('P1: ')
    assert failure in alert['annotations']['description']
    starts = datetime.fromisoformat(alert['startsAt'].replace('Z', '+00:00'))
    ends = datetime.fromisoformat(alert['endsAt'].replace('Z', '+00:00'))
    assert ends - starts > timedelta(hours=23)  # stays firing until resolved (ttl 24 h)

    # the next good run resolves both
    receiver.requests.clear()
    out = ok(run(**backup_vars(run, **notifiers)))
    assert secret not in out and token not in out
    assert json.loads(run.newest_report('json').read_text())['severity'] == 'P3'
    (pd,) = by_path(receiver, '/v2/enqueue')
    assert json.loads(pd['body']) == {'routing_key': secret, 'event_action': 'resolve',
                                      'dedup_key': 'runbook.maintenance/localhost/backup'}
    (am,) = by_path(receiver, '/am/api/v2/alerts')
    resolved = json.loads(am['body'])[0]
    assert resolved['labels']['alertname'] == 'RunbookRunFailed' and resolved['labels']['host'] == 'localhost'
    assert datetime.fromisoformat(resolved['endsAt'].replace('Z', '+00:00')) <= datetime.now(timezone.utc)


def test_a_missed_recovery_target_and_a_failed_verification_page_by_default(run, receiver, secret):
    url = f'http://127.0.0.1:{receiver.port}/hooks/{secret}'
    out = ok(run(maintenance_report_title='DR drill', maintenance_report_procedure='dr_drill',
                 maintenance_report_started=started(), maintenance_report_webhook_url=url, maintenance_report_webhook_delay=0,
                 maintenance_report_metrics={'dr_drill_passed': False, 'dr_drill_rto_seconds': 5000,
                                             'backup_verified{database="shop"}': 0}))
    assert secret not in out
    report = json.loads(run.newest_report('json').read_text())
    assert report['status'] == 'ok' and report['page'] is True and report['severity'] == 'P2'
    assert sorted(report['problems']) == ['a backup failed verification ({database="shop"})',
                                          'the DR drill missed its recovery targets (RTO/RPO)']
    assert 'PROBLEM: the DR drill missed its recovery targets' in run.newest_report('txt').read_text()
    (hook,) = receiver.requests
    payload = json.loads(hook['body'])
    assert 'PROBLEM' in payload['text'] and '[P2]' in payload['text'] and 'missed its recovery targets' in payload['text']
    assert payload['attachments'][0]['color'] == 'danger'
    fields = {f['title']: f['value'] for f in payload['attachments'][0]['fields']}
    assert fields['Severity'] == 'P2' and fields['Response'].startswith('P2: respond within 1 hour')


def test_a_receiver_that_never_answers_times_out_with_a_warning_and_the_result_stands(run, secret):
    silent = Silent()
    try:
        out = ok(run(**backup_vars(
            run, maintenance_report_failure='a step failed', maintenance_report_pagerduty_routing_key=secret,
            maintenance_report_pagerduty_url=f'http://127.0.0.1:{silent.port}/v2/enqueue',
            maintenance_report_alertmanager_url=f'http://127.0.0.1:{silent.port}',
            maintenance_report_webhook_timeout=2, maintenance_report_webhook_retries=0)))
    finally:
        silent.close()
    assert secret not in out
    text = flat(out)
    assert 'WARNING: the backup notification was not delivered to PagerDuty: HTTP status -1 after 1 attempt(s)' in text
    assert 'WARNING: the backup notification was not delivered to Alertmanager: HTTP status -1' in text
    assert 'timed out' in text.lower()
    report = json.loads(run.newest_report('json').read_text())
    assert report['status'] == 'failed' and report['severity'] == 'P1'  # the run's own result, unchanged
    assert series(parse_exposition(run.prom('backup').read_text()), 'runbook_maintenance_last_run_status',
                  procedure='backup', host='localhost') == 0
