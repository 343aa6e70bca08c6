// The convolution expert: project the flat view [rows, F * D] to P = max(1, F / 2)
// positions of D channels, Conv1D over positions, ReLU, max-pool 2, flatten,
// linear back to F * D. Shapes: (x_l, x0) [rows, F, D] -> [rows, F, D]; x0 is unused.
#pragma once

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>

#include "adaensemble/model/experts/expert.h"

namespace adaensemble::model {

struct CnnExpertOptions {
  /// Output channels of the convolution (default 16).
  int64_t filters = 16;
  /// Kernel width over positions (default 4).
  int64_t kernel = 4;
  /// kSame (default): zero padding keeps P positions (for an even kernel torch pads
  /// one more on the right). kValid: no padding; fewer than `kernel` positions are
  /// zero-padded on the right up to `kernel`, so at least one output remains.
  enum class Padding { kSame, kValid } padding = Padding::kSame;

  /// Parses a YAML mapping (keys: filters, kernel, padding = same | valid);
  /// ConfigError names `path.key` on a bad value.
  static CnnExpertOptions from_yaml(const YAML::Node& node, const std::string& path);
};

/// Initialisation: the projection xavier-uniform, the convolution kaiming-uniform
/// (ReLU), the output layer xavier-uniform scaled by 0.1 so the expert starts near
/// zero output; biases zero.
///
/// FLOPs per row, n = F * D: projection 2 n P D + P D; convolution
/// L (2 kernel D filters + filters) with L output positions (zero padding is
/// multiplied too); output 2 (filters L') n + n with L' = L / 2 pooled positions
/// (L' = L when L < 2, where pooling is skipped).
class CnnExpertImpl : public ExpertImpl {
 public:
  CnnExpertImpl(const ExpertShape& shape, CnnExpertOptions options);

  /// Registers the layers and initialises them.
  void reset();

  /// Maps x_l [rows, F, D] to [rows, F, D]; x0 is only shape-checked.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x0) override;
  int64_t flops_per_row() const override;
  std::string kind() const override { return "cnn"; }
  void pretty_print(std::ostream& stream) const override;

  /// Returns P, the number of projected positions.
  int64_t positions() const;
  /// Returns the convolution's output length L.
  int64_t conv_length() const;
  /// Returns the length after pooling, L'.
  int64_t pooled_length() const;

  ExpertShape shape;
  CnnExpertOptions options;
  torch::nn::Linear project{nullptr};
  torch::nn::Conv1d conv{nullptr};
  torch::nn::Linear output{nullptr};
};

TORCH_MODULE(CnnExpert);

}  // namespace adaensemble::model
