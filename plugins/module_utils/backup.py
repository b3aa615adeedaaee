# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup artefacts and their manifests: hashing, manifests, format sniffing, archive reading.

Shared by the backup modules (backup_create writes manifests with write_manifest(),
backup_verify reads them) and the backup role. Standard library only, so every helper is unit
tested without Ansible, PostgreSQL or S3.

A manifest is the JSON file beside an artefact, named ``<artefact>.json`` (on S3 the object
``<key>.json``). It holds at least ``sha256``, ``size``, ``created_at`` (ISO-8601 UTC),
``host``, ``database``, ``format`` (custom, directory, tar or plain) and ``tables`` (a list of
``{schema, name, rows}``); other keys are kept as they are.
"""

from __future__ import annotations

import bz2
import datetime
import fnmatch
import gzip
import hashlib
import json
import lzma
import os
import re
import stat
import tarfile
import zlib
from dataclasses import dataclass, field

from ansible_collections.runbook.maintenance.plugins.module_utils.jsonfile import read_bytes, write_json_atomic

# A manifest lists tables and files: tens of MiB would already be a very large database.
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
# A backup created up to this far in the future is clock skew between hosts, not an error.
FUTURE_TOLERANCE_S = 300

CHUNK_SIZE = 1024 * 1024
FORMATS = ('custom', 'directory', 'tar', 'plain')
MANIFEST_SUFFIX = '.json'
CUSTOM_MAGIC = b'PGDMP'
GZIP_MAGIC = b'\x1f\x8b'
BZIP2_MAGIC = b'BZh'
XZ_MAGIC = b'\xfd7zXZ\x00'
TOC_FILE = 'toc.dat'
# The format byte of a pg_dump archive header (PGDMP, 3 version bytes, int size, offset size, format).
# pg_dump writes the toc.dat of a directory-format dump with the tar format's byte (3).
ARCHIVE_FORMATS = {1: 'custom', 3: 'tar', 5: 'directory'}
SHA256_RE = re.compile(r'^[0-9a-f]{64}$')
_PLAIN_HEADER_RE = re.compile(rb'^-- PostgreSQL database (cluster )?dump\s*$', re.MULTILINE)
_PLAIN_TRAILER_RE = re.compile(rb'-- PostgreSQL database (cluster )?dump complete')
_SQL_START_RE = re.compile(rb'^\s*(--|/\*|SET |SELECT |CREATE |BEGIN|\\connect|COPY |INSERT )', re.IGNORECASE)
KIND_LABELS = {
    'empty': 'an empty file (0 bytes)',
    'custom': 'a pg_dump custom-format archive',
    'sql': 'a plain SQL script',
    'gzip': 'gzip-compressed data',
    'bzip2': 'bzip2-compressed data',
    'xz': 'xz-compressed data',
    'tar': 'an uncompressed tar archive',
    'text': 'a text file',
    'binary': 'unrecognised binary data',
    'directory': 'a pg_dump directory-format dump',
    'other_directory': 'a directory without toc.dat (not a pg_dump directory-format dump)',
}


# ---- hashing ---------------------------------------------------------------------------------
class CheckFailed(Exception):
    """A verification check's verdict: failed, with the reason (backup_verify, pgbackrest_verify)."""


def sha256_file(path: str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (constant memory whatever the size)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        while True:
            chunk = handle.read(CHUNK_SIZE)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def copy_and_hash(source, destination) -> tuple[str, int]:
    """Copy a readable binary stream (an S3 body) to a writable one in 1 MiB chunks, hashing
    on the way: (hex sha256, bytes copied)."""
    digest = hashlib.sha256()
    total = 0
    while True:
        chunk = source.read(CHUNK_SIZE)
        if not chunk:
            break
        digest.update(chunk)
        destination.write(chunk)
        total += len(chunk)
    return digest.hexdigest(), total


def tree_size(path: str) -> int:
    """Bytes of a file, or of every regular file below a directory (symlinks not followed)."""
    info = os.stat(path)
    if not stat.S_ISDIR(info.st_mode):
        return info.st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            entry = os.lstat(os.path.join(root, name))
            if stat.S_ISREG(entry.st_mode):
                total += entry.st_size
    return total


# ---- time ------------------------------------------------------------------------------------
def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def format_timestamp(moment: datetime.datetime) -> str:
    """'2026-11-29T02:00:00Z' (UTC, whole seconds), the form manifests use."""
    return moment.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def parse_timestamp(value) -> datetime.datetime:
    """An aware UTC datetime from ISO-8601 ('2026-11-29T02:00:00Z', '...+00:00'); a value
    without offset is taken as UTC. Raises ValueError."""
    if isinstance(value, datetime.datetime):
        parsed = value
    else:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f'not an ISO-8601 time: {value!r}')
        text = value.strip()
        if text[-1:] in ('Z', 'z'):
            text = text[:-1] + '+00:00'
        try:
            parsed = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not an ISO-8601 time: {value!r} (e.g. '2026-11-29T02:00:00Z')") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.astimezone(datetime.timezone.utc)


