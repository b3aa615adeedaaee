"""Makes the checkout importable as ansible_collections.runbook.maintenance for pytest."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _collections_root() -> Path:
    if REPO.parent.parent.name == 'ansible_collections':  # already inside a collections tree
        return REPO.parents[2]
    root = REPO / '.build' / 'collections'
    link = root / 'ansible_collections' / 'runbook' / 'maintenance'
    if not link.exists():
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink('../../../..', link)
    return root


COLLECTIONS = _collections_root()
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
