// RMSNorm (LLaMA): out = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps); no mean, no bias.
#include <omp.h>

#include <cmath>
#include <vector>

#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N,
                     int C, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    float* o = out + n * C;
    float ss = 0.0f;
    for (int c = 0; c < C; ++c) ss += x[c] * x[c];
    float r = 1.0f / std::sqrt(ss / float(C) + eps);
    for (int c = 0; c < C; ++c) o[c] = x[c] * r * weight[c];
    if (rstd) rstd[n] = r;
  }
}

void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t N, int C) {
  // dweight sums over rows: per-thread partial sums over static row ranges, added in
  // thread order (deterministic), as layernorm_backward.
  int nth_max = omp_get_max_threads();
  std::vector<float> partial(size_t(nth_max) * size_t(C), 0.0f);
  int used_threads = 1;
#pragma omp parallel
  {
    int ith = omp_get_thread_num();
#pragma omp single
    used_threads = omp_get_num_threads();
    float* pw = partial.data() + size_t(ith) * size_t(C);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const float* x = inp + n * C;
      const float* d = dout + n * C;
      const float r = rstd[n];
      // out_c = w_c x_c r: dx_j = r (w_j d_j - x_j r * mean_c(w_c d_c x_c r)).
      float dot = 0.0f;
      for (int c = 0; c < C; ++c) dot += weight[c] * d[c] * x[c] * r;
      dot /= float(C);
      if (dinp) {
        float* di = dinp + n * C;
        for (int c = 0; c < C; ++c) di[c] += r * (weight[c] * d[c] - x[c] * r * dot);
      }
      for (int c = 0; c < C; ++c) pw[c] += d[c] * x[c] * r;
    }
  }
  if (!dweight) return;
  for (int t = 0; t < used_threads; ++t) {
    const float* pw = partial.data() + size_t(t) * size_t(C);
    for (int c = 0; c < C; ++c) dweight[c] += pw[c];
  }
}

}  // namespace ilm::cpu
