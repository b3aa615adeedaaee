# Test runs only (tests/integration/conftest.py puts this directory on PYTHONPATH): see runbook_pyc_cache.py.
import runbook_pyc_cache  # noqa: F401  pylint: disable=unused-import
