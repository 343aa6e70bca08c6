// The interface the trainer, evaluator and exporter see: any CTR network that
// maps categorical ids int64 [B, C] and raw numeric values float32 [B, N]
// (NaN = missing) to one logit per row. AdaEnsemble and the logistic
// regression baseline implement it.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <memory>
#include <string>

#include "adaensemble/model/routing.h"

namespace adaensemble::model {

class CtrModelImpl : public torch::nn::Module {
 public:
  /// Scores a batch; logits [B] in input order plus the regulariser terms.
  virtual ModelOutput forward(const torch::Tensor& categorical, const torch::Tensor& numeric,
                              RoutingMode mode) = 0;

  /// Splits every parameter into gates (U) and the rest (theta).
  virtual ParameterGroups parameter_groups() = 0;

  /// Returns the embedding tables among the theta parameters (for their own
  /// weight decay and, when sparse, their own optimizer).
  virtual std::vector<torch::Tensor> embedding_parameters() = 0;

  /// Tells the model the global training step (drives top-k annealing).
  virtual void set_step(int64_t step) {}

  /// Turns routing-statistics collection on or off.
  virtual void set_collect_stats(bool on) {}

  /// Returns the statistics gathered since the last call and clears them.
  virtual RoutingStats take_stats() { return {}; }
};

using CtrModel = std::shared_ptr<CtrModelImpl>;

}  // namespace adaensemble::model
