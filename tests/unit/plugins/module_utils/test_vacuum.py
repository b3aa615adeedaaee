"""Planning logic of pg_vacuum: selection, reasons, ordering, names."""

from __future__ import annotations

import pytest

from ansible_collections.runbook.maintenance.plugins.module_utils.vacuum import (
    TableStats,
    Thresholds,
    build_plan,
    estimate_index_bloat,
    estimate_table_bloat,
    matches_any,
    parse_table_name,
    select,
)


def stats(name='t', schema='public', **kw):
    base = dict(live_tuples=10_000, dead_tuples=0, mod_since_analyze=0, analyzed=True,
                table_bytes=8192 * 100, index_bytes=8192 * 20, pages=100, row_width=50)
    base.update(kw)
    return TableStats(schema=schema, name=name, **base)


class TestSelect:
    def test_dead_tuples_above_both_thresholds_is_chosen_with_a_reason(self):
        chosen, reason, benefit = select(stats(dead_tuples=5000), 'vacuum', Thresholds())
        assert chosen
        assert '5000 dead tuples' in reason and '33%' in reason
        assert benefit == 5000

    def test_many_dead_tuples_but_low_ratio_is_left_alone(self):
        chosen, reason = select(stats(live_tuples=10_000_000, dead_tuples=5000), 'vacuum', Thresholds())[:2]
        assert not chosen
        assert reason.startswith('below threshold')

    def test_high_ratio_but_few_dead_tuples_is_left_alone(self):
        chosen = select(stats(live_tuples=10, dead_tuples=500), 'vacuum', Thresholds())[:2][0]
        assert not chosen

    def test_thresholds_are_inclusive(self):
        limits = Thresholds(min_dead_tuples=1000, min_dead_ratio=0.5)
        assert select(stats(live_tuples=1000, dead_tuples=1000), 'vacuum', limits)[0]
        assert not select(stats(live_tuples=1001, dead_tuples=1000), 'vacuum', limits)[0]

    def test_analyze_uses_modifications_and_never_analyzed(self):
        assert select(stats(mod_since_analyze=2000), 'analyze', Thresholds())[0]
        assert not select(stats(mod_since_analyze=10), 'analyze', Thresholds())[0]
        chosen, reason = select(stats(analyzed=False), 'analyze', Thresholds())[:2]
        assert chosen and reason == 'never analyzed'
        assert not select(stats(analyzed=False, live_tuples=0), 'analyze', Thresholds())[0]

    def test_vacuum_analyze_takes_either_reason(self):
        assert select(stats(dead_tuples=5000), 'vacuum_analyze', Thresholds())[0]
        chosen, reason = select(stats(mod_since_analyze=5000), 'vacuum_analyze', Thresholds())[:2]
        assert chosen and 'modified since last analyze' in reason
        assert not select(stats(), 'vacuum_analyze', Thresholds())[0]

    def test_freeze_uses_xid_age(self):
        assert select(stats(xid_age=150_000_000), 'vacuum_freeze', Thresholds())[0]
        assert not select(stats(xid_age=1000), 'vacuum_freeze', Thresholds())[0]

    def test_force_takes_every_table_and_says_so(self):
        chosen, reason = select(stats(), 'vacuum', Thresholds(force=True))[:2]
        assert chosen and reason.startswith('force:')

    def test_max_table_bytes_wins_even_over_force(self):
        chosen, reason = select(stats(dead_tuples=9000), 'vacuum', Thresholds(max_table_bytes=1000, force=True))[:2]
        assert not chosen and 'too large for the window' in reason

    def test_vacuum_full_needs_bloat_ratio_and_bytes(self):
        bloated = stats(live_tuples=1000, table_bytes=8192 * 10_000, pages=10_000, row_width=50)
        limits = Thresholds(min_bloat_ratio=0.3, min_bloat_bytes=1024 * 1024)
        assert select(bloated, 'vacuum_full', limits)[0]
        tight = stats(live_tuples=100 * 105, table_bytes=8192 * 100, pages=100, row_width=50)
        assert not select(tight, 'vacuum_full', limits)[0]


class TestBloat:
    def test_packed_table_has_no_bloat(self):
        # 8168 usable bytes / (50 + 28) per row = 104 rows a page.
        bloat, ratio = estimate_table_bloat(stats(live_tuples=104 * 100, table_bytes=8192 * 100, pages=100))
        assert bloat == 0 and ratio == 0.0

    def test_half_empty_table_is_half_bloat(self):
        bloat, ratio = estimate_table_bloat(stats(live_tuples=104 * 50, table_bytes=8192 * 100, pages=100))
        assert bloat == 8192 * 50
        assert ratio == pytest.approx(0.5)

    def test_fillfactor_is_respected(self):
        bloat = estimate_table_bloat(stats(live_tuples=52 * 100, table_bytes=8192 * 100, pages=100, fillfactor=50))[0]
        assert bloat == 0

    def test_without_statistics_the_dead_ratio_stands_in(self):
        bloat, ratio = estimate_table_bloat(stats(row_width=0, live_tuples=750, dead_tuples=250))
        assert ratio == pytest.approx(0.25)
        assert bloat == int(8192 * 100 * 0.25)

    def test_empty_table(self):
        assert estimate_table_bloat(stats(table_bytes=0)) == (0, 0.0)


