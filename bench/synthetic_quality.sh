#!/usr/bin/env bash
# Model quality against known truth: 1M synthetic training rows (day 0, 5% of
# them held out for validation), a held-out day (day 1, 200k rows) as test.
# Trains AdaEnsemble (paper preset), a plain MLP from the same framework (one
# dense expert, no router, no controller) and logistic regression with
# adaensemble-train, and prints each test AUC beside the Bayes-optimal AUC of
# the generator's true click probabilities on the same rows.
#
# Usage: bench/synthetic_quality.sh [BUILD_DIR] [DATA_DIR] [OUT_DIR] [MODEL...]
# MODEL is any of adaensemble, mlp, logistic (default: all three); each run
# replaces OUT_DIR/MODEL. Every model maps values seen fewer than 20 times to
# the unknown id. AdaEnsemble and the MLP share one optimizer recipe: Adam
# 3e-3 after a 200-step warm-up, L2 1e-4 on the embedding tables (dense
# gradients, so every row decays at every step), tables initialised with
# standard deviation 0.03, up to 6 epochs. Logistic regression trains with
# Adam 3e-3 and table L2 1e-5, the best validation AUC of lr 1e-3, 3e-3 and
# 1e-2 by table L2 0, 1e-5 and 1e-4, for up to 10 epochs. Each run
# evaluates every 50 steps, halves its rates after 2 evaluations without gain
# and stops after 3.
# Environment: QUALITY_MODE (AdaEnsemble's train.mode: joint, the default, or
# bilevel, which costs about 2.3x per step), QUALITY_THREADS (2),
# QUALITY_SET (more adaensemble-train arguments for every run, split at
# spaces, so no spaces inside a value; with model keys name one MODEL, e.g.
# QUALITY_SET="--set model.num_layers=1 --set model.controller.enabled=false"
# and MODEL adaensemble: docs/training.md lists the variants run this way),
# PYTHON (/usr/bin/python3).
set -euo pipefail
build=$(realpath -m -- "${1:-build}")
data=$(realpath -m -- "${2:-${TMPDIR:-/tmp}/adaensemble-quality-data}")
out=$(realpath -m -- "${3:-runs/quality}")
cd "$(dirname "${BASH_SOURCE[0]}")/.."
shift $(( $# < 3 ? $# : 3 ))
models=("$@")
[[ ${#models[@]} -eq 0 ]] && models=(adaensemble mlp logistic)
for model in "${models[@]}"; do
  case $model in
    adaensemble | mlp | logistic) ;;
    *) echo "unknown model $model (expected adaensemble, mlp or logistic)" >&2; exit 2 ;;
  esac
done
threads=${QUALITY_THREADS:-2}
python=${PYTHON:-/usr/bin/python3}
read -ra extra <<<"${QUALITY_SET:-}"
test_rows=200000
mkdir -p "$out"

if [[ ! -f "$data/day_1.truth" ]]; then
  "$build/bin/adaensemble-data" synth --out "$data" --rows 1000000 --days 2 --seed 1 >/dev/null
fi

# The shared data and training sections (name, mode, epochs, learning rate,
# warm-up steps, table decay), early stopping and plateau included; each model
# adds its own `model:`.
common() {
  cat <<EOF
output_dir: "$out/$1"
data:
  format: criteo
  train:
    - path: "$data/day_0.tsv"
  valid_fraction: 0.05
  test:
    - path: "$data/day_1.tsv"
      rows: [0, $test_rows]
  min_count: 20
train:
  mode: $2
  batch_size: 4096
  epochs: $3
  seed: 42
  threads: $threads
  eval_every: 50
  early_stopping: {patience: 3}
  plateau: {patience: 2}
  optimizer: {lr: $4, warmup_steps: $5, embedding_weight_decay: $6}
EOF
}

# The recipe AdaEnsemble and the MLP share: epochs, learning rate, warm-up
# steps and table decay for `common`, then the start of their `model:`.
deep_recipe=(6 3e-3 200 1e-4)
deep_model() { printf 'model:\n  preset: paper\n  embedding: {init_std: 0.03}\n'; }

for model in "${models[@]}"; do
  config="$out/$model.yaml"
  case $model in
    adaensemble)
      # k anneals from 5 to 3 over the first 300 steps (about 230 an epoch).
      { common "$model" "${QUALITY_MODE:-joint}" "${deep_recipe[@]}"; deep_model
        printf '  gate: {anneal_steps: 300}\n'; } >"$config" ;;
    mlp)
      { common "$model" joint "${deep_recipe[@]}"; deep_model
        printf '  num_layers: 1\n  experts: [dense]\n'
        printf '  gate: {top_k: 1, anneal_steps: 0}\n  controller: {enabled: false}\n'; } >"$config" ;;
    logistic)
      # A convex model gets the epochs it needs; early stopping ends it.
      common "$model" joint 10 3e-3 0 1e-5 >"$config"
      printf 'model:\n  architecture: logistic\n' >>"$config" ;;
  esac
  echo "== $model"
  rm -rf -- "${out:?}/$model"
  "$build/bin/adaensemble-train" --config "$config" --set log_level=warn "${extra[@]}" \
    | tail -1 >"$out/$model.train.json"
done

"$python" - "$data" "$out" "$test_rows" "${models[@]}" <<'EOF'
import json
import sys

import numpy as np


def auc(scores, labels):
    # Rank-based AUC with ties sharing their average rank.
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    positives = labels.sum()
    negatives = len(labels) - positives
    return (ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)


data, out, rows, models = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
truth = np.loadtxt(f"{data}/day_1.truth", max_rows=rows)
with open(f"{data}/day_1.tsv") as tsv:
    labels = np.array([float(next(tsv).split("\t", 1)[0]) for _ in range(rows)])
bayes = auc(truth, labels)
print("| model | test AUC | test logloss | share of the gap to Bayes closed vs logistic |")
print("|---|---|---|---|")
results = {}
for model in models:
    with open(f"{out}/{model}.train.json") as f:
        results[model] = json.load(f)["test"]
base = results.get("logistic", {}).get("auc")
for model, test in results.items():
    closed = "-"
    if base is not None and model != "logistic" and bayes > base:
        closed = f"{(test['auc'] - base) / (bayes - base):.0%}"
    print(f"| {model} | {test['auc']:.4f} | {test['logloss']:.4f} | {closed} |")
print(f"| Bayes-optimal (true probabilities) | {bayes:.4f} | - | - |")
EOF
