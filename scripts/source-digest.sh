#!/usr/bin/env bash
# Prints the SHA-256 digest of every file the gen-pipeline binary is built from (Cargo.toml,
# Cargo.lock, src/, templates/), in a fixed order. The release workflow publishes it with each
# release (`source-digest.txt`); the Action computes it for its own checkout and downloads the
# release binary only when the two are equal, i.e. when the action's ref has exactly a release's
# sources. Works with GNU sha256sum (Linux, Git Bash on Windows) and BSD shasum (macOS).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v sha256sum >/dev/null 2>&1; then sha=(sha256sum); else sha=(shasum -a 256); fi
find Cargo.toml Cargo.lock src templates -type f -print0 | LC_ALL=C sort -z \
  | xargs -0 "${sha[@]}" | "${sha[@]}" | cut -c1-64
