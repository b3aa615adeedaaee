# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files made in directories other local users may write to, without following what they plant.

Every artefact is built inside a private work directory (``mkdtemp``: a fresh, random, 0700 name
on the same filesystem as the destination), then published under its final name with a hard link
(``linkat`` fails on any existing name, a planted symlink included, and never follows it), or a
rename after the same check where hard links are not supported. Nothing is ever opened through a
predictable name in the shared directory. On failure, the work directory and whatever was
published are removed, so nothing half-made is left.

Written by hand because neither Ansible's ``atomic_move`` nor ``tempfile`` offers an exclusive,
no-replace publication of a set of files (artefact + manifest) with rollback.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
NOFOLLOW = getattr(os, 'O_NOFOLLOW', 0)
CLOEXEC = getattr(os, 'O_CLOEXEC', 0)
DIR_FLAGS = os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | CLOEXEC
EXCL_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC
_CAUSES = {
    errno.ENOSPC: 'the filesystem is full',
    errno.EDQUOT: 'the disk quota is exceeded',
    errno.EIO: 'an I/O error (failing disk or storage?)',
    errno.EROFS: 'the filesystem is read-only',
    errno.ELOOP: 'a symlink is in the way (not followed)',
    errno.EEXIST: 'the name already exists (never overwritten)',
}
# linkat() errors meaning "this filesystem does not do hard links here": fall back to a checked rename.
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, getattr(errno, 'ENOTSUP', errno.EOPNOTSUPP), errno.EMLINK, errno.EXDEV}


class UnsafePath(Exception):
    """A path another user could redirect (a symlink they own in it, a name already there)."""


def os_error_text(exc: BaseException) -> str:
    """'No space left on device [ENOSPC, the filesystem is full]' for an OSError."""
    if not isinstance(exc, OSError) or exc.errno is None:
        return str(exc)
    code = errno.errorcode.get(exc.errno, str(exc.errno))
    cause = _CAUSES.get(exc.errno)
    return f"{exc.strerror or exc} [{code}{', ' + cause if cause else ''}]"


def describe_os_error(exc: BaseException, path: str | None = None) -> str:
    """'<path>: No space left on device [ENOSPC, the filesystem is full]' (path defaults to the
    error's file name)."""
    where = path or getattr(exc, 'filename', None) or ''
    return f'{where}: {os_error_text(exc)}' if where else os_error_text(exc)


def check_plain_name(name: str, what: str = 'name') -> str | None:
    """Why name cannot be a file name in the destination directory, or None."""
    if not name or name in ('.', '..') or '/' in name or '\x00' in name:
        return f'{what} must be a plain file name (no /, not . or ..), got {name!r}'
    if name.startswith('.'):
        return f'{what} cannot start with a dot (hidden names are work files), got {name!r}'
    return None


def sanitize_name(name: str) -> str:
    """A plain file name from a free text such as a database name (/ and NUL replaced, no leading dot)."""
    cleaned = name.replace('/', '_').replace('\x00', '_')
    return '_' + cleaned[1:] if cleaned.startswith('.') else (cleaned or '_')


def parse_mode(value, what: str) -> int:
    """A permission mode from '0640', '640' or an int (YAML's 0640 is already octal). Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f'{what} must be an octal mode such as 0600, got {value!r}')
    if isinstance(value, int):
        mode = value
    else:
        text = str(value).strip()
        try:
            mode = int(text, 8)
        except ValueError:
            raise ValueError(f"{what} must be an octal mode such as '0600', got {value!r}") from None
    if not 0 <= mode <= 0o777:
        raise ValueError(f'{what} must be a permission mode between 0000 and 0777, got {value!r}')
    return mode


def _trusted_owner(uid: int) -> bool:
    return uid in (0, os.geteuid())


def check_trusted_path(path: str) -> None:
    """Refuse a path with a symlink component owned by another user (the rule of the kernel's
    protected_symlinks, applied to every component, not only in sticky directories)."""
    current = '/'
    for part in [p for p in os.path.abspath(path).split('/') if p]:
        current = os.path.join(current, part)
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(info.st_mode):
            if not _trusted_owner(info.st_uid):
                raise UnsafePath(f'{current} is a symlink owned by uid {info.st_uid}, not by root or by this user: '
                                 'refusing to follow a link another user may have planted')
            current = os.path.realpath(current)


def ensure_dir(path: str, mode: int = PRIVATE_DIR_MODE) -> list[str]:
    """Create path and its missing parents with exactly mode (umask-independent); the directories
    created, top-down. Existing directories are left as they are. Raises UnsafePath or OSError."""
    check_trusted_path(path)
    missing = []
    current = os.path.abspath(path)
    while not os.path.lexists(current):
        missing.append(current)
        current = os.path.dirname(current)
    created = []
    try:
        for directory in reversed(missing):
            try:
                os.mkdir(directory, mode)
            except FileExistsError:  # made by someone else meanwhile: checked below like any existing one
                continue
            created.append(directory)
            fd = os.open(directory, DIR_FLAGS | NOFOLLOW)
            try:
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
        check_trusted_path(path)
        if not os.path.isdir(path):
            raise UnsafePath(f'{path} is not a directory')
    except BaseException:
        remove_created(created)
        raise
    return created


def remove_created(created: list[str]) -> None:
    """Remove directories made by ensure_dir if they are (still) empty, deepest first."""
    for directory in reversed(created):
        try:
            os.rmdir(directory)
        except OSError:
            pass


def shared_dir_warning(path: str) -> str | None:
    """A warning when other users can write to path (they could delete or rename backups)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    if info.st_mode & 0o022 or not _trusted_owner(info.st_uid):
        sticky = ' (sticky)' if info.st_mode & stat.S_ISVTX else ''
        return (f'{path} (mode {stat.S_IMODE(info.st_mode):04o}{sticky}, owner uid {info.st_uid}) can be written by '
                'other users: they cannot read or redirect the backups, but they may delete or rename them; '
                'keep backups in a directory only their owner can write')
    return None


