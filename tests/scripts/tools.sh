#!/usr/bin/env bash
# Make sure the command-line tools of the alerting tests are installed:
#   * promtool (Debian's prometheus package) for `promtool check rules` / `promtool test rules`;
#   * a Java 17 runtime (openjdk-17-jre-headless) for ansible-rulebook (its rule engine, drools,
#     runs in the JVM).
#
#   tests/scripts/tools.sh          # idempotent: installs only what is missing (root, apt-get)
#
# The prometheus package's postinst would enable and start a Prometheus server (listening on every
# interface): a temporary policy-rc.d forbids starting any service during the install, and the
# unit is disabled afterwards where systemd manages services. Only promtool is used.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
BUILD_DIR="$REPO/.build"
POLICY_RC=/usr/sbin/policy-rc.d
CREATED_POLICY=

log() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

remove_policy() {
    if [ -n "$CREATED_POLICY" ]; then
        rm -f "$POLICY_RC"
        CREATED_POLICY=
    fi
}

java17_home() {  # print a Java 17 home, if any
    local d
    for d in /usr/lib/jvm/java-17-openjdk-amd64 /usr/lib/jvm/java-17-openjdk-arm64 /usr/lib/jvm/java-17-openjdk*; do
        [ -x "$d/bin/java" ] && { echo "$d"; return 0; }
    done
    return 1
}

apt_install() {  # apt_install PACKAGE...
    [ "$(id -u)" -eq 0 ] || die "$* not installed and this is not root: sudo apt-get install -y --no-install-recommends $*"
    command -v apt-get >/dev/null 2>&1 || die "$* not installed and apt-get is not available: install them by hand"
    local candidate
    candidate=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        log "package lists do not know $1: running apt-get update"
        apt-get update -qq
    fi
    if [ ! -e "$POLICY_RC" ]; then  # no service may start during the install
        printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
        chmod 0755 "$POLICY_RC"
        CREATED_POLICY=1
        trap remove_policy EXIT
    fi
    mkdir -p "$BUILD_DIR"
    local ilog="$BUILD_DIR/apt-install-$1.log" rc=0 start=$SECONDS
    log "installing $* (apt output: $ilog)"
    # Lock timeout: other installs (docker-engine.sh, pg-bindir.sh) may hold dpkg's lock a while.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" >"$ilog" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        log "install failed (rc $rc), package lists may be stale: apt-get update and retry"
        rc=0
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@" >>"$ilog" 2>&1 || rc=$?
    fi
    remove_policy
    [ "$rc" -eq 0 ] || { tail -n 20 "$ilog" | sed 's/^/    /' >&2; die "apt-get install $* failed (rc $rc)"; }
    log "$* installed in $((SECONDS - start)) s"
}

main() {
    if ! command -v promtool >/dev/null 2>&1; then
        apt_install prometheus
        # Keep the server off for good (the policy only covered the install): not enabled at boot
        # (systemd unit and SysV links), and stopped where systemd runs services.
        if command -v systemctl >/dev/null 2>&1; then
            systemctl disable prometheus >/dev/null 2>&1 || true
            [ -d /run/systemd/system ] && { systemctl stop prometheus >/dev/null 2>&1 || true; }
        fi
        command -v update-rc.d >/dev/null 2>&1 && { update-rc.d prometheus disable >/dev/null 2>&1 || true; }
        command -v promtool >/dev/null 2>&1 || die "promtool still not found after installing prometheus"
    fi
    java17_home >/dev/null || apt_install openjdk-17-jre-headless
    java17_home >/dev/null || die "no Java 17 under /usr/lib/jvm after installing openjdk-17-jre-headless"
    log "promtool $(promtool --version 2>&1 | awk 'NR == 1 {print $3}'), Java 17 at $(java17_home)"
}

main "$@"
