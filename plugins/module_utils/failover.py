# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failover to a streaming standby: pure logic (WAL positions, the data the standby never received,
PgBouncer's [databases] rewritten to the new primary, the go / no-go verdict)."""

from __future__ import annotations

import datetime
import re

_LSN_RE = re.compile(r'\b([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})\b')
# pg_waldump -r Transaction: "... lsn: 0/03004508, prev 0/030044C8, desc: COMMIT 2026-12-07 01:24:06.358906 UTC"
_COMMIT_RE = re.compile(
    r'\blsn:\s*([0-9A-Fa-f]+/[0-9A-Fa-f]+),.*\bdesc:\s*COMMIT(?:_PREPARED)?\s+'
    r'(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(UTC|[+-]\d{2}(?::?\d{2})?)?')


def lsn_to_int(lsn) -> int:
    """'16/B374D848' -> byte position. Raises ValueError on anything else."""
    match = re.fullmatch(r'\s*([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})\s*', str(lsn or ''))
    if not match:
        raise ValueError(f'not a WAL position (LSN): {lsn!r}')
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def lsn_diff(newer, older) -> int:
    """Bytes from older to newer (negative when newer is behind)."""
    return lsn_to_int(newer) - lsn_to_int(older)


def _epoch(stamp: str, zone: str | None) -> float:
    when = datetime.datetime.fromisoformat(stamp.replace(' ', 'T'))
    if zone and zone != 'UTC':
        sign = 1 if zone[0] == '+' else -1
        digits = zone[1:].replace(':', '')
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        return when.replace(tzinfo=datetime.timezone(sign * offset)).timestamp()
    return when.replace(tzinfo=datetime.timezone.utc).timestamp()


def parse_waldump(stdout: str, stderr: str, start_lsn: str) -> dict:
    """What pg_waldump -r Transaction -s START found in a stopped server's pg_wal.

    pg_waldump reads records until the end of valid WAL and then stops with an error naming the
    position it could not read ("invalid record length at 0/30045E0", "could not find a valid
    record after 0/3004480"): that position is the end of the WAL the server wrote. The COMMIT
    records it printed are the transactions after START (run with TZ=UTC).
    Returns end_lsn (None when stderr names no position), lost_bytes from start_lsn, and the
    commits: count, first and last as epoch seconds.
    """
    lsn_to_int(start_lsn)  # validated first: a wrong start makes every figure wrong
    commits = []
    for line in (stdout or '').splitlines():
        match = _COMMIT_RE.search(line)
        if match:
            commits.append({'lsn': match.group(1), 'epoch': _epoch(match.group(2), match.group(3))})
    positions = _LSN_RE.findall(stderr or '')
    end_lsn = None
    if positions:
        end_lsn = '%X/%X' % (int(positions[-1][0], 16), int(positions[-1][1], 16))
    lost_bytes = None
    if end_lsn is not None:
        lost_bytes = max(0, lsn_diff(end_lsn, start_lsn))
    return {
        'start_lsn': start_lsn,
        'end_lsn': end_lsn,
        'lost_bytes': lost_bytes,
        'commits': len(commits),
        'first_commit_epoch': commits[0]['epoch'] if commits else None,
        'last_commit_epoch': commits[-1]['epoch'] if commits else None,
    }


# ---- PgBouncer ------------------------------------------------------------------------------

_SECTION_RE = re.compile(r'^\s*\[([^\]]+)\]\s*$')
_ENTRY_RE = re.compile(r'^(\s*)([^=;#\s][^=]*?)(\s*=\s*)(.*?)(\s*)$')
_PARAM_RE = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.|'')*'|\S+)")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'").replace("\\'", "'")
    return value


def _quote(value: str) -> str:
    if re.fullmatch(r"[^\s'\\]+", value):
        return value
    return "'" + value.replace("'", "''") + "'"


def _set_param(connstr: str, key: str, value: str) -> str:
    rendered = f'{key}={_quote(value)}'
    pattern = re.compile(r"(?<![\w])" + key + r"\s*=\s*('(?:[^'\\]|\\.|'')*'|\S+)")
    if pattern.search(connstr):
        return pattern.sub(lambda _m: rendered, connstr, count=1)
    return f'{connstr} {rendered}'.strip()


