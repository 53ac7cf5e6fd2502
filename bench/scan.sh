#!/usr/bin/env bash
# Benchmark: firebreak scan vs Kingfisher, detect-secrets and ripsecrets, side by side.
#
#   bench/scan.sh            # build, install peers (idempotent), run, print MB/s and ratios
#
# Corpora: (1) the Python installation's stdlib directory (which holds
# site-packages for pyenv/venv-less installs; the system site-packages is added
# when it lives elsewhere), (2) one large log made by concatenating every .py
# file of corpus 1. Every tool runs with all its rules, no validation,
# machine output to /dev/null. Throughput = corpus bytes / wall seconds.
# Peers and corpora go under $CARGO_TARGET_DIR/bench-scan (not part of CI). Env knobs:
#   BENCH_DIR (default $CARGO_TARGET_DIR/bench-scan), BENCH_TIMEOUT seconds per run (default 600),
#   BENCH_TOOLS (default "firebreak kingfisher ripsecrets detect-secrets"; firebreak must come first),
#   FIREBREAK_BIN (skip the build and use this binary), BENCH_RUNS runs per tool and corpus
#   (default 3; the runs are interleaved round by round, every tool once per round, so a
#   drift of the machine's speed weighs on all tools alike; the median is reported and every
#   run's time printed to stderr; a run longer than 20 s is not repeated).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH=${BENCH_DIR:-$CARGO_TARGET_DIR/bench-scan}
TIMEOUT=${BENCH_TIMEOUT:-600}
TOOLS=${BENCH_TOOLS:-"firebreak kingfisher ripsecrets detect-secrets"}
RUNS=${BENCH_RUNS:-3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
mkdir -p "$BENCH"

if [ -n "${FIREBREAK_BIN:-}" ]; then
  FB=$FIREBREAK_BIN   # use an already built binary
else
  echo "== building firebreak (release)" >&2
  cargo build --release -p firebreak --manifest-path "$ROOT/Cargo.toml" >&2
  FB="$CARGO_TARGET_DIR/release/firebreak"
fi

echo "== peers" >&2
if [ ! -x "$BENCH/venv/bin/kingfisher" ] || [ ! -x "$BENCH/venv/bin/detect-secrets" ]; then
  python3 -m venv "$BENCH/venv"
  "$BENCH/venv/bin/pip" install -q --disable-pip-version-check kingfisher-bin detect-secrets >&2
fi
if [[ " $TOOLS " == *" ripsecrets "* ]] && [ ! -x "$BENCH/tools/bin/ripsecrets" ]; then
  cargo install -q --locked --root "$BENCH/tools" ripsecrets >&2 || cargo install -q --root "$BENCH/tools" ripsecrets >&2
fi
KF="$BENCH/venv/bin/kingfisher"
DS="$BENCH/venv/bin/detect-secrets"
RS="$BENCH/tools/bin/ripsecrets"

echo "== corpora" >&2
STDLIB=$(python3 -c 'import sysconfig;print(sysconfig.get_paths()["stdlib"])')
SITE=$(python3 -c 'import sysconfig;print(sysconfig.get_paths()["purelib"])')
TREE="$BENCH/corpus/tree"
LOG="$BENCH/corpus/big.log"
if [ ! -d "$TREE" ]; then
  mkdir -p "$TREE"
  cp -r "$STDLIB" "$TREE/stdlib"
  case "$SITE" in "$STDLIB"/*) ;; *) cp -r "$SITE" "$TREE/site-packages" ;; esac
fi
if [ ! -f "$LOG" ]; then
  find "$TREE" -type f -name '*.py' -print0 | sort -z | xargs -0 cat > "$LOG"
fi
tree_bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
log_bytes=$(stat -c %s "$LOG")
cat "$LOG" > /dev/null; find "$TREE" -type f -print0 | xargs -0 cat > /dev/null

run() { # tool corpus -> seconds (or "timeout")
  local tool=$1 target=$2 t0 t1 rc
  t0=$(date +%s.%N)
  set +e
  case $tool in
    firebreak) timeout "$TIMEOUT" "$FB" scan --format jsonl "$target" > /dev/null 2>&1 ;;
    kingfisher) timeout "$TIMEOUT" "$KF" scan "$target" --no-validate --rule all --max-file-size 0 --format json --output /dev/null --no-update-check -q > /dev/null 2>&1 ;;
    ripsecrets) timeout "$TIMEOUT" "$RS" "$target" > /dev/null 2>&1 ;;
    detect-secrets) timeout "$TIMEOUT" "$DS" scan --all-files "$target" > /dev/null 2>&1 ;;
  esac
  rc=$?
  set -e
  t1=$(date +%s.%N)
  if [ $rc -eq 124 ]; then echo timeout; else awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b-a}'; fi
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "# firebreak scan benchmark — $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# median of $RUNS runs per tool and corpus, the tools' runs interleaved (round by round)"
echo "# tree: $TREE ($((tree_bytes / 1000000)) MB); log: $LOG ($((log_bytes / 1000000)) MB)"
printf '%-10s %-15s %10s %10s %12s\n' corpus tool seconds MB/s firebreak_x
for corpus in tree log; do
  if [ $corpus = tree ]; then target=$TREE; bytes=$tree_bytes; else target=$LOG; bytes=$log_bytes; fi
  # Round by round, every tool once, so that a drift of the machine's speed
  # (common on shared VMs) weighs on all tools alike. A tool that timed out is
  # not run again; a run over 20 s is not repeated (noise is a small part of it).
  declare -A times=() done_=()
  for ((i = 0; i < RUNS; i++)); do
    for tool in $TOOLS; do
      [ -n "${done_[$tool]:-}" ] && continue
      t=$(run "$tool" "$target")
      if [ "$t" = timeout ]; then times[$tool]=timeout; done_[$tool]=1; continue; fi
      times[$tool]="${times[$tool]:-} $t"
      if awk -v t="$t" 'BEGIN {exit !(t > 20)}'; then done_[$tool]=1; fi
    done
  done
  fb_mbs=""
  for tool in $TOOLS; do
    if [ "${times[$tool]}" = timeout ]; then
      secs=timeout
    else
      echo "  $tool on $(basename "$target"):${times[$tool]} s" >&2
      # shellcheck disable=SC2086 # word splitting intended: one argument per run
      secs=$(median ${times[$tool]})
    fi
    if [ "$secs" = timeout ]; then
      mbs=$(awk -v b="$bytes" -v t="$TIMEOUT" 'BEGIN {printf "<%.1f", b/1e6/t}')
      ratio=$( [ -n "$fb_mbs" ] && awk -v f="$fb_mbs" -v b="$bytes" -v t="$TIMEOUT" 'BEGIN {printf ">%.1f", f/(b/1e6/t)}' || echo -)
      secs=">$TIMEOUT"
    else
      mbs=$(awk -v b="$bytes" -v t="$secs" 'BEGIN {printf "%.1f", b/1e6/(t>0?t:0.01)}')
      if [ "$tool" = firebreak ]; then fb_mbs=$mbs; ratio=1.0; else
        ratio=$( [ -n "$fb_mbs" ] && awk -v f="$fb_mbs" -v m="$mbs" 'BEGIN {printf "%.1f", f/m}' || echo -); fi
    fi
    printf '%-10s %-15s %10s %10s %12s\n' "$corpus" "$tool" "$secs" "$mbs" "$ratio"
  done
  unset times done_
done
