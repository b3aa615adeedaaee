#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: rollback_snapshot
short_description: Save the rollback point of a maintenance window (configuration files, package versions) in one call
version_added: 0.3.0
description:
  - Saves O(files) and the installed package versions (dpkg) under O(path)/O(run_id)/ with a
    C(manifest.json) (each file's sha256, mode, owner and group; the files that do not exist;
    the packages), points O(path)/latest at it and removes the snapshots beyond the newest O(keep).
    The C(runbook.maintenance.maintenance_rollback) role calls it before a window and puts a
    snapshot back on a rollback.
  - When nothing changed since the newest snapshot (same files, modes, owners, packages), that
    snapshot is kept as the rollback point and nothing is written (RV(kept_latest)).
  - O(path) is refused when it is a symlink, or is owned by another user than root (or the
    module's user), or group or others may write to it, or a component of it is a symlink owned
    by another user - a rollback copies its files back over C(/etc) as root. A missing O(path) is
    created private (0700).
  - The snapshot is built in a private work directory inside O(path) and renamed to O(run_id)
    when complete; an existing snapshot is never overwritten; C(latest) is replaced in one rename.
    On a failure (a full disk, an unreadable file) nothing of the new snapshot is left.
  - One module run for what used to be about fifteen (stat, slurp, copy, file, find) per host.
author:
  - Runbook Maintainers (@runbook-maintenance)
attributes:
  check_mode:
    support: full
    description: Reads the files, the packages and the newest snapshot, and reports what would be saved and pruned; writes nothing.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: A second run with nothing changed keeps the newest snapshot and reports no change.
options:
  path:
    description: The snapshot directory on the managed host (C(<path>/<run id>/), C(<path>/latest)).
    type: path
    default: /var/lib/runbook-maintenance/rollback
  run_id:
    description:
      - The new snapshot's name, e.g. the window's start C(20261206T020000Z); it must start with a
        digit (the snapshots are ordered by name) and contain only letters, digits, C(.), C(_) and C(-).
    type: str
    required: true
  files:
    description: Configuration files to save (symlinks to them are followed; missing ones are recorded in RV(missing)).
    type: list
    elements: path
    default: []
  packages:
    description: Record the installed package versions (C(dpkg-query)) so that a rollback can downgrade what the window upgraded.
    type: bool
    default: true
  keep:
    description: Snapshots kept (the oldest are removed first; the one just saved is never removed).
    type: int
    default: 5
  host:
    description: The host name recorded in the manifest (default this host's name).
    type: str
    default: ''
notes:
  - The manifest is what C(runbook.maintenance.maintenance_rollback) (action C(rollback)) reads to
    put the files back (content, mode, owner, group) and to downgrade packages.
'''

EXAMPLES = r'''
- name: Snapshot the PostgreSQL configuration and the package versions before the window
  runbook.maintenance.rollback_snapshot:
    path: /var/lib/runbook-maintenance/rollback
    run_id: "{{ maintenance_started | regex_replace('[^0-9TZ]', '') }}"
    files:
      - /etc/postgresql/15/main/postgresql.conf
      - /etc/postgresql/15/main/pg_hba.conf
    keep: 5
  register: snapshot

- name: Where the rollback point is
  ansible.builtin.debug:
    msg: "{{ snapshot.saved }}"
'''

RETURN = r'''
saved:
  description: The snapshot that is the rollback point - the new one, or the newest one kept (in check mode, the one that would be saved).
  returned: always
  type: str
  sample: /var/lib/runbook-maintenance/rollback/20261206T020000Z
created:
  description: Whether a new snapshot was written (never in check mode).
  returned: always
  type: bool
kept_latest:
  description: Nothing changed since the newest snapshot; it is kept and nothing was written.
  returned: always
  type: bool
snapshot:
  description: The manifest of RV(saved) (run_id, created_at, host, files, missing, packages).
  returned: always
  type: dict
files:
  description: The files saved (or that would be saved).
  returned: always
  type: list
  elements: str
missing:
  description: Files of O(files) that do not exist (recorded in the manifest, not saved).
  returned: always
  type: list
  elements: str
packages_recorded:
  description: How many package versions the manifest records.
  returned: always
  type: int
removed:
  description: Snapshots removed beyond O(keep) (in check mode, those a real run would remove).
  returned: always
  type: list
  elements: str
msg:
  description: What was done, in a sentence.
  returned: always
  type: str
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.snapshot import Snapshot, check_run_id, describe_failure


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            'path': {'type': 'path', 'default': '/var/lib/runbook-maintenance/rollback'},
            'run_id': {'type': 'str', 'required': True},
            'files': {'type': 'list', 'elements': 'path', 'default': []},
            'packages': {'type': 'bool', 'default': True},
            'keep': {'type': 'int', 'default': 5},
            'host': {'type': 'str', 'default': ''},
        },
        supports_check_mode=True,
    )
    problem = check_run_id(module.params['run_id'])
    if problem:
        module.fail_json(msg=problem)
    if module.params['keep'] < 1:
        module.fail_json(msg=f"keep must be at least 1 (the snapshot just saved), got {module.params['keep']}")
    bad = [f for f in module.params['files'] if not f.startswith('/')]
    if bad:
        module.fail_json(msg=f"files must be absolute paths, got {', '.join(bad)}")
    try:
        result = Snapshot(module).run()
    except Exception as exc:  # every failure is a clear message; nothing half-made is left (Snapshot.save)
        module.fail_json(msg=describe_failure(exc))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
