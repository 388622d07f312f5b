// The half-precision weight kernels (kernels/cpu/half_weights.h) against the f32 ones on the
// same values: weights drawn, rounded to bf16/f16 and widened back, so both kernels multiply
// the same numbers and may differ by summation order only. Odd sizes (not multiples of 8 or
// 16), decode row counts (GEMV path) and prefill ones (blocked sgemm, several blocks).
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "ilm/core/rng.h"
#include "ilm/kernels/cpu/half_weights.h"
#include "ilm/kernels/cpu/kernels.h"
#include "test_util.h"

namespace ilm {
namespace {

uint16_t to_half(float f, DType t) {
  return t == DType::bf16 ? f32_to_bf16(f) : f32_to_f16(f);
}

struct Case {
  int64_t n;
  int C, OC;
};

void check_matmul(DType wtype, const Case& k, bool with_bias) {
  SCOPED_TRACE(testing::Message() << dtype_name(wtype) << " n=" << k.n << " C=" << k.C
                                  << " OC=" << k.OC << " bias=" << with_bias);
  Rng rng(static_cast<uint64_t>(k.n * 1000003 + k.C * 101 + k.OC));
  std::vector<uint16_t> wh(static_cast<size_t>(k.OC) * k.C);
  std::vector<float> wf(wh.size()), x(static_cast<size_t>(k.n * k.C)), bias(k.OC);
  for (size_t i = 0; i < wh.size(); ++i) {
    wh[i] = to_half(rng.normal(), wtype);
    wf[i] = wtype == DType::bf16 ? bf16_to_f32(wh[i]) : f16_to_f32(wh[i]);
  }
  for (float& v : x) v = rng.normal();
  for (float& v : bias) v = rng.normal();
  const float* b = with_bias ? bias.data() : nullptr;
  std::vector<float> want(static_cast<size_t>(k.n * k.OC)), got(want.size(), NAN);
  cpu::matmul_forward(want.data(), x.data(), wf.data(), b, k.n, k.C, k.OC);
  cpu::matmul_forward_typed(got.data(), x.data(), wh.data(), wtype, b, k.n, k.C, k.OC);
  for (int64_t r = 0; r < k.n; ++r)
    for (int o = 0; o < k.OC; ++o) {
      // Summation order only: the error is bounded by a few ulps of the sum of |terms|.
      double mag = b ? std::fabs(b[o]) : 0.0;
      for (int c = 0; c < k.C; ++c)
        mag += std::fabs(double(x[r * k.C + c]) * wf[size_t(o) * k.C + c]);
      const size_t i = static_cast<size_t>(r * k.OC + o);
      ASSERT_NEAR(got[i], want[i], 1e-6 * mag + 1e-30) << "row " << r << " out " << o;
    }
}

TEST(HalfWeights, MatmulMatchesTheF32KernelOnTheSameValues) {
  const std::vector<Case> cases = {{1, 1, 1},     {1, 7, 5},     {2, 33, 19},     {3, 100, 37},
                                   {4, 257, 131}, {1, 16, 8},    {2, 8, 3},       {17, 33, 19},
                                   {64, 100, 37}, {5, 257, 131}, {17, 4100, 500}, {3, 4100, 500}};
  for (DType t : {DType::bf16, DType::f16})
    for (const Case& k : cases)
      for (bool bias : {false, true}) check_matmul(t, k, bias);
}

TEST(HalfWeights, WideningIsExact) {
  std::vector<uint16_t> h;
  for (uint32_t i = 0; i < 65536; i += 7) h.push_back(static_cast<uint16_t>(i));
  std::vector<float> out(h.size());
  cpu::widen_to_f32(out.data(), h.data(), DType::bf16, static_cast<int64_t>(h.size()));
  for (size_t i = 0; i < h.size(); ++i) {
    const float want = bf16_to_f32(h[i]);
    if (std::isnan(want))
      EXPECT_TRUE(std::isnan(out[i])) << i;
    else
      EXPECT_EQ(out[i], want) << i;
  }
  cpu::widen_to_f32(out.data(), h.data(), DType::f16, static_cast<int64_t>(h.size()));
  for (size_t i = 0; i < h.size(); ++i) {
    const float want = f16_to_f32(h[i]);
    if (std::isnan(want))
      EXPECT_TRUE(std::isnan(out[i])) << i;
    else
      EXPECT_EQ(out[i], want) << i;
  }
}

TEST(HalfWeights, EmbeddingLooksUpWidenedRows) {
  const int V = 11, P = 9, C = 13, B = 2, T = 3, pos0 = 4;
  Rng rng(3);
  std::vector<uint16_t> wte(V * C), wpe(P * C);
  std::vector<float> wte_f(wte.size()), wpe_f(wpe.size());
  for (size_t i = 0; i < wte.size(); ++i)
    wte[i] = f32_to_bf16(rng.normal()), wte_f[i] = bf16_to_f32(wte[i]);
  for (size_t i = 0; i < wpe.size(); ++i)
    wpe[i] = f32_to_f16(rng.normal()), wpe_f[i] = f16_to_f32(wpe[i]);
  const std::vector<int32_t> ids = {0, 10, 3, 7, 7, 1};
  std::vector<float> want(B * T * C), got(want.size());
  cpu::encoder_forward(want.data(), ids.data(), wte_f.data(), wpe_f.data(), B, T, C, pos0);
  cpu::encoder_forward_typed(got.data(), ids.data(), wte.data(), DType::bf16, wpe.data(),
                             DType::f16, B, T, C, pos0);
  EXPECT_EQ(got, want);
  cpu::encoder_forward(want.data(), ids.data(), wte_f.data(), nullptr, B, T, C, 0);
  cpu::encoder_forward_typed(got.data(), ids.data(), wte.data(), DType::bf16, nullptr, DType::f32,
                             B, T, C, 0);
  EXPECT_EQ(got, want);
}

TEST(HalfWeights, OtherDtypesAreAnError) {
  std::vector<int32_t> w(4, 0);
  std::vector<float> x(2, 1.0f), y(2);
  const std::string e = test::error_of([&] {
    cpu::matmul_forward_typed(y.data(), x.data(), w.data(), DType::i32, nullptr, 1, 2, 2);
  });
  EXPECT_NE(e.find("I32"), std::string::npos) << e;
}

}  // namespace
}  // namespace ilm
