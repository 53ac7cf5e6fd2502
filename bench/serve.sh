#!/usr/bin/env bash
# Load benchmark of `firebreak serve` token validation (POST /v1/tokens/verify) with wrk on
# loopback, first on SQLite, then on PostgreSQL (started by scripts/setup.d/40-postgres.sh).
# Prints requests/s and latency percentiles for each, and their ratio.
# Env: DURATION (default 10s), CONNECTIONS (default 32), THREADS (default 2), PROFILE (release|dev).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}

if ! command -v wrk >/dev/null; then
  echo "bench/serve.sh: installing wrk (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends wrk >/dev/null 2>&1 || { apt-get update >/dev/null; apt-get install -y --no-install-recommends wrk >/dev/null; }
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# PROFILE=dev measures a debug build (dependencies are still optimised, see Cargo.toml).
# BENCH_BIN=example runs crates/serve/examples/serve.rs instead of the full CLI.
PROFILE=${PROFILE:-release}
DIR=debug; FLAG=
[ "$PROFILE" = release ] && { DIR=release; FLAG=--release; }
if [ "${BENCH_BIN:-cli}" = example ]; then
  cargo build $FLAG -p firebreak-serve --example serve >&2
  SERVE=("$CARGO_TARGET_DIR/$DIR/examples/serve")
else
  cargo build $FLAG -p firebreak >&2
  SERVE=("$CARGO_TARGET_DIR/$DIR/firebreak" serve --config)
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/admin"
chmod 600 "$WORK/admin"
printf 'Authorization: Bearer %s\n' "$(cat "$WORK/admin")" >"$WORK/admin.hdr"
chmod 600 "$WORK/admin.hdr"
cat >"$WORK/verify.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("FB_TOKEN")
LUA

PORT=18420
run_backend() { # name database_url [schema]
  local name=$1 db=$2 schema=${3:-}
  local cfg=$WORK/$name.toml
  {
    echo "listen = \"127.0.0.1:$PORT\""
    echo "database_url = \"$db\""
    [ -n "$schema" ] && echo "database_schema = \"$schema\""
    echo "staging_dir = \"$WORK/staging\""
    echo "published_dir = \"$WORK/published\""
    echo "audit_log = \"$WORK/$name-audit.jsonl\""
    echo "admin_token_file = \"$WORK/admin\""
    echo "[limits]"
    echo "rate_limit_per_sec = 0"
    echo "[[projects]]"
    echo "name = \"bench\""
  } >"$cfg"
  "${SERVE[@]}" "$cfg" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    grep -q listening "$WORK/$name.out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q listening "$WORK/$name.out" || { cat "$WORK/$name.err" >&2; exit 1; }
  local url=http://127.0.0.1:$PORT
  FB_TOKEN=$(curl -sf -XPOST -H @"$WORK/admin.hdr" -H 'content-type: application/json' \
    -d '{"project":"bench","provider":"circleci","ttl_secs":86400}' "$url/v1/admin/tokens" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  export FB_TOKEN
  # Warm up (fills the validation cache), then measure.
  wrk -t1 -c4 -d1s -s "$WORK/verify.lua" "$url/v1/tokens/verify" >/dev/null
  local tck cpu0 cpu1
  tck=$(getconf CLK_TCK)
  cpu0=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/verify.lua" "$url/v1/tokens/verify" >"$WORK/$name.wrk"
  cpu1=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  local rps p50 p99 non2xx total per_cpu
  total=$(awk '/requests in/ {print $1}' "$WORK/$name.wrk")
  per_cpu=$(awk -v n="$total" -v a="$cpu0" -v b="$cpu1" -v t="$tck" 'BEGIN { c = (b - a) / t; if (c > 0) printf "%.0f", n / c; else print "?" }')
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/$name.wrk")
  p50=$(awk '$1=="50%" {print $2}' "$WORK/$name.wrk")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/$name.wrk")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/$name.wrk")
  printf '%-10s %12s req/s   p50 %-9s p99 %-9s non-2xx %-4s server: %s validations per CPU-second\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}" "$per_cpu"
  eval "RPS_$name=$rps"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other processes share the cores: compare validations per CPU-second)"
echo "firebreak serve token validation ($PROFILE build), wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
run_backend sqlite "sqlite:$WORK/serve.db"

bash scripts/setup.d/40-postgres.sh
# shellcheck disable=SC1091
source .tools/env.d/postgres.sh
SCHEMA=bench_$$
run_backend postgres "$FIREBREAK_TEST_PG_URL" "$SCHEMA"
psql "$FIREBREAK_TEST_PG_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true

awk -v a="$RPS_sqlite" -v b="$RPS_postgres" 'BEGIN { if (b > 0) printf "ratio sqlite/postgres: %.2f\n", a / b }'
