// ALiBi slopes and Falcon's bfloat16 key biases (see alibi.h).
#include "ilm/kernels/alibi.h"

#include <cmath>

#include "ilm/core/dtype.h"
#include "ilm/core/error.h"

namespace ilm {

namespace {
float round_bf16(float x) {
  return bf16_to_f32(f32_to_bf16(x));
}
}  // namespace

std::vector<float> alibi_slopes(int n_head) {
  ILM_CHECK(n_head >= 1, "[alibi] n_head = {} must be at least 1", n_head);
  int p = 1;
  while (p * 2 <= n_head) p *= 2;
  // base^k in float, base = 2^(-8/p): torch.pow of a float32 base by integer powers.
  const float base = float(std::exp2(-8.0 / p));
  std::vector<float> s;
  s.reserve(static_cast<size_t>(n_head));
  for (int i = 1; i <= p; ++i) s.push_back(std::pow(base, float(i)));
  const float extra = float(std::exp2(-4.0 / p));
  for (int i = 0; i < n_head - p; ++i) s.push_back(std::pow(extra, float(2 * i + 1)));
  return s;
}

float alibi_bias(float slope, int64_t pos) {
  return round_bf16(round_bf16(slope) * round_bf16(float(pos)));
}

void alibi_key_bias(float* out, const std::vector<float>& slopes, const uint8_t* key_mask, int B,
                    int T, float scale, int pos0) {
  const int NH = static_cast<int>(slopes.size());
  std::vector<int64_t> pos(static_cast<size_t>(T));
  for (int b = 0; b < B; ++b) {
    int64_t kept = 0;
    for (int j = 0; j < T; ++j) {
      const bool keep = !key_mask || key_mask[int64_t(b) * T + j];
      pos[size_t(j)] = key_mask ? (keep ? kept : 0) : pos0 + j;
      kept += keep;
    }
    for (int h = 0; h < NH; ++h) {
      float* o = out + (int64_t(b) * NH + h) * T;
      for (int j = 0; j < T; ++j) o[j] = scale * alibi_bias(slopes[size_t(h)], pos[size_t(j)]);
    }
  }
}

}  // namespace ilm
