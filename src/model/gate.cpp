#include "adaensemble/model/gate.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/init.h>

#include <cmath>
#include <initializer_list>
#include <ostream>

namespace adaensemble::model {

NoisyCosineGateImpl::NoisyCosineGateImpl(NoisyCosineGateOptions options) : options_(options) {
  TORCH_CHECK(options_.input_dim > 0, "NoisyCosineGate: input_dim must be > 0");
  TORCH_CHECK(options_.num_outputs > 0, "NoisyCosineGate: num_outputs must be > 0");
  TORCH_CHECK(options_.reduction > 0 && options_.gate_dim > 0,
              "NoisyCosineGate: reduction and gate_dim must be > 0");
  TORCH_CHECK(options_.noise_eps >= 0.0 && options_.noise_eps < 1.0,
              "NoisyCosineGate: noise_eps must be in [0, 1)");
  TORCH_CHECK(options_.temperature > kMinTemperature, "NoisyCosineGate: temperature must be > ",
              kMinTemperature);
  const int64_t hidden = std::max<int64_t>(1, options_.input_dim / options_.reduction);
  reduce = register_module("reduce", torch::nn::Linear(options_.input_dim, hidden));
  project = register_module("project", torch::nn::Linear(hidden, options_.gate_dim));
  // Glorot weights and zero biases, as Keras initialises the reference gate:
  // with a bias the FFN output starts nearly constant across rows (the
  // embeddings start small), so every row would route alike.
  for (torch::nn::Linear* linear : {&reduce, &project}) {
    torch::nn::init::xavier_uniform_((*linear)->weight);
    torch::nn::init::zeros_((*linear)->bias);
  }
  expert_embeddings =
      register_parameter("expert_embeddings", at::empty({options_.num_outputs, options_.gate_dim}));
  torch::nn::init::xavier_uniform_(expert_embeddings);
  // Inverse softplus, so that T starts at options_.temperature exactly.
  const double excess = options_.temperature - kMinTemperature;
  raw_temperature =
      register_parameter("raw_temperature", at::full({}, excess + std::log(-std::expm1(-excess))));
}

torch::Tensor NoisyCosineGateImpl::temperature() const {
  // softplus(r) = max(r, 0) + log1p(exp(-|r|)), written out: at::softplus of
  // Debian's LibTorch 1.13 reads an uninitialised stack value (valgrind), so
  // T came out different, sometimes NaN, from one process to the next.
  return at::clamp_min(raw_temperature, 0.0) + at::log1p(at::exp(-raw_temperature.abs())) +
         kMinTemperature;
}

torch::Tensor NoisyCosineGateImpl::forward(const torch::Tensor& x0) {
  const int64_t rows = x0.dim() >= 1 ? x0.size(0) : 0;
  TORCH_CHECK(x0.dim() >= 2 && x0.numel() == rows * options_.input_dim,
              "NoisyCosineGate: expected ", options_.input_dim, " input features per row, got ",
              x0.sizes());
  // Sizes spelled out: -1 is ambiguous when there are no rows.
  torch::Tensor flat = x0.reshape({rows, options_.input_dim});
  if (options_.stop_gradient) flat = flat.detach();
  if (is_training() && options_.noise_eps > 0.0) {
    flat = flat * at::empty_like(flat).uniform_(1.0 - options_.noise_eps, 1.0 + options_.noise_eps);
  }
  const torch::Tensor h = project(at::relu(reduce(flat)));
  const torch::Tensor h_unit = h / h.norm(2, {1}, true).clamp_min(1e-12);
  const torch::Tensor e_unit =
      expert_embeddings / expert_embeddings.norm(2, {1}, true).clamp_min(1e-12);
  return h_unit.matmul(e_unit.t()) / temperature();
}

int64_t NoisyCosineGateImpl::flops_per_row() const {
  const int64_t in = options_.input_dim;
  const int64_t hidden = reduce->options.out_features();
  const int64_t g = options_.gate_dim;
  const int64_t n = options_.num_outputs;
  const int64_t noise = is_training() && options_.noise_eps > 0.0 ? in : 0;
  // FFN matmuls + biases, |h| (multiply-adds) and the h / |h| division,
  // cosine matmul and the division by T.
  return noise + 2 * in * hidden + hidden + 2 * hidden * g + g + 2 * g + g + 2 * g * n + n;
}

void NoisyCosineGateImpl::pretty_print(std::ostream& stream) const {
  stream << "adaensemble::NoisyCosineGate(input_dim=" << options_.input_dim
         << ", num_outputs=" << options_.num_outputs << ", reduction=" << options_.reduction
         << ", gate_dim=" << options_.gate_dim << ", noise_eps=" << options_.noise_eps
         << ", stop_gradient=" << (options_.stop_gradient ? "true" : "false") << ")";
}

}  // namespace adaensemble::model
