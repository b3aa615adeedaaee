"""Helpers of the integration tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from psycopg import sql

# tests/conftest.py made the checkout importable; its location gives the collections root.
import ansible_collections.runbook.maintenance as _collection  # pylint: disable=wrong-import-order

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = Path(list(_collection.__path__)[0]).parents[2]
PASSWORD = 'It$-a-S3cret;pw'


def flush_stats(conn) -> None:
    """Publish the session's pending table statistics now (as a backend does when idle)."""
    conn.execute('SELECT pg_stat_force_next_flush()')
    conn.execute('SELECT 1')
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # the flush is asynchronous to the client
        time.sleep(0.05)
        break


def make_table(conn, schema: str, name: str, rows: int, dead: int = 0) -> None:
    """A table with `rows` rows, analyzed, then `dead` of them deleted (dead tuples)."""
    target = sql.Identifier(schema, name)
    conn.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(schema)))
    conn.execute(sql.SQL('CREATE TABLE {} (id int PRIMARY KEY, pad text)').format(target))
    conn.execute(sql.SQL("INSERT INTO {} SELECT g, repeat('x', 100) FROM generate_series(1, %s) g").format(target),
                 (rows,))
    flush_stats(conn)
    conn.execute(sql.SQL('VACUUM ANALYZE {}').format(target))
    if dead:
        conn.execute(sql.SQL('DELETE FROM {} WHERE id <= %s').format(target), (dead,))
    flush_stats(conn)


def table_state(conn, schema: str, name: str) -> dict:
    row = conn.execute(
        'SELECT s.n_dead_tup, s.last_vacuum, s.last_analyze, s.vacuum_count, pg_table_size(s.relid) '
        'FROM pg_stat_all_tables s WHERE s.schemaname = %s AND s.relname = %s', (schema, name)).fetchone()
    assert row is not None, f'{schema}.{name} not found'
    return dict(zip(['dead', 'last_vacuum', 'last_analyze', 'vacuum_count', 'size'], row))


class ModuleServer:
    """One module_server.py per test process (pytest-xdist worker), started on first use."""

    _process: subprocess.Popen | None = None
    _outputs: Path | None = None

    @classmethod
    def get(cls, env: dict) -> subprocess.Popen | None:
        if os.environ.get('RUNBOOK_MODULE_SERVER', '1') == '0':
            return None
        if cls._process is None or cls._process.poll() is not None:
            cls._process = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, str(Path(__file__).with_name('module_server.py'))],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, bufsize=1)
            atexit.register(cls.stop, cls._process)
        return cls._process

    @staticmethod
    def stop(process: subprocess.Popen) -> None:
        """End of the test process: the server ends when its input does."""
        try:
            process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()

    @classmethod
    def outputs(cls) -> tuple[Path, Path]:
        """The files a child's stdout and stderr go to (one run at a time per server)."""
        if cls._outputs is None:
            cls._outputs = Path(tempfile.mkdtemp(prefix='runbook-module-out-'))
            atexit.register(shutil.rmtree, cls._outputs, True)
        return cls._outputs / 'stdout', cls._outputs / 'stderr'

    @staticmethod
    def read(process: subprocess.Popen, timeout: float | None) -> dict:
        ready = select.select([process.stdout], [], [], timeout)[0]
        if not ready:
            raise TimeoutError
        line = process.stdout.readline()
        if not line:
            raise RuntimeError('the module server ended')
        return json.loads(line)


class ModuleRunner:
    """Runs a module of the collection the way Ansible does on a target: a new process reading its
    arguments from a JSON file, printing its JSON result. __call__ forks that process from
    module_server.py (the libraries preloaded, the module's own code loaded fresh); start() and
    command() give a process of its own (tests that signal it or run several at once)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.env = {**os.environ, 'PYTHONPATH': str(COLLECTIONS)}

    def command(self, module: str, args: dict, check: bool = False) -> tuple[list[str], Path]:
        path = self.tmp_path / f'{module}-{time.monotonic_ns()}.json'
        payload = dict(args, _ansible_check_mode=check, _ansible_no_log=False, _ansible_verbosity=0)
        path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': payload}))
        source = REPO / 'plugins' / 'modules' / f'{module}.py'
        return [sys.executable, str(source), str(path)], path

    def __call__(self, module: str, args: dict, check: bool = False, timeout: float = 120) -> dict:
        argv, path = self.command(module, args, check)
        server = ModuleServer.get(self.env)
        if server is None:
            done = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout, check=False)
            return self.parse(done.stdout, done.stderr)
        out, err = ModuleServer.outputs()  # not beside the arguments: tests list tmp_path
        request = {'source': argv[1], 'args_path': argv[2], 'stdout': str(out), 'stderr': str(err),
                   'env': self.env}
        server.stdin.write(json.dumps(request) + '\n')
        server.stdin.flush()
        pid = ModuleServer.read(server, 30)['pid']
        try:
            ModuleServer.read(server, timeout)
        except TimeoutError:
            os.kill(pid, 9)
            ModuleServer.read(server, 30)
            raise subprocess.TimeoutExpired(argv, timeout) from None
        return self.parse(out.read_text(encoding='utf-8', errors='replace'),
                          err.read_text(encoding='utf-8', errors='replace'))

    def start(self, module: str, args: dict, check: bool = False) -> subprocess.Popen:
        argv = self.command(module, args, check)[0]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)

    @staticmethod
    def parse(stdout: str, stderr: str) -> dict:
        try:
            result = json.loads(stdout[stdout.index('{'):])
        except ValueError as exc:
            raise AssertionError(f'module printed no JSON result:\nstdout: {stdout}\nstderr: {stderr}') from exc
        result['_stderr'] = stderr
        return result
