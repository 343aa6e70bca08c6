// Helpers for the model tests: a tiny expert with a known form and a call
// counter (used directly, never registered, so the global registry stays the
// built-ins), and random inputs for a small feature spec.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <string>

#include "adaensemble/model/experts/expert.h"
#include "adaensemble/model/feature_spec.h"

namespace adaensemble::model::testing {

/// y = tanh(flat(x) W) * (1 + x0): differentiable in x, x0 and W, [rows, F, D].
class TestExpertImpl : public ExpertImpl {
 public:
  explicit TestExpertImpl(const ExpertShape& shape) : shape_(shape) {
    weight = register_parameter("weight", at::randn({shape.flat_dim(), shape.flat_dim()}) * 0.3);
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x0) override {
    ++calls;
    const torch::Tensor flat = x.reshape({x.size(0), shape_.flat_dim()});
    return at::tanh(flat.matmul(weight)).reshape(x.sizes()) * (x0 + 1.0);
  }
  int64_t flops_per_row() const override {
    return 2 * shape_.flat_dim() * shape_.flat_dim() + 2 * shape_.flat_dim();
  }
  std::string kind() const override { return "test_tanh"; }

  torch::Tensor weight;
  int calls = 0;

 private:
  ExpertShape shape_;
};

/// Two numeric and three categorical fields.
inline FeatureSpec small_spec() {
  FeatureSpec spec;
  spec.cardinalities = {7, 5, 9};
  spec.num_numeric = 2;
  return spec;
}

struct Batch {
  at::Tensor categorical;
  at::Tensor numeric;
  at::Tensor labels;
};

/// Random ids in range, numeric values in [-2, 50) with some NaN, 0/1 labels.
inline Batch random_batch(const FeatureSpec& spec, int64_t rows) {
  Batch batch;
  std::vector<at::Tensor> columns;
  for (int64_t cardinality : spec.cardinalities) {
    columns.push_back(at::randint(cardinality, {rows, 1}, at::kLong));
  }
  batch.categorical = at::cat(columns, 1);
  batch.numeric = at::rand({rows, spec.num_numeric}) * 52.0 - 2.0;
  if (rows > 0) batch.numeric.index_put_({0, 0}, std::nan(""));
  batch.labels = at::randint(2, {rows}).to(at::kFloat);
  return batch;
}

}  // namespace adaensemble::model::testing
