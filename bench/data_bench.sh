#!/usr/bin/env bash
# Makes a 1M-row synthetic Criteo file if absent, times `wc -l` on it (best
# of 5), then runs bench/data_bench.cpp (parse + encode MB/s per core vs wc -l,
# stage times, and batch iteration examples/s). Both timings come from this
# one run. Usage: bench/data_bench.sh [BUILD_DIR] [DATA_DIR]
# With DATA_BENCH_BASELINE set to another build's data_bench binary, that one
# runs first against the same `wc -l` timings (a before/after comparison).
set -euo pipefail
build=${1:-build}
data=${2:-${TMPDIR:-/tmp}/adaensemble-bench-data}
if [[ ! -f "$data/day_0.tsv" ]]; then
  "$build/bin/adaensemble-data" synth --out "$data" --rows 1000000 --days 1 --seed 1 >/dev/null
fi
cat "$data/day_0.tsv" >/dev/null  # warm the page cache for both timings
# Best of 5 for both wall time and CPU time (user + system) of `wc -l`.
wc_seconds=""
wc_cpu=""
TIMEFORMAT='%R %U %S'
for _ in 1 2 3 4 5; do
  read -r wall user sys < <({ time wc -l "$data/day_0.tsv" >/dev/null; } 2>&1)
  cpu=$(echo "$user + $sys" | bc -l)
  if [[ -z "$wc_seconds" ]] || (( $(echo "$wall < $wc_seconds" | bc -l) )); then
    wc_seconds=$wall
  fi
  if [[ -z "$wc_cpu" ]] || (( $(echo "$cpu < $wc_cpu" | bc -l) )); then
    wc_cpu=$cpu
  fi
done
if [[ -n "${DATA_BENCH_BASELINE:-}" ]]; then
  echo "== baseline: $DATA_BENCH_BASELINE"
  "$DATA_BENCH_BASELINE" "$data/day_0.tsv" "$wc_seconds" "$wc_cpu"
  echo "== this build: $build/bin/data_bench"
fi
"$build/bin/data_bench" "$data/day_0.tsv" "$wc_seconds" "$wc_cpu"
