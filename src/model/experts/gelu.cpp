#include "adaensemble/model/experts/gelu.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

namespace adaensemble::model::detail {
namespace {

// at::gelu's kernels both ways. The backward kernel gets contiguous operands:
// the incoming gradient is the one it misreads when strided, and the input is
// made to match it (a no-op for the projections' outputs).
class GeluFunction : public torch::autograd::Function<GeluFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    ctx->save_for_backward({x});
    return at::gelu(x);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    return {at::gelu_backward(grads[0].contiguous(), x.contiguous())};
  }
};

}  // namespace

at::Tensor gelu(const at::Tensor& x) { return GeluFunction::apply(x); }

}  // namespace adaensemble::model::detail
