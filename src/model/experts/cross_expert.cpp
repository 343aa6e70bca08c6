#include "adaensemble/model/experts/cross_expert.h"

#include "adaensemble/config/config_node.h"
#include "expert_common.h"

namespace adaensemble::model {

CrossExpertOptions CrossExpertOptions::from_yaml(const YAML::Node& node, const std::string& path) {
  config::ConfigNode config(node, path);
  CrossExpertOptions options;
  options.rank = config.get<int64_t>("rank", options.rank);
  if (options.rank < 0) config.fail("rank", "must be >= 0 (0 = full rank)");
  config.finish();
  return options;
}

CrossExpertImpl::CrossExpertImpl(const ExpertShape& shape, CrossExpertOptions options)
    : shape(shape), options(options) {
  detail::check_expert_shape(shape, "cross");
  TORCH_CHECK(options.rank >= 0, "cross expert: rank must be >= 0, got ", options.rank);
  reset();
}

void CrossExpertImpl::reset() {
  const int64_t n = shape.flat_dim();
  if (options.rank == 0) {
    full = register_module("full", torch::nn::Linear(n, n));
    detail::init_linear(full, 1.0);
  } else {
    down = register_module(
        "down", torch::nn::Linear(torch::nn::LinearOptions(n, options.rank).bias(false)));
    up = register_module("up", torch::nn::Linear(options.rank, n));
    detail::init_linear(down, 1.0);
    detail::init_linear(up, 1.0);
  }
}

torch::Tensor CrossExpertImpl::forward(const torch::Tensor& x, const torch::Tensor& x0) {
  detail::check_expert_inputs(x, x0, shape, "cross");
  const torch::Tensor flat = detail::flat_rows(x);
  const torch::Tensor mixed = options.rank == 0 ? full->forward(flat) : up(down(flat));
  return x0 * mixed.view_as(x);
}

int64_t CrossExpertImpl::flops_per_row() const {
  const int64_t n = shape.flat_dim();
  const int64_t mix = options.rank == 0 ? detail::linear_flops(n, n, true)
                                        : detail::linear_flops(n, options.rank, false) +
                                              detail::linear_flops(options.rank, n, true);
  return mix + n;
}

void CrossExpertImpl::pretty_print(std::ostream& stream) const {
  stream << "adaensemble::CrossExpert(fields=" << shape.num_fields
         << ", dim=" << shape.embedding_dim << ", rank=" << options.rank << ")";
}

}  // namespace adaensemble::model
