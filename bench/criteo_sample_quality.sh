#!/usr/bin/env bash
# Model quality on the real 10k-row Criteo sample, split as
# configs/criteo_sample.yaml splits it (8,000 train, 1,000 validation, 1,000
# test rows): AdaEnsemble with the paper and reference presets, each trained
# joint and bi-level, and logistic regression, all by adaensemble-train from
# that one config. Prints each best model's test AUC and logloss as a table.
#
# Usage: bench/criteo_sample_quality.sh [BUILD_DIR [OUT_DIR]] [--set KEY=VALUE ...]
# The --set arguments apply to every run (e.g. --set model.dropout=0.2).
# Environment: QUALITY_THREADS (intra-op threads, 1), PYTHON (/usr/bin/python3).
set -euo pipefail
positional=()
while [[ $# -gt 0 && $1 != --* && ${#positional[@]} -lt 2 ]]; do
  positional+=("$1")
  shift
done
build=$(realpath -m -- "${positional[0]:-build}")
out=$(realpath -m -- "${positional[1]:-runs/criteo_sample_quality}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
config=configs/criteo_sample.yaml
python=${PYTHON:-/usr/bin/python3}
if [[ ! -f ../shared/data/criteo/criteo_kaggle_head10k.autoint_train_examples.txt ]]; then
  echo "the Criteo sample is not in ../shared/data/criteo; nothing to measure" >&2
  exit 2
fi
mkdir -p "$out"

# model|mode|the --set arguments that make the run.
runs=(
  "paper|bilevel|--set model.preset=paper"
  "paper|joint|--set model.preset=paper"
  "reference|bilevel|--set model.preset=reference"
  "reference|joint|--set model.preset=reference"
  "logistic regression|joint|--set model.architecture=logistic"
)
for run in "${runs[@]}"; do
  IFS='|' read -r name mode extra <<<"$run"
  read -r -a sets <<<"$extra --set train.mode=$mode"
  name="$name $mode"
  dir="$out/${name// /_}"
  rm -rf -- "$dir"
  echo "== $name" >&2
  "$build/bin/adaensemble-train" --config "$config" --output "$dir" "${sets[@]}" "$@" \
    --set "train.threads=${QUALITY_THREADS:-1}" --set log_level=warn | tail -1 >"$dir.json"
done

"$python" - "$out" "${runs[@]}" <<'PY'
import json
import sys

out = sys.argv[1]
print("| model | mode | best step | test AUC | test logloss |")
print("|---|---|---|---|---|")
for run in sys.argv[2:]:
    model, mode = run.split("|")[:2]
    with open(f"{out}/{model.replace(' ', '_')}_{mode}.json") as f:
        summary = json.load(f)
    test = summary["test"]
    row = [model, mode, summary["best_step"], f"{test['auc']:.4f}", f"{test['logloss']:.4f}"]
    print("| " + " | ".join(map(str, row)) + " |")
PY
