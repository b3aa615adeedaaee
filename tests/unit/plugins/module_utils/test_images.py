"""Pure logic of image updates: references, previous tags and the update decision."""

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.images import (
    ImageReferenceError,
    digests_of,
    plan,
    previous_reference,
    short,
    split_reference,
)

OLD = 'sha256:' + '1' * 64
NEW = 'sha256:' + '2' * 64
D_OLD = 'sha256:' + 'a' * 64
D_NEW = 'sha256:' + 'b' * 64


@pytest.mark.parametrize('ref, expected', [
    ('nginx', ('nginx', 'latest', None)),
    ('nginx:1.25', ('nginx', '1.25', None)),
    ('127.0.0.1:5055/team/app', ('127.0.0.1:5055/team/app', 'latest', None)),
    ('127.0.0.1:5055/team/app:stable', ('127.0.0.1:5055/team/app', 'stable', None)),
    (f'registry.example.com/app@{D_OLD}', ('registry.example.com/app', None, D_OLD)),
    (f'registry.example.com/app:1.0@{D_OLD}', ('registry.example.com/app', '1.0', D_OLD)),
])
def test_split_reference(ref, expected):
    assert split_reference(ref) == expected


@pytest.mark.parametrize('ref', ['', ' ', 'app name:1', 'app:', ':tag', 'app@sha256:xyz', 'registry:5000/', 'app:bad/tag', None])
def test_split_reference_refuses(ref):
    with pytest.raises(ImageReferenceError):
        split_reference(ref)


def test_previous_reference():
    assert previous_reference('127.0.0.1:5055/team/app:stable') == '127.0.0.1:5055/team/app:stable-previous'
    assert previous_reference('app') == 'app:latest-previous'
    assert previous_reference('app:1.2', '.rollback') == 'app:1.2.rollback'
    assert previous_reference(f'app@{D_OLD}') == 'app:' + 'a' * 12 + '-previous'
    with pytest.raises(ImageReferenceError):
        previous_reference('app:stable', '/x')


def test_digests_and_short_ids():
    assert digests_of([f'repo@{D_OLD}', f'other/repo@{D_NEW}', 'garbage']) == {D_OLD, D_NEW}
    assert digests_of(None) == set()
    assert short(OLD) == '111111111111'
    assert short(None) == 'none'


def decide(**kwargs):
    facts = {'container_found': True, 'running_image_id': OLD, 'local_image_id': OLD,
             'local_repo_digests': [f'app@{D_OLD}'], 'registry_digest': D_OLD}
    facts.update(kwargs)
    return plan(kwargs.pop('ref', 'app:stable'), **{k: v for k, v in facts.items() if k != 'ref'})


def test_up_to_date():
    result = decide()
    assert result == {'pull': False, 'recreate': False, 'needs_update': False, 'reason': 'up to date'}


def test_registry_has_a_newer_image():
    result = decide(registry_digest=D_NEW)
    assert result['pull'] and result['recreate'] and result['needs_update']
    assert 'bbbbbbbbbbbb' in result['reason'] and 'aaaaaaaaaaaa' in result['reason']


def test_local_tag_already_newer_than_the_container():
    result = decide(local_image_id=NEW)
    assert not result['pull'] and result['recreate'] and result['needs_update']
    assert '222222222222' in result['reason'] and '111111111111' in result['reason']


def test_image_missing_locally_needs_a_pull():
    result = decide(local_image_id=None, local_repo_digests=[])
    assert result['pull'] and result['needs_update']


def test_a_digest_under_another_repository_counts():
    assert not decide(local_repo_digests=[f'mirror.example.com/app@{D_OLD}'])['needs_update']


def test_registry_not_asked_or_unreachable_is_not_an_update():
    assert not decide(registry_digest=None, registry_checked=False)['needs_update']
    assert 'registry not asked' in decide(registry_digest=None, registry_checked=False)['reason']
    result = decide(registry_digest=None, error='connection refused')
    assert not result['needs_update'] and 'connection refused' in result['reason']
    # ... but a newer local image still is
    assert decide(registry_digest=None, error='connection refused', local_image_id=NEW)['recreate']


def test_missing_container_is_never_updated():
    result = decide(container_found=False, running_image_id=None, registry_digest=D_NEW)
    assert not result['needs_update'] and 'does not exist' in result['reason']


def test_pinned_digest():
    assert not decide(ref=f'app@{D_OLD}', registry_digest=None)['needs_update']
    assert decide(ref=f'app@{D_NEW}', registry_digest=None)['pull']
