"""Pure logic of pg_vacuum's online rewrite: method choice, command line, pg_repack's output."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.repack import (
    backend_patterns,
    leftover_oids,
    parse_output,
    parse_version,
    quote_ident,
    repack_command,
    resolve_method,
    table_method,
)

OK = dict(extension_version='1.4.8', client_path='/usr/bin/pg_repack', client_version='pg_repack 1.4.8',
          superuser=True, database='shop', major=15)


def resolve(requested, **changes):
    return resolve_method(requested, **dict(OK, **changes))


def test_auto_uses_pg_repack_when_everything_is_there():
    assert resolve('auto') == ('pg_repack', None, None)


@pytest.mark.parametrize('changes, words', [
    ({'extension_version': None}, ['CREATE EXTENSION pg_repack', 'postgresql-15-repack', 'shop']),
    ({'client_path': None}, ['client program was not found', 'repack_bin']),
    ({'client_version': 'pg_repack 1.4.7'}, ['1.4.7', 'does not match', '1.4.8']),
    ({'superuser': False}, ['superuser']),
])
def test_auto_falls_back_to_vacuum_full_and_says_why(changes, words):
    method, note, error = resolve('auto', **changes)
    assert method == 'vacuum_full' and error is None
    assert all(word in note for word in words), note


@pytest.mark.parametrize('changes', [{'extension_version': None}, {'superuser': False}])
def test_required_pg_repack_that_cannot_run_is_an_error(changes):
    method, note, error = resolve('pg_repack', **changes)
    assert error.startswith('rewrite_method=pg_repack: ') and note in error


def test_vacuum_full_requested_never_looks_at_pg_repack():
    assert resolve('vacuum_full', extension_version=None, client_path=None)[0] == 'vacuum_full'


@pytest.mark.parametrize('run_method, repackable, fallback, expected', [
    ('pg_repack', True, 'skip', 'pg_repack'),
    ('pg_repack', False, 'skip', None),
    ('pg_repack', False, 'vacuum_full', 'vacuum_full'),
    ('vacuum_full', False, 'skip', 'vacuum_full'),
])
def test_table_method(run_method, repackable, fallback, expected):
    method, note = table_method(run_method, repackable, fallback)
    assert method == expected
    assert (note is None) == (run_method == 'vacuum_full' or repackable)


def test_command_is_bounded_never_kills_and_carries_no_password():
    argv = repack_command('/bin/pg_repack', 'shop', 'Sales', 'Audit Log', 2.5, False, 1,
                          {'host': '/run/pg', 'port': 5432, 'user': 'root', 'password': 'x'})
    assert argv[:4] == ['/bin/pg_repack', '--no-order', '--no-kill-backend', '--no-password']
    assert '--wait-timeout=3' in argv and '--table="Sales"."Audit Log"' in argv
    assert '--host=/run/pg' in argv and '--port=5432' in argv and '--username=root' in argv
    assert not any('x' == a.split('=')[-1] for a in argv)
    assert '--no-kill-backend' not in repack_command('/bin/pg_repack', 'shop', 'public', 't', 60, True)


@pytest.mark.parametrize('name, quoted', [('orders', 'orders'), ('Orders', '"Orders"'), ('a"b', '"a""b"'),
                                          ('with space', '"with space"'), ('x$1', 'x$1')])
def test_quote_ident(name, quoted):
    assert quote_ident(name) == quoted


@pytest.mark.parametrize('rc, output, status', [
    (0, 'INFO: repacking table "public.a"\n', 'done'),
    (0, 'INFO: repacking table "public.a"\nWARNING: timed out, do not cancel conflicting backends\n'
        'INFO: Skipping repack public.a due to timeout\n', 'skipped_locked'),
    (0, 'WARNING: lock_exclusive() failed in connection for public.a\n', 'skipped_locked'),
    (0, 'WARNING: relation "public.nopk" must have a primary key or not-null unique keys\n', 'failed'),
    (1, 'ERROR: pg_repack failed with error: You must be a superuser to use pg_repack\n', 'failed'),
    (0, 'ERROR: query failed: ERROR:  canceling statement due to user request\n', 'failed'),
])
def test_parse_output(rc, output, status):
    got, error = parse_output(rc, output)
    assert got == status
    assert (error is None) == (status == 'done')


def test_leftovers_are_found_by_table_oid():
    names = ['log_16449', 'log_16449_pkey', 'log_16449_id_seq', 'table_16449', 'pk_16449', 'primary_keys',
             'table_trigger_20001', 'tables']
    assert leftover_oids(names) == {16449, 20001}
    assert all('16449' in pattern for pattern in backend_patterns(16449))


def test_versions():
    assert parse_version('pg_repack 1.4.8') == '1.4.8' == parse_version('1.4.8')
    assert parse_version('') is None and parse_version(None) is None
