"""Helpers of the integration tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


class ModuleRunner:
    """Runs a module of the collection the way Ansible does on a target: a new Python process
    reading its arguments from a JSON file, printing its JSON result."""

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
        argv = self.command(module, args, check)[0]
        done = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout, check=False)
        return self.parse(done.stdout, done.stderr)

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
