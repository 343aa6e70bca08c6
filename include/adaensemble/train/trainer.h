// The training loop: bi-level (gate step on validation data, then S model
// steps on training data) or joint, with periodic evaluation, early stopping,
// learning-rate cuts on plateaus and atomic checkpoints. One Trainer runs one
// output directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "adaensemble/config/run_config.h"

namespace adaensemble::train {

struct TrainSummary {
  double best_valid_auc = 0.0;
  double best_valid_logloss = 0.0;
  int64_t best_step = -1;
  int64_t steps = 0;
  int64_t epochs = 0;
  double examples_per_sec = 0.0;
  double seconds = 0.0;
  double data_wait_fraction = 0.0;  ///< Share of loop time spent waiting for batches.
  std::string stop_reason;
  nlohmann::json test;  ///< Test-split metrics of the best model, when a test split is set.

  nlohmann::json to_json() const;
};

/// Trains `config` into config.output_dir. With `resume`, continues from the
/// latest checkpoint there (and reaches the metrics an uninterrupted run
/// would); without it, refuses a directory that already holds a run.
TrainSummary run_training(const config::RunConfig& config, bool resume);

}  // namespace adaensemble::train
