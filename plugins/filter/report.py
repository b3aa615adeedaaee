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
        for r in _results(register):
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


class FilterModule:
    def filters(self):
        return {
            'backup_result': backup_result,
            'backup_report': backup_report,
            'window_report': window_report,
            'checks_report_metrics': checks_report_metrics,
        }
