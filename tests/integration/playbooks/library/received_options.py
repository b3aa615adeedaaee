# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helper of tests/integration/playbooks/connection.yml: says which connection options it
received. Unlike the collection's modules (whose login options default to ''), none of its options
has a default, so an option that was not passed reads None and one passed empty reads ''."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r'''
module: received_options
short_description: Test helper - which connection options a module received
description: Returns the names of the options it received and of those that were empty.
options: {}
author: Runbook Maintainers (@runbook-maintenance)
'''


def main():
    module = AnsibleModule(
        argument_spec={
            'login_unix_socket': {'type': 'str'},
            'login_host': {'type': 'str'},
            'login_port': {'type': 'int'},
            'login_user': {'type': 'str'},
            'login_db': {'type': 'str'},
            'login_password': {'type': 'str', 'no_log': True},
            'state_dir': {'type': 'str'},
        },
        supports_check_mode=True,
    )
    params = module.params
    module.exit_json(changed=False,
                     received=sorted(k for k, v in params.items() if v is not None),
                     empty=sorted(k for k, v in params.items() if v == ''))


if __name__ == '__main__':
    main()
