#!/usr/bin/env bash
# Model quality on the real 10k-row Criteo sample, split as
# configs/criteo_sample.yaml splits it (8,000 train, 1,000 validation, 1,000
# test rows): AdaEnsemble with the paper and reference presets, each trained
# joint and bi-level, and logistic regression, all by adaensemble-train from
# that one config. Prints each best model's test AUC and logloss as a table.
#
# Usage: bench/criteo_sample_quality.sh [BUILD_DIR] [OUT_DIR] [--set KEY=VALUE ...]
# Extra --set arguments apply to every run (e.g. --set model.dropout=0.1).
# Environment: QUALITY_THREADS (1; the figures do not depend on it, the time
# does), PYTHON (/usr/bin/python3).
set -euo pipefail
build=$(realpath -m -- "${1:-build}")
out=$(realpath -m -- "${2:-runs/criteo_sample_quality}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shift $(( $# < 2 ? $# : 2 ))
config=configs/criteo_sample.yaml
python=${PYTHON:-/usr/bin/python3}
if [[ ! -f ../shared/data/criteo/criteo_kaggle_head10k.autoint_train_examples.txt ]]; then
  echo "the Criteo sample is not in ../shared/data/criteo; nothing to measure" >&2
  exit 2
fi
mkdir -p "$out"

# name, then the --set arguments that make the run.
runs=(
  "paper bilevel|--set model.preset=paper --set train.mode=bilevel"
  "paper joint|--set model.preset=paper --set train.mode=joint"
  "reference bilevel|--set model.preset=reference --set train.mode=bilevel"
  "reference joint|--set model.preset=reference --set train.mode=joint"
  "logistic regression|--set model.architecture=logistic --set train.mode=joint"
)
for run in "${runs[@]}"; do
  name=${run%%|*}
  read -r -a sets <<<"${run#*|}"
  dir="$out/${name// /_}"
  rm -rf -- "$dir"
  echo "== $name" >&2
  "$build/bin/adaensemble-train" --config "$config" --output "$dir" "${sets[@]}" "$@" \
    --set "train.threads=${QUALITY_THREADS:-1}" --set log_level=warn | tail -1 >"$dir.json"
done

"$python" - "$out" "${runs[@]}" <<'PY'
import json
import sys

out, runs = sys.argv[1], [r.split("|")[0] for r in sys.argv[2:]]
print("| model | mode | best step | test AUC | test logloss |")
print("|---|---|---|---|---|")
for name in runs:
    with open(f"{out}/{name.replace(' ', '_')}.json") as f:
        summary = json.load(f)
    model, mode = name.rsplit(" ", 1) if name != "logistic regression" else (name, "joint")
    test = summary["test"]
    print(f"| {model} | {mode} | {summary['best_step']} | {test['auc']:.4f} | {test['logloss']:.4f} |")
PY
