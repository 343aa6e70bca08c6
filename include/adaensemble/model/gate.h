// The noisy cosine gate of a SparseMoE layer (and of the depth controller):
// X0 [B, F, D] -> routing scores [B, N], score_e = cos(h, E_e) / T with
// h = FFN(flat X0 * noise). Noise U(1 - eps, 1 + eps) is applied in training only.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace adaensemble::model {

struct NoisyCosineGateOptions {
  /// Width of the flat input, F * D.
  int64_t input_dim = 0;
  /// Number of scores: experts of a layer, or layers for the depth router.
  int64_t num_outputs = 0;
  /// Reduction ratio r: the FFN's hidden width is max(1, input_dim / r) (16).
  int64_t reduction = 16;
  /// Size of h and of each expert embedding E_e (16).
  int64_t gate_dim = 16;
  /// Multiplicative training noise half-width eps, in [0, 1) (0.5).
  double noise_eps = 0.5;
  /// Initial temperature T (1.0).
  double temperature = 1.0;
  /// Read X0 with its gradient stopped, so the gate does not train the embeddings (true).
  bool stop_gradient = true;
};

/// The gate's temperature is T = kMinTemperature + softplus(raw): always
/// positive, bounded away from zero (scores stay within +-100), and with a
/// gradient everywhere, unlike a clamp.
inline constexpr double kMinTemperature = 0.01;

class NoisyCosineGateImpl : public torch::nn::Module {
 public:
  explicit NoisyCosineGateImpl(NoisyCosineGateOptions options);

  /// Maps X0 [B, F, D] (or flat [B, F*D]) to scores [B, num_outputs] in [-1/T, 1/T].
  torch::Tensor forward(const torch::Tensor& x0);

  /// Returns the current temperature T as a scalar tensor (differentiable).
  torch::Tensor temperature() const;

  /// Returns the forward FLOPs of one row: the two FFN matmuls and biases,
  /// the noise product (training), the norms of h and the cosine matmul.
  int64_t flops_per_row() const;

  void pretty_print(std::ostream& stream) const override;

  const NoisyCosineGateOptions& options() const { return options_; }

  torch::nn::Linear reduce{nullptr};
  torch::nn::Linear project{nullptr};
  /// E [num_outputs, gate_dim], Glorot-uniform initialised.
  torch::Tensor expert_embeddings;
  /// The unconstrained parameter behind T.
  torch::Tensor raw_temperature;

 private:
  NoisyCosineGateOptions options_;
};

TORCH_MODULE(NoisyCosineGate);

}  // namespace adaensemble::model
