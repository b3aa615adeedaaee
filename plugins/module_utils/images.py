# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Container image updates as pure logic: does a container need a newer image?

Three facts decide it, all read without changing anything: the image the container runs (its
image ID), the image the reference (``repo:tag``) points to on this host (ID and repo digests),
and the digest the registry serves for that reference now. A registry digest that no local repo
digest carries means a pull would bring a new image; a local image other than the one the
container runs means the container must be recreated to run it.
"""

from __future__ import annotations

import re

DIGEST_RE = re.compile(r'^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$')
# A reference as docker accepts it: [registry[:port]/]path[:tag][@digest]
_TAG_RE = re.compile(r'^[\w][\w.-]{0,127}$')


class ImageReferenceError(ValueError):
    """An image reference that cannot be used."""


def split_reference(ref: str) -> tuple[str, str | None, str | None]:
    """``registry:5000/team/app:1.2@sha256:...`` -> (``registry:5000/team/app``, ``1.2``, ``sha256:...``).

    A reference with neither tag nor digest gets the tag ``latest``, as docker gives it.
    """
    if not isinstance(ref, str) or not ref.strip() or any(c.isspace() for c in ref):
        raise ImageReferenceError(f'an image reference must be a non-empty string without spaces, got {ref!r}')
    name, _sep, digest = ref.partition('@')
    digest = digest or None
    if digest is not None and not DIGEST_RE.match(digest):
        raise ImageReferenceError(f'{ref!r}: {digest!r} is not a digest (algorithm:hex)')
    slash = name.rfind('/')
    colon = name.rfind(':')
    tag = None
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG_RE.match(tag):
            raise ImageReferenceError(f'{ref!r}: {tag!r} is not a valid tag')
    if not name or name.endswith('/') or name.startswith('/'):
        raise ImageReferenceError(f'{ref!r}: the repository name is missing')
    first, _sep, rest = name.partition('/')
    if ':' in first and (not rest or not first.rpartition(':')[2].isdigit()):
        raise ImageReferenceError(f'{ref!r}: {first!r} is neither a registry host:port nor a repository')
    if tag is None and digest is None:
        tag = 'latest'
    return name, tag, digest


def previous_reference(ref: str, suffix: str = '-previous') -> str:
    """The tag the image a container ran before an update keeps: ``app:stable`` -> ``app:stable-previous``."""
    repository, tag, digest = split_reference(ref)
    base = tag if tag is not None else (digest or 'image').split(':', 1)[-1][:12]
    new_tag = f'{base}{suffix}'
    if not _TAG_RE.match(new_tag):
        raise ImageReferenceError(f'{ref!r}: {new_tag!r} is not a valid tag (suffix {suffix!r})')
    return f'{repository}:{new_tag}'


def digests_of(repo_digests: list[str] | None) -> set[str]:
    """The digests in an image's RepoDigests (``repo@sha256:...``)."""
    return {d.rpartition('@')[2] for d in repo_digests or [] if '@' in d}


def short(image_id: str | None) -> str:
    """``sha256:0123456789abcdef...`` -> ``0123456789ab`` (as docker prints IDs)."""
    if not image_id:
        return 'none'
    return image_id.split(':', 1)[-1][:12]


def plan(ref: str, *, container_found: bool, running_image_id: str | None, local_image_id: str | None,
         local_repo_digests: list[str] | None, registry_digest: str | None,
         registry_checked: bool = True, error: str | None = None) -> dict:
    """What an update of one container needs: {pull, recreate, needs_update, reason}.

    ``registry_digest`` is None when the registry was not asked (``registry_checked`` false) or
    could not answer (``error`` says why); then only a local image newer than the running one
    counts. A reference pinned by digest never needs a pull once that digest is here.
    """
    result = {'pull': False, 'recreate': False, 'needs_update': False, 'reason': ''}
    if not container_found:
        result['reason'] = 'the container does not exist on this host'
        return result
    _repository, _tag, pinned = split_reference(ref)
    have = digests_of(local_repo_digests)
    if pinned is not None:
        result['pull'] = local_image_id is None or pinned not in have
    elif registry_digest is not None:
        result['pull'] = local_image_id is None or registry_digest not in have
    result['recreate'] = result['pull'] or (local_image_id is not None and running_image_id != local_image_id)
    result['needs_update'] = result['recreate']
    if result['pull']:
        wanted = pinned or registry_digest
        result['reason'] = (f'the registry serves {short(wanted)} for {ref}, this host has '
                            f'{", ".join(sorted(short(d) for d in have)) or "no digest of it"}')
    elif result['recreate']:
        result['reason'] = (f'{ref} is {short(local_image_id)} on this host, '
                            f'the container runs {short(running_image_id)}')
    elif error:
        result['reason'] = f'not checked against the registry: {error}'
    elif not registry_checked and pinned is None:
        result['reason'] = 'the container runs the local image (registry not asked)'
    else:
        result['reason'] = 'up to date'
    return result
