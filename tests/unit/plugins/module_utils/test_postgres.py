"""Connection plumbing: argument spec, libpq keywords, password scrubbing."""

from __future__ import annotations

from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import (
    connection_kwargs,
    describe_target,
    postgres_common_argument_spec,
    scrub,
)


def params(**kw):
    base = {name: spec.get('default') for name, spec in postgres_common_argument_spec().items()}
    base.update(kw)
    return base


def test_password_is_no_log_and_names_follow_community_postgresql():
    spec = postgres_common_argument_spec()
    assert spec['login_password']['no_log'] is True
    assert set(spec) >= {'login_host', 'login_port', 'login_user', 'login_password', 'login_unix_socket',
                         'login_db', 'ssl_mode', 'ca_cert', 'connect_timeout'}


def test_socket_wins_over_host_and_empty_values_are_dropped():
    kw = connection_kwargs(params(login_unix_socket='/run/pg', login_host='db1'))
    assert kw['host'] == '/run/pg'
    assert 'password' not in kw and 'sslrootcert' not in kw
    assert kw['dbname'] == 'postgres' and kw['port'] == 5432


def test_dbname_argument_overrides_login_db():
    assert connection_kwargs(params(login_db='a'), 'b')['dbname'] == 'b'


def test_description_and_scrub_never_show_the_password():
    p = params(login_password='s3cr3t!', login_host='db1')
    assert 's3cr3t!' not in describe_target(p)
    assert scrub('failed for s3cr3t! at db1', p) == 'failed for ******** at db1'
    assert scrub('nothing here', params()) == 'nothing here'
