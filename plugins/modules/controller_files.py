# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name (plugins/action/controller_files.py):
# this file only documents it.

from __future__ import annotations

DOCUMENTATION = r'''
module: controller_files
author:
  - Runbook Maintainers (@runbook-maintenance)
version_added: 0.3.0
short_description: Write a run's report files on the Ansible controller, all or none
description:
  - Writes text files (a report's JSON and text, a fleet summary) into a directory of the
    B(controller), in the controller's own process - no module runs on the managed host and no
    Python process is started, whatever the task's host or C(delegate_to).
  - Each file is first written under a fresh random name in the directory (O_EXCL, O_NOFOLLOW),
    synced, then renamed over its final name, so a reader never sees half a file and a symlink
    another user planted under the final name is replaced, never followed. Either every file is
    written or none (nothing half-made is left on a full disk).
  - The directory and its missing parents are created with O(dir_mode). A path with a symlink
    owned by another user than root or the controller's user is refused.
  - Used by roles/maintenance_report and playbooks/tasks/fleet_summary.yml.
attributes:
  action:
    support: full
    description: Runs on the controller only.
  check_mode:
    support: full
    description:
      - In check mode nothing is written and RV(files) names what would be.
      - The report tasks set C(check_mode=false), since the report of a dry run is the point of it.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: none
    description: Rewrites the files every time; C(changed) is always false (a run's record on the controller, not a change of the managed host).
  platform:
    support: full
    platforms: posix
    description: The controller's filesystem.
options:
  dir:
    description: Directory on the controller that receives the files.
    type: path
    required: true
  files:
    description: The files to write.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Plain file name in O(dir) (no C(/), not starting with a dot).
        type: str
        required: true
      content:
        description: Text written to it (UTF-8).
        type: str
        required: true
  mode:
    description: Permission mode of every file (whatever the umask), as V('0640') or an integer.
    type: raw
    default: '0640'
  dir_mode:
    description: Permission mode of the directories created; an existing directory keeps its mode.
    type: raw
    default: '0750'
'''

EXAMPLES = r'''
- name: Write the report (JSON and text) on the controller
  runbook.maintenance.controller_files:
    dir: /var/tmp/runbook-reports
    files:
      - name: weekly-db1-20261206T023000.json
        content: "{{ report | to_nice_json }}\n"
      - name: weekly-db1-20261206T023000.txt
        content: "{{ report_text }}"
  check_mode: false
'''

RETURN = r'''
dir:
  description: The directory, absolute.
  returned: always
  type: str
files:
  description: The paths written (or that would be, in check mode).
  returned: always
  type: list
  elements: str
created_dir:
  description: Whether the directory was created by this call.
  returned: when files were written
  type: bool
'''
