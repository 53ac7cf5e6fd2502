#!/usr/bin/env bash
# Installs moto (PyPI `moto[server]`, pinned) into a venv at .tools/pyenv-moto for the
# rotation engine's AWS IAM tests (crates/rotate/tests/aws_moto.rs): the tests start
# `moto_server` on a free 127.0.0.1 port and drive CreateAccessKey / UpdateAccessKey /
# DeleteAccessKey / ListAccessKeys against it with firebreak's own SigV4 client.
# Writes .tools/env.d/moto.sh exporting FIREBREAK_MOTO_SERVER=<path to moto_server>.
# Idempotent: does nothing when the pinned version is already installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
PKGS=("moto[server]==5.2.5")
STAMP="${PKGS[*]}"
DIR="$PWD/.tools/pyenv-moto"
BIN="$DIR/bin/moto_server"
mkdir -p .tools/env.d
if [ -x "$BIN" ] && [ "$(cat "$DIR/.stamp" 2>/dev/null)" = "$STAMP" ] && "$DIR/bin/python" -c 'import moto.server' 2>/dev/null; then
  :
else
  command -v python3 >/dev/null || { echo "60-moto.sh: python3 (3.9+) with venv is required" >&2; exit 1; }
  python3 -m venv "$DIR"
  "$DIR/bin/python" -m pip install --quiet --disable-pip-version-check "${PKGS[@]}" >&2
  echo "$STAMP" >"$DIR/.stamp"
fi
printf 'export FIREBREAK_MOTO_SERVER=%q\n' "$BIN" >.tools/env.d/moto.sh
