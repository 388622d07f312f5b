#include <omp.h>

#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

void encoder_forward(float* out, const int32_t* inp, const float* wte, const float* wpe, int B,
                     int T, int C, int pos0) {
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < int64_t(B) * T; ++bt) {
    float* o = out + bt * C;
    const float* e = wte + int64_t(inp[bt]) * C;
    if (wpe) {
      const float* p = wpe + int64_t(pos0 + bt % T) * C;
      for (int c = 0; c < C; ++c) o[c] = e[c] + p[c];
    } else {
      for (int c = 0; c < C; ++c) o[c] = e[c];
    }
  }
}

void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* inp, int B,
                      int T, int C) {
  // Tokens repeat, so rows of dwte receive several contributions: split the work by
  // channel ranges so no two threads write the same element, and the order of the
  // additions (b, t ascending) is the same at any thread count.
#pragma omp parallel
  {
    int nth = omp_get_num_threads(), ith = omp_get_thread_num();
    int c0 = int(int64_t(C) * ith / nth), c1 = int(int64_t(C) * (ith + 1) / nth);
    for (int64_t bt = 0; bt < int64_t(B) * T; ++bt) {
      const float* d = dout + bt * C;
      float* w = dwte + int64_t(inp[bt]) * C;
      for (int c = c0; c < c1; ++c) w[c] += d[c];
    }
  }
  if (dwpe) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; ++t) {
      float* p = dwpe + int64_t(t) * C;
      for (int b = 0; b < B; ++b) {
        const float* d = dout + (int64_t(b) * T + t) * C;
        for (int c = 0; c < C; ++c) p[c] += d[c];
      }
    }
  }
}

}  // namespace ilm::cpu
