#!/usr/bin/env bash
# Benchmark: firebreak hunt (built-in pack) vs DuckDB running the same rules compiled to
# SQL, over a >= 400 MB CloudTrail corpus replicated from the real sample.
# usage: bench/hunt.sh [MIN_MB (default 400)]
# Env:   FIREBREAK_BIN=path  use this binary instead of building a release one.
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-400}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
bash scripts/setup.d/20-duckdb.sh
source .tools/env.d/duckdb.sh
if [ "${HUNT_BENCH_LIB:-0}" = 1 ]; then
  # same engine, without building the whole CLI: the hunt crate's bench driver
  cargo build --release -p firebreak-hunt --example hunt_bench >&2
  HUNT=("$CARGO_TARGET_DIR/release/examples/hunt_bench")
elif [ -n "${FIREBREAK_BIN:-}" ]; then
  HUNT=("$FIREBREAK_BIN" hunt --format jsonl)   # an already built binary
else
  cargo build --release -p firebreak >&2
  HUNT=("$CARGO_TARGET_DIR/release/firebreak" hunt --format jsonl)
fi
FB="${FIREBREAK_BIN:-$CARGO_TARGET_DIR/release/firebreak}"
WORK=${HUNT_BENCH_DIR:-/tmp/firebreak-hunt-bench}
CORPUS="$WORK/corpus-$MB"
if [ ! -f "$CORPUS/.done" ]; then
  rm -rf "$CORPUS"
  "$FIREBREAK_PYTHON" bench/hunt_corpus.py testdata/cloudtrail/invictus-aws-2023-07-10/CloudTrail "$CORPUS" "$MB"
  touch "$CORPUS/.done"
fi
echo "corpus: $(du -sm "$CORPUS" | cut -f1) MB in $(ls "$CORPUS"/*.json | wc -l) files; $(nproc) CPUs" >&2
if [ "${HUNT_BENCH_LIB:-0}" = 1 ]; then "${HUNT[0]}" --duckdb-sql "$CORPUS/*.json" > "$WORK/combined.sql"; else
  "$FB" hunt compile --target duckdb --combined --table "$CORPUS/*.json" > "$WORK/combined.sql" 2>/dev/null || true
fi
# warm the page cache once for both
cat "$CORPUS"/*.json > /dev/null
t0=$(date +%s.%N)
"${HUNT[@]}" "$CORPUS" > "$WORK/findings.jsonl" 2>"$WORK/hunt.err" || true
t1=$(date +%s.%N)
fb_s=$(echo "$t1 - $t0" | bc -l)
fb_n=$(grep -c '"source":"cloudtrail"' "$WORK/findings.jsonl" || true)
fb_agg=$(grep -c '"kind":"rule"' "$WORK/findings.jsonl" || true)
read -r dk_n dk_s < <("$FIREBREAK_PYTHON" bench/hunt_duckdb.py "$WORK/combined.sql")
printf 'firebreak hunt : %8.2f s  (%s findings)\n' "$fb_s" "$fb_agg"
printf 'duckdb (python): %8.2f s  (%s rows)\n' "$dk_s" "$dk_n"
printf 'ratio duckdb/firebreak: %.2fx\n' "$(echo "$dk_s / $fb_s" | bc -l)"
