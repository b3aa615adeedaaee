"""json_path: dotted paths through parsed JSON, None when absent."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.runbook.maintenance.plugins.filter.json_path import json_path

DATA = {'state': 'open', 'breaker': {'state': 'closed', 'since': None}, 'items': [{'state': 'half_open'}]}


@pytest.mark.parametrize('path, value', [('state', 'open'), ('breaker.state', 'closed'), ('items.0.state', 'half_open'),
                                         ('items.-1.state', 'half_open'), ('breaker.since', None), ('missing', None),
                                         ('state.deeper', None), ('items.5.state', None), ('items.x', None)])
def test_paths(path, value):
    assert json_path(DATA, path) == value


def test_empty_path_is_an_error():
    with pytest.raises(AnsibleFilterError, match='non-empty'):
        json_path(DATA, ' ')
