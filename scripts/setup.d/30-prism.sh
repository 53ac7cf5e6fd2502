#!/usr/bin/env bash
# Installs Stoplight Prism (npm @stoplight/prism-cli, pinned) into .tools/prism for the
# provider-connector tests (crates/providers/tests/prism.rs), and writes
# .tools/env.d/prism.sh exporting FIREBREAK_PRISM=<path to the prism binary>.
# Idempotent: does nothing when the pinned version is already installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=5.14.2
DIR="$PWD/.tools/prism"
BIN="$DIR/node_modules/.bin/prism"
mkdir -p "$DIR" .tools/env.d
if [ -x "$BIN" ] && [ "$(cat "$DIR/.version" 2>/dev/null)" = "$VERSION" ]; then
  :
else
  command -v npm >/dev/null || { echo "30-prism.sh: npm is required (Node 18+)" >&2; exit 1; }
  [ -f "$DIR/package.json" ] || echo '{"name":"firebreak-tools-prism","private":true}' >"$DIR/package.json"
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "@stoplight/prism-cli@$VERSION" >&2
  echo "$VERSION" >"$DIR/.version"
fi
printf 'export FIREBREAK_PRISM=%q\n' "$BIN" >.tools/env.d/prism.sh