def fsync_dir(fd: int) -> None:
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems refuse fsync on a directory
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.EROFS):
            raise


def set_tree_mode(path: str, file_mode: int, dir_mode: int) -> None:
    """chmod a file, or a directory and everything below it, through descriptors (no symlink followed),
    fsyncing files on the way (a later crash leaves a complete artefact or none)."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        raise UnsafePath(f'{path} is a symlink')
    if stat.S_ISDIR(info.st_mode):
        for root, dirs, files in os.walk(path):
            for name in files:
                set_tree_mode(os.path.join(root, name), file_mode, dir_mode)
            for name in dirs:
                fd = os.open(os.path.join(root, name), DIR_FLAGS | NOFOLLOW)
                try:
                    os.fchmod(fd, dir_mode)
                finally:
                    os.close(fd)
        fd = os.open(path, DIR_FLAGS | NOFOLLOW)
        try:
            os.fchmod(fd, dir_mode)
            fsync_dir(fd)
        finally:
            os.close(fd)
        return
    fd = os.open(path, os.O_RDONLY | NOFOLLOW | CLOEXEC)
    try:
        os.fchmod(fd, file_mode)
        os.fsync(fd)
    finally:
        os.close(fd)


class WorkDir:
    """A private work directory inside a destination directory, and the no-replace publication of
    what is built in it. Use as a context manager: on an exception everything is rolled back."""

    def __init__(self, dest_dir: str, prefix: str = 'work') -> None:
        self.dest_dir = dest_dir
        self.parent_fd = os.open(dest_dir, DIR_FLAGS)
        try:
            self.path = tempfile.mkdtemp(prefix=f'.{prefix}-', suffix='.tmp', dir=dest_dir)  # 0700, fresh name
            self.fd = os.open(self.path, DIR_FLAGS | NOFOLLOW)
        except BaseException:
            os.close(self.parent_fd)
            raise
        self.published: list[tuple[str, int, int, bool]] = []

    def __enter__(self) -> 'WorkDir':
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.rollback()
        self.close()

    def join(self, name: str) -> str:
        return os.path.join(self.path, name)

    def create(self, name: str, mode: int = PRIVATE_FILE_MODE) -> int:
        """A new file in the work directory (O_EXCL, O_NOFOLLOW), opened for writing: its descriptor."""
        fd = os.open(name, EXCL_FLAGS, mode, dir_fd=self.fd)
        os.fchmod(fd, mode)
        return fd

    def publish(self, name: str, final: str | None = None) -> str:
        """Move name from the work directory to dest_dir/final without replacing or following
        anything already there. Returns the final path. Raises FileExistsError or OSError."""
        final = final or name
        info = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        is_dir = stat.S_ISDIR(info.st_mode)
        target = os.path.join(self.dest_dir, final)
        if is_dir:
            self._rename_checked(name, final, target)
        else:
            try:
                os.link(name, final, src_dir_fd=self.fd, dst_dir_fd=self.parent_fd, follow_symlinks=False)
            except FileExistsError:
                raise FileExistsError(errno.EEXIST, 'already exists: a backup is never overwritten', target) from None
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise
                self._rename_checked(name, final, target)
            else:
                os.unlink(name, dir_fd=self.fd)
        self.published.append((final, info.st_dev, info.st_ino, is_dir))
        fsync_dir(self.parent_fd)
        return target

    def _rename_checked(self, name: str, final: str, target: str) -> None:
        try:
            os.stat(final, dir_fd=self.parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            pass
        else:
            raise FileExistsError(errno.EEXIST, 'already exists: a backup is never overwritten', target)
        # rename(2) replaces neither a non-empty directory nor (for a directory) a file or a symlink.
        os.rename(name, final, src_dir_fd=self.fd, dst_dir_fd=self.parent_fd)

    def rollback(self) -> None:
        """Remove what was published (only if it is still what we put there) and the work directory."""
        for final, dev, ino, is_dir in reversed(self.published):
            try:
                info = os.stat(final, dir_fd=self.parent_fd, follow_symlinks=False)
                if (info.st_dev, info.st_ino) != (dev, ino):
                    continue
                if is_dir:
                    shutil.rmtree(final, dir_fd=self.parent_fd, ignore_errors=True)
                else:
                    os.unlink(final, dir_fd=self.parent_fd)
            except OSError:
                pass
        self.published = []
        self._remove_work()

    def _remove_work(self) -> None:
        shutil.rmtree(os.path.basename(self.path), dir_fd=self.parent_fd, ignore_errors=True)

    def close(self) -> None:
        if self.fd is not None:
            self._remove_work()  # empty after a publication, gone after a rollback
            os.close(self.fd)
            os.close(self.parent_fd)
            self.fd = None
