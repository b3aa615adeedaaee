"""A throwaway PostgreSQL cluster: the `make demo` sandbox and the tests' fixture.

Written by hand because no maintained library starts a cluster from Debian's binaries as a
non-root user under a root session (testing.postgresql and pytest-postgresql assume neither).

    python scripts/pgsandbox.py start --dir .sandbox/pg --port 54329 [--inventory .sandbox/inventory.yml]
    python scripts/pgsandbox.py stop --dir .sandbox/pg
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def bindir() -> str:
    """Directory of initdb/pg_ctl/postgres (PG_BINDIR, else found or installed by pg-bindir.sh)."""
    if os.environ.get('PG_BINDIR'):
        return os.environ['PG_BINDIR']
    found = subprocess.run([str(SCRIPTS / 'pg-bindir.sh')], capture_output=True, text=True, check=False,
                           env={**os.environ, 'INSTALL': os.environ.get('INSTALL', '1')})
    if found.returncode != 0:
        raise RuntimeError(found.stderr.strip())
    return found.stdout.strip()


class Cluster:
    """One PostgreSQL cluster in a directory of its own, reached through a Unix socket.

    As root the server runs as the `postgres` user (initdb refuses root); the cluster's
    superuser is always named `postgres`. With `password`, TCP on 127.0.0.1 is opened with
    scram-sha-256 authentication; the socket trusts local users.
    """

    def __init__(self, base: Path, port: int | None = None, password: str | None = None,
                 autovacuum: bool = False) -> None:
        self.requested = Path(base).absolute()
        self.port = port or free_port()
        self.password = password
        self.autovacuum = autovacuum
        self.owner = 'postgres' if os.geteuid() == 0 else None
        self.base = self._placed(self.requested)
        self.data = self.base / 'data'
        self.run = self.base / 'run'
        self.log = self.base / 'postgres.log'
        self.bindir = bindir()

    # ---- placement -----------------------------------------------------------------------
    def _placed(self, base: Path) -> Path:
        """Where the files really live: under `base`, unless the postgres user cannot reach it."""
        if self.owner is None:
            base.mkdir(parents=True, exist_ok=True)
            return base
        if base.is_symlink():
            return base.resolve()
        base.mkdir(parents=True, exist_ok=True)
        shutil.chown(base, self.owner)
        if self._as_owner(['test', '-w', str(base)]).returncode == 0:
            return base
        # The checkout lies under a directory the postgres user cannot enter (e.g. /root).
        digest = hashlib.sha256(str(base).encode()).hexdigest()[:12]
        elsewhere = Path('/var/tmp') / f'runbook-sandbox-{digest}'
        elsewhere.mkdir(mode=0o755, exist_ok=True)
        shutil.chown(elsewhere, self.owner)
        base.rmdir()
        base.symlink_to(elsewhere)
        return elsewhere

    def _as_owner(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        if self.owner is not None:
            argv = ['runuser', '-u', self.owner, '--'] + argv
        kwargs.setdefault('capture_output', True)
        kwargs.setdefault('text', True)
        return subprocess.run(argv, check=False, **kwargs)

    def _checked(self, argv: list[str], what: str, **kwargs) -> subprocess.CompletedProcess:
        done = self._as_owner(argv, **kwargs)
        if done.returncode != 0:
            log = self.log.read_text(errors='replace')[-2000:] if self.log.exists() else ''
            raise RuntimeError(f'{what} failed ({done.returncode}): {done.stderr.strip()} {done.stdout.strip()}\n{log}')
        return done

    # ---- lifecycle -----------------------------------------------------------------------
    @property
    def initialized(self) -> bool:
        return (self.data / 'PG_VERSION').exists()

    def init(self) -> None:
        if self.initialized:
            return
        self.run.mkdir(parents=True, exist_ok=True)
        if self.owner:
            shutil.chown(self.run, self.owner)
        argv = [f'{self.bindir}/initdb', '-D', str(self.data), '-U', 'postgres', '-E', 'UTF8',
                '--no-locale', '--auth-local=trust', '--auth-host=scram-sha-256', '--no-sync']
        pwfile = None
        if self.password:
            pwfile = self.base / '.pwfile'
            pwfile.write_text(self.password + '\n')
            pwfile.chmod(0o600)
            if self.owner:
                shutil.chown(pwfile, self.owner)
            argv += ['--pwfile', str(pwfile)]
        try:
            self._checked(argv, 'initdb')
        finally:
            if pwfile:
                pwfile.unlink()
        settings = {
            'port': str(self.port),
            'listen_addresses': "'127.0.0.1'" if self.password else "''",
            'unix_socket_directories': f"'{self.run}'",
            'fsync': 'off', 'synchronous_commit': 'off', 'full_page_writes': 'off',
            'autovacuum': 'on' if self.autovacuum else 'off',
            'max_connections': '50', 'shared_buffers': '64MB',
            'log_min_messages': 'warning', 'logging_collector': 'off',
        }
        with open(self.data / 'postgresql.auto.conf', 'a', encoding='utf-8') as conf:
            for key, value in settings.items():
                conf.write(f'{key} = {value}\n')

    @property
    def running(self) -> bool:
        return self._as_owner([f'{self.bindir}/pg_ctl', '-D', str(self.data), 'status']).returncode == 0

    def start(self) -> 'Cluster':
        self.init()
        if not self.running:
            self._checked([f'{self.bindir}/pg_ctl', '-D', str(self.data), '-l', str(self.log),
                           '-w', '-t', '60', '-o', f'-p {self.port}', 'start'], 'pg_ctl start')
        return self

    def stop(self) -> None:
        if self.initialized and self.running:
            self._checked([f'{self.bindir}/pg_ctl', '-D', str(self.data), '-m', 'fast', '-w', 'stop'], 'pg_ctl stop')

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
        if self.requested.is_symlink():
            self.requested.unlink()

    def start_standby_of(self, primary: 'Cluster') -> 'Cluster':
        """Make this cluster a streaming standby of `primary` (pg_basebackup -R) and start it."""
        if not self.initialized:
            self.run.mkdir(parents=True, exist_ok=True)
            if self.owner:
                shutil.chown(self.run, self.owner)
            self._checked([f'{self.bindir}/pg_basebackup', '-D', str(self.data), '-R', '-X', 'stream',
                           '-h', str(primary.run), '-p', str(primary.port), '-U', 'postgres', '--no-sync'],
                          'pg_basebackup')
            with open(self.data / 'postgresql.auto.conf', 'a', encoding='utf-8') as conf:
                conf.write(f"port = {self.port}\nunix_socket_directories = '{self.run}'\nlisten_addresses = ''\n")
        return self.start()

    # ---- access --------------------------------------------------------------------------
    def conninfo(self, dbname: str = 'postgres') -> dict:
        return {'host': str(self.run), 'port': self.port, 'user': 'postgres', 'dbname': dbname}

    def module_args(self, dbname: str = 'postgres') -> dict:
        """Connection options of the collection's modules for this cluster."""
        return {'login_unix_socket': str(self.run), 'login_port': self.port,
                'login_user': 'postgres', 'login_db': dbname}


