#!/usr/bin/env bash
# PostgreSQL for firebreak-serve's tests and benchmark: a private cluster under
# .tools/pg (owned by the postgres user), listening on 127.0.0.1:${FIREBREAK_PG_PORT:-54329}
# with trust authentication (test only: fsync is off), database firebreak_test.
# Idempotent and fast when the cluster is already running. When this script starts the
# server it writes .tools/stop.d/postgres.sh, which scripts/test runs when the tests end
# (a server that was already running is left alone).
# Writes .tools/env.d/postgres.sh exporting FIREBREAK_TEST_PG_URL.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PORT=${FIREBREAK_PG_PORT:-54329}
BASE=$ROOT/.tools/pg
DATA=$BASE/data
LOG=$BASE/server.log
DB=firebreak_test
URL="postgres://postgres@127.0.0.1:$PORT/$DB"

as_pg() {
  if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi
}

find_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

BIN=$(find_bin || true)
if [ -z "$BIN" ]; then
  echo "40-postgres: installing postgresql (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends postgresql >/dev/null 2>&1; then
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends postgresql >/dev/null
  fi
  # The Debian package may start its own cluster on 5432; ours is separate.
  BIN=$(find_bin)
fi
id postgres >/dev/null 2>&1 || { echo "40-postgres: no postgres user after install" >&2; exit 1; }

mkdir -p "$BASE" "$ROOT/.tools/env.d"
chown postgres:postgres "$BASE"
chmod 0700 "$BASE"
if [ ! -s "$DATA/PG_VERSION" ]; then
  echo "40-postgres: initdb $DATA" >&2
  as_pg "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
  cat >>"$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$BASE'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
fi

if "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  # Another checkout's cluster (or a user's server) already answers there: use it.
  echo "40-postgres: a server already answers on 127.0.0.1:$PORT; using it" >&2
elif ! as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
  echo "40-postgres: starting on 127.0.0.1:$PORT (log $LOG)" >&2
  as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null
  mkdir -p "$ROOT/.tools/stop.d"
  cat >"$ROOT/.tools/stop.d/postgres.sh" <<STOP
# written by scripts/setup.d/40-postgres.sh, which started this server
if [ "\$(id -un)" = postgres ]; then
  "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
else
  runuser -u postgres -- "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
fi
STOP
fi

for _ in $(seq 1 50); do
  "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" && break
  sleep 0.2
done
if ! "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1; then
  "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB"
fi

cat >"$ROOT/.tools/env.d/postgres.sh" <<ENV
export FIREBREAK_TEST_PG_URL=$URL
ENV
echo "40-postgres: ready: $URL" >&2
