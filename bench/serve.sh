#!/usr/bin/env bash
# Load benchmark of `firebreak serve` token validation (POST /v1/tokens/verify) with wrk on
# loopback, on SQLite, then on PostgreSQL (started by scripts/setup.d/40-postgres.sh), each with
# the validation cache on (tokens.cache_ttl_ms = 1000, the default) and off (0: every
# validation reads the database). Prints requests/s, latency percentiles, the server's
# validations per CPU-second and the load average next to every figure, then checks the
# issue-6 target (>= 20,000 validations/s with p99 < 5 ms, SQLite, default config).
#
# Env: DURATION (default 10s), CONNECTIONS (default 16), THREADS (wrk threads, default 1),
#      CACHE_MODES (cache_ttl_ms values to run, default "1000 0"), BACKENDS (default
#      "sqlite postgres"), PIN=1 (server on CPU 0 with one tokio worker, wrk on CPU 1),
#      PRIORITY=1 (root, Linux autogroup scheduling: run server and wrk in their own session
#      with autogroup nice -15, so background jobs on a shared machine yield the cores during
#      the measurement; the figures then approach an idle machine's),
#      PROFILE (release|dev), BENCH_BIN (cli|example).
set -euo pipefail
if [ -n "${PRIORITY:-}" ] && [ -z "${FB_BENCH_SESSION:-}" ]; then
  # A new session is a new autogroup; its nice value is set after the build, below. The
  # session does not get the terminal's Ctrl-C: forward INT/TERM to its process group.
  FB_BENCH_SESSION=1 setsid -w bash "$0" "$@" &
  BENCH_SESSION=$!
  trap 'kill -TERM -- "-$BENCH_SESSION" 2>/dev/null || true' INT TERM
  rc=0; wait "$BENCH_SESSION" || rc=$?
  wait "$BENCH_SESSION" 2>/dev/null || true
  exit "$rc"
fi
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
THREADS=${THREADS:-1}
CACHE_MODES=${CACHE_MODES:-1000 0}
BACKENDS=${BACKENDS:-sqlite postgres}
PIN=${PIN:-}

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
PRIORITY_NOTE=
if [ -n "${PRIORITY:-}" ]; then
  if echo -15 2>/dev/null >"/proc/$$/autogroup"; then
    PRIORITY_NOTE=", autogroup nice -15 (background jobs yield)"
  else
    echo "bench/serve.sh: PRIORITY=1 needs root and kernel.sched_autogroup_enabled=1; running without it" >&2
  fi
fi
SERVER_PREFIX=(); WRK_PREFIX=()
if [ -n "$PIN" ]; then
  # Each gets one core: the server runs one tokio worker on CPU 0, wrk runs on CPU 1.
  export TOKIO_WORKER_THREADS=1
  SERVER_PREFIX=(taskset -c 0); WRK_PREFIX=(taskset -c 1)
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$WORK/admin"
chmod 600 "$WORK/admin"
printf 'Authorization: Bearer %s\n' "$(cat "$WORK/admin")" >"$WORK/admin.hdr"
chmod 600 "$WORK/admin.hdr"
cat >"$WORK/verify.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("FB_TOKEN")
LUA

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# wrk latency ("812.00us", "4.67ms", "1.02s") in milliseconds.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

