#include "ilm/kernels/cpu/half_weights.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define ILM_HALF_AVX2 1
#endif

#include "ilm/core/error.h"
#include "ilm/kernels/cpu/kernels.h"

namespace ilm::cpu {
namespace {

template <bool F16>
inline float widen1(uint16_t h) {
  if constexpr (F16) return f16_to_f32(h);
  return bf16_to_f32(h);
}

#ifdef ILM_HALF_AVX2
// Eight 16-bit values -> eight floats.
template <bool F16>
inline __m256 widen8(const uint16_t* p) {
  if constexpr (!F16) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
#ifdef __F16C__
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
#else
    alignas(32) float f[8];
    for (int i = 0; i < 8; ++i) f[i] = widen1<true>(p[i]);
    return _mm256_load_ps(f);
#endif
  }
}

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#endif

template <bool F16>
void widen_row(float* out, const uint16_t* src, int64_t n) {
  int64_t i = 0;
#ifdef ILM_HALF_AVX2
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, widen8<F16>(src + i));
#endif
  for (; i < n; ++i) out[i] = widen1<F16>(src[i]);
}

// out (NR,OC) = inp (NR,C) @ w (OC,C)^T + bias: each weight row is read once for all NR
// inputs.
template <bool F16, int NR>
void gemv(float* out, const float* inp, const uint16_t* w, const float* bias, int C, int OC) {
#pragma omp parallel for schedule(static)
  for (int o = 0; o < OC; ++o) {
    const uint16_t* wr = w + int64_t(o) * C;
    float s[NR];
    int c = 0;
#ifdef ILM_HALF_AVX2
    __m256 acc0[NR], acc1[NR];
    for (int r = 0; r < NR; ++r) acc0[r] = acc1[r] = _mm256_setzero_ps();
    for (; c + 16 <= C; c += 16) {
      const __m256 w0 = widen8<F16>(wr + c), w1 = widen8<F16>(wr + c + 8);
      for (int r = 0; r < NR; ++r) {
        const float* x = inp + int64_t(r) * C + c;
        acc0[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x), acc0[r]);
        acc1[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + 8), acc1[r]);
      }
    }
    for (; c + 8 <= C; c += 8) {
      const __m256 w0 = widen8<F16>(wr + c);
      for (int r = 0; r < NR; ++r)
        acc0[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(inp + int64_t(r) * C + c), acc0[r]);
    }
    for (int r = 0; r < NR; ++r) s[r] = hsum(_mm256_add_ps(acc0[r], acc1[r]));
#else
    for (int r = 0; r < NR; ++r) s[r] = 0.0f;
#endif
    for (; c < C; ++c) {
      const float wv = widen1<F16>(wr[c]);
      for (int r = 0; r < NR; ++r) s[r] += wv * inp[int64_t(r) * C + c];
    }
    const float b = bias ? bias[o] : 0.0f;
    for (int r = 0; r < NR; ++r) out[int64_t(r) * OC + o] = s[r] + b;
  }
}

template <bool F16>
void matmul_half(float* out, const float* inp, const uint16_t* w, const float* bias, int64_t N,
                 int C, int OC) {
  switch (N) {
    case 1:
      return gemv<F16, 1>(out, inp, w, bias, C, OC);
    case 2:
      return gemv<F16, 2>(out, inp, w, bias, C, OC);
    case 3:
      return gemv<F16, 3>(out, inp, w, bias, C, OC);
    case 4:
      return gemv<F16, 4>(out, inp, w, bias, C, OC);
    default:
      break;
  }
  static_assert(kHalfGemvMaxRows == 4, "gemv instantiations above cover 1..kHalfGemvMaxRows");
  // Prefill: blocks of about 4 MB of widened weight rows (a multiple of 16 rows), each
  // through sgemm into its columns of out.
  const int64_t block =
      std::min<int64_t>(OC, std::max<int64_t>(16, ((int64_t(1) << 20) / std::max(C, 1)) / 16 * 16));
  thread_local std::vector<float> scratch;
  if (scratch.size() < static_cast<size_t>(block * C))
    scratch.resize(static_cast<size_t>(block * C));
  float* wf = scratch.data();
  for (int64_t o0 = 0; o0 < OC; o0 += block) {
    const int64_t ob = std::min<int64_t>(block, OC - o0);
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < ob; ++j) widen_row<F16>(wf + j * C, w + (o0 + j) * C, C);
    if (bias) {
#pragma omp parallel for schedule(static)
      for (int64_t n = 0; n < N; ++n)
        for (int64_t j = 0; j < ob; ++j) out[n * OC + o0 + j] = bias[o0 + j];
    }
    sgemm(false, true, N, ob, C, 1.0f, inp, C, wf, C, bias ? 1.0f : 0.0f, out + o0, OC);
  }
}

}  // namespace

