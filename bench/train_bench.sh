#!/usr/bin/env bash
# Training speed in one run, on one machine and one data set: the framework
# (bench/train_bench.cpp) beside the same models in plain PyTorch
# (bench/torch_peer.py, Debian's python3-torch), then bench/train_table.py
# turns the JSON lines into a table of ratios.
#
#   peak       float32 matmul GFLOP/s, the denominator of model FLOP utilisation
#   headline   paper preset (4 layers, 5 experts, k = 3, D = 16) and DCN-V2,
#              batch 4096 and 256, dense and row-sparse embedding gradients
#              (PyTorch: Adam, or SparseAdam for the table): framework vs peer
#   sparsity   paper preset at k = 1, 2, 3 and 5, with and without the depth
#              controller, beside the FLOPs per example the model counts
#   vocabulary DCN-V2 step time as the embedding tables grow 100x
#   memory     one epoch over 1M and over 4M rows: resident memory
#
# Usage: bench/train_bench.sh [BUILD_DIR] [DATA_DIR] [OUT_DIR]
# Environment: BENCH_THREADS (2), BENCH_QUICK=1 (fewer steps, for a smoke
# run), PYTHON (/usr/bin/python3, with torch and numpy).
set -euo pipefail
build=$(realpath -m -- "${1:-build}")
data=$(realpath -m -- "${2:-${TMPDIR:-/tmp}/adaensemble-bench-data}")
out=$(realpath -m -- "${3:-runs/bench}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
threads=${BENCH_THREADS:-2}
python=${PYTHON:-/usr/bin/python3}
mkdir -p "$out"
lines="$out/train_bench.jsonl"
: >"$lines"

if [[ ! -f "$data/day_0.tsv" ]]; then
  "$build/bin/adaensemble-data" synth --out "$data" --rows 1000000 --days 1 --seed 1 >/dev/null
fi
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
  paper_steps=2 dcn_steps=3 small_steps=10
else
  paper_steps=10 dcn_steps=20 small_steps=100
fi

bench() { "$build/bin/train_bench" "$@" --threads "$threads" | tee -a "$lines"; }
peer() {
  OMP_NUM_THREADS=$threads "$python" bench/torch_peer.py "$@" --threads "$threads" |
    tee -a "$lines"
}

echo "== peak"
bench peak

echo "== headline: framework vs plain PyTorch"
# As many batches as the longest case reads, so the peer never reuses one.
peer_data="$out/peer-batches"
"$build/bin/train_bench" dump --data "$data/day_0.tsv" --out "$peer_data" \
  --batches $((3 + dcn_steps)) >/dev/null
for model in paper dcnv2; do
  steps=$paper_steps
  [[ $model == dcnv2 ]] && steps=$dcn_steps
  for batch in 4096 256; do
    n=$steps warm=3
    if [[ $batch == 256 ]]; then n=$small_steps warm=10; fi
    for sparse in 0 1; do
      bench train --data "$data/day_0.tsv" --model "$model" --batch "$batch" --steps "$n" \
        --warmup "$warm" --sparse "$sparse"
      peer --data "$peer_data" --model "$model" --batch "$batch" --steps "$n" --warmup "$warm" \
        --sparse "$sparse"
    done
  done
done

echo "== sparsity: top-k and the depth controller"
for controller in 1 0; do
  for k in 1 2 3 5; do
    bench train --data "$data/day_0.tsv" --model paper --top-k "$k" --controller "$controller" \
      --steps "$paper_steps" --warmup 2 --sparse 1
  done
done

echo "== vocabulary: tables 1x and 100x"
for scale in 1 100; do
  for sparse in 0 1; do
    bench train --data "$data/day_0.tsv" --model dcnv2 --min-count 20 --table-scale "$scale" \
      --sparse "$sparse" --steps "$dcn_steps" --warmup 3
  done
done

echo "== memory: one epoch over 1M and 4M rows"
if [[ ! -f "$data/x4/day_3.tsv" ]]; then
  "$build/bin/adaensemble-data" synth --out "$data/x4" --rows 1000000 --days 4 --seed 2 >/dev/null
fi
four="$data/x4/day_0.tsv,$data/x4/day_1.tsv,$data/x4/day_2.tsv,$data/x4/day_3.tsv"
bench train --data "$data/x4/day_0.tsv" --model logistic --sparse 1 --steps -1 --warmup 2
bench train --data "$four" --model logistic --sparse 1 --steps -1 --warmup 2

"$python" bench/train_table.py "$lines" | tee "$out/train_bench.md"
echo "wrote $lines and $out/train_bench.md"
