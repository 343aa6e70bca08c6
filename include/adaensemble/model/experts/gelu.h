// The exact (erf) GELU of the attention expert's projections.
#pragma once

#include <ATen/core/Tensor.h>

namespace adaensemble::model::detail {

/// Returns x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), differentiable: at::gelu
/// and at::gelu_backward (one vectorised pass each way; the same formula
/// composed of elementwise ops takes five each way and, forward and backward,
/// three to seven times as long here), with the incoming gradient made
/// contiguous first. Given a permuted
/// one, the stock backward in Debian's LibTorch 1.13 reads garbage: zero or
/// 1e30 gradients that differ from run to run.
at::Tensor gelu(const at::Tensor& x);

}  // namespace adaensemble::model::detail
