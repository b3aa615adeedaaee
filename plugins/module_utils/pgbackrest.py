# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""pgBackRest output read as data: pure functions, unit-tested on captured output of pgBackRest 2.45.

- ``info --output=json``: the stanza's backup sets, their WAL range, the archive min/max;
- ``verify --output=text --verbose``: the verdict per backup and per archive id (pgBackRest exits 0
  even when it finds corrupt files, so the text is what tells);
- ``repo-ls --output=json --recurse archive/<stanza>``: every archived WAL segment with the time
  it reached the repository, the only way to tell the newest archived segment's age and to find
  gaps (``info`` only reports the min and max segment);
- the GFS plan of which full sets to expire, on top of ``retention.plan_retention``.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass, field

from ansible_collections.runbook.maintenance.plugins.module_utils.retention import Backup, Decision, plan_retention

# 24 hex digits (timeline, log, segment), then the checksum pgBackRest appends, then the compression.
SEGMENT_RE = re.compile(r'^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(?:-[0-9a-f]{40})?(?:\.(?:gz|lz4|zst|bz2|xz))?$')
LABEL_RE = re.compile(r'^\d{8}-\d{6}F(?:_\d{8}-\d{6}[DI])?$')
STANZA_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$')
DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024


# Read-only commands: no log file (a root-owned log would stop the repository owner's own runs),
# console output off so stdout is the command's output alone.
QUIET_OPTIONS = ('--log-level-file=off', '--log-level-console=off', '--log-level-stderr=error')


class PgBackRestError(ValueError):
    """pgBackRest's output cannot be read as expected."""


def pgbackrest_argv(binary: str, stanza: str, config: str | None, args, quiet: bool = True) -> list[str]:
    """The command line of one pgBackRest command on a stanza (the options the modules share:
    stanza, config, pgbackrest_bin); ``quiet`` for the read-only ones (QUIET_OPTIONS)."""
    argv = [binary, f'--stanza={stanza}']
    if quiet:
        argv.extend(QUIET_OPTIONS)
    if config:
        argv.append(f'--config={config}')
    argv.extend(args)
    return argv


def find_pgbackrest(module, pgbackrest_bin: str | None) -> str | None:
    """pgbackrest_bin, else pgbackrest on the PATH (None when there is none)."""
    return pgbackrest_bin or module.get_bin_path('pgbackrest')


@dataclass(frozen=True)
class BackupSet:
    label: str
    type: str                      # full, diff, incr
    started: datetime.datetime
    stopped: datetime.datetime
    archive_start: str | None
    archive_stop: str | None
    prior: str | None = None
    references: tuple = ()
    error: bool = False            # pgBackRest saw page checksum errors while backing up

    @property
    def full_label(self) -> str:
        """The label of the full backup this one depends on (itself for a full)."""
        return self.label.split('_', 1)[0]


@dataclass
class StanzaInfo:
    name: str
    status_code: int
    status_message: str
    backups: list[BackupSet] = field(default_factory=list)
    archives: list[dict] = field(default_factory=list)   # {id, min, max}
    cipher: str = 'none'

    @property
    def ok(self) -> bool:
        return self.status_code == 0

    def newest(self) -> BackupSet | None:
        return max(self.backups, key=lambda b: (b.stopped, b.label)) if self.backups else None

    def current_archive(self) -> dict | None:
        """The archive id of the current database (the last listed, as pgBackRest orders them)."""
        return self.archives[-1] if self.archives else None


def _time(value, what: str) -> datetime.datetime:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise PgBackRestError(f'{what} is not an epoch timestamp: {value!r}')
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)


