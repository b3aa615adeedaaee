#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: pgbackrest_expire
short_description: Grandfather-father-son retention of pgBackRest backup sets
version_added: 0.1.0
description:
  - Reads the backup sets of a pgBackRest stanza (C(pgbackrest info --output=json)), keeps the
    newest full set of each of the last O(daily) days, O(weekly) ISO weeks and O(monthly) months,
    and expires every other full set with C(pgbackrest expire --set=<label>); pgBackRest removes
    the differential and incremental backups depending on it, and the archived WAL no backup
    kept needs any more.
  - A full set is dated by the newest backup it holds (its last differential or incremental),
    the newest point it can restore without WAL replay.
  - Never expires the newest verified set or anything newer, and expires nothing at all while the
    newest set failed its verification or none is verified. A set is verified when
    C(pgbackrest verify) finds every backup of it valid (O(verify=true), the default) and it holds
    no backup pgBackRest flagged with an error; O(latest_verified) gives the verdict on the newest
    set from the caller's own verification (such as C(runbook.maintenance.backup_verify)).
  - The same planning code as C(runbook.maintenance.backup_prune) (module_utils retention).
  - Set pgBackRest's own retention (C(repo1-retention-full)) high enough that the expire run
    after each backup never removes a set this plan keeps; the C(runbook.maintenance.pgbackrest)
    role does.
  - In check mode lists what would be expired and why, and expires nothing.
author:
  - Runbook Maintainers (@runbook-maintenance)
extends_documentation_fragment:
  - runbook.maintenance.pgbackrest
attributes:
  check_mode:
    support: full
    description: Plans and lists the sets it would expire (with their dependent backups); runs only read-only pgBackRest commands.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: Applying the policy to what it kept expires nothing more.
options:
  daily:
    description: Days whose newest full set is kept.
    type: int
    default: 7
  weekly:
    description: ISO weeks whose newest full set is kept.
    type: int
    default: 4
  monthly:
    description: Months whose newest full set is kept.
    type: int
    default: 12
  verify:
    description:
      - Run C(pgbackrest verify) first and count a set as verified only when every backup of it is
        valid. With V(false) no set is verified unless O(latest_verified) says so for the newest,
        so nothing is expired without one of them.
    type: bool
    default: true
  latest_verified:
    description: The verdict on the newest set from the caller's own verification; overrides what O(verify) found for it.
    type: bool
notes:
  - C(pgbackrest expire --set) is pgBackRest's own, which refuses to expire the newest backup set.
seealso:
  - module: runbook.maintenance.pgbackrest_verify
  - module: runbook.maintenance.backup_verify
  - module: runbook.maintenance.backup_prune
'''

EXAMPLES = r'''
- name: Keep 7 daily / 4 weekly / 12 monthly full sets of pgBackRest backups
  runbook.maintenance.pgbackrest_expire:
    stanza: main
  become: true
  become_user: postgres

- name: What would be expired, and why?
  runbook.maintenance.pgbackrest_expire:
    stanza: main
    latest_verified: "{{ pitr_verify.verified }}"
  become: true
  become_user: postgres
  check_mode: true
'''

RETURN = r'''
kept:
  description: Full sets kept, newest first, with every reason and their dependent backups.
  returned: always
  type: list
  elements: dict
  sample:
    - label: 20261129-021500F
      reasons: [newest verified backup, daily 2026-11-29]
      verified: true
      newest_at: '2026-11-30T02:16:40Z'
      dependants: [20261129-021500F_20261130-021500D]
expired:
  description: Full sets expired (or that would be), oldest first, with the reason and the dependent backups that went with them.
  returned: always
  type: list
  elements: dict
  sample:
    - label: 20260104-021500F
      reason: outside the 7 daily / 4 weekly / 12 monthly kept
      verified: true
      newest_at: '2026-01-10T02:16:02Z'
      dependants: []
blocked:
  description: Why nothing was expired at all (the newest set failed verification, none verified), else null.
  returned: always
  type: str
verify_status:
  description: Overall status of C(pgbackrest verify) (null when O(verify=false)).
  returned: always
  type: str
