// Scaled dot-product attention over the field axis, fused for the CPU: the
// core of the attention expert.
#pragma once

#include <ATen/core/Tensor.h>

namespace adaensemble::model::detail {

/// Returns softmax(q k^T) v for q, k, v of shape [N, F, h] (N = rows x heads;
/// q already scaled), with first derivatives for all three. On the CPU, for
/// float and double and head widths h of 4, 8, 16 or 32, a fused kernel per
/// (row, head) keeps the F x F scores in cache and recomputes them in the
/// backward pass instead of storing them: LibTorch's CPU bmm without MKL runs
/// one small GEMM per batch item (16k of them per call at batch 4096), which
/// made this expert most of a training step. Any other device, type or width
/// takes at::matmul and at::softmax. Float results differ from those in the
/// last bits (another summation order; FMA where the CPU has it).
at::Tensor field_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

/// The unfused reference: at::matmul, at::softmax, at::matmul.
at::Tensor field_attention_reference(const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& v);

}  // namespace adaensemble::model::detail
