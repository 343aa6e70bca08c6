// One SparseMoE layer: x_{l+1} = Norm(x_l + Dropout(sum_{e in top-k} w_e expert_e(x_l, x0))),
// where the noisy cosine gate scores X0 and w_e is the top-k softmax gate
// (weighted combine, paper eq. 6) or 1 (unweighted, reference code).
// Shapes: x_l, x0 [B, F, D] -> [B, F, D].
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <vector>

#include "adaensemble/model/experts/expert.h"
#include "adaensemble/model/gate.h"
#include "adaensemble/model/losses.h"
#include "adaensemble/model/routing.h"

namespace adaensemble::model {

enum class NormKind {
  kLayer,  ///< LayerNorm over the flat F*D vector of each row (paper).
  kBatch,  ///< BatchNorm over the F*D features.
  kNone,   ///< Residual only (reference code).
};

struct SparseMoELayerOptions {
  /// F and D of this layer's input.
  ExpertShape shape;
  /// Gate settings; input_dim and num_outputs are filled in by the layer.
  NoisyCosineGateOptions gate;
  /// Experts each row is routed to at first; set_top_k() changes it.
  int64_t top_k = 1;
  /// Weight the selected experts by their gate values (paper) or sum them (reference).
  bool weighted_combine = true;
  NormKind norm = NormKind::kLayer;
  /// Dropout on the combined expert output before the residual (0).
  double dropout = 0.0;
  BalanceCount balance_count = BalanceCount::kArgmax;
  /// Coefficient of the load-distribution loss (1.0).
  double alpha = 1.0;
  /// Coefficient of the router z-loss (0 = off).
  double z_loss = 0.0;
  /// Expected load of each expert; empty = uniform.
  std::vector<double> prior;
};

struct MoELayerOutput {
  at::Tensor x;                      ///< [B, F, D]: the layer's output.
  at::Tensor balance_loss;           ///< Scalar, alpha applied; zero when B = 0.
  at::Tensor z_loss;                 ///< Scalar, coefficient applied; zero when off or B = 0.
  std::vector<int64_t> expert_rows;  ///< Rows each expert ran on.
  double flops = 0.0;                ///< Gate, experts, combine, residual and norm.
};

class SparseMoELayerImpl : public torch::nn::Module {
 public:
  SparseMoELayerImpl(SparseMoELayerOptions options, std::vector<Expert> experts);

  /// Maps x [B, F, D] (this layer's input) and x0 [B, F, D] (the embeddings of
  /// the same rows, read by the gate) to the layer output and its losses.
  /// kSoft always weights experts by their gates (unweighted combine uses
  /// k * gate, which equals 1 for a uniform gate), so the gate learns from
  /// the prediction loss; kHard follows `weighted_combine`.
  MoELayerOutput forward(const at::Tensor& x, const at::Tensor& x0, RoutingMode mode);

  /// Sets the number of experts each row is routed to. Requires: 1 <= k <= N.
  void set_top_k(int64_t k);
  int64_t top_k() const { return top_k_; }
  int64_t num_experts() const { return static_cast<int64_t>(experts_.size()); }
  const std::vector<Expert>& experts() const { return experts_; }
  const SparseMoELayerOptions& options() const { return options_; }

  void pretty_print(std::ostream& stream) const override;

  NoisyCosineGate gate{nullptr};
  torch::nn::LayerNorm layer_norm{nullptr};
  torch::nn::BatchNorm1d batch_norm{nullptr};
  torch::nn::Dropout dropout{nullptr};

 private:
  at::Tensor normalize(const at::Tensor& flat);

  SparseMoELayerOptions options_;
  std::vector<Expert> experts_;
  int64_t top_k_ = 1;
};

TORCH_MODULE(SparseMoELayer);

}  // namespace adaensemble::model
