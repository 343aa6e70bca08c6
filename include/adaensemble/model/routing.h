// The types a forward pass of the AdaEnsemble network exchanges with its
// caller: the routing mode, the output with its auxiliary losses, the routing
// statistics, and the two parameter groups of the bi-level trainer.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

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
  at::Tensor logits;               ///< [B], input order.
  at::Tensor expert_balance_loss;  ///< Scalar: sum over layers, each gate's alpha applied.
  at::Tensor depth_balance_loss;   ///< Scalar: zero without a controller.
  at::Tensor z_loss;  ///< Scalar: router z-loss, its coefficient applied (zero unless enabled).
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

  /// Adds `other`'s counts to these (shapes grow to the larger of the two).
  void merge(const RoutingStats& other);
};

/// The parameters of the two groups of the bi-level trainer.
struct ParameterGroups {
  std::vector<at::Tensor> gates;  ///< U: gate FFNs, expert embeddings, temperatures, router.
  std::vector<at::Tensor> model;  ///< theta: everything else.
};

}  // namespace adaensemble::model
