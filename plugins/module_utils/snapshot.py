# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rollback point of a maintenance window: configuration files and package versions saved
under <dir>/<run id>/ with a manifest, <dir>/latest pointing at the newest, the oldest pruned.

Pure functions (the manifest, its comparison, dpkg's output, what to prune) and Snapshot, the
work of the rollback_snapshot module. One module run replaces the stat, slurp, copy, file and
find tasks the role used to run (about fifteen module runs per host and window)."""

from __future__ import annotations

import errno
import grp
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import stat
import time

from ansible_collections.runbook.maintenance.plugins.module_utils.safefile import (
    CLOEXEC, DIR_FLAGS, EXCL_FLAGS, NOFOLLOW, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, UnsafePath, WorkDir,
    check_trusted_path, describe_os_error, ensure_dir, fsync_dir, remove_created)

# A snapshot's name: a run id such as 20261206T020000Z (starts with a digit: what pruning counts).
RUN_ID_RE = re.compile(r'^[0-9][0-9A-Za-z_.-]*$')
LATEST = 'latest'
MANIFEST = 'manifest.json'
CHUNK = 1024 * 1024
# Fields that differ between two snapshots of the same state.
VOLATILE = ('run_id', 'created_at')


def check_run_id(run_id: str) -> str | None:
    """Why run_id cannot name a snapshot, or None."""
    if not RUN_ID_RE.match(run_id or '') or len(run_id) > 128:
        return ('run_id must be a plain name that starts with a digit (letters, digits, . _ -), '
                f'e.g. 20261206T020000Z; got {run_id!r}')
    return None


def comparable(manifest: dict) -> dict:
    """The manifest without what changes from run to run (its id and time)."""
    return {k: v for k, v in manifest.items() if k not in VOLATILE}


def same_state(latest: dict | None, new: dict) -> bool:
    """Whether the newest snapshot already holds what a new one would save (JSON-equal)."""
    if not isinstance(latest, dict):
        return False
    return json.loads(json.dumps(comparable(latest))) == json.loads(json.dumps(comparable(new)))


def parse_dpkg(stdout: str) -> dict:
    """{package: version} from `dpkg-query -W -f='${Package} ${Version}\\n'` (neither has spaces)."""
    out = {}
    for line in stdout.splitlines():
        name, _sep, version = line.strip().partition(' ')
        if name and version:
            out[name] = version
    return out


def to_prune(names: list[str], keep: int, protect: str) -> list[str]:
    """The snapshots beyond the newest `keep` (names sort by time), never `protect` (the newest saved)."""
    ordered = sorted((n for n in names if RUN_ID_RE.match(n)), reverse=True)
    return [n for n in ordered[keep:] if n != protect]


def mode_text(st_mode: int) -> str:
    """'0644', as ansible.builtin.stat reports a mode."""
    return f'{stat.S_IMODE(st_mode):04o}'


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def file_entry(path: str, info: os.stat_result, sha256: str) -> dict:
    """A manifest's record of one saved file (what the rollback puts back: content, mode, owner)."""
    return {'path': path, 'sha256': sha256, 'mode': mode_text(info.st_mode),
            'owner': _user(info.st_uid), 'group': _group(info.st_gid)}


def _open_regular(path: str) -> tuple[int, os.stat_result]:
    """A configuration file opened for reading (a symlink to it is followed, as a copy would)."""
    fd = os.open(path, os.O_RDONLY | CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath(f'{path} is not a regular file: only files can be saved')
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def _copy_fd(src: int, dst: int | None) -> str:
    """Read src to its end (writing it to dst when given): its sha256."""
    digest = hashlib.sha256()
    while True:
        chunk = os.read(src, CHUNK)
        if not chunk:
            break
        digest.update(chunk)
        view = memoryview(chunk)
        while dst is not None and view:
            view = view[os.write(dst, view):]
    return digest.hexdigest()


class SnapshotError(Exception):
    """A failure with a message for the user (and what the module had done by then)."""


class Snapshot:
    """Save a rollback snapshot, or keep the newest when nothing changed since it."""

    def __init__(self, module) -> None:
        self.module = module
        params = module.params
        self.dir = os.path.abspath(params['path'])
        self.run_id = params['run_id']
        self.files = list(dict.fromkeys(params['files']))  # once each, in order
        self.packages = params['packages']
        self.keep = params['keep']
        self.host = params['host'] or socket.gethostname()
        self.check_mode = module.check_mode

    # -- read-only --------------------------------------------------------------------------
    def guard(self) -> bool:
        """Refuse a snapshot directory another user could write to (a rollback copies its files back
        over /etc as root). Whether it exists."""
        check_trusted_path(self.dir)
        try:
            info = os.lstat(self.dir)
        except FileNotFoundError:
            return False
        problem = None
        if stat.S_ISLNK(info.st_mode):
            problem = 'is a symlink'
        elif not stat.S_ISDIR(info.st_mode):
            problem = 'is not a directory'
        elif info.st_uid not in (0, os.geteuid()) or info.st_mode & 0o022:
            problem = f'is uid {info.st_uid}, mode {mode_text(info.st_mode)}'
        if problem:
            raise UnsafePath(f'{self.dir} must be a directory (not a symlink) owned by root and writable by no one else '
                             f'(it {problem}): another user could plant the files a rollback copies back. Fix its owner '
                             'and mode, or set maintenance_rollback_dir (the path option).')
        return True

    def read_files(self) -> tuple[list[dict], list[str]]:
        """The files as they are now (sha256, mode, owner), and the ones that do not exist."""
        entries, missing = [], []
        for path in self.files:
            try:
                fd, info = _open_regular(path)
            except FileNotFoundError:
                missing.append(path)
                continue
            try:
                entries.append(file_entry(path, info, _copy_fd(fd, None)))
            finally:
                os.close(fd)
        return entries, missing

    def read_packages(self) -> dict:
        if not self.packages:
            return {}
        dpkg = self.module.get_bin_path('dpkg-query')
        if not dpkg:
            raise SnapshotError('dpkg-query was not found: this host has no dpkg; set packages=false '
                                '(maintenance_rollback_packages: false) to save the files only')
        rc, out, err = self.module.run_command([dpkg, '-W', '-f=${Package} ${Version}\n'],
                                               environ_update={'LC_ALL': 'C'})
        if rc != 0:
            raise SnapshotError(f'dpkg-query failed (rc {rc}): {err.strip()[:500]}')
        return parse_dpkg(out)

    def latest(self) -> tuple[str | None, dict | None]:
        """The newest snapshot's name and manifest (None, None when there is none or it is unreadable)."""
        try:
            name = os.readlink(os.path.join(self.dir, LATEST))
        except OSError:
            return None, None
        if not RUN_ID_RE.match(name):
            self.module.warn(f'{self.dir}/{LATEST} points to {name!r}, not to a snapshot: a new snapshot is taken')
            return None, None
        try:
            parent = os.open(os.path.join(self.dir, name), DIR_FLAGS | NOFOLLOW)
            try:
                fd = os.open(MANIFEST, os.O_RDONLY | NOFOLLOW | CLOEXEC, dir_fd=parent)
            finally:
                os.close(parent)
            with os.fdopen(fd, 'rb') as handle:
                manifest = json.loads(handle.read(16 * CHUNK))
        except (OSError, ValueError) as exc:
            self.module.warn(f'the newest snapshot {self.dir}/{name} cannot be read ({exc}): a new snapshot is taken')
            return None, None
        return name, manifest if isinstance(manifest, dict) else None

    def existing(self) -> list[str]:
        try:
            with os.scandir(self.dir) as entries:
                return [e.name for e in entries if RUN_ID_RE.match(e.name) and e.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []

    # -- the run ------------------------------------------------------------------------------
    def run(self) -> dict:
        exists = self.guard()
        entries, missing = self.read_files()
        manifest = {'run_id': self.run_id, 'created_at': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                    'host': self.host, 'files': entries, 'missing': missing, 'packages': self.read_packages()}
        latest_name, latest = self.latest() if exists else (None, None)
        result = {'changed': False, 'created': False, 'kept_latest': False, 'snapshot': manifest,
                  'files': [e['path'] for e in entries], 'missing': missing,
                  'packages_recorded': len(manifest['packages']), 'removed': []}
        if latest_name and same_state(latest, manifest):
            saved = os.path.join(self.dir, latest_name)
            result.update(saved=saved, kept_latest=True, snapshot=latest,
                          msg=f'Nothing changed since the snapshot {self.dir}/{LATEST}: it is kept as the rollback point.')
            return result
        saved = os.path.join(self.dir, self.run_id)
        existing = self.existing()
        if latest_name == self.run_id or self.run_id in existing:
            raise SnapshotError(f'a snapshot named {self.run_id} already exists in {self.dir} and differs from what '
                                'would be saved: a snapshot is never overwritten; use a new run_id')
        result.update(changed=True, saved=saved,
                      removed=to_prune(existing + [self.run_id], self.keep, self.run_id))
        if self.check_mode:
            result['msg'] = (f"Would save a rollback snapshot to {saved}: {', '.join(result['files']) or 'no files'} "
                             f"and {result['packages_recorded']} package versions.")
            return result
        result['snapshot'] = self.save(manifest)
        result['created'] = True
        result['files'] = [e['path'] for e in result['snapshot']['files']]
        result['missing'] = result['snapshot']['missing']
        result['removed'] = self.prune()
        result['msg'] = f"Saved the rollback snapshot {saved}: {', '.join(result['files']) or 'no files'}."
        return result

    def save(self, manifest: dict) -> dict:
        """Build the snapshot in a private work directory, publish it under its run id (never over an
        existing name), point latest at it. On any failure nothing of it is left."""
        created = ensure_dir(self.dir, PRIVATE_DIR_MODE)
        try:
            with WorkDir(self.dir, prefix='snapshot') as work:
                snap = work.join(self.run_id)
                os.mkdir(snap, PRIVATE_DIR_MODE)
                entries, missing = [], list(manifest['missing'])
                for path in self.files:
                    if path in missing:
                        continue
                    try:
                        entries.append(self._copy_in(path, snap))
                    except FileNotFoundError:  # removed since it was read
                        missing.append(path)
                saved = dict(manifest, files=entries, missing=missing)
                fd = os.open(os.path.join(snap, MANIFEST), EXCL_FLAGS, PRIVATE_FILE_MODE)
                with os.fdopen(fd, 'w', encoding='utf-8') as handle:
                    handle.write(json.dumps(saved, indent=4, sort_keys=True) + '\n')
                    handle.flush()
                    os.fsync(handle.fileno())
                work.publish(self.run_id)
                self._point_latest(work.parent_fd)
        except BaseException:
            remove_created(created)
            raise
        return saved

    def _copy_in(self, path: str, snap: str) -> dict:
        """Copy one file to <snap>/files<path>, its mode kept (directories on the way private)."""
        target_dir = snap
        for part in ['files'] + [p for p in os.path.dirname(path).split('/') if p]:
            target_dir = os.path.join(target_dir, part)
            try:
                os.mkdir(target_dir, PRIVATE_DIR_MODE)
            except FileExistsError:
                pass
        src, info = _open_regular(path)
        try:
            dst = os.open(os.path.join(target_dir, os.path.basename(path)), EXCL_FLAGS, PRIVATE_FILE_MODE)
            try:
                digest = _copy_fd(src, dst)
                os.fchmod(dst, stat.S_IMODE(info.st_mode))
                os.fsync(dst)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        return file_entry(path, info, digest)

    def _point_latest(self, parent_fd: int) -> None:
        """Replace latest with a link to the new snapshot in one rename (never a moment without it)."""
        temp = f'.{LATEST}-{os.getpid()}-{time.monotonic_ns()}.tmp'
        os.symlink(self.run_id, temp, dir_fd=parent_fd)
        try:
            os.replace(temp, LATEST, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        except BaseException:
            try:
                os.unlink(temp, dir_fd=parent_fd)
            except OSError:
                pass
            raise
        fsync_dir(parent_fd)

    def prune(self) -> list[str]:
        """Remove the snapshots beyond the newest `keep` (the one just saved is never removed)."""
        removed = []
        parent = os.open(self.dir, DIR_FLAGS | NOFOLLOW)
        try:
            for name in to_prune(self.existing(), self.keep, self.run_id):
                shutil.rmtree(name, dir_fd=parent)  # fd-based: no symlink inside is followed
                removed.append(name)
            fsync_dir(parent)
        finally:
            os.close(parent)
        return removed


def describe_failure(exc: BaseException) -> str:
    """The message for a failure of a snapshot run."""
    if isinstance(exc, (SnapshotError, UnsafePath)):
        return str(exc)
    if isinstance(exc, OSError):
        cause = describe_os_error(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EIO):
            return f'the rollback snapshot was not saved ({cause}); nothing of it was left'
        return f'the rollback snapshot failed: {cause}'
    return f'the rollback snapshot failed: {exc}'
