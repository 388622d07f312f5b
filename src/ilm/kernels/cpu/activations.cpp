// SiLU, SwiGLU (LLaMA's MLP: silu(gate) * up) and tanh: elementwise kernels.
#include <cmath>

#include "ilm/kernels/cpu/fastmath.h"
#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

namespace {
inline float sigmoid(float x) {
  return 1.0f / (1.0f + exp_approx(-x));
}
}  // namespace

void silu_forward(float* out, const float* inp, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) out[i] = inp[i] * sigmoid(inp[i]);
}

void silu_backward(float* dinp, const float* inp, const float* dout, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    float x = inp[i], s = sigmoid(x);
    dinp[i] += dout[i] * s * (1.0f + x * (1.0f - s));
  }
}

void swiglu_forward(float* out, const float* gate, const float* up, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    float g = gate[i], s = sigmoid(g);
    if (dgate) dgate[i] += dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
    if (dup) dup[i] += dout[i] * g * s;
  }
}

void tanh_forward(float* out, const float* inp, int64_t N) {
  // libm's tanhf, not tanh_approx: 1 - 2/(e^2x + 1) loses relative precision near 0.
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < N; ++i) out[i] = std::tanh(inp[i]);
}

void tanh_backward(float* dinp, const float* out, const float* dout, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

}  // namespace ilm::cpu
