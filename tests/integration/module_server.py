"""Runs the collection's modules for the integration tests, each in a new process forked from this
one, which has only imported the libraries every module needs (ansible.module_utils.basic, psycopg).

A module run is otherwise what Ansible does on a target: a new process, the module's file executed
as __main__ (its own code and the collection's module_utils loaded fresh, in the child), its
arguments read from a JSON file, its result printed as JSON, its exit status returned. The fork
only saves the interpreter start and those imports, about half a CPU-second per run, which the
integration suite pays some 800 times (pg_helpers.ModuleRunner; RUNBOOK_MODULE_SERVER=0 turns it off).

Protocol: one JSON request per line on stdin, {source, args_path, stdout, stderr, env}; the server
answers {"pid": N} when the child is started, then {"status": exit status} when it ended (the
child's output goes to the two files). Single-threaded on purpose: nothing else runs when it forks.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback

import ansible.module_utils.basic  # noqa: F401  pylint: disable=unused-import  # preloaded for the children

try:
    import psycopg  # noqa: F401  pylint: disable=unused-import
except ImportError:  # the modules report it themselves
    pass


def child(request: dict) -> None:
    """In the forked child: become the module process and never return."""
    code = 1
    try:
        for fd, path in ((1, request['stdout']), (2, request['stderr'])):
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(out, fd)
            os.close(out)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        sys.stdin = open(0, encoding='utf-8', closefd=False)  # pylint: disable=consider-using-with
        sys.stdout = open(1, 'w', encoding='utf-8', closefd=False)  # pylint: disable=consider-using-with
        sys.stderr = open(2, 'w', encoding='utf-8', closefd=False)  # pylint: disable=consider-using-with
        os.environ.clear()
        os.environ.update(request['env'])
        sys.argv = [request['source'], request['args_path']]
        sys.path[0] = os.path.dirname(request['source'])  # as `python <module file>` has it, not this directory
        try:
            runpy.run_path(request['source'], run_name='__main__')
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        except BaseException:  # noqa: BLE001 - a traceback on stderr, as a crashing module shows
            traceback.print_exc()
            code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)  # pylint: disable=protected-access


def main() -> None:
    answer = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            child(request)
        answer.write(json.dumps({'pid': pid}) + '\n')
        answer.flush()
        status = os.waitpid(pid, 0)[1]
        answer.write(json.dumps({'status': os.waitstatus_to_exitcode(status)}) + '\n')
        answer.flush()


if __name__ == '__main__':
    main()
