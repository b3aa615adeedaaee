# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""controller_files: write a run's reports on the controller, in the controller's own process.

Written by hand because ansible.builtin.copy delegated to localhost starts four Python processes
per report (file, then stat and copy per file): about 3 CPU-seconds per report, the costliest
orchestration of a maintenance window (bench/fleet.py).
"""

from __future__ import annotations

import os
import secrets

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.action import ActionBase

from ansible_collections.runbook.maintenance.plugins.module_utils.safefile import (
    CLOEXEC,
    DIR_FLAGS,
    EXCL_FLAGS,
    NOFOLLOW,
    UnsafePath,
    check_plain_name,
    describe_os_error,
    ensure_dir,
    fsync_dir,
    parse_mode,
    remove_created,
)

ARGUMENT_SPEC = {
    'dir': {'type': 'path', 'required': True},
    'files': {
        'type': 'list', 'elements': 'dict', 'required': True,
        'options': {
            'name': {'type': 'str', 'required': True},
            'content': {'type': 'str', 'required': True},
        },
    },
    'mode': {'type': 'raw', 'default': '0640'},
    'dir_mode': {'type': 'raw', 'default': '0750'},
}


def check_files(files: list[dict]) -> list[str]:
    """The problems of a list of files: names that are not plain names, names given twice."""
    problems, seen = [], set()
    for entry in files:
        problem = check_plain_name(entry['name'], 'file name')
        if problem:
            problems.append(problem)
        elif entry['name'] in seen:
            problems.append(f"{entry['name']} is given twice")
        seen.add(entry['name'])
    return problems


def write_files(directory: str, files: list[dict], mode: int, dir_mode: int) -> dict:
    """Write each file beside its final name under a fresh random name (O_EXCL, O_NOFOLLOW: nothing
    planted is followed or reused), fsync them, then rename them over the final names (a symlink
    planted under a final name is replaced, never followed). Either every file is written or none:
    on a failure the temporary files (and a directory made for them) are removed.
    Returns {'dir': directory, 'created_dir': bool, 'files': [paths]}. Raises UnsafePath or OSError."""
    created = ensure_dir(directory, dir_mode)
    try:
        dir_fd = os.open(directory, DIR_FLAGS | NOFOLLOW)
    except BaseException:
        remove_created(created)
        raise
    temps: list[str] = []
    try:
        for entry in files:
            temp = f".{entry['name']}.{secrets.token_hex(6)}.tmp"
            fd = os.open(temp, EXCL_FLAGS | CLOEXEC, mode, dir_fd=dir_fd)
            temps.append(temp)
            try:
                os.fchmod(fd, mode)  # the descriptor: umask-independent
                data = to_bytes(entry['content'], errors='surrogate_or_strict')
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
        for temp, entry in zip(temps, files):
            os.rename(temp, entry['name'], src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        temps = []
        fsync_dir(dir_fd)
    except BaseException:
        for temp in temps:
            try:
                os.unlink(temp, dir_fd=dir_fd)
            except OSError:
                pass
        os.close(dir_fd)
        remove_created(created)
        raise
    os.close(dir_fd)
    return {'dir': directory, 'created_dir': bool(created),
            'files': [os.path.join(directory, entry['name']) for entry in files]}


class ActionModule(ActionBase):
    """Controller-side: runs no module on the host, whatever the task's host or delegation."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # nothing goes to the host
        validation = ArgumentSpecValidator(ARGUMENT_SPEC).validate(self._task.args)
        if validation.error_messages:
            raise AnsibleActionFail('controller_files: ' + '; '.join(validation.error_messages))
        args = validation.validated_parameters
        try:
            mode = parse_mode(args['mode'], 'mode')
            dir_mode = parse_mode(args['dir_mode'], 'dir_mode')
        except ValueError as exc:
            raise AnsibleActionFail(f'controller_files: {exc}') from None
        problems = check_files(args['files'])
        if problems:
            raise AnsibleActionFail('controller_files: ' + '; '.join(problems))
        directory = os.path.abspath(args['dir'])
        paths = [os.path.join(directory, entry['name']) for entry in args['files']]
        result.update(changed=False, dir=directory, files=paths)
        if self._task.check_mode:
            result['msg'] = f'check mode: would write {len(paths)} file(s) in {directory}'
            return result
        try:
            written = write_files(directory, args['files'], mode, dir_mode)
        except UnsafePath as exc:
            raise AnsibleActionFail(f'controller_files: {exc}') from None
        except OSError as exc:
            raise AnsibleActionFail(f'controller_files: nothing written: {describe_os_error(exc)}') from None
        result.update(written)
        result['msg'] = f'wrote {len(paths)} file(s) in {directory}'
        return result
