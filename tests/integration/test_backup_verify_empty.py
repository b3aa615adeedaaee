"""A database without tables (e.g. `postgres`) has a verifiable backup: rows has nothing to
compare, and says so; a manifest that records no tables while the dump has some still fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import write_manifest
from test_backup_verify import ALL_CHECKS, failure_of, make_backup, scratch_databases, seed, verify


@pytest.fixture(autouse=True)
def no_scratch_database_left(pg):
    yield
    assert scratch_databases(pg) == [], 'a scratch database of the restore check was left behind'


def test_empty_database_verifies_with_rows(pg, db, run_module, tmp_path):
    dump = make_backup(pg, db, tmp_path / 'empty.dump')
    assert json.loads(Path(f'{dump}.json').read_text())['tables'] == []
    result = verify(run_module, pg, path=str(dump), checks=ALL_CHECKS)
    assert result['verified'] is True and not result.get('failed'), result
    assert result['checks']['rows'] == {'ok': True, 'detail': 'no tables in the manifest, none restored'}
    assert result['restore']['tables'] == 0


def test_manifest_without_tables_but_dump_with_tables_fails(pg, db, run_module, tmp_path):
    seed(db[1])
    dump = make_backup(pg, db, tmp_path / 'app.dump')
    data = json.loads(Path(f'{dump}.json').read_text())
    data.pop('sha256')
    data.pop('size')
    data['tables'] = []
    write_manifest(str(dump), data)
    result = verify(run_module, pg, path=str(dump), checks=['rows'])
    assert result['verified'] is False
    assert 'the manifest records no tables but the restore has 3' in failure_of(result, 'rows')
