# Copyright: (c) 2026, runbook.maintenance contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test runs only: a bytecode cache for the code Python imports from zip files.

Every module run of Ansible imports ansible.module_utils from the AnsiballZ zip it was sent, and
zipimport compiles that source anew on every run (it never caches bytecode): about a tenth of a
CPU-second per module run, thousands of times in `make test`. This hook keeps the compiled code
under RUNBOOK_PYC_CACHE_DIR keyed by the SHA-256 of the source, the file name inside the zip and the
interpreter's magic number (what Python's own hash-based .pyc files check), so the code that runs
is always the code that was sent. Mounted into the molecule containers by
extensions/molecule/shared/create.yml through a .pth file, and into the integration tests' runs on
localhost through sitecustomize.py on PYTHONPATH (tests/integration/conftest.py); never part of the
collection. RUNBOOK_PYC_CACHE=0 turns it off.
"""

import hashlib
import importlib.util
import marshal
import os
import zipimport

_DIR = os.environ.get('RUNBOOK_PYC_CACHE_DIR', '/var/cache/runbook-pyc')
_compile = getattr(zipimport, '_compile_source', None)
_fix_filename = getattr(__import__('_imp'), '_fix_co_filename', None)


def _cached_compile(pathname, source):
    inner = pathname.split('.zip' + os.sep, 1)[-1]
    key = hashlib.sha256(importlib.util.MAGIC_NUMBER + inner.encode() + b'\0' + source).hexdigest()
    path = os.path.join(_DIR, key)
    try:
        with open(path, 'rb') as handle:
            code = marshal.loads(handle.read())
        _fix_filename(code, pathname)  # the zip's path differs per run (tracebacks name the right file)
        return code
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = _compile(pathname, source)
    try:
        temp = f'{path}.{os.getpid()}.tmp'
        with open(temp, 'wb') as handle:
            handle.write(marshal.dumps(code))
        os.replace(temp, path)
    except OSError:
        pass
    return code


if _compile is not None and _fix_filename is not None and os.path.isdir(_DIR):
    zipimport._compile_source = _cached_compile
