#!/usr/bin/env bash
# Compares two firebreak builds on one scan target with interleaved runs (A, B, A, B…), so
# that drifts in the machine's speed hit both alike. Prints each build's median wall and
# CPU (user + system) time and the median of the paired ratios B/A.
#
#   bench/scan-ab.sh OLD_BINARY NEW_BINARY TARGET [RUNS]     # RUNS pairs, default 10
set -euo pipefail
if [ $# -lt 3 ]; then sed -n '2,6p' "$0" >&2; exit 2; fi
A=$1; B=$2; T=$3; N=${4:-10}
tmp=$(mktemp); trap 'rm -f "$tmp"' EXIT
for ((i = 0; i < N; i++)); do
  for x in A B; do
    bin=$A; [ $x = B ] && bin=$B
    # Exit code 1 (findings) or 3 (partial) is not a failure here.
    /usr/bin/time -o "$tmp" -f "$x %e %U %S" "$bin" scan --format jsonl "$T" > /dev/null 2>&1 || true
    tail -1 "$tmp"
  done
done | python3 -c '
import sys, statistics as st
runs = {"A": [], "B": []}
for line in sys.stdin:
    x, wall, user, sys_ = line.split()
    runs[x].append((float(wall), float(user) + float(sys_)))
a, b = runs["A"], runs["B"]
for name, r in (("A", a), ("B", b)):
    print(f"{name}: wall median {st.median(w for w, _ in r):.3f} s (min {min(w for w, _ in r):.2f}), cpu median {st.median(c for _, c in r):.2f} s")
print(f"B/A paired medians: wall {st.median(y[0] / x[0] for x, y in zip(a, b)):.3f}, cpu {st.median(y[1] / x[1] for x, y in zip(a, b)):.3f}")'
