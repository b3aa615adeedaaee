# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safe file-tree cleanup: path policy, a walk that never follows symlinks, open-file detection.

Written by hand (with os.* *at() calls through dir_fd) because no maintained library walks a
tree holding directory descriptors: find(1) and shutil follow paths by name, and a directory
swapped for a symlink between the walk and the delete would lead them outside the tree.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from dataclasses import dataclass, field

DEFAULT_ALLOWED_ROOTS = ['/var/log', '/var/tmp', '/tmp', '/var/cache', '/var/backups']
# Never cleaned, whatever allowed_roots says (the tree itself or anything inside it).
FORBIDDEN_TREES = ['/etc', '/usr', '/bin', '/sbin', '/boot', '/proc', '/sys', '/dev', '/lib', '/lib32',
                   '/lib64', '/libx32']
COMPRESSED_SUFFIXES = ('.gz', '.xz', '.bz2', '.zst', '.zip', '.lz4', '.7z')
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, 'O_CLOEXEC', 0)


def _inside(path: str, tree: str) -> bool:
    return path == tree or path.startswith(tree.rstrip('/') + '/')


def check_path_policy(path: str, allowed_roots: list[str]) -> tuple[str | None, str]:
    """(problem or None, real path). The real path (symlinks resolved) must lie inside an allowed
    root and outside every system tree; '/' itself is always refused."""
    if not os.path.isabs(path):
        return f'path must be absolute, got {path!r}', path
    real = os.path.realpath(path)
    if real == '/':
        return 'refusing to clean /', real
    for tree in FORBIDDEN_TREES:
        if _inside(real, tree):
            return f'refusing to clean {real}: inside the system tree {tree}', real
    roots = [os.path.realpath(root) for root in allowed_roots if os.path.isabs(root)]
    if not any(_inside(real, root) and root != '/' for root in roots):
        return (f"refusing to clean {real}: not inside allowed_roots ({', '.join(allowed_roots)}); "
                'add its parent to allowed_roots if it really is disposable'), real
    if not os.path.isdir(real):
        return f'{path} is not a directory', real
    return None, real


def open_files() -> tuple[set[tuple[int, int]], bool]:
    """(dev, inode) of every file some process holds open, and whether every process could be
    inspected (only root sees other users' descriptors)."""
    held: set[tuple[int, int]] = set()
    complete = True
    try:
        pids = [name for name in os.listdir('/proc') if name.isdigit()]
    except OSError:
        return held, False
    for pid in pids:
        fd_dir = f'/proc/{pid}/fd'
        try:
            fds = os.listdir(fd_dir)
        except PermissionError:
            complete = False
            continue
        except OSError:  # the process ended meanwhile
            continue
        for fd in fds:
            try:
                info = os.stat(f'{fd_dir}/{fd}')
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                held.add((info.st_dev, info.st_ino))
    return held, complete


@dataclass
class Candidate:
    relpath: str           # relative to the cleaned directory, '/'-separated
    size: int
    blocks_bytes: int      # space the file really takes (st_blocks * 512)
    mtime: float
    dev: int
    ino: int
    held_open: bool = False
    nlink: int = 1         # names of the inode; >1: a hard link, its data may live outside the tree too


@dataclass
class Selection:
    candidates: list[Candidate] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=lambda: {
        'open': 0, 'symlink': 0, 'excluded': 0, 'too_new': 0, 'too_small': 0, 'not_matching': 0,
        'kept_newest': 0, 'already_compressed': 0, 'special': 0, 'unreadable': 0, 'hardlinked': 0})
    hardlinked: list[str] = field(default_factory=list)   # relpaths of multiply-linked files left alone


def matches(relpath: str, name: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) or fnmatch.fnmatchcase(relpath, p) for p in patterns)