void widen_to_f32(float* out, const void* src, DType dtype, int64_t n) {
  switch (dtype) {
    case DType::f32:
      std::copy_n(static_cast<const float*>(src), n, out);
      return;
    case DType::bf16:
      return widen_row<false>(out, static_cast<const uint16_t*>(src), n);
    case DType::f16:
      return widen_row<true>(out, static_cast<const uint16_t*>(src), n);
    default:
      fail("[widen_to_f32] {} is not a float dtype (F32, BF16, F16)", dtype_name(dtype));
  }
}

void matmul_forward_typed(float* out, const float* inp, const void* weight, DType wtype,
                          const float* bias, int64_t N, int C, int OC) {
  switch (wtype) {
    case DType::f32:
      return matmul_forward(out, inp, static_cast<const float*>(weight), bias, N, C, OC);
    case DType::bf16:
      return matmul_half<false>(out, inp, static_cast<const uint16_t*>(weight), bias, N, C, OC);
    case DType::f16:
      return matmul_half<true>(out, inp, static_cast<const uint16_t*>(weight), bias, N, C, OC);
    default:
      fail("[matmul] weights stored as {} are not supported (F32, BF16, F16)", dtype_name(wtype));
  }
}

void encoder_forward_typed(float* out, const int32_t* inp, const void* wte, DType wte_type,
                           const void* wpe, DType wpe_type, int B, int T, int C, int pos0) {
  if (wte_type == DType::f32 && (!wpe || wpe_type == DType::f32))
    return encoder_forward(out, inp, static_cast<const float*>(wte), static_cast<const float*>(wpe),
                           B, T, C, pos0);
  const size_t wte_el = dtype_size(wte_type), wpe_el = wpe ? dtype_size(wpe_type) : 0;
  // Checks the dtypes once, outside the parallel loop (widen_to_f32 throws on others).
  ILM_CHECK(wte_type == DType::f32 || wte_type == DType::bf16 || wte_type == DType::f16,
            "[embedding] tables stored as {} are not supported", dtype_name(wte_type));
  ILM_CHECK(!wpe || wpe_type == DType::f32 || wpe_type == DType::bf16 || wpe_type == DType::f16,
            "[embedding] tables stored as {} are not supported", dtype_name(wpe_type));
#pragma omp parallel
  {
    std::vector<float> row(wpe ? static_cast<size_t>(C) : 0);
#pragma omp for schedule(static)
    for (int64_t bt = 0; bt < int64_t(B) * T; ++bt) {
      float* o = out + bt * C;
      widen_to_f32(o, static_cast<const char*>(wte) + size_t(inp[bt]) * C * wte_el, wte_type, C);
      if (wpe) {
        const int64_t pos = pos0 + bt % T;
        widen_to_f32(row.data(), static_cast<const char*>(wpe) + size_t(pos) * C * wpe_el, wpe_type,
                     C);
        for (int c = 0; c < C; ++c) o[c] += row[c];
      }
    }
  }
}

}  // namespace ilm::cpu
