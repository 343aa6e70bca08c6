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
/// vectorises: x = n ln2 + r with |r| <= ln2 / 2, a degree-6 polynomial for
/// e^r and the exponent bits for 2^n. Relative error about 2e-7. x is clamped
/// to [-87, 0] (e^-87 is near float's smallest normal); NaN stays NaN.
inline float exp_nonpositive(float x) {
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

inline double exp_nonpositive(double x) { return std::exp(x > 0.0 ? 0.0 : x); }

/// Sizes of one call: N items of F x h.
struct Dims {
  int64_t items;
  int64_t fields;
  int64_t head_dim;
};

// The per-item kernels are forced inline into the multi-versioned entry points
// below, so each instruction-set clone vectorises them for itself. The head
// width H is a compile-time constant (its loops unroll into whole vectors);
// other widths take the unfused path.
#if defined(__GNUC__)
#define ADAENSEMBLE_INLINE inline __attribute__((always_inline))
#else
#define ADAENSEMBLE_INLINE inline
#endif

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

/// Writes the transpose of x [F, H] into xt [H, stride] (padding stays zero).
template <typename T, int64_t H>
ADAENSEMBLE_INLINE void transpose_into(const T* __restrict__ x, T* __restrict__ xt, int64_t f,
                                       int64_t stride) {
  for (int64_t j = 0; j < f; ++j) {
    for (int64_t d = 0; d < H; ++d) xt[d * stride + j] = x[j * H + d];
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
/// where row r is first + r clamped to `last` (the extra rows are discarded).
template <typename T, int64_t H>
ADAENSEMBLE_INLINE void rows_times(const T* __restrict__ a, int64_t first, int64_t last,
                                   const T* __restrict__ bt, T* __restrict__ out,
                                   int64_t stride) {
  static_assert(kRows == 4, "rows_times unrolls four rows");
  using V = Vec<T, kBlock<T>>;
  const T* a0 = a + std::min(first, last) * H;
  const T* a1 = a + std::min(first + 1, last) * H;
  const T* a2 = a + std::min(first + 2, last) * H;
  const T* a3 = a + std::min(first + 3, last) * H;
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

/// One item: out = softmax(q k^T) v [F, H] and, per row, the log-sum-exp of
/// its scores, from which the backward pass recomputes the softmax (no F x F
/// tensor is ever stored). Rows go kRows at a time, so that the weighted sums
/// of v run kRows independent accumulator chains.
template <typename T, int64_t H>
ADAENSEMBLE_INLINE void attend(const T* __restrict__ q, const T* __restrict__ k,
                               const T* __restrict__ v, T* __restrict__ out, T* __restrict__ lse,
                               Scratch<T>& scratch, int64_t f) {
  const int64_t stride = scratch.stride;
  T* __restrict__ s = scratch.s.data();
  transpose_into<T, H>(k, scratch.kt.data(), f, stride);
  for (int64_t i0 = 0; i0 < f; i0 += kRows) {
    rows_times<T, H>(q, i0, f - 1, scratch.kt.data(), s, stride);
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
      const V vj = load<V>(v + j * H);
      acc0 += s0[j] * vj;
      acc1 += s1[j] * vj;
      acc2 += s2[j] * vj;
      acc3 += s3[j] * vj;
    }
    const V acc[kRows] = {acc0, acc1, acc2, acc3};
    for (int64_t r = 0; r < kRows && i0 + r < f; ++r) store(out + (i0 + r) * H, acc[r] * inv[r]);
  }
}

/// One item's gradients from g = d out: with p recomputed from q, k and the
/// saved log-sum-exp, dv = p^T g, dp = g v^T, ds = p (dp - rowsum(g out))
/// (rowsum(p dp) = rowsum(g out)), dq = ds k, dk = ds^T q. kRows rows at a
/// time, as in the forward pass; rows past F get zero weight.
template <typename T, int64_t H>
ADAENSEMBLE_INLINE void attend_backward(const T* __restrict__ q, const T* __restrict__ k,
                                        const T* __restrict__ v, const T* __restrict__ out,
                                        const T* __restrict__ lse, const T* __restrict__ g,
                                        T* __restrict__ dq, T* __restrict__ dk,
                                        T* __restrict__ dv, Scratch<T>& scratch, int64_t f) {
  const int64_t stride = scratch.stride;
  T* __restrict__ p = scratch.s.data();
  T* __restrict__ dp = scratch.dp.data();
  transpose_into<T, H>(k, scratch.kt.data(), f, stride);
  transpose_into<T, H>(v, scratch.vt.data(), f, stride);
  for (int64_t e = 0; e < f * H; ++e) dk[e] = dv[e] = 0;
  for (int64_t i0 = 0; i0 < f; i0 += kRows) {
    rows_times<T, H>(q, i0, f - 1, scratch.kt.data(), p, stride);
    rows_times<T, H>(g, i0, f - 1, scratch.vt.data(), dp, stride);
    const T* qr[kRows];
    const T* gr[kRows];
    for (int64_t r = 0; r < kRows; ++r) {
      const int64_t i = std::min(i0 + r, f - 1);
      qr[r] = q + i * H;
      gr[r] = g + i * H;
      const T valid = i0 + r < f ? T(1) : T(0);
      T dot = 0;
      for (int64_t d = 0; d < H; ++d) dot += gr[r][d] * out[i * H + d];
      T* pr = p + r * stride;
      T* dpr = dp + r * stride;
      // p, then ds = p (dp - dot) in place of dp; zero for rows past F.
      for (int64_t j = 0; j < stride; ++j) {
        pr[j] = valid * exp_nonpositive(pr[j] - lse[i]);
        dpr[j] = pr[j] * (dpr[j] - dot);
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
      const V kj = load<V>(k + j * H);
      acc0 += ds0[j] * kj;
      acc1 += ds1[j] * kj;
      acc2 += ds2[j] * kj;
      acc3 += ds3[j] * kj;
      const V dkj = (ds0[j] * q0 + ds1[j] * q1) + (ds2[j] * q2 + ds3[j] * q3);
      const V dvj = (p0[j] * g0 + p1[j] * g1) + (p2[j] * g2 + p3[j] * g3);
      store(dk + j * H, load<V>(dk + j * H) + dkj);
      store(dv + j * H, load<V>(dv + j * H) + dvj);
    }
    const V acc[kRows] = {acc0, acc1, acc2, acc3};
    for (int64_t r = 0; r < kRows && i0 + r < f; ++r) store(dq + (i0 + r) * H, acc[r]);
  }
}

/// Pointers of one call; items are [F, h] blocks at n * F * h, lse rows at n * F.
template <typename T>
struct Operands {
  const T* q;
  const T* k;
  const T* v;
  T* out;  // forward: written; backward: read
  T* lse;  // forward: written; backward: read
  const T* g;
  T* dq;
  T* dk;
  T* dv;
};

template <typename T, int64_t H>
ADAENSEMBLE_INLINE void forward_items(const Operands<T>& x, Dims dims, int64_t begin,
                                      int64_t end) {
  const int64_t f = dims.fields;
  Scratch<T> scratch(f, H, /*backward=*/false);
  for (int64_t n = begin; n < end; ++n) {
    const int64_t at = n * f * H;
    attend<T, H>(x.q + at, x.k + at, x.v + at, x.out + at, x.lse + n * f, scratch, f);
  }
}

template <typename T, int64_t H>
ADAENSEMBLE_INLINE void backward_items(const Operands<T>& x, Dims dims, int64_t begin,
                                       int64_t end) {
  const int64_t f = dims.fields;
  Scratch<T> scratch(f, H, /*backward=*/true);
  for (int64_t n = begin; n < end; ++n) {
    const int64_t at = n * f * H;
    attend_backward<T, H>(x.q + at, x.k + at, x.v + at, x.out + at, x.lse + n * f, x.g + at,
                          x.dq + at, x.dk + at, x.dv + at, scratch, f);
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
  const bool fused = ((dims.head_dim == Widths &&
                       (forward_items<T, Widths>(x, dims, begin, end), true)) ||
                      ...);
  TORCH_INTERNAL_ASSERT(fused, "field attention: no kernel for head_dim ", dims.head_dim);
}

template <typename T, int64_t... Widths>
ADAENSEMBLE_INLINE void backward_any(HeadDims<Widths...>, const Operands<T>& x, Dims dims,
                                     int64_t begin, int64_t end) {
  const bool fused = ((dims.head_dim == Widths &&
                       (backward_items<T, Widths>(x, dims, begin, end), true)) ||
                      ...);
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
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q_in,
                            const at::Tensor& k_in, const at::Tensor& v_in) {
    const at::Tensor q = q_in.contiguous();
    const at::Tensor k = k_in.contiguous();
    const at::Tensor v = v_in.contiguous();
    const Dims dims{q.size(0), q.size(1), q.size(2)};
    at::Tensor out = at::empty_like(q);
    at::Tensor lse = at::empty({dims.items, dims.fields}, q.options());
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "field_attention", [&] {
      Operands<scalar_t> x{};
      x.q = q.data_ptr<scalar_t>();
      x.k = k.data_ptr<scalar_t>();
      x.v = v.data_ptr<scalar_t>();
      x.out = out.data_ptr<scalar_t>();
      x.lse = lse.data_ptr<scalar_t>();
      at::parallel_for(0, dims.items, grain_of(dims), [&](int64_t begin, int64_t end) {
        forward_range(x, dims, begin, end);
      });
    });
    ctx->save_for_backward({q, k, v, out, lse});
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    TORCH_CHECK(!at::GradMode::is_enabled(),
                "field attention: only first derivatives are implemented (backward with "
                "create_graph is not supported)");
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& q = saved[0];
    const at::Tensor g = grads[0].contiguous();
    const Dims dims{q.size(0), q.size(1), q.size(2)};
    at::Tensor dq = at::empty_like(q);
    at::Tensor dk = at::empty_like(q);
    at::Tensor dv = at::empty_like(q);
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "field_attention_backward", [&] {
      Operands<scalar_t> x{};
      x.q = q.data_ptr<scalar_t>();
      x.k = saved[1].data_ptr<scalar_t>();
      x.v = saved[2].data_ptr<scalar_t>();
      x.out = saved[3].data_ptr<scalar_t>();
      x.lse = saved[4].data_ptr<scalar_t>();
      x.g = g.data_ptr<scalar_t>();
      x.dq = dq.data_ptr<scalar_t>();
      x.dk = dk.data_ptr<scalar_t>();
      x.dv = dv.data_ptr<scalar_t>();
      at::parallel_for(0, dims.items, grain_of(dims), [&](int64_t begin, int64_t end) {
        backward_range(x, dims, begin, end);
      });
    });
    return {dq, dk, dv};
  }
};

}  // namespace

at::Tensor field_attention_reference(const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& v) {
  return at::matmul(at::softmax(at::matmul(q, k.transpose(-2, -1)), -1), v);
}

at::Tensor field_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  TORCH_CHECK(q.dim() == 3 && k.sizes() == q.sizes() && v.sizes() == q.sizes(),
              "field attention: q, k and v must all be [N, F, h], got ", q.sizes(), ", ",
              k.sizes(), " and ", v.sizes());
  const bool fused = q.device().is_cpu() && k.device().is_cpu() && v.device().is_cpu() &&
                     (q.scalar_type() == at::kFloat || q.scalar_type() == at::kDouble) &&
                     k.scalar_type() == q.scalar_type() && v.scalar_type() == q.scalar_type() &&
                     q.size(1) > 0 && fused_head_dim(q.size(2));
  if (!fused) return field_attention_reference(q, k, v);
  return FieldAttentionFunction::apply(q, k, v);
}

}  // namespace adaensemble::model::detail
