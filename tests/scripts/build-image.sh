#!/usr/bin/env bash
# Ensure the local molecule target image exists:
#
#   tests/scripts/build-image.sh [--force]
#
# Image: runbook-maintenance-target:bookworm (override: RUNBOOK_TARGET_IMAGE).
# No container registry is reachable, so nothing is pulled: the root
# filesystem is made with debootstrap from the Debian mirror this machine's apt
# already uses, then turned into an image with `docker import`.
#
# Idempotent: the image carries the label runbook.packages=<hash of the
# package list and recipe>; it is rebuilt only when it is missing, when that
# hash differs (edit PACKAGES below and the next run rebuilds), or with --force.
#
# Containers from this image have no network (run them with --network none /
# network_mode: none): every package the roles need must be baked in here.
# PID 1 is `sleep infinity`; start PostgreSQL with `pg_ctlcluster 15 main start`.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
BUILD_DIR="$REPO/.build"

IMAGE="${RUNBOOK_TARGET_IMAGE:-runbook-maintenance-target:bookworm}"
SUITE=bookworm
PG_VERSION=15
LABEL_KEY=runbook.packages
# Bump when the way the image is made changes (forces a rebuild like a package change).
RECIPE=1

# Everything the roles and their tests need inside the target (no network there).
# gzip and tar are Essential anyway; listed because the roles rely on them.
# acl: setfacl lets Ansible hand its temp files to an unprivileged become_user
#      (e.g. become_user: postgres) without pipelining.
# libnss-myhostname: the container's own hostname resolves without DNS (with
#      network none docker does not put it in /etc/hosts, and sudo warns
#      "unable to resolve host" after trying DNS).
# lsof: disk_cleanup's open-file detection is cross-checked with it; pgbackrest: PITR.
# systemd, cron: scenarios that boot systemd as PID 1 (services, timers) or fall back to cron.
# postgresql-15-repack: the monthly online rewrite (pg_repack); pgbouncer: the failover's
#      client redirection is tested through a real connection pooler.
# C.UTF-8 comes with libc, enough for initdb (locales-all would add 229 MB).
PACKAGES=(
    python3
    python3-apt
    python3-psycopg
    postgresql
    postgresql-contrib
    sudo
    procps
    lsof
    logrotate
    pgbackrest
    ca-certificates
    iproute2
    gzip
    tar
    acl
    libnss-myhostname
    systemd
    cron
    curl
    postgresql-15-repack
    pgbouncer
)
# Extra packages for a one-off experiment (they change the hash too).
if [ -n "${RUNBOOK_IMAGE_EXTRA_PACKAGES:-}" ]; then
    # shellcheck disable=SC2206
    PACKAGES+=(${RUNBOOK_IMAGE_EXTRA_PACKAGES//,/ })
fi

log() { printf '[build-image] %s\n' "$*" >&2; }
die() { printf '[build-image] ERROR: %s\n' "$*" >&2; exit 1; }

FORCE=
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg (usage: $0 [--force])" ;;
    esac
done

T0=$SECONDS

# ---------------------------------------------------------------- engine
"$SCRIPT_DIR/docker-engine.sh"

# ---------------------------------------------------------------- wanted hash
sorted_packages=$(printf '%s\n' "${PACKAGES[@]}" | LC_ALL=C sort -u)
WANT_HASH=$(printf 'recipe=%s\nsuite=%s\n%s\n' "$RECIPE" "$SUITE" "$sorted_packages" | sha256sum | cut -c1-16)

current_hash() {
    docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$IMAGE" 2>/dev/null || true
}

HAVE_HASH=$(current_hash)
if [ -z "$FORCE" ] && [ "$HAVE_HASH" = "$WANT_HASH" ]; then
    log "image $IMAGE is up to date ($LABEL_KEY=$WANT_HASH); nothing to do ($((SECONDS - T0)) s)"
    exit 0
fi

[ "$(id -u)" -eq 0 ] || die "image $IMAGE must be (re)built and that needs root (debootstrap): run  sudo $0"

mkdir -p "$BUILD_DIR"
# One build at a time on this machine (the engine and /var/tmp are shared by
# every checkout): a second caller waits, then finds the image up to date.
exec 9>/var/tmp/runbook-target-build.lock
if ! flock -n 9; then
    log "another build is running: waiting for it"
    flock 9
    HAVE_HASH=$(current_hash)
    if [ -z "$FORCE" ] && [ "$HAVE_HASH" = "$WANT_HASH" ]; then
        log "image $IMAGE was built meanwhile; nothing to do"
        exit 0
    fi
fi

if [ -z "$HAVE_HASH" ]; then
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        log "image $IMAGE exists but has no $LABEL_KEY label: rebuilding"
    else
        log "image $IMAGE is missing: building it"
    fi
elif [ -n "$FORCE" ]; then
    log "--force: rebuilding $IMAGE"
else
    log "image $IMAGE has $LABEL_KEY=$HAVE_HASH, package list wants $WANT_HASH: rebuilding"
fi
OLD_ID=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)

# ---------------------------------------------------------------- mirrors
# The Debian mirror apt uses here (deb822 first, then one-line sources).
# Prints "main-uri security-uri" (security may be empty).
read_mirrors() {
    local main="" sec="" f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # Paragraphs: print "URIs<TAB>Suites" of each deb stanza.
        while IFS=$'\t' read -r uris suites; do
            local uri=${uris%% *}
            case " $suites " in
                *" $SUITE-security "*) [ -z "$sec" ] && sec=$uri ;;
                *" $SUITE "*) [ -z "$main" ] && main=$uri ;;
            esac
        done < <(awk -v RS= -F'\n' '{
                types=""; uris=""; suites=""; enabled="yes";
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^#/) continue
                    if (match(line, /^[A-Za-z-]+:/)) {
                        key = tolower(substr(line, 1, RLENGTH - 1)); val = substr(line, RLENGTH + 1)
                        gsub(/^[ \t]+|[ \t]+$/, "", val)
                        if (key == "types") types = val
                        else if (key == "uris") uris = val
                        else if (key == "suites") suites = val
                        else if (key == "enabled") enabled = tolower(val)
                    }
                }
                if (uris != "" && (" " types " ") ~ / deb / && enabled != "no") print uris "\t" suites
            }' "$f")
    done
    if [ -r /etc/apt/sources.list ]; then
        while read -r typ rest; do
            [ "$typ" = deb ] || continue
            # Drop an optional [options] block.
            rest=$(sed -E 's/^\[[^]]*\][[:space:]]*//' <<<"$rest")
            local uri suite
            read -r uri suite _ <<<"$rest"
            case "$suite" in
                "$SUITE-security"|"$SUITE/updates") [ -z "$sec" ] && sec=$uri ;;
                "$SUITE") [ -z "$main" ] && main=$uri ;;
            esac
        done </etc/apt/sources.list
    fi
    printf '%s %s\n' "${main:-}" "${sec:-}"
}

