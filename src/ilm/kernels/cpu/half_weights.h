// Weight matrices stored in half precision (bf16, f16), used as they are for inference: a
// mapped load of a bf16 checkpoint keeps its matrices as views of the file (ParamStore), so
// the model takes half the memory of f32 and decoding, which streams every weight once per
// token, reads half the bytes. Activations stay f32.
//
// matmul_forward_typed: N <= kHalfGemvMaxRows (decoding) is a GEMV-style pass, parallel over
// output rows, each weight row read once for all N inputs and widened in registers (bf16:
// shift left 16; f16: F16C) into FMAs. Larger N (prefill) widens blocks of weight rows into
// a per-thread f32 scratch and runs sgemm per block, so prefill stays near f32 speed.
// Results differ from the f32 kernel by summation order only.
#pragma once

#include <cstdint>

#include "ilm/core/dtype.h"

namespace ilm::cpu {

// Inputs rows up to which matmul_forward_typed uses the GEMV path.
constexpr int64_t kHalfGemvMaxRows = 4;

// out (n) = src (n) as f32; dtype f32 (copied), bf16 or f16.
void widen_to_f32(float* out, const void* src, DType dtype, int64_t n);

// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC, or null); weight stored as `wtype`
// (f32: matmul_forward; bf16, f16: as above). Throws for another dtype.
void matmul_forward_typed(float* out, const float* inp, const void* weight, DType wtype,
                          const float* bias, int64_t N, int C, int OC);

// encoder_forward with tables of any float dtype: out (B,T,C) = wte[inp[b,t]] + wpe[pos0 + t]
// (wpe may be null).
void encoder_forward_typed(float* out, const int32_t* inp, const void* wte, DType wte_type,
                           const void* wpe, DType wpe_type, int B, int T, int C, int pos0 = 0);

}  // namespace ilm::cpu
