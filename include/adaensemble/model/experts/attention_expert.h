// The self-attention expert (AutoInt-like): multi-head scaled dot-product
// attention over the field axis, then instance norm over fields and a linear map
// on the flat view. Shapes: (x_l, x0) [rows, F, D] -> [rows, F, D]; x0 is unused.
#pragma once

#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>

#include "adaensemble/model/experts/expert.h"

namespace adaensemble::model {

struct AttentionExpertOptions {
  /// Number of attention heads (default 4).
  int64_t heads = 4;
  /// Width of each head's query, key and value (default 8). On the CPU, widths
  /// 4, 8, 16 and 32 run the fused attention kernel (field_attention.h); other
  /// widths work, several times slower.
  int64_t head_dim = 8;

  /// Parses a YAML mapping (keys: heads, head_dim); ConfigError names `path.key`.
  static AttentionExpertOptions from_yaml(const YAML::Node& node, const std::string& path);
};

/// Per field: Q, K, V = GELU(Linear(D -> heads * head_dim)); per head,
/// softmax(Q K^T / sqrt(head_dim)) over fields times V; heads concatenated and
/// projected back to D; instance norm over the field axis (per row and channel,
/// eps 1e-5, learned scale and shift of size D); flat Linear(F*D -> F*D).
///
/// Initialisation: Q, K, V and the head projection xavier-uniform, norm scale 1
/// and shift 0, the final layer xavier-uniform scaled by 0.1 so the expert starts
/// near zero output; biases zero.
///
/// FLOPs per row, H = heads, h = head_dim: F * 3 (2 D H h + H h) for Q, K, V;
/// 2 * 2 H F^2 h for the scores and the weighted sum of V; F (2 H h D + D) for the
/// head projection; 2 F D for the norm's scale and shift; 2 (F D)^2 + F D at the end.
class AttentionExpertImpl : public ExpertImpl {
 public:
  AttentionExpertImpl(const ExpertShape& shape, AttentionExpertOptions options);

  /// Registers the layers and initialises them.
  void reset();

  /// Maps x_l [rows, F, D] to [rows, F, D]; x0 is only shape-checked.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x0) override;
  int64_t flops_per_row() const override;
  std::string kind() const override { return "attention"; }
  void pretty_print(std::ostream& stream) const override;

  ExpertShape shape;
  AttentionExpertOptions options;
  torch::nn::Linear query{nullptr};
  torch::nn::Linear key{nullptr};
  torch::nn::Linear value{nullptr};
  /// Concatenated heads [.., H h] -> [.., D].
  torch::nn::Linear merge{nullptr};
  /// Instance norm scale and shift, [D] each.
  torch::Tensor norm_weight;
  torch::Tensor norm_bias;
  torch::nn::Linear output{nullptr};
};

TORCH_MODULE(AttentionExpert);

}  // namespace adaensemble::model
