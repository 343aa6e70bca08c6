// Checkpoints: everything needed to resume a run exactly or to score with the
// trained model. A checkpoint is a directory written under a temporary name
// and renamed into place, so a kill at any moment leaves the last one whole.
//
//   model.pt               module parameters and buffers
//   theta_optimizer.pt     optimizer state of the model parameters
//   gate_optimizer.pt      optimizer state of the gate parameters (bilevel)
//   rng.pt                 torch's CPU generator state
//   state.json             step, epoch, data positions, early-stopping state
//   config.resolved.yaml   the full resolved config
//   features/              the schema and vocabularies the data was encoded with
#pragma once

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include <filesystem>
#include <memory>
#include <string>

#include "adaensemble/config/run_config.h"
#include "adaensemble/data/features.h"
#include "adaensemble/model/ctr_model.h"

namespace adaensemble::train {

/// Format of what this build writes; a checkpoint with a larger number is
/// refused rather than misread.
inline constexpr int kCheckpointFormatVersion = 1;

/// The loop's own state, stored as state.json.
struct TrainingState {
  int64_t step = 0;             ///< Theta steps taken.
  int64_t epoch = 0;            ///< Current epoch (0-based).
  nlohmann::json train_position;
  nlohmann::json valid_position;
  double best_metric = 0.0;     ///< On the early-stopping metric; valid when best_step >= 0.
  int64_t best_step = -1;
  double best_auc = 0.0;
  double best_logloss = 0.0;
  int64_t evals_without_improvement = 0;
  int64_t plateau_evals = 0;
  double theta_lr_scale = 1.0;
  double gate_lr_scale = 1.0;
  int64_t metrics_bytes = 0;    ///< Length of metrics.jsonl when saved (resume truncates to it).
  int64_t examples = 0;
  double train_seconds = 0.0;
  bool finished = false;
  std::string stop_reason;
};

nlohmann::json to_json(const TrainingState& state);
TrainingState training_state_from_json(const nlohmann::json& json, const std::string& file);

/// What a checkpoint holds besides the loop state.
struct CheckpointParts {
  model::CtrModelImpl* model = nullptr;
  torch::optim::Optimizer* theta_optimizer = nullptr;  ///< May be null (inference-only copy).
  torch::optim::Optimizer* gate_optimizer = nullptr;   ///< Null in joint mode.
  const config::RunConfig* config = nullptr;
  const data::Schema* schema = nullptr;
  const data::Vocabulary* vocabulary = nullptr;
};

/// Writes a complete checkpoint to `dir`, replacing any previous one atomically.
void save_checkpoint(const std::filesystem::path& dir, const CheckpointParts& parts,
                     const TrainingState& state);

/// Reads state.json; throws std::runtime_error for a missing or newer-format file.
TrainingState read_training_state(const std::filesystem::path& dir);

/// Restores parameters, optimizer states and the RNG from `dir` into `parts`.
void load_checkpoint_tensors(const std::filesystem::path& dir, const CheckpointParts& parts);

/// A trained model ready to score, rebuilt from a checkpoint directory.
struct LoadedModel {
  config::RunConfig config;
  data::Schema schema;
  data::Vocabulary vocabulary;
  model::CtrModel model;
  TrainingState state;
};

/// Loads a checkpoint for inference (eval mode, on `device`). `dir` may be a
/// checkpoint directory or a run directory, in which case its best/ is used.
LoadedModel load_trained_model(const std::filesystem::path& dir, const std::string& device = "cpu");

/// Returns the checkpoint directory `dir` names (itself, or run_dir/best).
std::filesystem::path resolve_checkpoint_dir(const std::filesystem::path& dir);

}  // namespace adaensemble::train
