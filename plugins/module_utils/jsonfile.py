# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crash-safe JSON files: what manifests and circuit breaker states are written with."""

from __future__ import annotations

import json
import os
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
