// Scaled dot-product attention over the field axis, fused for the CPU: the
// core of the attention expert.
#pragma once

#include <ATen/core/Tensor.h>

namespace adaensemble::model::detail {

/// Returns multi-head scaled dot-product attention over the field axis. qkv
/// is [N, F, 3, H, h]: per row and field the queries, keys and values of H
/// heads of width h side by side, as one projection writes them. out is
/// [N, F, H, h] with out[n, :, a] = softmax(scale q k^T) v for the q, k, v of
/// row n and head a; first derivatives reach qkv. On the CPU, for float and
/// double and head widths h of 4, 8, 16 or 32, a fused kernel per (row, head)
/// reads q, k and v at their strides in qkv (a non-contiguous qkv is copied
/// first) and writes out directly in [N, F, H, h] order, keeps the F x F
/// scores in cache and recomputes them in the backward pass instead of
/// storing them: LibTorch's CPU bmm without MKL runs one small GEMM per batch
/// item (16k of them per call at batch 4096), which made this expert most of
/// a training step. Any other device, type or width takes at::matmul and
/// at::softmax. Float results differ from those in the last bits (another
/// summation order, the scale applied to k before the product, FMA where the
/// CPU has it). Throws c10::Error unless qkv.dim() == 5 && qkv.size(2) == 3.
at::Tensor field_attention(const at::Tensor& qkv, double scale);

/// The unfused reference: permutes to [N, H, F, h], then at::matmul,
/// at::softmax, at::matmul.
at::Tensor field_attention_reference(const at::Tensor& qkv, double scale);

}  // namespace adaensemble::model::detail
