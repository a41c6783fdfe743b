#!/usr/bin/env bash
# Job counts of the default plan on issue 10's corpus (tests/fixtures/plans/*.Dockerfile, each
# planned with the flags on its `# plan-args:` line): `bash bench/plan-corpus.sh [BIN]`.
# BIN defaults to target/debug/gen-pipeline. A binary from before issue 10 accepts one --platform
# only (it planned on the first anyway): OLD=1 passes it the first one.
# Prints, per file: the number of jobs and their ids (`error` when the file does not plan).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/debug/gen-pipeline}
total=0
for f in tests/fixtures/plans/*.Dockerfile; do
  read -r -a args <<<"$(sed -n 's/^# plan-args://p' "$f")"
  if [ "${OLD:-0}" = 1 ]; then
    kept=(); seen=0; i=0
    while [ $i -lt ${#args[@]} ]; do
      if [ "${args[$i]}" = --platform ]; then
        if [ $seen = 0 ]; then kept+=(--platform "${args[$((i + 1))]}"); seen=1; fi
        i=$((i + 2))
      else
        kept+=("${args[$i]}"); i=$((i + 1))
      fi
    done
    args=("${kept[@]+"${kept[@]}"}")
  fi
  if json=$("$bin" plan -f "$f" --image registry.example.com/acme/app --format json "${args[@]+"${args[@]}"}" 2>/dev/null); then
    n=$(jq '.jobs | length' <<<"$json")
    ids=$(jq -r '[.jobs[].id] | join(" ")' <<<"$json")
    total=$((total + n))
  else
    n=error; ids=""
  fi
  printf '%-28s %5s  %s\n' "$(basename "$f" .Dockerfile)" "$n" "$ids"
done
printf '%-28s %5s\n' total "$total"
