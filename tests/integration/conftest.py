"""Fixtures of the integration tests: a real PostgreSQL, a real S3 server, real module runs."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'scripts'))

from pg_helpers import PASSWORD, ModuleRunner  # noqa: E402  pylint: disable=wrong-import-position
from pgsandbox import Cluster, free_port  # noqa: E402  pylint: disable=wrong-import-position

# The modules that ansible runs on localhost import ansible.module_utils from their AnsiballZ zip,
# compiled anew each time: tests/scripts/pyc-cache caches that bytecode (keyed by the source's hash)
# for every process these tests start. RUNBOOK_PYC_CACHE=0 turns it off.
if os.environ.get('RUNBOOK_PYC_CACHE', '1') != '0':
    _PYC = REPO / 'tests' / 'scripts' / 'pyc-cache'
    os.environ.setdefault('RUNBOOK_PYC_CACHE_DIR', str(REPO / '.build' / 'pyc-cache'))
    Path(os.environ['RUNBOOK_PYC_CACHE_DIR']).mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ['PYTHONPATH'] = os.pathsep.join(p for p in (str(_PYC), os.environ.get('PYTHONPATH', '')) if p)


@pytest.fixture(scope='session')
def pg():
    """A throwaway PostgreSQL for the whole session (socket trusted, TCP 127.0.0.1 with a password)."""
    base = Path(tempfile.mkdtemp(prefix='runbook-pg-', dir='/tmp' if os.geteuid() == 0 else None))
    cluster = Cluster(base / 'pg', password=PASSWORD).start()
    yield cluster
    cluster.destroy()
    base.rmdir() if base.exists() else None


@pytest.fixture()
def db(pg, request):
    """A fresh database per test, dropped afterwards. Yields (name, autocommit connection)."""
    name = f"t_{request.node.name[:40].lower().replace('[', '_').replace(']', '').replace('-', '_')}"
    with psycopg.connect(**pg.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))
        admin.execute(sql.SQL('CREATE DATABASE {}').format(sql.Identifier(name)))
    conn = psycopg.connect(**pg.conninfo(name), autocommit=True)
    yield name, conn
    conn.close()
    with psycopg.connect(**pg.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))


@pytest.fixture()
def run_module(tmp_path):
    return ModuleRunner(tmp_path)


@pytest.fixture(scope='session')
def s3_server():
    """A real S3 API (moto server) on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer  # pylint: disable=import-outside-toplevel

    port = free_port()
    server = ThreadedMotoServer(ip_address='127.0.0.1', port=port, verbose=False)
    server.start()
    os.environ.setdefault('AWS_ACCESS_KEY_ID', 'testing')
    os.environ.setdefault('AWS_SECRET_ACCESS_KEY', 'testing')
    yield f'http://127.0.0.1:{port}'
    server.stop()
