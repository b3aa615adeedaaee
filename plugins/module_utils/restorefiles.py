# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restores of the non-database backups of backup_create: a `paths` archive put back under a
root directory, and a `globals` dump (roles, tablespaces) prepared for psql.

Hand-written rather than tarfile.extractall/unarchive because the promises are stricter than
any filter offers on Python 3.11: every member is checked before anything is written, nothing
is ever written through a symlink (each directory is opened with O_NOFOLLOW from the root
down), files and links are created under a private temporary name then renamed over the
target (atomic; a planted symlink at the name is replaced, never followed).
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import tarfile
from dataclasses import dataclass, field

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import CHUNK_SIZE, member_problem
from ansible_collections.runbook.maintenance.plugins.module_utils.restore import RestoreError

DIR_FLAGS = os.O_RDONLY | getattr(os, 'O_DIRECTORY', 0) | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
_CREATE_ROLE_RE = re.compile(r'^CREATE ROLE ("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*);\s*$')


@dataclass
class PathsPlan:
    create: list = field(default_factory=list)
    replace: list = field(default_factory=list)
    members: int = 0


def _parts(name: str) -> list[str]:
    return [part for part in os.path.normpath(name).split('/') if part not in ('', '.')]


def _lstat_at(root_fd: int, parts: list[str]):
    """lstat of root/parts without following any symlink on the way; None when missing.
    Raises RestoreError when a parent on the way is a symlink or not a directory."""
    fd = os.dup(root_fd)
    try:
        for index, part in enumerate(parts[:-1]):
            try:
                new = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise RestoreError(f"{'/'.join(parts[:index + 1])} is a symlink or not a directory: refusing to "
                                   f'write through it ({exc.strerror})') from None
            os.close(fd)
            fd = new
        try:
            return os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None
    finally:
        os.close(fd)


def plan_paths(archive: str, dest: str) -> PathsPlan:
    """Read the whole archive and say what it would create and replace under dest. Raises
    RestoreError for an unsafe member or a path that would be written through a symlink."""
    plan = PathsPlan()
    problems = []
    root_fd = open_root(dest)
    try:
        with tarfile.open(archive, 'r:*') as tar:
            for member in tar:
                plan.members += 1
                problem = member_problem(member)
                if problem:
                    problems.append(problem)
                    continue
                parts = _parts(member.name)
                if not parts:
                    continue
                info = _lstat_at(root_fd, parts)
                label = '/'.join(parts)
                if info is None:
                    plan.create.append(label)
                elif member.isdir():
                    if not stat.S_ISDIR(info.st_mode):
                        problems.append(f'{label}: a directory in the archive, something else under {dest}')
                elif stat.S_ISDIR(info.st_mode):
                    problems.append(f'{label}: a directory under {dest}, not replaced by a file')
                else:
                    plan.replace.append(label)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise RestoreError(f'the archive cannot be read: {exc}') from None
    finally:
        os.close(root_fd)
    if problems:
        more = f' (and {len(problems) - 5} more)' if len(problems) > 5 else ''
        raise RestoreError(f"the archive is not restored, nothing was written: {'; '.join(problems[:5])}{more}")
    return plan


def open_root(dest: str) -> int:
    if not os.path.isabs(dest):
        raise RestoreError(f'dest must be an absolute path, got {dest!r}')
    try:
        return os.open(dest, DIR_FLAGS)
    except OSError as exc:
        raise RestoreError(f'dest {dest} cannot be opened as a directory (not following a symlink): '
                           f'{exc.strerror}') from None


