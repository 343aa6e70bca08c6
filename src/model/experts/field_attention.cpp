#include "adaensemble/model/experts/field_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "adaensemble/util/cpu_clones.h"

namespace adaensemble::model::detail {
namespace {

/// exp(x) for the shifted scores of a softmax (x <= 0), in a form the compiler
/// vectorises: x = n ln2 + r with |r| <= ln2 / 2, a degree-7 polynomial for
/// e^r and the exponent bits for 2^n. Relative error about 2e-7. x is
/// clamped to [-87, 0] (e^-87 is near float's smallest normal); NaN stays NaN.
ADAENSEMBLE_INLINE float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : (x > 0.0f ? 0.0f : x);  // selects, not branches (no trapping math)
  // Truncation rounds to nearest here (t <= -0.5); a NaN t becomes -127 so
  // that the conversion and the shift below stay defined.
  const float t = x * 1.44269504f - 0.5f;
  const int n = static_cast<int>(t >= -127.0f ? t : -127.0f);
  const float nf = static_cast<float>(n);
  const float r = (x - nf * 0.693359375f) + nf * 2.12194440e-4f;  // ln2 split in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const uint32_t bits = static_cast<uint32_t>(n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

ADAENSEMBLE_INLINE double exp_nonpositive(double x) { return std::exp(x > 0.0 ? 0.0 : x); }

/// Sizes of one call: N rows of F fields, H heads of width h; an item is one
/// (row, head) pair.
struct Dims {
  int64_t rows;
  int64_t fields;
  int64_t heads;
  int64_t head_dim;
  int64_t items() const { return rows * heads; }
  /// Elements of one field's q (or k, v, out) over all heads.
  int64_t width() const { return heads * head_dim; }
};

// The per-item kernels below are forced inline (ADAENSEMBLE_INLINE) into the
// multi-versioned entry points at the end, so each instruction-set clone
// vectorises them for itself. The head width H is a compile-time constant (its
// loops unroll into whole vectors); other widths take the unfused path.

/// Scores are computed kRows rows at a time in blocks of kBlock columns (one
/// 64-byte vector), the kRows accumulators held in registers; rows of k^T and
/// v^T are zero-padded to a whole number of blocks.
template <typename T>
constexpr int64_t kBlock = 64 / sizeof(T);
constexpr int64_t kRows = 4;

inline int64_t padded(int64_t fields, int64_t block) {
  return (fields + block - 1) / block * block;
}

/// Per-thread scratch of one item: k^T [h, stride] and kRows score rows, and
/// for the backward pass v^T and kRows rows of dp.
template <typename T>
struct Scratch {
  Scratch(int64_t fields, int64_t head_dim, bool backward)
      : stride(padded(fields, kBlock<T>)),
        kt(head_dim * stride, T(0)),
        vt(backward ? head_dim * stride : 0, T(0)),
        s(kRows * stride),
        dp(backward ? kRows * stride : 0) {}
  int64_t stride;
  std::vector<T> kt, vt, s, dp;
};

/// Writes the transpose of x [F, H] (fields `ld` apart), times `scale`, into
/// xt [H, stride] (padding stays zero).
template <typename T, int64_t H>
ADAENSEMBLE_INLINE void transpose_into(const T* __restrict__ x, int64_t ld, T scale,
                                       T* __restrict__ xt, int64_t f, int64_t stride) {
  for (int64_t j = 0; j < f; ++j) {
    for (int64_t d = 0; d < H; ++d) xt[d * stride + j] = scale * x[j * ld + d];
  }
}

// GCC vector extensions: named vector values stay in registers (arrays of
// accumulators were spilled to the stack on every iteration), and each clone
// lowers them to its own register width.
template <typename T, int64_t N>
struct VecOf {
  typedef T type __attribute__((vector_size(N * sizeof(T))));
};
template <typename T, int64_t N>
using Vec = typename VecOf<T, N>::type;

template <typename V, typename T>
ADAENSEMBLE_INLINE V load(const T* from) {
  V value;
  std::memcpy(&value, from, sizeof(V));
  return value;
}

template <typename V, typename T>
ADAENSEMBLE_INLINE void store(T* to, const V& value) {
  std::memcpy(to, &value, sizeof(V));
}

/// out[r, j] = sum_d a[row r][d] bt[d, j] for r < kRows (4) and j < stride,
/// where row r (rows `ld` apart) is first + r clamped to `last` (the extra rows
/// are discarded).
template <typename T, int64_t H>
ADAENSEMBLE_INLINE void rows_times(const T* __restrict__ a, int64_t ld, int64_t first, int64_t last,
                                   const T* __restrict__ bt, T* __restrict__ out, int64_t stride) {
  static_assert(kRows == 4, "rows_times unrolls four rows");
  using V = Vec<T, kBlock<T>>;
  const T* a0 = a + std::min(first, last) * ld;
  const T* a1 = a + std::min(first + 1, last) * ld;
  const T* a2 = a + std::min(first + 2, last) * ld;
  const T* a3 = a + std::min(first + 3, last) * ld;
  for (int64_t jb = 0; jb < stride; jb += kBlock<T>) {
    V acc0 = {}, acc1 = {}, acc2 = {}, acc3 = {};
    for (int64_t d = 0; d < H; ++d) {
      const V b = load<V>(bt + d * stride + jb);
      acc0 += a0[d] * b;
      acc1 += a1[d] * b;
      acc2 += a2[d] * b;
      acc3 += a3[d] * b;
    }
    store(out + jb, acc0);
    store(out + stride + jb, acc1);
    store(out + 2 * stride + jb, acc2);
    store(out + 3 * stride + jb, acc3);
  }
}

/// Replaces s[j] by exp(s[j] - max) for j < stride and returns (max, sum)
/// over j < f, reducing in kBlock lanes.
template <typename T>
ADAENSEMBLE_INLINE std::pair<T, T> exp_row(T* __restrict__ s, int64_t f, int64_t stride) {
  constexpr int64_t kLanes = kBlock<T>;
  const int64_t full = f / kLanes * kLanes;
  T lanes[kLanes];
  for (int64_t w = 0; w < kLanes; ++w) lanes[w] = s[0];
  for (int64_t jb = 0; jb < full; jb += kLanes) {
    for (int64_t w = 0; w < kLanes; ++w) lanes[w] = s[jb + w] > lanes[w] ? s[jb + w] : lanes[w];
  }
  T max = s[0];
  for (int64_t w = 0; w < kLanes; ++w) max = lanes[w] > max ? lanes[w] : max;
  for (int64_t j = full; j < f; ++j) max = s[j] > max ? s[j] : max;
  for (int64_t j = 0; j < stride; ++j) s[j] = exp_nonpositive(s[j] - max);
  for (int64_t w = 0; w < kLanes; ++w) lanes[w] = 0;
  for (int64_t jb = 0; jb < full; jb += kLanes) {
    for (int64_t w = 0; w < kLanes; ++w) lanes[w] += s[jb + w];
  }
  T sum = 0;
  for (int64_t w = 0; w < kLanes; ++w) sum += lanes[w];
  for (int64_t j = full; j < f; ++j) sum += s[j];
  return {max, sum};
}

/// One item: out = softmax(scale q k^T) v [F, H] and, per row, the
/// log-sum-exp of its scores, from which the backward pass recomputes the
/// softmax (no F x F tensor is ever stored). The fields of q, k and v lie `ld`
/// apart, those of out `ld_out`. The scale goes into the transposed k (F H
/// multiplies, not F F, and no scaled copy of q), which the backward pass
/// rebuilds alike, so it recomputes the same scores. Rows go kRows at a time,
/// so that the weighted sums of v run kRows independent accumulator chains.
template <typename T, int64_t H>
ADAENSEMBLE_INLINE void attend(const T* __restrict__ q, const T* __restrict__ k,
                               const T* __restrict__ v, int64_t ld, T* __restrict__ out,
                               int64_t ld_out, T* __restrict__ lse, T scale, Scratch<T>& scratch,
                               int64_t f) {
  const int64_t stride = scratch.stride;
  T* __restrict__ s = scratch.s.data();
  transpose_into<T, H>(k, ld, scale, scratch.kt.data(), f, stride);
  for (int64_t i0 = 0; i0 < f; i0 += kRows) {
    rows_times<T, H>(q, ld, i0, f - 1, scratch.kt.data(), s, stride);
    T inv[kRows];
    for (int64_t r = 0; r < kRows; ++r) {
      const auto [max, sum] = exp_row(s + r * stride, f, stride);
      inv[r] = T(1) / sum;
      if (i0 + r < f) lse[i0 + r] = max + std::log(sum);
    }
    using V = Vec<T, H>;
    const T* s0 = s;
    const T* s1 = s + stride;
    const T* s2 = s + 2 * stride;
    const T* s3 = s + 3 * stride;
    V acc0 = {}, acc1 = {}, acc2 = {}, acc3 = {};
    for (int64_t j = 0; j < f; ++j) {
      const V vj = load<V>(v + j * ld);
      acc0 += s0[j] * vj;
      acc1 += s1[j] * vj;
      acc2 += s2[j] * vj;
      acc3 += s3[j] * vj;
    }
    const V acc[kRows] = {acc0, acc1, acc2, acc3};
    for (int64_t r = 0; r < kRows && i0 + r < f; ++r) {
      store(out + (i0 + r) * ld_out, acc[r] * inv[r]);
    }
  }
}

/// One item's gradients from g = d out: with p recomputed from q, k and the
/// saved log-sum-exp, dv = p^T g, dp = g v^T, ds = scale p (dp - rowsum(g out))
/// (rowsum(p dp) = rowsum(g out)), dq = ds k, dk = ds^T q. Strides as in
/// attend (g and out `ld_out`, the rest `ld`); kRows rows at a time, as in the
/// forward pass; rows past F get zero weight.
template <typename T, int64_t H>
ADAENSEMBLE_INLINE void attend_backward(const T* __restrict__ q, const T* __restrict__ k,
                                        const T* __restrict__ v, int64_t ld,
                                        const T* __restrict__ out, const T* __restrict__ g,
                                        int64_t ld_out, const T* __restrict__ lse, T scale,
                                        T* __restrict__ dq, T* __restrict__ dk, T* __restrict__ dv,
                                        Scratch<T>& scratch, int64_t f) {
  const int64_t stride = scratch.stride;
  T* __restrict__ p = scratch.s.data();
  T* __restrict__ dp = scratch.dp.data();
  transpose_into<T, H>(k, ld, scale, scratch.kt.data(), f, stride);
  transpose_into<T, H>(v, ld, T(1), scratch.vt.data(), f, stride);
  for (int64_t j = 0; j < f; ++j) {
    for (int64_t d = 0; d < H; ++d) dk[j * ld + d] = dv[j * ld + d] = 0;
  }
  for (int64_t i0 = 0; i0 < f; i0 += kRows) {
    rows_times<T, H>(q, ld, i0, f - 1, scratch.kt.data(), p, stride);
    rows_times<T, H>(g, ld_out, i0, f - 1, scratch.vt.data(), dp, stride);
    const T* qr[kRows];
    const T* gr[kRows];
    for (int64_t r = 0; r < kRows; ++r) {
      const int64_t i = std::min(i0 + r, f - 1);
      qr[r] = q + i * ld;
      gr[r] = g + i * ld_out;
      const T valid = i0 + r < f ? T(1) : T(0);
      T dot = 0;
      for (int64_t d = 0; d < H; ++d) dot += gr[r][d] * out[i * ld_out + d];
      T* pr = p + r * stride;
      T* dpr = dp + r * stride;
      // p, then ds = scale p (dp - dot) in place of dp; zero for rows past F.
      for (int64_t j = 0; j < stride; ++j) {
        pr[j] = valid * exp_nonpositive(pr[j] - lse[i]);
        dpr[j] = scale * pr[j] * (dpr[j] - dot);
      }
    }
    using V = Vec<T, H>;
    const V q0 = load<V>(qr[0]), q1 = load<V>(qr[1]), q2 = load<V>(qr[2]), q3 = load<V>(qr[3]);
    const V g0 = load<V>(gr[0]), g1 = load<V>(gr[1]), g2 = load<V>(gr[2]), g3 = load<V>(gr[3]);
    const T* p0 = p;
    const T* p1 = p + stride;
    const T* p2 = p + 2 * stride;
    const T* p3 = p + 3 * stride;
    const T* ds0 = dp;
    const T* ds1 = dp + stride;
    const T* ds2 = dp + 2 * stride;
    const T* ds3 = dp + 3 * stride;
    V acc0 = {}, acc1 = {}, acc2 = {}, acc3 = {};
    for (int64_t j = 0; j < f; ++j) {
      const V kj = load<V>(k + j * ld);
      acc0 += ds0[j] * kj;
      acc1 += ds1[j] * kj;
      acc2 += ds2[j] * kj;
      acc3 += ds3[j] * kj;
      const V dkj = (ds0[j] * q0 + ds1[j] * q1) + (ds2[j] * q2 + ds3[j] * q3);
      const V dvj = (p0[j] * g0 + p1[j] * g1) + (p2[j] * g2 + p3[j] * g3);
      store(dk + j * ld, load<V>(dk + j * ld) + dkj);
      store(dv + j * ld, load<V>(dv + j * ld) + dvj);
    }
    const V acc[kRows] = {acc0, acc1, acc2, acc3};
    for (int64_t r = 0; r < kRows && i0 + r < f; ++r) store(dq + (i0 + r) * ld, acc[r]);
  }
}

/// Pointers of one call: qkv and dqkv [N, F, 3, H, h], out and g [N, F, H, h],
/// lse [N, H, F].
template <typename T>
struct Operands {
  const T* qkv;
  T* out;  // forward: written; backward: read
  T* lse;  // forward: written; backward: read
  const T* g;
  T* dqkv;
  T scale;
};

/// Offsets of item `item` (row n, head a) in qkv and in out.
struct ItemOffsets {
  int64_t in;
  int64_t out;
};

inline ItemOffsets offsets_of(const Dims& dims, int64_t item) {
  const int64_t n = item / dims.heads;
  const int64_t head = item % dims.heads;
  const int64_t w = dims.width();
  return {n * dims.fields * 3 * w + head * dims.head_dim,
          n * dims.fields * w + head * dims.head_dim};
}

template <typename T, int64_t H>
ADAENSEMBLE_INLINE void forward_items(const Operands<T>& x, Dims dims, int64_t begin, int64_t end) {
  const int64_t f = dims.fields;
  const int64_t w = dims.width();
  Scratch<T> scratch(f, H, /*backward=*/false);
  for (int64_t item = begin; item < end; ++item) {
    const ItemOffsets at = offsets_of(dims, item);
    const T* q = x.qkv + at.in;
    attend<T, H>(q, q + w, q + 2 * w, 3 * w, x.out + at.out, w, x.lse + item * f, x.scale, scratch,
                 f);
  }
}

template <typename T, int64_t H>
ADAENSEMBLE_INLINE void backward_items(const Operands<T>& x, Dims dims, int64_t begin,
                                       int64_t end) {
  const int64_t f = dims.fields;
  const int64_t w = dims.width();
  Scratch<T> scratch(f, H, /*backward=*/true);
  for (int64_t item = begin; item < end; ++item) {
    const ItemOffsets at = offsets_of(dims, item);
    const T* q = x.qkv + at.in;
    T* dq = x.dqkv + at.in;
    attend_backward<T, H>(q, q + w, q + 2 * w, 3 * w, x.out + at.out, x.g + at.out, w,
                          x.lse + item * f, x.scale, dq, dq + w, dq + 2 * w, scratch, f);
  }
}

/// The head widths with a fused kernel, the one list of them. Dispatch folds
/// over it with plain calls: a lambda per width would be compiled outside the
/// instruction-set clones (for the baseline ISA, three times slower here).
template <int64_t... Widths>
struct HeadDims {};
using FusedHeadDims = HeadDims<4, 8, 16, 32>;

template <int64_t... Widths>
bool contains(HeadDims<Widths...>, int64_t head_dim) {
  return ((head_dim == Widths) || ...);
}

bool fused_head_dim(int64_t head_dim) { return contains(FusedHeadDims{}, head_dim); }

template <typename T, int64_t... Widths>
ADAENSEMBLE_INLINE void forward_any(HeadDims<Widths...>, const Operands<T>& x, Dims dims,
                                    int64_t begin, int64_t end) {
  const bool fused =
      ((dims.head_dim == Widths && (forward_items<T, Widths>(x, dims, begin, end), true)) || ...);
  TORCH_INTERNAL_ASSERT(fused, "field attention: no kernel for head_dim ", dims.head_dim);
}

template <typename T, int64_t... Widths>
ADAENSEMBLE_INLINE void backward_any(HeadDims<Widths...>, const Operands<T>& x, Dims dims,
                                     int64_t begin, int64_t end) {
  const bool fused =
      ((dims.head_dim == Widths && (backward_items<T, Widths>(x, dims, begin, end), true)) || ...);
  TORCH_INTERNAL_ASSERT(fused, "field attention: no kernel for head_dim ", dims.head_dim);
}

ADAENSEMBLE_CPU_CLONES void forward_range(const Operands<float>& x, Dims dims, int64_t begin,
                                          int64_t end) {
  forward_any(FusedHeadDims{}, x, dims, begin, end);
}

void forward_range(const Operands<double>& x, Dims dims, int64_t begin, int64_t end) {
  forward_any(FusedHeadDims{}, x, dims, begin, end);
}

ADAENSEMBLE_CPU_CLONES void backward_range(const Operands<float>& x, Dims dims, int64_t begin,
                                           int64_t end) {
  backward_any(FusedHeadDims{}, x, dims, begin, end);
}

void backward_range(const Operands<double>& x, Dims dims, int64_t begin, int64_t end) {
  backward_any(FusedHeadDims{}, x, dims, begin, end);
}

/// Items per parallel task: enough work (about 64k multiply-adds) to be worth
/// a thread hand-off.
int64_t grain_of(const Dims& dims) {
  const int64_t work = std::max<int64_t>(1, dims.fields * dims.fields * dims.head_dim);
  return std::max<int64_t>(1, 65536 / work);
}

class FieldAttentionFunction : public torch::autograd::Function<FieldAttentionFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& qkv_in,
                            double scale) {
    const at::Tensor qkv = qkv_in.contiguous();
    const Dims dims{qkv.size(0), qkv.size(1), qkv.size(3), qkv.size(4)};
    at::Tensor out = at::empty({dims.rows, dims.fields, dims.heads, dims.head_dim}, qkv.options());
    at::Tensor lse = at::empty({dims.rows, dims.heads, dims.fields}, qkv.options());
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "field_attention", [&] {
      Operands<scalar_t> x{};
      x.qkv = qkv.data_ptr<scalar_t>();
      x.out = out.data_ptr<scalar_t>();
      x.lse = lse.data_ptr<scalar_t>();
      x.scale = static_cast<scalar_t>(scale);
      at::parallel_for(0, dims.items(), grain_of(dims),
                       [&](int64_t begin, int64_t end) { forward_range(x, dims, begin, end); });
    });
    ctx->save_for_backward({qkv, out, lse});
    ctx->saved_data["scale"] = scale;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "field attention: only first derivatives are implemented (backward with "
                "create_graph is not supported)");
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& qkv = saved[0];
    const at::Tensor g = grads[0].contiguous();
    const Dims dims{qkv.size(0), qkv.size(1), qkv.size(3), qkv.size(4)};
    // Every element is written: dq per row, dk and dv zeroed, then summed into.
    at::Tensor dqkv = at::empty_like(qkv);
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "field_attention_backward", [&] {
      Operands<scalar_t> x{};
      x.qkv = qkv.data_ptr<scalar_t>();
      x.out = saved[1].data_ptr<scalar_t>();
      x.lse = saved[2].data_ptr<scalar_t>();
      x.g = g.data_ptr<scalar_t>();
      x.dqkv = dqkv.data_ptr<scalar_t>();
      x.scale = static_cast<scalar_t>(ctx->saved_data["scale"].toDouble());
      at::parallel_for(0, dims.items(), grain_of(dims),
                       [&](int64_t begin, int64_t end) { backward_range(x, dims, begin, end); });
    });
    return {dqkv, at::Tensor()};
  }
};

}  // namespace

at::Tensor field_attention_reference(const at::Tensor& qkv, double scale) {
  const at::Tensor parts = qkv.permute({2, 0, 3, 1, 4});  // [3, N, H, F, h]
  const at::Tensor q = parts.select(0, 0);
  const at::Tensor k = parts.select(0, 1);
  const at::Tensor v = parts.select(0, 2);
  const at::Tensor out = at::matmul(at::softmax(at::matmul(q, k.transpose(-2, -1)) * scale, -1), v);
  return out.permute({0, 2, 1, 3}).contiguous();  // [N, F, H, h]
}

at::Tensor field_attention(const at::Tensor& qkv, double scale) {
  TORCH_CHECK(qkv.dim() == 5 && qkv.size(2) == 3,
              "field attention: qkv must be [N, F, 3, H, h], got ", qkv.sizes());
  const bool fused = qkv.device().is_cpu() &&
                     (qkv.scalar_type() == at::kFloat || qkv.scalar_type() == at::kDouble) &&
                     qkv.size(1) > 0 && fused_head_dim(qkv.size(4));
  if (!fused) return field_attention_reference(qkv, scale);
  return FieldAttentionFunction::apply(qkv, scale);
}

}  // namespace adaensemble::model::detail
