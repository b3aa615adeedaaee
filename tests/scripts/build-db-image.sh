#!/usr/bin/env bash
# The prepared layer of the molecule target image: runbook-maintenance-target:bookworm-db is the
# base image (build-image.sh) with the demo workload already loaded in PostgreSQL 15/main, so the
# scenarios that start from it (default, monthly, backup, dr) only start the cluster instead of
# building three databases each time:
#
#   tests/scripts/build-db-image.sh [--force]
#
# In the layer: the OS user root mapped to a PostgreSQL superuser (peer authentication),
# autovacuum off (ALTER SYSTEM: the maintenance must find the bloat), scripts/demo_workload.py's
# databases with their dead tuples, and /var/tmp/sizes-before.txt (table sizes for the verifiers).
# The cluster is stopped cleanly before the commit, so the statistics (dead tuples) are kept.
# Rebuilt when the base image, this script or the workload generator changes (label
# runbook.db-layer=<hash>), or with --force. extensions/molecule/shared/prepare-postgres.yml does
# the same steps itself on a container of the base image, so the layer is only a shortcut.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
BASE="${RUNBOOK_TARGET_IMAGE:-runbook-maintenance-target:bookworm}"
IMAGE="${RUNBOOK_TARGET_DB_IMAGE:-${BASE}-db}"
LABEL_KEY=runbook.db-layer
WORKLOAD="$REPO/scripts/demo_workload.py"

log() { printf '[build-db-image] %s\n' "$*" >&2; }
die() { printf '[build-db-image] ERROR: %s\n' "$*" >&2; exit 1; }

FORCE=
case "${1:-}" in --force) FORCE=1 ;; "") ;; *) die "unknown argument: $1 (usage: $0 [--force])" ;; esac
T0=$SECONDS
BASE_ID=$(docker image inspect --format '{{.Id}}' "$BASE" 2>/dev/null) || die "no $BASE: run tests/scripts/build-image.sh first"
WANT=$( { echo "$BASE_ID"; cat "$0" "$WORKLOAD"; } | sha256sum | cut -c1-16)
HAVE=$(docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$IMAGE" 2>/dev/null || true)
if [ -z "$FORCE" ] && [ "$HAVE" = "$WANT" ]; then
    log "image $IMAGE is up to date ($LABEL_KEY=$WANT); nothing to do"
    exit 0
fi
log "building $IMAGE from $BASE ($LABEL_KEY=$WANT)"
OLD_ID=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)

# A container name of our own (the pid), removed whatever happens.
BOX="runbook-db-layer-$$"
trap 'docker rm -f "$BOX" >/dev/null 2>&1 || true' EXIT
docker run -d --name "$BOX" --network none "$BASE" sleep infinity >/dev/null
in_box() { docker exec "$BOX" "$@"; }
psql_box() { in_box runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@"; }

in_box pg_ctlcluster 15 main start
psql_box -c "CREATE ROLE root LOGIN SUPERUSER"
psql_box -c "ALTER SYSTEM SET autovacuum = off" >/dev/null
docker cp "$WORKLOAD" "$BOX:/usr/local/lib/demo_workload.py"
in_box runuser -u postgres -- python3 /usr/local/lib/demo_workload.py --socket /var/run/postgresql --port 5432 >/dev/null
# shellcheck disable=SC2016  # expanded by the container's bash
in_box bash -c '
  set -euo pipefail
  query="SELECT current_database(), schemaname, relname, pg_total_relation_size(relid) FROM pg_stat_user_tables"
  for db in shop analytics auth; do runuser -u postgres -- psql -X -d "$db" -AtF "|" -c "$query"; done > /var/tmp/sizes-before.txt
  touch /var/lib/postgresql/.runbook-workload-loaded'
in_box pg_ctlcluster 15 main stop -m fast
docker commit --change "LABEL $LABEL_KEY=$WANT" --change 'CMD ["sleep", "infinity"]' "$BOX" "$IMAGE" >/dev/null
[ "$(docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$IMAGE")" = "$WANT" ] \
    || die "committed image $IMAGE does not carry $LABEL_KEY=$WANT"
if [ -n "$OLD_ID" ] && [ "$OLD_ID" != "$(docker image inspect --format '{{.Id}}' "$IMAGE")" ]; then
    docker image rm "$OLD_ID" >/dev/null 2>&1 || log "previous layer ${OLD_ID#sha256:} is still in use: left in place"
fi
log "built $IMAGE in $((SECONDS - T0)) s"
