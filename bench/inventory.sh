#!/usr/bin/env bash
# Benchmark: inventory 10,000 CircleCI projects on the simulator under a rate limit of
# R requests/second, and compare the run time with the bound (requests needed / R).
# Target: ratio <= 1.1 (issue 4).
#
# Usage: bench/inventory.sh [R] [PROJECTS]      (defaults: R=500, PROJECTS=10000)
# Env:   FIREBREAK_BIN=path  use this binary instead of building a release one.
set -euo pipefail
cd "$(dirname "$0")/.."
R=${1:-500}
PROJECTS=${2:-10000}
if [ -n "${FIREBREAK_BIN:-}" ]; then
  BIN=$FIREBREAK_BIN
else
  cargo build --release -p firebreak >&2
  BIN=${CARGO_TARGET_DIR:-target}/release/firebreak
fi
OUT=$(mktemp -d)
trap 'kill "$SIM_PID" 2>/dev/null || true; wait "$SIM_PID" 2>/dev/null || true; rm -rf "$OUT"' EXIT
# Server bucket: R/s with a burst of 20 (so the bound is (requests - 20) / R ~ requests / R).
"$BIN" simulate --port 0 --projects "$PROJECTS" --seed 42 --rate-limit "$R" --burst 20 \
  >"$OUT/sim.out" 2>"$OUT/sim.err" &
SIM_PID=$!
for _ in $(seq 1 600); do
  grep -q listening "$OUT/sim.out" 2>/dev/null && break
  sleep 0.1
done
BASE=$(head -1 "$OUT/sim.out" | awk '{print $NF}')
echo "simulator: $BASE ($PROJECTS projects per provider, rate limit $R req/s per provider)"
START=$(date +%s.%N)
CIRCLECI_TOKEN=sim-circleci-token "$BIN" inventory --provider circleci --org sim-org \
  --api-url "$BASE/circleci/api/v2" --rate-limit "$R" --concurrency 64 \
  --store "$OUT/bench.db" --format json >"$OUT/items.jsonl" 2>"$OUT/inv.err" || true
END=$(date +%s.%N)
cat "$OUT/inv.err"
REQ=$(grep -o '[0-9]* requests' "$OUT/inv.err" | awk '{print $1}')
ITEMS=$(grep -o '[0-9]* secrets' "$OUT/inv.err" | awk '{print $1}')
RL=$(grep -o '[0-9]* rate-limited' "$OUT/inv.err" | awk '{print $1}')
python3 - "$START" "$END" "$REQ" "$R" "$ITEMS" "$RL" <<'PY'
import sys
start, end, req, r, items, rl = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
t = end - start
bound = req / r
print(f"items inventoried:      {items}")
print(f"requests:               {req} ({rl} answered 429)")
print(f"run time:               {t:.2f} s (process start to exit)")
print(f"bound (requests / R):   {bound:.2f} s")
print(f"ratio:                  {t / bound:.3f}  (target <= 1.1)")
PY
