#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info` (needed by molecule).
#
#   tests/scripts/docker-engine.sh
#
# Idempotent: does nothing when an engine already answers.
# Otherwise (as root):
#   * installs Debian's engine (docker.io, 20.10) if dockerd is missing, and
#     docker-registry + busybox-static (the image_updates scenario) if missing,
#     running `apt-get update` only when the package lists do not know it
#     (or when the install fails on stale lists);
#   * starts dockerd in the background with nohup (PID 1 is not systemd here),
#     logging to $REPO/.build/dockerd.log, pid in $REPO/.build/dockerd.pid;
#   * waits up to $DOCKERD_WAIT_SECS (default 30) seconds for `docker info`.
#
# dockerd is started with `--iptables=false --bridge=none` unless
# RUNBOOK_DOCKERD_OPTS says otherwise: no docker0 bridge and no private-range
# (172.17.x) addresses exist, so containers must run with network_mode none
# (which the tests require anyway) and are reached through `docker exec`.
#
# It never stops or kills a process it did not start in this very run.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
BUILD_DIR="$REPO/.build"
LOG="$BUILD_DIR/dockerd.log"
PIDFILE="$BUILD_DIR/dockerd.pid"
WAIT_SECS="${DOCKERD_WAIT_SECS:-30}"
DOCKERD_OPTS="${RUNBOOK_DOCKERD_OPTS:---iptables=false --bridge=none}"

log() { printf '[docker-engine] %s\n' "$*" >&2; }
die() { printf '[docker-engine] ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

find_dockerd() {
    command -v dockerd 2>/dev/null && return 0
    local p
    for p in /usr/sbin/dockerd /usr/bin/dockerd /usr/local/bin/dockerd; do
        [ -x "$p" ] && { echo "$p"; return 0; }
    done
    return 1
}

engine_answers() {
    command -v docker >/dev/null 2>&1 || return 1
    timeout 20 docker info >/dev/null 2>&1
}

# True when PID is alive and is a dockerd process.
is_dockerd_pid() {
    local pid="$1"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ -r "/proc/$pid/comm" ] || return 1
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]
}

show_log_tail() {
    if [ -s "$LOG" ]; then
        log "last 40 lines of $LOG:"
        tail -n 40 "$LOG" | sed 's/^/    /' >&2
    fi
}

# Wait until `docker info` answers; return 1 on timeout or if PID (when given) dies.
wait_for_engine() {
    local pid="${1:-}" deadline=$((SECONDS + WAIT_SECS))
    while [ "$SECONDS" -lt "$deadline" ]; do
        engine_answers && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            log "dockerd (pid $pid) exited before answering"
            return 1
        fi
        sleep 0.5
    done
    engine_answers
}

report_ok() {
    local version
    version=$(timeout 20 docker info --format '{{.ServerVersion}} (storage {{.Driver}}, cgroup v{{.CgroupVersion}})' 2>/dev/null || echo '?')
    log "Docker engine answers: server $version"
}

POLICY_RC=/usr/sbin/policy-rc.d
CREATED_POLICY=
remove_policy() {
    if [ -n "$CREATED_POLICY" ]; then
        rm -f "$POLICY_RC"
        CREATED_POLICY=
    fi
}

