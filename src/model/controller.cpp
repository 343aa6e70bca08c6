#include "adaensemble/model/controller.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "adaensemble/model/losses.h"

namespace adaensemble::model {

EstimatorImpl::EstimatorImpl(int64_t input_dim, EstimatorKind kind, int64_t hidden) {
  TORCH_CHECK(input_dim > 0 && hidden > 0, "Estimator: input_dim and hidden must be > 0");
  if (kind == EstimatorKind::kLinear) {
    first = register_module("linear", torch::nn::Linear(input_dim, 1));
  } else {
    first = register_module("hidden", torch::nn::Linear(input_dim, hidden));
    second = register_module("output", torch::nn::Linear(hidden, 1));
  }
}

at::Tensor EstimatorImpl::forward(const at::Tensor& x) {
  at::Tensor out = first(x.reshape({x.size(0), first->options.in_features()}));
  if (second) out = second(at::relu(out));
  return out.squeeze(1);
}

int64_t EstimatorImpl::flops_per_row() const {
  const int64_t in = first->options.in_features();
  const int64_t mid = first->options.out_features();
  return 2 * in * mid + mid + (second ? 2 * mid + 1 : 0);
}

DepthControllerImpl::DepthControllerImpl(int64_t input_dim, DepthControllerOptions options)
    : options_(std::move(options)) {
  TORCH_CHECK(options_.num_layers >= 1, "DepthController: num_layers must be >= 1");
  TORCH_CHECK(
      options_.prior.empty() || static_cast<int64_t>(options_.prior.size()) == options_.num_layers,
      "DepthController: the prior needs one entry per layer");
  if (options_.enabled) {
    options_.gate.input_dim = input_dim;
    options_.gate.num_outputs = options_.num_layers;
    router = register_module("router", NoisyCosineGate(options_.gate));
  }
  const int64_t first = options_.enabled ? 0 : options_.num_layers - 1;
  for (int64_t layer = first; layer < options_.num_layers; ++layer) {
    estimators.push_back(
        register_module("estimator_" + std::to_string(layer),
                        Estimator(input_dim, options_.estimator, options_.estimator_hidden)));
  }
}

at::Tensor DepthControllerImpl::route(const at::Tensor& x0) {
  TORCH_CHECK(options_.enabled, "DepthController: route() needs the controller enabled");
  return router(x0);
}

at::Tensor DepthControllerImpl::balance_loss(const at::Tensor& scores) const {
  const at::Tensor exits = dispatch_indicator(scores, at::Tensor(), BalanceCount::kArgmax);
  return load_distribution_loss(scores, exits, options_.prior, options_.alpha);
}

Estimator& DepthControllerImpl::estimator(int64_t layer) {
  TORCH_CHECK(layer >= 0 && layer < options_.num_layers, "DepthController: no layer ", layer);
  if (options_.enabled) return estimators[layer];
  TORCH_CHECK(layer == options_.num_layers - 1,
              "DepthController: disabled, only the last layer has an estimator");
  return estimators.back();
}

}  // namespace adaensemble::model
