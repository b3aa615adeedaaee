#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pgbackrest_verify
short_description: Prove a pgBackRest stanza is intact, fresh and restorable to the recovery point objective
version_added: 0.2.0
description:
  - Verifies one pgBackRest stanza's repository (as configured in O(config)). Each check of
    O(checks) gives its own verdict and reason.
  - V(repository) runs C(pgbackrest verify) (which exits 0 even when it finds corrupt files, so
    its report is read) and fails on any invalid backup or WAL segment.
  - V(age) the newest backup (full, diff or incr, from C(pgbackrest info --output=json)) ended
    less than O(max_age) ago.
  - V(wal_age) the newest WAL segment archived (C(pgbackrest repo-ls)) reached the repository less
    than O(max_wal_age) ago, the recovery point objective.
  - V(wal_gaps) every backup's own WAL (first to last segment) is archived, else that backup
    cannot be restored, and every WAL segment from the newest full backup's first segment to the
    newest archived one is there, else point-in-time recovery across the gap is impossible
    (C(pgbackrest verify) reports neither).
  - Read-only, never reports a change. Fails when a check fails, naming every failed check,
    unless O(fail_on_error=false).
  - Replaces the deprecated O(runbook.maintenance.backup_verify#module:pgbackrest_stanza), which
    runs the same code and returns the same keys until it is removed. Option names follow
    C(runbook.maintenance.pgbackrest_expire).
author:
  - Runbook Maintainers (@runbook-maintenance)
extends_documentation_fragment:
  - runbook.maintenance.pgbackrest
attributes:
  check_mode:
    support: full
    description: Every check only reads (C(pgbackrest info), C(verify) and C(repo-ls)), so all of them run in check mode too.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: Changes nothing.
options:
  checks:
    description: The checks to run, see the description.
    type: list
    elements: str
    choices: [repository, age, wal_age, wal_gaps]
    default: [repository, age, wal_age, wal_gaps]
  max_age:
    description:
      - Oldest acceptable newest backup for V(age), as a duration (V(26h), V(8d)), counted from
        the end of the backup. V(0) fails every backup; an empty value reports the age and never fails.
    type: str
    default: 26h
  max_wal_age:
    description:
      - Oldest acceptable newest archived WAL segment for V(wal_age) (V(15m)), the recovery point
        objective. Set C(archive_timeout) below it, or a quiet database archives nothing for hours.
        Unset, the age is reported and never fails.
    type: str
  wal_segment_size:
    description: The cluster's WAL segment size (C(initdb --wal-segsize)), to number segments for V(wal_gaps).
    type: str
    default: 16M
  fail_on_error:
    description: Fail the task when a check fails. With V(false) the result reports RV(verified) and RV(failures) only.
    type: bool
    default: true
requirements:
  - pgBackRest 2.38 or later on the host running the module
notes:
  - pgBackRest writes no log file for these commands (a root-owned log would stop the repository
    owner's own runs).
seealso:
  - module: runbook.maintenance.pgbackrest_expire
  - module: runbook.maintenance.backup_verify
  - name: pgBackRest command reference
    description: The verify, info and repo-ls commands.
    link: https://pgbackrest.org/command.html
'''

EXAMPLES = r'''
- name: Repository verified, newest backup under 26h, WAL archived in the last 15 minutes, no gap
  runbook.maintenance.pgbackrest_verify:
    stanza: main
    max_age: 26h
    max_wal_age: 15m
  become: true
  become_user: postgres
  register: pitr_verify

- name: The recovery point only (the newest archived WAL segment), report and let the next task decide
  runbook.maintenance.pgbackrest_verify:
    stanza: main
    config: /etc/pgbackrest/pgbackrest.conf
    checks: [wal_age, wal_gaps]
    fail_on_error: false
  become: true
  become_user: postgres
  register: archive

- name: Expire old sets only when the stanza verified
  runbook.maintenance.pgbackrest_expire:
    stanza: main
    latest_verified: "{{ pitr_verify.verified }}"
  become: true
  become_user: postgres
'''

RETURN = r'''
verified:
  description: Whether every check that ran passed.
  returned: always
  type: bool
  sample: true
artefact:
  description: What was verified, C(pgbackrest stanza <name>).
  returned: always
  type: str
  sample: pgbackrest stanza main
checks:
  description: One entry per check, C(ok) true or false, C(detail) the reason.
  returned: always
  type: dict
  sample:
    repository: {ok: true, detail: 'pgbackrest verify: 3 backups valid, 812 WAL segments checked'}
    age: {ok: true, detail: 'newest backup 20261129-021500F_20261130-021500D (diff) 7h 43m old (ended 2026-11-30T02:16:40Z), max_age 26h'}
    wal_age: {ok: true, detail: 'newest archived WAL segment 00000001000000A2000000C4 archived 48s ago, max_wal_age 15m'}
failures:
  description: One line per failed check, starting with the check's name.
  returned: always
  type: list
  elements: str
  sample:
    - >-
      wal_age: the newest archived WAL segment 00000001000000A2000000C4 reached the repository 2h 3m ago,
      more than max_wal_age 15m (the RPO): archiving is stuck, or archive_timeout is not set on a quiet database
age_s:
  description: Age in seconds of the newest backup, from its end (null when V(age) did not run or found none).
  returned: always
  type: float
  sample: 27780.2
pgbackrest:
  description: What the checks found.
  returned: always
  type: dict
  contains:
    stanza:
      description: The stanza.
      type: str
    status:
      description: The stanza's status as C(pgbackrest info) reports it.
      type: str
    newest_backup:
      description: The newest backup, C(label), C(type) and C(stopped) (UTC).
      type: dict
    backups:
      description: Every backup, oldest first, with C(label), C(type), C(stopped), C(archive_start), C(archive_stop), C(error).
      type: list
      elements: dict
    archive_id:
      description: The current archive id (such as C(15-1)).
      type: str
    newest_wal:
      description: The newest archived WAL segment, C(segment) and C(archived_at) (UTC).
      type: dict
    wal_age_s:
      description: Seconds since the newest WAL segment reached the repository (the recovery point objective).
      type: float
    wal_gaps:
      description: Missing WAL segments since the newest full backup, each C(first), C(last), C(count).
      type: list
      elements: dict
    unrestorable_backups:
      description: Backups whose own WAL is incomplete, label to the missing segments.
      type: dict
    verify_status:
      description: Overall status printed by C(pgbackrest verify) (V(ok) or V(error)).
      type: str
    invalid_backups:
      description: Labels of the backups C(pgbackrest verify) did not find valid.
      type: list
      elements: str
  sample:
    stanza: main
    status: ok
    newest_backup: {label: 20261129-021500F_20261130-021500D, type: diff, stopped: '2026-11-30T02:16:40Z'}
    archive_id: 15-1
    newest_wal: {segment: 00000001000000A2000000C4, archived_at: '2026-11-30T09:59:12Z'}
    wal_age_s: 48.2
    wal_gaps: []
    unrestorable_backups: {}
    verify_status: ok
    invalid_backups: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.pgbackrest_verify import PGBACKREST_CHECKS, StanzaVerifier


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            stanza=dict(type='str', required=True),
            config=dict(type='path'),
            pgbackrest_bin=dict(type='path'),
            checks=dict(type='list', elements='str', choices=list(PGBACKREST_CHECKS), default=list(PGBACKREST_CHECKS)),
            max_age=dict(type='str', default='26h'),
            max_wal_age=dict(type='str'),
            wal_segment_size=dict(type='str', default='16M'),
            fail_on_error=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    result = StanzaVerifier(module).verify()
    if result['failures'] and module.params['fail_on_error']:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
