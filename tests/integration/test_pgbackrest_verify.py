"""pgbackrest_verify, and backup_verify's deprecated pgbackrest_stanza, run as Ansible runs them.

pgBackRest is not installed on the test host (it is run for real in the molecule scenario
`pgbackrest`): a stand-in executable (pgbackrest_bin) replays the output captured from
pgBackRest 2.45 (tests/unit/plugins/module_utils/fixtures/pgbackrest), its timestamps moved so
the newest backup and WAL segment were two minutes old when the test began, and records each command line it got.
What is tested here is the module around the parsing: its options reaching pgBackRest's command
line, the checks chosen, check mode, fail_on_error, and that backup_verify with pgbackrest_stanza
returns what pgbackrest_verify returns, with a deprecation warning.
"""

from __future__ import annotations

import json
import re
import sys
import time

import pytest

from pg_helpers import REPO, ModuleRunner

FIXTURES = REPO / 'tests' / 'unit' / 'plugins' / 'module_utils' / 'fixtures' / 'pgbackrest'
NEWEST = 1795800738  # the newest backup's end and the newest segment's arrival in the fixtures
STAND_IN = '''#!{python}
"""pgbackrest stand-in: replays captured output; MODE file: healthy, corrupt or gap."""
import json, sys
from pathlib import Path
here = Path(__file__).resolve().parent
with open(here / 'calls.jsonl', 'a') as log:
    log.write(json.dumps(sys.argv[1:]) + '\\n')
mode = (here / 'MODE').read_text().strip()
command = next(arg for arg in sys.argv[1:] if not arg.startswith('--'))
shift = {shift}
fixtures = Path({fixtures!r})
if command == 'info':
    data = json.loads((fixtures / 'info.json').read_text())
    for backup in data[0]['backup']:
        backup['timestamp'] = {{key: value + shift for key, value in backup['timestamp'].items()}}
    print(json.dumps(data))
elif command == 'repo-ls':
    data = json.loads((fixtures / ('repo-ls-gap.json' if mode == 'gap' else 'repo-ls.json')).read_text())
    for entry in data.values():
        if 'time' in entry:
            entry['time'] += shift
    print(json.dumps(data))
elif command == 'verify':
    print((fixtures / ('verify-error.txt' if mode == 'corrupt' else 'verify.txt')).read_text(), end='')
else:
    print('unexpected command ' + command, file=sys.stderr)
    sys.exit(28)
'''


@pytest.fixture()
def stand_in(tmp_path):
    directory = tmp_path / 'pgbackrest-bin'
    directory.mkdir()
    path = directory / 'pgbackrest'
    shift = int(time.time()) - 120 - NEWEST  # fixed for the test: two runs see the same repository
    path.write_text(STAND_IN.format(python=sys.executable, shift=shift, fixtures=str(FIXTURES)))
    path.chmod(0o755)
    config = tmp_path / 'pgbackrest.conf'
    config.write_text('[lab]\npg1-path=/nonexistent\n')

    class StandIn:
        bin = str(path)
        conf = str(config)

        @staticmethod
        def mode(value: str) -> None:
            (directory / 'MODE').write_text(value)

        @staticmethod
        def calls() -> list[list[str]]:
            log = directory / 'calls.jsonl'
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    StandIn.mode('healthy')
    return StandIn


def comparable(result: dict) -> dict:
    """A result without what moves with the clock between two runs (seconds of an age)."""
    text = json.dumps({key: value for key, value in result.items()
                       if key not in ('_stderr', 'invocation', 'deprecations', 'warnings')}, sort_keys=True)
    text = re.sub(r'"(age_s|wal_age_s)": [0-9.]+', r'"\1": 0', text)
    return json.loads(re.sub(r'\d+m( \d+s)? (old|ago)|\d+s (old|ago)', 'AGE', text))


def test_a_healthy_stanza_verifies_with_the_options_on_pgbackrests_command_line(tmp_path, stand_in):
    run = ModuleRunner(tmp_path)
    result = run('pgbackrest_verify', {'stanza': 'lab', 'config': stand_in.conf, 'pgbackrest_bin': stand_in.bin,
                                       'max_age': '1h', 'max_wal_age': '15m'})
    assert result.get('failed') is not True, result
    assert result['verified'] is True and result['changed'] is False and result['failures'] == []
    assert list(result['checks']) == ['repository', 'age', 'wal_age', 'wal_gaps']
    assert all(check['ok'] for check in result['checks'].values())
    assert 100 < result['pgbackrest']['wal_age_s'] < 900 and 100 < result['age_s'] < 3600
    assert [b['type'] for b in result['pgbackrest']['backups']] == ['full', 'diff', 'incr']
    assert result['pgbackrest']['newest_wal']['segment'] == '000000010000000000000008'
    assert result['artefact'] == 'pgbackrest stanza lab' and result['pgbackrest']['archive_id'] == '15-1'
    assert 'deprecations' not in result or not result['deprecations']
    calls = stand_in.calls()
    assert sorted(call[-1] if call[-1] != '--verbose' else 'verify' for call in calls) == \
        ['--output=json', 'archive/lab/15-1', 'verify']  # info once, repo-ls once, verify once
    for call in calls:
        assert call[:5] == ['--stanza=lab', '--log-level-file=off', '--log-level-console=off',
                            '--log-level-stderr=error', f'--config={stand_in.conf}']


