#!/usr/bin/env bash
# Installs cargo-machete (crates.io, pinned) into .tools/cargo-machete for the unused-
# dependency check in .ci/run (`cargo machete`), and writes .tools/env.d/cargo-machete.sh
# putting its bin/ first on PATH (so `cargo machete` finds it).
# Idempotent: does nothing when the pinned version is already installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=0.9.2
DIR="$PWD/.tools/cargo-machete"
BIN="$DIR/bin/cargo-machete"
mkdir -p .tools/env.d
if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -qx "cargo-machete $VERSION"; then
  :
else
  command -v cargo >/dev/null || { echo "10-cargo-machete.sh: cargo is required" >&2; exit 1; }
  # Its own target dir: never the workspace's (a concurrent build would wait on its lock).
  CARGO_TARGET_DIR="$DIR/build" cargo install --locked --root "$DIR" --version "$VERSION" cargo-machete >&2
  rm -rf "$DIR/build"
fi
printf 'export PATH=%q:"$PATH"\n' "$DIR/bin" >.tools/env.d/cargo-machete.sh
