#!/usr/bin/env bash
# Installs PySpark (the PyPI package, which bundles Spark) into a venv under
# .tools/pyspark-venv and a JRE from Debian packages when `java` is missing (idempotent);
# writes .tools/env.d/pyspark.sh exporting FIREBREAK_SPARK_PYTHON (a python with pyspark
# importable) and JAVA_HOME. Used by the `firebreak hunt compile --target spark`
# equivalence test (Spark in local mode).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.tools/pyspark-venv
PY="$PWD/$VENV/bin/python"
mkdir -p .tools/env.d
if ! command -v java >/dev/null 2>&1; then
  echo "80-pyspark: installing a JRE (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends openjdk-17-jre-headless >/dev/null 2>&1; then
    apt-get update >/dev/null
    apt-get install -y --no-install-recommends openjdk-17-jre-headless >/dev/null
  fi
fi
JAVA_BIN=$(readlink -f "$(command -v java)")
JAVA_HOME=$(dirname "$(dirname "$JAVA_BIN")")
if ! "$PY" -c 'import pyspark' >/dev/null 2>&1; then
  python3 -m venv "$VENV" 2>/dev/null || { python3 -m pip install --user virtualenv >/dev/null && python3 -m virtualenv "$VENV"; }
  "$PY" -m pip install --quiet --disable-pip-version-check 'pyspark>=3.5,<4'
fi
"$PY" -c 'import pyspark; print("pyspark", pyspark.__version__)' >&2
{
  echo "export FIREBREAK_SPARK_PYTHON=\"$PY\""
  echo "export JAVA_HOME=\"$JAVA_HOME\""
} > .tools/env.d/pyspark.sh
