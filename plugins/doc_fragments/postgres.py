# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options shared by the PostgreSQL modules."""

    DOCUMENTATION = r'''
options:
  login_user:
    description:
      - The user to connect as.
    type: str
    default: postgres
    aliases: [ login ]
  login_password:
    description:
      - The password of O(login_user). Never logged, never put on a command line.
      - Leave empty to use peer/trust authentication, C(PGPASSFILE) or C(~/.pgpass).
    type: str
    default: ''
  login_host:
    description:
      - Host name or IP address of the server. Empty means the default Unix socket.
    type: str
    default: ''
    aliases: [ host ]
  login_unix_socket:
    description:
      - Directory holding the server's Unix socket. Takes precedence over O(login_host).
    type: str
    default: ''
    aliases: [ unix_socket ]
  login_port:
    description:
      - Port of the server (also the suffix of the Unix socket file).
    type: int
    default: 5432
    aliases: [ port ]
  login_db:
    description:
      - Name of the database to connect to and work on.
    type: str
    default: postgres
  ssl_mode:
    description:
      - libpq's C(sslmode).
    type: str
    default: prefer
    choices: [ allow, disable, prefer, require, verify-ca, verify-full ]
  ca_cert:
    description:
      - File holding the certificate authorities used to verify the server certificate.
    type: path
    aliases: [ ssl_rootcert ]
  connect_timeout:
    description:
      - Seconds to wait for the connection to be established.
    type: int
    default: 10
requirements:
  - psycopg >= 3.1 (psycopg 3) on the host that runs the module
notes:
  - The modules of the C(runbook.maintenance.postgres) action group share these options,
    so C(module_defaults) can set the connection once for a play.
'''