def test_check_mode_runs_the_same_read_only_checks(tmp_path, stand_in):
    result = ModuleRunner(tmp_path)('pgbackrest_verify', {'stanza': 'lab', 'pgbackrest_bin': stand_in.bin},
                                    check=True)
    assert result['verified'] is True and result['changed'] is False
    assert all(check['ok'] is True for check in result['checks'].values())


def test_the_checks_chosen_run_alone(tmp_path, stand_in):
    result = ModuleRunner(tmp_path)('pgbackrest_verify', {'stanza': 'lab', 'pgbackrest_bin': stand_in.bin,
                                                          'checks': ['wal_age']})
    assert list(result['checks']) == ['wal_age'] and result['verified'] is True
    assert [call[-1] for call in stand_in.calls()] == ['--output=json', 'archive/lab/15-1']  # no verify
    assert result['age_s'] is None and result['pgbackrest']['verify_status'] is None


@pytest.mark.parametrize('mode, check, expected', [
    ('corrupt', 'repository', 'checksum invalid: 1'),
    ('gap', 'wal_gaps', 'backup 20261127-173210F cannot be restored'),
])
def test_a_broken_repository_fails_naming_the_check(tmp_path, stand_in, mode, check, expected):
    stand_in.mode(mode)
    run = ModuleRunner(tmp_path)
    args = {'stanza': 'lab', 'pgbackrest_bin': stand_in.bin}
    failed = run('pgbackrest_verify', args)
    assert failed['failed'] is True and failed['verified'] is False
    assert failed['checks'][check]['ok'] is False and expected in failed['checks'][check]['detail']
    assert failed['msg'].startswith(f'pgbackrest stanza lab: 1 check(s) failed ({check})')
    reported = run('pgbackrest_verify', dict(args, fail_on_error=False))
    assert reported.get('failed') is not True and reported['verified'] is False
    assert reported['failures'] == failed['failures']


def test_too_old_wal_is_the_rpo_missed(tmp_path, stand_in):
    result = ModuleRunner(tmp_path)('pgbackrest_verify', {'stanza': 'lab', 'pgbackrest_bin': stand_in.bin,
                                                          'max_wal_age': '1m', 'fail_on_error': False})
    assert result['verified'] is False and result['checks']['wal_age']['ok'] is False
    assert 'more than max_wal_age 1m (the RPO)' in result['failures'][0]


@pytest.mark.parametrize('mode', ['healthy', 'corrupt', 'gap'])
def test_backup_verify_pgbackrest_stanza_is_deprecated_and_returns_the_same(tmp_path, stand_in, mode):
    stand_in.mode(mode)
    run = ModuleRunner(tmp_path)
    common = {'pgbackrest_bin': stand_in.bin, 'max_wal_age': '15m', 'fail_on_error': False}
    new = run('pgbackrest_verify', dict(common, stanza='lab', config=stand_in.conf))
    old = run('backup_verify', dict(common, pgbackrest_stanza='lab', pgbackrest_config=stand_in.conf))
    assert {key: old.pop(key) for key in ('sha256', 'size_bytes', 'manifest', 'restore')} == \
        {'sha256': None, 'size_bytes': None, 'manifest': None, 'restore': None}  # as before the split
    assert comparable(old) == comparable(new)
    assert old['verified'] is (mode == 'healthy')
    deprecations = old['deprecations']  # its layout depends on the ansible-core version: read as text
    assert len(deprecations) == 1 and deprecations[0]['version'] == '1.0.0'
    text = json.dumps(deprecations[0])
    assert 'runbook.maintenance' in text and 'use runbook.maintenance.pgbackrest_verify' in text


def test_bad_options_name_the_option_of_each_module(tmp_path, stand_in):
    run = ModuleRunner(tmp_path)
    new = run('pgbackrest_verify', {'stanza': '../x', 'pgbackrest_bin': stand_in.bin, 'wal_segment_size': '3M'})
    assert new['failed'] is True and new['msg'].startswith("Invalid options: stanza must be letters")
    assert 'wal_segment_size: a WAL segment size is a power of two' in new['msg']
    old = run('backup_verify', {'pgbackrest_stanza': '../x', 'pgbackrest_bin': stand_in.bin})
    assert old['failed'] is True and old['msg'].startswith("Invalid options: pgbackrest_stanza must be letters")
    assert not stand_in.calls()  # nothing ran
    unsupported = run('pgbackrest_verify', {'stanza': 'lab', 'pgbackrest_bin': stand_in.bin, 'checks': ['restore']})
    assert unsupported['failed'] is True and 'restore' in unsupported['msg']
