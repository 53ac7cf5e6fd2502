#!/usr/bin/env bash
# Peak memory (RSS) and wall time of `firebreak hunt` on inputs where every record is a
# finding (docs/hunt.md, "Bounds"). Needs GNU time (/usr/bin/time, Debian package `time`).
# usage: bench/hunt_bounds.sh FIREBREAK_BINARY [WORKDIR (default /tmp/firebreak-hunt-bounds)]
set -euo pipefail
cd "$(dirname "$0")/.."
FB=${1:?usage: bench/hunt_bounds.sh FIREBREAK_BINARY [WORKDIR]}
WORK=${2:-/tmp/firebreak-hunt-bounds}
mkdir -p "$WORK"
gen() { [ -f "$WORK/$1" ] || python3 bench/hunt_matching.py "$WORK/$1" "${@:2}"; }
gen matching-400.json.gz 400
gen matching-1024.json.gz 1024
gen matching-400-ips.json.gz 400 --distinct-ips
mkdir -p "$WORK/multi"
for i in 1 2 3 4 5 6 7 8; do gen "multi/part-$i.json.gz" 50; done
run() {
  local name=$1; shift
  local lines
  # exit 1 (findings) is expected
  lines=$(/usr/bin/time -v "$FB" hunt "$@" 2>"$WORK/$name.err" | wc -l) || true
  local rss wall
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/$name.err")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/$name.err")
  printf '%-28s peak RSS %8d kB  wall %8s  %9d output lines  | %s\n' "$name" "$rss" "$wall" "$lines" \
    "$(grep -h '^hunt: [0-9]* files' "$WORK/$name.err" || true)"
}
run jsonl-400MB --format jsonl "$WORK/matching-400.json.gz"
run json-400MB --format json "$WORK/matching-400.json.gz"
run text-400MB --format text "$WORK/matching-400.json.gz"
run jsonl-1024MB --format jsonl "$WORK/matching-1024.json.gz"
run jsonl-8-files-400MB --format jsonl "$WORK/multi"
run novelty-400MB-distinct-ips --format jsonl --window 2023-01-06..2023-01-10 --baseline 2023-01-04..2023-01-06 \
  "$WORK/matching-400-ips.json.gz"
