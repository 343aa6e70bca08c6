// The depth-selecting controller: a noisy cosine router over the L layers
// (top-1 picks each row's exit layer) and one estimator per layer mapping the
// flat x_l [rows, F*D] to a logit. Disabled, it keeps only the last layer's
// estimator and every row runs the full depth.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "adaensemble/model/gate.h"

namespace adaensemble::model {

enum class EstimatorKind {
  kLinear,  ///< Linear(F*D -> 1) (reference code).
  kMlp,     ///< Linear(F*D -> hidden), ReLU, Linear(hidden -> 1).
};

/// One layer's prediction head: flat x_l [rows, F*D] -> logits [rows].
class EstimatorImpl : public torch::nn::Module {
 public:
  EstimatorImpl(int64_t input_dim, EstimatorKind kind, int64_t hidden);

  /// Maps x [rows, F, D] (or flat [rows, F*D]) to logits [rows].
  at::Tensor forward(const at::Tensor& x);

  /// Returns the forward FLOPs of one row (matmuls and biases).
  int64_t flops_per_row() const;

  torch::nn::Linear first{nullptr};
  /// Undefined for kLinear.
  torch::nn::Linear second{nullptr};
};

TORCH_MODULE(Estimator);

struct DepthControllerOptions {
  int64_t num_layers = 1;
  /// Early exit on (true); off = full depth, only the last estimator exists.
  bool enabled = true;
  /// Router settings; input_dim and num_outputs are filled in by the controller.
  NoisyCosineGateOptions gate;
  /// Expected fraction of rows exiting at each layer; empty = uniform.
  std::vector<double> prior;
  /// Coefficient of the depth load-distribution loss (1.0).
  double alpha = 1.0;
  EstimatorKind estimator = EstimatorKind::kLinear;
  int64_t estimator_hidden = 64;
};

class DepthControllerImpl : public torch::nn::Module {
 public:
  /// `input_dim` is F*D, the width of every layer's flat output and of X0.
  DepthControllerImpl(int64_t input_dim, DepthControllerOptions options);

  /// Maps X0 [B, F, D] to depth scores [B, L]. Requires: enabled().
  at::Tensor route(const at::Tensor& x0);

  /// Returns alpha * sum_d f_d P_d / F_d over the rows' argmax exits.
  at::Tensor balance_loss(const at::Tensor& scores) const;

  /// Returns the estimator of layer `layer` (0-based); disabled, only the last exists.
  Estimator& estimator(int64_t layer);

  bool enabled() const { return options_.enabled; }
  int64_t num_layers() const { return options_.num_layers; }
  const DepthControllerOptions& options() const { return options_; }

  /// The depth router (null when disabled).
  NoisyCosineGate router{nullptr};
  /// One estimator per layer when enabled, only the last layer's otherwise.
  std::vector<Estimator> estimators;

 private:
  DepthControllerOptions options_;
};

TORCH_MODULE(DepthController);

}  // namespace adaensemble::model
