#!/usr/bin/python
# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: backup_prune
short_description: Grandfather-father-son retention of backups on disk or in S3
version_added: 0.1.0
description:
  - Keeps the newest backup of each of the last O(daily) days, O(weekly) ISO weeks and
    O(monthly) months and deletes the other artefacts (with their JSON manifests) of a directory
    or an S3 prefix.
  - Never deletes the newest verified backup or anything newer, and deletes nothing at all while
    the latest backup failed its verification or none has been verified yet. A backup counts as
    verified when its manifest (C(<artefact>.json)) has C(verified) set to true, as the backup role
    records after C(runbook.maintenance.backup_verify) passed.
  - In check mode lists what would be pruned and why, and deletes nothing.
author:
  - Runbook Maintainers (@runbook-maintenance)
extends_documentation_fragment:
  - runbook.maintenance.s3
attributes:
  check_mode:
    support: full
    description: Lists the artefacts it would delete, with the reason, and deletes nothing.
  diff_mode:
    support: none
    description: Nothing to diff.
  idempotent:
    support: full
    description: Applying the policy to what it kept prunes nothing more.
options:
  path:
    description: Directory holding the artefacts (not searched recursively; symlinks are never followed).
    type: path
  s3_bucket:
    description: Bucket holding the artefacts (with O(s3_prefix)).
    type: str
  s3_prefix:
    description: Key prefix of the artefacts in O(s3_bucket), e.g. V(postgresql/app/).
    type: str
    default: ''
  pattern:
    description: Glob the artefact names must match (manifests, C(*.json), are never artefacts).
    type: str
    default: '*'
  sets:
    description:
      - Several directories (or S3 prefixes, with O(s3_bucket)) in one call, each with its own
        pattern, under the same retention - the way the backup role prunes each database's dumps,
        the globals dumps and the paths archives with one module run instead of one per directory.
      - Each set is pruned on its own, exactly as a call with its O(path) (or O(s3_prefix)) and
        O(pattern) would be; a set that fails does not stop the others, and the task fails at the
        end naming every error. Results per set are in RV(sets); the top-level results add them up.
      - Mutually exclusive with O(path), O(s3_prefix), O(pattern) and O(uploaded_keep).
    type: list
    elements: dict
    version_added: 0.3.0
    suboptions:
      path:
        description: Directory of this set (without O(s3_bucket)).
        type: path
      s3_prefix:
        description: Key prefix of this set in O(s3_bucket).
        type: str
      pattern:
        description: Glob the artefact names of this set must match.
        type: str
        default: '*'
  daily:
    description: Days whose newest backup is kept.
    type: int
    default: 7
  weekly:
    description: ISO weeks whose newest backup is kept.
    type: int
    default: 4
  monthly:
    description: Months whose newest backup is kept.
    type: int
    default: 12
  uploaded_keep:
    description:
      - Disk-space emergency mode, with O(path) - instead of the retention, delete the local
        copies of artefacts already uploaded (their manifest has C(uploaded_to)) and verified,
        keeping the newest O(uploaded_keep) local copies and the newest verified backup.
      - Each S3 copy is checked first (with the S3 options, O(s3_bucket) taken from
        C(uploaded_to)) - it must exist with the same size and the sha256 of the manifest in its
        metadata, otherwise the local copy is kept.
    type: int
