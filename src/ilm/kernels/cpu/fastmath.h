// exp and tanh written as plain arithmetic, so that loops over them vectorize
// (glibc's expf/tanhf are scalar calls and were a fifth of a training step).
// exp_approx: relative error < 2e-7 over the float range (Cody-Waite range
// reduction, degree-6 polynomial on [-ln2/2, ln2/2]).
#pragma once

#include <cstdint>
#include <cstring>

namespace ilm::cpu {

inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : x;  // vectorizes with -fno-trapping-math (see CMakeLists.txt)
  x = x > 88.0f ? 88.0f : x;
  // Round to nearest by the 1.5 * 2^23 trick: a plain add that vectorizes (roundf is a call).
  constexpr float kShift = 12582912.0f;
  float n = (x * 1.44269504088896341f + kShift) - kShift;
  float r = x - n * 0.693145751953125f;  // ln2, split in two for exact reduction
  r = r - n * 1.42860682030941723212e-6f;
  float p = 1.3888889e-3f;
  p = p * r + 8.3333333e-3f;
  p = p * r + 4.1666667e-2f;
  p = p * r + 1.6666667e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits = (int32_t(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return p * scale;
}

// erf with |error| < 1.2e-7: the Chebyshev fit for erfc in Numerical Recipes
// (2nd ed., section 6.2, function erfcc).
inline float erf_approx(float x) {
  float z = x < 0.0f ? -x : x;
  float t = 1.0f / (1.0f + 0.5f * z);
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
  float erfc = t * exp_approx(-z * z + p);
  float r = 1.0f - erfc;
  return x < 0.0f ? -r : r;
}

inline float tanh_approx(float x) {
  // tanh(x) = 1 - 2 / (exp(2x) + 1); saturates cleanly since exp_approx clamps.
  return 1.0f - 2.0f / (exp_approx(2.0f * x) + 1.0f);
}

}  // namespace ilm::cpu
