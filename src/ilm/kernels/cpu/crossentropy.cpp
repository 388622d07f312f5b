#include <cmath>

#include "ilm/core/error.h"
#include "ilm/kernels/cpu/fastmath.h"
#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

int64_t crossentropy_forward(float* losses, float* lse, const float* logits,
                             const int32_t* targets, int64_t N, int V, int ignore_index) {
  int64_t count = 0;
  for (int64_t n = 0; n < N; ++n) {
    int32_t t = targets[n];
    if (t == ignore_index) continue;
    ILM_CHECK(t >= 0 && t < V, "[cross_entropy] target {} at row {} is outside [0, {})", t, n, V);
    ++count;
  }
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* z = logits + n * V;
    float mx = z[0];
    for (int i = 1; i < V; ++i) mx = z[i] > mx ? z[i] : mx;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int i = 0; i < V; ++i) s += exp_approx(z[i] - mx);
    float l = mx + std::log(s);
    if (lse) lse[n] = l;
    int32_t t = targets[n];
    losses[n] = t == ignore_index ? 0.0f : l - z[t];
  }
  return count;
}

void crossentropy_backward(float* dlogits, const float* logits, const float* lse,
                           const int32_t* targets, const float* dloss, int64_t N, int V,
                           int ignore_index, bool overwrite) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    int32_t t = targets[n];
    const float* z = logits + n * V;
    float* dz = dlogits + n * V;
    if (t == ignore_index) {
      if (overwrite)
        for (int i = 0; i < V; ++i) dz[i] = 0.0f;
      continue;
    }
    float l = lse[n], g = dloss[n];
    if (overwrite) {
#pragma omp simd
      for (int i = 0; i < V; ++i) dz[i] = g * exp_approx(z[i] - l);
    } else {
#pragma omp simd
      for (int i = 0; i < V; ++i) dz[i] += g * exp_approx(z[i] - l);
    }
    dz[t] -= g;
  }
}

}  // namespace ilm::cpu
