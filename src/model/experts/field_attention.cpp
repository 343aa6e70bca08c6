#include "adaensemble/model/experts/field_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

// The float kernels are compiled once per instruction set and picked at load
// time (GCC function multi-versioning), so a portable build still runs AVX-512
// or AVX2 + FMA loops where the CPU has them.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define ADAENSEMBLE_CPU_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ADAENSEMBLE_CPU_CLONES
#endif

namespace adaensemble::model::detail {
namespace {

/// exp(x) for the shifted scores of a softmax (x <= 0), in a form the compiler
/// vectorises: x = n ln2 + r with |r| <= ln2 / 2, a degree-6 polynomial for
/// e^r and the exponent bits for 2^n. Relative error about 2e-7; below -87
/// (where e^x underflows float) it returns e^-87.
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;  // a select, not a branch, without trapping math
  const int n = static_cast<int>(x * 1.44269504f - 0.5f);  // truncation = rounding, as x <= 0
  const float nf = static_cast<float>(n);
  const float r = (x - nf * 0.693359375f) + nf * 2.12194440e-4f;  // ln2 split in two parts
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

inline double exp_nonpositive(double x) { return std::exp(x); }

/// Sizes of one call: N items of F x h.
struct Dims {
  int64_t items;
  int64_t fields;
  int64_t head_dim;
};

// The per-item kernels are forced inline into the multi-versioned entry points
// below, so each instruction-set clone vectorises them for itself. H > 0 fixes
// the head width at compile time (its inner loops then unroll into whole
// vectors); H = 0 reads it from `dims`.
#if defined(__GNUC__)
#define ADAENSEMBLE_INLINE inline __attribute__((always_inline))
#else
#define ADAENSEMBLE_INLINE inline
#endif

/// One item: p = softmax(q k^T) [F, F] and out = p v [F, h]. `kt` is scratch
/// for k^T, so that every inner loop runs over contiguous memory.
template <typename T, int64_t H>
ADAENSEMBLE_INLINE void attend(const T* __restrict__ q, const T* __restrict__ k,
                               const T* __restrict__ v, T* __restrict__ p, T* __restrict__ out,
                               T* __restrict__ kt, int64_t f, int64_t head_dim) {
  const int64_t h = H > 0 ? H : head_dim;
  for (int64_t j = 0; j < f; ++j) {
    for (int64_t d = 0; d < h; ++d) kt[d * f + j] = k[j * h + d];
  }
  for (int64_t i = 0; i < f; ++i) {
    const T* qi = q + i * h;
    T* s = p + i * f;
    for (int64_t j = 0; j < f; ++j) s[j] = qi[0] * kt[j];
    for (int64_t d = 1; d < h; ++d) {
      const T a = qi[d];
      const T* row = kt + d * f;
      for (int64_t j = 0; j < f; ++j) s[j] += a * row[j];
    }
    T max = s[0];
    for (int64_t j = 1; j < f; ++j) max = s[j] > max ? s[j] : max;
    T sum = 0;
    for (int64_t j = 0; j < f; ++j) {
      s[j] = exp_nonpositive(s[j] - max);
      sum += s[j];
    }
    const T inv = T(1) / sum;
    for (int64_t j = 0; j < f; ++j) s[j] *= inv;

    T acc[H > 0 ? H : 1];
    T* oi = H > 0 ? acc : out + i * h;
    for (int64_t d = 0; d < h; ++d) oi[d] = 0;
    for (int64_t j = 0; j < f; ++j) {
      const T w = s[j];
      const T* vj = v + j * h;
      for (int64_t d = 0; d < h; ++d) oi[d] += w * vj[d];
    }
    if (H > 0) {
      for (int64_t d = 0; d < h; ++d) out[i * h + d] = acc[d];
    }
  }
}

/// One item's gradients from g = d out [F, h] and the saved p: dv = p^T g,
/// dp = g v^T, ds = p (dp - rowsum(p dp)), dq = ds k, dk = ds^T q. `vt` holds
/// v^T and `row` one row of ds.
template <typename T, int64_t H>
ADAENSEMBLE_INLINE void attend_backward(const T* __restrict__ q, const T* __restrict__ k,
                                        const T* __restrict__ v, const T* __restrict__ p,
                                        const T* __restrict__ g, T* __restrict__ dq,
                                        T* __restrict__ dk, T* __restrict__ dv,
                                        T* __restrict__ vt, T* __restrict__ row, int64_t f,
                                        int64_t head_dim) {
  const int64_t h = H > 0 ? H : head_dim;
  for (int64_t j = 0; j < f; ++j) {
    for (int64_t d = 0; d < h; ++d) vt[d * f + j] = v[j * h + d];
  }
  for (int64_t e = 0; e < f * h; ++e) dk[e] = dv[e] = 0;
  for (int64_t i = 0; i < f; ++i) {
    const T* pi = p + i * f;
    const T* gi = g + i * h;
    const T* qi = q + i * h;
    for (int64_t j = 0; j < f; ++j) {
      const T w = pi[j];
      T* dvj = dv + j * h;
      for (int64_t d = 0; d < h; ++d) dvj[d] += w * gi[d];
    }
    for (int64_t j = 0; j < f; ++j) row[j] = gi[0] * vt[j];
    for (int64_t d = 1; d < h; ++d) {
      const T a = gi[d];
      const T* vrow = vt + d * f;
      for (int64_t j = 0; j < f; ++j) row[j] += a * vrow[j];
    }
    T dot = 0;
    for (int64_t j = 0; j < f; ++j) dot += pi[j] * row[j];
    for (int64_t j = 0; j < f; ++j) row[j] = pi[j] * (row[j] - dot);

    T acc[H > 0 ? H : 1];
    T* dqi = H > 0 ? acc : dq + i * h;
    for (int64_t d = 0; d < h; ++d) dqi[d] = 0;
    for (int64_t j = 0; j < f; ++j) {
      const T w = row[j];
      const T* kj = k + j * h;
      T* dkj = dk + j * h;
      for (int64_t d = 0; d < h; ++d) {
        dqi[d] += w * kj[d];
        dkj[d] += w * qi[d];
      }
    }
    if (H > 0) {
      for (int64_t d = 0; d < h; ++d) dq[i * h + d] = acc[d];
    }
  }
}

template <typename T, int64_t H>
ADAENSEMBLE_INLINE void forward_items(const T* q, const T* k, const T* v, T* p, T* out, Dims dims,
                                      int64_t begin, int64_t end) {
  const int64_t f = dims.fields;
  const int64_t h = dims.head_dim;
  std::vector<T> kt(f * h);
  for (int64_t n = begin; n < end; ++n) {
    const int64_t at = n * f * h;
    attend<T, H>(q + at, k + at, v + at, p + n * f * f, out + at, kt.data(), f, h);
  }
}

template <typename T, int64_t H>
ADAENSEMBLE_INLINE void backward_items(const T* q, const T* k, const T* v, const T* p, const T* g,
                                       T* dq, T* dk, T* dv, Dims dims, int64_t begin,
                                       int64_t end) {
  const int64_t f = dims.fields;
  const int64_t h = dims.head_dim;
  std::vector<T> vt(f * h);
  std::vector<T> row(f);
  for (int64_t n = begin; n < end; ++n) {
    const int64_t at = n * f * h;
    attend_backward<T, H>(q + at, k + at, v + at, p + n * f * f, g + at, dq + at, dk + at,
                          dv + at, vt.data(), row.data(), f, h);
  }
}

// Entry points: the head widths the presets use get their own unrolled code.
template <typename T>
ADAENSEMBLE_INLINE void forward_any(const T* q, const T* k, const T* v, T* p, T* out, Dims dims,
                                    int64_t begin, int64_t end) {
  switch (dims.head_dim) {
    case 4: return forward_items<T, 4>(q, k, v, p, out, dims, begin, end);
    case 8: return forward_items<T, 8>(q, k, v, p, out, dims, begin, end);
    case 16: return forward_items<T, 16>(q, k, v, p, out, dims, begin, end);
    default: return forward_items<T, 0>(q, k, v, p, out, dims, begin, end);
  }
}

template <typename T>
ADAENSEMBLE_INLINE void backward_any(const T* q, const T* k, const T* v, const T* p, const T* g,
                                     T* dq, T* dk, T* dv, Dims dims, int64_t begin, int64_t end) {
  switch (dims.head_dim) {
    case 4: return backward_items<T, 4>(q, k, v, p, g, dq, dk, dv, dims, begin, end);
    case 8: return backward_items<T, 8>(q, k, v, p, g, dq, dk, dv, dims, begin, end);
    case 16: return backward_items<T, 16>(q, k, v, p, g, dq, dk, dv, dims, begin, end);
    default: return backward_items<T, 0>(q, k, v, p, g, dq, dk, dv, dims, begin, end);
  }
}

ADAENSEMBLE_CPU_CLONES void forward_range(const float* q, const float* k, const float* v,
                                          float* p, float* out, Dims dims, int64_t begin,
                                          int64_t end) {
  forward_any(q, k, v, p, out, dims, begin, end);
}

void forward_range(const double* q, const double* k, const double* v, double* p, double* out,
                   Dims dims, int64_t begin, int64_t end) {
  forward_any(q, k, v, p, out, dims, begin, end);
}

ADAENSEMBLE_CPU_CLONES void backward_range(const float* q, const float* k, const float* v,
                                           const float* p, const float* g, float* dq, float* dk,
                                           float* dv, Dims dims, int64_t begin, int64_t end) {
  backward_any(q, k, v, p, g, dq, dk, dv, dims, begin, end);
}

void backward_range(const double* q, const double* k, const double* v, const double* p,
                    const double* g, double* dq, double* dk, double* dv, Dims dims,
                    int64_t begin, int64_t end) {
  backward_any(q, k, v, p, g, dq, dk, dv, dims, begin, end);
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
    at::Tensor p = at::empty({dims.items, dims.fields, dims.fields}, q.options());
    at::Tensor out = at::empty_like(q);
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "field_attention", [&] {
      const scalar_t* qp = q.data_ptr<scalar_t>();
      const scalar_t* kp = k.data_ptr<scalar_t>();
      const scalar_t* vp = v.data_ptr<scalar_t>();
      scalar_t* pp = p.data_ptr<scalar_t>();
      scalar_t* op = out.data_ptr<scalar_t>();
      at::parallel_for(0, dims.items, grain_of(dims), [&](int64_t begin, int64_t end) {
        forward_range(qp, kp, vp, pp, op, dims, begin, end);
      });
    });
    ctx->save_for_backward({q, k, v, p});
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& q = saved[0];
    const at::Tensor& k = saved[1];
    const at::Tensor& v = saved[2];
    const at::Tensor& p = saved[3];
    const at::Tensor g = grads[0].contiguous();
    const Dims dims{q.size(0), q.size(1), q.size(2)};
    at::Tensor dq = at::empty_like(q);
    at::Tensor dk = at::empty_like(k);
    at::Tensor dv = at::empty_like(v);
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "field_attention_backward", [&] {
      const scalar_t* qp = q.data_ptr<scalar_t>();
      const scalar_t* kp = k.data_ptr<scalar_t>();
      const scalar_t* vp = v.data_ptr<scalar_t>();
      const scalar_t* pp = p.data_ptr<scalar_t>();
      const scalar_t* gp = g.data_ptr<scalar_t>();
      scalar_t* dqp = dq.data_ptr<scalar_t>();
      scalar_t* dkp = dk.data_ptr<scalar_t>();
      scalar_t* dvp = dv.data_ptr<scalar_t>();
      at::parallel_for(0, dims.items, grain_of(dims), [&](int64_t begin, int64_t end) {
        backward_range(qp, kp, vp, pp, gp, dqp, dkp, dvp, dims, begin, end);
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
                     q.size(1) > 0 && q.size(2) > 0;
  if (!fused) return field_attention_reference(q, k, v);
  return FieldAttentionFunction::apply(q, k, v);
}

}  // namespace adaensemble::model::detail
