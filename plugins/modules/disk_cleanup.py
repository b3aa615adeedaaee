#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: disk_cleanup
short_description: Free disk space safely, oldest files first, until a target is met
version_added: 0.1.0
description:
  - Deletes, compresses or truncates the files of a directory tree that match patterns, age and
    size, oldest first, and stops as soon as the filesystem reaches the free-space target.
  - Safe by construction, only inside O(allowed_roots) and never in C(/) or a system tree; the
    walk holds directory descriptors and never follows a symlink, so nothing outside O(path) is
    touched even if a directory is swapped for a symlink while it runs; a file held open by a
    process is not deleted (its space would not come back) but reported, and O(action=truncate)
    can empty it.
  - Optionally prunes Docker (stopped containers, dangling images, build cache; unused images and
    volumes only when asked) through the Docker SDK, honouring the target and check mode.
  - In check mode lists the files it would touch and the bytes it would free, and changes nothing.
author:
  - Runbook Maintainers (@runbook-maintenance)
attributes:
  check_mode:
    support: full
    description: Lists the files and Docker objects it would remove and the bytes it would free.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: A second run finds nothing left to remove (or the target already met).
options:
  path:
    description: Directory to clean. It must lie (symlinks resolved) inside one of O(allowed_roots).
    type: path
    required: true
  patterns:
    description: Glob patterns matched against the file name or its path relative to O(path). Default, every file.
    type: list
    elements: str
    default: ['*']
  excludes:
    description: Glob patterns of files (and, with a trailing C(/), directories) never touched.
    type: list
    elements: str
    default: []
  age:
    description: Minimum age (modification time) of a file, as a duration (V(7d), V(12h), V(30m)). Default, any age.
    type: str
  min_size:
    description: Minimum size of a file (V(10M), V(500k), bytes). Default, any size.
    type: str
  files:
    description: Process files. V(false) with O(docker_prune) prunes Docker only (O(path) still
      names the filesystem whose free space is the target).
    type: bool
    default: true
  recurse:
    description: Descend into subdirectories (never into symlinks, never across mount points).
    type: bool
    default: true
  keep_newest:
    description: Keep the N newest matching files of each directory.
    type: int
    default: 0
  action:
    description:
      - V(delete) removes files; V(compress) gzips them in place (keeping mode, owner and
        modification time); V(truncate) empties them, the way to free the space of a log still
        held open by a process.
      - A file with more than one name (a hard link, whose other name may lie outside O(path)
        and O(allowed_roots), e.g. in C(/etc)) is never truncated or compressed; it is counted
        in RV(skipped_files) (C(hardlinked)) and listed in RV(hardlinked_files). V(delete) removes
        only the name inside O(path) (the data stays reachable through its other names), and its
        bytes count in RV(bytes_freed) only when that name was the last one.
      - Every action opens the file with C(O_NOFOLLOW) relative to a directory descriptor and
        checks it is still the file the scan selected, so a name swapped meanwhile for a symlink,
        a FIFO or another file is left alone (reported in RV(errors)); V(compress) never replaces
        an existing C(<name>.gz).
    type: str
    default: delete
    choices: [delete, compress, truncate]
  target_free_percent:
    description: Stop as soon as the filesystem holding O(path) has this percentage free.
    type: float
  target_free_bytes:
    description: Stop as soon as the filesystem holding O(path) has this much free (V(2G), bytes).
    type: str
  allowed_roots:
    description:
      - Trees cleaning may happen in. C(/) and the system trees (C(/etc), C(/usr), C(/bin),
        C(/sbin), C(/lib*), C(/boot), C(/proc), C(/sys), C(/dev)) are refused whatever this says.
    type: list
    elements: path
    default: [/var/log, /var/tmp, /tmp, /var/cache, /var/backups]
  max_files_listed:
    description: At most this many paths are returned in RV(files); RV(files_count) has the total.
    type: int
    default: 1000
  docker_prune:
    description:
      - Docker objects to prune, after the files, and only while the target is not met.
    type: dict
    suboptions:
      containers:
        description: Stopped containers.
        type: bool
        default: true
      dangling_images:
        description: Untagged images no container uses.
        type: bool
        default: true
      build_cache:
        description: The builder's cache.
        type: bool
        default: true
      unused_images:
        description: Every image no container uses (tagged ones too).
        type: bool
        default: false
      volumes:
        description: Volumes no container uses (their data is lost).
        type: bool
        default: false
      labels:
        description:
          - Only prune containers, images and volumes carrying these labels (C(key) or
            C(key=value)), e.g. to leave other teams' objects alone on a shared host.
        type: list
        elements: str
        default: []
  docker_host:
    description: Docker daemon address (default from the environment, C(unix:///var/run/docker.sock)).
    type: str
requirements:
  - docker (Python SDK) on the host running the module, only for O(docker_prune)
notes:
  - Detecting open files reads C(/proc/*/fd); only root sees every process. Run with C(become) or
    the module warns that open files of other users may go unnoticed.
seealso:
  - module: community.docker.docker_prune
'''

EXAMPLES = r'''
- name: Disk-space emergency - old rotated logs first, until 15% is free
  runbook.maintenance.disk_cleanup:
    path: /var/log
    patterns: ['*.gz', '*.[0-9]', '*.old']
    age: 2d
    target_free_percent: 15
  become: true

- name: Compress application logs older than a day, keeping the newest two per directory
  runbook.maintenance.disk_cleanup:
    path: /var/log/app
    patterns: ['*.log']
    age: 1d
    keep_newest: 2
    action: compress

- name: What would a cleanup of /var/tmp free? (nothing is removed)
  runbook.maintenance.disk_cleanup:
    path: /var/tmp
    age: 7d
    docker_prune: {}
  check_mode: true
  register: preview
'''

RETURN = r'''
directory:
  description: The cleaned directory, symlinks resolved.
  returned: always
  type: str
  sample: /var/log/app
action:
  description: The action applied.
  returned: always
  type: str
  sample: delete
files:
  description:
    - Paths touched (or that would be), at most O(max_files_listed); oldest first with a target,
      else directory by directory.
  returned: always
  type: list
  elements: str
  sample: [/var/log/app/app.log.3.gz]
files_count:
  description: Number of files touched (or that would be).
  returned: always
  type: int
  sample: 1
bytes_freed:
  description: Bytes freed (or that would be); for V(compress), the size saved.
  returned: always
  type: int
  sample: 10485760
free_before:
  description: Free space of the filesystem holding O(path) before.
  returned: always
  type: dict
  sample: {bytes: 1048576, percent: 3.2, total: 32768000}
free_after:
  description: Free space after (in check mode, the expected free space).
  returned: always
  type: dict
  sample: {bytes: 11534336, percent: 35.2, total: 32768000}
target_met:
  description: Whether the free-space target is reached (null without a target).
  returned: always
  type: bool
  sample: true
skipped_files:
  description:
    - Files left alone, counted by reason (open, symlink, excluded, too_new, too_small, kept_newest,
      hardlinked...).
    - Not named C(skipped), a key Ansible reserves to mark a task as skipped.
  returned: always
  type: dict
  sample: {open: 1, symlink: 2, excluded: 0, too_new: 10, too_small: 0, kept_newest: 2, hardlinked: 1}
hardlinked_files:
  description:
    - Files with more than one name (hard links) met, at most O(max_files_listed) - left alone by
      V(truncate) and V(compress); with V(delete), names removed whose data another name still holds.
  returned: always
  type: list
  elements: str
  sample: [/var/tmp/app/passwd-link]
open_files:
  description: Matching files held open by a process (not deleted), at most O(max_files_listed).
  returned: always
  type: list
  elements: str
errors:
  description: Files that could not be processed, with the reason.
  returned: always
  type: list
  elements: str
docker:
  description: Docker prune steps with what they removed (or would) and the bytes reclaimed.
  returned: when O(docker_prune) is set
  type: list
  elements: dict
  sample: [{step: containers, removed: 3, bytes_reclaimed: 1024, skipped: false}]
'''

import errno
import gzip
import os
import secrets
import shutil
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.dockersdk import connect
from ansible_collections.runbook.maintenance.plugins.module_utils.fsclean import (
    DIR_FLAGS,
    Candidate,
    Selection,
    check_path_policy,
    open_files,
    open_parent,
    expected_release,
    same_file,
    scan,
    unchanged,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.safefile import os_error_text
from ansible_collections.runbook.maintenance.plugins.module_utils.sizes import check_size
from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import check_duration


# O_NONBLOCK: a FIFO swapped in for the file must not hang the open; O_NOFOLLOW: nor a symlink lead out.
OPEN_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0)
# A descriptor that pins the inode without reading it (O_PATH on Linux), to see whether a delete freed it.
PATH_FLAGS = getattr(os, 'O_PATH', os.O_RDONLY | os.O_NONBLOCK) | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)
DOCKER_STEPS = ('containers', 'dangling_images', 'build_cache', 'unused_images', 'volumes')


class Replaced(Exception):
    """The name no longer holds the file the scan selected."""


def free_space(path: str) -> dict:
    info = os.statvfs(path)
    total = info.f_blocks * info.f_frsize
    free = info.f_bavail * info.f_frsize
    return {'bytes': free, 'total': total, 'percent': round(free * 100.0 / total, 2) if total else 100.0}


class DiskCleanup:
    """Selects and processes the files of one tree, then Docker objects, until the target."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        p = module.params
        errors = []
        try:
            self.min_age = check_duration('age', p['age'], allow_zero=True) if p['age'] else 0.0
        except ValueError as exc:
            errors.append(str(exc))
        try:
            self.min_size = check_size('min_size', p['min_size']) if p['min_size'] else 0
        except ValueError as exc:
            errors.append(str(exc))
        self.target_bytes = None
        if p['target_free_bytes'] is not None:
            try:
                self.target_bytes = check_size('target_free_bytes', p['target_free_bytes'], allow_zero=False)
            except ValueError as exc:
                errors.append(str(exc))
        if p['target_free_percent'] is not None and not 0 < p['target_free_percent'] <= 100:
            errors.append(f"target_free_percent must be in (0, 100], got {p['target_free_percent']}")
        if p['keep_newest'] < 0:
            errors.append(f"keep_newest cannot be negative, got {p['keep_newest']}")
        if p['max_files_listed'] < 0:
            errors.append(f"max_files_listed cannot be negative, got {p['max_files_listed']}")
        if errors:
            module.fail_json(msg='Invalid options: ' + '; '.join(errors))
        problem, self.real = check_path_policy(p['path'], p['allowed_roots'])
        if problem:
            module.fail_json(msg=problem, path=p['path'])
        self.freed = 0
        self.expected_free = 0
        self.dir_cache: tuple[str, int] | None = None

    # ---- target --------------------------------------------------------------------------
    def has_target(self) -> bool:
        return self.target_bytes is not None or self.module.params['target_free_percent'] is not None

    def met(self, free: dict) -> bool:
        percent = self.module.params['target_free_percent']
        if not self.has_target():
            return False
        return ((self.target_bytes is None or free['bytes'] >= self.target_bytes)
                and (percent is None or free['percent'] >= percent))

    def current_free(self) -> dict:
        """Real free space; in check mode the free space expected after what was planned so far."""
        if not self.module.check_mode:
            return free_space(self.real)
        base = dict(self.before)
        base['bytes'] = min(base['total'], base['bytes'] + self.expected_free)
        base['percent'] = round(base['bytes'] * 100.0 / base['total'], 2) if base['total'] else 100.0
        return base

    # ---- files ---------------------------------------------------------------------------
    def parent(self, root_fd: int, relpath: str) -> tuple[int, str]:
        """The directory descriptor of relpath's parent, reached with O_NOFOLLOW from the root and
        kept while the next files live in the same directory (one walk per directory, not per file)."""
        parent, _sep, name = relpath.rpartition('/')
        if self.dir_cache is None or self.dir_cache[0] != parent:
            self.close_cache()
            fd = open_parent(root_fd, relpath)[0]
            self.dir_cache = (parent, fd)
        return self.dir_cache[1], name

    def close_cache(self) -> None:
        if self.dir_cache is not None:
            os.close(self.dir_cache[1])
            self.dir_cache = None

    def process(self, root_fd: int, candidate: Candidate, action: str) -> tuple[int, int, str | None, str | None]:
        """Act on one file: (bytes freed as reported, bytes of space really released, error, skip reason).

        Every action works on a descriptor opened with O_NOFOLLOW and checked with fstat against
        what the scan selected (same inode, regular file), so a name swapped for a symlink, a FIFO
        or another file meanwhile is left alone; truncate and compress refuse a file with more
        than one name (a hard link: its data may belong to a file outside the allowed area)."""
        try:
            dir_fd, name = self.parent(root_fd, candidate.relpath)
        except OSError as exc:
            return 0, 0, f'{candidate.relpath}: its directory changed during the run ({exc.strerror})', None
        try:
            if not unchanged(dir_fd, name, candidate):
                return 0, 0, f'{candidate.relpath}: replaced or removed since it was selected; left alone', None
            if action == 'delete':
                return self.delete(dir_fd, name, candidate)
            if action == 'truncate':
                fd = os.open(name, os.O_WRONLY | OPEN_FLAGS, dir_fd=dir_fd)
                try:
                    info = os.fstat(fd)
                    if not same_file(info, candidate):
                        return 0, 0, f'{candidate.relpath}: replaced since it was selected; left alone', None
                    if info.st_nlink > 1:
                        return 0, 0, None, 'hardlinked'
                    os.ftruncate(fd, 0)
                finally:
                    os.close(fd)
                return candidate.size, candidate.blocks_bytes, None, None
            saved = self.compress(dir_fd, name, candidate)
            if saved is None:
                return 0, 0, None, 'hardlinked'
            return saved, saved, None, None
        except Replaced:
            return 0, 0, f'{candidate.relpath}: replaced since it was selected; left alone', None
        except OSError as exc:
            if action == 'compress':
                return 0, 0, f'{candidate.relpath}: compression failed, the original is kept: {os_error_text(exc)}', None
            return 0, 0, f'{candidate.relpath}: {action} failed: {os_error_text(exc)}', None

    @staticmethod
    def delete(dir_fd: int, name: str, candidate: Candidate) -> tuple[int, int, str | None, str | None]:
        """Remove the name; its bytes count as freed only when that was the data's last name."""
        fd = os.open(name, PATH_FLAGS, dir_fd=dir_fd)
        try:
            if not same_file(os.fstat(fd), candidate):
                return 0, 0, f'{candidate.relpath}: replaced since it was selected; left alone', None
            os.unlink(name, dir_fd=dir_fd)
            if os.fstat(fd).st_nlink > 0:  # another name still holds the data: nothing freed
                return 0, 0, None, None
        finally:
            os.close(fd)
        return candidate.size, candidate.blocks_bytes, None, None

    @staticmethod
    def compress(dir_fd: int, name: str, candidate: Candidate) -> int | None:
        """gzip name to name.gz in the same directory, keeping mode, owner and times; returns bytes
        saved, or None for a multiply-linked file (left alone). The .gz is built under a fresh
        O_EXCL name and published with a hard link, so an existing name.gz (planted or not) is
        neither followed nor replaced."""
        src_fd = os.open(name, os.O_RDONLY | OPEN_FLAGS, dir_fd=dir_fd)
        try:
            info = os.fstat(src_fd)
            if not same_file(info, candidate):
                raise Replaced(name)
            if info.st_nlink > 1:
                return None
            temp = f'.{name}.gz.{secrets.token_hex(6)}.tmp'
            dst_fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0),
                             0o600, dir_fd=dir_fd)
        except BaseException:
            os.close(src_fd)
            raise
        try:
            with os.fdopen(src_fd, 'rb') as src, os.fdopen(dst_fd, 'wb') as raw:
                with gzip.GzipFile(filename=name, mode='wb', fileobj=raw, mtime=int(info.st_mtime)) as out:
                    shutil.copyfileobj(src, out, 1024 * 1024)
                raw.flush()
                os.fsync(raw.fileno())
                if os.geteuid() == 0:
                    os.fchown(raw.fileno(), info.st_uid, info.st_gid)
                os.fchmod(raw.fileno(), info.st_mode & 0o7777)
                compressed = os.fstat(raw.fileno()).st_size
                os.utime(raw.fileno(), ns=(info.st_atime_ns, info.st_mtime_ns))
            try:
                os.link(temp, f'{name}.gz', src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
                # No hard links on this filesystem: a rename, after the same no-replace check.
                try:
                    os.stat(f'{name}.gz', dir_fd=dir_fd, follow_symlinks=False)
                except FileNotFoundError:
                    os.rename(temp, f'{name}.gz', src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                    temp = None
                else:
                    raise FileExistsError(errno.EEXIST, 'File exists', f'{name}.gz') from None
        except BaseException:
            try:
                if temp is not None:
                    os.unlink(temp, dir_fd=dir_fd)
            except OSError:
                pass
            raise
        if temp is not None:
            os.unlink(temp, dir_fd=dir_fd)
        current = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        if (current.st_dev, current.st_ino) == (info.st_dev, info.st_ino):
            os.unlink(name, dir_fd=dir_fd)
        return max(0, info.st_size - compressed)

    # ---- docker --------------------------------------------------------------------------
    def docker_prune(self, result: dict) -> None:
        wanted = self.module.params['docker_prune']
        if wanted is None:
            return
        _docker, client = connect(self.module, self.module.params['docker_host'], **result)
        steps = result['docker'] = []
        for step in DOCKER_STEPS:
            if not wanted.get(step):
                continue
            entry = {'step': step, 'removed': 0, 'bytes_reclaimed': 0, 'skipped': False, 'items': []}
            steps.append(entry)
            if self.met(self.current_free()):
                entry['skipped'] = True
                continue
            try:
                self.docker_step(client, step, entry)
            except Exception as exc:  # noqa: BLE001 - API errors of any kind are reported per step
                entry['error'] = str(exc)
            self.expected_free += entry['bytes_reclaimed']
            if entry['removed']:
                result['changed'] = True

    def docker_step(self, client, step: str, entry: dict) -> None:
        check = self.module.check_mode
        labels = self.module.params['docker_prune']['labels']
        only = {'label': labels} if labels else {}
        if step == 'containers':
            stopped = client.containers.list(all=True, filters=dict(only, status='exited')) + \
                client.containers.list(all=True, filters=dict(only, status='created'))
            entry['items'] = [c.name for c in stopped]
            if check:
                sizes = {c['Id']: c.get('SizeRw') or 0 for c in client.api.containers(all=True, size=True)}
                entry.update(removed=len(stopped), bytes_reclaimed=sum(sizes.get(c.id, 0) for c in stopped))
            else:
                done = client.containers.prune(filters=only or None)
                entry.update(removed=len(done.get('ContainersDeleted') or []),
                             bytes_reclaimed=done.get('SpaceReclaimed') or 0)
        elif step in ('dangling_images', 'unused_images'):
            dangling = step == 'dangling_images'
            if check:
                used = {c.attrs.get('Image') for c in client.containers.list(all=True)}
                images = client.images.list(filters=dict(only, dangling=True) if dangling else only)
                victims = [i for i in images if i.id not in used]
                entry.update(items=[(i.tags or [i.short_id])[0] for i in victims], removed=len(victims),
                             bytes_reclaimed=sum(i.attrs.get('Size') or 0 for i in victims))
            else:
                done = client.images.prune(filters=dict(only, dangling=dangling))
                deleted = done.get('ImagesDeleted') or []
                entry.update(removed=len([d for d in deleted if d.get('Deleted')]),
                             items=[d.get('Untagged') or d.get('Deleted') for d in deleted],
                             bytes_reclaimed=done.get('SpaceReclaimed') or 0)
        elif step == 'build_cache':
            if check:
                usage = client.df().get('BuildCache') or []
                idle = [b for b in usage if not b.get('InUse')]
                entry.update(removed=len(idle), bytes_reclaimed=sum(b.get('Size') or 0 for b in idle))
            else:
                done = client.api.prune_builds()
                entry.update(removed=len(done.get('CachesDeleted') or []),
                             bytes_reclaimed=done.get('SpaceReclaimed') or 0)
        elif step == 'volumes':
            if check:
                usage = client.df().get('Volumes') or []
                idle = [v for v in usage if (v.get('UsageData') or {}).get('RefCount', 1) == 0
                        and all(self.has_label(v.get('Labels') or {}, label) for label in labels)]
                entry.update(items=[v['Name'] for v in idle], removed=len(idle),
                             bytes_reclaimed=sum(max(0, (v.get('UsageData') or {}).get('Size', 0)) for v in idle))
            else:
                done = client.volumes.prune(filters=only or None)
                entry.update(items=done.get('VolumesDeleted') or [], removed=len(done.get('VolumesDeleted') or []),
                             bytes_reclaimed=done.get('SpaceReclaimed') or 0)

    @staticmethod
    def has_label(present: dict, wanted: str) -> bool:
        key, sep, value = wanted.partition('=')
        return key in present and (not sep or present[key] == value)

    # ---- run -----------------------------------------------------------------------------
    def run(self) -> dict:
        p = self.module.params
        check = self.module.check_mode
        self.before = free_space(self.real)
        held, complete = open_files() if p['files'] else (set(), True)
        if not complete:
            self.module.warn('not every process could be inspected for open files (run as root to see them all)')
        root_fd = os.open(self.real, DIR_FLAGS)
        touched: list[str] = []
        touched_count = 0
        open_listed: list[str] = []
        errors: list[str] = []
        try:
            if p['files'] and not self.met(self.before):  # a met target needs no walk at all
                selection = scan(root_fd, p['patterns'], p['excludes'], self.min_age, self.min_size, p['recurse'],
                                 p['keep_newest'], time.time(), held, p['action'],
                                 one_filesystem_dev=os.fstat(root_fd).st_dev)
            else:
                selection = Selection()
            if self.has_target():  # oldest first, to stop as soon as the target is met
                candidates = sorted(selection.candidates, key=lambda c: (c.mtime, c.relpath))
            else:  # everything goes: directory by directory, one descriptor walk each
                candidates = sorted(selection.candidates, key=lambda c: (c.relpath.rpartition('/')[0], c.mtime, c.relpath))
            releases = expected_release(candidates) if p['action'] == 'delete' else {}
            hardlinked = [os.path.join(self.real, relpath) for relpath in selection.hardlinked]
            for candidate in candidates:
                if candidate.held_open and p['action'] != 'truncate':
                    selection.skipped['open'] += 1
                    if len(open_listed) < p['max_files_listed']:
                        open_listed.append(os.path.join(self.real, candidate.relpath))
                    continue
                if p['action'] == 'truncate' and candidate.size == 0:
                    continue
                if self.has_target() and self.met(self.current_free()):
                    break
                skip = None
                if check:
                    freed, released = candidate.size, (candidate.blocks_bytes if p['action'] != 'compress'
                                                       else candidate.blocks_bytes // 2)
                    if candidate.nlink > 1 and releases.get((candidate.dev, candidate.ino)) != candidate.relpath:
                        freed = released = 0  # another name keeps the data: deleting this one frees nothing
                    error = None
                else:
                    freed, released, error, skip = self.process(root_fd, candidate, p['action'])
                if error:
                    errors.append(error)
                    continue
                if candidate.nlink > 1 or skip:
                    hardlinked.append(os.path.join(self.real, candidate.relpath))
                if skip:
                    selection.skipped[skip] += 1
                    continue
                self.freed += freed
                self.expected_free += released
                touched_count += 1
                if len(touched) < p['max_files_listed']:
                    touched.append(os.path.join(self.real, candidate.relpath))
        finally:
            self.close_cache()
            os.close(root_fd)
        result = {
            'changed': touched_count > 0, 'directory': self.real, 'action': p['action'],
            'files': touched, 'files_count': touched_count,
            'bytes_freed': self.freed, 'free_before': self.before, 'skipped_files': selection.skipped,
            'open_files': open_listed, 'errors': errors[:p['max_files_listed']],
            'hardlinked_files': hardlinked[:p['max_files_listed']],
        }
        self.docker_prune(result)
        after = self.current_free()
        result['free_after'] = after
        result['target_met'] = self.met(after) if self.has_target() else None
        if check and p['action'] == 'compress':
            result['msg'] = 'check mode: bytes_freed counts whole files; compression saves part of them'
        return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path', required=True),
            patterns=dict(type='list', elements='str', default=['*']),
            excludes=dict(type='list', elements='str', default=[]),
            age=dict(type='str'),
            min_size=dict(type='str'),
            files=dict(type='bool', default=True),
            recurse=dict(type='bool', default=True),
            keep_newest=dict(type='int', default=0),
            action=dict(type='str', default='delete', choices=['delete', 'compress', 'truncate']),
            target_free_percent=dict(type='float'),
            target_free_bytes=dict(type='str'),
            allowed_roots=dict(type='list', elements='path',
                               default=['/var/log', '/var/tmp', '/tmp', '/var/cache', '/var/backups']),
            max_files_listed=dict(type='int', default=1000),
            docker_prune=dict(type='dict', options=dict(
                containers=dict(type='bool', default=True),
                dangling_images=dict(type='bool', default=True),
                build_cache=dict(type='bool', default=True),
                unused_images=dict(type='bool', default=False),
                volumes=dict(type='bool', default=False),
                labels=dict(type='list', elements='str', default=[]),
            )),
            docker_host=dict(type='str'),
        ),
        supports_check_mode=True,
    )
    result = DiskCleanup(module).run()
    if result['errors'] and not result['files_count']:
        module.fail_json(msg=f"Nothing could be cleaned: {result['errors'][0]}", **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
