#include <oneapi/dnnl/dnnl.h>

#include "ilm/core/error.h"
#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // oneDNN rejects K == 0; the product is empty
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda,
                                B, ldb, beta, C, ldc);
  ILM_CHECK(st == dnnl_success, "[sgemm] oneDNN failed with status {} (M={} N={} K={})", int(st),
            M, N, K);
}

}  // namespace ilm::cpu
