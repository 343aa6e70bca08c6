#include "adaensemble/model/logistic.h"

#include <ATen/ATen.h>

namespace adaensemble::model {

LogisticRegressionImpl::LogisticRegressionImpl(const FeatureSpec& spec,
                                               EmbeddingInputOptions options) {
  options.dim = 1;
  weights = register_module("weights", EmbeddingInput(spec, options));
  bias = register_parameter("bias", torch::zeros({1}));
}

ModelOutput LogisticRegressionImpl::forward(const torch::Tensor& categorical,
                                            const torch::Tensor& numeric, RoutingMode) {
  ModelOutput out;
  out.logits = weights->forward(categorical, numeric).sum({1, 2}) + bias;
  const at::Tensor zero = at::zeros({}, out.logits.options());
  out.expert_balance_loss = zero;
  out.depth_balance_loss = zero;
  out.z_loss = zero;
  if (collect_) {
    const int64_t rows = categorical.size(0);
    stats_.rows += rows;
    // One multiply-add per field plus the bias.
    stats_.flops += static_cast<double>(rows) * (2 * weights->spec().num_fields() + 1);
  }
  return out;
}

ParameterGroups LogisticRegressionImpl::parameter_groups() {
  ParameterGroups groups;
  groups.model = parameters();
  return groups;
}

std::vector<torch::Tensor> LogisticRegressionImpl::embedding_parameters() {
  std::vector<torch::Tensor> tables;
  for (const auto& p : weights->parameters()) tables.push_back(p);
  return tables;
}

RoutingStats LogisticRegressionImpl::take_stats() {
  RoutingStats taken = stats_;
  stats_ = RoutingStats();
  return taken;
}

}  // namespace adaensemble::model
