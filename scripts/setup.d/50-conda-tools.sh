#!/usr/bin/env bash
# Installs the packaging tools the census tests use to build REAL package files
# (crates/census/tests, crates/cli/tests/census_cli.rs):
#   - conda-package-handling + zstandard (PyPI): create .conda and .tar.bz2 conda packages
#   - build, wheel, setuptools: build wheels and sdists offline (--no-build-isolation)
# into a venv at .tools/pyenv-census, and writes .tools/env.d/census.sh exporting
# FIREBREAK_CENSUS_PYTHON=<the venv's python>.
# Idempotent: does nothing when the pinned set is already installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
# Pinned versions; bump together with the stamp below.
PKGS=(conda-package-handling==2.4.0 zstandard==0.25.0 build==1.2.2.post1 wheel==0.45.1 setuptools==75.8.0)
STAMP="${PKGS[*]}"
DIR="$PWD/.tools/pyenv-census"
PY="$DIR/bin/python"
mkdir -p .tools/env.d
if [ -x "$PY" ] && [ "$(cat "$DIR/.stamp" 2>/dev/null)" = "$STAMP" ] && "$PY" -c 'import conda_package_handling, zstandard, build, wheel, setuptools' 2>/dev/null; then
  :
else
  command -v python3 >/dev/null || { echo "50-conda-tools.sh: python3 (3.8+) with venv is required" >&2; exit 1; }
  python3 -m venv "$DIR"
  "$PY" -m pip install --quiet --disable-pip-version-check "${PKGS[@]}" >&2
  echo "$STAMP" >"$DIR/.stamp"
fi
printf 'export FIREBREAK_CENSUS_PYTHON=%q\n' "$PY" >.tools/env.d/census.sh
