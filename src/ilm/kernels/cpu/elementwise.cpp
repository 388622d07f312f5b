// GELU, residual, dropout: elementwise kernels.
#include <cmath>

#include "ilm/core/rng.h"
#include "ilm/kernels/cpu/fastmath.h"
#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

namespace {
constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluCubic = 0.044715f;
}  // namespace

void gelu_forward(float* out, const float* inp, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    float x = inp[i];
    float u = kGeluScale * (x + kGeluCubic * x * x * x);
    out[i] = 0.5f * x * (1.0f + tanh_approx(u));
  }
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    float x = inp[i];
    float u = kGeluScale * (x + kGeluCubic * x * x * x);
    float th = tanh_approx(u);
    float sech2 = 1.0f - th * th;
    float local = 0.5f * (1.0f + th) + 0.5f * x * sech2 * kGeluScale * (1.0f + 3.0f * kGeluCubic * x * x);
    dinp[i] += local * dout[i];
  }
}

void gelu_exact_forward(float* out, const float* inp, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + erf_approx(x * 0.70710678118654752f));
  }
}

void gelu_exact_backward(float* dinp, const float* inp, const float* dout, int64_t N) {
  constexpr float kInvSqrt2Pi = 0.3989422804014327f;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    float x = inp[i];
    float cdf = 0.5f * (1.0f + erf_approx(x * 0.70710678118654752f));
    float pdf = kInvSqrt2Pi * exp_approx(-0.5f * x * x);
    dinp[i] += (cdf + x * pdf) * dout[i];
  }
}

void residual_forward(float* out, const float* a, const float* b, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) out[i] = a[i] + b[i];
}

void residual_backward(float* da, float* db, const float* dout, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    da[i] += dout[i];
    db[i] += dout[i];
  }
}

void dropout_forward(float* out, const float* inp, float p, uint64_t seed, int64_t N) {
  float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < N; ++i) out[i] = hash_uniform(seed, uint64_t(i)) >= p ? inp[i] * scale : 0.0f;
}

void dropout_backward(float* dinp, const float* dout, float p, uint64_t seed, int64_t N) {
  float scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < N; ++i)
    if (hash_uniform(seed, uint64_t(i)) >= p) dinp[i] += dout[i] * scale;
}

}  // namespace ilm::cpu