def human_duration(seconds: float) -> str:
    """'45s', '12m 5s', '3h 20m', '2d 4h': the two largest units (a minus sign when negative)."""
    sign = '-' if seconds < 0 else ''
    left = int(round(abs(seconds)))
    if left < 60:
        return f'{sign}{left}s'
    units = (('d', 86400), ('h', 3600), ('m', 60), ('s', 1))
    for index, (unit, size) in enumerate(units):
        if left >= size:
            major, rest = divmod(left, size)
            minor_unit, minor_size = units[index + 1]
            minor = rest // minor_size
            return f'{sign}{major}{unit}' + (f' {minor}{minor_unit}' if minor else '')
    return f'{sign}{left}s'  # not reached


def human_size(size: int) -> str:
    """'512 B', '1.5 KiB', '20.0 MiB'."""
    value = float(size)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if abs(value) < 1024 or unit == 'TiB':
            return f'{int(value)} B' if unit == 'B' else f'{value:.1f} {unit}'
        value /= 1024
    return f'{size} B'  # not reached


# ---- manifests -------------------------------------------------------------------------------
def manifest_path(artefact: str) -> str:
    """Where the manifest of an artefact lives: '<artefact>.json' (a trailing slash ignored)."""
    return artefact.rstrip('/') + MANIFEST_SUFFIX


def validate_manifest(data, directory: bool = False) -> list[str]:
    """Problems of a manifest's content (empty when fine). Checks the keys it has; sha256,
    size, created_at and format must be present (sha256 may be null for a directory dump)."""
    if not isinstance(data, dict):
        return [f'a manifest must be a JSON object, got {type(data).__name__}']
    problems = []
    for key in ('sha256', 'size', 'created_at', 'format'):
        if key not in data:
            problems.append(f'no {key!r}')
    sha = data.get('sha256')
    if 'sha256' in data and not (sha is None and (directory or data.get('format') == 'directory')):
        if not isinstance(sha, str) or not SHA256_RE.match(sha.lower()):
            problems.append(f"sha256 is not 64 hex digits: {sha!r}")
    size = data.get('size')
    if 'size' in data and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        problems.append(f'size is not a byte count: {size!r}')
    if 'created_at' in data:
        try:
            parse_timestamp(data['created_at'])
        except ValueError as exc:
            problems.append(f'created_at: {exc}')
    if 'format' in data and data['format'] not in FORMATS:
        problems.append(f"format must be one of {', '.join(FORMATS)}, got {data['format']!r}")
    for key in ('host', 'database'):
        if data.get(key) is not None and not isinstance(data[key], str):
            problems.append(f'{key} is not a string: {data[key]!r}')
    tables = data.get('tables')
    if tables is not None:
        if not isinstance(tables, list):
            problems.append(f'tables is not a list: {tables!r}')
        else:
            for index, table in enumerate(tables):
                if not isinstance(table, dict) or not isinstance(table.get('schema'), str) \
                        or not isinstance(table.get('name'), str):
                    problems.append(f'tables[{index}] needs a schema and a name: {table!r}')
                    continue
                rows = table.get('rows')
                if rows is not None and (isinstance(rows, bool) or not isinstance(rows, int) or rows < 0):
                    problems.append(f"tables[{index}] ({table['schema']}.{table['name']}) rows is not a count: {rows!r}")
    return problems


