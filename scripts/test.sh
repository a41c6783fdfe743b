#!/usr/bin/env bash
# The whole test suite: installs every third-party checker it needs (idempotent, as root), checks
# formatting and clippy (warnings are errors), then runs the unit tests, the BuildKit parser
# conformance suite, the generated-pipeline checks (schemas, actionlint, zizmor, yamllint,
# gitlab-ci-local, act, pre-commit) and the end-to-end builds against a real local registry.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-tools.sh
# BuildKit's parser test files are read at run time from ../shared (see tests/it/conformance.rs).
if [ ! -d "${GEN_PIPELINE_CONFORMANCE_DIR:-../shared/conformance/buildkit-parser}" ]; then
  echo "missing ../shared/conformance/buildkit-parser: the conformance test will fail" >&2
fi
cargo fmt --check
# Clippy's default lints are an error here, so a warning cannot creep back in.
cargo clippy --locked --all-targets -- -D warnings
cargo build --locked --all-targets
cargo test --locked --all-targets -- --test-threads="${GEN_PIPELINE_TEST_THREADS:-2}"
