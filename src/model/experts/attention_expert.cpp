#include "adaensemble/model/experts/attention_expert.h"

#include <ATen/ATen.h>

#include <cmath>

#include "adaensemble/config/config_node.h"
#include "adaensemble/model/experts/field_attention.h"
#include "adaensemble/model/experts/gelu.h"
#include "expert_common.h"

namespace adaensemble::model {
namespace {

constexpr double kOutputGain = 0.1;
constexpr double kNormEps = 1e-5;

}  // namespace

AttentionExpertOptions AttentionExpertOptions::from_yaml(const YAML::Node& node,
                                                         const std::string& path) {
  config::ConfigNode config(node, path);
  AttentionExpertOptions options;
  options.heads = config.get<int64_t>("heads", options.heads);
  if (options.heads < 1) config.fail("heads", "must be >= 1");
  options.head_dim = config.get<int64_t>("head_dim", options.head_dim);
  if (options.head_dim < 1) config.fail("head_dim", "must be >= 1");
  config.finish();
  return options;
}

AttentionExpertImpl::AttentionExpertImpl(const ExpertShape& shape, AttentionExpertOptions options)
    : shape(shape), options(options) {
  detail::check_expert_shape(shape, "attention");
  TORCH_CHECK(options.heads >= 1 && options.head_dim >= 1,
              "attention expert: heads and head_dim must be >= 1, got ", options.heads, " and ",
              options.head_dim);
  reset();
}

void AttentionExpertImpl::reset() {
  const int64_t d = shape.embedding_dim;
  const int64_t width = options.heads * options.head_dim;
  query = register_module("query", torch::nn::Linear(d, width));
  key = register_module("key", torch::nn::Linear(d, width));
  value = register_module("value", torch::nn::Linear(d, width));
  merge = register_module("merge", torch::nn::Linear(width, d));
  norm_weight = register_parameter("norm_weight", torch::ones({d}));
  norm_bias = register_parameter("norm_bias", torch::zeros({d}));
  output = register_module("output", torch::nn::Linear(shape.flat_dim(), shape.flat_dim()));
  for (torch::nn::Linear* linear : {&query, &key, &value, &merge})
    detail::init_linear(*linear, 1.0);
  detail::init_linear(output, kOutputGain);
}

torch::Tensor AttentionExpertImpl::forward(const torch::Tensor& x, const torch::Tensor& x0) {
  detail::check_expert_inputs(x, x0, shape, "attention");
  const int64_t rows = x.size(0);
  const int64_t f = shape.num_fields;
  const int64_t heads = options.heads;
  const int64_t h = options.head_dim;
  // One projection for the queries, keys and values of every head, read by
  // the attention kernel where they lie: [rows, F, 3, H, h].
  const torch::Tensor weight = at::cat({query->weight, key->weight, value->weight});
  const torch::Tensor bias = at::cat({query->bias, key->bias, value->bias});
  const torch::Tensor qkv = detail::gelu(at::linear(x, weight, bias)).view({rows, f, 3, heads, h});
  const torch::Tensor attended =
      detail::field_attention(qkv, 1.0 / std::sqrt(static_cast<double>(h)));  // [rows, F, H, h]
  const torch::Tensor mixed = merge(attended.view({rows, f, heads * h}));     // [rows, F, D]

  // Instance norm: statistics over the field axis, per row and channel.
  // Two passes (mean, then mean squared deviation): in float their gradients
  // stay within 1e-4 of double precision, at::var_mean's drift past it.
  const torch::Tensor mean = mixed.mean({1}, /*keepdim=*/true);
  const torch::Tensor centered = mixed - mean;
  const torch::Tensor var = centered.pow(2).mean({1}, /*keepdim=*/true);
  const torch::Tensor normed = centered * at::rsqrt(var + kNormEps) * norm_weight + norm_bias;
  return output(detail::flat_rows(normed)).view_as(x);
}

int64_t AttentionExpertImpl::flops_per_row() const {
  const int64_t f = shape.num_fields;
  const int64_t d = shape.embedding_dim;
  const int64_t width = options.heads * options.head_dim;
  const int64_t qkv = f * 3 * detail::linear_flops(d, width, true);
  const int64_t attend = 2 * 2 * options.heads * f * f * options.head_dim;
  const int64_t merge_flops = f * detail::linear_flops(width, d, true);
  const int64_t norm_affine = 2 * f * d;
  return qkv + attend + merge_flops + norm_affine +
         detail::linear_flops(shape.flat_dim(), shape.flat_dim(), true);
}

void AttentionExpertImpl::pretty_print(std::ostream& stream) const {
  stream << "adaensemble::AttentionExpert(fields=" << shape.num_fields
         << ", dim=" << shape.embedding_dim << ", heads=" << options.heads
         << ", head_dim=" << options.head_dim << ")";
}

}  // namespace adaensemble::model
