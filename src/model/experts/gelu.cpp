#include "adaensemble/model/experts/gelu.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdint>

#include "adaensemble/util/cpu_clones.h"
#include "fast_exp.h"

namespace adaensemble::model::detail {
namespace {

/// Phi(x), the standard normal CDF. With z = |x| / sqrt 2, erfc(z) =
/// t exp(-z^2 + P(t)), t = 1 / (1 + z / 2), P a degree-9 polynomial
/// (Numerical Recipes' erfcc, relative error below 1.2e-7 for every z);
/// Phi(x) is erfc(z) / 2 for x < 0 and 1 - erfc(z) / 2 otherwise, so the left
/// tail keeps its relative precision. The exponent is at most 3e-8 (at z = 0),
/// which exp_nonpositive reads as 0.
inline float normal_cdf(float x) {
  const float z = (x < 0.0f ? -x : x) * 0.70710678f;
  const float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  const float half_tail = 0.5f * t * exp_nonpositive(p - z * z);
  return x < 0.0f ? half_tail : 1.0f - half_tail;
}

constexpr float kInvSqrt2Pi = 0.398942280f;

ADAENSEMBLE_CPU_CLONES void gelu_forward(const float* __restrict__ x, float* __restrict__ y,
                                         int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * normal_cdf(x[i]);
}

/// d/dx x Phi(x) = Phi(x) + x phi(x), phi(x) = e^(-x^2 / 2) / sqrt(2 pi).
ADAENSEMBLE_CPU_CLONES void gelu_backward(const float* __restrict__ x, const float* __restrict__ g,
                                          float* __restrict__ dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float density = exp_nonpositive(-0.5f * x[i] * x[i]) * kInvSqrt2Pi;
    dx[i] = g[i] * (normal_cdf(x[i]) + x[i] * density);
  }
}

/// Elements per parallel task.
constexpr int64_t kGrain = 32768;

bool fused(const at::Tensor& x) { return x.device().is_cpu() && x.scalar_type() == at::kFloat; }

class GeluFunction : public torch::autograd::Function<GeluFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x_in) {
    const at::Tensor x = x_in.contiguous();
    ctx->save_for_backward({x});
    if (!fused(x)) return at::gelu(x);
    at::Tensor y = at::empty_like(x);
    const float* from = x.data_ptr<float>();
    float* to = y.data_ptr<float>();
    at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
      gelu_forward(from + begin, to + begin, end - begin);
    });
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    const at::Tensor g = grads[0].contiguous();
    if (!fused(x) || at::GradMode::is_enabled()) return {at::gelu_backward(g, x)};
    at::Tensor dx = at::empty_like(x);
    const float* xs = x.data_ptr<float>();
    const float* gs = g.data_ptr<float>();
    float* out = dx.data_ptr<float>();
    at::parallel_for(0, x.numel(), kGrain, [&](int64_t begin, int64_t end) {
      gelu_backward(xs + begin, gs + begin, out + begin, end - begin);
    });
    return {dx};
  }
};

}  // namespace

at::Tensor gelu(const at::Tensor& x) { return GeluFunction::apply(x); }

}  // namespace adaensemble::model::detail
