#include <omp.h>

#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias,
                    int64_t N, int C, int OC) {
  if (bias) {
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; ++n)
      for (int o = 0; o < OC; ++o) out[n * OC + o] = bias[o];
  }
  sgemm(false, true, N, OC, C, 1.0f, inp, C, weight, C, bias ? 1.0f : 0.0f, out, OC);
}

void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                     const float* inp, const float* weight, int64_t N, int C, int OC) {
  if (dinp) sgemm(false, false, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
  if (dweight) sgemm(true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
  if (dbias) {
    // Each thread owns a range of output channels and sums rows in order.
#pragma omp parallel
    {
      int nth = omp_get_num_threads(), ith = omp_get_thread_num();
      int o0 = int(int64_t(OC) * ith / nth), o1 = int(int64_t(OC) * (ith + 1) / nth);
      for (int64_t n = 0; n < N; ++n) {
        const float* d = dout + n * OC;
        for (int o = o0; o < o1; ++o) dbias[o] += d[o];
      }
    }
  }
}

}  // namespace ilm::cpu
