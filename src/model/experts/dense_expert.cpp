#include "adaensemble/model/experts/dense_expert.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "adaensemble/config/config_node.h"
#include "expert_common.h"

namespace adaensemble::model {
namespace {

constexpr int64_t kDefaultHiddenCap = 400;
constexpr double kOutputGain = 0.1;

int64_t squeeze_width(int64_t flat_dim, int64_t reduction) {
  return std::max<int64_t>(1, flat_dim / reduction);
}

}  // namespace

DenseExpertOptions DenseExpertOptions::from_yaml(const YAML::Node& node, const std::string& path) {
  config::ConfigNode config(node, path);
  DenseExpertOptions options;
  if (config.has("hidden")) {
    options.hidden = config.get_list<int64_t>("hidden", {});
    for (std::size_t i = 0; i < options.hidden->size(); ++i) {
      if ((*options.hidden)[i] < 1)
        config.fail("hidden[" + std::to_string(i) + "]", "must be >= 1");
    }
  } else {
    config.mark_read("hidden");
  }
  options.dropout = config.get<double>("dropout", options.dropout);
  if (!(options.dropout >= 0.0 && options.dropout < 1.0))
    config.fail("dropout", "must be in [0, 1)");
  options.gated = config.get<bool>("gated", options.gated);
  options.reduction = config.get<int64_t>("reduction", options.reduction);
  if (options.reduction < 1) config.fail("reduction", "must be >= 1");
  config.finish();
  return options;
}

std::vector<int64_t> DenseExpertOptions::resolved_hidden(int64_t flat_dim) const {
  if (hidden) return *hidden;
  return {std::min(flat_dim, kDefaultHiddenCap)};
}

DenseExpertImpl::DenseExpertImpl(const ExpertShape& shape, DenseExpertOptions options)
    : shape(shape), options(std::move(options)) {
  detail::check_expert_shape(shape, "dense");
  TORCH_CHECK(this->options.dropout >= 0.0 && this->options.dropout < 1.0,
              "dense expert: dropout must be in [0, 1), got ", this->options.dropout);
  TORCH_CHECK(this->options.reduction >= 1, "dense expert: reduction must be >= 1, got ",
              this->options.reduction);
  reset();
}

void DenseExpertImpl::reset() {
  const int64_t n = shape.flat_dim();
  hidden = register_module("hidden", torch::nn::ModuleList());
  int64_t width = n;
  for (const int64_t size : options.resolved_hidden(n)) {
    TORCH_CHECK(size >= 1, "dense expert: hidden sizes must be >= 1, got ", size);
    torch::nn::Linear layer(width, size);
    detail::init_linear_relu(layer);
    hidden->push_back(layer);
    width = size;
  }
  output = register_module("output", torch::nn::Linear(width, n));
  detail::init_linear(output, kOutputGain);
  if (options.gated) {
    const int64_t s = squeeze_width(n, options.reduction);
    squeeze = register_module("squeeze", torch::nn::Linear(n, s));
    excite = register_module("excite", torch::nn::Linear(s, n));
    detail::init_linear_relu(squeeze);
    detail::init_linear(excite, 1.0);
  }
}

torch::Tensor DenseExpertImpl::forward(const torch::Tensor& x, const torch::Tensor& x0) {
  detail::check_expert_inputs(x, x0, shape, "dense");
  torch::Tensor h = detail::flat_rows(x);
  for (const auto& module : *hidden) {
    h = at::relu(module->as<torch::nn::Linear>()->forward(h));
    if (options.dropout > 0.0) h = at::dropout(h, options.dropout, is_training());
  }
  h = output(h);
  if (options.gated) {
    const torch::Tensor gate = 2.0 * at::sigmoid(excite(at::relu(squeeze(detail::flat_rows(x0)))));
    h = at::relu(h) * gate;
  }
  return h.view_as(x);
}

int64_t DenseExpertImpl::flops_per_row() const {
  const int64_t n = shape.flat_dim();
  int64_t flops = 0;
  int64_t width = n;
  for (const int64_t size : options.resolved_hidden(n)) {
    flops += detail::linear_flops(width, size, true);
    width = size;
  }
  flops += detail::linear_flops(width, n, true);
  if (options.gated) {
    const int64_t s = squeeze_width(n, options.reduction);
    flops += detail::linear_flops(n, s, true) + detail::linear_flops(s, n, true) + n;
  }
  return flops;
}

void DenseExpertImpl::pretty_print(std::ostream& stream) const {
  stream << "adaensemble::DenseExpert(fields=" << shape.num_fields
         << ", dim=" << shape.embedding_dim << ", hidden=[";
  const std::vector<int64_t> sizes = options.resolved_hidden(shape.flat_dim());
  for (std::size_t i = 0; i < sizes.size(); ++i) stream << (i ? ", " : "") << sizes[i];
  stream << "], dropout=" << options.dropout << ", gated=" << (options.gated ? "true" : "false");
  if (options.gated) stream << ", reduction=" << options.reduction;
  stream << ")";
}

}  // namespace adaensemble::model
