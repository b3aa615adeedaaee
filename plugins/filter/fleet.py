# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_summary: which hosts of a rolling maintenance are done, failed and not started."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def fleet_summary(hosts, failures, active=None, procedure='weekly', check_mode=False, plan=None) -> dict:
    """hosts: every host of the play in order (ansible_play_hosts_all); failures: host -> the
    failure of its window ('' when it succeeded, None when it has not started); active: the hosts
    not failed so far (ansible_play_hosts): a started host missing from it failed outside the
    steps (the window guard, unreachable)."""
    if not isinstance(hosts, (list, tuple)) or not isinstance(failures, dict):
        raise AnsibleFilterError('fleet_summary: expects a list of hosts and a mapping host -> failure')
    active_set = set(hosts if active is None else active)
    done, failed, not_started = [], [], []
    for host in hosts:
        failure = failures.get(host)
        if failure is None:
            not_started.append(host)
        elif failure or host not in active_set:
            failed.append({'host': host, 'failure': str(failure or 'stopped before its maintenance steps (see the run)')})
        else:
            done.append(host)
    status = 'failed' if failed else ('stopped' if not_started else ('planned' if check_mode else 'ok'))
    word = 'planned' if check_mode else 'done'
    lines = [f"Fleet {procedure}{' (dry run)' if check_mode else ''}: {len(done)} {word}, {len(failed)} failed, "
             f"{len(not_started)} not started, of {len(hosts)}"]
    if plan and plan.get('msg'):
        lines.append(f"  batches: {plan['msg']}")
    lines += [f'  {word.upper():<12} {host}' for host in done]
    lines += [f"  {'FAILED':<12} {item['host']}: {item['failure']}" for item in failed]
    lines += [f"  {'NOT STARTED':<12} {host}" for host in not_started]
    return {'procedure': procedure, 'check_mode': bool(check_mode), 'status': status, 'hosts': list(hosts),
            'done': done, 'failed': failed, 'not_started': not_started,
            'counts': {'hosts': len(hosts), 'done': len(done), 'failed': len(failed), 'not_started': len(not_started)},
            'lines': lines}


class FilterModule:
    def filters(self):
        return {'fleet_summary': fleet_summary}
