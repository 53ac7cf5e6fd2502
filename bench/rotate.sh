#!/usr/bin/env bash
# Rotation engine benchmark (not part of CI):
#  1. 1,000 and 10,000 secrets rotated over the provider simulator (in-process, with the
#     source simulator) with a per-provider rate limit R; prints the run time, the
#     rate-limit bound (max over providers of requests / R) and their ratio (target <= 1.2).
#  2. The full crash test: SIGKILL at >= 500 random points across seeds, resuming each time,
#     with the invariants checked after every kill.
# Usage: bench/rotate.sh [--quick]   (--quick: 1,000 secrets and 500 kills only)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p firebreak-rotate --bin rotate-harness
BIN=$CARGO_TARGET_DIR/release/rotate-harness
fig() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("secrets=%d R=%g/s/provider concurrency=%d requests(circleci,github,gitlab)=%s rate_limited=%s bound=%.2fs run=%.2fs ratio=%.3f done=%d" % (r["secrets"], r["rate_limit"], r["concurrency"], r["requests"], r["rate_limited"], r["bound_s"], r["elapsed_s"], r["ratio"], r["done"]))' "$1"; }
echo "== rate-limited rotation"
R1=${R1:-100}
out=$("$BIN" bench --secrets 1000 --rate "$R1" --concurrency 64); fig "$out"
if [ "${1:-}" != --quick ]; then
  R2=${R2:-400}
  out=$("$BIN" bench --secrets 10000 --rate "$R2" --concurrency 256); fig "$out"
fi
echo "== crash test"
KILLS=${FIREBREAK_CRASH_KILLS:-500}
total=0
for seed in 1 2 3 4 5; do
  per=$(( (KILLS + 4) / 5 ))
  out=$("$BIN" crash --secrets 300 --kills "$per" --seed "$seed" --concurrency 8)
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("seed=%s kills=%d children=%d worlds=%d secrets=%d done=%d stopped=%d rolled_back=%d violations=%d time=%.1fs" % (sys.argv[2], r["kills"], r["children"], r["worlds"], r["secrets"], r["done"], r["stopped"], r["rolled_back"], len(r["violations"]), r["elapsed_s"])); [print("  VIOLATION", v) for v in r["violations"][:10]]' "$out" "$seed"
  k=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["kills"])' "$out")
  total=$((total + k))
done
echo "total SIGKILLs: $total"
