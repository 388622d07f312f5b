// Q8_0 quantization (see q8_0.h for the block layout and the error bound).
#include "ilm/kernels/cpu/q8_0.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ilm/core/dtype.h"

namespace ilm::cpu {

namespace {
// The largest |x| whose scale max|x| / 127 still rounds to a finite f16.
constexpr float kQ8_0MaxAbs = 65504.0f * 127.0f;
}  // namespace

void q8_0_quantize(uint8_t* out, const float* x, int64_t n) {
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const float* xb = x + b * kQ8_0BlockSize;
    uint8_t* ob = out + b * int64_t(kQ8_0BlockBytes);
    float amax = 0.0f;
    for (int i = 0; i < kQ8_0BlockSize; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const uint16_t d16 = f32_to_f16(amax / 127.0f);
    const float d = f16_to_f32(d16);
    // Quantize against the scale as stored, not the f32 one: the round trip error is then
    // at most d/2 (the f32 scale would add up to 127 * (f16 rounding of d)).
    const float id = d > 0.0f ? 1.0f / d : 0.0f;
    std::memcpy(ob, &d16, 2);
    for (int i = 0; i < kQ8_0BlockSize; ++i) {
      float q = std::round(xb[i] * id);
      q = std::clamp(q, -127.0f, 127.0f);  // d rounded down by f16 can put max|x| at 127.06
      ob[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(q));
    }
  }
}

void q8_0_dequantize(float* out, const uint8_t* in, int64_t n) {
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const uint8_t* ib = in + b * int64_t(kQ8_0BlockBytes);
    uint16_t d16;
    std::memcpy(&d16, ib, 2);
    const float d = f16_to_f32(d16);
    for (int i = 0; i < kQ8_0BlockSize; ++i)
      out[b * kQ8_0BlockSize + i] = d * float(static_cast<int8_t>(ib[2 + i]));
  }
}

int64_t q8_0_check_range(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!(std::fabs(x[i]) < kQ8_0MaxAbs)) return i;  // also catches NaN
  return -1;
}

}  // namespace ilm::cpu
