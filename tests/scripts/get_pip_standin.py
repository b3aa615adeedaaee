"""Stand-in for ansible-test's pip bootstrap script (get-pip.py), whose download host is not
reachable here: installs the pip wheel bundled with Python, then the requested packages.

tests/scripts/run-all.sh copies it to ~/.ansible/test/cache/get_pip_<version>.py.
"""

import ensurepip
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
args = [arg for arg in sys.argv[1:] if arg not in ('--no-setuptools', '--no-wheel')]
packages = [arg for arg in args if not arg.startswith('-')]
if packages:
    sys.exit(subprocess.call([sys.executable, '-m', 'pip', 'install', '--disable-pip-version-check'] + args))
