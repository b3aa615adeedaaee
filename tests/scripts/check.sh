#!/usr/bin/env bash
# The quick tier of the edit loop (`make check`, a few minutes): ansible-test sanity of the files
# changed since main (or since HEAD on main), every unit test, ansible-lint of the changed YAML.
# CHECK_ALL=1 checks every file instead (sanity and lint then take as long as in `make test`).
# `make test` remains the gate: it adds integration tests against a real PostgreSQL and molecule.
# shellcheck disable=SC2317  # the step functions are called through step()
set -uo pipefail
export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO" || exit 1
PY=$REPO/.venv/bin/python
# shellcheck source=tests/scripts/lib.sh
. "$REPO/tests/scripts/lib.sh"

changed_files() {  # changed, added or untracked files since the branch left main (existing ones only)
  local base
  base=$(git merge-base HEAD main 2>/dev/null || git rev-parse HEAD)
  [ "$base" = "$(git rev-parse HEAD)" ] && base=HEAD
  { git diff --name-only "$base"; git diff --name-only; git ls-files --others --exclude-standard; } \
    | sort -u | while read -r f; do [ -f "$f" ] && echo "$f"; done
}

mapfile -t CHANGED < <(if [ -n "${CHECK_ALL:-}" ]; then git ls-files; else changed_files; fi)
echo "make check: ${#CHANGED[@]} changed file(s)${CHECK_ALL:+ (CHECK_ALL: every file)}"
status=0
declare -a SUMMARY=()
begin=$(date +%s)

step() {  # step NAME COMMAND...: run and time one step
  local name=$1 start result; shift
  echo "==================== $name ===================="
  start=$(date +%s)
  if "$@"; then result=ok; else result=FAILED; status=1; fi
  SUMMARY+=("$(printf '%-8s %-7s %4ss' "$name" "$result" $(( $(date +%s) - start )))")
}

sanity_changed() {
  local -a targets=()
  for f in "${CHANGED[@]}"; do
    case $f in plugins/*|tests/unit/*|tests/integration/*.py|extensions/*.py|meta/*|*.sh|*.py) targets+=("$f");; esac
  done
  [ ${#targets[@]} -gt 0 ] || { echo "no file that ansible-test sanity checks has changed"; return 0; }
  sanity_copy || return 1
  if [ -n "${CHECK_ALL:-}" ]; then targets=(); fi
  (cd "$SANITY_ROOT" && ansible-test sanity --python 3.13 --color no "${targets[@]}")
}

lint_changed() {
  local -a targets=()
  for f in "${CHANGED[@]}"; do
    case $f in
      awx/awx-collection.yml) ;;  # excluded in .ansible-lint (awx.awx is not installable here); a named file bypasses that
      changelogs/*) ;;  # excluded in .ansible-lint too (antsibull-changelog's format, long lines by design)
      *.yml|*.yaml) targets+=("$f");;
    esac
  done
  [ ${#targets[@]} -gt 0 ] || { echo "no YAML file has changed"; return 0; }
  if [ -n "${CHECK_ALL:-}" ]; then targets=(); fi
  ansible-lint --profile production --nocolor "${targets[@]}"
}

step sanity sanity_changed
step units "$PY" -m pytest -q -p no:cacheprovider tests/unit
step lint lint_changed
echo "==================== make check summary ===================="
printf '%s\n' "${SUMMARY[@]}"
echo "total    $( [ $status -eq 0 ] && echo ok || echo FAILED )   $(( $(date +%s) - begin ))s   (the full gate is make test)"
exit $status
