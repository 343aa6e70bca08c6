#include "expert_common.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
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

namespace {

// at::gelu both ways (one vectorised pass each), with the incoming gradient
// made contiguous before the backward kernel sees it.
struct GeluFunction : public torch::autograd::Function<GeluFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return at::gelu(x);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor x = ctx->get_saved_variables()[0];
    return {at::gelu_backward(grads[0].contiguous(), x.contiguous())};
  }
};

}  // namespace

torch::Tensor gelu(const torch::Tensor& x) { return GeluFunction::apply(x); }

void init_linear(torch::nn::Linear& linear, double gain) {
  torch::nn::init::xavier_uniform_(linear->weight, gain);
  if (linear->bias.defined()) torch::nn::init::zeros_(linear->bias);
}

void init_linear_relu(torch::nn::Linear& linear) {
  torch::nn::init::kaiming_uniform_(linear->weight, /*a=*/0.0, torch::kFanIn, torch::kReLU);
  if (linear->bias.defined()) torch::nn::init::zeros_(linear->bias);
}

}  // namespace adaensemble::model::detail
