#!/usr/bin/env bash
# Print the path of a Python >= 3.12 with a working venv module (ansible-core 2.21 needs 3.12+
# on the controller). Honours $PYTHON. Exits 1 with a clear message when there is none.
set -u
ok() {  # ok PATH -> true when PATH is Python >= 3.12 and can create venvs
  "$1" -c 'import sys, venv, ensurepip; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1
}
candidates=()
[ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
for v in 3.13 3.12 3.14; do
  command -v "python$v" >/dev/null 2>&1 && candidates+=("$(command -v "python$v")")
done
for root in "${PYENV_ROOT:-$HOME/.pyenv}" /root/.pyenv /opt/pyenv; do
  mapfile -t found < <(printf '%s\n' "$root"/versions/3.1[2-9]*/bin/python3 | sort -rV)
  for p in "${found[@]}"; do [ -x "$p" ] && candidates+=("$p"); done
done
for p in /usr/local/bin/python3 /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
  [ -n "$p" ] && candidates+=("$p")
done
for p in "${candidates[@]}"; do
  if [ -x "$p" ] && ok "$p"; then echo "$p"; exit 0; fi
done
if [ -n "${PYTHON:-}" ]; then
  echo "PYTHON=$PYTHON is not a Python >= 3.12 with venv and ensurepip." >&2
fi
cat >&2 <<'MSG'
No suitable Python found: ansible-core 2.21 (the pinned Ansible) needs Python 3.12 or newer on
the controller, with the venv module. Install one (e.g. `apt-get install python3.12-venv`,
`brew install python@3.13`, `pyenv install 3.13`) or point to it: make PYTHON=/path/to/python3.13 ...
MSG
exit 1
