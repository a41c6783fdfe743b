#!/usr/bin/env bash
# gen-pipeline benchmark (a script, not a timed test). Writes bench/out/*.json and prints a summary.
#   1. parse + graph of a ~10 MB synthetic Dockerfile (thousands of stages), measured in-process
#      with the hidden `plan --format none --timings` (reading the file excluded), min/median of N runs;
#      plus the whole process on that file with hyperfine;
#   2. a whole `gen-pipeline plan` process on a 50-stage Dockerfile (hyperfine);
#   3. hadolint (the static binary, not a shim) on that same 50-stage file, as the reference point.
# Usage: bench/run.sh            (RUNS=N to change the in-process sample count)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-15}
OUT=bench/out
mkdir -p "$OUT"

cargo build --release --quiet
BIN=target/release/gen-pipeline
HADOLINT=$(command -v pyenv >/dev/null && pyenv which hadolint 2>/dev/null || command -v hadolint)

python3 bench/gen.py 1000 --min-bytes 10485760 > "$OUT/big.Dockerfile"
python3 bench/gen.py 50 --no-heredoc > "$OUT/stages50.Dockerfile"
BIG_BYTES=$(wc -c < "$OUT/big.Dockerfile")
BIG_STAGES=$(grep -c '^FROM ' "$OUT/big.Dockerfile")

echo "== machine: $(nproc) cores, $(uname -sr), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== 1. in-process parse+graph, $BIG_BYTES bytes, $BIG_STAGES stages, $RUNS runs"
: > "$OUT/big-timings.txt"
for _ in $(seq "$RUNS"); do
  "$BIN" plan --no-config -f "$OUT/big.Dockerfile" --format none --timings 2>&1 >/dev/null | grep '^timings' >> "$OUT/big-timings.txt"
done
# timings: parse P ms, graph G ms, stages N
awk '{p=$3; g=$6; t=p+g; print t, p, g}' "$OUT/big-timings.txt" | sort -n > "$OUT/big-sorted.txt"
awk -v n="$RUNS" 'NR==1{printf "min    parse+graph %.1f ms (parse %.1f, graph %.1f)\n",$1,$2,$3}
  NR==int((n+1)/2){printf "median parse+graph %.1f ms (parse %.1f, graph %.1f)\n",$1,$2,$3}' "$OUT/big-sorted.txt"

echo "== 1b. whole process on the 10 MB file"
hyperfine -N --warmup 2 --runs 10 --export-json "$OUT/big-process.json" \
  "$BIN plan --no-config -f $OUT/big.Dockerfile --format none"

echo "== 2. whole gen-pipeline plan process, 50 stages"
hyperfine -N --warmup 20 --runs 300 --export-json "$OUT/plan50.json" \
  "$BIN plan --no-config -f $OUT/stages50.Dockerfile --format text" \
  "$BIN plan --no-config -f $OUT/stages50.Dockerfile --format json"

echo "== 3. hadolint on the same 50-stage file ($HADOLINT)"
hyperfine -N -i --warmup 3 --runs 30 --export-json "$OUT/hadolint50.json" "$HADOLINT $OUT/stages50.Dockerfile"

python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
def mean(f, i=0):
    r = json.load(open(f"{out}/{f}"))["results"][i]
    return r["mean"] * 1e3, r["stddev"] * 1e3, r["min"] * 1e3
t, ts, tmin = mean("plan50.json", 0)
j, js, jmin = mean("plan50.json", 1)
h, hs, hmin = mean("hadolint50.json")
print(f"plan text 50 stages: {t:.2f} ± {ts:.2f} ms (min {tmin:.2f})")
print(f"plan json 50 stages: {j:.2f} ± {js:.2f} ms (min {jmin:.2f})")
print(f"hadolint 50 stages:  {h:.2f} ± {hs:.2f} ms (min {hmin:.2f})")
print(f"speed-up vs hadolint (mean): text {h / t:.1f}x, json {h / j:.1f}x")
PY
