"""pg_connection / pg_libpq_env: the connection of every playbook, unset options left out."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.maintenance.plugins.filter.connection import (
    FilterModule,
    pg_connection,
    pg_libpq_env,
)

# As inventories/local/group_vars/all.yml sets them.
LOCAL = {'login_unix_socket': '/var/run/postgresql', 'login_host': '', 'login_port': 5432,
         'login_user': 'postgres', 'login_db': None, 'login_password': ''}


def test_empty_and_unset_options_are_left_out_not_passed_empty():
    got = pg_connection(LOCAL)
    assert 'login_password' not in got
    assert 'login_host' not in got
    assert got == {'login_unix_socket': '/var/run/postgresql', 'login_port': 5432,
                   'login_user': 'postgres', 'login_db': 'postgres'}


def test_nothing_set_gives_the_playbooks_defaults():
    assert pg_connection({}) == {'login_port': 5432, 'login_user': 'postgres', 'login_db': 'postgres'}
    assert pg_connection(None) == pg_connection({})
    assert pg_connection({'login_user': '  ', 'login_port': ''}) == pg_connection({})


def test_set_options_are_kept_and_the_port_is_a_number():
    got = pg_connection({'login_host': 'db1', 'login_port': '6432', 'login_user': 'ops',
                         'login_db': 'shop', 'login_password': 's3cret'})
    assert got == {'login_host': 'db1', 'login_port': 6432, 'login_user': 'ops',
                   'login_db': 'shop', 'login_password': 's3cret'}


@pytest.mark.parametrize('bad', [{'login_hots': 'db1'}, {'port': 5432}, ['login_host']])
def test_unknown_keys_and_non_dicts_fail(bad):
    with pytest.raises(AnsibleFilterError):
        pg_connection(bad)


def test_a_port_that_is_not_a_number_fails():
    with pytest.raises(AnsibleFilterError, match='login_port'):
        pg_connection({'login_port': 'five'})


def test_libpq_env_prefers_the_socket_and_leaves_out_an_empty_password():
    assert pg_libpq_env(LOCAL) == {'PGHOST': '/var/run/postgresql', 'PGPORT': '5432',
                                   'PGUSER': 'postgres', 'PGDATABASE': 'postgres'}


def test_libpq_env_of_a_tcp_connection_with_a_password():
    env = pg_libpq_env({'login_unix_socket': '', 'login_host': '10.0.0.5', 'login_port': 5433,
                        'login_password': 'pw'})
    assert env == {'PGHOST': '10.0.0.5', 'PGPORT': '5433', 'PGUSER': 'postgres',
                   'PGDATABASE': 'postgres', 'PGPASSWORD': 'pw'}


def test_libpq_env_takes_the_output_of_pg_connection_too():
    assert pg_libpq_env(pg_connection(LOCAL)) == pg_libpq_env(LOCAL)


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'pg_connection', 'pg_libpq_env'}
