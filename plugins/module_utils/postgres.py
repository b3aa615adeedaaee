# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared PostgreSQL plumbing for the collection's modules (psycopg 3).

Option names follow community.postgresql so playbooks can move between the two.
Identifiers are only ever composed with psycopg.sql.Identifier.
"""

from __future__ import annotations

import traceback

from ansible.module_utils.basic import missing_required_lib

PSYCOPG_IMPORT_ERROR = None
try:
    import psycopg
    from psycopg import sql
    HAS_PSYCOPG = True
except ImportError:  # pragma: no cover - exercised on hosts without psycopg
    psycopg = None
    sql = None
    HAS_PSYCOPG = False
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()

SSL_MODES = ['allow', 'disable', 'prefer', 'require', 'verify-ca', 'verify-full']


def postgres_common_argument_spec() -> dict:
    """Connection options shared by every PostgreSQL module of the collection."""
    return dict(
        login_user=dict(type='str', default='postgres', aliases=['login']),
        login_password=dict(type='str', default='', no_log=True),
        login_host=dict(type='str', default='', aliases=['host']),
        login_unix_socket=dict(type='str', default='', aliases=['unix_socket']),
        login_port=dict(type='int', default=5432, aliases=['port']),
        login_db=dict(type='str', default='postgres'),
        ssl_mode=dict(type='str', default='prefer', choices=SSL_MODES),
        ca_cert=dict(type='path', aliases=['ssl_rootcert']),
        connect_timeout=dict(type='int', default=10),
    )


# libpq reads connect_timeout 0 (or less) as "wait forever"; an hour is already absurd.
CONNECT_TIMEOUT_MAX_S = 3600


def connection_option_errors(params: dict) -> list[str]:
    """The problems of the shared connection options (today: connect_timeout must be a bound)."""
    value = params.get('connect_timeout')
    if value is None:
        return []
    if not 1 <= value <= CONNECT_TIMEOUT_MAX_S:
        return [f'connect_timeout must be between 1 and {CONNECT_TIMEOUT_MAX_S} seconds, got {value} '
                f'(0 would mean wait forever)']
    return []


def check_connection_options(module) -> None:
    """fail_json on a bad shared connection option, before anything connects."""
    errors = connection_option_errors(module.params)
    if errors:
        module.fail_json(msg='Invalid options: ' + '; '.join(errors))


def ensure_psycopg(module) -> None:
    """Fail with Ansible's standard message when psycopg 3 is not importable."""
    if not HAS_PSYCOPG:
        module.fail_json(msg=missing_required_lib('psycopg (version 3)'),
                         exception=PSYCOPG_IMPORT_ERROR)


def connection_kwargs(params: dict, dbname: str | None = None) -> dict:
    """Translate module parameters into psycopg.connect() keyword arguments.

    Empty values are left out so libpq's own defaults (and PG* variables) apply.
    The password travels only in memory, never on a command line.
    """
    kwargs = {
        'host': params.get('login_unix_socket') or params.get('login_host') or None,
        'port': params.get('login_port'),
        'user': params.get('login_user'),
        'password': params.get('login_password') or None,
        'dbname': dbname or params.get('login_db') or 'postgres',
        'sslmode': params.get('ssl_mode'),
        'sslrootcert': params.get('ca_cert'),
        'connect_timeout': params.get('connect_timeout'),
        'application_name': 'runbook.maintenance',
    }
    return {key: value for key, value in kwargs.items() if value not in (None, '')}


def describe_target(params: dict, dbname: str | None = None) -> str:
    """A human description of where we connect, without the password."""
    where = params.get('login_unix_socket') or params.get('login_host') or 'default socket'
    return (f"database {dbname or params.get('login_db') or 'postgres'!r} as user "
            f"{params.get('login_user')!r} on {where}:{params.get('login_port')}")


def scrub(message: str, params: dict) -> str:
    """Remove the password from any text that may reach the user."""
    password = params.get('login_password')
    if password:
        message = message.replace(password, '********')
    return message


def connect(module, dbname: str | None = None, autocommit: bool = True):
    """Open a psycopg connection or fail_json with a clear, password-free message."""
    ensure_psycopg(module)
    params = module.params
    try:
        return psycopg.connect(autocommit=autocommit, **connection_kwargs(params, dbname))
    except psycopg.Error as exc:
        detail = ' '.join(str(exc).split())
        module.fail_json(msg=scrub(f"Unable to connect to {describe_target(params, dbname)}: {detail}", params))
    except Exception as exc:  # noqa: BLE001 - libpq option errors arrive as other types
        module.fail_json(msg=scrub(f"Invalid connection settings for {describe_target(params, dbname)}: {exc}", params))
    return None  # not reached: fail_json exits


def server_version(conn) -> dict:
    """Server version as a dict like community.postgresql returns it."""
    num = conn.info.server_version
    major = num // 10000
    minor = num % 10000
    return {'major': major, 'minor': minor, 'full': f'{major}.{minor}', 'raw': num}


def set_session_timeouts(conn, lock_timeout: str | None, statement_timeout: str | None) -> list[str]:
    """Bound what this session may wait for. Returns the queries it ran."""
    ran = []
    for name, value in (('lock_timeout', lock_timeout), ('statement_timeout', statement_timeout)):
        if value is None:
            continue
        conn.execute('SELECT set_config(%s, %s, false)', (name, str(value)))
        ran.append(f"SET {name} = '{value}'")
    return ran


def qualified(schema: str, name: str):
    """schema.name as a safely quoted SQL composable."""
    return sql.Identifier(schema, name)