def scan(root_fd: int, patterns: list[str], excludes: list[str], min_age_s: float, min_size: int,
         recurse: bool, keep_newest: int, now: float, held: set[tuple[int, int]], action: str,
         one_filesystem_dev: int | None = None) -> Selection:
    """Walk the tree below root_fd through directory descriptors, never following a symlink,
    and select the regular files to act on."""
    selection = Selection()
    skipped = selection.skipped
    if patterns == ['*']:
        patterns = []  # every file matches: skip the per-file glob

    def walk(dir_fd: int, prefix: str) -> None:
        matched: list[Candidate] = []
        try:
            entries = list(os.scandir(dir_fd))
        except OSError:
            skipped['unreadable'] += 1
            return
        for entry in entries:
            relpath = f'{prefix}{entry.name}'
            try:
                info = os.stat(entry.name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                skipped['unreadable'] += 1
                continue
            if stat.S_ISLNK(info.st_mode):
                skipped['symlink'] += 1
                continue
            if stat.S_ISDIR(info.st_mode):
                if not recurse or (excludes and matches(relpath + '/', entry.name, excludes)):
                    continue
                if one_filesystem_dev is not None and info.st_dev != one_filesystem_dev:
                    continue  # a mount point below the tree: another filesystem, not ours to clean
                try:
                    child = os.open(entry.name, DIR_FLAGS, dir_fd=dir_fd)
                except OSError as exc:  # swapped for a symlink since the stat (ELOOP), or unreadable
                    skipped['symlink' if exc.errno in (errno.ELOOP, errno.ENOTDIR) else 'unreadable'] += 1
                    continue
                try:
                    opened = os.fstat(child)
                    if (opened.st_ino, opened.st_dev) == (info.st_ino, info.st_dev):
                        walk(child, relpath + '/')
                    else:
                        skipped['symlink'] += 1
                finally:
                    os.close(child)
                continue
            if not stat.S_ISREG(info.st_mode):
                skipped['special'] += 1
                continue
            if patterns and not matches(relpath, entry.name, patterns):
                skipped['not_matching'] += 1
                continue
            if excludes and matches(relpath, entry.name, excludes):
                skipped['excluded'] += 1
                continue
            if action == 'compress' and entry.name.endswith(COMPRESSED_SUFFIXES):
                skipped['already_compressed'] += 1
                continue
            if now - info.st_mtime < min_age_s:
                skipped['too_new'] += 1
                continue
            if info.st_size < min_size:
                skipped['too_small'] += 1
                continue
            if info.st_nlink > 1 and action != 'delete':
                # Another name shares the data, possibly outside the allowed area (a hard link to
                # /etc/...): emptying or rewriting it would change that file too. Never done.
                skipped['hardlinked'] += 1
                selection.hardlinked.append(relpath)
                continue
            matched.append(Candidate(relpath, info.st_size, info.st_blocks * 512, info.st_mtime,
                                     info.st_dev, info.st_ino, (info.st_dev, info.st_ino) in held, info.st_nlink))
        if keep_newest > 0 and matched:
            matched.sort(key=lambda c: c.mtime, reverse=True)
            skipped['kept_newest'] += min(keep_newest, len(matched))
            matched = matched[keep_newest:]
        selection.candidates.extend(matched)

    walk(root_fd, '')
    return selection


def open_parent(root_fd: int, relpath: str) -> tuple[int, str]:
    """A descriptor of the directory holding relpath, reached from root_fd component by component
    with O_NOFOLLOW (a component swapped for a symlink raises OSError), and the file's name."""
    parts = relpath.split('/')
    fd = os.dup(root_fd)
    try:
        for part in parts[:-1]:
            child = os.open(part, DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = child
    except OSError:
        os.close(fd)
        raise
    return fd, parts[-1]


def same_file(info: os.stat_result, candidate: Candidate) -> bool:
    """info (an fstat of a descriptor) is the regular file that was planned."""
    return stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) == (candidate.dev, candidate.ino)


def expected_release(candidates: list[Candidate]) -> dict[tuple[int, int], str]:
    """For deletes: which candidate's removal frees an inode's data (the last of its names, when
    every name is among the candidates). Maps (dev, ino) to that candidate's relpath; an inode
    with a name left elsewhere is absent (deleting its names here frees nothing)."""
    names: dict[tuple[int, int], list[Candidate]] = {}
    for candidate in candidates:
        names.setdefault((candidate.dev, candidate.ino), []).append(candidate)
    return {key: group[-1].relpath for key, group in names.items() if len(group) >= group[0].nlink}


def unchanged(dir_fd: int, name: str, candidate: Candidate) -> bool:
    """The file is still the regular file that was planned (same inode, not replaced by a link)."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) == (candidate.dev, candidate.ino)
