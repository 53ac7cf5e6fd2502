#!/usr/bin/env bash
# Installs the PyPI `duckdb` package into a venv under .tools/duckdb-venv (idempotent) and
# writes .tools/env.d/duckdb.sh exporting FIREBREAK_PYTHON (a python with duckdb importable).
# Used by the `firebreak hunt compile --target duckdb` equivalence test and bench/hunt.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.tools/duckdb-venv
PY="$PWD/$VENV/bin/python"
mkdir -p .tools/env.d
if ! "$PY" -c 'import duckdb' >/dev/null 2>&1; then
  python3 -m venv "$VENV" 2>/dev/null || { python3 -m pip install --user virtualenv >/dev/null && python3 -m virtualenv "$VENV"; }
  "$PY" -m pip install --quiet --disable-pip-version-check 'duckdb>=1.1,<2'
fi
"$PY" -c 'import duckdb; print("duckdb", duckdb.__version__)' >&2
echo "export FIREBREAK_PYTHON=\"$PY\"" > .tools/env.d/duckdb.sh
