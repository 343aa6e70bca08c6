#include "adaensemble/model/experts/polynomial_expert.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include "adaensemble/config/config_node.h"
#include "expert_common.h"

namespace adaensemble::model {

PolynomialExpertOptions PolynomialExpertOptions::from_yaml(const YAML::Node& node,
                                                           const std::string& path) {
  config::ConfigNode config(node, path);
  PolynomialExpertOptions options;
  const std::string mode = config.get<std::string>("mode", "field");
  if (mode == "field") {
    options.mode = Mode::kField;
  } else if (mode == "flat") {
    options.mode = Mode::kFlat;
  } else {
    config.fail("mode", "must be field or flat");
  }
  config.finish();
  return options;
}

PolynomialExpertImpl::PolynomialExpertImpl(const ExpertShape& shape,
                                           PolynomialExpertOptions options)
    : shape(shape), options(options) {
  detail::check_expert_shape(shape, "polynomial");
  reset();
}

void PolynomialExpertImpl::reset() {
  const int64_t n =
      options.mode == PolynomialExpertOptions::Mode::kField ? shape.num_fields : shape.flat_dim();
  weight = register_parameter("weight", torch::empty({n, n}));
  torch::nn::init::xavier_uniform_(weight);
}

torch::Tensor PolynomialExpertImpl::forward(const torch::Tensor& x, const torch::Tensor& x0) {
  detail::check_expert_inputs(x, x0, shape, "polynomial");
  if (options.mode == PolynomialExpertOptions::Mode::kField) {
    // out[r, i, d] = sum_j W[i, j] x0[r, j, d], computed as one [rows * D, F] x [F, F]
    // product. Spelled out as mm: at::matmul of the transposed 3-D view runs a
    // batched matmul, one small GEMM per row on CPU builds without MKL.
    const int64_t rows = x.size(0);
    const int64_t f = shape.num_fields;
    const int64_t d = shape.embedding_dim;
    const torch::Tensor mixed = at::mm(x0.transpose(1, 2).reshape({rows * d, f}), weight.t());
    return x * mixed.view({rows, d, f}).transpose(1, 2);
  }
  return x * at::matmul(detail::flat_rows(x0), weight.t()).view_as(x);
}

int64_t PolynomialExpertImpl::flops_per_row() const {
  const int64_t f = shape.num_fields;
  const int64_t n = shape.flat_dim();
  const int64_t mix = options.mode == PolynomialExpertOptions::Mode::kField
                          ? 2 * f * f * shape.embedding_dim
                          : 2 * n * n;
  return mix + n;
}

void PolynomialExpertImpl::pretty_print(std::ostream& stream) const {
  stream << "adaensemble::PolynomialExpert(fields=" << shape.num_fields
         << ", dim=" << shape.embedding_dim
         << ", mode=" << (options.mode == PolynomialExpertOptions::Mode::kField ? "field" : "flat")
         << ")";
}

}  // namespace adaensemble::model
