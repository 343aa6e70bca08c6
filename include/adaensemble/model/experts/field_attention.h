// Scaled dot-product attention over the field axis, fused for the CPU: the
// core of the attention expert.
#pragma once

#include <ATen/core/Tensor.h>

namespace adaensemble::model::detail {

/// Returns softmax(q k^T) v for q, k, v of shape [N, F, h] (N = rows x heads;
/// q already scaled), with gradients for all three. On the CPU, for float and
/// double, one fused kernel per (row, head) keeps the F x F scores in cache:
/// LibTorch's CPU bmm without MKL runs one small GEMM per batch item (16k of
/// them per call at batch 4096), which made this expert most of a training
/// step. Elsewhere it is at::matmul and at::softmax.
at::Tensor field_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

/// The unfused reference: at::matmul, at::softmax, at::matmul.
at::Tensor field_attention_reference(const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& v);

}  // namespace adaensemble::model::detail