'''

EXAMPLES = r'''
- name: Apply 7/4/12 retention to the local dumps (after today's dump verified)
  runbook.maintenance.backup_prune:
    path: /var/backups/postgresql/app
    pattern: 'app-*.dump'

- name: The same retention for every database's dumps and the globals dumps, in one module run
  runbook.maintenance.backup_prune:
    sets:
      - {path: /var/backups/postgresql/app, pattern: 'app-*'}
      - {path: /var/backups/postgresql/globals, pattern: 'globals-*'}

- name: What would go from the S3 copies?
  runbook.maintenance.backup_prune:
    s3_bucket: backups
    s3_prefix: postgresql/app/
    endpoint_url: https://minio.internal:9000
  check_mode: true
'''

RETURN = r'''
kept:
  description: Artefacts kept, newest first, with every reason (daily, weekly, monthly, newest verified...).
  returned: always
  type: list
  elements: dict
  sample: [{artefact: /var/backups/app-20261129.dump, reasons: [newest verified backup, daily 2026-11-29]}]
pruned:
  description: Artefacts deleted (or that would be), with the reason and size.
  returned: always
  type: list
  elements: dict
  sample: [{artefact: /var/backups/app-20260101.dump, reason: outside the 7 daily / 4 weekly / 12 monthly kept, size: 1024}]
blocked:
  description: Why nothing was pruned at all (latest backup failed verification, none verified), else null.
  returned: always
  type: str
bytes_freed:
  description:
    - Bytes of the pruned artefacts (and manifests); a hard-linked file whose data another name
      still holds frees nothing and counts 0.
  returned: always
  type: int
sets:
  description:
    - With O(sets), one result per set in the order given - its C(path) or C(s3_prefix), C(pattern),
      C(changed), and its own C(kept), C(pruned), C(blocked), C(bytes_freed), C(errors) and C(ignored).
  returned: when O(sets) is given
  type: list
  elements: dict
  version_added: 0.3.0
ignored:
  description:
    - Local entries that are not ours and were left alone, with the reason (owned by another user
      than root, the module's user or the directory's owner, so possibly planted).
  returned: always
  type: list
  elements: str
  sample: ['/var/backups/app/app-20990101.dump: owned by uid 65534, not by root, this user or the directory owner (not a backup of ours)']
'''

import datetime
import fnmatch
import json
import os
import shutil
import stat

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import MAX_MANIFEST_BYTES
from ansible_collections.runbook.maintenance.plugins.module_utils.retention import Backup, Decision, plan_retention

from ansible_collections.runbook.maintenance.plugins.module_utils.s3 import (
    BotoCoreError,
    ClientError,
    describe_s3_error,
    module_s3_client,
    s3_common_argument_spec,
    validate_s3_params,
)


def parse_time(value) -> datetime.datetime | None:
    try:
        parsed = datetime.datetime.fromisoformat(str(value).replace('Z', '+00:00'))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.timezone.utc)


def verified_flag(manifest: dict | None) -> bool | None:
    if not manifest or manifest.get('verified') is None:
        return None
    return bool(manifest['verified'])


class LocalStore:
    """Artefacts of one directory: regular files or directories, never symlinks.

    Another local user who can write to the directory could plant names there: an entry (or a
    manifest) owned by anyone but root, this user or the directory's owner is not a backup of ours
    and is ignored (never deleted, never counted as a kept or verified backup) and reported in
    RV(ignored). Deletes go through a directory descriptor and only remove the very entry that was
    listed (same inode), so a name swapped for a symlink meanwhile is left alone; a hard-linked
    file's bytes count as freed only when its last name goes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.ignored: list[str] = []

    def trusted(self, uid: int) -> bool:
        return uid in self.owners

    def list(self, pattern: str) -> list[dict]:
        found = []
        if not os.path.exists(self.path):
            return found  # no backup made yet: nothing to prune
        self.owners = {0, os.geteuid(), os.stat(self.path).st_uid}
        with os.scandir(self.path) as entries:
            for entry in entries:
                if entry.name.endswith('.json') or entry.name.startswith('.') or not fnmatch.fnmatchcase(entry.name, pattern):
                    continue
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode) or not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                    continue
                if not self.trusted(info.st_uid):
                    self.ignored.append(f'{entry.path}: owned by uid {info.st_uid}, not by root, this user '
                                        'or the directory owner (not a backup of ours)')
                    continue
                manifest = self.manifest(entry.name)
                size = info.st_size if stat.S_ISREG(info.st_mode) else self.tree_size(entry.path)
                frees = size if stat.S_ISDIR(info.st_mode) or info.st_nlink == 1 else 0
                found.append({'name': entry.name, 'artefact': entry.path, 'size': size, 'manifest': manifest,
                              'mtime': datetime.datetime.fromtimestamp(info.st_mtime, datetime.timezone.utc),
                              'inode': (info.st_dev, info.st_ino), 'frees': frees})
        return found

    def manifest(self, name: str) -> dict | None:
        """The manifest beside an artefact: a regular file of a trusted owner, opened without
        following a symlink (a planted link to another file is not read)."""
        path = os.path.join(self.path, f'{name}.json')
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, 'O_CLOEXEC', 0))
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or not self.trusted(info.st_uid):
                if stat.S_ISREG(info.st_mode):
                    self.ignored.append(f'{path}: owned by uid {info.st_uid}, manifest not trusted')
                return None
            with os.fdopen(os.dup(fd), 'rb') as handle:
                data = json.loads(handle.read(MAX_MANIFEST_BYTES))
            return data if isinstance(data, dict) else None
        except (OSError, ValueError):  # no usable manifest: the artefact is kept as unverified
            return None
        finally:
            os.close(fd)

    @staticmethod
    def tree_size(path: str) -> int:
        total = 0
        for root, _dirs, files in os.walk(path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass
        return total

    def delete(self, item: dict) -> None:
        dir_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, 'O_CLOEXEC', 0))
        try:
            name = item['name']
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if (info.st_dev, info.st_ino) != item['inode']:
                raise RuntimeError('replaced since it was listed; left alone')
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(name, dir_fd=dir_fd)  # descriptor-based: does not follow symlinks found inside
            else:
                os.unlink(name, dir_fd=dir_fd)
            try:
                manifest = os.stat(f'{name}.json', dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return
            if stat.S_ISREG(manifest.st_mode) and self.trusted(manifest.st_uid):
                os.unlink(f'{name}.json', dir_fd=dir_fd)
        finally:
            os.close(dir_fd)


class S3Store:
    def __init__(self, module: AnsibleModule, prefix: str | None = None, client=None) -> None:
        p = module.params
        self.bucket, self.prefix = p['s3_bucket'], p['s3_prefix'] if prefix is None else prefix
        self.params = p
        self.client = client or module_s3_client(module)

    def list(self, pattern: str) -> list[dict]:
        objects = {}
        for page in self.client.get_paginator('list_objects_v2').paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get('Contents', []):
                objects[obj['Key']] = obj
        found = []
        for key, obj in objects.items():
            name = key[len(self.prefix):]
            if key.endswith('.json') or '/' in name or not fnmatch.fnmatchcase(name, pattern):
                continue
            manifest = None
            if f'{key}.json' in objects:
                try:
                    manifest = json.loads(self.client.get_object(Bucket=self.bucket, Key=f'{key}.json')['Body'].read())
                except ValueError:
                    manifest = None
                except (BotoCoreError, ClientError) as exc:
                    raise RuntimeError(describe_s3_error(exc, self.params, 'cannot read the manifest',
                                                         self.bucket, f'{key}.json')) from None
            found.append({'name': name, 'key': key, 'artefact': f's3://{self.bucket}/{key}', 'size': obj['Size'],
                          'manifest': manifest if isinstance(manifest, dict) else None, 'mtime': obj['LastModified']})
        return found

    def delete(self, item: dict) -> None:
        keys = [{'Key': item['key']}, {'Key': f"{item['key']}.json"}]
        try:
            answer = self.client.delete_objects(Bucket=self.bucket, Delete={'Objects': keys})
        except (BotoCoreError, ClientError) as exc:
            raise RuntimeError(describe_s3_error(exc, self.params, 'cannot delete', self.bucket, item['key'])) from None
        failed = [f"{e.get('Key')}: {e.get('Code')}" for e in answer.get('Errors') or []]
        if failed:
            raise RuntimeError(f"S3 refused to delete {', '.join(failed)}")


def parse_s3_uri(uri: str) -> tuple[str, str] | None:
    if not isinstance(uri, str) or not uri.startswith('s3://') or '/' not in uri[5:]:
        return None
    bucket, key = uri[5:].split('/', 1)
    return (bucket, key) if bucket and key else None


class BackupPrune:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        p = module.params
        for key in ('daily', 'weekly', 'monthly'):
            if p[key] < 0:
                module.fail_json(msg=f'{key} cannot be negative, got {p[key]}')
        problems = validate_s3_params(p)
        if problems:
            module.fail_json(msg='Invalid options: ' + '; '.join(problems))
        self.sets = self.plan_sets(module) if p['sets'] is not None else [{'pattern': p['pattern']}]
        if p['sets'] is not None:
            return
        if p['path']:
            self.check_dir(p['path'])
            self.store = LocalStore(p['path'])
        else:
            self.store = S3Store(module)

    def check_dir(self, path: str) -> None:
        if os.path.lexists(path) and (not os.path.isdir(path) or os.path.islink(path)):
            self.module.fail_json(msg=f'path {path} is not a directory')

    def plan_sets(self, module: AnsibleModule) -> list[dict]:
        """Validate O(sets): each names a directory (or, with s3_bucket, a prefix), never both."""
        p = module.params
        given = [key for key in ('path', 'uploaded_keep') if p[key] is not None]
        given += [key for key, default in (('s3_prefix', ''), ('pattern', '*')) if p[key] != default]
        if given:
            module.fail_json(msg=f"sets cannot be combined with {', '.join(given)}: give them per set")
        if not p['sets']:
            module.fail_json(msg='sets is empty: give at least one {path, pattern} (or {s3_prefix, pattern})')
        where = 's3_prefix' if p['s3_bucket'] else 'path'
        other = 'path' if p['s3_bucket'] else 's3_prefix'
        problems = []
        for number, entry in enumerate(p['sets'], 1):
            if entry.get(other) is not None:
                problems.append(f'set {number} has path: with s3_bucket, each set names an s3_prefix' if other == 'path'
                                else f'set {number} has s3_prefix, which needs s3_bucket')
            elif entry.get(where) is None:
                problems.append(f'set {number} has no {where}')
        if problems:
            module.fail_json(msg='Invalid sets: ' + '; '.join(problems))
        for entry in p['sets']:
            if where == 'path':
                self.check_dir(entry['path'])
        return [dict(entry) for entry in p['sets']]

    def run_sets(self) -> dict:
        """Every set pruned on its own; the results per set and added up."""
        client = module_s3_client(self.module) if self.module.params['s3_bucket'] else None
        results = []
        for entry in self.sets:
            if client is not None:
                self.store = S3Store(self.module, prefix=entry['s3_prefix'], client=client)
                label = {'s3_prefix': entry['s3_prefix']}
            else:
                self.store = LocalStore(entry['path'])
                label = {'path': entry['path']}
            results.append(dict(label, pattern=entry['pattern'], **self.prune(entry['pattern'])))
        total = {'changed': any(r['changed'] for r in results), 'sets': results,
                 'bytes_freed': sum(r['bytes_freed'] for r in results),
                 'blocked': '; '.join(r['blocked'] for r in results if r['blocked']) or None}
        for key in ('kept', 'pruned', 'errors', 'ignored'):
            total[key] = [x for r in results for x in r[key]]
        if total['errors']:
            self.module.fail_json(msg=f"{len(total['errors'])} artefact(s) could not be deleted: "
                                      + '; '.join(total['errors']), **total)
        return total

    def plan_uploaded(self, backups: list[Backup], by_id: dict, keep: int) -> Decision:
        """Local copies that may go because a verified, identical copy is in S3."""
        if keep < 0:
            self.module.fail_json(msg=f'uploaded_keep cannot be negative, got {keep}')
        ordered = sorted(backups, key=lambda b: b.created_at, reverse=True)
        newest_verified = next((b for b in ordered if b.verified), None)
        decision = Decision(keep={}, prune={})
        client = None
        unreachable = None
        for index, backup in enumerate(ordered):
            manifest = by_id[backup.id]['manifest'] or {}
            target = parse_s3_uri(manifest.get('uploaded_to'))
            if index < keep or backup is newest_verified:
                decision.keep[backup.id] = [f'one of the newest {keep} local copies' if index < keep
                                            else 'newest verified backup']
            elif not backup.verified or target is None:
                decision.keep[backup.id] = ['not uploaded and verified']
            else:
                if client is None:
                    client = module_s3_client(self.module)
                if unreachable:  # one bounded wait, not one per artefact, on a hung endpoint
                    decision.keep[backup.id] = [f'S3 copy not checked: {unreachable}']
                    continue
                try:
                    problem = self.s3_copy_problem(client, target, manifest, self.module.params)
                except BotoCoreError as exc:
                    unreachable = describe_s3_error(exc, self.module.params, 'cannot read', target[0], target[1])
                    decision.keep[backup.id] = [f'S3 copy not checked: {unreachable}']
                    continue
                if problem:
                    decision.keep[backup.id] = [f'S3 copy not trusted: {problem}']
                else:
                    decision.prune[backup.id] = f'a verified identical copy is in s3://{target[0]}/{target[1]}'
        return decision

    @staticmethod
    def s3_copy_problem(client, target: tuple[str, str], manifest: dict, params: dict) -> str | None:
        try:
            head = client.head_object(Bucket=target[0], Key=target[1])
        except ClientError as exc:  # missing object, no access (a timeout propagates: S3 unreachable)
            return describe_s3_error(exc, params, 'cannot read', target[0], target[1])
        if manifest.get('size') is not None and head.get('ContentLength') != manifest['size']:
            return f"size {head.get('ContentLength')} differs from the manifest's {manifest['size']}"
        if not manifest.get('sha256') or (head.get('Metadata') or {}).get('sha256') != manifest['sha256']:
            return 'its sha256 metadata does not match the manifest'
        return None

    def run(self) -> dict:
        if self.module.params['sets'] is not None:
            return self.run_sets()
        result = self.prune(self.module.params['pattern'])
        if result['errors']:
            self.module.fail_json(msg=f"{len(result['errors'])} artefact(s) could not be deleted: {result['errors'][0]}",
                                  **result)
        return result

    def prune(self, pattern: str) -> dict:
        """The retention applied to self.store's artefacts matching pattern; errors returned, not raised."""
        p = self.module.params
        try:
            items = self.store.list(pattern)
        except (BotoCoreError, ClientError) as exc:
            where = self.store.path if isinstance(self.store, LocalStore) else self.store.prefix
            self.module.fail_json(msg=f'cannot list the backups ({where}): ' + describe_s3_error(
                exc, p, 'cannot list', p['s3_bucket'], getattr(self.store, 'prefix', None) or None))
        except Exception as exc:  # noqa: BLE001 - OSError, or an S3 problem already described
            where = self.store.path if isinstance(self.store, LocalStore) else f's3://{self.store.bucket}/{self.store.prefix}'
            self.module.fail_json(msg=f'cannot list the backups in {where}: {exc}')
        by_id = {item['artefact']: item for item in items}
        backups = [Backup(item['artefact'],
                          parse_time((item['manifest'] or {}).get('created_at')) or item['mtime'],
                          verified_flag(item['manifest'])) for item in items]
        if p['uploaded_keep'] is not None:
            decision = self.plan_uploaded(backups, by_id, p['uploaded_keep'])
        else:
            decision = plan_retention(backups, p['daily'], p['weekly'], p['monthly'])
        pruned, errors, freed = [], [], 0
        for backup in sorted(backups, key=lambda b: b.created_at):
            if backup.id not in decision.prune:
                continue
            item = by_id[backup.id]
            if not self.module.check_mode:
                try:
                    self.store.delete(item)
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"{backup.id}: {exc}")
                    continue
            freed += item.get('frees', item['size'])
            pruned.append({'artefact': backup.id, 'reason': decision.prune[backup.id], 'size': item['size'],
                           'created_at': backup.created_at.strftime('%Y-%m-%dT%H:%M:%SZ')})
        kept = [{'artefact': b.id, 'reasons': decision.keep[b.id], 'verified': b.verified,
                 'created_at': b.created_at.strftime('%Y-%m-%dT%H:%M:%SZ')}
                for b in sorted(backups, key=lambda b: b.created_at, reverse=True) if b.id in decision.keep]
        return {'changed': bool(pruned), 'kept': kept, 'pruned': pruned, 'blocked': decision.blocked,
                'bytes_freed': freed, 'errors': errors, 'ignored': getattr(self.store, 'ignored', [])}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type='path'),
            s3_bucket=dict(type='str'),
            s3_prefix=dict(type='str', default=''),
            **s3_common_argument_spec(),
            pattern=dict(type='str', default='*'),
            sets=dict(type='list', elements='dict', options=dict(
                path=dict(type='path'),
                s3_prefix=dict(type='str'),
                pattern=dict(type='str', default='*'),
            )),
            daily=dict(type='int', default=7),
            weekly=dict(type='int', default=4),
            monthly=dict(type='int', default=12),
            uploaded_keep=dict(type='int'),
        ),
        required_one_of=[('path', 's3_bucket', 'sets')],
        mutually_exclusive=[('path', 's3_bucket'), ('path', 'sets')],
        required_by={'uploaded_keep': 'path'},
        supports_check_mode=True,
    )
    module.exit_json(**BackupPrune(module).run())


if __name__ == '__main__':
    main()
