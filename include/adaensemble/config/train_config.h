// Typed form of the `train:` config section: the optimisation loop, its two
// optimizers (model parameters theta, gate parameters U), evaluation,
// early stopping and checkpointing.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>

#include "adaensemble/config/config_node.h"

namespace adaensemble::config {

/// One optimizer with its learning-rate schedule.
struct OptimizerConfig {
  std::string name = "adam";  ///< adam | adagrad | sgd
  double lr = 1e-3;
  double weight_decay = 0.0;            ///< L2 on dense parameters.
  double embedding_weight_decay = 0.0;  ///< L2 on embedding tables (theta only).
  double momentum = 0.0;                ///< sgd only.
  double beta1 = 0.9;                   ///< adam only.
  double beta2 = 0.999;                 ///< adam only.
  double eps = 1e-8;                    ///< adam and adagrad.
  int64_t warmup_steps = 0;             ///< Linear warm-up from 0 to lr.
  std::string decay = "none";           ///< none | cosine | exponential
  double decay_rate = 0.5;              ///< exponential: factor per `decay_steps`.
  int64_t decay_steps = 0;              ///< exponential period; cosine length (0 = whole run).
  double min_lr = 0.0;                  ///< Floor for cosine decay and plateau cuts.
};

struct EarlyStoppingConfig {
  std::string metric = "auc";  ///< auc | logloss
  int64_t patience = 2;        ///< Evaluations without improvement before stopping (0 = never).
  double min_delta = 1e-4;     ///< Smallest change that counts as improvement.
};

struct PlateauConfig {
  double factor = 0.5;   ///< Multiplies both learning rates on a plateau (1 = off).
  int64_t patience = 1;  ///< Evaluations without improvement before a cut.
};

struct TrainConfig {
  std::string mode = "bilevel";  ///< bilevel | joint
  int64_t batch_size = 4096;
  int64_t valid_batch_size = 0;  ///< Upper-level and evaluation batch (0 = batch_size).
  int64_t epochs = 3;
  int64_t max_steps = 0;    ///< Stop after this many theta steps (0 = no limit).
  int64_t inner_steps = 1;  ///< S: theta steps per gate step (bilevel).
  /// Bilevel: the share of validation rows (its head) that feeds the gate
  /// steps; the rest scores evaluations, early stopping and the best model.
  /// 0 = all validation rows do both (the gates then fit what selects them).
  double gate_valid_fraction = 0.5;
  int64_t seed = 42;
  int threads = 0;                 ///< Intra-op threads (0 = one per core).
  std::string device = "auto";     ///< cpu | cuda | auto
  OptimizerConfig optimizer;       ///< theta
  OptimizerConfig gate_optimizer;  ///< U (bilevel), ignored in joint mode.
  /// Validation every N steps, and at each epoch end (0 = epoch end only).
  int64_t eval_every = 0;
  int64_t log_every = 50;        ///< Progress line / metrics.jsonl row every N steps.
  int64_t checkpoint_every = 0;  ///< Extra checkpoints every N steps (0 = at each evaluation).
  EarlyStoppingConfig early_stopping;
  PlateauConfig plateau;
  bool shuffle = true;
};

/// Parses the `train:` section (ConfigError on unknown keys or bad values).
TrainConfig parse_train_config(ConfigNode node);

/// Renders a TrainConfig back to YAML; parse_train_config(to_yaml(c)) == c.
YAML::Node to_yaml(const TrainConfig& config);

}  // namespace adaensemble::config
