// Q8_0: ggml's 8-bit block quantization, as GGUF stores it.
//
// A block holds 32 consecutive values of a row: an f16 scale d, then 32 int8 quants q, so
// x' = d * q (34 bytes for 32 floats). d = max|x| / 127 rounded to f16, q = round(x / d)
// (half away from zero) computed against that stored f16 scale, so every element comes back
// within d/2 of where it was (as long as d is a normal f16: max|x| in about [8e-3, 8e6];
// below, d underflows towards 0 and the error is at most max|x|).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ilm::cpu {

constexpr int kQ8_0BlockSize = 32;      // values per block
constexpr size_t kQ8_0BlockBytes = 34;  // f16 scale + 32 int8

// n values of x (n % 32 == 0) -> n / 32 blocks at out (34 bytes each, no alignment needed).
// x must be finite and max|x| / 127 must fit an f16 (below 65504 * 127); the caller checks
// (q8_0_check_range) so that its error can name the tensor.
void q8_0_quantize(uint8_t* out, const float* x, int64_t n);
// n / 32 blocks at in -> n floats at out.
void q8_0_dequantize(float* out, const uint8_t* in, int64_t n);
// The first index whose value Q8_0 cannot hold (not finite or too large), or -1.
int64_t q8_0_check_range(const float* x, int64_t n);

}  // namespace ilm::cpu
