// exp of non-positive arguments in a form the compiler vectorises, for the
// experts' fused float kernels. Private to src/model/experts.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace adaensemble::model::detail {

/// exp(x) for x <= 0 (a softmax's shifted scores, a Gaussian's exponent), in
/// a form the compiler vectorises: x = n ln2 + r with |r| <= ln2 / 2, a
/// degree-6 polynomial for e^r and the exponent bits for 2^n. Relative error about 2e-7. x is
/// clamped to [-87, 0] (e^-87 is near float's smallest normal); NaN stays NaN.
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

}  // namespace adaensemble::model::detail
