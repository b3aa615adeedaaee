# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verification of one backup artefact, for runbook.maintenance.backup_verify: where it lives
(a file or directory on the host, an S3 object), the checks (exists, checksum, format, age, size),
the restore into a scratch database and the row counts compared with the manifest.

The artefact logic itself (manifests, formats, tar reading, size drops) is in backup.py; the
PostgreSQL client plumbing (pg_restore's location and environment, scratch databases, signals)
in pgclient.py.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import tempfile
import time

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import (
    FUTURE_TOLERANCE_S,
    KIND_LABELS,
    SHA256_RE,
    TOC_FILE,
    CheckFailed,
    Entry,
    archive_format_of,
    check_plain,
    compare_rows,
    copy_and_hash,
    expected_kind,
    human_duration,
    human_size,
    is_candidate,
    manifest_bytes,
    manifest_path,
    newest_first,
    parse_manifest,
    parse_s3_url,
    parse_timestamp,
    previous_of,
    read_manifest,
    read_tar,
    scan_artefacts,
    sha256_file,
    size_drop_problem,
    sniff,
    stderr_errors,
    tree_size,
    utc_now,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.pgclient import (
    ToolError,
    databases_with_prefix,
    drop_database,
    exact_row_counts,
    find_bin,
    libpq_environment,
    one_line,
    scratch_name,
    termination_deferred,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.postgres import (
    connection_kwargs,
    connection_option_errors,
    describe_target,
    scrub,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.s3 import (
    MISSING_CODES,
    BotoCoreError,
    ClientError,
    describe_s3_error,
    module_s3_client,
    validate_s3_params,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.safefile import check_trusted_path, fsync_dir
from ansible_collections.runbook.maintenance.plugins.module_utils.sizes import check_size
from ansible_collections.runbook.maintenance.plugins.module_utils.timeutil import check_duration

try:
    import psycopg
    from psycopg import sql
except ImportError:  # reported by the restore check, the only one that needs it
    psycopg = None
    sql = None


CHECKS = ('exists', 'checksum', 'format', 'age', 'size', 'restore', 'rows')
DEFAULT_CHECKS = ['exists', 'checksum', 'format', 'age', 'size']
PREFIX_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_]{0,39}$')


class NotRun(Exception):
    """A check that did not run: skipped in check mode, or another check it needs failed (that
    one is the failure)."""


def s3_error_code(exc: Exception) -> str:
    response = getattr(exc, 'response', None) or {}
    return str((response.get('Error') or {}).get('Code', ''))


# ---- where the artefact lives ----------------------------------------------------------------
class LocalSource:
    """An artefact on the host running the module."""

    def __init__(self, path: str, pattern: str) -> None:
        self.path = path.rstrip('/') or '/'
        self.pattern = pattern
        self.artefact = self.path
        self.name = os.path.basename(self.path)
        self.metadata_sha256: str | None = None
        self._sha256: str | None = None
        self.entry: Entry | None = None

    @property
    def manifest_location(self) -> str:
        return manifest_path(self.path)

    def stat(self) -> Entry | None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CheckFailed(f'cannot read {self.path}: {exc.strerror or exc}') from None
        if not (os.path.isfile(self.path) or os.path.isdir(self.path)):
            raise CheckFailed(f'{self.path} is neither a regular file nor a directory')
        try:
            size = tree_size(self.path)
        except OSError as exc:
            raise CheckFailed(f'cannot read {self.path}: {exc.strerror or exc}') from None
        self.entry = Entry(self.name, self.path, size, info.st_mtime)
        return self.entry

    @property
    def is_dir(self) -> bool:
        return os.path.isdir(self.path)

    def manifest(self) -> dict:
        return read_manifest(self.path)

    def content(self) -> str:
        return self.path

    def sha256(self) -> str | None:
        if self.is_dir:
            return None
        if self._sha256 is None:
            self._sha256 = sha256_file(self.path)
        return self._sha256

    def siblings(self) -> list[Entry]:
        return list_directory(os.path.dirname(self.path) or '.', self.pattern)

    def cleanup(self) -> None:
        """Nothing downloaded."""


def list_directory(directory: str, pattern: str) -> list[Entry]:
    """The artefacts of a directory: regular files and directory-format dumps, never symlinks."""
    return scan_artefacts(directory, pattern)


class S3Source:
    """An S3 object, downloaded (and hashed on the way) only when a check needs its content."""

    def __init__(self, client, bucket: str, key: str, pattern: str, workdir, params: dict | None = None) -> None:
        self.client = client
        self.params = params or {}
        self.bucket = bucket
        self.key = key
        self.pattern = pattern
        self.workdir = workdir
        self.artefact = f's3://{bucket}/{key}'
        self.name = key.rsplit('/', 1)[-1]
        self.is_dir = False
        self.metadata_sha256: str | None = None
        self._sha256: str | None = None
        self._download: str | None = None
        self.entry: Entry | None = None

    @property
    def manifest_location(self) -> str:
        return f'{self.artefact}.json'

    def stat(self) -> Entry | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if s3_error_code(exc) in MISSING_CODES:
                return None
            raise CheckFailed(describe_s3_error(exc, self.params, 'cannot read', self.bucket, self.key)) from None
        except BotoCoreError as exc:
            raise CheckFailed(describe_s3_error(exc, self.params, 'cannot reach S3 for', self.bucket, self.key)) from None
        metadata = {k.lower(): v for k, v in (head.get('Metadata') or {}).items()}
        self.metadata_sha256 = (metadata.get('sha256') or '').strip().lower() or None
        self.entry = Entry(self.name, self.artefact, int(head['ContentLength']), head['LastModified'].timestamp())
        return self.entry

    def manifest(self) -> dict:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=f'{self.key}.json')['Body'].read()
        except ClientError as exc:
            if s3_error_code(exc) in MISSING_CODES:
                raise FileNotFoundError(self.manifest_location) from None
            raise ValueError(describe_s3_error(exc, self.params, 'cannot read the manifest', self.bucket,
                                               f'{self.key}.json')) from None
        except BotoCoreError as exc:
            raise ValueError(describe_s3_error(exc, self.params, 'cannot read the manifest', self.bucket,
                                               f'{self.key}.json')) from None
        return parse_manifest(body, f'manifest {self.manifest_location}')

    def content(self) -> str:
        """A local copy of the object (downloaded once)."""
        if self._download is None:
            target = os.path.join(self.workdir(), self.name or 'artefact')
            try:
                body = self.client.get_object(Bucket=self.bucket, Key=self.key)['Body']
                with open(target, 'wb') as out:
                    self._sha256, size = copy_and_hash(body, out)
            except (ClientError, BotoCoreError) as exc:
                raise CheckFailed(describe_s3_error(exc, self.params, 'cannot download', self.bucket, self.key)) from None
            except OSError as exc:
                raise CheckFailed(f'cannot download {self.artefact} to {target}: {exc.strerror or exc}') from None
            if self.entry is not None and size != self.entry.size:
                raise CheckFailed(f'the download of {self.artefact} got {size} of {self.entry.size} bytes')
            self._download = target
        return self._download

    def sha256(self) -> str | None:
        self.content()
        return self._sha256

    def siblings(self) -> list[Entry]:
        prefix = self.key[:self.key.rfind('/') + 1]
        return list_s3(self.client, self.bucket, prefix, self.pattern)

    def cleanup(self) -> None:
        """The download lives in the work directory, removed with it."""


def list_s3(client, bucket: str, prefix: str, pattern: str) -> list[Entry]:
    """The artefacts directly under an S3 prefix (not in deeper 'folders')."""
    found = []
    for page in client.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get('Contents', []):
            name = obj['Key'][len(prefix):]
            if '/' in name or not is_candidate(name, pattern):
                continue
            found.append(Entry(name, f"s3://{bucket}/{obj['Key']}", int(obj['Size']), obj['LastModified'].timestamp()))
    return found


# ---- the verification ------------------------------------------------------------------------
class BackupVerify:
    """Runs the requested checks on one artefact and reports each verdict."""

    def __init__(self, module) -> None:
        self.module = module
        self.params = module.params
        self.checks: dict[str, dict] = {}
        self.result: dict = {
            'changed': False, 'verified': False, 'artefact': None, 'checks': self.checks, 'failures': [],
            'sha256': None, 'size_bytes': None, 'age_s': None, 'manifest': None, 'restore': None,
        }
        self.requested = self._validate()
        self.source = None
        self.entry: Entry | None = None
        self._workdir: str | None = None
        self._manifest_loaded = False
        self.manifest: dict | None = None
        self.manifest_problem: str | None = None
        self.kind: str | None = None
        self.counts: dict[tuple[str, str], int] = {}
        self.drop_problem: str | None = None
        self.scratch_created = False

    # ---- input -------------------------------------------------------------------------
    def _validate(self) -> list[str]:
        p = self.params
        errors = []
        self.max_age = None
        if p['max_age'] not in (None, ''):
            try:
                self.max_age = check_duration('max_age', p['max_age'], allow_zero=True)  # 0: every backup is too old
            except ValueError as exc:
                errors.append(str(exc))
        self.min_size = None
        if p['min_size'] not in (None, ''):
            try:
                self.min_size = check_size('min_size', p['min_size'])
            except ValueError as exc:
                errors.append(str(exc))
        errors.extend(connection_option_errors(p))
        ratio = p['max_size_drop_ratio']
        if ratio is not None and not 0 <= ratio <= 1:
            errors.append(f'max_size_drop_ratio must be between 0 and 1, got {ratio}')
        if p['expected_sha256'] is not None:
            p['expected_sha256'] = p['expected_sha256'].strip().lower()
            if not SHA256_RE.match(p['expected_sha256']):
                errors.append(f"expected_sha256 must be 64 hexadecimal digits, got {p['expected_sha256']!r}")
        if not PREFIX_RE.match(p['restore_db_prefix'] or ''):
            errors.append(f"restore_db_prefix must be a letter or '_' then letters, digits or '_' "
                          f"(at most 40), got {p['restore_db_prefix']!r}")
        if p['restore_jobs'] < 1:
            errors.append(f"restore_jobs must be at least 1, got {p['restore_jobs']}")
        if not p['checks']:
            errors.append('checks cannot be empty')
        latest = p['latest_in']
        if latest is not None and not latest.strip():
            errors.append('latest_in cannot be empty')
        if latest and latest.startswith('s3://'):
            try:
                parse_s3_url(latest)
            except ValueError as exc:
                errors.append(f'latest_in: {exc}')
        elif latest and not os.path.isabs(latest):
            errors.append(f"latest_in must be an absolute path or an s3:// URL, got {latest!r}")
        if p['s3_key'] is not None and not p['s3_key'].strip('/'):
            errors.append('s3_key cannot be empty')
        if p['tmp_dir'] and not os.path.isdir(p['tmp_dir']):
            errors.append(f"tmp_dir {p['tmp_dir']} is not a directory")
        errors.extend(validate_s3_params(p))
        if errors:
            self.module.fail_json(msg='Invalid options: ' + '; '.join(errors))
        wanted = set(p['checks'])
        if 'rows' in wanted:
            wanted.add('restore')
        if wanted & {'checksum', 'format', 'age', 'size', 'restore'}:
            wanted.add('exists')
        return [name for name in CHECKS if name in wanted]

    def uses_s3(self) -> bool:
        return bool(self.params['s3_key']) or (self.params['latest_in'] or '').startswith('s3://')

    def s3_client(self):
        """The shared S3 client (module_utils/s3.py): bounded connect/read timeouts and retries."""
        return module_s3_client(self.module)

    def workdir(self) -> str:
        if self._workdir is None:
            self._workdir = tempfile.mkdtemp(prefix='runbook-verify-', dir=self.params['tmp_dir'] or None)
        return self._workdir

    # ---- target ------------------------------------------------------------------------
    def resolve(self):
        """The source to verify, or (None, why there is none)."""
        p = self.params
        client = self.s3_client() if self.uses_s3() else None
        if p['path']:
            return LocalSource(p['path'], p['pattern']), None
        if p['s3_key']:
            return S3Source(client, p['s3_bucket'], p['s3_key'].lstrip('/'), p['pattern'], self.workdir, p), None
        latest = p['latest_in']
        if latest.startswith('s3://'):
            bucket, prefix = parse_s3_url(latest)
            try:
                entries = list_s3(client, bucket, prefix, p['pattern'])
            except ClientError as exc:
                if s3_error_code(exc) in MISSING_CODES:
                    return None, f'{latest} does not exist (no such bucket)'
                return None, describe_s3_error(exc, p, 'cannot list', bucket, prefix or None)
            except BotoCoreError as exc:
                return None, describe_s3_error(exc, p, 'cannot reach S3 to list', bucket, prefix or None)
            if not entries:
                return None, f"no artefact matching {p['pattern']!r} in {latest}"
            key = newest_first(entries)[0].location[len(f's3://{bucket}/'):]
            return S3Source(client, bucket, key, p['pattern'], self.workdir, p), None
        directory = latest
        if not os.path.isdir(directory):
            return None, f'{directory} is not a directory'
        try:
            entries = list_directory(directory, p['pattern'])
        except OSError as exc:
            return None, f'cannot list {directory}: {exc.strerror or exc}'
        if not entries:
            return None, f"no artefact matching {p['pattern']!r} in {directory}"
        return LocalSource(newest_first(entries)[0].location, p['pattern']), None

    def load_manifest(self) -> None:
        if self._manifest_loaded:
            return
        self._manifest_loaded = True
        try:
            self.manifest = self.source.manifest()
        except FileNotFoundError:
            self.manifest_problem = f'manifest missing ({self.source.manifest_location})'
        except ValueError as exc:
            self.manifest_problem = f'manifest unreadable: {exc}'
        self.result['manifest'] = self.manifest

    # ---- checks ------------------------------------------------------------------------
    def check_exists(self) -> str:
        entry = self.entry
        what = 'directory-format dump' if self.source.is_dir else ('object' if isinstance(self.source, S3Source) else 'file')
        size = f'{entry.size} bytes' if entry.size < 1024 else f'{human_size(entry.size)} ({entry.size} bytes)'
        return f'{what} of {size}'

    def check_checksum(self) -> str:
        p = self.params
        size = self.entry.size
        problems, matched = [], []
        try:
            actual = self.source.sha256()
        except OSError as exc:
            raise CheckFailed(f'cannot read the artefact: {exc.strerror or exc}') from None
        self.result['sha256'] = actual
        if p['expected_sha256']:
            if actual is None:
                problems.append('a directory-format dump has no single sha256 to compare with expected_sha256')
            elif actual != p['expected_sha256']:
                problems.append(f"sha256 {actual} does not match expected_sha256 {p['expected_sha256']}")
            else:
                matched.append('expected_sha256')
        else:
            self.load_manifest()
            if self.manifest is None:
                problems.append(self.manifest_problem)
            else:
                recorded = self.manifest.get('sha256')
                if recorded is None and actual is None:
                    matched.append('the manifest (size only: a directory-format dump has no sha256; '
                                   'its data files carry gzip CRCs, read by the format check)')
                elif recorded is None or actual is None:
                    problems.append(f"the manifest's sha256 is {recorded!r} but the artefact's is {actual!r}")
                elif actual != recorded.lower():
                    problems.append(f'sha256 {actual} does not match the manifest\'s {recorded.lower()}')
                else:
                    matched.append('the manifest')
                if self.manifest.get('size') != size:
                    problems.append(f"size {size} bytes differs from the manifest's {self.manifest.get('size')}")
        meta = self.source.metadata_sha256
        if meta:
            if actual != meta:
                problems.append(f"sha256 {actual} does not match the object's metadata sha256 "
                                f"(x-amz-meta-sha256) {meta}: the content differs from what was uploaded")
            else:
                matched.append('the object metadata (x-amz-meta-sha256)')
        if problems:
            raise CheckFailed('; '.join(problems))
        return f"sha256 {actual} matches {' and '.join(matched)}" if actual else f"matches {' and '.join(matched)}"

    def check_format(self) -> str:
        self.load_manifest()
        declared = (self.manifest or {}).get('format')
        path = self.source.content()
        kind = expected_kind(self.source.name, declared, self.source.is_dir)
        if kind == 'plain' and declared is None and sniff(path) == 'custom':
            kind = 'custom'  # an unknown suffix without manifest: the content decides
        self.kind = kind
        if kind == 'custom':
            return self.read_custom(path)
        if kind == 'directory':
            if sniff(path) != 'directory':
                raise CheckFailed(f'{KIND_LABELS["other_directory"]}')
            return self.read_custom(path, directory=True)
        if kind == 'tar':
            try:
                report = read_tar(path)
            except ValueError as exc:
                raise CheckFailed(f'tar archive: {exc}') from None
            except OSError as exc:
                raise CheckFailed(f'tar archive cannot be read: {exc.strerror or exc}') from None
            backup_kind = (self.manifest or {}).get('kind', 'database')
            if declared in ('directory', 'tar') and backup_kind == 'database' and not report.toc_dirs:
                raise CheckFailed(f'the manifest says a pg_dump {declared}-format dump, but the archive holds '
                                  f'no {TOC_FILE}')
            if report.unsafe:
                more = f' (and {len(report.unsafe) - 3} more)' if len(report.unsafe) > 3 else ''
                raise CheckFailed(f"tar archive with {len(report.unsafe)} member(s) unsafe to extract: "
                                  f"{'; '.join(report.unsafe[:3])}{more}")
            packed = f'{report.compression}-compressed ' if report.compression else ''
            dump = ', a pg_dump dump inside' if report.toc_dirs else ''
            names = ', every member name safe to extract' if backup_kind == 'paths' else ''
            return (f'{packed}tar archive read to its end: {report.members} members, {report.files} files, '
                    f'{report.bytes_read} bytes{dump}{names}')
        try:
            return check_plain(path)
        except ValueError as exc:
            raise CheckFailed(str(exc)) from None

    def read_custom(self, path: str, directory: bool = False) -> str:
        if not directory:
            sniffed = sniff(path)
            if sniffed == 'empty':
                raise CheckFailed('not a pg_dump custom-format archive: the file is empty (0 bytes)')
            if sniffed != 'custom':
                hint = ('; restore it with psql, or dump with pg_dump -Fc' if sniffed == 'sql' else '')
                raise CheckFailed(f'not a pg_dump custom-format archive: it is {KIND_LABELS[sniffed]} '
                                  f'(no PGDMP header){hint}')
            with open(path, 'rb') as handle:
                declared = archive_format_of(handle.read(16))
            if declared != 'custom':
                raise CheckFailed(f'a pg_dump archive header declaring the {declared} format, not custom')
        pg_restore = self.pg_restore()
        rc, out, err = self.run([pg_restore, '--list', path])
        errors = stderr_errors(err)
        if rc != 0 or errors:
            raise CheckFailed(f"pg_restore --list cannot read its table of contents (exit {rc}): "
                              f"{'; '.join(errors[:3]) or 'no message'}")
        entries = len([line for line in out.splitlines() if line.strip() and not line.startswith(';')])
        rc, _out, err = self.run([pg_restore, '-f', os.devnull, path])
        errors = stderr_errors(err)
        if rc != 0 or errors:
            raise CheckFailed(f"pg_restore cannot read the archive to the end (exit {rc}; its table of contents "
                              f"reads fine, so pg_restore --list alone would pass): "
                              f"{'; '.join(errors[:3]) or 'no message'}")
        what = 'directory-format dump' if directory else 'custom-format archive'
        return f'{what}, {entries} TOC entries, every data block read by pg_restore'

    def check_age(self) -> str:
        self.load_manifest()
        if self.manifest is not None:
            created = parse_timestamp(self.manifest['created_at'])
            source = 'per the manifest'
        else:
            created = None
            clock = 'its LastModified' if isinstance(self.source, S3Source) else 'its modification time'
            why = 'missing' if (self.manifest_problem or '').startswith('manifest missing') else 'unreadable'
            source = f'per {clock}, the manifest is {why}'
        now = utc_now()
        age = (now - created).total_seconds() if created else now.timestamp() - self.entry.mtime
        self.result['age_s'] = round(age, 1)
        when = created.strftime('%Y-%m-%dT%H:%M:%SZ') if created else \
            time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(self.entry.mtime))
        if age < -FUTURE_TOLERANCE_S:
            raise CheckFailed(f'created {when} ({source}), {human_duration(-age)} in the future: a wrong clock '
                              'on the backup host or here?')
        if self.max_age is not None and age > self.max_age:
            raise CheckFailed(f"the backup is {human_duration(age)} old (created {when} {source}), older than "
                              f"max_age {self.params['max_age']}")
        limit = f", max_age {self.params['max_age']}" if self.max_age is not None else ', no max_age'
        return f'{human_duration(max(age, 0))} old (created {when} {source}){limit}'

    def check_size(self) -> str:
        size = self.entry.size
        if size == 0:
            raise CheckFailed('the artefact is empty (0 bytes)')
        if self.min_size is not None and size < self.min_size:
            raise CheckFailed(f"{size} bytes ({human_size(size)}) is below min_size {self.params['min_size']} "
                              f'({self.min_size} bytes)')
        ratio = self.params['max_size_drop_ratio']
        if ratio is None:
            return f'{size} bytes ({human_size(size)})'
        try:
            previous = previous_of(self.source.siblings(), self.entry)
        except (OSError, ClientError, BotoCoreError) as exc:
            what = 'cannot list the artefacts beside it to find the previous one'
            if isinstance(exc, OSError):
                raise CheckFailed(f'{what}: {one_line(exc)}') from None
            raise CheckFailed(describe_s3_error(exc, self.params, what + ' in', getattr(self.source, 'bucket', None))) from None
        if previous is None:
            return f'{size} bytes ({human_size(size)}); no previous artefact to compare with'
        self.result['previous'] = {'artefact': previous.location, 'size': previous.size}
        problem = size_drop_problem(size, previous, ratio)
        if problem:
            raise CheckFailed(problem)
        return f'{size} bytes; previous {previous.name} {previous.size} bytes (max_size_drop_ratio {ratio})'

    # ---- restore -----------------------------------------------------------------------
    def pg_restore(self) -> str:
        try:
            return find_bin(self.module, 'pg_restore', self.params['pg_bin_dir'])
        except ToolError as exc:
            raise CheckFailed(str(exc)) from None

    def run(self, argv: list[str], env: dict | None = None) -> tuple[int, str, str]:
        rc, out, err = self.module.run_command(argv, environ_update=env or {}, expand_user_and_vars=False)
        return rc, out, scrub(err, self.params)

    def restore_source(self, path: str) -> tuple[str, int]:
        """What pg_restore reads, and with how many jobs."""
        jobs = self.params['restore_jobs']
        self.load_manifest()
        kind = self.kind or expected_kind(self.source.name, (self.manifest or {}).get('format'), self.source.is_dir)
        if kind == 'plain' and not self.source.is_dir and sniff(path) == 'custom':
            kind = 'custom'
        if kind in ('custom', 'directory'):
            return path, jobs
        if kind == 'plain':
            raise CheckFailed('a plain file is not a pg_dump archive pg_restore can restore (custom, directory '
                              'or tar format)')
        extracted = tempfile.mkdtemp(prefix='extract-', dir=self.workdir())
        try:
            report = read_tar(path, extract_to=extracted)
        except ValueError as exc:
            raise CheckFailed(f'the tar archive cannot be extracted: {exc}') from None
        except OSError as exc:
            raise CheckFailed(f'the tar archive cannot be extracted to {extracted}: {exc.strerror or exc}') from None
        if not report.toc_dirs:
            raise CheckFailed(f'the archive holds no pg_dump dump ({TOC_FILE}) to restore')
        # A directory-format dump, or an extracted pg_dump -Ft archive: pg_restore reads both as a directory.
        return os.path.join(extracted, report.toc_dirs[0]), jobs

    def restore(self) -> dict:
        p = self.params
        if psycopg is None:
            raise CheckFailed(missing_required_lib('psycopg (version 3)'))
        pg_restore = self.pg_restore()
        source, jobs = self.restore_source(self.source.content())
        name = scratch_name(p['restore_db_prefix'])
        info = {'database': name, 'duration_s': None, 'tables': 0, 'rows': 0, 'dropped': False}
        self.result['restore'] = info
        began = time.monotonic()
        try:
            admin = psycopg.connect(autocommit=True, **connection_kwargs(p))
        except psycopg.Error as exc:
            raise CheckFailed(scrub(f'cannot connect to {describe_target(p)} to create the scratch database: '
                                    f'{one_line(exc)}', p)) from None
        created = False
        try:
            self.warn_leftovers(admin)
            try:
                admin.execute(sql.SQL('CREATE DATABASE {} TEMPLATE template0').format(sql.Identifier(name)))
            except psycopg.Error as exc:  # never dropped then: the name may belong to someone else
                raise CheckFailed(scrub(f'cannot create the scratch database {name}: {one_line(exc)}', p)) from None
            created = self.scratch_created = True
            argv = [pg_restore, '--no-owner', '--no-privileges', '--no-tablespaces', '--no-password',
                    '-j', str(jobs), '-d', name, source]
            rc, _out, err = self.run(argv, libpq_environment(p, name))
            errors = stderr_errors(err)
            if rc != 0 or errors:
                raise CheckFailed(f"pg_restore into the scratch database {name} failed (exit {rc}): "
                                  f"{'; '.join(errors[:3]) or 'no message'}")
            self.counts, partitions = self.count_rows(name)
            info['tables'] = len(self.counts)
            info['rows'] = sum(count for key, count in self.counts.items() if key not in partitions)
        finally:
            info['duration_s'] = round(time.monotonic() - began, 3)
            if created:
                self.drop_scratch(admin, name, info)
            admin.close()
        return info

    def count_rows(self, dbname: str) -> tuple[dict[tuple[str, str], int], set]:
        """Exact row count of every table restored, and the partitioned (parent) tables."""
        p = self.params
        try:
            with psycopg.connect(autocommit=True, **connection_kwargs(p, dbname)) as conn:
                return exact_row_counts(conn)
        except psycopg.Error as exc:
            raise CheckFailed(scrub(f'cannot count the restored rows in {dbname}: {one_line(exc)}', p)) from None

    def warn_leftovers(self, admin) -> None:
        try:
            names = databases_with_prefix(admin, f"{self.params['restore_db_prefix']}_")
        except psycopg.Error:
            return
        if names:
            self.module.warn(f"scratch database(s) left by an interrupted verification (or one running now): "
                             f"{', '.join(names)}; drop them by hand once no verification runs")

    def drop_scratch(self, admin, name: str, info: dict) -> None:
        """DROP the scratch database whatever happened before (terminating its sessions). SIGTERM
        and SIGHUP wait until it is done, so a terminated run cannot stop half way through."""
        with termination_deferred():
            try:
                drop_database(admin, name)
                info['dropped'] = True
            except psycopg.Error as exc:
                self.drop_problem = scrub(f'the scratch database {name} could not be dropped, drop it by hand: '
                                          f'{one_line(exc)}', self.params)

    def terminated(self, signum: int) -> str:
        msg = f'terminated by signal {signum} before the verification ended'
        restore = self.result.get('restore')
        if restore and self.scratch_created:
            if restore['dropped']:
                return f"{msg}; the scratch database {restore['database']} was dropped"
            return f"{msg}; the scratch database {restore['database']} could not be dropped, drop it by hand"
        return msg

    # ---- run ---------------------------------------------------------------------------
    def record(self, name: str, ok: bool | None, detail: str) -> None:
        self.checks[name] = {'ok': ok, 'detail': scrub(detail, self.params)}

    def run_check(self, name: str, blocked: str | None = None) -> None:
        if blocked:
            self.record(name, None, f'not run: {blocked}')
            return
        try:
            detail = getattr(self, f'check_{name}')()
        except CheckFailed as exc:
            self.record(name, False, str(exc))
        except NotRun as exc:
            self.record(name, None, str(exc))
        except OSError as exc:  # the artefact or the work directory became unreadable
            where = f' {exc.filename}' if exc.filename else ''
            self.record(name, False, f'cannot read{where}: {exc.strerror or exc}')
        else:
            self.record(name, True, detail)

    def check_restore(self) -> str:
        if self.module.check_mode:
            raise NotRun('skipped in check mode')
        if self.checks.get('format', {}).get('ok') is False:
            raise NotRun('not run: the format check failed, the archive is not restorable as it is')
        self.drop_problem = None
        try:
            info = self.restore()
        except CheckFailed as exc:
            if self.drop_problem:
                raise CheckFailed(f'{exc}; {self.drop_problem}') from None
            raise
        if self.drop_problem:
            raise CheckFailed(self.drop_problem)
        return (f"restored into {info['database']} (dropped) in {info['duration_s']}s: {info['tables']} tables, "
                f"{info['rows']} rows")

    def check_rows(self) -> str:
        if self.module.check_mode:
            raise NotRun('skipped in check mode')
        if self.checks.get('restore', {}).get('ok') is not True:
            raise NotRun('not run: no restore to count rows in')
        self.load_manifest()
        if self.manifest is None:
            raise CheckFailed(f'{self.manifest_problem}: no row counts to compare')
        tables = self.manifest.get('tables')
        if tables is None:
            raise CheckFailed("the manifest lists no tables (no 'tables' with row counts)")
        if not tables:  # a database without tables (e.g. `postgres`): the restore must have none either
            if self.counts:
                raise CheckFailed(f'the manifest records no tables but the restore has {len(self.counts)}')
            return 'no tables in the manifest, none restored'
        kind = self.manifest.get('row_counts', 'exact')
        if kind not in (None, 'exact'):
            raise CheckFailed(f"the manifest's row counts are not exact (row_counts: {kind}), they cannot be "
                              'compared exactly')
        mismatches, compared = compare_rows(tables, self.counts)
        if not compared:
            raise CheckFailed('the manifest records no row count for any table')
        if mismatches:
            more = f' (and {len(mismatches) - 5} more)' if len(mismatches) > 5 else ''
            raise CheckFailed(f"{len(mismatches)} of {compared} tables differ: {'; '.join(mismatches[:5])}{more}")
        return f'{compared} tables have exactly the row counts of the manifest'

    def verify(self) -> dict:
        source, missing = self.resolve()
        self.source = source
        if source is None:
            self.record('exists', False, missing)
            for name in self.requested:
                if name != 'exists':
                    self.record(name, None, 'not run: no artefact')
            return self.finish()
        self.result['artefact'] = source.artefact
        try:
            try:
                self.entry = source.stat()
            except CheckFailed as exc:
                self.record('exists', False, str(exc))
                self.entry = None
            else:
                if self.entry is None:
                    self.record('exists', False, f'{source.artefact} does not exist')
                else:
                    self.record('exists', True, self.check_exists())
                    self.result['size_bytes'] = self.entry.size
            blocked = None if self.checks['exists']['ok'] else 'the artefact cannot be read'
            for name in self.requested:
                if name != 'exists':
                    self.run_check(name, blocked)
            if self.entry is not None:
                self.load_manifest()  # returned whatever the checks
        finally:
            source.cleanup()
            if self._workdir:
                shutil.rmtree(self._workdir, ignore_errors=True)
        return self.finish()

    def finish(self) -> dict:
        failures = [f"{name}: {check['detail']}" for name, check in self.checks.items() if check['ok'] is False]
        self.result['failures'] = failures
        self.result['verified'] = not failures
        artefact = self.result['artefact'] or self.params['latest_in']
        if failures:
            self.result['msg'] = (f"{artefact}: {len(failures)} check(s) failed "
                                  f"({', '.join(name for name, check in self.checks.items() if check['ok'] is False)}): "
                                  + '; '.join(failures))
        else:
            passed = [name for name, check in self.checks.items() if check['ok']]
            skipped = [name for name, check in self.checks.items() if check['ok'] is None]
            self.result['msg'] = f"{artefact} verified: {', '.join(passed)}" + \
                (f" ({', '.join(skipped)} skipped in check mode)" if skipped else '')
        return self.result


# ---- recording the verification in the manifest ----------------------------------------------
def recorded_manifest(manifest: dict, verified: bool, checks: dict) -> dict:
    """The manifest with the verification recorded: what the backup role's copy task wrote,
    the manifest combined with ``verified`` and ``verification`` (the checks)."""
    data = dict(manifest)
    data['verified'] = verified
    data['verification'] = checks
    return data


def record_verification(artefact: str, current: dict, data: dict, mode: int | None, check_mode: bool) -> dict:
    """Write data as the manifest of a local artefact in place of current (what was read from it).

    The manifest is replaced atomically (a fresh private temporary file beside it, fsync, rename,
    fsync of the directory), never through a symlink: it must be a regular file, and the name is
    renamed over, never opened. The new file keeps the manifest's owner and group (when this user
    may set them) and gets mode, default the manifest's own mode. Returns
    ``{'path', 'changed', 'recorded'}``; nothing is written in check mode or when nothing changes.
    Raises OSError or ValueError (the caller reports it)."""
    path = manifest_path(artefact)
    directory = os.path.dirname(os.path.abspath(path))
    check_trusted_path(directory)
    info = os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise ValueError(f'{path} is not a regular file (a symlink is never followed)')
    new_mode = stat.S_IMODE(info.st_mode) if mode is None else mode
    content = manifest_bytes(data)
    changed = data != current or new_mode != stat.S_IMODE(info.st_mode)
    outcome = {'path': path, 'changed': changed, 'recorded': False}
    if check_mode or not changed:
        outcome['recorded'] = not changed
        return outcome
    handle, temp = tempfile.mkstemp(dir=directory, prefix=f'.{os.path.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(content)
            out.flush()
            if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(out.fileno(), info.st_uid, info.st_gid)
                except PermissionError:
                    pass  # not root: the manifest becomes this user's, as a copy by this user would
            os.fchmod(out.fileno(), new_mode)
            os.fsync(out.fileno())
        again = os.lstat(path)
        if (again.st_dev, again.st_ino) != (info.st_dev, info.st_ino):
            raise OSError(errno.EEXIST, 'the manifest was replaced while it was verified, not overwritten', path)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        fsync_dir(dir_fd)
    finally:
        os.close(dir_fd)
    outcome['recorded'] = True
    return outcome
