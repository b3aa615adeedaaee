"""Pure logic of plugins/module_utils/diskspace.py: growth since the previous report, days until full."""

from __future__ import annotations

import os

from ansible_collections.runbook.maintenance.plugins.module_utils import diskspace


def test_growth_and_days_until_full():
    g = diskspace.growth({'at': 1000.0, 'used': 10_000}, 12_000, 1000.0 + 86400)
    assert g == {'previous_at': 1000.0, 'interval_s': 86400.0, 'growth_bytes': 2000, 'growth_bytes_per_day': 2000.0}
    assert diskspace.days_until_full(5000, g['growth_bytes_per_day']) == 2.5
    half_day = diskspace.growth({'at': 0, 'used': 0}, 1000, 43200)
    assert half_day['growth_bytes_per_day'] == 2000.0


def test_no_growth_no_forecast():
    assert diskspace.days_until_full(5000, 0) is None
    assert diskspace.days_until_full(5000, -10.0) is None  # space was freed
    assert diskspace.days_until_full(5000, None) is None
    assert diskspace.days_until_full(-5, 100.0) == 0.0


def test_unusable_previous_records():
    for previous in (None, {}, {'at': 'x', 'used': 1}, {'at': 10, 'used': None}, {'at': True, 'used': 1},
                     {'at': 2000, 'used': 1}, {'at': 1000, 'used': 1}, []):
        assert diskspace.growth(previous, 5, 1000)['growth_bytes'] is None, previous


def test_free_percent_and_measure(tmp_path):
    assert diskspace.free_percent(5, 100) == 5.0
    assert diskspace.free_percent(0, 0) == 100.0
    m = diskspace.measure(str(tmp_path))
    assert m['size_total'] > 0 and 0 <= m['size_available'] <= m['size_total']
    assert diskspace.mount_point(str(tmp_path)) in ('/', ) or os.path.ismount(diskspace.mount_point(str(tmp_path)))
