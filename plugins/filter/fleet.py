# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_summary: which hosts of a rolling maintenance are done, failed and not started;
fleet_merge: the summaries of the slices of one run (AWX job slicing) read as one."""

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
    out = {'procedure': procedure, 'check_mode': bool(check_mode), 'status': status, 'hosts': list(hosts),
           'done': done, 'failed': failed, 'not_started': not_started,
           'counts': {'hosts': len(hosts), 'done': len(done), 'failed': len(failed), 'not_started': len(not_started)},
           'lines': lines}
    if plan:
        # The run, and under AWX job slicing this slice of it and how many slices the run has.
        out.update(run=str(plan.get('run') or ''), slice=str(plan.get('slice') or ''), slices=_int(plan.get('slices'), 1))
    return out


def _int(value, default):
    try:
        return int(value) if value not in (None, '') else default
    except (TypeError, ValueError):
        return default


SUMMARY_KEYS = ('procedure', 'hosts', 'done', 'failed', 'not_started')


def fleet_merge(summaries, slices=None) -> dict:
    """summaries: the fleet summaries (fleet_summary's results, e.g. read from the
    fleet-<procedure>-<run>-<slice>.json files) of the slices of one run. slices: how many slices
    the run has (default: the largest C(slices) the summaries carry). A host in two slices, slices
    of different runs, procedures or modes are errors, reported (status error), never hidden."""
    if not isinstance(summaries, (list, tuple)) or not summaries:
        raise AnsibleFilterError('fleet_merge: expects a non-empty list of fleet summaries (fleet_summary results)')
    for i, item in enumerate(summaries):
        if not isinstance(item, dict) or any(k not in item for k in SUMMARY_KEYS):
            raise AnsibleFilterError(f"fleet_merge: item {i} is not a fleet summary (needs {', '.join(SUMMARY_KEYS)})")
        if not isinstance(item['hosts'], list) or not isinstance(item['done'], list) \
                or not isinstance(item['failed'], list) or not isinstance(item['not_started'], list):
            raise AnsibleFilterError(f'fleet_merge: item {i} has hosts/done/failed/not_started that are not lists')
    if slices is not None and (isinstance(slices, bool) or _int(slices, 0) < 1):
        raise AnsibleFilterError(f'fleet_merge: slices must be a positive integer, got {slices!r}')
    ordered = sorted(summaries, key=lambda s: (str(s.get('slice', '')), str(s.get('run', ''))))
    errors = []
    for key in ('procedure', 'run', 'check_mode'):
        values = sorted({str(s.get(key, '')) for s in ordered})
        if len(values) > 1:
            errors.append(f"the slices differ in {key}: {', '.join(values)}")
    names = [str(s.get('slice', '')) or f'#{i + 1}' for i, s in enumerate(ordered)]
    if len(set(names)) < len(names):
        errors.append(f"a slice reported twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
    expected = _int(slices, 0) or max(_int(s.get('slices'), 1) for s in ordered)
    reported = len(set(names))
    missing = max(expected - reported, 0)
    if missing:
        errors.append(f'{missing} of {expected} slices did not report: their hosts are not in this summary')
    owner, hosts, done, failed, not_started = {}, [], [], [], []
    for name, summary in zip(names, ordered):
        for host in summary['hosts']:
            owner.setdefault(host, []).append(name)
            if len(owner[host]) == 1:
                hosts.append(host)
        done += [h for h in summary['done'] if owner.get(h, [name])[0] == name]
        failed += [f for f in summary['failed'] if isinstance(f, dict) and owner.get(f.get('host'), [name])[0] == name]
        not_started += [h for h in summary['not_started'] if owner.get(h, [name])[0] == name]
    duplicates = [{'host': h, 'slices': s} for h, s in owner.items() if len(s) > 1]
    errors += [f"host {d['host']} is in {len(d['slices'])} slices: {', '.join(d['slices'])}" for d in duplicates]
    check_mode = all(bool(s.get('check_mode')) for s in ordered)
    procedure = str(ordered[0]['procedure'])
    if duplicates or any(e.startswith('the slices differ') or e.startswith('a slice reported') for e in errors):
        status = 'error'
    elif failed:
        status = 'failed'
    elif missing:
        status = 'incomplete'
    elif not_started:
        status = 'stopped'
    else:
        status = 'planned' if check_mode else 'ok'
    word = 'planned' if check_mode else 'done'
    run = str(ordered[0].get('run', '') or '')
    lines = [f"Fleet {procedure}{' (dry run)' if check_mode else ''}{' run ' + run if run else ''}, {reported} of "
             f"{expected} slices: {len(done)} {word}, {len(failed)} failed, {len(not_started)} not started, "
             f"of {len(hosts)}"]
    lines += [f'  ERROR        {e}' for e in errors]
    per_slice = []
    for name, summary in zip(names, ordered):
        counts = summary.get('counts') or {'hosts': len(summary['hosts']), 'done': len(summary['done']),
                                           'failed': len(summary['failed']), 'not_started': len(summary['not_started'])}
        per_slice.append({'slice': name, 'status': str(summary.get('status', '')), 'counts': counts})
        lines.append(f"  slice {name}: {summary.get('status', '')}, {counts.get('done', 0)} {word}, "
                     f"{counts.get('failed', 0)} failed, {counts.get('not_started', 0)} not started, of {counts.get('hosts', 0)}")
    lines += [f'  {word.upper():<12} {host}' for host in done]
    lines += [f"  {'FAILED':<12} {item.get('host')}: {item.get('failure')}" for item in failed]
    lines += [f"  {'NOT STARTED':<12} {host}" for host in not_started]
    return {'procedure': procedure, 'run': run, 'check_mode': check_mode, 'status': status, 'hosts': hosts,
            'done': done, 'failed': failed, 'not_started': not_started, 'duplicates': duplicates,
            'slices': {'expected': expected, 'reported': reported, 'missing': missing, 'each': per_slice},
            'errors': errors,
            'counts': {'hosts': len(hosts), 'done': len(done), 'failed': len(failed), 'not_started': len(not_started)},
            'lines': lines}


class FilterModule:
    def filters(self):
        return {'fleet_summary': fleet_summary, 'fleet_merge': fleet_merge}
