"""Pure logic of the rollback snapshot: names, comparison, dpkg's output, pruning."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.snapshot import (
    check_run_id, comparable, mode_text, parse_dpkg, same_state, to_prune)


@pytest.mark.parametrize('run_id', ['20261206T020000Z', '1', '2026-12-06_02.00'])
def test_good_run_ids(run_id):
    assert check_run_id(run_id) is None


@pytest.mark.parametrize('run_id', ['', 'latest', '.1', '1/2', '../x', 'T1', '1 2', '9' * 129])
def test_bad_run_ids(run_id):
    assert 'run_id must be' in check_run_id(run_id)


def test_same_state_ignores_only_the_id_and_time():
    old = {'run_id': '1', 'created_at': 'a', 'host': 'db', 'files': [{'path': '/p', 'sha256': 'x', 'mode': '0640'}],
           'missing': [], 'packages': {'dpkg': '1.0'}}
    new = dict(old, run_id='2', created_at='b')
    assert comparable(new) == comparable(old) and same_state(old, new)
    assert not same_state(old, dict(new, packages={'dpkg': '1.1'}))
    assert not same_state(old, dict(new, files=[{'path': '/p', 'sha256': 'x', 'mode': '0644'}]))
    assert not same_state(old, dict(new, missing=['/q']))
    assert not same_state(None, new) and not same_state(['not a manifest'], new)


def test_parse_dpkg_keeps_name_and_version():
    out = 'dpkg 1.21.22\npostgresql-15 15.10-0+deb12u1\n\nbroken\n'
    assert parse_dpkg(out) == {'dpkg': '1.21.22', 'postgresql-15': '15.10-0+deb12u1'}


def test_to_prune_keeps_the_newest_and_never_the_protected():
    names = ['20261201T0Z', '20261203T0Z', '20261202T0Z', 'latest', '.work-x.tmp']
    assert to_prune(names, 2, '20261203T0Z') == ['20261201T0Z']
    assert to_prune(names, 1, '20261201T0Z') == ['20261202T0Z']  # protected even when oldest
    assert to_prune(names, 5, '') == []


def test_mode_text_is_four_octal_digits():
    assert mode_text(0o100640) == '0640' and mode_text(0o104755) == '4755'