PORT=18420
RESULTS=$WORK/results
run_backend() { # name cache_ttl_ms database_url [schema]
  local name=$1 ttl=$2 db=$3 schema=${4:-}
  local tag=$name-$ttl
  local cfg=$WORK/$tag.toml
  {
    echo "listen = \"127.0.0.1:$PORT\""
    echo "database_url = \"$db\""
    [ -n "$schema" ] && echo "database_schema = \"$schema\""
    echo "staging_dir = \"$WORK/staging\""
    echo "published_dir = \"$WORK/published\""
    echo "audit_log = \"$WORK/$tag-audit.jsonl\""
    echo "admin_token_file = \"$WORK/admin\""
    echo "[tokens]"
    echo "cache_ttl_ms = $ttl"
    echo "[limits]"
    # The limiter stays on (its cost is measured) with a bucket wrk cannot empty.
    echo "rate_limit_per_sec = 1e9"
    echo "rate_limit_burst = 1e9"
    echo "[[projects]]"
    echo "name = \"bench\""
  } >"$cfg"
  "${SERVER_PREFIX[@]}" "${SERVE[@]}" "$cfg" >"$WORK/$tag.out" 2>"$WORK/$tag.err" &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    grep -q listening "$WORK/$tag.out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q listening "$WORK/$tag.out" || { cat "$WORK/$tag.err" >&2; exit 1; }
  local url=http://127.0.0.1:$PORT
  FB_TOKEN=$(curl -sf -XPOST -H @"$WORK/admin.hdr" -H 'content-type: application/json' \
    -d '{"project":"bench","provider":"circleci","ttl_secs":86400}' "$url/v1/admin/tokens" | sed -E 's/.*"token":"([^"]+)".*/\1/')
  export FB_TOKEN
  # Warm up (connections, caches), then measure.
  "${WRK_PREFIX[@]}" wrk -t1 -c4 -d1s -s "$WORK/verify.lua" "$url/v1/tokens/verify" >/dev/null
  local tck cpu0 cpu1 load0 load1
  tck=$(getconf CLK_TCK)
  load0=$(loadavg)
  cpu0=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
  "${WRK_PREFIX[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$WORK/verify.lua" "$url/v1/tokens/verify" >"$WORK/$tag.wrk"
  cpu1=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
  load1=$(loadavg)
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  # Allowed validations must not have been audited, nor denied: the audit log stays empty.
  local audited=0
  [ -f "$WORK/$tag-audit.jsonl" ] && audited=$(grep -c '"token.verify"' "$WORK/$tag-audit.jsonl" || true)
  local rps p50 p90 p99 non2xx total per_cpu
  total=$(awk '/requests in/ {print $1}' "$WORK/$tag.wrk")
  per_cpu=$(awk -v n="$total" -v a="$cpu0" -v b="$cpu1" -v t="$tck" 'BEGIN { c = (b - a) / t; if (c > 0) printf "%.0f", n / c; else print "?" }')
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/$tag.wrk")
  p50=$(to_ms "$(awk '$1=="50%" {print $2}' "$WORK/$tag.wrk")")
  p90=$(to_ms "$(awk '$1=="90%" {print $2}' "$WORK/$tag.wrk")")
  p99=$(to_ms "$(awk '$1=="99%" {print $2}' "$WORK/$tag.wrk")")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/$tag.wrk")
  printf '%-9s cache %4s ms  %7s req/s  p50 %6s ms  p90 %6s ms  p99 %6s ms  non-2xx %-4s  %6s validations/server-CPU-s  load %s -> %s\n' \
    "$name" "$ttl" "$rps" "$p50" "$p90" "$p99" "${non2xx:-0}" "$per_cpu" "$load0" "$load1"
  [ "${non2xx:-0}" = 0 ] && [ "$audited" = 0 ] || echo "  warning: ${non2xx:-0} non-2xx responses, $audited audited verify events" >&2
  echo "$name $ttl $rps $p99 $load0" >>"$RESULTS"
}

echo "firebreak serve token validation ($PROFILE build, ${BENCH_BIN:-cli}), wrk -t$THREADS -c$CONNECTIONS -d$DURATION${PIN:+, pinned: server CPU 0 (1 worker), wrk CPU 1}$PRIORITY_NOTE, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load average before: $(loadavg) (other processes share the cores: compare validations per server-CPU-second)"
for backend in $BACKENDS; do
  case $backend in
    sqlite)
      for ttl in $CACHE_MODES; do
        run_backend sqlite "$ttl" "sqlite:$WORK/serve-$ttl.db"
      done
      ;;
    postgres)
      bash scripts/setup.d/40-postgres.sh
      # shellcheck disable=SC1091
      source .tools/env.d/postgres.sh
      for ttl in $CACHE_MODES; do
        schema=bench_$$_$ttl
        run_backend postgres "$ttl" "$FIREBREAK_TEST_PG_URL" "$schema"
        psql "$FIREBREAK_TEST_PG_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
      done
      ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
done

awk -v prio="$PRIORITY_NOTE" '
  $1 == "sqlite" && $2 == 1000 { s = $3 } $1 == "postgres" && $2 == 1000 { p = $3 }
  $1 == "sqlite" && $2 == 1000 { sp99 = $4; sload = $5 }
  END {
    if (s > 0 && p > 0) printf "ratio sqlite/postgres (cached): %.2f\n", s / p
    if (s > 0) {
      met = (s >= 20000 && sp99 < 5)
      printf "target (SQLite, default config): >= 20000 req/s with p99 < 5 ms: %s (%d req/s, p99 %s ms, load %s before the run)\n", met ? "MET" : "NOT MET", s, sp99, sload
      if (!met && sload > 1.0 && prio == "") print "  the machine was loaded: rerun on an idle machine (bash bench/serve.sh), or as root with PRIORITY=1 bash bench/serve.sh"
    }
  }' "$RESULTS"
