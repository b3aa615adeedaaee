# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Report sections, metrics and summaries built from the roles' documented results.

A role sets one `<role>_result` fact (docs/report-contract.md); these filters turn those results
into what roles/maintenance_report takes (maintenance_report_sections, _metrics, _summary), so
a playbook's report is a few lines that name its results, not Jinja of its own.
"""

from __future__ import annotations

import os

from jinja2.filters import do_filesizeformat

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - outside Ansible
    AnsibleFilterError = ValueError


def _size(value) -> str:
    """Bytes as the report writes them (Jinja's filesizeformat(true): KiB, MiB, ...)."""
    return do_filesizeformat(int(float(value or 0)), True)


def _fsize(value) -> str:
    """filesizeformat(true) of a value as it is (no int first)."""
    return do_filesizeformat(value if value is not None else 0, True)


def _int(value) -> int:
    """Jinja's int filter: a number, else 0."""
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return 0


def _float(value) -> float:
    """Jinja's float filter: a number, else 0.0."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _bool(value) -> bool:
    """Ansible's bool filter."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        return value.strip().lower() in ('yes', 'on', '1', 'true', 't', 'y')
    return value in (1, 1.0)


def _s(value) -> str:
    """What Jinja's ~ makes of a value."""
    return str(value)


def _base(path) -> str:
    return os.path.basename(str(path or ''))


def _label(value) -> str:
    """A Prometheus label value, escaped."""
    return str(value).replace('\\', '\\\\').replace('"', '\\"')


def _dict(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError(f'{what}: expects a dictionary, got {type(value).__name__}')
    return value


def _results(register) -> list:
    """The per-item results of a registered loop (nothing when it did not run)."""
    if isinstance(register, dict):
        return [r for r in register.get('results') or [] if isinstance(r, dict)]
    return []


def _prune_sets(register) -> list:
    """backup_prune's results per set: its RV(sets) (one call for every set, each named by the last
    part of its path or prefix as item.dir), or the items of a loop with one call per set."""
    if isinstance(register, dict) and isinstance(register.get('sets'), list):
        return [dict(r, item={'dir': os.path.basename(str(r.get('path') or r.get('s3_prefix') or '').rstrip('/'))})
                for r in register['sets'] if isinstance(r, dict)]
    return _results(register)


# ---- the backup role's result ------------------------------------------------------------------

def backup_result(registers):
    """roles/backup's result (backup_result) from the role's own registers.

    registers: {dumps, verifications, reused, dump_targets, failures, globals_dump, paths_archive,
    pruned_local, pruned_s3, breaker, breaker_name, s3_bucket, s3_prefix, reuse_within}.
    """
    reg = _dict(registers, 'backup_result')
    verifications = []
    for r in _results(reg.get('verifications')):
        if 'verified' not in r:
            continue
        item = r.get('item') or {}
        verifications.append({
            'database': item.get('item'),
            'artefact': item.get('artefact'),
            'size_bytes': int(float(r.get('size_bytes') or 0)),
            'verified': bool(r['verified']),
            'failures': list(r.get('failures') or []),
            'age_s': r.get('age_s'),
        })
    dumps = [{'database': d.get('item'), 'artefact': d['artefact']}
             for d in _results(reg.get('dumps')) if 'artefact' in d]
    pruned = []
    for where, register in (('on disk', reg.get('pruned_local')), ('in S3', reg.get('pruned_s3'))):
        for r in _prune_sets(register):
            if 'pruned' not in r:
                continue
            item = r.get('item')
            pruned.append({'set': item.get('dir', item) if isinstance(item, dict) else item, 'where': where,
                           'kept': len(r.get('kept') or []), 'pruned': len(r.get('pruned') or []),
                           'bytes_freed': int(float(r.get('bytes_freed') or 0)), 'blocked': r.get('blocked') or ''})
    breaker = reg.get('breaker')
    breaker_state = None
    if isinstance(breaker, dict) and 'allowed' in breaker:
        breaker_state = {'name': reg.get('breaker_name') or 'backups', 'allowed': bool(breaker['allowed']),
                         'reason': breaker.get('reason') or ''}

    def artefact(register):
        return register.get('artefact') if isinstance(register, dict) else None

    return {
        'ran': isinstance(reg.get('dumps'), dict) and 'results' in reg['dumps'],
        'dump_targets': list(reg.get('dump_targets') or []),
        'dumps': dumps,
        'verifications': verifications,
        'reused': list(reg.get('reused') or []),
        'reuse_within': str(reg.get('reuse_within') or ''),
        'failures': list(reg.get('failures') or []),
        'globals_artefact': artefact(reg.get('globals_dump')),
        'files_artefact': artefact(reg.get('paths_archive')),
        'pruned': pruned,
        'bytes_pruned': sum(p['bytes_freed'] for p in pruned),
        'breaker': breaker_state,
        's3_bucket': reg.get('s3_bucket') or '',
        's3_prefix': reg.get('s3_prefix') or '',
    }


def backup_report(result, failure='', check_mode=False):
    """Sections, metrics and summary of playbooks/backup.yml from backup_result."""
    res = _dict(result, 'backup_report')
    verified = res.get('verifications') or []
    verified_ok = [v for v in verified if v['verified']]
    failures = res.get('failures') or []
    backups = {}
    for v in verified:
        backups[v['database']] = (f"{_base(v['artefact'])}, {_size(v['size_bytes'])}, "
                                  + ('verified' if v['verified'] else 'FAILED verification (below)'))
    for d in res.get('dumps') or []:
        if d['database'] not in backups:
            backups[d['database']] = _base(d['artefact']) + (
                ' (would be created and verified)' if check_mode else ' (not verified)')
    for db in res.get('reused') or []:
        backups[db] = 'reused a dump verified within ' + (res.get('reuse_within') or '')
    others = {}
    if res.get('globals_artefact'):
        others['globals'] = _base(res['globals_artefact'])
    if res.get('files_artefact'):
        others['files'] = _base(res['files_artefact'])
    retention = []
    for p in res.get('pruned') or []:
        line = f"{p['set']} {p['where']}: kept {p['kept']}, pruned {p['pruned']}"
        if p['bytes_freed'] > 0:
            line += f" ({_size(p['bytes_freed'])})"
        if p['blocked']:
            line += f", blocked: {p['blocked']}"
        retention.append(line)
    breaker = res.get('breaker')
    if breaker and not breaker['allowed']:
        retention.append(f"skipped: the {breaker['name']} breaker is open ({breaker['reason']})")

    sections = []
    if backups:
        sections.append({'title': 'Backups', 'items': backups,
                         'status': 'failed' if failures or failure else ('planned' if check_mode else 'ok')})
    if others:
        sections.append({'title': 'Globals and files', 'items': others})
    if failures:
        sections.append({'title': 'Verification failures', 'status': 'failed', 'lines': failures})
    if not (check_mode or not res.get('s3_bucket') or failure):
        sections.append({'title': 'Copy to S3', 'lines': [
            f"{len(verified_ok)} verified dumps copied to s3://{res['s3_bucket']}/{res.get('s3_prefix') or ''}"]})
    if retention:
        sections.append({'title': 'Retention', 'lines': retention})

    metrics = {'backup_count': len(verified_ok),
               'backup_verified': len(verified) == len(verified_ok) and not failures and not failure}
    if verified_ok:
        metrics['backup_age_seconds'] = round(min(float(v['age_s']) for v in verified_ok), 1)
    for v in verified_ok:
        metrics[f'backup_size_bytes{{database="{_label(v["database"])}"}}'] = v['size_bytes']
    if breaker:
        metrics[f'breaker_open{{breaker="{breaker["name"]}"}}'] = not breaker['allowed']

    summary = f'{len(verified_ok)} of {len(verified)} new dumps verified'
    if res.get('reused'):
        summary += f", {len(res['reused'])} reused"
    if (res.get('bytes_pruned') or 0) > 0:
        summary += f", {_size(res['bytes_pruned'])} pruned"
    return {'sections': sections, 'metrics': metrics, 'summary': summary}


# ---- the maintenance window ----------------------------------------------------------------------

def window_report(results, check_mode=False):
    """Sections, metrics and bytes freed of playbooks/maintenance-window.yml from its roles' results.

    results: {window (maintenance_window_result), checks (maintenance_checks_result),
    backup (backup_result), rollback_saved, package_updates (package_updates_result),
    package_updates_applied, image_updates_section, log_cleanup (log_cleanup_result),
    docker_cleanup (the docker list of runbook.maintenance.disk_cleanup)}.
    """
    res = _dict(results, 'window_report')
    window = res.get('window') or {}
    out = [{'title': 'Window', 'status': 'forced' if window.get('forced') else 'ok',
            'lines': [window.get('msg') or 'not evaluated']}]
    backup = res.get('backup')
    if backup and backup.get('ran'):
        items = {}
        for v in backup.get('verifications') or []:
            key = v['database'] if v['database'] is not None else _base(v['artefact'])
            items[key] = (f"{_base(v['artefact'])}, {_size(v['size_bytes'])}, "
                          + ('verified' if v['verified'] else 'FAILED: ' + '; '.join(map(str, v['failures']))))
        if check_mode:
            for name in backup.get('dump_targets') or []:
                items[name] = 'would be dumped and verified'
        for name in backup.get('reused') or []:
            items[name] = 'reused a dump verified within the last ' + str(backup.get('reuse_within') or '1h')
        out.append({'title': 'Backups', 'status': 'failed' if backup.get('failures') else 'ok', 'items': items})
    if res.get('rollback_saved') is not None:
        out.append({'title': 'Rollback point', 'lines': [res['rollback_saved']]})
    packages = res.get('package_updates')
    if packages is not None:
        planned = [p['name'] for p in packages.get('planned') or []]
        out.append({'title': 'Package updates', 'status': 'applied' if res.get('package_updates_applied') else 'planned',
                    'lines': [f"{len(planned)} planned: {', '.join(planned) or 'none'}"]})
    if res.get('image_updates_section') is not None:
        out.append(res['image_updates_section'])
    logs = res.get('log_cleanup')
    if logs is not None:
        out.append({'title': 'Log cleanup', 'items': {
            'compressed': f"{logs.get('compressed_files', 0)} files, {_size(logs.get('compressed_bytes_saved', 0))} saved",
            'deleted': f"{logs.get('deleted_files', 0)} files, {_size(logs.get('deleted_bytes', 0))}"}})
    docker = res.get('docker_cleanup')
    docker_freed = sum(int(float(d.get('bytes_reclaimed') or 0)) for d in docker or [])
    if docker is not None:
        out.append({'title': 'Docker cleanup', 'lines': [f'{_size(docker_freed)} freed']})
    logs = logs or {}
    bytes_freed = docker_freed + int(float(logs.get('deleted_bytes') or 0)) + int(float(logs.get('compressed_bytes_saved') or 0))
    return {'sections': out, 'metrics': checks_report_metrics(res.get('checks')), 'bytes_freed': bytes_freed}


def checks_report_metrics(checks):
    """Metrics of the maintenance_checks role's result: backup age, breakers, replication lag
    (the post-maintenance checks, else the pre-maintenance ones)."""
    res = _dict(checks, 'checks_report_metrics')
    post = {}
    if 'post' in res:
        post = res['post'] or {}
    elif 'pre' in res:
        post = res['pre'] or {}
    metrics = {}
    age = post.get('backup_age_s', -1)
    try:  # as Jinja's int: what is not a number counts 0
        age = int(float(age))
    except (TypeError, ValueError):
        age = 0
    if age >= 0:
        metrics['backup_age_seconds'] = age
    for name, state in (post.get('breakers') or {}).items():
        metrics[f'breaker_open{{breaker="{name}"}}'] = state == 'open'
    if 'replication_lag_s' in post:
        try:
            metrics['replication_lag_seconds'] = float(post['replication_lag_s'])
        except (TypeError, ValueError):
            metrics['replication_lag_seconds'] = 0.0
    return metrics


# ---- the disk-space emergency --------------------------------------------------------------------

def disk_emergency_report(result, check_mode=False):
    """Sections, metrics, summary and bytes freed of playbooks/disk-emergency.yml from
    disk_emergency_result (nothing when the role did not get to its result)."""
    res = _dict(result, 'disk_emergency_report')
    stages = [s for s in res.get('stages') or [] if isinstance(s, dict)]
    freed = sum(_int(s.get(key, 0)) for key in ('files_bytes_freed', 'docker_bytes_freed', 'backup_copies_bytes_freed')
                for s in stages)
    if not res:
        return {'sections': [], 'metrics': {}, 'summary': '', 'bytes_freed': freed}
    before = res.get('free_before') or {}
    after = res.get('free_after') or {}
    met = _bool(res.get('target_met', False))
    met_text = ('would be met' if check_mode else 'met') if met else 'NOT MET'
    lines = []
    for s in stages:
        if s.get('stage') == 'database':
            lines.append('database: VACUUM of the bloated tables (see the databases below)')
            continue
        lines.append(f"{_s(s.get('stage'))}: {_size(s.get('files_bytes_freed'))} of files, "
                     f"{_size(s.get('docker_bytes_freed'))} of Docker, "
                     f"{_size(s.get('backup_copies_bytes_freed', 0))} of backup copies")
        for j in s.get('jobs') or []:
            if _int(j.get('files_count')) <= 0:
                continue
            held = j.get('open_files') or []
            lines.append(f"  {_s(j.get('name'))} ({_s(j.get('path'))}): {_s(j.get('action'))} {_s(j.get('files_count'))} files, "
                         f"{_size(j.get('bytes_freed'))}" + (f', {len(held)} held open kept' if held else ''))
    largest = ['%10s  %s' % (_size(d.get('bytes')), d.get('path'))
               for d in ((res.get('assessment') or {}).get('largest_directories') or [])[:5]]
    sections = [
        {'title': 'Free space', 'status': met_text,
         'items': {'filesystem': res.get('mount'),
                   'before': f"{_s(before.get('free_percent'))}% free ({_size(before.get('free'))})",
                   'after': f"{_s(after.get('free_percent'))}% free ({_size(after.get('free'))})",
                   'target': f"{_s(res.get('target_free_percent'))}% free"}},
        {'title': 'Stages', 'lines': lines or ['none needed: the target was met before any cleanup']},
    ]
    if largest and not met:
        sections.append({'title': 'Largest directories (before the cleanup)', 'lines': largest})
    mount = _label(res.get('mount', ''))
    metrics = {f'disk_free_ratio{{mount="{mount}"}}': round(_float(after.get('free_percent')) / 100, 4),
               f'disk_target_met{{mount="{mount}"}}': met}
    summary = (f"{_s(res.get('mount'))}: {_s(before.get('free_percent'))}% -> {_s(after.get('free_percent'))}% free (target "
               f"{_s(res.get('target_free_percent'))}%, {met_text}), {_size(freed)}"
               + (' would be freed' if check_mode else ' freed'))
    return {'sections': sections, 'metrics': metrics, 'summary': summary, 'bytes_freed': freed}


# ---- the health check ----------------------------------------------------------------------------

def health_check_report(results, failures=None, host='', emergency_free_percent=5):
    """Sections, metrics and summary lines of playbooks/health-check.yml.

    results: {services (service_recovery_result), services_summary (service_recovery_summary),
    checks (maintenance_checks_result)}; failures: the run's failures (empty: healthy).
    """
    res = _dict(results, 'health_check_report')
    failures = list(failures or [])
    services = res.get('services') or {}
    summary = res.get('services_summary')
    pg = (res.get('checks') or {}).get('pre') or {}
    pg_lines = []
    if pg:
        pg_lines.append(f"PostgreSQL {_s(pg.get('server_version'))}: "
                        + ('accepts connections' if pg.get('postgres_available') else 'does not answer') + ', '
                        + ('standby (in recovery)' if _bool(pg.get('in_recovery')) else 'primary'))
        for d in pg.get('disk') or []:
            line = f"  {_s(d.get('mount'))}: {_s(d.get('free_percent'))}% free"
            if d.get('growth_bytes') is not None:
                line += f", grew {_fsize(d['growth_bytes'])} since the previous report"
            if d.get('days_until_full') is not None:
                line += f", full in {_s(d['days_until_full'])} days at that rate"
            if d.get('emergency', False):
                line += (f" - UNDER {_s(emergency_free_percent)}%: ansible-playbook playbooks/disk-emergency.yml -l "
                         f"{_s(host)} -e disk_emergency_path={_s(d.get('mount'))}")
            pg_lines.append(line)
    verdict = ['HEALTHY'] if not failures else ['UNHEALTHY: ' + ' | '.join(map(str, failures))]
    metrics = {'health_check_healthy': len(failures) == 0,
               'health_check_unhealthy_services': len(services.get('unhealthy') or [])}
    for d in pg.get('disk') or []:
        mount = _label(d.get('mount'))
        metrics[f'disk_free_ratio{{mount="{mount}"}}'] = round(_float(d.get('free_percent')) / 100, 4)
        if d.get('days_until_full') is not None:
            metrics[f'disk_days_until_full{{mount="{mount}"}}'] = d['days_until_full']
    sections = [{'title': 'Services', 'status': 'ok' if _bool(services.get('healthy', False)) else 'failed',
                 'lines': summary if summary is not None else ['no result']}]
    return {'sections': sections, 'metrics': metrics,
            'lines': list(summary or []) + pg_lines + verdict}


# ---- restore -------------------------------------------------------------------------------------

def restore_report(result, failure=None, check_mode=False):
    """Sections and metrics of playbooks/restore.yml from restore_result (the per-database
    results of runbook.maintenance.backup_restore); failure: the run's failure (None: none)."""
    if result is None:
        result = []
    if not isinstance(result, list):
        raise AnsibleFilterError(f'restore_report: expects a list, got {type(result).__name__}')
    items = {}
    for r in result:
        if not isinstance(r, dict):
            continue
        name = r.get('item')
        if r.get('failed', False):
            items[name] = 'FAILED: ' + _s(r.get('msg', 'unknown error'))
        elif check_mode:
            items[name] = f"would restore {_s(r.get('source', '?'))} into {_s(r.get('target_database', name))}"
        else:
            items[name] = (f"restored into {_s(r.get('target_database', name))} in {_s(r.get('duration_s'))}s (RTO), backup "
                           f"{_s(r.get('backup_age_s'))}s old (RPO), rows "
                           + ('verified' if r.get('rows_verified') else 'NOT verified'))
    done = [] if check_mode else [r for r in result if isinstance(r, dict) and r.get('failed') is not True]
    sections = [{'title': 'Databases',
                 'status': 'failed' if failure is not None else ('planned' if check_mode else 'restored'),
                 'items': items or {'-': 'no database restored'}}]
    metrics = {'restore_rto_seconds': max(r.get('duration_s') for r in done) if done else None,
               'restore_rpo_seconds': max(r.get('backup_age_s') for r in done) if done else None}
    return {'sections': sections, 'metrics': metrics}


# ---- connection issues ---------------------------------------------------------------------------

def _connection_counts(c) -> str:
    busy = ', '.join(f'{k} {v}' for k, v in (c.get('per_state') or {}).items() if v > 0)
    return (f"{_s(c.get('total'))} of {_s(c.get('max_connections'))} ({_s(c.get('used_percent'))}%, "
            f"{_s(c.get('connections_free'))} free); {busy}")


def connection_issues_report(result, check_mode=False, report_only=False, cancel_after='5m', idle_after='10m',
                             max_used_percent=90):
    """Sections, metrics and summary of playbooks/connection-issues.yml from connection_issues_result
    (the role keeps what it measured also when a step failed)."""
    res = _dict(result, 'connection_issues_report')
    dry = _bool(report_only) or bool(check_mode)
    before = res.get('before') or {}
    after = res.get('after') or {}
    cancel = res.get('cancel') or {}
    terminate = res.get('terminate') or {}
    if dry:
        room = 'would be ok' if _bool(res.get('room_ok')) else 'WOULD STAY FULL'
    else:
        room = 'ok' if _bool(res.get('room_ok', False)) else 'FULL'
    counts = {'before': _connection_counts(before), 'after': _connection_counts(after) if after else 'not measured',
              'wanted': f'at most {_s(max_used_percent)}% used'}
    if dry and 'after' in res:  # measured after the steps
        counts['if the terminations ran'] = f"{_s(res.get('projected_used_percent', '?'))}% used"

    def lines(step, step_result):
        done = {'cancel': 'cancelled', 'terminate': 'terminated'}[step]
        out = []
        for x in step_result.get('sessions') or []:
            taken = x.get('action_taken')
            if taken in ('none', 'would_cancel', 'would_terminate') and dry:
                taken = 'would be ' + done
            out.append(f"pid {_s(x.get('pid'))} {_s(x.get('user'))}@{_s(x.get('database'))} ({_s(x.get('application') or '-')}, "
                       f"{_s(x.get('client'))}) {_s(x.get('state'))} {int(round(_float(x.get('duration_s')), 0))}s: "
                       f"{_s(taken)} -- {_s(x.get('query'))}")
        return out

    sections = []
    if before:
        sections.append({'title': 'Connections', 'status': room, 'items': counts})
        if cancel.get('ran'):
            sections.append({'title': f'Runaway queries (active over {_s(cancel_after)})',
                             'lines': lines('cancel', cancel) or ['none']})
        if terminate.get('ran'):
            sections.append({'title': f'Idle in transaction (over {_s(idle_after)})',
                             'lines': lines('terminate', terminate) or ['none']})
    metrics = {}
    summary = ''
    if after:
        metrics = {'connections_used': after.get('total'), 'connections_max': after.get('max_connections'),
                   'connections_used_ratio': round(_float(after.get('used_percent')) / 100, 4),
                   'sessions_cancelled': cancel.get('signalled', 0),
                   'sessions_terminated': terminate.get('signalled', 0),
                   'connections_room_ok': _bool(res.get('room_ok', False))}
        would = 'would be ' if dry else ''
        summary = (f"connections {_s(before.get('used_percent'))}% -> {_s(after.get('used_percent'))}% of "
                   f"{_s(after.get('max_connections'))}" + (' (report only)' if dry else '') + ', '
                   f"{_s(cancel.get('candidates') if dry else cancel.get('signalled'))} queries {would}cancelled, "
                   f"{_s(terminate.get('candidates') if dry else terminate.get('signalled'))} sessions {would}terminated")
    return {'sections': sections, 'metrics': metrics, 'summary': summary}


# ---- the DR drill and the quarterly window ----------------------------------------------------------

def _failed_reasons(entries) -> list:
    out = []
    for d in entries or []:
        if not d.get('passed'):
            reasons = d.get('reasons')
            out.extend(reasons if isinstance(reasons, list) else [reasons])
    return out


def dr_drill_report(result, check_mode=False):
    """The section, metrics and failure of playbooks/dr-drill.yml from dr_drill_result (also the
    DR drill's part of the quarterly report)."""
    res = _dict(result, 'dr_drill_report')
    databases = res.get('databases') or []
    findings = res.get('findings') or []
    items = {'RPO judged against': res.get('rpo_basis')}
    for index, finding in enumerate(findings, 1):
        items[f'configuration finding {index}'] = finding
    for d in databases:
        reasons = d.get('reasons') or []
        items[d.get('database')] = (('passed' if d.get('passed') else 'FAILED') + f", RTO {_s(d.get('rto_s'))}s, RPO "
                                    f"{_s(d.get('rpo_s'))}s" + ((': ' + '; '.join(map(str, reasons))) if reasons else ''))
    section = {'title': f"DR drill (targets RTO {_s(res.get('rto_target_s'))}s, RPO {_s(res.get('rpo_target_s'))}s)",
               'status': 'ok' if res.get('passed') else 'failed', 'items': items}
    metrics = {'dr_drill_passed': res.get('passed'), 'dr_targets_findings': len(findings)}
    rtos = [d.get('rto_s') for d in databases if d.get('rto_s') is not None]
    rpos = [d.get('rpo_s') for d in databases if d.get('rpo_s') is not None]
    if rtos:
        metrics['dr_drill_rto_seconds'] = max(rtos)
    if rpos:
        metrics['dr_drill_rpo_seconds'] = max(rpos)
    failure = ''
    if not (res.get('passed') or check_mode):
        failure = 'DR drill failed: ' + ('; '.join(map(str, _failed_reasons(databases))) or 'no database was drilled')
    return {'section': section, 'sections': [section], 'metrics': metrics, 'failure': failure}


def pitr_drill_report(result, stanza=None, rto_target_s=None, rpo_target_s=None):
    """Sections, metrics and failure of playbooks/dr-pitr-drill.yml from pitr_drill_result (the
    targets default to the result's)."""
    res = _dict(result, 'pitr_drill_report')
    rto_target = res.get('rto_target_s') if rto_target_s is None else rto_target_s
    rpo_target = res.get('rpo_target_s') if rpo_target_s is None else rpo_target_s
    section = {'title': f'PITR drill (targets RTO {_s(rto_target)}s, RPO {_s(rpo_target)}s)',
               'status': 'ok' if res.get('passed') else 'failed',
               'items': {'stanza': res.get('stanza', '') if stanza is None else stanza, 'RTO': f"{_s(res.get('rto_s'))}s",
                         'RPO': f"{_s(res.get('rpo_s'))}s", 'target time': res.get('target_time'),
                         'recovery point': _s(res.get('recovery_point', ''))}}
    metrics = {'pitr_drill_passed': res.get('passed'), 'pitr_drill_rto_seconds': res.get('rto_s'),
               'pitr_drill_rpo_seconds': res.get('rpo_s')}
    failure = '' if res.get('passed') else 'PITR drill failed: ' + '; '.join(map(str, res.get('reasons') or []))
    return {'sections': [section], 'metrics': metrics, 'failure': failure}


def quarterly_report(results, pitr_expected=False, pitr_undrilled=False):
    """Sections, metrics and failure of playbooks/maintenance-quarterly.yml.

    results: {dr_drill (dr_drill_result, None when the drill did not finish), pitr_drill
    (pitr_drill_result, None when it did not run), security_audit_findings (list)};
    pitr_expected: the PITR drill was to run on this host (its failure fails the run);
    pitr_undrilled: the host is a pgBackRest host whose PITR drill is switched off (a finding).
    """
    res = _dict(results, 'quarterly_report')
    dr = res.get('dr_drill')
    pitr = res.get('pitr_drill')
    audit = list(res.get('security_audit_findings') or [])
    dr_report = dr_drill_report(dr) if dr is not None else None

    failure = []
    if not (dr or {}).get('passed', False):
        failure.append('DR drill: ' + ('; '.join(map(str, _failed_reasons((dr or {}).get('databases') or [])))
                                       or 'did not run'))
    if _bool(pitr_expected) and not (pitr or {}).get('passed', False):
        failure.append('PITR drill: ' + '; '.join(map(str, (pitr or {}).get('reasons', ['did not run']))))

    sections = [dr_report['section'] if dr_report else
                {'title': 'DR drill', 'status': 'failed', 'lines': ['the drill did not finish']}]
    if pitr is not None:
        sections.append({'title': f"PITR drill (targets RTO {_s(pitr.get('rto_target_s'))}s, RPO {_s(pitr.get('rpo_target_s'))}s)",
                         'status': 'ok' if pitr.get('passed') else 'failed',
                         'items': {'RTO': f"{_s(pitr.get('rto_s'))}s", 'RPO': f"{_s(pitr.get('rpo_s'))}s",
                                   'recovery point': _s(pitr.get('recovery_point', '')),
                                   'reasons': '; '.join(map(str, pitr.get('reasons') or [])) or 'none'}})
    findings = list((dr or {}).get('findings') or [])
    if _bool(pitr_undrilled):
        findings.append('the host is in the pgbackrest group but quarterly_pitr_drill is false: '
                        'its point-in-time recovery is never drilled')
    sections.append({'title': 'Recovery objectives (configuration)', 'status': 'findings' if findings else 'ok',
                     'lines': findings or ['the declared targets (dr_targets) are within what the backups of this host can meet']})
    sections.append({'title': 'Security audit', 'status': 'ok' if not audit else 'findings',
                     'lines': audit or ['no findings']})

    metrics = {'security_audit_findings': len(audit), 'dr_drill_passed': False}
    metrics.update(dr_report['metrics'] if dr_report else {})
    metrics['dr_targets_findings'] = len((dr or {}).get('findings') or [])
    if pitr is not None:
        metrics.update({'pitr_drill_passed': pitr.get('passed'), 'pitr_drill_rto_seconds': pitr.get('rto_s'),
                        'pitr_drill_rpo_seconds': pitr.get('rpo_s')})
    return {'sections': sections, 'metrics': metrics, 'failure': ' | '.join(failure)}


# ---- the daily pgBackRest job ----------------------------------------------------------------------

def pgbackrest_job_report(results, breaker='backups', retention=None, max_age='', max_wal_age='', failure='',
                          check_mode=False):
    """Sections and metrics of playbooks/pgbackrest-backup.yml.

    results: {verify (what runbook.maintenance.pgbackrest_verify returned), expire (what
    runbook.maintenance.pgbackrest_expire returned; skipped or missing: not run), breaker_check (the
    breaker's check before the retention; missing: not read)}.
    """
    res = _dict(results, 'pgbackrest_job_report')
    verify = res.get('verify') or {}
    found = verify.get('pgbackrest') or {}
    expire = res.get('expire') or {}
    check = res.get('breaker_check') or {}
    retention = retention or {}
    newest = found.get('newest_backup')
    wal = found.get('newest_wal')
    items = {
        'verify': found.get('verify_status', 'not run'),
        'newest backup': (f"{_s(newest.get('label'))} ({_s(newest.get('type'))}, {_s(newest.get('stopped'))}, "
                          f"{int(round(_float(verify.get('age_s', 0)), 0))}s old, limit {_s(max_age)})") if newest else 'none',
        'newest WAL': (f"{_s(wal.get('segment'))} archived {_s(wal.get('archived_at'))}, "
                       f"{int(round(_float(found.get('wal_age_s')), 0))}s ago (RPO {_s(max_wal_age)})") if wal else 'none',
        'WAL gaps': len(found.get('wal_gaps') or []),
    }
    sections = [{'title': 'Verification', 'status': 'ok' if verify.get('verified', False) else 'failed', 'items': items}]
    failures = list(verify.get('failures') or [])
    failures += [failure] if failure and not failures else []
    if failures:
        sections.append({'title': 'Failures', 'status': 'failed', 'lines': failures})
    if 'kept' in expire:
        lines = ['kept ' + ', '.join(_s(k.get('label')) for k in expire.get('kept') or []),
                 ('would expire ' if check_mode else 'expired ')
                 + (', '.join(_s(e.get('label')) for e in expire.get('expired') or []) or 'nothing')]
        if expire.get('blocked') is not None and expire.get('blocked'):
            lines.append(expire['blocked'])
    elif not check.get('allowed', True):
        lines = [f"skipped: the {_s(breaker)} breaker is open ({_s(check.get('reason', ''))})"]
    else:
        lines = ['skipped: the stanza did not verify']
    sections.append({'title': f"Retention ({_s(retention.get('daily'))} daily / {_s(retention.get('weekly'))} weekly / "
                              f"{_s(retention.get('monthly'))} monthly full sets)",
                     'status': 'ok' if 'kept' in expire else 'skipped', 'lines': lines})
    metrics = {'pgbackrest_verified': verify.get('verified', False)}
    if verify.get('age_s') is not None:
        metrics['pgbackrest_backup_age_seconds'] = verify['age_s']
    if found.get('wal_age_s') is not None:
        metrics['pgbackrest_wal_age_seconds'] = found['wal_age_s']
    if 'expired' in expire:
        metrics['pgbackrest_sets_expired'] = len(expire['expired'] or [])
    if 'allowed' in check:
        metrics[f'breaker_open{{breaker="{_s(breaker)}"}}'] = not check['allowed']
    return {'sections': sections, 'metrics': metrics}


# ---- DR: database failure -------------------------------------------------------------------------

def dr_database_report(result, missing=None, dump_interval='24h'):
    """Sections and metrics of playbooks/dr-database-failure.yml from dr_database_result
    (missing: the databases found missing; dump_interval: the dump schedule, as the report words it)."""
    r = _dict(result, 'dr_database_report')
    pitr = r.get('pitr') or {}
    method = r.get('method')
    verdict = f" (target {_int(r.get('rpo_target_s'))}s: {'met' if r.get('rpo_met') else 'MISSED'})"
    if method == 'pgbackrest':
        rpo = (f"{_s(r.get('rpo_s'))}s{verdict}: the failure at {_s(pitr.get('failure_time'))}, the newest WAL segment in the "
               f"repository ({_s(pitr.get('last_segment'))}) arrived at {_s(pitr.get('last_archived_at'))}; last transaction "
               f"replayed {_s(pitr.get('recovery_point') or 'unknown')}")
    elif _float(r.get('rpo_s')) < 0:
        rpo = 'no data lost (nothing restored)'
    elif r.get('pitr_host'):
        rpo = (f"{_s(r.get('rpo_s'))}s, the age of the dump restored{verdict}: the cluster was running, so a lost database "
               'came from its dump (replaying the WAL to its end would replay the loss); for the moment just before it, '
               'run dr-data-corruption.yml with pitr_target')
    else:
        rpo = (f"{_s(r.get('rpo_s'))}s, the age of the dump restored{verdict}. This host is dump-only: its RPO is bounded by "
               f"its dump schedule (every {_s(dump_interval)}); for 15 minutes put it into the pgbackrest group (WAL archiving "
               'and point-in-time recovery: playbooks/pgbackrest.yml, docs/pitr.md)')
    if method == 'pgbackrest':
        cluster = (f"restored to the end of the WAL archive (pgBackRest stanza {_s(pitr.get('stanza', ''))}), the failed "
                   f"data directory kept as {_s(pitr.get('previous_data', '-'))}")
    elif method == 'pgbackrest-unconfirmed':
        cluster = ('NOT restored: it does not start, and the restore to the end of the WAL archive needs '
                   '-e dr_database_pitr_confirm=true')
    else:
        cluster = 'answering (its own data directory)'
    services = r.get('services') or {}
    sections = [
        {'title': 'Recovery', 'status': 'ok' if r.get('recovered') else 'failed', 'items': {
            'missing': ', '.join(map(str, missing or [])) or 'none',
            'restored': ', '.join(map(str, r.get('restored') or [])) or 'nothing',
            'RTO': f"{_s(r.get('rto_s'))}s (target {_int(r.get('rto_target_s'))}s: {'met' if r.get('rto_met') else 'MISSED'})",
            'cluster': cluster, 'RPO': rpo}},
        {'title': 'Services', 'status': 'ok' if services.get('healthy', False) else 'failed',
         'items': {s.get('name'): _s(s.get('action', '')) for s in services.get('services') or []}},
    ]
    metrics = {'dr_database_rto_seconds': r.get('rto_s'), 'dr_database_rpo_seconds': r.get('rpo_s'),
               'dr_database_recovered': r.get('recovered'), 'dr_database_rpo_met': r.get('rpo_met'),
               'dr_database_rto_met': r.get('rto_met')}
    return {'sections': sections, 'metrics': metrics}


# ---- DR: data corruption (point-in-time restore) --------------------------------------------------

def verification_queries(register):
    """The verification queries of a restore from their registered loop (one psql run per query,
    item = {sql, name?, expect?, database?}): [{name, output, expect, ok}], ok when no expect is given
    or the trimmed output equals it."""
    out = []
    for r in _results(register):
        item = r.get('item') if isinstance(r.get('item'), dict) else {}
        output = str(r.get('stdout') or '').strip()
        expect = item.get('expect')
        out.append({'name': item.get('name') or item.get('sql'), 'output': output, 'expect': expect,
                    'ok': 'expect' not in item or expect is None or output == _s(expect)})
    return out


def pitr_restore_report(result, failure=None, target_type='', target='', scratch_port=''):
    """Sections and metrics of playbooks/dr-data-corruption.yml from pitr_restore_report (the
    restore's result; empty when it did not get that far); failure: the run's failure (None: none)."""
    rep = _dict(result, 'pitr_restore_report')
    swapped = rep.get('swapped', False)
    queries = rep.get('queries')
    if 'queries' in rep:
        verification = (('passed' if rep.get('verified') else 'FAILED') + ': '
                        + ('; '.join(f"{_s(q.get('name'))} = {_s(q.get('output'))}" for q in queries or []) or 'no query'))
    else:
        verification = 'not run'
    items = {
        'target': f'{_s(target_type)} {_s(target)}',
        'recovery point': rep.get('recovery_point', 'not reached'),
        'scratch instance': f"port {_s(scratch_port)}, {_s(rep.get('state', 'not started'))}",
        'restore': f"{_s(rep.get('restore_s', '-'))}s, ready after {_s(rep.get('ready_s', '-'))}s",
        'verification': verification,
        'swap': (f"live, timeline {_s(rep.get('timeline'))}, {_s(rep.get('total_s'))}s after the restore started; old data kept as "
                 f"{_s(rep.get('previous_data'))}") if swapped else 'not done (pitr_confirm_swap=true swaps a verified restore in)',
    }
    status = 'failed' if failure is not None else ('swapped in' if swapped else 'restored')
    return {'sections': [{'title': 'Point-in-time restore (target RTO 3 h)', 'status': status, 'items': items}],
            'metrics': {'pitr_restore_ready_seconds': rep.get('ready_s'), 'pitr_restore_verified': rep.get('verified', False),
                        'pitr_restore_swapped': swapped}}


# ---- DR: complete recovery ------------------------------------------------------------------------

def recovery_backups_used(artefacts, restored=None):
    """Every artefact a complete recovery used: the globals and files archives (complete_recovery_artefacts,
    {kind, artefact, created_at, age_s}) and each database's dump (complete_recovery_restored items with a
    source), as [{name, artefact, created_at, age_s}]."""
    out = [{'name': a.get('kind'), 'artefact': a.get('artefact'), 'created_at': a.get('created_at'), 'age_s': a.get('age_s')}
           for a in artefacts or [] if isinstance(a, dict)]
    out += [{'name': f"database {r.get('item')}", 'artefact': r['source'], 'created_at': r.get('backup_created_at'),
             'age_s': r.get('backup_age_s')}
            for r in restored or [] if isinstance(r, dict) and r.get('source')]
    return out


def complete_recovery_report(result, services=None, failure='', host='', check_mode=False):
    """Sections, metrics and summary of playbooks/dr-complete-recovery.yml from
    complete_recovery_result (services: complete_recovery_services_result)."""
    r = _dict(result, 'complete_recovery_report')
    services = services or {}
    steps = r.get('steps') or []
    rto_target = _int(r.get('rto_target_s'))
    if check_mode:
        rto = f'measured by a real run (target {rto_target}s)'
    else:
        rto = f"{_s(r.get('rto_s'))}s (target {rto_target}s: {'met' if r.get('rto_met') else 'MISSED'})"
    if _float(r.get('rpo_s')) >= 0:
        rpo = (f"{_s(r.get('rpo_s'))}s, the age of the oldest of the newest backups used (target {_int(r.get('rpo_target_s'))}s: "
               + ('met' if r.get('rpo_met') else
                  'MISSED - the backups are older than the target; dumps are daily, WAL archiving (pgBackRest) gives minutes')
               + ')')
    else:
        rpo = 'no backup used'
    used = {}
    for b in r.get('backups_used') or []:
        used[b.get('name')] = f"{_base(b.get('artefact'))}, made {_s(b.get('created_at'))} ({_s(b.get('age_s'))}s old)"
    sections = [
        {'title': 'Steps', 'status': 'failed' if failure else ('planned' if check_mode else 'ok'),
         'items': {x.get('step'): f"{_s(x.get('status'))}: {_s(x.get('detail'))}" for x in steps}},
        {'title': 'Objectives',
         'status': 'planned' if check_mode else ('ok' if r.get('rto_met') and r.get('rpo_met') else 'failed'),
         'items': {'RTO': rto, 'RPO': rpo}},
        {'title': 'Backups used', 'items': used or {'none': 'no backup found'}},
        {'title': 'Services', 'status': 'ok' if services.get('healthy', False) else ('planned' if check_mode else 'failed'),
         'items': {x.get('name'): _s(x.get('action', '')) for x in services.get('services') or []}},
    ]
    summary = (('plan for ' if check_mode else ('rebuilt ' if r.get('recovered') else 'FAILED to rebuild '))
               + f"{_s(host)} from {_s(r.get('source'))}" + ('' if check_mode else f" in {_s(r.get('rto_s'))}s"))
    metrics = {'dr_complete_recovery_rto_seconds': r.get('rto_s'), 'dr_complete_recovery_rpo_seconds': r.get('rpo_s'),
               'dr_complete_recovery_recovered': r.get('recovered'), 'dr_complete_recovery_rto_met': r.get('rto_met')}
    return {'sections': sections, 'metrics': metrics, 'summary': summary}


class FilterModule:
    def filters(self):
        return {
            'backup_result': backup_result,
            'backup_report': backup_report,
            'window_report': window_report,
            'checks_report_metrics': checks_report_metrics,
            'disk_emergency_report': disk_emergency_report,
            'health_check_report': health_check_report,
            'restore_report': restore_report,
            'connection_issues_report': connection_issues_report,
            'dr_drill_report': dr_drill_report,
            'quarterly_report': quarterly_report,
            'pitr_drill_report': pitr_drill_report,
            'pgbackrest_job_report': pgbackrest_job_report,
            'dr_database_report': dr_database_report,
            'pitr_restore_report': pitr_restore_report,
            'complete_recovery_report': complete_recovery_report,
            'verification_queries': verification_queries,
            'recovery_backups_used': recovery_backups_used,
        }
