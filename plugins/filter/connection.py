# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_connection and pg_libpq_env: the PostgreSQL connection of a play, defined once.

pg_connection turns the inventory's login settings into the options every PostgreSQL module
gets through module_defaults (playbooks/vars/connection.yml); a setting left empty is left out,
so the module never receives it (no login_password: '' for a server that trusts the socket).
pg_libpq_env turns the same options into the environment of a client tool (PGHOST, ...).
"""

from __future__ import annotations

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - outside Ansible
    AnsibleFilterError = ValueError

# The login options the collection's modules and community.postgresql's share, with the
# defaults the playbooks always used; None: no default, the option is left out when unset.
LOGIN_OPTIONS = {
    'login_unix_socket': None,
    'login_host': None,
    'login_port': 5432,
    'login_user': 'postgres',
    'login_db': 'postgres',
    'login_password': None,
}
LIBPQ_ENV = (
    ('PGHOST', ('login_unix_socket', 'login_host')),
    ('PGPORT', ('login_port',)),
    ('PGUSER', ('login_user',)),
    ('PGDATABASE', ('login_db',)),
    ('PGPASSWORD', ('login_password',)),
)


def _unset(value):
    return value is None or (isinstance(value, str) and value.strip() == '')


def pg_connection(settings=None):
    """The module options of a connection: empty settings left out, port/user/db defaulted."""
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise AnsibleFilterError(f'pg_connection: expects a dictionary of login options, got {type(settings).__name__}')
    unknown = sorted(set(settings) - set(LOGIN_OPTIONS))
    if unknown:
        raise AnsibleFilterError(
            f"pg_connection: unknown option(s) {', '.join(map(str, unknown))}; known: {', '.join(LOGIN_OPTIONS)}")
    out = {}
    for name, default in LOGIN_OPTIONS.items():
        value = settings.get(name)
        if _unset(value):
            value = default
        if value is None:
            continue
        if name == 'login_port':
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise AnsibleFilterError(f'pg_connection: login_port must be a port number, got {value!r}') from None
        out[name] = value
    return out


def pg_libpq_env(connection=None):
    """The libpq environment of a connection (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD)."""
    options = pg_connection(connection)
    env = {}
    for variable, names in LIBPQ_ENV:
        for name in names:
            if name in options:
                env[variable] = str(options[name])
                break
    return env


class FilterModule:
    def filters(self):
        return {'pg_connection': pg_connection, 'pg_libpq_env': pg_libpq_env}