def parse_manifest(text, source: str = 'manifest', directory: bool = False) -> dict:
    """A manifest from its JSON text (str or bytes). Raises ValueError naming the problem."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise ValueError(f'{source} is not valid JSON: nested too deeply') from None
    except ValueError as exc:  # also UnicodeDecodeError of bytes that are not UTF-8
        raise ValueError(f'{source} is not valid JSON: {str(exc)[:200]}') from None
    problems = validate_manifest(data, directory)
    if problems:
        raise ValueError(f"{source} is invalid: {'; '.join(problems)}")
    return data


def manifest_content(artefact: str, manifest: dict) -> dict:
    """The manifest of an artefact as it would be written: for a file artefact, sha256 and size are
    computed when the manifest has no such key, created_at defaults to now. Raises ValueError for
    a content that would not verify."""
    data = dict(manifest)
    is_dir = os.path.isdir(artefact)
    if 'sha256' not in data:
        data['sha256'] = None if is_dir else sha256_file(artefact)
    if 'size' not in data:
        data['size'] = tree_size(artefact)
    data.setdefault('created_at', format_timestamp(utc_now()))
    if isinstance(data['created_at'], datetime.datetime):
        data['created_at'] = format_timestamp(data['created_at'])
    problems = validate_manifest(data, directory=is_dir)
    if problems:
        raise ValueError(f"manifest of {artefact} is invalid: {'; '.join(problems)}")
    return data


def manifest_bytes(data: dict) -> bytes:
    """The JSON text of a manifest, the way every writer formats it."""
    return (json.dumps(data, indent=2, sort_keys=True) + '\n').encode('utf-8')


def write_manifest(artefact: str, manifest: dict, mode: int = 0o600) -> dict:
    """Write '<artefact>.json' atomically (temporary file, fsync, rename), private by default, and
    return what was written (see manifest_content). Raises ValueError or OSError."""
    data = manifest_content(artefact, manifest)
    write_json_atomic(manifest_path(artefact), data, indent=2, trailing_newline=True, mode=mode)
    return data


def read_manifest(artefact: str) -> dict:
    """The manifest of a local artefact. Raises FileNotFoundError when there is none and
    ValueError when it is unreadable or invalid."""
    path = manifest_path(artefact)
    try:
        # Never through a symlink, never blocked on a FIFO, never a file larger than a manifest.
        text = read_bytes(path, MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ValueError(f'manifest {path} cannot be read: {exc.strerror or exc}') from None
    except ValueError as exc:
        raise ValueError(f'manifest {exc}') from None
    return parse_manifest(text, f'manifest {path}', directory=os.path.isdir(artefact))


# ---- artefact kinds --------------------------------------------------------------------------
def sniff(path: str) -> str:
    """What the content is, from its first bytes: one of KIND_LABELS' keys."""
    if os.path.isdir(path):
        return 'directory' if os.path.isfile(os.path.join(path, TOC_FILE)) else 'other_directory'
    with open(path, 'rb') as handle:
        head = handle.read(4096)
    if not head:
        return 'empty'
    if head.startswith(CUSTOM_MAGIC):
        return 'custom'
    if head.startswith(GZIP_MAGIC):
        return 'gzip'
    if head.startswith(BZIP2_MAGIC):
        return 'bzip2'
    if head.startswith(XZ_MAGIC):
        return 'xz'
    if len(head) >= 262 and head[257:262] == b'ustar':
        return 'tar'
    if b'\x00' in head:
        return 'binary'
    if _PLAIN_HEADER_RE.search(head) or _SQL_START_RE.match(head):
        return 'sql'
    return 'text'


def archive_format_of(toc_head: bytes) -> str | None:
    """The format a pg_dump archive header (the start of a .dump or a toc.dat) declares."""
    if len(toc_head) < 11 or not toc_head.startswith(CUSTOM_MAGIC):
        return None
    return ARCHIVE_FORMATS.get(toc_head[10], f'unknown ({toc_head[10]})')


