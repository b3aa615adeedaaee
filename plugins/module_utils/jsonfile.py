# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crash-safe JSON files: what manifests and circuit breaker states are written with."""

from __future__ import annotations

import errno
import json
import os
import stat
import tempfile


def write_json_atomic(path: str, data, indent: int | None = None, trailing_newline: bool = False,
                      mode: int = 0o640) -> None:
    """Write a temporary file beside path, fsync it, rename it over path, fsync the directory:
    readers and a crash only ever see the old or the new content, never half of one."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(dir=directory, prefix=f'.{os.path.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(handle, 'w', encoding='utf-8') as out:
            json.dump(data, out, indent=indent, sort_keys=True)
            if trailing_newline:
                out.write('\n')
            out.flush()
            os.fchmod(out.fileno(), mode)  # the descriptor, not the name: umask-independent, nothing followed
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _no_constant(name: str):
    raise ValueError(f'{name} is not a number JSON allows')


def read_bytes(path: str, max_bytes: int) -> bytes:
    """The bytes of a regular file, opened without following a symlink and without blocking
    on a FIFO. Raises ValueError for a symlink, anything but a regular file and a file larger
    than max_bytes; FileNotFoundError (an OSError) when there is none; other OSErrors as they come."""
    flags = os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0) | getattr(os, 'O_NONBLOCK', 0)
    try:
        handle = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValueError(f'{path} is a symlink (never followed)') from None
        raise
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f'{path} is not a regular file')
        if info.st_size > max_bytes:
            raise ValueError(f'{path} is {info.st_size} bytes, more than the {max_bytes} it may have')
        chunks, total = [], 0
        while True:
            chunk = os.read(handle, 1024 * 1024)
            if not chunk:
                break
            total += len(chunk)
            if total > max_bytes:
                raise ValueError(f'{path} grew beyond {max_bytes} bytes while read')
            chunks.append(chunk)
    finally:
        os.close(handle)
    return b''.join(chunks)


def read_json(path: str, max_bytes: int = 16 * 1024 * 1024):
    """The decoded JSON of a state file the collection wrote. Raises ValueError naming the
    problem (in words, never with the file's content) for a symlink (never followed), anything
    but a regular file, a file larger than max_bytes, text that is not UTF-8, invalid or too
    deeply nested JSON, NaN/Infinity, and numbers beyond a float (1e400). FileNotFoundError
    (an OSError) when there is no file; other OSErrors as they come."""
    raw = read_bytes(path, max_bytes)
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as exc:
        raise ValueError(f'{path} is not UTF-8 text (byte {exc.start})') from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f'{path} is nested too deeply to be ours') from None
    except ValueError as exc:
        raise ValueError(f'{path} is not valid JSON ({str(exc)[:120]})') from None
    if _has_infinity(data):
        raise ValueError(f'{path} holds a number beyond any float (such as 1e400)')
    return data


def _has_infinity(data, depth: int = 0) -> bool:
    if isinstance(data, float):
        return data in (float('inf'), float('-inf'))
    if depth > 100:
        return False
    if isinstance(data, dict):
        return any(_has_infinity(value, depth + 1) for value in data.values())
    if isinstance(data, list):
        return any(_has_infinity(value, depth + 1) for value in data)
    return False
