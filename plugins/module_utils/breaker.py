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
from dataclasses import asdict, dataclass

from ansible_collections.runbook.maintenance.plugins.module_utils.jsonfile import write_json_atomic

STATES = ('closed', 'open', 'half_open')
ACTIONS = ('check', 'record_success', 'record_failure', 'open', 'close', 'status')
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
    def from_dict(cls, data: dict) -> 'Breaker':
        if not isinstance(data, dict) or data.get('state') not in STATES:
            raise StateError(f'unknown state {data.get("state") if isinstance(data, dict) else data!r}')
        try:
            return cls(state=data['state'], failures=int(data.get('failures', 0)),
                       successes=int(data.get('successes', 0)),
                       opened_at=None if data.get('opened_at') is None else float(data['opened_at']),
                       reason=str(data.get('reason', '')), forced=bool(data.get('forced', False)),
                       updated_at=None if data.get('updated_at') is None else float(data['updated_at']))
        except (TypeError, ValueError) as exc:
            raise StateError(f'malformed field: {exc}') from exc

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


class Store:
    """One breaker's JSON file in state_dir, guarded by an flock on a sibling lock file."""

    def __init__(self, state_dir: str, name: str, readonly: bool = False) -> None:
        self.readonly = readonly  # check mode: create no directory and no lock file
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, f'{name}.json')
        self.lock_path = os.path.join(state_dir, f'{name}.lock')
        self.lock_fd: int | None = None

    def __enter__(self) -> 'Store':
        if self.readonly:
            if os.path.exists(self.lock_path):
                self.lock_fd = os.open(self.lock_path, os.O_RDONLY | getattr(os, 'O_CLOEXEC', 0))
                fcntl.flock(self.lock_fd, fcntl.LOCK_SH)
            return self
        os.makedirs(self.state_dir, mode=0o750, exist_ok=True)
        self.lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | getattr(os, 'O_CLOEXEC', 0), 0o640)
        fcntl.flock(self.lock_fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.lock_fd is not None:
            fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
            os.close(self.lock_fd)
            self.lock_fd = None

    def read(self) -> Breaker:
        try:
            with open(self.path, encoding='utf-8') as handle:
                text = handle.read()
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                return Breaker()
            raise StateError(f'cannot read {self.path}: {exc.strerror}') from exc
        try:
            return Breaker.from_dict(json.loads(text))
        except ValueError as exc:
            raise StateError(f'{self.path} is not valid JSON ({exc})') from exc

    def write(self, breaker: Breaker) -> None:
        """Write a temporary file, fsync it, rename it over the state: readers and a crash only
        ever see the old or the new state, never half of one."""
        write_json_atomic(self.path, asdict(breaker))