def expected_kind(name: str, manifest_format: str | None, is_dir: bool) -> str:
    """What an artefact should be: 'custom', 'directory', 'tar' (a tar archive, compressed or
    not) or 'plain'. The manifest's format wins over the name's suffix."""
    if is_dir:
        return 'directory'
    if manifest_format == 'custom':
        return 'custom'
    if manifest_format in ('tar', 'directory'):  # a directory dump travels as a tar archive
        return 'tar'
    if manifest_format == 'plain':
        return 'plain'
    lowered = name.lower()
    if lowered.endswith(('.dump', '.backup', '.pgdump')):
        return 'custom'
    if lowered.endswith(('.tar.gz', '.tgz', '.tar', '.tar.bz2', '.tbz2', '.tar.xz', '.txz')):
        return 'tar'
    return 'plain'


def _decompressing_open(path: str):
    """The file, read through its decompressor when it is gzip, bzip2 or xz compressed:
    (binary stream, compression name or None)."""
    with open(path, 'rb') as handle:
        head = handle.read(6)
    if head.startswith(GZIP_MAGIC):
        return gzip.open(path, 'rb'), 'gzip'
    if head.startswith(BZIP2_MAGIC):
        return bz2.open(path, 'rb'), 'bzip2'
    if head.startswith(XZ_MAGIC):
        return lzma.open(path, 'rb'), 'xz'
    return open(path, 'rb'), None  # pylint: disable=consider-using-with


_READ_ERRORS = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)


def _drain(stream) -> int:
    """Read a stream to its end (which makes a decompressor check its CRC): bytes read."""
    total = 0
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            return total
        total += len(chunk)


def _blocks(size: int) -> int:
    return (size + tarfile.BLOCKSIZE - 1) // tarfile.BLOCKSIZE * tarfile.BLOCKSIZE


