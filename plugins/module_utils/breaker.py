# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Circuit breaker state machine and its on-disk store.

Written by hand: breaker libraries (pybreaker, resilience4j) keep their state inside one
process, while every Ansible task is a new process; this state lives in a file, changed under
an exclusive lock and replaced atomically.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import stat
import time
from dataclasses import asdict, dataclass

from ansible_collections.runbook.maintenance.plugins.module_utils.jsonfile import write_json_atomic

STATES = ('closed', 'open', 'half_open')
ACTIONS = ('check', 'record_success', 'record_failure', 'open', 'close', 'reset', 'status')
# Actions that rewrite the state whatever the file holds: how an operator recovers a corrupt one.
RECOVERING_ACTIONS = ('close', 'reset', 'open')
MAX_STATE_BYTES = 64 * 1024  # a state is a few hundred bytes; a larger file is not ours
MAX_COUNT = 10 ** 9
MAX_REASON = 4096
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$')


class StateError(Exception):
    """The state file cannot be read or makes no sense."""


@dataclass
class Breaker:
    state: str = 'closed'
    failures: int = 0
    successes: int = 0
    opened_at: float | None = None
    reason: str = ''
    forced: bool = False
    updated_at: float | None = None

    @classmethod
    def from_dict(cls, data) -> 'Breaker':
        """A breaker from the decoded JSON of its file. Raises StateError naming what is wrong
        (not an object, unknown state, a count that is not a non-negative integer, a time that
        is not a finite epoch, ...): nothing malformed is ever read as a healthy breaker."""
        if not isinstance(data, dict):
            raise StateError(f'holds a JSON {type(data).__name__}, not an object')
        if data.get('state') not in STATES:
            raise StateError(f"unknown state {str(data.get('state'))[:40]!r}")
        problems = []
        counts = {}
        for key in ('failures', 'successes'):
            value = data.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
                problems.append(f'{key} is not a count: {str(value)[:40]}')
            counts[key] = value
        stamps = {}
        for key in ('opened_at', 'updated_at'):
            value = data.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 <= value <= 10 ** 11):  # finite, before year 5138
                problems.append(f'{key} is not a time: {str(value)[:40]}')
            stamps[key] = None if value is None else float(value)
        reason, forced = data.get('reason', ''), data.get('forced', False)
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            problems.append('reason is not a short text')
        if not isinstance(forced, bool):
            problems.append(f'forced is not true or false: {str(forced)[:40]}')
        if problems:
            raise StateError('; '.join(problems))
        return cls(state=data['state'], failures=counts['failures'], successes=counts['successes'],
                   opened_at=stamps['opened_at'], reason=reason, forced=forced, updated_at=stamps['updated_at'])

    def key(self) -> tuple:
        return (self.state, self.failures, self.successes, self.opened_at, self.reason, self.forced)


@dataclass
class Config:
    failure_threshold: int = 3
    success_threshold: int = 1
    reset_timeout: float = 3600.0


def retry_after(breaker: Breaker, config: Config, now: float) -> float:
    """Seconds until an open breaker lets a trial through (0 when it is not open)."""
    if breaker.state != 'open' or breaker.opened_at is None:
        return 0.0
    return max(0.0, breaker.opened_at + config.reset_timeout - now)


def transition(current: Breaker, action: str, config: Config, now: float, reason: str = '') -> Breaker:
    """The breaker after `action` at time `now`. Pure: the caller stores the result."""
    new = Breaker(**asdict(current))
    # An open breaker whose reset timeout has passed lets one trial through (half-open).
    # A breaker opened by hand stays open until closed by hand.
    if new.state == 'open' and not new.forced and action in ('check', 'record_success', 'record_failure') \
            and retry_after(new, config, now) <= 0:
        new.state, new.successes = 'half_open', 0
    # A success observed while open (the guarded work ran anyway, e.g. tonight's backup that now
    # verifies) is a trial that succeeded.
    if new.state == 'open' and not new.forced and action == 'record_success':
        new.state, new.successes = 'half_open', 0
    if action == 'record_failure':
        new.reason = reason or new.reason
        if new.state == 'half_open':
            new.state, new.opened_at, new.successes = 'open', now, 0
            new.failures += 1
        elif new.state == 'closed':
            new.failures += 1
            if new.failures >= config.failure_threshold:
                new.state, new.opened_at, new.successes = 'open', now, 0
        else:
            new.failures += 1
    elif action == 'record_success':
        if new.state == 'half_open':
            new.successes += 1
            if new.successes >= config.success_threshold:
                new = Breaker(state='closed')
        elif new.state == 'closed':
            new.failures, new.successes = 0, 0
            new.reason = ''
    elif action == 'open':
        if new.state != 'open' or not new.forced:
            new.opened_at = now
        new.state, new.forced, new.successes = 'open', True, 0
        new.reason = reason or new.reason or 'opened by hand'
    elif action == 'close':
        new = Breaker(state='closed')
    if new.key() != current.key():
        new.updated_at = now
    return new


def _reject_constant(name: str):
    raise ValueError(f'{name} is not a number JSON allows')


