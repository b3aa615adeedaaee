# Shared by run-all.sh (make test) and check.sh (make check); sourced, with REPO and PY set.
# shellcheck shell=bash
SANITY_ROOT=$REPO/.build/sanity/ansible_collections/runbook/maintenance

sync_copy() {  # ansible-test refuses a symlinked collection path: give it a real copy
  rm -rf "$SANITY_ROOT" && mkdir -p "$SANITY_ROOT"
  tar -C "$REPO" -cf - --exclude=./.git --exclude=./.venv --exclude=./.build --exclude=./.sandbox \
      --exclude=./tests/output --exclude=./.ansible --exclude=./.cache --exclude=./.pytest_cache \
      --exclude='__pycache__' --exclude='*.pyc' . | tar -C "$SANITY_ROOT" -xf - || return 1
  # Its own git index, so ansible-test lists exactly these files (the checkout ignores .build).
  (cd "$SANITY_ROOT" && git init -q && git add -A) || return 1
}

pip_bootstrap_standin() {  # ansible-test fetches get-pip.py from the network: hand it a local stand-in
  local version
  version=$("$PY" - <<'PY'
import re, ansible_test, pathlib
text = (pathlib.Path(ansible_test.__file__).parent / '_internal' / 'python_requirements.py').read_text()
print(re.search(r"pip='([0-9.]+)'", text).group(1))
PY
)
  mkdir -p ~/.ansible/test/cache
  cp tests/scripts/get_pip_standin.py ~/.ansible/test/cache/get_pip_"${version//./_}".py
}

sanity_copy() { pip_bootstrap_standin && sync_copy; }
