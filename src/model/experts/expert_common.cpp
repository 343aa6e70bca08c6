#include "expert_common.h"

#include <ATen/ATen.h>
#include <torch/nn/init.h>

namespace adaensemble::model::detail {

void check_expert_inputs(const torch::Tensor& x, const torch::Tensor& x0, const ExpertShape& shape,
                         const std::string& kind) {
  TORCH_CHECK(x.dim() == 3 && x.size(1) == shape.num_fields && x.size(2) == shape.embedding_dim,
              kind, " expert: x must be [rows, ", shape.num_fields, ", ", shape.embedding_dim,
              "], got ", x.sizes());
  TORCH_CHECK(x0.sizes() == x.sizes(), kind, " expert: x0 must have x's shape ", x.sizes(),
              ", got ", x0.sizes());
}

void check_expert_shape(const ExpertShape& shape, const std::string& kind) {
  TORCH_CHECK(shape.num_fields >= 1 && shape.embedding_dim >= 1, kind,
              " expert: needs at least one field and one embedding dimension, got fields=",
              shape.num_fields, " dim=", shape.embedding_dim);
}

void init_linear(torch::nn::Linear& linear, double gain) {
  torch::nn::init::xavier_uniform_(linear->weight, gain);
  if (linear->bias.defined()) torch::nn::init::zeros_(linear->bias);
}

void init_linear_relu(torch::nn::Linear& linear) {
  torch::nn::init::kaiming_uniform_(linear->weight, /*a=*/0.0, torch::kFanIn, torch::kReLU);
  if (linear->bias.defined()) torch::nn::init::zeros_(linear->bias);
}

}  // namespace adaensemble::model::detail
