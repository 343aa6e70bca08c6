// The AdaEnsemble network: embedding input -> L SparseMoE layers -> depth
// controller with per-layer estimators. Inputs are categorical ids int64
// [B, C] and raw numeric values float32 [B, N] (NaN = missing); the output is
// one logit per row, in input order. Build one with build_model().
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "adaensemble/model/controller.h"
#include "adaensemble/model/ctr_model.h"
#include "adaensemble/model/embedding.h"
#include "adaensemble/model/feature_spec.h"
#include "adaensemble/model/moe_layer.h"
#include "adaensemble/model/routing.h"
#include "adaensemble/model/top_k.h"

namespace adaensemble::config {
struct ModelConfig;
}

namespace adaensemble::model {

/// Forward pass (Algorithm 1 in kHard mode): the controller scores X0 and
/// picks each row's exit layer d; after layer d, those rows go to estimator d
/// and stop, the rest continue, so deeper layers run only on the rows that
/// reach them. kSoft runs every row through every layer and predicts the
/// router-probability-weighted mixture of the estimators' logits
/// (sum_d softmax(depth scores)_d * logit_d): mixing logits rather than
/// probabilities keeps the output a logit for BCE-with-logits and is stable.
/// The current training step (for annealed k) is the int64 buffer
/// `anneal_step`, saved with the module's state.
class AdaEnsembleImpl : public CtrModelImpl {
 public:
  AdaEnsembleImpl(EmbeddingInput embedding, std::vector<SparseMoELayer> layers,
                  DepthController controller, TopKSchedule schedule);

  /// Maps categorical int64 [B, C] and numeric float32 [B, N] to logits [B]
  /// and the auxiliary losses.
  ModelOutput forward(const at::Tensor& categorical, const at::Tensor& numeric,
                      RoutingMode mode) override;

  /// Splits named_parameters() into gates (U) and model (theta), each once.
  ParameterGroups parameter_groups() override;

  /// Returns the embedding tables (part of theta).
  std::vector<at::Tensor> embedding_parameters() override;

  /// Sets the training step that the top-k annealing reads.
  void set_step(int64_t step) override;
  /// Returns the training step stored in the `anneal_step` buffer.
  int64_t step() const;
  /// Returns k at the current step (layers with fewer experts use all of theirs).
  int64_t current_top_k() const;

  /// Starts or stops accumulating RoutingStats over forward passes.
  void set_collect_stats(bool collect) override;
  /// Returns the statistics gathered so far and resets them.
  RoutingStats take_stats() override;

  int64_t num_layers() const { return static_cast<int64_t>(layers_.size()); }
  SparseMoELayer& layer(int64_t index) { return layers_.at(index); }
  EmbeddingInput& embedding() { return embedding_; }
  DepthController& controller() { return controller_; }
  const TopKSchedule& schedule() const { return schedule_; }

  void pretty_print(std::ostream& stream) const override;

 private:
  struct Pass;
  void run_hard(Pass& pass, const at::Tensor& x0, const at::Tensor& exits);
  void run_full_depth(Pass& pass, const at::Tensor& x0, const at::Tensor& depth_scores,
                      RoutingMode mode);
  void run_layer(Pass& pass, int64_t layer, at::Tensor& x, const at::Tensor& x0, RoutingMode mode);

  EmbeddingInput embedding_{nullptr};
  std::vector<SparseMoELayer> layers_;
  DepthController controller_{nullptr};
  TopKSchedule schedule_;
  at::Tensor anneal_step_;
  bool collect_stats_ = false;
  RoutingStats stats_;
};

TORCH_MODULE(AdaEnsemble);

}  // namespace adaensemble::model
