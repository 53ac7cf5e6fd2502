#!/usr/bin/env bash
# Validation throughput against local mocks: N values over H hosts with a per-host rate
# limit R; prints the wall time, the rate bound (values per host / R) and their ratio.
# Usage: bench/validate.sh [N] [H] [R]   (defaults: 10000 values, 20 hosts, 50 req/s)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --quiet -p firebreak-validate --example validate_bench -- "${1:-10000}" "${2:-20}" "${3:-50}"
