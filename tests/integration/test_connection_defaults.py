"""The PostgreSQL connection defined once (playbooks/vars/connection.yml): the inventory's
runbook_pg_login_* settings reach a module of each action group through module_defaults, and a
setting left empty is not passed at all (no login_password: '' for a trusted socket)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pg_helpers import PASSWORD

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / 'tests' / 'integration' / 'playbooks' / 'connection.yml'
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / 'ansible-playbook'
COLLECTIONS = REPO / '.build' / 'collections'


def run(tmp_path: Path, **settings) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / 'connection.json'
    extra = tmp_path / 'vars.json'
    extra.write_text(json.dumps({'runbook_playbooks_dir': str(REPO / 'playbooks'),
                                 'runbook_breaker_state_dir': str(tmp_path / 'breakers'),
                                 'connection_out': str(out), **settings}))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_CONFIG=str(REPO / 'ansible.cfg'),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / 'tmp'), ANSIBLE_NOCOLOR='1')
    done = subprocess.run([str(ANSIBLE_PLAYBOOK), '-i', 'localhost,', '-c', 'local', str(PLAYBOOK),
                           '-e', f'@{extra}'], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, json.loads(out.read_text())


def test_an_empty_password_and_host_are_not_passed_at_all(pg, tmp_path):
    # As inventories/local/group_vars/all.yml writes them: host and password empty, the socket set.
    _done, got = run(tmp_path, runbook_pg_login_unix_socket=str(pg.run), runbook_pg_login_host='',
                     runbook_pg_login_port=pg.port, runbook_pg_login_user='postgres', runbook_pg_login_password='')
    assert got['connection'] == {'login_unix_socket': str(pg.run), 'login_port': pg.port,
                                 'login_user': 'postgres', 'login_db': 'postgres'}
    # A module is handed only the options that are set: no login_password, no login_host, nothing empty.
    assert got['received'] == ['login_db', 'login_port', 'login_unix_socket', 'login_user']
    assert got['empty'] == []
    assert 'PGPASSWORD' not in got['libpq_env'] and got['libpq_env']['PGHOST'] == str(pg.run)
    for module in ('sessions', 'ping'):  # the real modules of both groups connect with it
        args = got[module]
        assert args['login_unix_socket'] == str(pg.run), (module, args)
        assert int(args.get('login_port', args.get('port'))) == pg.port, (module, args)
    assert got['ping_ok'] is True
    assert got['breaker']['state_dir'] == str(tmp_path / 'breakers')


def test_unset_settings_take_the_playbooks_defaults(pg, tmp_path):
    # Only the socket and port: user and database default to postgres, no host, no password.
    _done, got = run(tmp_path, runbook_pg_login_unix_socket=str(pg.run), runbook_pg_login_port=pg.port)
    assert got['connection'] == {'login_unix_socket': str(pg.run), 'login_port': pg.port,
                                 'login_user': 'postgres', 'login_db': 'postgres'}
    assert got['received'] == ['login_db', 'login_port', 'login_unix_socket', 'login_user']
    assert got['ping_ok'] is True
    assert got['breaker']['state_dir'] == str(tmp_path / 'breakers')


def test_a_password_and_host_are_passed_and_never_shown(pg, tmp_path):
    done, got = run(tmp_path, runbook_pg_login_unix_socket='', runbook_pg_login_host='127.0.0.1',
                    runbook_pg_login_port=pg.port, runbook_pg_login_password=PASSWORD)
    assert got['received'] == ['login_db', 'login_host', 'login_password', 'login_port', 'login_user']
    assert got['empty'] == []
    for module in ('sessions', 'ping'):
        args = got[module]
        assert args['login_unix_socket'] == '', (module, args)  # the modules' own default: not passed
        assert args['login_host'] == '127.0.0.1', (module, args)
        assert args['login_password'] == 'VALUE_SPECIFIED_IN_NO_LOG_PARAMETER', (module, args)
    assert got['ping_ok'] is True  # the password was received: TCP needs it (scram-sha-256)
    assert got['libpq_env']['PGHOST'] == '127.0.0.1'
    assert PASSWORD not in done.stdout + done.stderr