class _BlockRecorder:
    """A stream that remembers the last block-sized read (where tarfile read its last header),
    so the end of an archive is checked without seeking back in a decompressor."""

    def __init__(self, raw) -> None:
        self.raw = raw
        self.last: tuple[int, bytes] | None = None

    def read(self, size: int = -1) -> bytes:
        position = self.raw.tell()
        data = self.raw.read(size)
        if size == tarfile.BLOCKSIZE:
            self.last = (position, data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()


@dataclass
class TarReport:
    members: int = 0
    files: int = 0
    bytes_read: int = 0
    compression: str | None = None
    toc_dirs: tuple = ()
    unsafe: list = field(default_factory=list)


def read_tar(path: str, extract_to: str | None = None) -> TarReport:
    """Read a tar archive (gzip, bzip2, xz or uncompressed) entirely: every header, every
    member's data, the end-of-archive blocks and, when compressed, the stream to its end (so its
    CRC is checked). With extract_to, regular files and directories are also written there,
    refusing absolute names, '..', links and devices. Raises ValueError naming the problem.

    tarfile alone is not enough: it takes a damaged header in the middle of an archive for the
    end of the archive, and an archive cut at a member boundary for a complete one."""
    report = TarReport()
    toc_dirs = []
    try:
        raw, report.compression = _decompressing_open(path)
    except OSError as exc:
        raise ValueError(f'cannot open the archive: {exc.strerror or exc}') from None
    stream = _BlockRecorder(raw)
    end = 0
    with raw:
        try:
            with tarfile.open(fileobj=stream, mode='r:') as archive:
                for member in archive:
                    report.members += 1
                    end = member.offset_data + (_blocks(member.size) if member.isfile() else 0)
                    problem = member_problem(member)
                    if problem:
                        report.unsafe.append(problem)
                    if extract_to is not None:
                        _check_member(member)
                    if member.isdir():
                        if extract_to is not None:
                            os.makedirs(os.path.join(extract_to, os.path.normpath(member.name)), mode=0o700,
                                        exist_ok=True)
                        continue
                    if not member.isfile():
                        continue
                    report.files += 1
                    if os.path.basename(member.name) == TOC_FILE:
                        toc_dirs.append(os.path.dirname(os.path.normpath(member.name)))
                    read = _copy_member(archive.extractfile(member), member, extract_to)
                    if read != member.size:
                        raise ValueError(f'{member.name}: {read} of {member.size} bytes, the archive is truncated')
                    report.bytes_read += read
            zeros = 0
            if stream.last is not None and stream.last[0] == end:
                if stream.last[1].strip(b'\x00'):
                    raise ValueError(f'damaged tar header at byte {end} (tarfile would stop there silently)')
                zeros = len(stream.last[1])
            else:
                stream.seek(end)
            while True:
                chunk = raw.read(CHUNK_SIZE)
                if not chunk:
                    break
                if chunk.strip(b'\x00'):
                    raise ValueError('data after what looks like the end of the archive (a damaged header?)')
                zeros += len(chunk)
            if report.members and zeros < 2 * tarfile.BLOCKSIZE:
                raise ValueError('no end-of-archive marker: the archive is truncated')
        except ValueError:
            raise
        except tarfile.ReadError as exc:
            if str(exc) == 'empty file':
                raise ValueError('the archive is empty (0 bytes)') from None
            raise ValueError(f'the archive cannot be read to the end: {exc}') from None
        except _READ_ERRORS as exc:
            raise ValueError(f'the archive cannot be read to the end: {exc}') from None
    if report.members == 0:
        raise ValueError('the archive holds no member')
    report.toc_dirs = tuple(sorted(toc_dirs, key=lambda d: (d.count('/'), d)))
    return report


def _escapes(name: str) -> bool:
    """Whether a member name (or a hard link's target) leaves the directory it is extracted to."""
    return name.startswith('/') or '..' in name.replace('\\', '/').split('/')


def member_problem(member: tarfile.TarInfo) -> str | None:
    """Why a member is unsafe to extract anywhere (an absolute name, a '..' component, a device
    or FIFO, a hard link to a name outside), or None. Symbolic links are stored as links (their
    target is data, never followed on extraction)."""
    if not member.name or _escapes(member.name):
        return f'{member.name!r}: absolute name or a ".." component (outside the extraction directory)'
    if member.ischr() or member.isblk() or member.isfifo():
        return f'{member.name!r}: a device or FIFO'
    if member.islnk() and _escapes(member.linkname):
        return f'{member.name!r}: a hard link to {member.linkname!r}, outside the extraction directory'
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return f'{member.name!r}: an unsupported member type'
    return None


def _check_member(member: tarfile.TarInfo) -> None:
    name = os.path.normpath(member.name)
    if os.path.isabs(member.name) or name == '..' or name.startswith('../'):
        raise ValueError(f'refusing to extract {member.name!r}: outside the extraction directory')
    if not (member.isfile() or member.isdir()):
        raise ValueError(f'refusing to extract {member.name!r}: links and special files are not extracted')


def _copy_member(source, member: tarfile.TarInfo, extract_to: str | None) -> int:
    if extract_to is None:
        return _drain(source)
    target = os.path.join(extract_to, os.path.normpath(member.name))
    os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
    total = 0
    with os.fdopen(os.open(target, flags, 0o600), 'wb') as out:
        while True:
            chunk = source.read(CHUNK_SIZE)
            if not chunk:
                break
            out.write(chunk)
            total += len(chunk)
    return total


def check_plain(path: str) -> str:
    """Read a plain artefact (possibly compressed) to its end. A pg_dump/pg_dumpall script must
    end with its 'dump complete' trailer. Returns a description; raises ValueError."""
    try:
        stream, compression = _decompressing_open(path)
        with stream:
            head = stream.read(4096)
            total = len(head)
            tail = head
            while True:
                chunk = stream.read(CHUNK_SIZE)
                if not chunk:
                    break
                total += len(chunk)
                tail = (tail + chunk)[-4096:]
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise ValueError(f'cannot be read to the end: {exc}') from None
    if total == 0:
        raise ValueError('the file is empty (0 bytes)')
    where = f'{compression}-compressed, ' if compression else ''
    if head.startswith(CUSTOM_MAGIC):
        raise ValueError('it is a pg_dump custom-format archive, not a plain file (fix the name or the manifest)')
    if _PLAIN_HEADER_RE.search(head):
        if not _PLAIN_TRAILER_RE.search(tail):
            raise ValueError("the SQL dump is incomplete: no '-- PostgreSQL database dump complete' trailer")
        return f'plain SQL dump ({where}{total} bytes) read to its end, complete trailer present'
    return f'plain file ({where}{total} bytes) read to its end'


def stderr_errors(stderr: str) -> list[str]:
    """The lines of a PostgreSQL client's stderr that are not warnings, whitespace squeezed."""
    lines = [' '.join(line.split()) for line in (stderr or '').splitlines()]
    return [line for line in lines if line and 'warning:' not in line.lower()
            and not line.lower().startswith(('detail:', 'hint:'))]


# ---- locations -------------------------------------------------------------------------------
def parse_s3_url(url: str) -> tuple[str, str]:
    """('bucket', 'prefix/') from 's3://bucket/prefix' (a prefix names a folder: a trailing
    slash is added). Raises ValueError."""
    match = re.match(r'^s3://([^/]+)/?(.*)$', url or '')
    if not match:
        raise ValueError(f"not an S3 URL: {url!r} (expected 's3://bucket/prefix')")
    bucket, prefix = match.groups()
    if prefix and not prefix.endswith('/'):
        prefix += '/'
    return bucket, prefix


@dataclass(frozen=True)
class Entry:
    """One artefact of a directory or an S3 prefix."""
    name: str
    location: str        # path or s3:// URL
    size: int
    mtime: float         # seconds since the epoch (LastModified on S3)


def is_candidate(name: str, pattern: str = '*') -> bool:
    """Whether a name in a backup directory can be an artefact: not a manifest, not hidden
    (partial files of a running backup start with a dot), matching the pattern."""
    return (bool(name) and not name.endswith(MANIFEST_SUFFIX) and not name.startswith('.')
            and fnmatch.fnmatchcase(name, pattern))


def scan_artefacts(directory: str, pattern: str = '*') -> list[Entry]:
    """The artefacts of a backup directory (not its subdirectories): regular files and
    directory-format dumps (holding toc.dat), never symlinks, manifests or hidden partial files.
    Raises OSError (FileNotFoundError, NotADirectoryError, ...)."""
    found = []
    with os.scandir(directory) as entries:
        for entry in entries:
            if not is_candidate(entry.name, pattern) or entry.is_symlink():
                continue
            if entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                found.append(Entry(entry.name, entry.path, info.st_size, info.st_mtime))
            elif entry.is_dir(follow_symlinks=False) and os.path.isfile(os.path.join(entry.path, TOC_FILE)):
                found.append(Entry(entry.name, entry.path, tree_size(entry.path), entry.stat().st_mtime))
    return found


def newest_first(entries: list[Entry]) -> list[Entry]:
    """Newest (modification time, then name) first."""
    return sorted(entries, key=lambda e: (e.mtime, e.name), reverse=True)


def previous_of(entries: list[Entry], target: Entry) -> Entry | None:
    """The next newest artefact after target (the backup before it)."""
    for entry in newest_first(entries):
        if entry.location != target.location and (entry.mtime, entry.name) < (target.mtime, target.name):
            return entry
    return None


def size_drop_problem(size: int, previous: Entry | None, max_drop_ratio: float | None) -> str | None:
    """Why an artefact is suspiciously smaller than the previous one, or None."""
    if max_drop_ratio is None or previous is None or previous.size <= 0:
        return None
    drop = (previous.size - size) / previous.size
    if drop > max_drop_ratio:
        return (f'{size} bytes is {drop:.0%} smaller than the previous artefact {previous.name} '
                f'({previous.size} bytes); max_size_drop_ratio {max_drop_ratio} allows at most '
                f'{max_drop_ratio:.0%}')
    return None


def compare_rows(expected: list[dict], restored: dict[tuple[str, str], int]) -> tuple[list[str], int]:
    """Compare the manifest's tables with the counts of the restore: (mismatches, tables
    compared). A table without a recorded count is not compared."""
    mismatches = []
    compared = 0
    for table in expected:
        key = (table['schema'], table['name'])
        want = table.get('rows')
        if want is None:
            continue
        compared += 1
        if key not in restored:
            mismatches.append(f'{key[0]}.{key[1]} is missing from the restore (manifest: {want} rows)')
        elif restored[key] != want:
            mismatches.append(f'{key[0]}.{key[1]} has {restored[key]} rows restored, the manifest says {want}')
    return mismatches, compared
