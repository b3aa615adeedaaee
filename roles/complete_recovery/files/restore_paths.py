# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put back the members of a paths archive (backup_create kind=paths) safely, run by ansible.builtin.script.

Written by hand because ansible.builtin.unarchive cannot refuse members outside declared roots,
follows symlinks already on the host and has no per-member plan in check mode.

Before anything is written the whole archive is checked: every member must be a relative name
without '..' under one of the --root directories, a regular file, a directory or a symlink (no
hard links, devices or fifos), and no member may sit below a symlink of the archive. On the host,
no directory between a root and a member may be a symlink (it is never followed). Files and
symlinks are written to a temporary name in their directory and renamed over the old entry, so
a symlink or hard link found there is replaced, never written through. Ownership comes from the
member's user and group names (the numeric ids of a lost host mean nothing on a new one).
Prints one JSON object: changed, changes (what was or would be put back), unchanged, members.
"""

from __future__ import annotations

import argparse
import grp
import hashlib
import json
import os
import pwd
import stat
import sys
import tarfile
import tempfile


class Refused(Exception):
    def __init__(self, msg: str, written: int = 0) -> None:
        super().__init__(msg)
        self.written = written


def under(path: str, root: str) -> bool:
    return root == '/' or path == root or path.startswith(root.rstrip('/') + '/')


def destination(member: tarfile.TarInfo) -> str:
    name = member.name
    parts = [part for part in name.split('/') if part not in ('', '.')]
    if name.startswith('/') or '..' in parts or not parts:
        raise Refused(f'member {name!r}: not a plain relative name')
    return '/' + '/'.join(parts)


def check_archive(members: list, roots: list) -> dict:
    """Every member's destination, or Refused naming the first bad member (nothing written yet)."""
    dests = {}
    links = set()
    for member in members:
        dest = destination(member)
        if not any(under(dest, root) for root in roots):
            raise Refused(f'member {member.name!r} lies outside the declared roots ({", ".join(roots)})')
        if not (member.isreg() or member.isdir() or member.issym()):
            raise Refused(f'member {member.name!r} is neither a file, a directory nor a symlink')
        dests[member.name] = dest
        if member.issym():
            links.add(dest)
    for member in members:
        dest = dests[member.name]
        for link in links:
            if dest != link and under(dest, link):
                raise Refused(f'member {member.name!r} lies below the symlink {link} of the archive')
    return dests


def check_host(dest: str, roots: list) -> None:
    """No directory between the member's root and the member may be a symlink on this host."""
    root = max((r for r in roots if under(dest, r)), key=len)
    parent = os.path.dirname(dest)
    path = parent
    while under(path, root) and path != '/':
        if os.path.islink(path):
            raise Refused(f'{path} is a symlink on this host: it is never followed (remove it, or restore by hand)')
        if os.path.lexists(path) and not os.path.isdir(path):
            raise Refused(f'{path} exists on this host and is not a directory')
        path = os.path.dirname(path)


def owner_ids(member: tarfile.TarInfo) -> tuple:
    try:
        uid = pwd.getpwnam(member.uname).pw_uid if member.uname else member.uid
    except KeyError:
        uid = member.uid
    try:
        gid = grp.getgrnam(member.gname).gr_gid if member.gname else member.gid
    except KeyError:
        gid = member.gid
    return uid, gid


def sha256_of(stream) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(1 << 20), b''):
        digest.update(block)
    return digest.hexdigest()


def differences(archive: tarfile.TarFile, member: tarfile.TarInfo, dest: str) -> list:
    """What differs between the member and the host's entry (empty: nothing to do)."""
    try:
        st = os.lstat(dest)
    except FileNotFoundError:
        return ['missing']
    uid, gid = owner_ids(member)
    if member.isdir():
        if not stat.S_ISDIR(st.st_mode):
            return ['not a directory']
    elif member.issym():
        if not stat.S_ISLNK(st.st_mode):
            return ['not a symlink']
        return [] if os.readlink(dest) == member.linkname else ['link target']
    else:
        if not stat.S_ISREG(st.st_mode):
            return ['not a regular file']
        with open(dest, 'rb') as current, archive.extractfile(member) as wanted:
            if st.st_size != member.size or sha256_of(current) != sha256_of(wanted):
                return ['content']
    found = []
    if stat.S_IMODE(st.st_mode) != (member.mode & 0o7777):
        found.append(f'mode {stat.S_IMODE(st.st_mode):04o} -> {member.mode & 0o7777:04o}')
    if (st.st_uid, st.st_gid) != (uid, gid):
        found.append('owner')
    return found