# apt_install WHAT PACKAGE...: install Debian packages whose init scripts must not start anything.
apt_install() {
    local what=$1; shift
    is_root || die "$what is not installed and this is not root.
    Install it as root, e.g.:  sudo $0
    (or: sudo apt-get install -y --no-install-recommends $*)"
    command -v apt-get >/dev/null 2>&1 || die "$what is not installed and apt-get is not available: install $* by hand."

    local start=$SECONDS candidate
    candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        log "package lists do not know $1: running apt-get update"
        apt-get update -qq
    fi

    # docker.io's postinst would start the engine through its init script
    # (default options, docker0 bridge on 172.17.0.0/16), docker-registry's a
    # registry on every interface. Forbid that for the time of the install with a
    # temporary policy-rc.d; we start what we need ourselves, on loopback.
    if [ ! -e "$POLICY_RC" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
        chmod 0755 "$POLICY_RC"
        CREATED_POLICY=1
        trap remove_policy EXIT
    fi

    local pkgs=("$@") rc=0 ilog="$BUILD_DIR/apt-install-$1.log"
    mkdir -p "$BUILD_DIR"
    log "installing ${pkgs[*]} ($what); apt output: $ilog"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >"$ilog" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        tail -n 5 "$ilog" | sed 's/^/    /' >&2
        log "install failed (rc $rc), package lists may be stale: apt-get update and retry"
        rc=0
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${pkgs[@]}" >>"$ilog" 2>&1 || rc=$?
    fi
    [ "$rc" -eq 0 ] || tail -n 20 "$ilog" | sed 's/^/    /' >&2
    remove_policy
    [ "$rc" -eq 0 ] || die "apt-get install ${pkgs[*]} failed (rc $rc)"
    log "${pkgs[*]} installed in $((SECONDS - start)) s"
}

main() {
    local t0=$SECONDS

    # The image_updates scenario: a registry (CNCF distribution) it runs on 127.0.0.1, and a static
    # busybox for its two-megabyte test images.
    if ! command -v docker-registry >/dev/null 2>&1 || [ ! -x /bin/busybox ]; then
        apt_install "the test registry and busybox" docker-registry busybox-static
    fi

    if engine_answers; then
        report_ok
        return 0
    fi

    local dockerd
    if ! dockerd=$(find_dockerd) || ! command -v docker >/dev/null 2>&1; then
        apt_install "Docker's engine (pulls containerd, runc, iptables, tini)" docker.io
        dockerd=$(find_dockerd) || die "dockerd still not found after installing docker.io"
        command -v docker >/dev/null 2>&1 || die "docker client still not found after installing docker.io"
    fi
    # An engine may have come up meanwhile (e.g. an init script on another machine).
    if engine_answers; then
        report_ok
        return 0
    fi

    if ! is_root; then
        local sock=/var/run/docker.sock
        case "${DOCKER_HOST:-}" in unix://*) sock=${DOCKER_HOST#unix://} ;; esac
        if [ -S "$sock" ] && [ ! -w "$sock" ]; then
            die "a Docker engine seems to run ($sock exists) but user $(id -un) may not use it.
    Run the tests as root, or add the user to the 'docker' group (sudo usermod -aG docker $(id -un); then log in again)."
        fi
        die "no Docker engine answers and this is not root, so it cannot be started here.
    Start it as root:  sudo $0
    (it runs: nohup $dockerd $DOCKERD_OPTS >$LOG 2>&1 &)"
    fi

    mkdir -p "$BUILD_DIR"

    # A dockerd we started earlier (or someone else's) that is still coming up:
    # wait for it rather than start a second one.
    local pid=""
    if [ -r "$PIDFILE" ] && is_dockerd_pid "$(cat "$PIDFILE")"; then
        pid=$(cat "$PIDFILE")
        log "dockerd started earlier by this script is running (pid $pid) but not answering yet: waiting up to ${WAIT_SECS} s"
        wait_for_engine "$pid" && { report_ok; return 0; }
        show_log_tail
        die "dockerd (pid $pid, started earlier by this script) does not answer. It was left running; see $LOG"
    fi
    local other
    other=$(pgrep -x dockerd 2>/dev/null | head -n 1 || true)
    if [ -n "$other" ]; then
        log "a dockerd not started by this script is running (pid $other) but not answering yet: waiting up to ${WAIT_SECS} s"
        wait_for_engine "$other" && { report_ok; return 0; }
        die "dockerd pid $other (not started by this script, left alone) does not answer 'docker info'.
    Check it (its log, its socket; DOCKER_HOST=${DOCKER_HOST:-unset}) or stop it yourself, then run $0 again."
    fi

    log "no engine answers: starting $dockerd $DOCKERD_OPTS (log: $LOG)"
    printf '\n===== %s: %s %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$dockerd" "$DOCKERD_OPTS" >>"$LOG"
    # setsid: own session, so the caller's process group/terminal going away
    # does not take the daemon with it. Word splitting of DOCKERD_OPTS is intended.
    # shellcheck disable=SC2086
    setsid nohup "$dockerd" $DOCKERD_OPTS </dev/null >>"$LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$PIDFILE"

    if wait_for_engine "$pid"; then
        log "dockerd started (pid $pid) in $((SECONDS - t0)) s"
        report_ok
        return 0
    fi

    show_log_tail
    if kill -0 "$pid" 2>/dev/null; then
        # Ours, started in this run, alive but useless: stop it so the next run starts clean.
        log "stopping the dockerd this run started (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    die "the Docker engine did not answer within ${WAIT_SECS} s (full log: $LOG).
    Options can be changed with RUNBOOK_DOCKERD_OPTS (now: '$DOCKERD_OPTS')."
}

main "$@"