def write_inventory(cluster: Cluster, path: Path) -> None:
    """An inventory that points the playbooks at this cluster (what `make demo` runs and prints).

    Everything the runs write goes under the inventory's directory (reports, breakers, backups,
    rollback snapshots), and the rollback point is the sandbox's own configuration. Nothing of
    the host is touched: no package updates, no Docker cleanup, no log cleanup of /var/log.
    """
    state = Path(path).absolute().parent
    state.mkdir(parents=True, exist_ok=True)
    host_vars = {
        'ansible_connection': 'local',
        'ansible_python_interpreter': '{{ ansible_playbook_python }}',
        'runbook_pg_login_unix_socket': str(cluster.run),
        'runbook_pg_login_port': cluster.port,
        'runbook_pg_login_user': 'postgres',
        'maintenance_report_dir': str(state / 'reports'),
        'runbook_breaker_state_dir': str(state / 'breakers'),
        'backup_dir': str(state / 'backups'),
        'maintenance_rollback_dir': str(state / 'rollback'),
        'maintenance_rollback_files': [str(cluster.data / name) for name in
                                       ('postgresql.conf', 'postgresql.auto.conf', 'pg_hba.conf')],
        'maintenance_rollback_packages': False,
        'maintenance_package_updates': False,
        'maintenance_image_updates': False,
        'maintenance_docker_cleanup': False,
        'log_cleanup_paths': [],
        'maintenance_window_timezone': 'UTC',
    }
    lines = [
        '---',
        '# Written by scripts/pgsandbox.py (`make demo`): the sandbox PostgreSQL as host localhost.',
        '# Rewritten on every `make demo`; removed with .sandbox by `make clean`.',
        '#   ansible-playbook -i .sandbox/inventory.yml playbooks/maintenance-weekly.yml --check',
        'all:',
        '  children:',
        '    databases:',
        '      hosts:',
        '        localhost:',
    ]
    lines += [f'          {key}: {json.dumps(value)}' for key, value in host_vars.items()]
    # A private temporary file renamed over the name: a link planted there is replaced, never followed.
    fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix='.inventory-')
    try:
        with os.fdopen(fd, 'w', encoding='utf-8') as out:
            out.write('\n'.join(lines) + '\n')
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('action', choices=['start', 'stop', 'status', 'destroy'])
    parser.add_argument('--dir', required=True, type=Path)
    parser.add_argument('--port', type=int, default=54329)
    parser.add_argument('--inventory', type=Path,
                        help='start: also write an Ansible inventory for this cluster to this file')
    args = parser.parse_args()
    try:
        cluster = Cluster(args.dir, port=args.port)
        if args.action == 'start':
            began = time.monotonic()
            cluster.start()
            print(f'sandbox PostgreSQL running: socket {cluster.run}, port {cluster.port}, '
                  f'data {cluster.data} (as {cluster.owner or pwd.getpwuid(os.geteuid()).pw_name}), '
                  f'{time.monotonic() - began:.1f}s')
            if args.inventory:
                write_inventory(cluster, args.inventory)
                print(f'inventory for it: {args.inventory}')
        elif args.action == 'stop':
            cluster.stop()
            print('sandbox PostgreSQL stopped')
        elif args.action == 'destroy':
            cluster.destroy()
            print('sandbox PostgreSQL removed')
        else:
            print('running' if cluster.running else 'stopped')
            return 0 if cluster.running else 3
    except RuntimeError as exc:
        print(f'sandbox: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
