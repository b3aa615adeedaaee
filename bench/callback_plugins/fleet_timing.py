# Copyright: runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-host, per-task timing for bench/fleet.py (not part of the collection's plugins)."""

from __future__ import annotations

DOCUMENTATION = r'''
name: fleet_timing
type: aggregate
short_description: per-host task timings for bench/fleet.py
description:
  - Writes one JSON line per task and host to the file named by the environment variable
    E(FLEET_TIMING_FILE) - the task, its action, when it started and ended on that host, its
    status, and the durations the modules report themselves (C(duration_s), C(summary.duration_s),
    C(restore.duration_s), per loop item).
  - Used by bench/fleet.py only; enabled through E(ANSIBLE_CALLBACKS_ENABLED).
requirements: []
'''

import json
import os
import time

from ansible.plugins.callback import CallbackBase

# The result fields that carry a module's own measurement of its work.
_DURATION_PATHS = (('duration_s',), ('summary', 'duration_s'), ('restore', 'duration_s'))


def _durations(result):
    """The duration fields of one result (a dict), as {'a.b': seconds}."""
    out = {}
    for path in _DURATION_PATHS:
        value = result
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out['.'.join(path)] = float(value)
    return out


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = 'aggregate'
    CALLBACK_NAME = 'fleet_timing'
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._started = {}
        path = os.environ.get('FLEET_TIMING_FILE')
        self._out = open(path, 'a', encoding='utf-8') if path else None  # pylint: disable=consider-using-with

    def v2_runner_on_start(self, host, task):
        self._started[(host.get_name(), task._uuid)] = time.time()  # pylint: disable=protected-access

    def _record(self, result, status):
        if self._out is None:
            return
        host = result._host.get_name()  # pylint: disable=protected-access
        task = result._task  # pylint: disable=protected-access
        end = time.time()
        start = self._started.pop((host, task._uuid), end)  # pylint: disable=protected-access
        res = result._result if isinstance(result._result, dict) else {}  # pylint: disable=protected-access
        items = res.get('results') if isinstance(res.get('results'), list) else None
        record = {
            'host': host, 'task': task.get_name(), 'action': task.action, 'status': status,
            'start': start, 'end': end,
            'durations': ([_durations(item) for item in items if isinstance(item, dict)]
                          if items is not None else [_durations(res)]),
        }
        self._out.write(json.dumps(record) + '\n')
        self._out.flush()

    def v2_runner_on_ok(self, result):
        self._record(result, 'ok')

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, 'failed')

    def v2_runner_on_skipped(self, result):
        self._record(result, 'skipped')

    def v2_runner_on_unreachable(self, result):
        self._record(result, 'unreachable')

    def v2_playbook_on_stats(self, stats):
        if self._out is not None:
            self._out.close()
            self._out = None
