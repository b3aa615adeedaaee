"""pgclient: the client-tool plumbing the modules share - the libpq environment, finding a tool,
running it, a child with a deadline, termination signals. Real processes and a real AnsibleModule
(run_command), no mocks; the database parts (drop_database, exact_row_counts, dump_in_snapshot)
are exercised against PostgreSQL by the integration tests of backup_verify, backup_restore and
backup_create."""

from __future__ import annotations

import os
import re
import signal
import sys
import time

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.runbook.maintenance.plugins.module_utils.pgclient import (
    Terminated,
    ToolError,
    find_bin,
    libpq_environment,
    one_line,
    raise_on_termination,
    run_tool,
    run_with_deadline,
    scratch_name,
    termination_deferred,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import postgres_common_argument_spec


def params(**kw):
    base = {name: spec.get('default') for name, spec in postgres_common_argument_spec().items()}
    base.update(kw)
    return base


@pytest.fixture
def module():
    with patch_module_args({'_ansible_tmpdir': None}):
        yield AnsibleModule(argument_spec={})


# ---- the libpq environment -----------------------------------------------------------------------
def test_libpq_environment_carries_the_password_and_leaves_empty_options_out():
    env = libpq_environment(params(login_password='s3cr3t', login_host='db1', login_port=6432), 'shop')
    assert env == {'PGHOST': 'db1', 'PGPORT': '6432', 'PGUSER': 'postgres', 'PGPASSWORD': 's3cr3t',
                   'PGDATABASE': 'shop', 'PGSSLMODE': 'prefer', 'PGCONNECT_TIMEOUT': '10',
                   'PGAPPNAME': 'runbook.maintenance'}
    env = libpq_environment(params(), 'shop')
    assert 'PGPASSWORD' not in env and 'PGHOST' not in env and 'PGSSLROOTCERT' not in env


def test_libpq_environment_without_application_name_keeps_the_tools_own():
    env = libpq_environment(params(login_unix_socket='/run/postgresql'), 'shop', application_name=False)
    assert 'PGAPPNAME' not in env and env['PGHOST'] == '/run/postgresql'


# ---- finding a tool ------------------------------------------------------------------------------
def _tool(directory, name='pg_restore'):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text('#!/bin/sh\nexit 0\n')
    path.chmod(0o755)
    return str(path)


def test_find_bin_prefers_pg_bin_dir_then_the_newest_major(module, tmp_path):
    explicit = _tool(tmp_path / 'custom')
    assert find_bin(module, 'pg_restore', str(tmp_path / 'custom')) == explicit
    _tool(tmp_path / 'pg' / '9' / 'bin')
    newest = _tool(tmp_path / 'pg' / '16' / 'bin')
    _tool(tmp_path / 'pg' / '13' / 'bin')
    assert find_bin(module, 'pg_restore', search=str(tmp_path / 'pg' / '*' / 'bin')) == newest


def test_find_bin_falls_back_to_the_path_and_names_what_is_missing(module, tmp_path):
    assert find_bin(module, 'sh', search=str(tmp_path / 'none' / '*' / 'bin')) == module.get_bin_path('sh')
    with pytest.raises(ToolError, match=re.escape(f'pg_restore not found in pg_bin_dir {tmp_path}')):
        find_bin(module, 'pg_restore', str(tmp_path))
    with pytest.raises(ToolError, match='runbook_no_such_tool not found: install the PostgreSQL client tools'):
        find_bin(module, 'runbook_no_such_tool', search=str(tmp_path / 'none' / '*' / 'bin'))


# ---- running a tool ------------------------------------------------------------------------------
def test_run_tool_returns_stdout_and_lets_warnings_pass(module):
    out = run_tool(module, ['sh', '-c', 'echo dumped; echo "pg_dump: warning: old server" >&2'], {}, 'pg_dump', params())
    assert out == 'dumped\n'


def test_run_tool_fails_on_exit_status_or_an_error_line_without_the_password(module):
    secret = params(login_password='s3cr3t')
    with pytest.raises(ToolError, match=r'^pg_dump exited with 3: pg_dump: error: password \*{8} refused$'):
        run_tool(module, ['sh', '-c', 'echo "pg_dump: error: password s3cr3t refused" >&2; exit 3'], {}, 'pg_dump', secret)
    with pytest.raises(ToolError, match='exited with 0: pg_restore: error: could not read'):
        run_tool(module, ['sh', '-c', 'echo "pg_restore: error: could not read" >&2'], {}, 'pg_restore', secret)


def test_run_tool_hands_the_environment_to_the_tool(module):
    out = run_tool(module, ['sh', '-c', 'echo "$PGDATABASE $PGPASSWORD"'],
                   libpq_environment(params(login_password='pw'), 'shop'), 'psql', params())
    assert out == 'shop pw\n'


# ---- a child with a deadline ---------------------------------------------------------------------
def test_run_with_deadline_in_time():
    rc, output, timed_out = run_with_deadline(['sh', '-c', 'echo out; echo err >&2; exit 4'], dict(os.environ), 10, 1)
    assert (rc, timed_out) == (4, False) and output.split() == ['out', 'err']


def test_run_with_deadline_interrupts_at_the_limit():
    started = time.monotonic()
    code = ('import signal, sys, time\n'
            'def stop(*_args):\n    print("interrupted", flush=True)\n    sys.exit(7)\n'
            'signal.signal(signal.SIGINT, stop)\ntime.sleep(30)')
    rc, output, timed_out = run_with_deadline([sys.executable, '-c', code], dict(os.environ), 1, 10)
    assert timed_out and rc == 7 and 'interrupted' in output
    assert time.monotonic() - started < 8


def test_run_with_deadline_kills_what_ignores_the_interrupt():
    started = time.monotonic()
    code = 'import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print("ready", flush=True); time.sleep(30)'
    rc, output, timed_out = run_with_deadline([sys.executable, '-c', code], dict(os.environ), 1, 1)
    assert timed_out and rc == -signal.SIGKILL and 'ready' in output
    assert time.monotonic() - started < 8


# ---- termination signals -------------------------------------------------------------------------
def test_termination_waits_for_a_deferred_block_then_unwinds():
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    steps = []
    try:
        raise_on_termination()
        with pytest.raises(Terminated) as stopped:
            try:
                with termination_deferred():
                    os.kill(os.getpid(), signal.SIGTERM)
                    time.sleep(0.05)
                    steps.append('the block finished')  # not cut in half by the signal
                steps.append('not reached')
            finally:
                steps.append('finally ran')
        assert stopped.value.signum == signal.SIGTERM
        assert steps == ['the block finished', 'finally ran']
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_scratch_names_and_one_line():
    first, second = scratch_name('runbook_verify'), scratch_name('runbook_verify')
    assert re.fullmatch(r'runbook_verify_[0-9a-f]{8}', first) and first != second
    assert one_line('ERROR:  x\n  DETAIL: y') == 'ERROR: x DETAIL: y'
