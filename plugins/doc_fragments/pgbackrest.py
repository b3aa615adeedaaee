# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The stanza options shared by the pgBackRest modules (action group runbook.maintenance.pgbackrest)."""

    DOCUMENTATION = r'''
options:
  stanza:
    description: The pgBackRest stanza.
    type: str
    required: true
  config:
    description: pgBackRest configuration file. Default, pgBackRest's own (C(/etc/pgbackrest/pgbackrest.conf)).
    type: path
  pgbackrest_bin:
    description: The pgbackrest executable. Default, C(pgbackrest) on the PATH.
    type: path
notes:
  - Run it as the repository's owner (C(become_user=postgres)).
'''
