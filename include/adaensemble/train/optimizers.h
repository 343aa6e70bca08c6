// Optimizers and learning-rate schedules built from config::OptimizerConfig.
// Each parameter group of the trainer (theta, U) owns one optimizer and one
// schedule; embedding tables may carry their own weight decay.
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <vector>

#include "adaensemble/config/train_config.h"

namespace adaensemble::model {
class CtrModelImpl;
}  // namespace adaensemble::model

namespace adaensemble::train {

/// Builds the optimizer named in `config` over `dense` parameters (config
/// weight_decay) and `embeddings` (config embedding_weight_decay). It takes
/// row-sparse gradients too, updating only their rows (train/sparse_optimizer.h).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(
    const config::OptimizerConfig& config, const std::vector<torch::Tensor>& dense,
    const std::vector<torch::Tensor>& embeddings);

/// Returns the tensors of `all` that are not in `subset` (by identity), in order.
std::vector<torch::Tensor> without(const std::vector<torch::Tensor>& all,
                                   const std::vector<torch::Tensor>& subset);

/// The joint-mode optimizer: one make_optimizer over every parameter of
/// `model`, its embedding tables apart (theta's dense parameters, then the
/// gates, then the tables).
std::unique_ptr<torch::optim::Optimizer> make_joint_optimizer(
    const config::OptimizerConfig& config, model::CtrModelImpl& model);

/// Learning rate as a function of the step: warm-up, then decay, times a
/// plateau scale that the trainer lowers when validation stalls.
class LearningRateSchedule {
 public:
  /// `total_steps` is the planned run length (used by cosine decay when
  /// decay_steps is 0).
  LearningRateSchedule(const config::OptimizerConfig& config, int64_t total_steps);

  /// Returns the learning rate for (0-based) `step`.
  double at(int64_t step) const;

  /// Multiplies every later learning rate by `factor`, not below min_lr.
  void scale(double factor) { plateau_scale_ *= factor; }
  double plateau_scale() const { return plateau_scale_; }
  void set_plateau_scale(double scale) { plateau_scale_ = scale; }

  /// Writes the rate for `step` into every parameter group of `optimizer`.
  void apply(torch::optim::Optimizer& optimizer, int64_t step) const;

 private:
  config::OptimizerConfig config_;
  int64_t total_steps_;
  double plateau_scale_ = 1.0;
};

}  // namespace adaensemble::train
