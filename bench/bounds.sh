#!/usr/bin/env bash
# Pathological inputs (issue 9, section 4): wall time and peak memory of whole gen-pipeline
# processes on the ARG doubling bomb, 100,000 stages, `${A#*b}` on a 60 KB value and a config
# nested 100,000 levels deep. A script, not a timed test: tests/it/bounds.rs asserts the
# results; this records how long they take. Figures: bench/RESULTS.md ("Bounds").
# Usage: bench/bounds.sh [BINARY]   (default: target/debug/gen-pipeline, built here)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/debug/gen-pipeline}
[ -n "${1:-}" ] || cargo build --quiet --locked
OUT=bench/out/bounds
mkdir -p "$OUT"
python3 - "$OUT" <<'PY'
import sys
out = sys.argv[1]
def write(name, text):
    open(f"{out}/{name}", "w").write(text)
for n in (24, 28):
    s = "ARG A0=0123456789abcdef\n" + "".join(f"ARG A{i+1}=${{A{i}}}${{A{i}}}\n" for i in range(n))
    write(f"bomb{n}.Dockerfile", s + f"FROM alpine:${{A{n}}}\n")
write("stages10k.Dockerfile", "".join(f"FROM img{i} AS s{i}\n" for i in range(10_000)))
write("stages100k.Dockerfile", "".join(f"FROM img{i} AS s{i}\n" for i in range(100_000)))
write("trim60k.Dockerfile", "ARG A=" + "a" * 60_000 + "b\nARG B=${A#*b}\nFROM alpine:x${B}\n")
write("nested5k.Dockerfile", "ARG X=" + "${a:-" * 5000 + "v" + "}" * 5000 + "\nFROM alpine:$X\n")
write("deep.yml", "targets: " + "[" * 100_000 + "\n")
write("Dockerfile", "FROM alpine AS app\n")
PY
run() { # label, expected exit code, command...
  local label=$1 want=$2; shift 2
  local t0 t1 rc=0
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S %M' -o "$OUT/rss" "$@" >/dev/null 2>"$OUT/stderr" || rc=$?
  t1=$(date +%s.%N)
  read -r user sys rss < <(tail -1 "$OUT/rss")
  printf '| %s | %s (want %s) | %.2f | %.2f | %d | %s |\n' "$label" "$rc" "$want" \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$user + $sys" | bc)" "$rss" \
    "$(grep -m1 -E 'error|warning' "$OUT/stderr" | sed "s|$OUT/||" | cut -c1-80 || true)"
}
echo "== $BIN; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| input | exit | wall s | CPU s (user+sys) | max RSS KB | first diagnostic |"
echo "|---|---|---|---|---|---|"
run "ARG doubling x24 (plan)" 2 "$BIN" plan --no-config -f "$OUT/bomb24.Dockerfile"
run "ARG doubling x28 (plan)" 2 "$BIN" plan --no-config -f "$OUT/bomb28.Dockerfile"
run "10k stages (plan --format text)" 0 "$BIN" plan --no-config -f "$OUT/stages10k.Dockerfile"
run "100k stages (plan --format text)" 0 "$BIN" plan --no-config -f "$OUT/stages100k.Dockerfile"
run "100k stages (plan --format json, 100k jobs)" 0 "$BIN" plan --no-config -f "$OUT/stages100k.Dockerfile" --format json --image registry.example.com/x --branch main --sha 0123456789abcdef0123456789abcdef01234567
run "\${A#*b} on 60 KB (plan)" 0 "$BIN" plan --no-config -f "$OUT/trim60k.Dockerfile"
run "\${a:-…} nested 5,000 deep (plan)" 2 "$BIN" plan --no-config -f "$OUT/nested5k.Dockerfile"
run "config nested 100k deep (plan --config)" 2 "$BIN" plan -f "$OUT/Dockerfile" --config "$OUT/deep.yml" --format json
