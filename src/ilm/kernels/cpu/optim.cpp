#include <cmath>
#include <vector>

#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {

void adamw_update(float* param, const float* grad, float* m, float* v, int64_t N, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t step,
                  float grad_scale) {
  // As torch.optim.AdamW (foreach=False): decay, moments, then
  // p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
  const float bc1 = 1.0f - std::pow(beta1, float(step));
  const float bc2_sqrt = std::sqrt(1.0f - std::pow(beta2, float(step)));
  const float step_size = lr / bc1;
  const float decay = 1.0f - lr * weight_decay;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) {
    float g = grad[i] * grad_scale;
    float p = param[i] * decay;
    float mi = m[i] + (g - m[i]) * (1.0f - beta1);
    float vi = v[i] * beta2 + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - step_size * mi / (std::sqrt(vi) / bc2_sqrt + eps);
  }
}

double sum_squares(const float* x, int64_t N) {
  constexpr int64_t kBlock = 4096;
  int64_t nb = (N + kBlock - 1) / kBlock;
  std::vector<double> part(size_t(nb), 0.0);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < nb; ++b) {
    int64_t end = std::min(N, (b + 1) * kBlock);
    double s = 0.0;
    for (int64_t i = b * kBlock; i < end; ++i) s += double(x[i]) * double(x[i]);
    part[size_t(b)] = s;
  }
  double s = 0.0;
  for (double p : part) s += p;
  return s;
}

void scale_inplace(float* x, float s, int64_t N) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < N; ++i) x[i] *= s;
}

}  // namespace ilm::cpu