def pgbouncer_repoint(ini_text: str, old_host: str, old_port, new_host: str, new_port) -> dict:
    """Point every [databases] entry of a pgbouncer.ini that names the old primary (host and port,
    port 5432 when not written) at the new primary. Comments, order and everything else are kept.

    Returns text (the new file), changed (aliases rewritten), already (aliases pointing at the new
    primary already) and other (aliases pointing elsewhere, left alone).
    """
    old_port, new_port = str(old_port), str(new_port)
    lines = (ini_text or '').splitlines(keepends=True)
    section = None
    changed, already, other = [], [], []
    out = []
    for line in lines:
        header = _SECTION_RE.match(line)
        if header:
            section = header.group(1).strip().lower()
            out.append(line)
            continue
        entry = _ENTRY_RE.match(line.rstrip('\r\n'))
        if section != 'databases' or not entry or line.lstrip().startswith((';', '#')):
            out.append(line)
            continue
        indent, alias, sep, connstr, trailing = entry.groups()
        params = {k.lower(): _unquote(v) for k, v in _PARAM_RE.findall(connstr)}
        host, port = params.get('host', ''), params.get('port', '5432')
        if host == new_host and port == new_port:
            already.append(alias)
            out.append(line)
        elif host == old_host and port == old_port:
            rewritten = _set_param(_set_param(connstr, 'host', new_host), 'port', new_port)
            ending = line[len(line.rstrip('\r\n')):]
            out.append(f'{indent}{alias}{sep}{rewritten}{trailing}{ending}')
            changed.append(alias)
        else:
            other.append(alias)
            out.append(line)
    return {'text': ''.join(out), 'changed': changed, 'already': already, 'other': other}


# ---- go / no-go -----------------------------------------------------------------------------

def failover_verdict(standby: dict, primary: dict, loss: dict, rpo_s: float, force: bool = False) -> dict:
    """Decide whether the standby may be promoted.

    standby: answers (bool), in_recovery (bool), receiver_status (str or None), error (str)
    primary: state - up (a primary that answers), recovery (answers, in recovery), down (its host
             answers, PostgreSQL does not run), unreachable (the host does not answer)
    loss:    bytes and seconds the standby has not received (None: unknown)

    Returns go (bool), already_promoted (bool), blockers (refused even with force), reasons
    (refused unless forced), warnings, forced (bool: go only because of force).
    """
    blockers, reasons, warnings = [], [], []
    already = False
    state = primary.get('state')
    if not standby.get('answers'):
        blockers.append('the standby does not answer: %s' % (standby.get('error') or 'no connection'))
    elif not standby.get('in_recovery'):
        if state in ('up', 'recovery'):
            blockers.append('the standby is not in recovery while the old primary still runs: '
                            'two servers may be taking writes (split brain) - a human decides which data to keep')
        else:
            already = True
    else:
        if state == 'recovery':
            blockers.append('the server named as the primary is itself in recovery: the inventory does not '
                            'match the replication (after a failover and rejoin, swap the primary and standby groups)')
        if state == 'up' and standby.get('receiver_status') != 'streaming':
            reasons.append('the standby is not streaming from the primary (WAL receiver: %s)'
                           % (standby.get('receiver_status') or 'not running'))
        if state == 'unreachable':
            reasons.append('the old primary cannot be reached: it cannot be fenced, and the data it may hold '
                           'that the standby never received cannot be measured')
        seconds = loss.get('seconds')
        if seconds is None and state != 'unreachable':
            reasons.append('the data the standby has not received cannot be measured')
        elif seconds is not None and float(seconds) > float(rpo_s):
            reasons.append('the standby is %.0f s (%s bytes) behind, more than the RPO of %.0f s'
                           % (float(seconds), loss.get('bytes'), float(rpo_s)))
        if standby.get('replay_paused'):
            warnings.append('WAL replay is paused on the standby (promotion resumes it)')
    if state == 'up' and not already:
        warnings.append('the old primary is running: this is a planned switchover, it is stopped (fast) first')
    go = not blockers and (not reasons or bool(force))
    return {
        'go': go,
        'already_promoted': already,
        'blockers': blockers,
        'reasons': reasons,
        'warnings': warnings,
        'forced': bool(force) and bool(reasons) and not blockers,
    }
