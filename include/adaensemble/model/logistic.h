// Logistic regression on the same inputs as AdaEnsemble: one learned weight
// per categorical value and per numeric bucket (the embedding layer with
// dimension 1), summed with a bias. The baseline every deep model must beat.
#pragma once

#include "adaensemble/model/ctr_model.h"
#include "adaensemble/model/embedding.h"

namespace adaensemble::model {

class LogisticRegressionImpl : public CtrModelImpl {
 public:
  /// `options.dim` is forced to 1: each value carries one weight.
  LogisticRegressionImpl(const FeatureSpec& spec, EmbeddingInputOptions options);

  /// [B, C] ids, [B, N] raw values -> logits [B]; regulariser terms are zero.
  ModelOutput forward(const torch::Tensor& categorical, const torch::Tensor& numeric,
                      RoutingMode mode) override;
  ParameterGroups parameter_groups() override;
  std::vector<torch::Tensor> embedding_parameters() override;
  void set_collect_stats(bool on) override { collect_ = on; }
  RoutingStats take_stats() override;

  EmbeddingInput weights{nullptr};
  torch::Tensor bias;

 private:
  bool collect_ = false;
  RoutingStats stats_;
};

}  // namespace adaensemble::model
