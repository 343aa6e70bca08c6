// The exact (erf) GELU of the attention expert's projections, fused for the CPU.
#pragma once

#include <ATen/core/Tensor.h>

namespace adaensemble::model::detail {

/// x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)) with its first derivative. On the
/// CPU in float, one vectorised pass each way (erfc to a relative 1.2e-7, so
/// the values stay within a few float roundings of the exact ones, tails
/// included): LibTorch's own kernels here evaluate erf one element at a time.
/// Other types and devices take at::gelu, and at::gelu_backward on a
/// contiguous incoming gradient (given a permuted one, the backward of Debian's
/// LibTorch 1.13 reads garbage: zero or 1e30 gradients that differ from run to
/// run).
at::Tensor gelu(const at::Tensor& x);

}  // namespace adaensemble::model::detail
