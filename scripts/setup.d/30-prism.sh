#!/usr/bin/env bash
# Installs Stoplight Prism (npm @stoplight/prism-cli, pinned) into .tools/prism for the
# provider-connector tests (crates/providers/tests/prism.rs), with GitHub's complete official
# API description (npm @octokit/openapi, pinned), and writes .tools/env.d/prism.sh exporting
# FIREBREAK_PRISM=<path to the prism binary> and FIREBREAK_GITHUB_OPENAPI=<the description>.
# Idempotent: does nothing when the pinned version is already installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=5.14.2
OCTOKIT=23.0.2
DIR="$PWD/.tools/prism"
BIN="$DIR/node_modules/.bin/prism"
mkdir -p "$DIR" .tools/env.d
if [ -x "$BIN" ] && [ "$(cat "$DIR/.version" 2>/dev/null)" = "$VERSION+$OCTOKIT" ]; then
  :
else
  command -v npm >/dev/null || { echo "30-prism.sh: npm is required (Node 18+)" >&2; exit 1; }
  [ -f "$DIR/package.json" ] || echo '{"name":"firebreak-tools-prism","private":true}' >"$DIR/package.json"
  npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "@stoplight/prism-cli@$VERSION" "@octokit/openapi@$OCTOKIT" >&2
  echo "$VERSION+$OCTOKIT" >"$DIR/.version"
fi
{
  printf 'export FIREBREAK_PRISM=%q\n' "$BIN"
  printf 'export FIREBREAK_GITHUB_OPENAPI=%q\n' "$DIR/node_modules/@octokit/openapi/generated/api.github.com.json"
} >.tools/env.d/prism.sh
