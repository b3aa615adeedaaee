# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A backup artefact read from S3 for a restore: found (by key, or as the newest verified one
of a prefix), its manifest (the object '<key>.json' the backup role uploads) read and judged,
then downloaded into a private temporary directory with its sha256 computed on the way and
compared, with its size, to the manifest before anything is restored.

Used by backup_restore. The client comes from module_utils/s3.py (bounded waits); every S3
failure is described by s3.describe_s3_error (what failed, where, never the keys).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import (
    CHUNK_SIZE,
    Entry,
    is_candidate,
    newest_first,
    parse_manifest,
    parse_s3_url,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.restore import RestoreError, unusable_reason
from ansible_collections.runbook.maintenance.plugins.module_utils.s3 import (
    BotoCoreError,
    ClientError,
    describe_s3_error,
)

MANIFEST_SUFFIX = '.json'


@dataclass
class S3Artefact:
    """An artefact chosen on S3, with its manifest."""
    bucket: str
    key: str
    size: int
    manifest: dict
    metadata_sha256: str | None = None
    passed_over: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f's3://{self.bucket}/{self.key}'


def split_location(latest_in: str | None, s3_bucket: str | None, s3_key: str | None) -> tuple[str, str | None, str | None]:
    """(bucket, key, prefix) of the S3 source: a key, or a prefix ('s3://bucket/prefix/').
    Raises RestoreError for a malformed one."""
    if s3_key is not None:
        key = s3_key.lstrip('/')
        if not s3_bucket or not key or key.endswith('/'):
            raise RestoreError(f's3_bucket and s3_key must name one object, got s3://{s3_bucket or ""}/{key}')
        return s3_bucket, key, None
    try:
        bucket, prefix = parse_s3_url(latest_in or '')
    except ValueError as exc:
        raise RestoreError(f'latest_in: {exc}') from None
    return bucket, None, prefix


def list_prefix(client, params: dict, bucket: str, prefix: str, pattern: str) -> list[Entry]:
    """The artefacts directly under prefix (never manifests, hidden names or deeper 'folders')."""
    found = []
    try:
        for page in client.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get('Contents', []):
                name = obj['Key'][len(prefix):]
                if '/' in name or not is_candidate(name, pattern):
                    continue
                found.append(Entry(name, obj['Key'], int(obj['Size']), obj['LastModified'].timestamp()))
    except (BotoCoreError, ClientError) as exc:
        raise RestoreError(describe_s3_error(exc, params, 'cannot list', bucket, prefix or None)) from None
    return found


def read_manifest_object(client, params: dict, bucket: str, key: str) -> dict | None:
    """The manifest of s3://bucket/key (the object key + '.json'); None when there is none.
    Raises RestoreError when it cannot be read or is invalid."""
    manifest_key = key + MANIFEST_SUFFIX
    try:
        body = client.get_object(Bucket=bucket, Key=manifest_key)['Body'].read(1024 * 1024 * 16)
    except ClientError as exc:
        if error_is_missing_key(exc):
            return None
        raise RestoreError(describe_s3_error(exc, params, 'cannot read the manifest', bucket, manifest_key)) from None
    except BotoCoreError as exc:
        raise RestoreError(describe_s3_error(exc, params, 'cannot read the manifest', bucket, manifest_key)) from None
    try:
        return parse_manifest(body, f'manifest s3://{bucket}/{manifest_key}')
    except ValueError as exc:
        raise RestoreError(str(exc)) from None


def head(client, params: dict, bucket: str, key: str) -> dict | None:
    try:
        return client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_is_missing_key(exc):
            return None
        raise RestoreError(describe_s3_error(exc, params, 'cannot read', bucket, key)) from None
    except BotoCoreError as exc:
        raise RestoreError(describe_s3_error(exc, params, 'cannot read', bucket, key)) from None


def error_is_missing_key(exc: Exception) -> bool:
    code = str((getattr(exc, 'response', None) or {}).get('Error', {}).get('Code', ''))
    return code in ('404', 'NoSuchKey', 'NotFound')


def judge(manifest: dict | None, manifest_url: str, database: str | None, require_verified: bool,
          kind: str = 'database') -> str | None:
    """Why an S3 artefact with this manifest is not restored, or None."""
    if manifest is None:
        return f'no manifest ({manifest_url}): it cannot be checked, so it is not restored'
    if kind != 'database':
        if manifest.get('kind', 'database') != kind:
            return f"it is a {manifest.get('kind', 'database')} backup, not a {kind} backup"
        if require_verified and manifest.get('verified') is not True:
            state = 'failed verification' if manifest.get('verified') is False else 'was never verified'
            return f"it {state} (manifest verified: {manifest.get('verified')!r}); require_verified=false restores it anyway"
        return None
    reason = unusable_reason(manifest, None, database, require_verified)
    if reason is None and manifest.get('format') == 'directory':
        return 'a directory-format dump is not a single S3 object (upload custom-format dumps)'
    return reason


def resolve(client, params: dict, bucket: str, key: str | None, prefix: str | None, pattern: str,
            database: str | None, require_verified: bool, kind: str = 'database') -> S3Artefact:
    """The artefact to restore: the object named by key, or the newest usable one of prefix.
    Reads only listings, heads and manifests (nothing big). Raises RestoreError."""
    if key is not None:
        # The manifest first: a GET names a refused signature, a HEAD only says 403.
        manifest = read_manifest_object(client, params, bucket, key)
        info = head(client, params, bucket, key)
        if info is None:
            raise RestoreError(f's3://{bucket}/{key} does not exist')
        reason = judge(manifest, f's3://{bucket}/{key}{MANIFEST_SUFFIX}', database, require_verified, kind)
        if reason:
            raise RestoreError(f's3://{bucket}/{key} is not restored: {reason}')
        return artefact_of(bucket, key, info, manifest)
    passed_over = []
    entries = list_prefix(client, params, bucket, prefix, pattern)
    for entry in newest_first(entries):
        manifest = read_manifest_object(client, params, bucket, entry.location)
        reason = judge(manifest, f's3://{bucket}/{entry.location}{MANIFEST_SUFFIX}', database, require_verified, kind)
        if reason is None:
            info = head(client, params, bucket, entry.location)
            if info is not None:
                chosen = artefact_of(bucket, entry.location, info, manifest)
                chosen.passed_over = passed_over
                return chosen
            reason = 'deleted while it was read'
        passed_over.append(f'{entry.name}: {reason}')
    why = f": {'; '.join(passed_over[:5])}" if passed_over else ''
    what = f'dump of {database}' if kind == 'database' else f'{kind} backup'
    raise RestoreError(f"no restorable{' verified' if require_verified else ''} {what} in s3://{bucket}/{prefix} "
                       f"(pattern {pattern!r}){why}")


def artefact_of(bucket: str, key: str, info: dict, manifest: dict) -> S3Artefact:
    metadata = {k.lower(): v for k, v in (info.get('Metadata') or {}).items()}
    artefact = S3Artefact(bucket, key, int(info['ContentLength']), manifest,
                          (metadata.get('sha256') or '').strip().lower() or None)
    want = (manifest.get('sha256') or '').lower()
    if manifest.get('size') is not None and artefact.size != manifest['size']:
        raise RestoreError(f"checksum: {artefact.url} is {artefact.size} bytes, its manifest says {manifest['size']}: "
                           'the object is not the one the manifest describes; nothing was downloaded or changed')
    if artefact.metadata_sha256 and want and artefact.metadata_sha256 != want:
        raise RestoreError(f'checksum: the sha256 in the metadata (x-amz-meta-sha256) of {artefact.url} ({artefact.metadata_sha256}) differs '
                           f"from its manifest's ({want}); nothing was downloaded or changed")
    return artefact


def private_workdir(parent: str | None) -> str:
    """A new 0700 directory in parent (the module's work directory; default the system's)."""
    path = tempfile.mkdtemp(prefix='runbook-restore-s3-', dir=parent or None)
    os.chmod(path, 0o700)
    return path


def download(client, params: dict, artefact: S3Artefact, workdir: str) -> tuple[str, str]:
    """Stream the object into a new file of workdir (O_EXCL, O_NOFOLLOW, 0600), hashing on the
    way; compare size and sha256 with the manifest. Returns (path, what was checked). Raises
    RestoreError (the partial file is removed)."""
    name = os.path.basename(artefact.key) or 'artefact'
    if name.startswith('.') or name in ('.', '..'):
        name = 'artefact'
    want = (artefact.manifest.get('sha256') or '').lower()
    if not want:
        raise RestoreError(f'the manifest of {artefact.url} records no sha256: the artefact cannot be checked')
    free = _free_bytes(workdir)
    if free is not None and free < artefact.size:
        raise RestoreError(f'not enough space in {os.path.dirname(workdir)} for {artefact.url}: {artefact.size} bytes '
                           f'needed, {free} free (set tmp_dir to a larger file system); nothing was changed')
    path = os.path.join(workdir, name)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_NOFOLLOW', 0) | getattr(os, 'O_CLOEXEC', 0)
    digest = hashlib.sha256()
    total = 0
    try:
        fd = os.open(path, flags, 0o600)
        with os.fdopen(fd, 'wb') as out:
            body = client.get_object(Bucket=artefact.bucket, Key=artefact.key)['Body']
            while True:
                chunk = body.read(CHUNK_SIZE)
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
                total += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    except (BotoCoreError, ClientError) as exc:
        _remove(path)
        raise RestoreError(describe_s3_error(exc, params, 'cannot download', artefact.bucket, artefact.key)
                           + '; nothing was changed') from None
    except OSError as exc:
        _remove(path)
        raise RestoreError(f'cannot write the download of {artefact.url} to {workdir}: {exc.strerror or exc}; '
                           'nothing was changed') from None
    got = digest.hexdigest()
    if artefact.manifest.get('size') is not None and total != artefact.manifest['size']:
        _remove(path)
        raise RestoreError(f"checksum: the download of {artefact.url} has {total} bytes, its manifest says "
                           f"{artefact.manifest['size']}; nothing was restored")
    if got != want:
        _remove(path)
        raise RestoreError(f'checksum: sha256 of {artefact.url} is {got}, its manifest says {want}: the artefact is '
                           'damaged or not the one the manifest describes; nothing was restored')
    checked = 'the manifest' + (' and the object metadata (x-amz-meta-sha256)' if artefact.metadata_sha256 else '')
    return path, f'sha256 {got} and size {total} of {artefact.url} (computed while downloading) match {checked}'


def _free_bytes(directory: str) -> int | None:
    try:
        info = os.statvfs(directory)
    except (OSError, AttributeError):
        return None
    return info.f_bavail * info.f_frsize


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def remove_workdir(path: str | None) -> None:
    if path:
        shutil.rmtree(path, ignore_errors=True)