def put_back(archive: tarfile.TarFile, member: tarfile.TarInfo, dest: str) -> None:
    uid, gid = owner_ids(member)
    parent = os.path.dirname(dest)
    if not os.path.isdir(parent):  # above the root (a root's members are checked by check_host)
        os.makedirs(parent, 0o755)
    if member.isdir():
        if os.path.islink(dest) or (os.path.lexists(dest) and not os.path.isdir(dest)):
            os.unlink(dest)
        if not os.path.lexists(dest):
            os.mkdir(dest, 0o700)
        os.chown(dest, uid, gid, follow_symlinks=False)
        os.chmod(dest, member.mode & 0o7777, follow_symlinks=False)
        return
    if os.path.isdir(dest) and not os.path.islink(dest):
        raise Refused(f'{dest} is a directory on this host, the archive has a {"symlink" if member.issym() else "file"}')
    if member.issym():
        tmp = os.path.join(parent, f'.{os.path.basename(dest)}.restore-{os.getpid()}')
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(member.linkname, tmp)
        os.chown(tmp, uid, gid, follow_symlinks=False)
        os.replace(tmp, dest)
        return
    fd, tmp = tempfile.mkstemp(prefix=f'.{os.path.basename(dest)}.', suffix='.restore', dir=parent)
    try:
        with os.fdopen(fd, 'wb') as out, archive.extractfile(member) as data:
            for block in iter(lambda: data.read(1 << 20), b''):
                out.write(block)
            out.flush()
            os.fchown(out.fileno(), uid, gid)
            os.fchmod(out.fileno(), member.mode & 0o7777)
            os.fsync(out.fileno())
        os.utime(tmp, (member.mtime, member.mtime))
        os.replace(tmp, dest)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def run(args) -> dict:
    roots = [os.path.normpath(root) for root in args.root]
    if not roots or any(not root.startswith('/') for root in roots):
        raise Refused('give the archive\'s roots as absolute paths')
    only = [os.path.normpath(p) for p in args.only]
    exclude = [os.path.normpath(p) for p in args.exclude]
    with tarfile.open(args.archive, 'r:gz') as archive:
        members = archive.getmembers()
        dests = check_archive(members, roots)
        chosen = [m for m in members
                  if (not only or any(under(dests[m.name], p) for p in only))
                  and not any(under(dests[m.name], p) for p in exclude)]
        for member in chosen:
            check_host(dests[member.name], roots)
        plan = []
        written: list = []
        for member in chosen:
            found = differences(archive, member, dests[member.name])
            if found:
                plan.append((member, dests[member.name], found))
        if not args.check:
            # directories first, so that their members find them; the archive lists them first anyway
            for member, dest, _found in sorted(plan, key=lambda item: not item[0].isdir()):
                check_host(dest, roots)
                try:
                    put_back(archive, member, dest)
                except OSError as exc:
                    raise Refused(f'{dest}: {exc} (after {len(written)} of {len(plan)} entries were put back: '
                                  f'{", ".join(written) or "none"}; run again once fixed)', len(written)) from exc
                written.append(dest)
    return {'changed': bool(plan), 'members': len(chosen), 'unchanged': len(chosen) - len(plan),
            'changes': [f'{dest}: {", ".join(found)}' for _member, dest, found in plan]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--archive', required=True)
    parser.add_argument('--root', action='append', default=[], help='a path the archive was made of (backup_create paths)')
    parser.add_argument('--only', action='append', default=[], help='put back only the members under this path')
    parser.add_argument('--exclude', action='append', default=[], help='leave the members under this path alone')
    parser.add_argument('--check', action='store_true', help='the plan only, nothing written')
    args = parser.parse_args()
    try:
        result = run(args)
    except (Refused, tarfile.TarError, OSError) as exc:
        partial = getattr(exc, 'written', 0) > 0
        print(json.dumps({'failed': True, 'changed': partial,
                          'msg': f'{args.archive}: {exc}' + ('' if partial else '; nothing was put back')}))
        sys.exit(1)
    print(json.dumps(result))


if __name__ == '__main__':
    main()
