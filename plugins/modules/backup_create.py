#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: backup_create
short_description: A database dump, the globals or an archive of paths, with a manifest, that fails honestly
version_added: 0.1.0
description:
  - V(database) dumps O(login_db) with C(pg_dump) in custom format (or directory format with
    O(jobs) parallel workers); V(globals) dumps roles and tablespaces with
    C(pg_dumpall --globals-only); V(paths) archives configuration files, Docker volumes or model
    folders as a compressed tar.
  - Every artefact gets a JSON manifest beside it (C(<artefact>.json)) with its sha256, size,
    creation time (UTC), host, database, server and pg_dump versions, format and, for a
    database, its tables with their row counts taken in the very snapshot that was dumped.
  - A failed dump fails the task (exit status and stderr are checked) with C(changed=false) and
    leaves nothing behind, no zero-byte or partial file, no artefact without its manifest; a full
    disk or an I/O error names the file and the cause. The password reaches pg_dump through its
    environment, never its command line; names are passed to the client tools literally (no
    C($VAR) or C(~) expansion).
  - Safe in a directory other users can write to. The artefact and its manifest are built in a
    fresh private work directory inside O(dest_dir) (same filesystem) and then published under
    their final names without following or replacing anything already there; a symlink in
    O(dest_dir)'s path owned by another user is refused. Backups are private (O(mode),
    O(directory_mode)), whatever the umask.
author:
  - Runbook Maintainers (@runbook-maintenance)
extends_documentation_fragment:
  - runbook.maintenance.postgres
attributes:
  check_mode:
    support: full
    description: Reports the artefact it would create and creates nothing.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: none
    description: Every run makes a new backup.
