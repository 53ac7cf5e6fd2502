#!/usr/bin/env bash
# Headless Chromium for the dashboard browser test (crates/dashboard/tests/browser.rs):
# - Debian's `chromium` package (apt) when /usr/bin/chromium is missing; no browser download;
# - playwright-core from npm, pinned by scripts/browser/package-lock.json, into
#   .tools/playwright (`npm ci`, only when the lock file changed since the last install).
# Writes .tools/env.d/chromium.sh exporting FIREBREAK_CHROMIUM (the browser binary) and
# FIREBREAK_PLAYWRIGHT_DIR (where node finds playwright-core and the driver script).
# Idempotent: a re-run with both installed takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/../.."
CHROMIUM=/usr/bin/chromium
DIR="$PWD/.tools/playwright"
SRC=scripts/browser
mkdir -p "$DIR" .tools/env.d

if [ ! -x "$CHROMIUM" ]; then
  echo "70-chromium: installing chromium (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  APT=(apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends chromium fonts-dejavu-core)
  if ! "${APT[@]}" >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout=300 update >/dev/null
    "${APT[@]}" >/dev/null
  fi
  [ -x "$CHROMIUM" ] || { echo "70-chromium: $CHROMIUM missing after apt-get install chromium" >&2; exit 1; }
fi

WANT=$(sha256sum "$SRC/package-lock.json" | cut -d' ' -f1)
if [ -f "$DIR/node_modules/playwright-core/package.json" ] && [ "$(cat "$DIR/.lock-sha256" 2>/dev/null)" = "$WANT" ]; then
  :
else
  command -v npm >/dev/null || { echo "70-chromium: npm is required (Node 20+)" >&2; exit 1; }
  echo "70-chromium: installing playwright-core (npm ci)" >&2
  cp "$SRC/package.json" "$SRC/package-lock.json" "$DIR/"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$DIR" --no-audit --no-fund --loglevel=error >&2
  echo "$WANT" >"$DIR/.lock-sha256"
fi

{
  printf 'export FIREBREAK_CHROMIUM=%q\n' "$CHROMIUM"
  printf 'export FIREBREAK_PLAYWRIGHT_DIR=%q\n' "$DIR"
} >.tools/env.d/chromium.sh