def _open_dirs(root_fd: int, parts: list[str]) -> int:
    """A descriptor of root/parts, creating missing directories (0700 until their own member
    sets their mode), never following a symlink."""
    fd = os.dup(root_fd)
    for part in parts:
        try:
            new = os.open(part, DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            os.mkdir(part, 0o700, dir_fd=fd)
            new = os.open(part, DIR_FLAGS, dir_fd=fd)
        except OSError:
            os.close(fd)
            raise
        os.close(fd)
        fd = new
    return fd


def _owner(fd_or_name, member: tarfile.TarInfo, dir_fd: int | None = None) -> None:
    if os.geteuid() != 0:
        return
    if dir_fd is None:
        os.fchown(fd_or_name, member.uid, member.gid)
    else:
        os.chown(fd_or_name, member.uid, member.gid, dir_fd=dir_fd, follow_symlinks=False)


def extract_paths(archive: str, dest: str) -> int:
    """Put every member back under dest (after plan_paths accepted the archive). Returns the
    members written. Regular files keep their mode (set-id bits dropped), owner (as root) and
    modification time."""
    written = 0
    root_fd = open_root(dest)
    try:
        with tarfile.open(archive, 'r:*') as tar:
            for member in tar:
                if member_problem(member):
                    raise RestoreError(f'{member.name!r} became unsafe while extracting: stopped')
                parts = _parts(member.name)
                if not parts:
                    continue
                mode = member.mode & 0o1777
                if member.isdir():
                    fd = _open_dirs(root_fd, parts)
                    try:
                        os.fchmod(fd, mode)
                        _owner(fd, member)
                    finally:
                        os.close(fd)
                    written += 1
                    continue
                parent = _open_dirs(root_fd, parts[:-1])
                name = parts[-1]
                temp = f'.{name[:100]}.runbook-{secrets.token_hex(6)}'
                try:
                    if member.isfile():
                        source = tar.extractfile(member)
                        fd = os.open(temp, FILE_FLAGS, 0o600, dir_fd=parent)
                        with os.fdopen(fd, 'wb') as out:
                            while True:
                                chunk = source.read(CHUNK_SIZE)
                                if not chunk:
                                    break
                                out.write(chunk)
                            out.flush()
                            os.fchmod(out.fileno(), mode)
                            _owner(out.fileno(), member)
                            os.utime(out.fileno(), (member.mtime, member.mtime))
                            os.fsync(out.fileno())
                    elif member.issym():
                        os.symlink(member.linkname, temp, dir_fd=parent)
                        _owner(temp, member, dir_fd=parent)
                    elif member.islnk():
                        link_parts = _parts(member.linkname)
                        source_dir = _open_dirs(root_fd, link_parts[:-1])
                        try:
                            os.link(link_parts[-1], temp, src_dir_fd=source_dir, dst_dir_fd=parent,
                                    follow_symlinks=False)
                        finally:
                            os.close(source_dir)
                    os.rename(temp, name, src_dir_fd=parent, dst_dir_fd=parent)
                except BaseException:
                    try:
                        os.unlink(temp, dir_fd=parent)
                    except OSError:
                        pass
                    raise
                finally:
                    os.close(parent)
                written += 1
    except RestoreError:
        raise
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise RestoreError(f'extracting under {dest} failed after {written} member(s): {exc}') from None
    finally:
        os.close(root_fd)
    return written


# ---- globals -----------------------------------------------------------------------------------
def unquote_role(token: str) -> str:
    if token.startswith('"'):
        return token[1:-1].replace('""', '"')
    return token.lower()


def globals_plan(script: str, existing_roles: set[str]) -> tuple[str, list[str], list[str]]:
    """(the script without CREATE ROLE of roles that exist already, roles created, roles kept
    and altered): pg_dumpall --globals-only creates every role then ALTERs it, so on a server
    that has some of them (at least the bootstrap superuser) only the CREATE must go."""
    out, created, existing = [], [], []
    for line in script.splitlines(keepends=True):
        match = _CREATE_ROLE_RE.match(line)
        if match:
            role = unquote_role(match.group(1))
            if role in existing_roles:
                existing.append(role)
                out.append(f'-- runbook.maintenance: role {role} exists, not created again (altered below)\n')
                continue
            created.append(role)
        out.append(line)
    return ''.join(out), created, existing