options:
  kind:
    description: What to back up.
    type: str
    default: database
    choices: [database, globals, paths]
  dest_dir:
    description:
      - Directory the artefact and its manifest are written to (created with O(directory_mode) if
        missing, parents too).
      - A warning is given when other users can write to it (they could delete or rename backups).
    type: path
    required: true
  name:
    description:
      - Base name of the artefact; default C(<database>-<UTC timestamp>), C(globals-<ts>), C(paths-<ts>).
      - A plain file name (no C(/), not starting with a dot), used literally.
    type: str
  mode:
    description:
      - Permissions of the artefact's files and of the manifest, as an octal string.
      - Default private to the owner; V('0640') lets the owner's group read the backups.
    type: raw
    default: '0600'
  directory_mode:
    description:
      - Permissions of the directories the module creates (O(dest_dir) and missing parents, the
        directory of a V(directory) format dump); existing directories are left as they are.
    type: raw
    default: '0700'
  format:
    description: pg_dump format for V(database).
    type: str
    default: custom
    choices: [custom, directory]
  jobs:
    description: Parallel pg_dump workers (directory format only).
    type: int
    default: 1
  row_counts:
    description:
      - V(exact) counts the rows of every table in the snapshot pg_dump dumps (what the
        C(rows) check of backup_verify compares), V(estimate) records the planner's estimates
        (cheap on very large databases), V(none) records no counts.
    type: str
    default: exact
    choices: [exact, estimate, none]
  paths:
    description: Files and directories archived by V(paths) (symlinks are stored, never followed).
    type: list
    elements: path
    default: []
  pg_bin_dir:
    description: Directory of pg_dump and pg_dumpall. Default, the newest of /usr/lib/postgresql/*/bin, then PATH.
    type: path
requirements:
  - psycopg >= 3.1
  - pg_dump and pg_dumpall on the host running the module
'''

EXAMPLES = r'''
- name: Nightly dump of the app database
  runbook.maintenance.backup_create:
    login_db: app
    dest_dir: /var/backups/postgresql/app
  register: dump

- name: Roles and tablespaces
  runbook.maintenance.backup_create:
    kind: globals
    dest_dir: /var/backups/postgresql

- name: Configuration and model files
  runbook.maintenance.backup_create:
    kind: paths
    paths: [/etc/postgresql, /srv/models]
    dest_dir: /var/backups/files
'''

RETURN = r'''
artefact:
  description: Path of the artefact (a file, or a directory for the directory format).
  returned: always
  type: str
  sample: /var/backups/postgresql/app/app-20261129T020000Z.dump
manifest:
  description: The manifest written beside the artefact (C(<artefact>.json)).
  returned: always
  type: dict
  sample: {sha256: 9f2c..., size: 1048576, created_at: '2026-11-29T02:00:00Z', database: app, format: custom}
duration_s:
  description: Seconds the backup took.
  returned: always
  type: float
  sample: 12.3
'''

import datetime
import os
import socket
import tarfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import (
    manifest_bytes,
    manifest_content,
    sha256_file,
    tree_size,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.pgclient import (
    ToolError,
    find_bin,
    libpq_environment,
    run_tool,
    tool_version,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.pgdump import check_dump_complete, dump_in_snapshot
from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import (
    check_connection_options,
    connect,
    postgres_common_argument_spec,
    scrub,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.safefile import (
    UnsafePath,
    WorkDir,
    check_plain_name,
    check_trusted_path,
    describe_os_error,
    ensure_dir,
    parse_mode,
    remove_created,
    sanitize_name,
    set_tree_mode,
    shared_dir_warning,
)


def cause_of(text: str) -> str:
    """A short cause for a client tool's error about its output file (disk full, I/O error)."""
    lowered = text.lower()
    if 'no space left on device' in lowered:
        return ' [ENOSPC, the filesystem is full]'
    if 'disk quota exceeded' in lowered:
        return ' [EDQUOT, the disk quota is exceeded]'
    if 'input/output error' in lowered:
        return ' [EIO, an I/O error (failing disk or storage?)]'
    return ''


class BackupCreate:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        p = module.params
        errors = []
        if p['jobs'] < 1:
            errors.append(f"jobs must be at least 1, got {p['jobs']}")
        if p['jobs'] > 1 and p['format'] != 'directory':
            errors.append('jobs > 1 needs format=directory (pg_dump dumps in parallel only there)')
        if p['kind'] == 'paths' and not p['paths']:
            errors.append('kind=paths needs a list of paths')
        if p['name'] is not None:
            problem = check_plain_name(p['name'])
            if problem:
                errors.append(problem)
        self.mode = self.directory_mode = None
        try:
            self.mode = parse_mode(p['mode'], 'mode')
        except ValueError as exc:
            errors.append(str(exc))
        try:
            self.directory_mode = parse_mode(p['directory_mode'], 'directory_mode')
        except ValueError as exc:
            errors.append(str(exc))
        if errors:
            module.fail_json(msg='; '.join(errors), changed=False)
        self.now = datetime.datetime.now(datetime.timezone.utc)
        self.stamp = self.now.strftime('%Y%m%dT%H%M%SZ')
        self.writing = None

    def base_manifest(self, artefact_format: str) -> dict:
        return {'kind': self.module.params['kind'], 'format': artefact_format,
                'created_at': self.now.strftime('%Y-%m-%dT%H:%M:%SZ'), 'host': socket.gethostname(),
                'verified': None}

    def artefact_name(self) -> str:
        p = self.module.params
        if p['kind'] == 'database':
            base = p['name'] or sanitize_name(f"{p['login_db']}-{self.stamp}")
            return base + ('.dump' if p['format'] == 'custom' else '.dir')
        if p['kind'] == 'globals':
            return (p['name'] or f'globals-{self.stamp}') + '.sql'
        return (p['name'] or f'paths-{self.stamp}') + '.tar.gz'

    def run(self) -> dict:
        p = self.module.params
        kind = p['kind']
        name = self.artefact_name()
        artefact = os.path.join(p['dest_dir'], name)
        result = {'changed': False, 'artefact': artefact, 'manifest': {}, 'duration_s': 0.0}
        if os.path.lexists(artefact) or os.path.lexists(artefact + '.json'):
            self.module.fail_json(msg=f'{artefact} already exists: a backup is never overwritten', **result)
        try:
            check_trusted_path(p['dest_dir'])
        except UnsafePath as exc:
            self.module.fail_json(msg=f'{kind} backup refused: dest_dir {exc}', **result)
        if self.module.check_mode:
            result.update(changed=True, msg=f'would create {artefact} and its manifest')
            return result
        os.umask(0o077)  # what the client tools create is private too, whatever the caller's umask
        created: list[str] = []
        try:
            created = ensure_dir(p['dest_dir'], self.directory_mode)
        except (UnsafePath, OSError) as exc:
            text = describe_os_error(exc, p['dest_dir']) if isinstance(exc, OSError) else str(exc)
            self.module.fail_json(msg=f'{kind} backup failed, nothing kept: cannot create dest_dir: {text}', **result)
        warning = shared_dir_warning(p['dest_dir'])
        if warning:
            self.module.warn(warning)
        began = time.monotonic()
        work = None
        try:
            self.writing = artefact
            work = WorkDir(p['dest_dir'], 'backup_create')
            target = work.join(name)
            if kind == 'database':
                manifest = self.dump_database(target)
            elif kind == 'globals':
                manifest = self.dump_globals(target)
            else:
                manifest = self.archive_paths(work, name)
            if kind != 'paths':
                check_dump_complete(self.module, target, 'plain' if kind == 'globals' else p['format'],
                                    p['pg_bin_dir'])
            set_tree_mode(target, self.mode, self.directory_mode)
            manifest['size'] = tree_size(target)
            manifest['sha256'] = sha256_file(target) if os.path.isfile(target) else None
            manifest['duration_s'] = round(time.monotonic() - began, 3)
            manifest = manifest_content(target, manifest)
            self.writing = artefact + '.json'
            self.write_file(work, name + '.json', manifest_bytes(manifest))
            self.writing = artefact
            work.publish(name)
            self.writing = artefact + '.json'
            work.publish(name + '.json')
            work.close()
        except BaseException as exc:
            if work is not None:
                work.rollback()
                work.close()
            remove_created(created)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            if isinstance(exc, OSError):
                text = describe_os_error(exc, self.writing)
            elif cause_of(str(exc)) or '[ENOSPC' in str(exc):
                text = f"writing {self.writing}: {exc}{'' if '[E' in str(exc) else cause_of(str(exc))}"
            else:
                text = str(exc)
            self.module.fail_json(msg=scrub(f'{kind} backup failed, nothing kept: {text}', p), **result)
        result.update(changed=True, manifest=manifest, duration_s=manifest['duration_s'])
        return result

    def write_file(self, work: WorkDir, name: str, content: bytes) -> None:
        with os.fdopen(work.create(name, self.mode), 'wb') as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())

    def tool(self, name: str) -> str:
        """A client tool (module_utils pgclient.find_bin); a missing one fails the task as it is."""
        try:
            return find_bin(self.module, name, self.module.params['pg_bin_dir'])
        except ToolError as exc:
            self.module.fail_json(msg=str(exc))
        return ''  # not reached: fail_json exits

    def dump_database(self, partial: str) -> dict:
        """pg_dump in the snapshot the row counts are taken in (module_utils pgdump.dump_in_snapshot).
        PGAPPNAME is left out: pg_dump's session shows as C(pg_dump) in pg_stat_activity."""
        p = self.module.params
        conn = connect(self.module, p['login_db'], autocommit=False)
        manifest = self.base_manifest(p['format'])
        try:
            self.tool('pg_dump')  # a missing pg_dump fails the task with its own message
            manifest.update(dump_in_snapshot(self.module, conn, p, p['login_db'], partial, dump_format=p['format'],
                                             jobs=p['jobs'], row_counts=p['row_counts'], pg_bin_dir=p['pg_bin_dir'],
                                             application_name=False))
        finally:
            conn.close()
        return manifest

    def dump_globals(self, partial: str) -> dict:
        p = self.module.params
        pg_dumpall = self.tool('pg_dumpall')
        run_tool(self.module, [pg_dumpall, '--globals-only', '--no-password', '-f', partial],
                 libpq_environment(p, p['login_db'], application_name=False), 'pg_dumpall', p)
        manifest = self.base_manifest('plain')
        manifest['pg_dumpall_version'] = tool_version(self.module, pg_dumpall)
        return manifest

    def archive_paths(self, work: WorkDir, name: str) -> dict:
        p = self.module.params
        missing = [path for path in p['paths'] if not os.path.lexists(path)]
        if missing:
            raise RuntimeError(f"paths not found: {', '.join(missing)}")
        with os.fdopen(work.create(name, self.mode), 'wb') as raw:
            with tarfile.open(fileobj=raw, mode='w:gz') as archive:
                for path in p['paths']:
                    archive.add(path, arcname=path.lstrip('/'), recursive=True)  # symlinks stored as links
            raw.flush()
            os.fsync(raw.fileno())
        manifest = self.base_manifest('tar')
        manifest['paths'] = p['paths']
        return manifest


def main() -> None:
    argument_spec = postgres_common_argument_spec()
    argument_spec.update(
        kind=dict(type='str', default='database', choices=['database', 'globals', 'paths']),
        dest_dir=dict(type='path', required=True),
        name=dict(type='str'),
        format=dict(type='str', default='custom', choices=['custom', 'directory']),
        jobs=dict(type='int', default=1),
        row_counts=dict(type='str', default='exact', choices=['exact', 'estimate', 'none']),
        paths=dict(type='list', elements='path', default=[]),
        pg_bin_dir=dict(type='path'),
        mode=dict(type='raw', default='0600'),
        directory_mode=dict(type='raw', default='0700'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    check_connection_options(module)
    module.exit_json(**BackupCreate(module).run())


if __name__ == '__main__':
    main()
