// The exact (erf) GELU of the attention expert's projections.
#pragma once

#include <ATen/core/Tensor.h>

namespace adaensemble::model::detail {

/// Returns x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), with first and second
/// derivatives: at::gelu and at::gelu_backward, one kernel each way (the same
/// formula composed of elementwise ops takes five each way and, forward and
/// backward together, three to seven times as long on a [10k, 96] float
/// tensor here; a hand-written vectorised float kernel measured slower than
/// ATen's), with both operands of the backward kernel made contiguous first.
/// Given a permuted incoming gradient, the stock backward in Debian's LibTorch
/// 1.13 reads garbage: zero or 1e30 gradients that differ from run to run. In
/// float the left tail is accurate in absolute terms only (1 + erf cancels).
at::Tensor gelu(const at::Tensor& x);

}  // namespace adaensemble::model::detail