class TestIndexBloat:
    def test_index_larger_than_expected_is_bloat(self):
        bloat, ratio = estimate_index_bloat(stats(index_bytes=1000 * 8192, index_expected_bytes=250 * 8192))
        assert bloat == 750 * 8192
        assert ratio == pytest.approx(0.75)

    def test_index_smaller_than_expected_is_not_negative(self):
        assert estimate_index_bloat(stats(index_bytes=100, index_expected_bytes=500)) == (0, 0.0)

    def test_without_statistics_the_dead_ratio_stands_in(self):
        bloat, ratio = estimate_index_bloat(stats(index_bytes=1000, index_expected_bytes=0, live_tuples=50,
                                                  dead_tuples=50))
        assert (bloat, ratio) == (500, 0.5)

    def test_reindex_is_chosen_on_index_bloat_not_heap_bloat(self):
        limits = Thresholds(min_bloat_ratio=0.3, min_bloat_bytes=1)
        fat_index = stats(index_bytes=100 * 8192, index_expected_bytes=10 * 8192)
        chosen, reason = select(fat_index, 'reindex', limits)[:2]
        assert chosen and 'estimated index bloat' in reason
        slim_index = stats(index_bytes=10 * 8192, index_expected_bytes=10 * 8192, live_tuples=10,
                           table_bytes=8192 * 1000, pages=1000)
        assert select(slim_index, 'vacuum_full', limits)[0]
        assert not select(slim_index, 'reindex', limits)[0]


class TestNames:
    @pytest.mark.parametrize('text, expected', [
        ('orders', ('public', 'orders')),
        ('sales.orders', ('sales', 'orders')),
        ('"my.schema"."odd.name"', ('my.schema', 'odd.name')),
        ('"Audit Log"', ('public', 'Audit Log')),
        ('s."a""b"', ('s', 'a"b')),
        ('  sales.orders ', ('sales', 'orders')),
    ])
    def test_parse(self, text, expected):
        assert parse_table_name(text) == expected

    @pytest.mark.parametrize('text', ['', 'a.b.c', '.x', 'x.', '"open'])
    def test_parse_rejects(self, text):
        with pytest.raises(ValueError, match='not a table name'):
            parse_table_name(text)

    def test_globs_match_qualified_and_bare_names(self):
        t = stats(name='events_2024', schema='archive')
        assert matches_any(t, ['archive.*'])
        assert matches_any(t, ['events_*'])
        assert not matches_any(t, ['public.*', 'orders'])


class TestPlan:
    def test_order_is_by_benefit_then_name(self):
        rows = [stats('a', dead_tuples=2000), stats('b', dead_tuples=9000), stats('c', dead_tuples=2000),
                stats('clean')]
        plan, left, missing = build_plan(rows, 'vacuum', Thresholds())
        assert [item.stats.name for item in plan] == ['b', 'a', 'c']
        assert [row['name'] for row in left] == ['clean']
        assert missing == []

    def test_explicit_tables_schemas_and_exclude(self):
        rows = [stats('a', dead_tuples=5000), stats('b', 's2', dead_tuples=5000), stats('c', dead_tuples=5000)]
        planned = build_plan(rows, 'vacuum', Thresholds(), tables=[('public', 'a'), ('public', 'zz')])
        plan, missing = planned[0], planned[2]
        assert [i.stats.name for i in plan] == ['a'] and missing == ['public.zz']
        plan = build_plan(rows, 'vacuum', Thresholds(), schemas=['s2'])[0]
        assert [i.stats.name for i in plan] == ['b']
        plan, left = build_plan(rows, 'vacuum', Thresholds(), exclude=['c'])[:2]
        assert [i.stats.name for i in plan] == ['a', 'b']
        assert {'schema': 'public', 'name': 'c', 'reason': 'excluded'} in left


def test_weekly_picks_one_operation_per_table_freeze_first():
    rows = [stats('old', xid_age=150_000_000, dead_tuples=5000), stats('dirty', dead_tuples=5000),
            stats('stale', mod_since_analyze=5000), stats('clean')]
    plan, left, _missing = build_plan(rows, 'weekly', Thresholds())
    assert [(i.stats.name, i.operation) for i in plan] == [
        ('old', 'vacuum_freeze'), ('dirty', 'vacuum_analyze'), ('stale', 'analyze')]
    assert [row['name'] for row in left] == ['clean']
    forced = build_plan(rows, 'weekly', Thresholds(force=True))[0]
    assert {i.stats.name: i.operation for i in forced}['clean'] == 'vacuum_analyze'


class TestPassesAgreesWithSelect:
    """passes() is the fast path of select(): the same verdict, without building the reason."""

    def test_random_cases(self):
        import random
        from ansible_collections.runbook.maintenance.plugins.module_utils.vacuum import OPERATIONS, passes
        rng = random.Random(20261127)
        for _case in range(20_000):
            table = stats(live_tuples=rng.choice([0, 10, 1000, 50_000]), dead_tuples=rng.choice([0, 999, 1000, 40_000]),
                          mod_since_analyze=rng.choice([0, 999, 1000, 10**6]), analyzed=rng.random() < 0.8,
                          xid_age=rng.choice([0, 10**8 - 1, 10**8, 2 * 10**8]), pages=rng.choice([0, 10, 5000]),
                          table_bytes=rng.choice([0, 8192 * 10, 8192 * 5000]), index_bytes=rng.choice([0, 8192 * 300]),
                          index_expected_bytes=rng.choice([0, 8192 * 10]), row_width=rng.choice([0, 40, 400]))
            limits = Thresholds(max_table_bytes=rng.choice([None, 8192 * 100]), force=rng.random() < 0.1,
                                min_bloat_bytes=rng.choice([0, 1 << 20]))
            operation = rng.choice([op for op in OPERATIONS if op != 'weekly'])
            assert passes(table, operation, limits) == select(table, operation, limits)[0], (table, operation, limits)
