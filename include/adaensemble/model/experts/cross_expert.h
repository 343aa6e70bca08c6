// The DCN-V2 cross expert: x0 * (W x_l + b) on the flat [rows, F * D] view,
// with W full rank (F*D x F*D) or low rank U V^T. Shapes: (x_l, x0) [rows, F, D]
// -> [rows, F, D]. The SparseMoE layer adds the residual x_l.
#pragma once

#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>

#include "adaensemble/model/experts/expert.h"

namespace adaensemble::model {

struct CrossExpertOptions {
  /// Rank of W; 0 (default) means full rank, r > 0 means W = U V^T with U, V of F*D x r.
  int64_t rank = 0;

  /// Parses a YAML mapping (keys: rank); ConfigError names `path.key` on a bad value.
  static CrossExpertOptions from_yaml(const YAML::Node& node, const std::string& path);
};

/// Initialisation (DCN-V2's): W (or U and V) xavier-uniform, b zero. Since the
/// output is a product with x0, it starts at the scale of |x0| * |x_l|, small
/// for small embeddings.
///
/// FLOPs per row, n = F * D: full rank 2 n^2 (W x) + n (bias) + n (product with
/// x0); low rank 2 n r (V^T x) + 2 r n (U .) + n (bias) + n (product).
class CrossExpertImpl : public ExpertImpl {
 public:
  CrossExpertImpl(const ExpertShape& shape, CrossExpertOptions options);

  /// Registers the projections and initialises them.
  void reset();

  /// Maps x_l [rows, F, D] and x0 [rows, F, D] to x0 * (W x_l + b), [rows, F, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x0) override;
  int64_t flops_per_row() const override;
  std::string kind() const override { return "cross"; }
  void pretty_print(std::ostream& stream) const override;

  ExpertShape shape;
  CrossExpertOptions options;
  /// Full rank: W with bias b. Low rank: `down` = V^T (no bias), `up` = U with bias b.
  torch::nn::Linear full{nullptr};
  torch::nn::Linear down{nullptr};
  torch::nn::Linear up{nullptr};
};

TORCH_MODULE(CrossExpert);

}  // namespace adaensemble::model
