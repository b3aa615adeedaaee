#!/usr/bin/env bash
# Runs the checks of `make test`, each stage timed: deps, sanity, units, integration, lint, molecule.
# Usage: run-all.sh [stage ...]   (default: all stages). Called by the Makefile with the venv on PATH.
# shellcheck disable=SC2317  # stage_* functions are called indirectly
set -uo pipefail
export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PY_COLORS=0
# Tests that need a tool make test installs (pg_repack, promtool) fail rather than skip without it.
export RUNBOOK_MAKE_TEST=1
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO" || exit 1
STAGES=("$@")
[ ${#STAGES[@]} -gt 0 ] || STAGES=(deps sanity units integration lint molecule)
PY=$REPO/.venv/bin/python
# shellcheck source=tests/scripts/lib.sh
. "$REPO/tests/scripts/lib.sh"
declare -a SUMMARY=()
BEGIN=$(date +%s)
cpu_busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }  # user nice system irq softirq steal
BUSY0=$(cpu_busy_ticks)
FAILED=0

stage_deps() {
  INSTALL=1 scripts/pg-bindir.sh >/dev/null || return 1
  tests/scripts/docker-engine.sh || return 1
  tests/scripts/tools.sh || return 1  # promtool, Java 17 (ansible-rulebook)
  tests/scripts/build-image.sh || return 1
  tests/scripts/build-db-image.sh || return 1
}

stage_sanity() {
  sanity_copy || return 1
  for f in tests/sanity/ignore-*.txt; do
    [ -s "$f" ] && { echo "sanity ignore file $f must stay empty"; return 1; }
  done
  (cd "$SANITY_ROOT" && ansible-test sanity --python 3.13 --color no)
}

stage_units() {
  "$PY" -m pytest -q -p no:cacheprovider tests/unit
}

stage_integration() {
  INSTALL=1 scripts/pg-bindir.sh >/dev/null || return 1
  tests/scripts/tools.sh || return 1  # promtool, Java 17 (ansible-rulebook)
  # Two workers (pytest-xdist): each starts its own PostgreSQL and S3 server on free ports.
  "$PY" -m pytest -q -p no:cacheprovider -n "${INTEGRATION_WORKERS:-2}" --durations=15 tests/integration
}

stage_lint() {
  ansible-lint --profile production --nocolor
}

# Longest first, so that the two lanes finish close together (times of a quiet 2-core run);
# scenarios not listed here run after these, in name order.
MOLECULE_LONGEST_FIRST=(default monthly image_updates pgbackrest failover complete_recovery dr service_failure backup schedule disk_emergency)

stage_molecule() {
  rm -rf "$REPO/.build/molecule-logs"  # no result of an earlier run is reported as this one's
  tests/scripts/docker-engine.sh >/dev/null && tests/scripts/build-image.sh >/dev/null \
    && tests/scripts/build-db-image.sh >/dev/null || return 1
  # Scenarios run in two lanes at once (each has its own containers and ephemeral directory):
  # most of their time is spent waiting on docker exec, not on the CPU. A lane takes the next
  # scenario from a shared queue when it is free.
  local logs=$REPO/.build/molecule-logs lanes=${MOLECULE_LANES:-2} scenario status=0
  rm -rf "$logs" && mkdir -p "$logs"
  local -a found=() scenarios=()
  for f in extensions/molecule/*/molecule.yml; do found+=("$(basename "$(dirname "$f")")"); done
  for sc in "${MOLECULE_LONGEST_FIRST[@]}"; do [[ " ${found[*]} " == *" $sc "* ]] && scenarios+=("$sc"); done
  for sc in "${found[@]}"; do [[ " ${scenarios[*]} " == *" $sc "* ]] || scenarios+=("$sc"); done
  # shellcheck disable=SC2016  # $1 and $LOGS are expanded by the inner bash
  printf '%s\n' "${scenarios[@]}" | LOGS=$logs xargs -P "$lanes" -I{} bash -c '
    start=$(date +%s)
    # Each line of the log starts with the seconds since the scenario started (where time goes).
    if molecule test -s "$1" 2>&1 | while IFS= read -r line; do printf "%5d %s\n" $(( EPOCHSECONDS - start )) "$line"; done >"$LOGS/$1.log" \
      && [ "${PIPESTATUS[0]}" -eq 0 ]; then result=ok; else result=FAILED; fi
    # The controller side CPU seconds of the scenario (molecule, ansible and docker CLI; not the containers).
    times >"$LOGS/$1.times"  # not in $(...): a subshell would report its own children, none
    cpu=$(tail -n 1 "$LOGS/$1.times" | awk '"'"'{ for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } printf "%.0f", s }'"'"')
    echo "$result $(( $(date +%s) - start )) $cpu" >"$LOGS/$1.result"' _ {}
  for scenario in "${scenarios[@]}"; do
    read -r result secs cpu <"$logs/$scenario.result" || { result=FAILED; secs='?'; cpu='?'; }
    printf 'molecule %-16s %-7s %4ss  controller CPU %4ss  (log: .build/molecule-logs/%s.log)\n' "$scenario" "$result" "$secs" "${cpu:-?}" "$scenario"
    if [ "$result" != ok ]; then
      status=1
      echo "---- last 80 lines of $scenario ----"; tail -n 80 "$logs/$scenario.log"
    fi
  done
  return "$status"
}

stage_counts() {  # stage_counts NAME: what the stage ran, read from its output
  local out=$LOGDIR/$1.out
  case $1 in
    units|integration) grep -E '[0-9]+ (passed|failed)' "$out" | tail -n 1 | sed -E 's/^=+ | =+$//g' ;;
    sanity) echo "$(grep -c '^Running sanity test ' "$out") sanity tests" ;;
    lint) grep -E '^(Passed|Failed):' "$out" | tail -n 1 ;;
    molecule) echo "$(grep -c '^molecule .* ok ' "$out") of $(grep -c '^molecule ' "$out") scenarios passed" ;;
  esac
}

run_stage() {  # run_stage NAME: one stage, timed; its summary line goes to $LOGDIR/NAME.summary
  local stage=$1 start result secs
  echo "==================== $stage ===================="
  start=$(date +%s)
  if "stage_$stage" 2>&1 | tee "$LOGDIR/$stage.out"; then result=ok; else result=FAILED; fi
  secs=$(( $(date +%s) - start ))
  printf '%-12s %-7s %5ss  %s\n' "$stage" "$result" "$secs" "$(stage_counts "$stage")" >"$LOGDIR/$stage.summary"
  echo "---- $stage: $result in ${secs}s"
  [ "$result" = ok ]
}

# units, sanity and lint need neither the Docker engine nor PostgreSQL: in a full run they go
# beside deps (mostly downloads, unpacking and waiting for the engine: the CPUs are idle) and then
# beside molecule (which often waits on containers), one after the other; integration follows them
# once deps is done (it needs PostgreSQL, promtool, Java and the image). Their output is printed
# when the foreground stages end (RUNBOOK_SERIAL_STAGES=1 runs everything in turn).
LOGDIR=$REPO/.build/stages
rm -rf "$LOGDIR" && mkdir -p "$LOGDIR"
declare -a BESIDE=()
if [ -z "${RUNBOOK_SERIAL_STAGES:-}" ] && [[ " ${STAGES[*]} " == *" molecule "* ]]; then
  for stage in units sanity lint integration; do [[ " ${STAGES[*]} " == *" $stage "* ]] && BESIDE+=("$stage"); done
fi
beside=
if [ ${#BESIDE[@]} -gt 0 ]; then
  echo "==================== ${BESIDE[*]} (beside deps and molecule; output follows them) ===================="
  ( for b in "${BESIDE[@]}"; do
      if [ "$b" = integration ] && [[ " ${STAGES[*]} " == *" deps "* ]]; then
        # Bounded by the foreground: deps always leaves its summary, even when it fails.
        while [ ! -e "$LOGDIR/deps.summary" ] && kill -0 "$$" 2>/dev/null; do sleep 1; done
      fi
      run_stage "$b" || true
    done ) >"$LOGDIR/beside.log" 2>&1 &
  beside=$!
fi
for stage in "${STAGES[@]}"; do
  [[ " ${BESIDE[*]} " == *" $stage "* ]] && continue
  run_stage "$stage" || FAILED=1
done
if [ -n "$beside" ]; then
  wait "$beside"
  cat "$LOGDIR/beside.log"
fi
for stage in "${STAGES[@]}"; do
  if [ -r "$LOGDIR/$stage.summary" ]; then
    SUMMARY+=("$(cat "$LOGDIR/$stage.summary")")
    grep -q ' ok ' "$LOGDIR/$stage.summary" || FAILED=1
  else
    SUMMARY+=("$(printf '%-12s %-7s %5ss' "$stage" FAILED '?')"); FAILED=1
  fi
done
echo "==================== summary ===================="
printf '%s\n' "${SUMMARY[@]}"
printf '%-12s %-7s %5ss  %s\n' total "$( [ "$FAILED" = 0 ] && echo ok || echo FAILED )" "$(( $(date +%s) - BEGIN ))" \
  "wall time of make test after the venv (the stages beside deps and molecule overlap them)"
echo "CPU busy: $(( ($(cpu_busy_ticks) - BUSY0) / $(getconf CLK_TCK) )) s of $(( ($(date +%s) - BEGIN) * $(nproc) )) s ($(nproc) cores; the whole machine, other work included)"
# What failed, once more at the very end (a CI page often shows only the tail of the output).
if [ "$FAILED" != 0 ]; then
  echo "==================== what failed ===================="
  for stage in "${STAGES[@]}"; do
    grep -q ' ok ' "$LOGDIR/$stage.summary" 2>/dev/null && continue
    echo "---- $stage"
    case $stage in
      molecule)
        for r in "$REPO"/.build/molecule-logs/*.result; do
          [ -e "$r" ] || continue
          read -r result _ <"$r"
          [ "$result" = ok ] && continue
          sc=$(basename "$r" .result)
          echo "-- scenario $sc: the lines that say why (log: .build/molecule-logs/$sc.log)"
          grep -E 'fatal:|FAILED!|failed=[1-9]|AssertionError|^ *[0-9]+ E  |ERROR|Error:' "$REPO/.build/molecule-logs/$sc.log" | tail -n 25 | cut -c1-400
        done ;;
      units|integration) grep -E '^(FAILED|ERROR) ' "$LOGDIR/$stage.out" 2>/dev/null | tail -n 25 | cut -c1-400 ;;
      *) grep -E 'ERROR|FAILED|[Ee]rror:' "$LOGDIR/$stage.out" 2>/dev/null | tail -n 25 | cut -c1-400 ;;
    esac
  done
fi
exit $FAILED
