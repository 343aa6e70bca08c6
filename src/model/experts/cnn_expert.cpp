#include "adaensemble/model/experts/cnn_expert.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include <algorithm>

#include "adaensemble/config/config_node.h"
#include "expert_common.h"

namespace adaensemble::model {
namespace {

constexpr double kOutputGain = 0.1;

}  // namespace

CnnExpertOptions CnnExpertOptions::from_yaml(const YAML::Node& node, const std::string& path) {
  config::ConfigNode config(node, path);
  CnnExpertOptions options;
  options.filters = config.get<int64_t>("filters", options.filters);
  if (options.filters < 1) config.fail("filters", "must be >= 1");
  options.kernel = config.get<int64_t>("kernel", options.kernel);
  if (options.kernel < 1) config.fail("kernel", "must be >= 1");
  const std::string padding = config.get<std::string>("padding", "same");
  if (padding == "same") {
    options.padding = Padding::kSame;
  } else if (padding == "valid") {
    options.padding = Padding::kValid;
  } else {
    config.fail("padding", "must be same or valid");
  }
  config.finish();
  return options;
}

CnnExpertImpl::CnnExpertImpl(const ExpertShape& shape, CnnExpertOptions options)
    : shape(shape), options(options) {
  detail::check_expert_shape(shape, "cnn");
  TORCH_CHECK(options.filters >= 1 && options.kernel >= 1,
              "cnn expert: filters and kernel must be >= 1, got ", options.filters, " and ",
              options.kernel);
  reset();
}

int64_t CnnExpertImpl::positions() const { return std::max<int64_t>(1, shape.num_fields / 2); }

int64_t CnnExpertImpl::conv_length() const {
  if (options.padding == CnnExpertOptions::Padding::kSame) return positions();
  return std::max(positions(), options.kernel) - options.kernel + 1;
}

int64_t CnnExpertImpl::pooled_length() const {
  const int64_t length = conv_length();
  return length >= 2 ? length / 2 : length;
}

void CnnExpertImpl::reset() {
  const int64_t n = shape.flat_dim();
  const int64_t d = shape.embedding_dim;
  project = register_module("project", torch::nn::Linear(n, positions() * d));
  // Padding is applied in forward(): torch's own `same` mode copies the input
  // for even kernels anyway and warns about it.
  conv = register_module(
      "conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(d, options.filters, options.kernel)));
  output = register_module("output", torch::nn::Linear(options.filters * pooled_length(), n));

  detail::init_linear(project, 1.0);
  torch::nn::init::kaiming_uniform_(conv->weight, /*a=*/0.0, torch::kFanIn, torch::kReLU);
  torch::nn::init::zeros_(conv->bias);
  detail::init_linear(output, kOutputGain);
}

torch::Tensor CnnExpertImpl::forward(const torch::Tensor& x, const torch::Tensor& x0) {
  detail::check_expert_inputs(x, x0, shape, "cnn");
  const int64_t rows = x.size(0);
  const int64_t p = positions();
  // [rows, P * D] -> [rows, D channels, P positions].
  torch::Tensor h = project(detail::flat_rows(x)).view({rows, p, shape.embedding_dim});
  h = h.transpose(1, 2);
  if (options.padding == CnnExpertOptions::Padding::kSame) {
    // As torch's `same`: kernel - 1 zeros in all, the odd one on the right.
    const int64_t left = (options.kernel - 1) / 2;
    h = at::constant_pad_nd(h, {left, options.kernel - 1 - left});
  } else if (p < options.kernel) {
    h = at::constant_pad_nd(h, {0, options.kernel - p});
  }
  h = at::relu(conv(h));
  if (h.size(2) >= 2) h = at::max_pool1d(h, /*kernel_size=*/{2});
  return output(h.reshape({rows, h.size(1) * h.size(2)})).view_as(x);
}

int64_t CnnExpertImpl::flops_per_row() const {
  const int64_t n = shape.flat_dim();
  const int64_t d = shape.embedding_dim;
  const int64_t project_flops = detail::linear_flops(n, positions() * d, true);
  const int64_t conv_flops =
      conv_length() * (2 * options.kernel * d * options.filters + options.filters);
  const int64_t output_flops = detail::linear_flops(options.filters * pooled_length(), n, true);
  return project_flops + conv_flops + output_flops;
}

void CnnExpertImpl::pretty_print(std::ostream& stream) const {
  stream << "adaensemble::CnnExpert(fields=" << shape.num_fields << ", dim=" << shape.embedding_dim
         << ", positions=" << positions() << ", filters=" << options.filters
         << ", kernel=" << options.kernel
         << ", padding=" << (options.padding == CnnExpertOptions::Padding::kSame ? "same" : "valid")
         << ")";
}

}  // namespace adaensemble::model
