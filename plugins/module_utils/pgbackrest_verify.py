# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks of a pgBackRest stanza, for runbook.maintenance.pgbackrest_verify (and, until it is
removed, the deprecated pgbackrest_stanza of runbook.maintenance.backup_verify, which runs this
same code): the repository verified by pgBackRest, the newest backup's age, the newest archived
WAL segment's age (the recovery point objective) and gaps in the archived WAL. Read-only.

The verdicts (check_repository, check_age, check_wal_age, check_wal_gaps) are pure functions of
pgBackRest's parsed output and the time; StanzaVerifier runs the commands and records them.
"""

from __future__ import annotations

import datetime
import os

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import (
    FUTURE_TOLERANCE_S,
    CheckFailed,
    human_duration,
    utc_now,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.pgbackrest import (
    STANZA_RE,
    BackupSet,
    PgBackRestError,
    StanzaInfo,
    archived_segments,
    find_pgbackrest,
    newest_segment,
    parse_info,
    parse_verify,
    pgbackrest_argv,
    pitr_gaps,
    segments_per_log,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.pgclient import one_line
from ansible_collections.runbook.maintenance.plugins.module_utils.sizes import check_size
from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import check_duration

PGBACKREST_CHECKS = ('repository', 'age', 'wal_age', 'wal_gaps')
STAMP = '%Y-%m-%dT%H:%M:%SZ'


def new_result(stanza: str) -> dict:
    """The result before any check ran: the keys every run returns."""
    return {
        'changed': False, 'verified': False, 'artefact': f'pgbackrest stanza {stanza}', 'checks': {},
        'failures': [], 'age_s': None,
        'pgbackrest': {'stanza': stanza, 'status': None, 'newest_backup': None, 'backups': [],
                       'archive_id': None, 'newest_wal': None, 'wal_age_s': None, 'wal_gaps': [],
                       'unrestorable_backups': {}, 'verify_status': None, 'invalid_backups': []},
    }


def describe_backups(backups: list[BackupSet]) -> list[dict]:
    """Every backup, oldest first, as the result returns them."""
    return [{'label': b.label, 'type': b.type, 'stopped': b.stopped.strftime(STAMP),
             'archive_start': b.archive_start, 'archive_stop': b.archive_stop, 'error': b.error}
            for b in sorted(backups, key=lambda b: b.stopped)]


# ---- the verdicts (pure) -------------------------------------------------------------------------
def check_repository(result: dict, report: dict) -> str:
    """``report``: parse_verify() of ``pgbackrest verify``; any invalid backup or WAL fails."""
    data = result['pgbackrest']
    data['verify_status'] = report['status']
    data['invalid_backups'] = sorted(label for label, status in report['backups'].items() if status != 'valid')
    wal = sum(item['checked'] for item in report['archives'].values())
    if report['status'] != 'ok' or report['problems']:
        raise CheckFailed(f"pgbackrest verify found the repository in error: {'; '.join(report['problems'][:5]) or report['status']}")
    return f"pgbackrest verify: {len(report['backups'])} backups valid, {wal} WAL segments checked"


def check_age(result: dict, info: StanzaInfo, now: datetime.datetime, max_age: float | None, max_age_text) -> str:
    """The newest backup (full, diff or incr) ended less than ``max_age`` seconds before ``now``."""
    newest = info.newest()
    if newest is None:
        raise CheckFailed(f'stanza {info.name} holds no backup ({info.status_message})')
    age = (now - newest.stopped).total_seconds()
    result['age_s'] = round(age, 1)
    when = newest.stopped.strftime(STAMP)
    result['pgbackrest']['newest_backup'] = {'label': newest.label, 'type': newest.type, 'stopped': when}
    if age < -FUTURE_TOLERANCE_S:
        raise CheckFailed(f'the newest backup {newest.label} ended {when}, {human_duration(-age)} in the future: '
                          'a wrong clock on the backup host or here?')
    if max_age is not None and age > max_age:
        raise CheckFailed(f"the newest backup {newest.label} ({newest.type}) is {human_duration(age)} old "
                          f"(ended {when}), older than max_age {max_age_text}")
    limit = f', max_age {max_age_text}' if max_age is not None else ', no max_age'
    return f'newest backup {newest.label} ({newest.type}) {human_duration(max(age, 0))} old (ended {when}){limit}'


def check_wal_age(result: dict, segments: dict, now: datetime.datetime, max_wal_age: float | None,
                  max_wal_age_text) -> str:
    """The newest archived WAL segment reached the repository less than ``max_wal_age`` seconds
    before ``now``: the recovery point objective."""
    newest = newest_segment(segments)
    if newest is None:
        raise CheckFailed('no WAL segment is archived: is archive_command set and archive_mode on?')
    name, when = newest
    age = (now - when).total_seconds()
    data = result['pgbackrest']
    data['newest_wal'] = {'segment': name, 'archived_at': when.strftime(STAMP)}
    data['wal_age_s'] = round(age, 1)
    if max_wal_age is not None and age > max_wal_age:
        raise CheckFailed(f"the newest archived WAL segment {name} reached the repository {human_duration(age)} ago, "
                          f"more than max_wal_age {max_wal_age_text} (the RPO): archiving is stuck, "
                          'or archive_timeout is not set on a quiet database')
    limit = f', max_wal_age {max_wal_age_text}' if max_wal_age is not None else ', no max_wal_age'
    return f'newest archived WAL segment {name} archived {human_duration(max(age, 0))} ago{limit}'


def check_wal_gaps(result: dict, info: StanzaInfo, segments: dict, segment_size: int) -> str:
    """Every backup's own WAL is archived, and every segment from the newest full backup's first
    to the newest archived one (pgbackrest verify reports neither)."""
    try:
        found = pitr_gaps(info.backups, segments, segment_size)
    except ValueError as exc:
        raise CheckFailed(f'cannot number the WAL segments: {exc}') from None
    data = result['pgbackrest']
    data['wal_gaps'] = found['gaps']
    data['unrestorable_backups'] = found['unrestorable']
    problems = []
    for label, missing in sorted(found['unrestorable'].items()):
        more = f' (and {len(missing) - 3} more)' if len(missing) > 3 else ''
        problems.append(f"backup {label} cannot be restored, WAL it needs is missing: {', '.join(missing[:3])}{more}")
    for gap in found['gaps'][:5]:
        span = gap['first'] if gap['count'] == 1 else f"{gap['first']}..{gap['last']}"
        problems.append(f"{gap['count']} segment(s) missing since the newest full backup: {span} "
                        '(no point-in-time recovery across it)')
    if problems:
        raise CheckFailed('WAL gap(s): ' + '; '.join(problems))
    if found['since'] is None:
        return f'no full backup to start from; {len(segments)} segments archived'
    return (f"every backup has its WAL; no gap from the newest full backup's first segment {found['since']} "
            f"to the newest archived ({len(segments)} segments in the archive)")


def finish(result: dict) -> dict:
    """verified, failures and msg from the checks recorded."""
    checks = result['checks']
    failures = [f"{name}: {check['detail']}" for name, check in checks.items() if check['ok'] is False]
    result['failures'] = failures
    result['verified'] = not failures
    artefact = result['artefact']
    if failures:
        result['msg'] = (f"{artefact}: {len(failures)} check(s) failed "
                         f"({', '.join(name for name, check in checks.items() if check['ok'] is False)}): "
                         + '; '.join(failures))
    else:
        result['msg'] = f"{artefact} verified: {', '.join(checks)}"
    return result


# ---- options -------------------------------------------------------------------------------------
def option_errors(params: dict, stanza_option: str = 'stanza', config_option: str = 'config') -> tuple[list[str], dict]:
    """(problems, settings): the stanza's options checked, each problem naming its option;
    settings holds max_age and max_wal_age in seconds (None: unbounded) and segment_size in bytes."""
    errors = []
    settings: dict = {'max_age': None, 'max_wal_age': None, 'segment_size': None}
    stanza = params[stanza_option]
    if not STANZA_RE.match(stanza or ''):
        errors.append(f"{stanza_option} must be letters, digits, '_', '.' or '-', got {stanza!r}")
    for key in ('max_age', 'max_wal_age'):
        if params[key] not in (None, ''):
            try:
                settings[key] = check_duration(key, params[key], allow_zero=True)  # 0: strictest, not unbounded
            except ValueError as exc:
                errors.append(str(exc))
    try:
        settings['segment_size'] = check_size('wal_segment_size', params['wal_segment_size'], allow_zero=False)
        segments_per_log(settings['segment_size'])
    except ValueError as exc:
        errors.append(str(exc) if str(exc).startswith('wal_segment_size') else f'wal_segment_size: {exc}')
    if not params['checks']:
        errors.append('checks cannot be empty')
    wrong = sorted(set(params['checks'] or []) - set(PGBACKREST_CHECKS))
    if wrong:
        errors.append(f"checks {', '.join(wrong)} apply to a backup artefact, a pgBackRest stanza takes "
                      f"{', '.join(PGBACKREST_CHECKS)}")
    config = params[config_option]
    if config and not os.path.isfile(config):
        errors.append(f'{config_option} {config} is not a file')
    return errors, settings


# ---- the run -------------------------------------------------------------------------------------
class StanzaVerifier:
    """Runs the requested checks on one stanza with the module's options (named ``stanza_option``
    and ``config_option``: C(stanza)/C(config) in pgbackrest_verify, C(pgbackrest_stanza)/
    C(pgbackrest_config) in backup_verify); ``extra`` are keys added to every result."""

    def __init__(self, module, stanza_option: str = 'stanza', config_option: str = 'config',
                 extra: dict | None = None) -> None:
        self.module = module
        self.params = module.params
        self.stanza = self.params[stanza_option]
        self.config = self.params[config_option]
        self.result = new_result(self.stanza)
        self.result.update(extra or {})
        errors, self.settings = option_errors(self.params, stanza_option, config_option)
        if errors:
            module.fail_json(msg='Invalid options: ' + '; '.join(errors))
        self.requested = [name for name in PGBACKREST_CHECKS if name in self.params['checks']]
        self.info = None
        self._segments = None
        self._binary = None

    def binary(self) -> str:
        if self._binary is None:
            self._binary = find_pgbackrest(self.module, self.params['pgbackrest_bin'])
            if not self._binary:
                self.module.fail_json(msg='pgbackrest not found on the PATH: install pgBackRest or set pgbackrest_bin',
                                      **self.result)
        return self._binary

    def pgbackrest(self, *args: str) -> str:
        """stdout of one read-only pgBackRest command (no log file written)."""
        argv = pgbackrest_argv(self.binary(), self.stanza, self.config, args)
        rc, out, err = self.module.run_command(argv, expand_user_and_vars=False)
        if rc != 0:
            raise CheckFailed(f"pgbackrest {args[0]} failed (exit {rc}): {one_line(err or out)[:500] or 'no message'}")
        return out

    def load_info(self) -> StanzaInfo:
        if self.info is None:
            try:
                self.info = parse_info(self.pgbackrest('info', '--output=json'), self.stanza)
            except PgBackRestError as exc:
                raise CheckFailed(str(exc)) from None
            data = self.result['pgbackrest']
            data['status'] = self.info.status_message
            data['backups'] = describe_backups(self.info.backups)
            archive = self.info.current_archive()
            data['archive_id'] = archive['id'] if archive else None
        return self.info

    def segments(self) -> dict:
        if self._segments is None:
            info = self.load_info()
            archive = info.current_archive()
            if archive is None:
                raise CheckFailed(f'no WAL archived in stanza {info.name} ({info.status_message})')
            listing = self.pgbackrest('repo-ls', '--output=json', '--recurse', f"archive/{info.name}/{archive['id']}")
            try:
                self._segments = archived_segments(listing)
            except PgBackRestError as exc:
                raise CheckFailed(str(exc)) from None
        return self._segments

    def run_check(self, name: str) -> str:
        result, p = self.result, self.params
        if name == 'repository':
            try:
                report = parse_verify(self.pgbackrest('verify', '--output=text', '--verbose'))
            except PgBackRestError as exc:
                raise CheckFailed(str(exc)) from None
            return check_repository(result, report)
        if name == 'age':
            return check_age(result, self.load_info(), utc_now(), self.settings['max_age'], p['max_age'])
        if name == 'wal_age':
            return check_wal_age(result, self.segments(), utc_now(), self.settings['max_wal_age'], p['max_wal_age'])
        return check_wal_gaps(result, self.load_info(), self.segments(), self.settings['segment_size'])

    def verify(self) -> dict:
        for name in self.requested:
            try:
                detail = self.run_check(name)
            except CheckFailed as exc:
                self.result['checks'][name] = {'ok': False, 'detail': str(exc)}
            else:
                self.result['checks'][name] = {'ok': True, 'detail': detail}
        return finish(self.result)