'''

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.pgbackrest import (
    STANZA_RE,
    PgBackRestError,
    dependants,
    find_pgbackrest,
    parse_info,
    parse_verify,
    pgbackrest_argv,
    plan_expire,
    set_verdicts,
)


class PgBackRestExpire:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        p = module.params
        errors = [f'{key} cannot be negative, got {p[key]}' for key in ('daily', 'weekly', 'monthly') if p[key] < 0]
        if not STANZA_RE.match(p['stanza'] or ''):
            errors.append(f"stanza must be letters, digits, '_', '.' or '-', got {p['stanza']!r}")
        if errors:
            module.fail_json(msg='Invalid options: ' + '; '.join(errors))
        self.binary = find_pgbackrest(module, p['pgbackrest_bin'])
        if not self.binary:
            module.fail_json(msg='pgbackrest not found on the PATH: install pgBackRest or set pgbackrest_bin')

    def pgbackrest(self, *args: str, quiet: bool = True) -> str:
        p = self.module.params
        argv = pgbackrest_argv(self.binary, p['stanza'], p['config'], args, quiet)
        rc, out, err = self.module.run_command(argv, expand_user_and_vars=False)
        if rc != 0:
            raise PgBackRestError(f"pgbackrest {' '.join(args)} failed (exit {rc}): "
                                  f"{' '.join((err or out).split())[:500] or 'no message'}")
        return out

    def run(self) -> dict:
        p = self.module.params
        try:
            info = parse_info(self.pgbackrest('info', '--output=json'), p['stanza'])
            report = parse_verify(self.pgbackrest('verify', '--output=text', '--verbose')) if p['verify'] else None
        except PgBackRestError as exc:
            self.module.fail_json(msg=f"cannot read stanza {p['stanza']}: {exc}")
        if not info.ok and not info.backups and info.status_code != 2:  # 2: no backup yet, nothing to expire
            self.module.fail_json(msg=f"stanza {p['stanza']}: {info.status_message}")
        verdicts = set_verdicts(info.backups, report)
        decision = plan_expire(info.backups, verdicts, p['daily'], p['weekly'], p['monthly'], p['latest_verified'])
        newest_at: dict = {}
        for backup in info.backups:
            key = backup.full_label
            newest_at[key] = max(newest_at.get(key, backup.stopped), backup.stopped)
        verified = {label: verdicts.get(label) for label in newest_at}
        if p['latest_verified'] is not None and newest_at:
            verified[max(newest_at, key=lambda label: (newest_at[label], label))] = p['latest_verified']

        def describe(label: str) -> dict:
            return {'label': label, 'verified': verified.get(label),
                    'newest_at': newest_at[label].strftime('%Y-%m-%dT%H:%M:%SZ'),
                    'dependants': dependants(info.backups, label)}

        expired, errors = [], []
        if decision.prune and not self.module.check_mode and os.geteuid() == 0:
            self.module.warn('pgbackrest expire ran as root: files it rewrote in a posix repository now belong to root; '
                             'run this module as the repository owner (become_user postgres)')
        for label in sorted(decision.prune, key=lambda label: newest_at[label]):
            if not self.module.check_mode:
                try:
                    self.pgbackrest('expire', f'--set={label}', quiet=False)
                except PgBackRestError as exc:
                    errors.append(f'{label}: {exc}')
                    continue
            expired.append(dict(describe(label), reason=decision.prune[label]))
        kept = [dict(describe(label), reasons=decision.keep[label])
                for label in sorted(decision.keep, key=lambda label: newest_at[label], reverse=True)]
        result = {'changed': bool(expired), 'kept': kept, 'expired': expired, 'blocked': decision.blocked,
                  'verify_status': report['status'] if report else None, 'errors': errors}
        if errors:
            self.module.fail_json(msg=f'{len(errors)} backup set(s) could not be expired: {errors[0]}', **result)
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            stanza=dict(type='str', required=True),
            config=dict(type='path'),
            pgbackrest_bin=dict(type='path'),
            daily=dict(type='int', default=7),
            weekly=dict(type='int', default=4),
            monthly=dict(type='int', default=12),
            verify=dict(type='bool', default=True),
            latest_verified=dict(type='bool'),
        ),
        supports_check_mode=True,
    )
    module.exit_json(**PgBackRestExpire(module).run())


if __name__ == '__main__':
    main()
