// The AdaEnsemble network: embedding input -> L SparseMoE layers -> depth
// controller with per-layer estimators. Inputs are categorical ids int64
// [B, C] and raw numeric values float32 [B, N] (NaN = missing); the output is
// one logit per row, in input order.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "adaensemble/model/feature_spec.h"

namespace adaensemble::config {
struct ModelConfig;
}

namespace adaensemble::model {

/// How the gates route during a forward pass.
enum class RoutingMode {
  /// Top-k experts and top-1 exit depth; deeper layers run only on the rows
  /// that reach them. Used for the lower-level (theta) step and inference.
  kHard,
  /// The relaxed form for the upper-level (gate) step: gate-weighted experts
  /// and a soft mixture over exit depths, so every gate gets a gradient from
  /// the prediction loss.
  kSoft,
};

struct ModelOutput {
  torch::Tensor logits;               ///< [B], input order.
  torch::Tensor expert_balance_loss;  ///< Scalar: sum over layers, each gate's alpha applied.
  torch::Tensor depth_balance_loss;   ///< Scalar: zero without a controller.
  torch::Tensor z_loss;               ///< Scalar: router z-loss (zero unless enabled).
};

/// Routing counts accumulated over forward passes while collection is on.
struct RoutingStats {
  int64_t rows = 0;
  /// [layer][expert]: rows dispatched to each expert of each layer.
  std::vector<std::vector<int64_t>> expert_rows;
  /// [layer]: rows whose prediction came from that layer's estimator.
  std::vector<int64_t> exit_rows;
  /// Forward FLOPs summed over every row, from what actually ran.
  double flops = 0.0;

  void merge(const RoutingStats& other);
};

class AdaEnsembleImpl;

/// The parameters of the two groups of the bi-level trainer.
struct ParameterGroups {
  std::vector<torch::Tensor> gates;  ///< U: gate FFNs, expert embeddings, temperatures, router.
  std::vector<torch::Tensor> model;  ///< theta: everything else.
};

}  // namespace adaensemble::model
