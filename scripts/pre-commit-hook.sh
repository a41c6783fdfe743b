#!/usr/bin/env bash
# Entry of the compiling pre-commit hooks (.pre-commit-hooks.yaml at the repository root): builds
# gen-pipeline from this hook repository WITH ITS LOCKFILE, then runs it with the hook's arguments.
#
# Not `language: rust`: pre-commit installs those with `cargo install --path .` and no `--locked`,
# which ignores Cargo.lock and re-resolves every dependency to its newest version
# (https://github.com/pre-commit/pre-commit/issues/3162, open; cargo-install(1), "Dealing with the
# lockfile"). Here `cargo build --release --locked` builds into target/ inside pre-commit's clone of
# this repository (one clone per hook revision): minutes the first time, then a no-op check of
# well under a second. CARGO_TARGET_DIR, when set, is used instead.
# Needs cargo (Rust >= rust-version in Cargo.toml) on PATH; the pre-commit mirror
# (pre-commit-mirror/, `language: python`) installs the prebuilt wheel and compiles nothing.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
if ! command -v cargo >/dev/null 2>&1; then
  echo "gen-pipeline hook: cargo is not on PATH. Install Rust, or use the hooks of" \
    "gen-pipeline-pre-commit, which install the prebuilt binary (see the README, Install)." >&2
  exit 2
fi
cargo build --release --locked --quiet --bin gen-pipeline \
  --manifest-path "$repo/Cargo.toml" --target-dir "$target"
exec "$target/release/gen-pipeline" "$@"
