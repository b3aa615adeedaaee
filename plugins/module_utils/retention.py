# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Grandfather-father-son retention (default 7 daily, 4 weekly, 12 monthly), pure and unit-tested.

Shared by the logical backups (on disk and S3) and the pgBackRest backup sets. Two rules beat
every bucket: the newest verified backup and everything newer are always kept, and nothing at
all is pruned while the latest backup failed its verification.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class Backup:
    id: str
    created_at: datetime.datetime  # aware
    verified: bool | None = None   # True verified, False failed verification, None not verified yet


@dataclass
class Decision:
    keep: dict[str, list[str]]
    prune: dict[str, str]
    blocked: str | None = None     # why nothing is pruned at all


def _buckets(backup: Backup) -> dict[str, tuple]:
    day = backup.created_at.astimezone(datetime.timezone.utc)
    iso = day.isocalendar()
    return {'daily': (day.year, day.month, day.day), 'weekly': (iso[0], iso[1]), 'monthly': (day.year, day.month)}


def plan_retention(backups: list[Backup], daily: int = 7, weekly: int = 4, monthly: int = 12) -> Decision:
    """Which backups to keep (with every reason) and which to prune (with the reason)."""
    if min(daily, weekly, monthly) < 0:
        raise ValueError('retention counts cannot be negative')
    ordered = sorted(backups, key=lambda b: (b.created_at, b.id), reverse=True)
    keep: dict[str, list[str]] = {}
    if not ordered:
        return Decision(keep, {})
    if ordered[0].verified is False:
        return Decision({b.id: ['the latest backup failed verification: nothing is pruned'] for b in ordered}, {},
                        blocked=f'the latest backup {ordered[0].id} failed verification')
    newest_verified = next((b for b in ordered if b.verified), None)
    if newest_verified is None:
        return Decision({b.id: ['no verified backup yet: nothing is pruned'] for b in ordered}, {},
                        blocked='no backup has been verified yet')
    for backup in ordered:
        if backup.created_at >= newest_verified.created_at:
            keep.setdefault(backup.id, []).append(
                'newest verified backup' if backup is newest_verified else 'newer than the newest verified backup')
    # Each kind keeps the newest backup (a verified one if the bucket has any) of its N most
    # recent buckets; failed backups never represent a bucket.
    candidates = [b for b in ordered if b.verified is not False and b.created_at <= newest_verified.created_at]
    for kind, count in (('daily', daily), ('weekly', weekly), ('monthly', monthly)):
        chosen: dict[tuple, Backup] = {}
        for backup in candidates:
            bucket = _buckets(backup)[kind]
            if bucket not in chosen:
                if len(chosen) >= count:
                    break
                chosen[bucket] = backup
            elif backup.verified and not chosen[bucket].verified:
                chosen[bucket] = backup
        for bucket, backup in chosen.items():
            keep.setdefault(backup.id, []).append(f"{kind} {'-'.join(str(part) for part in bucket)}")
    prune = {}
    for backup in ordered:
        if backup.id in keep:
            continue
        prune[backup.id] = ('failed verification and superseded' if backup.verified is False else
                            f'outside the {daily} daily / {weekly} weekly / {monthly} monthly kept')
    return Decision(keep, prune)
