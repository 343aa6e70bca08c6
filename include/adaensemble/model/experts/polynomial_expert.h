// The polynomial-interaction expert (xDeepInt's PIN layer): x_l * (W x0), no
// bias; the SparseMoE layer's residual supplies the `+ x_l` term. Shapes:
// (x_l, x0) [rows, F, D] -> [rows, F, D].
#pragma once

#include <torch/nn/pimpl.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>

#include "adaensemble/model/experts/expert.h"

namespace adaensemble::model {

struct PolynomialExpertOptions {
  /// kField (default, xDeepInt's): W is F x F and mixes whole field vectors,
  /// (W x0)[i, :] = sum_j W[i, j] x0[j, :]. kFlat: W is F*D x F*D on the flat view.
  enum class Mode { kField, kFlat } mode = Mode::kField;

  /// Parses a YAML mapping (keys: mode = field | flat); ConfigError names `path.key`.
  static PolynomialExpertOptions from_yaml(const YAML::Node& node, const std::string& path);
};

/// Initialisation: W xavier-uniform (the product with x_l keeps the output at
/// the scale of |x_l| * |x0|, small for small embeddings).
///
/// FLOPs per row: field mode 2 F^2 D (W x0) + F D (product with x_l); flat mode
/// 2 (F D)^2 + F D.
class PolynomialExpertImpl : public ExpertImpl {
 public:
  PolynomialExpertImpl(const ExpertShape& shape, PolynomialExpertOptions options);

  /// Registers W and initialises it.
  void reset();

  /// Maps x_l [rows, F, D] and x0 [rows, F, D] to x_l * (W x0), [rows, F, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x0) override;
  int64_t flops_per_row() const override;
  std::string kind() const override { return "polynomial"; }
  void pretty_print(std::ostream& stream) const override;

  ExpertShape shape;
  PolynomialExpertOptions options;
  /// [F, F] in field mode, [F*D, F*D] in flat mode (out x in, as torch's Linear).
  torch::Tensor weight;
};

TORCH_MODULE(PolynomialExpert);

}  // namespace adaensemble::model