read -r MIRROR SECURITY_MIRROR < <(read_mirrors) || true
MIRROR="${RUNBOOK_DEBIAN_MIRROR:-${MIRROR:-}}"
SECURITY_MIRROR="${RUNBOOK_DEBIAN_SECURITY_MIRROR:-${SECURITY_MIRROR:-}}"
[ -n "$MIRROR" ] || die "no Debian mirror for '$SUITE' found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list (set RUNBOOK_DEBIAN_MIRROR)"
log "Debian mirror: $MIRROR${SECURITY_MIRROR:+ (security: $SECURITY_MIRROR)}"

# ---------------------------------------------------------------- debootstrap
if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
    log "installing debootstrap"
    t=$SECONDS
    candidate=$(apt-cache policy debootstrap 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        apt-get update -qq
    fi
    ilog="$BUILD_DIR/debootstrap-install.log"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >"$ilog" 2>&1; then
        log "install failed, package lists may be stale: apt-get update and retry"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >>"$ilog" 2>&1 \
            || { tail -n 20 "$ilog" | sed 's/^/    /' >&2; die "apt-get install debootstrap failed (log: $ilog)"; }
    fi
    log "debootstrap installed in $((SECONDS - t)) s"
fi
DEBOOTSTRAP=$(command -v debootstrap 2>/dev/null || echo /usr/sbin/debootstrap)
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || die "$KEYRING is missing (apt-get install debian-archive-keyring)"

WORK=""
# Unmount whatever debootstrap left mounted under the rootfs (it bind-mounts
# /dev entries, mounts /proc and /sys) BEFORE removing it: rm -rf through a
# bind mount of /dev would delete the host's device nodes.
cleanup() {
    local rc=$?
    if [ -n "$WORK" ] && [ -d "$WORK" ]; then
        local m
        # Deepest first.
        while read -r m; do
            umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
        done < <(awk -v w="$WORK/" 'index($2, w) == 1 {print $2}' /proc/self/mounts | sort -r)
        if awk -v w="$WORK/" 'index($2, w) == 1 {found=1} END {exit !found}' /proc/self/mounts; then
            log "WARNING: mounts remain under $WORK; NOT removing it (clean it by hand)"
        else
            rm -rf --one-file-system "$WORK"
            [ "$rc" -eq 0 ] || log "build failed or interrupted (rc $rc): removed $WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Remove rootfs dirs of earlier builds that were killed (no mounts left in them).
for stale in /var/tmp/runbook-target-rootfs.*; do
    [ -d "$stale" ] || continue
    if ! awk -v w="$stale/" 'index($2, w) == 1 {found=1} END {exit !found}' /proc/self/mounts; then
        # Only when no build holds the lock: we hold it now.
        log "removing leftover $stale"
        rm -rf --one-file-system "$stale"
    fi
done

WORK=$(mktemp -d /var/tmp/runbook-target-rootfs.XXXXXX)
ROOTFS="$WORK/rootfs"
mkdir "$ROOTFS"
# mktemp makes 0700 dirs: postgresql's postinst (as user postgres) then cannot
# reach its directories and silently skips creating cluster 15/main.
chmod 0755 "$WORK" "$ROOTFS"

include=$(IFS=,; echo "${PACKAGES[*]}")
DLOG="$BUILD_DIR/debootstrap.log"
log "debootstrap --variant=minbase $SUITE ($((${#PACKAGES[@]})) packages + dependencies); log: $DLOG"
t=$SECONDS
# LC_ALL=C.UTF-8 (glibc's built-in locale): postgresql's postinst then creates
# cluster 15/main with UTF8 encoding instead of SQL_ASCII (debootstrap sets LANG=C).
if ! LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$DEBOOTSTRAP" \
        --variant=minbase \
        --include="$include" \
        --keyring="$KEYRING" \
        "$SUITE" "$ROOTFS" "$MIRROR" >"$DLOG" 2>&1; then
    tail -n 30 "$DLOG" | sed 's/^/    /' >&2
    [ -r "$ROOTFS/debootstrap/debootstrap.log" ] && tail -n 30 "$ROOTFS/debootstrap/debootstrap.log" | sed 's/^/    /' >&2
    die "debootstrap failed (full log: $DLOG)"
fi
T_DEBOOTSTRAP=$((SECONDS - t))
log "debootstrap done in $T_DEBOOTSTRAP s"

# ---------------------------------------------------------------- checks
if [ ! -f "$ROOTFS/etc/postgresql/$PG_VERSION/main/postgresql.conf" ] \
    || [ ! -f "$ROOTFS/var/lib/postgresql/$PG_VERSION/main/PG_VERSION" ]; then
    grep -n -i -B2 -A5 'cluster\|initdb' "$DLOG" | tail -n 30 | sed 's/^/    /' >&2 || true
    die "PostgreSQL cluster $PG_VERSION/main was not created in the rootfs (see $DLOG)"
fi
if ! grep -Eq "^lc_messages = '(C|en_US)\.(UTF-8|utf8)'" "$ROOTFS/etc/postgresql/$PG_VERSION/main/postgresql.conf"; then
    log "WARNING: cluster $PG_VERSION/main does not use a UTF-8 locale: $(grep -E '^lc_messages' "$ROOTFS/etc/postgresql/$PG_VERSION/main/postgresql.conf" || echo '?')"
fi
for f in usr/bin/python3 usr/bin/sudo usr/bin/pg_ctlcluster usr/bin/setfacl sbin/ip bin/ps; do
    [ -e "$ROOTFS/$f" ] || die "/$f missing from the rootfs"
done
chroot "$ROOTFS" /usr/bin/python3 -c 'import apt, psycopg' \
    || die "python3 in the rootfs cannot import apt and psycopg"

# ---------------------------------------------------------------- finish the rootfs
# apt sources like a normal bookworm host (package facts, apt module); the
# containers have no network, so nothing is ever fetched from them.
rm -f "$ROOTFS/etc/apt/sources.list"
{
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: %s\n' \
        "$MIRROR" "$SUITE" "$SUITE" "$KEYRING"
    if [ -n "$SECURITY_MIRROR" ]; then
        printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: %s\n' \
            "$SECURITY_MIRROR" "$SUITE" "$KEYRING"
    fi
} >"$ROOTFS/etc/apt/sources.list.d/debian.sources"
# Names resolve from /etc/hosts and the own hostname only: no DNS query is ever
# attempted from a target (they are offline, and the host's resolver may sit
# on a private-range address).
sed -i -E 's/^hosts:.*/hosts:          files myhostname/' "$ROOTFS/etc/nsswitch.conf"
grep -q '^hosts: *files myhostname$' "$ROOTFS/etc/nsswitch.conf" \
    || die "could not set the hosts line of /etc/nsswitch.conf"
# Host specifics debootstrap copied in (docker provides its own at run time).
: >"$ROOTFS/etc/resolv.conf"
printf 'localhost\n' >"$ROOTFS/etc/hostname"
# Downloaded .debs and caches: not needed in the image.
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/*.bin \
       "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS/debootstrap"
mkdir -p "$ROOTFS/var/lib/apt/lists/partial"
# Record what went in.
{
    echo "image=$IMAGE"
    echo "$LABEL_KEY=$WANT_HASH"
    echo "built=$(date -u '+%Y-%m-%dT%H:%M:%SZ')"
    echo "mirror=$MIRROR"
    echo "packages=${PACKAGES[*]}"
} >"$ROOTFS/etc/runbook-maintenance-target"

# ---------------------------------------------------------------- import
log "importing into docker as $IMAGE"
t=$SECONDS
# Engine 20.10 accepts CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER,
# VOLUME, WORKDIR, HEALTHCHECK here; it refuses STOPSIGNAL ("not a valid change
# command"): set stop_signal in molecule.yml. `sleep infinity` as PID 1 ignores
# SIGTERM, so `docker stop` waits its full timeout: remove with `docker rm -f`.
tar -C "$ROOTFS" --numeric-owner -cf - . \
    | docker import \
        --change 'CMD ["sleep", "infinity"]' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL $LABEL_KEY=$WANT_HASH" \
        --message "runbook.maintenance target: debootstrap $SUITE + ${PACKAGES[*]}" \
        - "$IMAGE" >/dev/null
T_IMPORT=$((SECONDS - t))

[ "$(current_hash)" = "$WANT_HASH" ] || die "imported image $IMAGE does not carry $LABEL_KEY=$WANT_HASH"

NEW_ID=$(docker image inspect --format '{{.Id}}' "$IMAGE")
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$NEW_ID" ]; then
    # The image this script built before; kept if a container still uses it.
    if docker image rm "$OLD_ID" >/dev/null 2>&1; then
        log "removed the previous image ${OLD_ID#sha256:}"
    else
        log "previous image ${OLD_ID#sha256:} is still in use: left in place"
    fi
fi

SIZE=$(docker image inspect --format '{{.Size}}' "$IMAGE")
log "built $IMAGE ($((SIZE / 1000000)) MB, $LABEL_KEY=$WANT_HASH): debootstrap ${T_DEBOOTSTRAP} s, import ${T_IMPORT} s, total $((SECONDS - T0)) s"