def parse_info(data, stanza: str) -> StanzaInfo:
    """The stanza's part of ``pgbackrest info --output=json`` (text or already decoded)."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise PgBackRestError(f'pgbackrest info did not print JSON: {exc}') from None
    if not isinstance(data, list):
        raise PgBackRestError('pgbackrest info --output=json did not print a list of stanzas')
    entry = next((item for item in data if isinstance(item, dict) and item.get('name') == stanza), None)
    if entry is None:
        raise PgBackRestError(f'pgbackrest info knows no stanza {stanza!r}')
    status = entry.get('status') or {}
    info = StanzaInfo(name=stanza, status_code=int(status.get('code', -1)),
                      status_message=str(status.get('message', 'no status')), cipher=str(entry.get('cipher', 'none')))
    for archive in entry.get('archive') or []:
        info.archives.append({'id': archive.get('id'), 'min': archive.get('min'), 'max': archive.get('max')})
    for item in entry.get('backup') or []:
        try:
            label = item['label']
            stamps = item['timestamp']
            archive = item.get('archive') or {}
            info.backups.append(BackupSet(
                label=label, type=item['type'],
                started=_time(stamps['start'], f'backup {label} start'),
                stopped=_time(stamps['stop'], f'backup {label} stop'),
                archive_start=archive.get('start'), archive_stop=archive.get('stop'),
                prior=item.get('prior'), references=tuple(item.get('reference') or ()),
                error=bool(item.get('error'))))
        except (KeyError, TypeError) as exc:
            raise PgBackRestError(f'a backup entry of pgbackrest info lacks {exc}') from None
    return info


# ---- verify ------------------------------------------------------------------------------------
VERIFY_BACKUP_RE = re.compile(r'^\s*backup: (\S+), status: ([a-z ]+?)(?:,|$)')
VERIFY_ARCHIVE_RE = re.compile(r'^\s*archiveId: (\S+), total WAL checked: (\d+), total valid WAL: (\d+)')
VERIFY_COUNTS_RE = re.compile(r'^\s+((?:missing|checksum invalid|size invalid|other): \d+.*)$')


def parse_verify(text: str) -> dict:
    """``pgbackrest verify --output=text --verbose``: overall status, status of each backup,
    WAL checked per archive id, and one line per problem found."""
    result: dict = {'status': None, 'backups': {}, 'archives': {}, 'problems': []}
    current = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith('status: ') and current is None:
            result['status'] = stripped[len('status: '):].strip()
            continue
        match = VERIFY_BACKUP_RE.match(line)
        if match:
            current = ('backup', match.group(1))
            result['backups'][match.group(1)] = match.group(2).strip()
            continue
        match = VERIFY_ARCHIVE_RE.match(line)
        if match:
            current = ('archive', match.group(1))
            checked, valid = int(match.group(2)), int(match.group(3))
            result['archives'][match.group(1)] = {'checked': checked, 'valid': valid}
            if valid < checked:
                result['problems'].append(f'archive {match.group(1)}: {checked - valid} of {checked} WAL segments invalid')
            continue
        match = VERIFY_COUNTS_RE.match(line)
        if match and current:
            bad = [part.strip() for part in match.group(1).split(',') if part.strip() and not part.strip().endswith(': 0')]
            if bad:
                result['problems'].append(f"{current[0]} {current[1]}: {', '.join(bad)}")
    if result['status'] is None:
        raise PgBackRestError('pgbackrest verify printed no status line')
    for label, status in result['backups'].items():
        if status != 'valid' and not any(problem.startswith(f'backup {label}:') for problem in result['problems']):
            result['problems'].append(f'backup {label}: {status}')
    return result


# ---- WAL segments ------------------------------------------------------------------------------
def segment_parts(name: str) -> tuple[int, int, int] | None:
    """(timeline, log, segment) of a WAL segment file name as archived, None for anything else
    (history files, .backup labels, .partial segments)."""
    match = SEGMENT_RE.match(name.rsplit('/', 1)[-1])
    if not match:
        return None
    return int(match.group(1), 16), int(match.group(2), 16), int(match.group(3), 16)


def segments_per_log(segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    if segment_size <= 0 or segment_size & (segment_size - 1):
        raise ValueError(f'a WAL segment size is a power of two, got {segment_size}')
    return 0x100000000 // segment_size


def segment_number(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> tuple[int, int]:
    """(timeline, position of the segment on it)."""
    parts = segment_parts(name)
    if parts is None:
        raise ValueError(f'not a WAL segment name: {name!r}')
    timeline, log, seg = parts
    return timeline, log * segments_per_log(segment_size) + seg


def segment_name(timeline: int, number: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> str:
    per = segments_per_log(segment_size)
    return f'{timeline:08X}{number // per:08X}{number % per:08X}'


def archived_segments(data, archive_id: str | None = None) -> dict[str, datetime.datetime]:
    """Segment name (24 characters) -> when it reached the repository, from
    ``repo-ls --output=json --recurse archive/<stanza>`` (or of one archive id's listing)."""
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError as exc:
            raise PgBackRestError(f'pgbackrest repo-ls did not print JSON: {exc}') from None
    if not isinstance(data, dict):
        raise PgBackRestError('pgbackrest repo-ls --output=json did not print an object')
    found: dict[str, datetime.datetime] = {}
    for path, entry in data.items():
        if not isinstance(entry, dict) or entry.get('type') != 'file':
            continue
        if archive_id and '/' in path and not path.startswith(f'{archive_id}/'):
            continue
        base = path.rsplit('/', 1)[-1]
        if segment_parts(base) is None or 'time' not in entry:
            continue
        name = base[:24]
        when = _time(entry['time'], f'archived segment {name}')
        if name not in found or when > found[name]:
            found[name] = when
    return found


def newest_segment(segments: dict[str, datetime.datetime]) -> tuple[str, datetime.datetime] | None:
    """The highest segment archived (timeline first), with its arrival time."""
    if not segments:
        return None
    name = max(segments, key=lambda n: (segment_parts(n), segments[n]))
    return name, segments[name]


def wal_gaps(segments, start: str | None, segment_size: int = DEFAULT_SEGMENT_SIZE) -> list[dict]:
    """Missing segments from ``start`` (a backup's first segment) to the newest archived one.

    On the timeline of ``start`` every segment from it to the last archived on that timeline must
    be there; a later timeline (after a promotion) is checked from its first archived segment to
    its last. Each gap is ``{first, last, count}`` (segment names)."""
    names = [name for name in segments if segment_parts(name) is not None]
    by_timeline: dict[int, list[int]] = {}
    for name in names:
        timeline, number = segment_number(name, segment_size)
        by_timeline.setdefault(timeline, []).append(number)
    start_tli, start_number = segment_number(start, segment_size) if start else (None, None)
    gaps = []
    for timeline in sorted(by_timeline):
        if start_tli is not None and timeline < start_tli:
            continue
        present = set(by_timeline[timeline])
        first = start_number if timeline == start_tli else min(present)
        last = max(present)
        missing_from = None
        for number in range(first, last + 2):
            missing = number <= last and number not in present
            if missing and missing_from is None:
                missing_from = number
            elif not missing and missing_from is not None:
                gaps.append({'first': segment_name(timeline, missing_from, segment_size),
                             'last': segment_name(timeline, number - 1, segment_size),
                             'count': number - missing_from})
                missing_from = None
    return gaps


def missing_between(segments, first: str, last: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> list[str]:
    """Segments from ``first`` to ``last`` (one timeline) not archived."""
    timeline, start = segment_number(first, segment_size)
    end_timeline, end = segment_number(last, segment_size)
    if end_timeline != timeline:
        raise ValueError(f'{first} and {last} are on different timelines')
    present = {segment_number(name, segment_size)[1] for name in segments
               if segment_parts(name) is not None and segment_parts(name)[0] == timeline}
    return [segment_name(timeline, number, segment_size) for number in range(start, end + 1) if number not in present]


def pitr_gaps(backups: list[BackupSet], segments, segment_size: int = DEFAULT_SEGMENT_SIZE) -> dict:
    """The gaps that matter: every backup needs its own WAL (archive start to stop) to be
    consistent, and point-in-time recovery from the newest full backup to the newest archived
    segment needs every segment in between. WAL between older full backups may be expired on
    purpose (repo1-retention-archive) and is not looked at.

    Returns ``{'unrestorable': {label: [missing segments]}, 'gaps': [...], 'since': segment}``."""
    unrestorable = {}
    for backup in backups:
        if backup.archive_start and backup.archive_stop:
            missing = missing_between(segments, backup.archive_start, backup.archive_stop, segment_size)
            if missing:
                unrestorable[backup.label] = missing
    fulls = [b for b in backups if b.type == 'full' and b.archive_start]
    since = max(fulls, key=lambda b: (b.stopped, b.label)).archive_start if fulls else None
    return {'unrestorable': unrestorable, 'gaps': wal_gaps(segments, since, segment_size) if since else [],
            'since': since}


# ---- retention ---------------------------------------------------------------------------------
def set_verdicts(backups: list[BackupSet], verify: dict | None) -> dict[str, bool | None]:
    """Per full set: True when every backup of the set verified valid, False when one did not (or
    pgBackRest flagged it with an error), None when no verification covers it."""
    verdicts: dict[str, bool | None] = {}
    statuses = (verify or {}).get('backups', {})
    for backup in sorted(backups, key=lambda b: b.stopped):
        key = backup.full_label
        if backup.error:
            ok = False
        elif backup.label in statuses:
            ok = statuses[backup.label] == 'valid'
        else:
            ok = None
        previous = verdicts.get(key, True) if key in verdicts else True
        if ok is False or previous is False:
            verdicts[key] = False
        elif ok is None or previous is None:
            verdicts[key] = None
        else:
            verdicts[key] = True
    return verdicts


def plan_expire(backups: list[BackupSet], verdicts: dict[str, bool | None], daily: int = 7, weekly: int = 4,
                monthly: int = 12, latest_verified: bool | None = None) -> Decision:
    """Which full sets to keep and which to ``expire --set``: the GFS plan over the full sets, each
    dated by the newest backup it holds (the newest restorable point of that set).

    ``latest_verified`` overrides the newest set's verdict (the result of the caller's own
    verification). Diff and incr backups go with their full set and are never planned alone."""
    sets: dict[str, datetime.datetime] = {}
    for backup in backups:
        key = backup.full_label
        if key not in sets or backup.stopped > sets[key]:
            sets[key] = backup.stopped
    if not any(b.type == 'full' for b in backups):
        return Decision({}, {})
    fulls = {b.label for b in backups if b.type == 'full'}
    entries = [Backup(label, stopped, verdicts.get(label)) for label, stopped in sets.items() if label in fulls]
    if latest_verified is not None and entries:
        newest = max(entries, key=lambda b: (b.created_at, b.id))
        entries = [Backup(b.id, b.created_at, latest_verified) if b is newest else b for b in entries]
    return plan_retention(entries, daily, weekly, monthly)


def dependants(backups: list[BackupSet], full_label: str) -> list[str]:
    """The diff and incr backups that go with a full set."""
    return sorted(b.label for b in backups if b.full_label == full_label and b.label != full_label)
