#include <omp.h>

#include <cmath>
#include <vector>

#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int C, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = inp + n * C;
    float* o = out + n * C;
    float s = 0.0f;
    for (int c = 0; c < C; ++c) s += x[c];
    float m = s / float(C);
    float v = 0.0f;
    for (int c = 0; c < C; ++c) v += (x[c] - m) * (x[c] - m);
    float r = 1.0f / std::sqrt(v / float(C) + eps);
    if (bias) {
      for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * r * weight[c] + bias[c];
    } else {
      for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * r * weight[c];
    }
    if (mean) mean[n] = m;
    if (rstd) rstd[n] = r;
  }
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean,
                        const float* rstd, int64_t N, int C) {
  // dweight and dbias sum over all rows: each thread sums its (static) rows into a
  // private buffer, then the buffers are added in thread order: deterministic.
  int nth_max = omp_get_max_threads();
  std::vector<float> partial(size_t(nth_max) * 2 * size_t(C), 0.0f);
  int used_threads = 1;
#pragma omp parallel
  {
    int ith = omp_get_thread_num();
#pragma omp single
    used_threads = omp_get_num_threads();
    float* pw = partial.data() + size_t(ith) * 2 * size_t(C);
    float* pb = pw + C;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const float* x = inp + n * C;
      const float* d = dout + n * C;
      float m = mean[n], r = rstd[n];
      float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
      for (int c = 0; c < C; ++c) {
        float norm = (x[c] - m) * r;
        float dnorm = weight[c] * d[c];
        dnorm_mean += dnorm;
        dnorm_norm_mean += dnorm * norm;
      }
      dnorm_mean /= float(C);
      dnorm_norm_mean /= float(C);
      float* di = dinp + n * C;
      for (int c = 0; c < C; ++c) {
        float norm = (x[c] - m) * r;
        float dnorm = weight[c] * d[c];
        if (dinp) di[c] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * r;
        pw[c] += norm * d[c];
        pb[c] += d[c];
      }
    }
  }
  for (int t = 0; t < used_threads; ++t) {
    const float* pw = partial.data() + size_t(t) * 2 * size_t(C);
    const float* pb = pw + C;
    for (int c = 0; c < C; ++c) {
      if (dweight) dweight[c] += pw[c];
      if (dbias) dbias[c] += pb[c];
    }
  }
}

}  // namespace ilm::cpu
