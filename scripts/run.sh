#!/usr/bin/env bash
# The main job on the built-in default: set up a fresh Debian 12 machine,
# build, make a synthetic Criteo-format dataset with a held-out day, train
# configs/quickstart.yaml, evaluate on the held-out day, export TorchScript
# and print the metrics. A second run reuses the build, the data and the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

bin=build/bin
data=quickstart-data
run=runs/quickstart
if [ ! -f "$data/day_1.truth" ]; then
  echo "run: making synthetic data in $data/" >&2
  "$bin/adaensemble-data" synth --out "$data" --rows 100000 --days 2 --seed 7
fi

mkdir -p "$(dirname "$run")"
resume=()
[ -f "$run/checkpoints/latest/state.json" ] && resume=(--resume)
echo "run: training configs/quickstart.yaml into $run/" >&2
"$bin/adaensemble-train" --config configs/quickstart.yaml --output "$run" "${resume[@]}" \
  | tail -n 1 > "$run.train.json"

echo "run: evaluating the best model on the held-out day" >&2
"$bin/adaensemble-eval" --checkpoint "$run/best" --data "$data/day_1.tsv" \
  --output "$run/eval_day_1.json" > /dev/null

echo "run: exporting the best model as TorchScript to $run/model.pt" >&2
"$bin/adaensemble-export" --checkpoint "$run/best" --output "$run/model.pt" > "$run/export.json"

echo "training:   $(cat "$run.train.json")"
echo "evaluation: $(tr -d '\n ' < "$run/eval_day_1.json")"
echo "export:     $(cat "$run/export.json")"
