"""restore: names, source choice, checksum, row counts, the check block, the plan (no mocks)."""

from __future__ import annotations

import datetime
import hashlib
import os

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.backup import Entry
from ansible_collections.runbook.maintenance.plugins.module_utils.restore import (
    MAX_IDENTIFIER_BYTES,
    Candidate,
    PlanInput,
    RestoreError,
    backup_age,
    build_plan,
    check_checksum,
    check_lock_timeout,
    choose_latest,
    count_check_sql,
    dump_pattern,
    expected_rows,
    is_work_database,
    list_artefacts,
    parse_tables,
    quote_ident,
    quote_literal,
    restore_names,
    rows_by_label,
    rows_mismatches,
    stamp_of,
    unusable_reason,
    work_prefix,
)

UTC = datetime.timezone.utc
GOOD = {'kind': 'database', 'database': 'shop', 'format': 'custom', 'verified': True,
        'created_at': '2026-11-29T02:00:00Z', 'sha256': '0' * 64, 'size': 1}


# ---- names -------------------------------------------------------------------------------------
def test_stamp_is_utc_and_lower_case():
    moment = datetime.datetime(2026, 11, 29, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert stamp_of(moment) == '20261129_020405'


def test_restore_names():
    assert restore_names('shop', '20261129_020405') == {'temporary': 'shop__restore_20261129_020405',
                                                        'previous': 'shop__before_20261129_020405'}


@pytest.mark.parametrize('target', ['x' * 63, 'é' * 40, 'a' * 39])
def test_long_names_are_cut_to_what_postgresql_keeps(target):
    names = restore_names(target, '20261129_020405')
    for kind, infix in (('temporary', '__restore_'), ('previous', '__before_')):
        assert len(names[kind].encode()) <= MAX_IDENTIFIER_BYTES
        assert names[kind].endswith(f'{infix}20261129_020405')
        assert target.startswith(names[kind][:-len(f'{infix}20261129_020405')])
        assert is_work_database(names[kind], target)
        names[kind].encode('utf-8').decode('utf-8')  # never cut inside a character


def test_empty_target_is_refused():
    with pytest.raises(RestoreError, match='empty'):
        restore_names('', '20261129_020405')


def test_work_databases_are_recognised_only_for_their_target():
    assert is_work_database('shop__restore_20261129_020405', 'shop')
    assert is_work_database('shop__before_20261129_020405', 'shop')
    assert not is_work_database('shop', 'shop')
    assert not is_work_database('shop__restore_latest', 'shop')
    assert not is_work_database('shopping__restore_20261129_020405', 'shop')
    assert work_prefix('shop') == 'shop__restore_'


def test_parse_tables():
    assert parse_tables(['orders', 'public.orders', '"Sales EU"."Line ""Items"""', 'a."b.c"']) == [
        ('public', 'orders'), ('Sales EU', 'Line "Items"'), ('a', 'b.c')]
    with pytest.raises(RestoreError, match='not a table name'):
        parse_tables(['a.b.c'])


def test_quoting():
    assert quote_ident('Line "Items"') == '"Line ""Items"""'
    assert quote_literal("it's") == "'it''s'"
    assert dump_pattern(('Sales EU', 'x*')) == '"Sales EU"."x*"'  # quoted: no wildcard


@pytest.mark.parametrize('value, expected', [('5s', '5000ms'), (' 500 ms', '500ms'), ('250', '250ms'),
                                             ('1min', '60000ms')])
def test_lock_timeout(value, expected):
    assert check_lock_timeout(value) == expected


@pytest.mark.parametrize('value', ['5 seconds', "5s'; DROP TABLE x; --", '-1s', '', '0', '0s', '0.1ms',
                                   'inf', 'nan', '1e400', '30d', None])
def test_bad_lock_timeout(value):
    with pytest.raises(RestoreError, match='lock_timeout'):
        check_lock_timeout(value)


# ---- the source --------------------------------------------------------------------------------
def test_unusable_reasons():
    assert unusable_reason(GOOD, None, 'shop', True) is None
    assert unusable_reason(None, 'no manifest', 'shop', True) == 'no manifest'
    assert 'never verified' in unusable_reason(dict(GOOD, verified=None), None, 'shop', True)
    assert 'failed verification' in unusable_reason(dict(GOOD, verified=False), None, 'shop', True)
    assert unusable_reason(dict(GOOD, verified=False), None, 'shop', False) is None
    assert "not 'auth'" in unusable_reason(GOOD, None, 'auth', True)
    assert 'globals backup' in unusable_reason(dict(GOOD, kind='globals'), None, 'shop', True)
    assert "'plain'" in unusable_reason(dict(GOOD, format='plain'), None, 'shop', True)


def entry(name: str, mtime: float) -> Entry:
    return Entry(name, f'/b/{name}', 10, mtime)


def test_choose_latest_passes_over_newer_unverified_ones():
    candidates = [Candidate(entry('shop-1.dump', 1), GOOD),
                  Candidate(entry('shop-3.dump', 3), dict(GOOD, verified=False)),
                  Candidate(entry('shop-2.dump', 2), None, 'manifest /b/shop-2.dump.json is not valid JSON'),
                  Candidate(entry('shop-0.dump', 0), GOOD)]
    choice = choose_latest(candidates, 'shop', True)
    assert choice.chosen.entry.name == 'shop-1.dump'
    assert [line.split(':')[0] for line in choice.skipped] == ['shop-3.dump', 'shop-2.dump']
    assert choose_latest(candidates, 'shop', False).chosen.entry.name == 'shop-3.dump'
    assert choose_latest([], 'shop', True).chosen is None


def test_list_artefacts(tmp_path):
    (tmp_path / 'shop-1.dump').write_bytes(b'x')
    (tmp_path / 'shop-1.dump.json').write_text('{}')
    (tmp_path / '.shop-2.dump.partial').write_bytes(b'x')
    (tmp_path / 'shop-3.dir').mkdir()
    (tmp_path / 'shop-3.dir' / 'toc.dat').write_bytes(b'PGDMP')
    (tmp_path / 'not-a-dump').mkdir()
    os.symlink(tmp_path / 'shop-1.dump', tmp_path / 'shop-link.dump')
    assert sorted(e.name for e in list_artefacts(str(tmp_path))) == ['shop-1.dump', 'shop-3.dir']
    assert [e.name for e in list_artefacts(str(tmp_path), '*.dir')] == ['shop-3.dir']
    with pytest.raises(RestoreError, match='does not exist'):
        list_artefacts(str(tmp_path / 'nope'))
    with pytest.raises(RestoreError, match='not a directory'):
        list_artefacts(str(tmp_path / 'shop-1.dump'))


def test_checksum(tmp_path):
    artefact = tmp_path / 'shop.dump'
    artefact.write_bytes(b'PGDMP data')
    sha = hashlib.sha256(b'PGDMP data').hexdigest()
    assert check_checksum(str(artefact), {'sha256': sha, 'size': 10}).startswith(f'sha256 {sha}')
    with pytest.raises(RestoreError, match='checksum: sha256 of .* the manifest says 0{64}'):
        check_checksum(str(artefact), {'sha256': '0' * 64, 'size': 10})
    with pytest.raises(RestoreError, match='is 10 bytes, the manifest says 11'):
        check_checksum(str(artefact), {'sha256': sha, 'size': 11})
    with pytest.raises(RestoreError, match='records no sha256'):
        check_checksum(str(artefact), {'sha256': None, 'size': 10})
    directory = tmp_path / 'shop.dir'
    directory.mkdir()
    (directory / 'toc.dat').write_bytes(b'12345')
    assert 'directory dump of 5 bytes' in check_checksum(str(directory), {'sha256': None, 'size': 5})
    with pytest.raises(RestoreError, match='holds 5 bytes, the manifest says 6'):
        check_checksum(str(directory), {'sha256': None, 'size': 6})


def test_backup_age():
    now = datetime.datetime(2026, 11, 29, 2, 15, 0, tzinfo=UTC)
    assert backup_age(GOOD, now) == ('2026-11-29T02:00:00Z', 900.0)


# ---- rows --------------------------------------------------------------------------------------
TABLES = [{'schema': 'public', 'name': 'orders', 'rows': 5}, {'schema': 'public', 'name': 'x', 'rows': None},
          {'schema': 'Sales EU', 'name': 'Line "Items"', 'rows': 2}]


def test_expected_rows():
    manifest = dict(GOOD, tables=TABLES)
    assert [t['name'] for t in expected_rows(manifest)] == ['orders', 'Line "Items"']
    assert expected_rows(manifest, [('public', 'orders')]) == [TABLES[0]]
    with pytest.raises(RestoreError, match='not in the backup .*: public.nope'):
        expected_rows(manifest, [('public', 'orders'), ('public', 'nope')])
    with pytest.raises(RestoreError, match='lists no tables'):
        expected_rows(GOOD)
    with pytest.raises(RestoreError, match='not exact'):
        expected_rows(dict(manifest, row_counts='estimate'))


def test_rows_mismatches_and_labels():
    counts = {('public', 'orders'): 4, ('public', 'x'): 9}
    assert rows_mismatches(TABLES, counts) == [
        'public.orders has 4 rows restored, the manifest says 5',
        'Sales EU.Line "Items" is missing from the restore (manifest: 2 rows)']
    assert rows_by_label(counts) == {'public.orders': 4, 'public.x': 9}


def test_count_check_sql_quotes_every_name():
    text = count_check_sql([TABLES[0], TABLES[2]])
    assert 'FROM "public"."orders";' in text and 'IF found <> 5 THEN' in text
    assert 'FROM "Sales EU"."Line ""Items""";' in text
    assert "''Sales EU.Line \"Items\"'', found;" in text  # a literal inside the quoted body
    assert text.startswith('DO ') and text.rstrip().endswith("';")
    assert '$' not in text, 'no dollar quoting: a table name could end it'


@pytest.mark.parametrize('name', ['a$runbook_restore_check$b', '$$', "it's", 'semi;colon', 'back\\slash',
                                  '$check$; DROP TABLE x; --', "x'; SELECT 1; --"])
def test_count_check_sql_body_is_one_literal_whatever_the_name(name):
    text = count_check_sql([{'schema': 'public', 'name': name, 'rows': 3}])
    # The statement is DO followed by one string literal: parse it back as PostgreSQL would.
    literal = text[len('DO '):].strip().rstrip(';').strip()
    if literal.startswith('E'):
        literal = literal[1:]
    assert literal.startswith("'") and literal.endswith("'")
    inner = literal[1:-1]
    assert "'" not in inner.replace("''", ''), 'a lone quote would end the literal early'


# ---- the plan ----------------------------------------------------------------------------------
def plan_input(**kw) -> PlanInput:
    base = dict(source='/b/shop.dump', target='shop', target_exists=True, temporary='shop__restore_1',
                previous='shop__before_1', jobs=2, tables=[], existing_tables=[], safety_dump_dir='/safety',
                keep_previous=True, verify_rows=True, rows_to_compare=3)
    base.update(kw)
    return PlanInput(**base)


def test_plan_of_a_full_restore_keeps_the_order():
    assert build_plan(plan_input()) == [
        'check the sha256 of /b/shop.dump against its manifest',
        'create database shop__restore_1 and pg_restore /b/shop.dump into it with 2 job(s)',
        'compare the row counts of 3 table(s) in shop__restore_1 with the manifest',
        'dump the current shop to /safety',
        'refuse new connections to shop and terminate its sessions',
        'rename shop to shop__before_1',
        'rename shop__restore_1 to shop',
    ]
    assert build_plan(plan_input(keep_previous=False))[-1] == 'drop shop__before_1'
    assert build_plan(plan_input(target_exists=False, safety_dump_dir=None))[-1] == \
        'rename shop__restore_1 to shop (shop does not exist)'


def test_plan_of_a_selective_restore():
    steps = build_plan(plan_input(tables=[('public', 'a'), ('public', 'b')], existing_tables=[('public', 'a')]))
    assert steps[3] == 'dump the current public.a of shop to /safety'
    assert steps[4].startswith('in one transaction in shop: replace public.a and create public.b')
    assert steps[-1] == 'drop shop__restore_1'
