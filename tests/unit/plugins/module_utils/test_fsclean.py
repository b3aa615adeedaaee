"""fsclean: sizes, path policy, and the descriptor-based walk on a real temporary tree."""

from __future__ import annotations

import os
import time

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.fsclean import (
    DIR_FLAGS,
    check_path_policy,
    open_parent,
    scan,
)
from ansible_collections.runbook.maintenance.plugins.module_utils.sizes import parse_size


@pytest.mark.parametrize('value, expected', [(500, 500), ('500', 500), ('10k', 10240), ('20M', 20 * 1024 ** 2),
                                             ('1.5G', int(1.5 * 1024 ** 3)), ('2 GiB', 2 * 1024 ** 3)])
def test_parse_size(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize('value', ['', 'lots', '10 parsecs', -1, True])
def test_parse_size_rejects(value):
    with pytest.raises(ValueError):
        parse_size(value)


def test_policy_refuses_root_and_system_trees_even_when_allowed(tmp_path):
    assert 'refusing to clean /' in check_path_policy('/', ['/'])[0]
    assert 'system tree /etc' in check_path_policy('/etc/ssl', ['/etc'])[0]
    assert 'inside the system tree' in check_path_policy('/lib/x', ['/lib'])[0]  # /usr/lib where usr is merged
    assert check_path_policy(str(tmp_path), [str(tmp_path.parent)])[0] is None
    # an allowed root of '/' allows nothing
    assert 'not inside allowed_roots' in check_path_policy(str(tmp_path), ['/'])[0]


def test_walk_never_enters_symlinked_directories(tmp_path):
    (tmp_path / 'tree' / 'sub').mkdir(parents=True)
    (tmp_path / 'outside').mkdir()
    (tmp_path / 'outside' / 'secret.log').write_text('x')
    (tmp_path / 'tree' / 'sub' / 'a.log').write_text('x')
    os.symlink(tmp_path / 'outside', tmp_path / 'tree' / 'escape')
    fd = os.open(tmp_path / 'tree', DIR_FLAGS)
    try:
        found = scan(fd, ['*'], [], 0, 0, True, 0, time.time() + 10, set(), 'delete')
    finally:
        os.close(fd)
    assert [c.relpath for c in found.candidates] == ['sub/a.log']
    assert found.skipped['symlink'] == 1


def test_a_directory_swapped_for_a_symlink_after_planning_is_not_followed(tmp_path):
    tree = tmp_path / 'tree'
    (tree / 'sub').mkdir(parents=True)
    (tree / 'sub' / 'a.log').write_text('x')
    (tmp_path / 'outside').mkdir()
    (tmp_path / 'outside' / 'a.log').write_text('precious')
    fd = os.open(tree, DIR_FLAGS)
    try:
        planned = scan(fd, ['*'], [], 0, 0, True, 0, time.time() + 10, set(), 'delete').candidates
        os.rename(tree / 'sub', tmp_path / 'moved')   # the race: sub becomes a symlink to outside
        os.symlink(tmp_path / 'outside', tree / 'sub')
        with pytest.raises(OSError):
            open_parent(fd, planned[0].relpath)
    finally:
        os.close(fd)
    assert (tmp_path / 'outside' / 'a.log').read_text() == 'precious'
