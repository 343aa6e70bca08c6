// The dense expert: an MLP on the flat view [rows, F * D] back to F * D, with
// an optional gate on x0 (the reference code's form). Shapes: (x_l, x0)
// [rows, F, D] -> [rows, F, D].
#pragma once

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "adaensemble/model/experts/expert.h"

namespace adaensemble::model {

struct DenseExpertOptions {
  /// Hidden layer sizes, each followed by ReLU (and dropout). Absent (default):
  /// one hidden layer of min(F * D, 400). An empty list gives a single linear map.
  std::optional<std::vector<int64_t>> hidden;
  /// Dropout probability after each hidden layer, in [0, 1) (default 0).
  double dropout = 0.0;
  /// Gate the output by x0: relu(W h + b) * 2 sigmoid(SE(x0)) (default false, the
  /// paper's plain MLP). The reference code's form is `gated: true, hidden: []`.
  bool gated = false;
  /// Reduction ratio r of the squeeze-excitation FFN of the gate: F*D -> max(1, F*D / r)
  /// -> ReLU -> F*D (default 16).
  int64_t reduction = 16;

  /// Parses a YAML mapping (keys: hidden, dropout, gated, reduction); ConfigError
  /// names `path.key` on a bad value.
  static DenseExpertOptions from_yaml(const YAML::Node& node, const std::string& path);

  /// Returns the hidden sizes for a flat width of `flat_dim`, defaults resolved.
  std::vector<int64_t> resolved_hidden(int64_t flat_dim) const;
};

/// Initialisation: hidden layers and the SE squeeze kaiming-uniform (ReLU), the
/// SE excitation xavier-uniform (so 2 sigmoid(SE) starts near 1), the output
/// layer xavier-uniform scaled by 0.1 so the expert starts near zero output
/// beside the residual; biases zero.
///
/// FLOPs per row, n = F * D: for each linear map in -> out, 2 in out + out (bias);
/// gated adds the SE FFN's two linear maps and n for the product with the gate.
class DenseExpertImpl : public ExpertImpl {
 public:
  DenseExpertImpl(const ExpertShape& shape, DenseExpertOptions options);

  /// Registers the layers and initialises them.
  void reset();

  /// Maps x_l [rows, F, D] (and x0, used by the gate) to [rows, F, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x0) override;
  int64_t flops_per_row() const override;
  std::string kind() const override { return "dense"; }
  void pretty_print(std::ostream& stream) const override;

  ExpertShape shape;
  DenseExpertOptions options;
  torch::nn::ModuleList hidden;
  torch::nn::Linear output{nullptr};
  /// The gate's squeeze (F*D -> F*D / r) and excitation (-> F*D); null unless gated.
  torch::nn::Linear squeeze{nullptr};
  torch::nn::Linear excite{nullptr};
};

TORCH_MODULE(DenseExpert);

}  // namespace adaensemble::model
