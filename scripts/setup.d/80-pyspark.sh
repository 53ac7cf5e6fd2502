#!/usr/bin/env bash
# Installs PySpark (PyPI `pyspark`, pinned) into a venv at .tools/pyenv-spark, and a JDK
# from Debian's packages when `java` is missing, for the Spark SQL equivalence test of
# `firebreak hunt compile --target spark` (crates/hunt/tests/spark_values.rs): the test
# runs the compiled queries in Spark's local mode and compares the rows with the native
# engine's findings. Writes .tools/env.d/spark.sh exporting FIREBREAK_SPARK_PYTHON (the
# venv's python) and JAVA_HOME. Idempotent: nothing to do when the pinned version is in
# place.
set -euo pipefail
cd "$(dirname "$0")/../.."
PKGS=("pyspark==3.5.3")
STAMP="${PKGS[*]}"
DIR="$PWD/.tools/pyenv-spark"
mkdir -p .tools/env.d
if ! command -v java >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq >&2 && $SUDO apt-get install -y -qq openjdk-17-jre-headless >&2
  else
    echo "80-pyspark.sh: java (a JDK 8/11/17) is required for PySpark" >&2
    exit 1
  fi
fi
if [ -x "$DIR/bin/python" ] && [ "$(cat "$DIR/.stamp" 2>/dev/null)" = "$STAMP" ] && "$DIR/bin/python" -c 'import pyspark' 2>/dev/null; then
  :
else
  command -v python3 >/dev/null || { echo "80-pyspark.sh: python3 (3.8+) with venv is required" >&2; exit 1; }
  python3 -m venv "$DIR"
  "$DIR/bin/python" -m pip install --quiet --disable-pip-version-check "${PKGS[@]}" >&2
  echo "$STAMP" >"$DIR/.stamp"
fi
JAVA_BIN=$(readlink -f "$(command -v java)")
JH=$(dirname "$(dirname "$JAVA_BIN")")
{
  printf 'export FIREBREAK_SPARK_PYTHON=%q\n' "$DIR/bin/python"
  printf 'export JAVA_HOME=%q\n' "$JH"
} >.tools/env.d/spark.sh
