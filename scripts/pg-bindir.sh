#!/usr/bin/env bash
# Print the directory holding PostgreSQL's server binaries (initdb, pg_ctl, postgres).
# With INSTALL=1 and root, install Debian's postgresql package when none is found.
set -u
find_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null); [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  fi
  local versions=()
  for d in /usr/lib/postgresql/*/bin; do [ -d "$d" ] && versions+=("$d"); done
  # newest major first
  mapfile -t versions < <(printf '%s\n' "${versions[@]}" | sort -rV)
  for d in "${versions[@]}" /usr/local/pgsql/bin /opt/homebrew/bin /usr/local/bin /usr/bin; do
    [ -x "$d/initdb" ] && [ -x "$d/postgres" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  return 1
}
# pg_repack (the monthly online rewrite; its integration tests) beside the server, same major.
ensure_repack() {
  local dir=$1 major
  [ -x "$dir/pg_repack" ] && return 0
  [ "${INSTALL:-0}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 0
  major=$(basename "$(dirname "$dir")")
  [[ "$major" =~ ^[0-9]+$ ]] || return 0
  echo "pg_repack not found in $dir: installing Debian's postgresql-$major-repack" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y --no-install-recommends "postgresql-$major-repack" \
    || { apt-get update && apt-get install -y --no-install-recommends "postgresql-$major-repack"; }; } >&2 \
    || echo "could not install postgresql-$major-repack: the pg_repack tests will be skipped" >&2
}
if dir=$(find_bindir); then ensure_repack "$dir"; echo "$dir"; exit 0; fi
if [ "${INSTALL:-0}" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL server binaries not found: installing Debian's postgresql package" >&2
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y --no-install-recommends postgresql postgresql-contrib \
    || { apt-get update && apt-get install -y --no-install-recommends postgresql postgresql-contrib; }; } >&2
  if dir=$(find_bindir); then ensure_repack "$dir"; echo "$dir"; exit 0; fi
fi
echo "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found. Install PostgreSQL" \
     "(Debian: apt-get install postgresql; macOS: brew install postgresql) or set PG_BINDIR." >&2
exit 1