def decode_state(raw: bytes, path: str) -> Breaker:
    """The breaker in the bytes of its file. Raises StateError for anything else: not UTF-8,
    not JSON, NaN/Infinity or numbers beyond a float (1e400), a list, wrong types, ..."""
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise StateError(f'{path} is not UTF-8 text (byte {exc.start})') from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise StateError(f'{path} is not valid JSON ({str(exc)[:120]})') from None
    if isinstance(data, dict):
        for key in ('opened_at', 'updated_at'):
            if isinstance(data.get(key), float) and data[key] in (float('inf'), float('-inf')):
                raise StateError(f'{path}: {key} is not a time: a number beyond any float')
    try:
        return Breaker.from_dict(data)
    except StateError as exc:
        raise StateError(f'{path}: {exc}') from None


class Store:
    """One breaker's JSON file in state_dir, guarded by an flock on a sibling lock file.

    Neither file is ever opened through a symlink (O_NOFOLLOW): in a directory another user can
    write to, a planted link must not make us read or create a file elsewhere.
    """

    def __init__(self, state_dir: str, name: str, readonly: bool = False, recover: bool = False) -> None:
        self.readonly = readonly  # check mode: create no directory and no lock file
        self.recover = recover  # close/reset/open: a planted lock (symlink, directory) is set aside
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, f'{name}.json')
        self.lock_path = os.path.join(state_dir, f'{name}.lock')
        self.lock_fd: int | None = None

    def __enter__(self) -> 'Store':
        if self.readonly:
            if os.path.lexists(self.lock_path):
                try:
                    self.lock_fd = os.open(self.lock_path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
                except OSError as exc:
                    raise StateError(f'cannot open the lock file {self.lock_path}: {_why(exc)}') from None
                fcntl.flock(self.lock_fd, fcntl.LOCK_SH)
            return self
        os.makedirs(self.state_dir, mode=0o750, exist_ok=True)
        try:
            self.lock_fd = self._open_lock()
        except StateError:
            if not self.recover:
                raise
            # Not a lock of ours (a symlink, a directory): keep it aside, never follow it.
            os.rename(self.lock_path, f'{self.lock_path}.corrupt-{time.strftime("%Y%m%dT%H%M%S")}-{os.getpid()}')
            self.lock_fd = self._open_lock()
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        return self

    def _open_lock(self) -> int:
        try:
            handle = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC | getattr(os, 'O_NONBLOCK', 0),
                             0o600)
        except OSError as exc:
            raise StateError(f'cannot open the lock file {self.lock_path}: {_why(exc)}') from None
        if not stat.S_ISREG(os.fstat(handle).st_mode):
            os.close(handle)
            raise StateError(f'the lock file {self.lock_path} is not a regular file')
        return handle

    def __exit__(self, *exc_info) -> None:
        if self.lock_fd is not None:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            os.close(self.lock_fd)
            self.lock_fd = None

    def read(self) -> Breaker:
        """The stored breaker (a new closed one when there is no file). Raises StateError for a
        file that is unreadable, a symlink, not a regular file, too large or malformed."""
        try:
            handle = os.open(self.path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, 'O_NONBLOCK', 0))
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return Breaker()
            raise StateError(f'cannot read {self.path}: {_why(exc)}') from None
        try:
            info = os.fstat(handle)
            if not stat.S_ISREG(info.st_mode):
                raise StateError(f'{self.path} is not a regular file')
            if info.st_size > MAX_STATE_BYTES:
                raise StateError(f'{self.path} is {info.st_size} bytes, far more than a breaker state')
            chunks, total = [], 0
            while total <= MAX_STATE_BYTES:
                chunk = os.read(handle, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
            if total > MAX_STATE_BYTES:
                raise StateError(f'{self.path} is larger than a breaker state')
        except OSError as exc:
            raise StateError(f'cannot read {self.path}: {_why(exc)}') from None
        finally:
            os.close(handle)
        return decode_state(b''.join(chunks), self.path)

    def set_aside(self, now: float) -> str | None:
        """Rename whatever is at the state path (a corrupt file, a directory, a symlink: the
        name itself, never what it points to) to '<name>.json.corrupt-<time>', kept as evidence.
        Returns the new name, or None when there was nothing."""
        if not os.path.lexists(self.path):
            return None
        stamp = time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))
        for attempt in range(100):
            aside = f'{self.path}.corrupt-{stamp}' + (f'-{attempt}' if attempt else '')
            if os.path.lexists(aside):
                continue
            os.rename(self.path, aside)
            return aside
        raise StateError(f'cannot set {self.path} aside: too many corrupt copies beside it')

    def write(self, breaker: Breaker) -> None:
        """Write a temporary file, fsync it, rename it over the state: readers and a crash only
        ever see the old or the new state, never half of one. The file is private (0600)."""
        write_json_atomic(self.path, asdict(breaker), mode=0o600)


_NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
_CLOEXEC = getattr(os, 'O_CLOEXEC', 0)


def _why(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return 'it is a symlink (never followed)'
    return exc.strerror or str(exc)
