#!/usr/bin/env bash
# Regenerate every committed generated file after a template or planner change: the examples'
# pipelines, the dogfood workflow and the insta snapshots of the examples. Review the diff after.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -q
bin=target/debug/gen-pipeline
for cfg in examples/*/gen-pipeline.yml; do
  # gitlab-dynamic's child pipeline is generated at run time by its parent job, not committed.
  case "$cfg" in examples/gitlab-dynamic/*) continue ;; esac
  "$bin" --config "$cfg"
done
"$bin"
INSTA_UPDATE=always cargo test --locked -q --test it pipelines::snapshots >/dev/null 2>&1 || true
cargo test --locked -q --test it pipelines::snapshots
