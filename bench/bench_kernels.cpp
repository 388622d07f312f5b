// Each CPU kernel alone, at the shapes of the two reference models:
// shakespeare-char (B=12 T=64 C=128 NH=4) and GPT-2 124M (B=4 T=256 C=768 NH=12).
//   build/bench/bench_kernels --benchmark_filter=attention
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "ilm/core/rng.h"
#include "ilm/kernels/cpu/kernels.h"

using namespace ilm;

namespace {

std::vector<float> randn(size_t n, uint64_t seed) {
  Rng r(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = r.normal();
  return v;
}

struct Shape {
  int B, T, C, NH;
};
const Shape kShapes[] = {{12, 64, 128, 4}, {4, 256, 768, 12}};

void BM_matmul_forward(benchmark::State& st) {
  Shape s = kShapes[st.range(0)];
  int64_t N = int64_t(s.B) * s.T;
  int C = s.C, OC = int(st.range(1)) * s.C;
  auto x = randn(static_cast<size_t>(N) * C, 1), w = randn(static_cast<size_t>(OC) * C, 2), b = randn(static_cast<size_t>(OC), 3);
  std::vector<float> out(static_cast<size_t>(N) * OC);
  for (auto _ : st) cpu::matmul_forward(out.data(), x.data(), w.data(), b.data(), N, C, OC);
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(N) * C * OC, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_matmul_forward)->ArgsProduct({{0, 1}, {1, 3, 4}})->Unit(benchmark::kMillisecond);

void BM_matmul_backward(benchmark::State& st) {
  Shape s = kShapes[st.range(0)];
  int64_t N = int64_t(s.B) * s.T;
  int C = s.C, OC = int(st.range(1)) * s.C;
  auto x = randn(static_cast<size_t>(N) * C, 1), w = randn(static_cast<size_t>(OC) * C, 2), d = randn(static_cast<size_t>(N) * OC, 3);
  std::vector<float> dx(static_cast<size_t>(N) * C), dw(static_cast<size_t>(OC) * C), db(static_cast<size_t>(OC));
  for (auto _ : st)
    cpu::matmul_backward(dx.data(), dw.data(), db.data(), d.data(), x.data(), w.data(), N, C, OC);
  st.counters["GFLOP/s"] = benchmark::Counter(4.0 * double(N) * C * OC, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_matmul_backward)->ArgsProduct({{0, 1}, {1, 3, 4}})->Unit(benchmark::kMillisecond);

void BM_attention(benchmark::State& st) {
  Shape s = kShapes[st.range(0)];
  bool backward = st.range(1);
  auto qkv = randn(static_cast<size_t>(s.B) * s.T * 3 * s.C, 1), dout = randn(static_cast<size_t>(s.B) * s.T * s.C, 2);
  std::vector<float> out(static_cast<size_t>(s.B) * s.T * s.C), att(static_cast<size_t>(s.B) * s.NH * s.T * s.T),
      dqkv(qkv.size());
  cpu::attention_forward(out.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH, true);
  for (auto _ : st) {
    if (backward)
      cpu::attention_backward(dqkv.data(), dout.data(), qkv.data(), att.data(), s.B, s.T, s.C, s.NH, true);
    else
      cpu::attention_forward(out.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH, true);
  }
}
BENCHMARK(BM_attention)->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMillisecond);

void BM_layernorm(benchmark::State& st) {
  Shape s = kShapes[st.range(0)];
  int64_t N = int64_t(s.B) * s.T;
  auto x = randn(static_cast<size_t>(N) * s.C, 1), w = randn(static_cast<size_t>(s.C), 2), b = randn(static_cast<size_t>(s.C), 3),
       d = randn(static_cast<size_t>(N) * s.C, 4);
  std::vector<float> out(x.size()), mean(static_cast<size_t>(N)), rstd(static_cast<size_t>(N)), dx(x.size()), dw(static_cast<size_t>(s.C)),
      db(static_cast<size_t>(s.C));
  for (auto _ : st) {
    cpu::layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), N, s.C);
    cpu::layernorm_backward(dx.data(), dw.data(), db.data(), d.data(), x.data(), w.data(), mean.data(),
                            rstd.data(), N, s.C);
  }
}
BENCHMARK(BM_layernorm)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_gelu(benchmark::State& st) {
  Shape s = kShapes[st.range(0)];
  int64_t N = int64_t(s.B) * s.T * 4 * s.C;
  auto x = randn(static_cast<size_t>(N), 1), d = randn(static_cast<size_t>(N), 2);
  std::vector<float> out(static_cast<size_t>(N)), dx(static_cast<size_t>(N));
  for (auto _ : st) {
    cpu::gelu_forward(out.data(), x.data(), N);
    cpu::gelu_backward(dx.data(), x.data(), d.data(), N);
  }
}
BENCHMARK(BM_gelu)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_crossentropy(benchmark::State& st) {
  Shape s = kShapes[st.range(0)];
  int V = st.range(0) == 0 ? 65 : 50257;
  int64_t N = int64_t(s.B) * s.T;
  auto z = randn(static_cast<size_t>(N) * V, 1);
  std::vector<int32_t> tg(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) tg[static_cast<size_t>(i)] = int32_t(i % V);
  std::vector<float> losses(static_cast<size_t>(N)), lse(static_cast<size_t>(N)), dz(z.size()), dl(static_cast<size_t>(N), 1.0f / float(N));
  for (auto _ : st) {
    cpu::crossentropy_forward(losses.data(), lse.data(), z.data(), tg.data(), N, V, -1);
    cpu::crossentropy_backward(dz.data(), z.data(), lse.data(), tg.data(), dl.data(), N, V, -1);
  }
}
BENCHMARK(BM_crossentropy)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// ---- Transformer ops (LLaMA-style), at the same shapes; kv heads NH/2 for attention_gqa.

void BM_rmsnorm(benchmark::State& st) {
  Shape s = kShapes[st.range(0)];
  int64_t N = int64_t(s.B) * s.T;
  auto x = randn(static_cast<size_t>(N) * s.C, 1), w = randn(static_cast<size_t>(s.C), 2),
       d = randn(static_cast<size_t>(N) * s.C, 3);
  std::vector<float> out(x.size()), rstd(static_cast<size_t>(N)), dx(x.size()),
      dw(static_cast<size_t>(s.C));
  for (auto _ : st) {
    cpu::rmsnorm_forward(out.data(), rstd.data(), x.data(), w.data(), N, s.C, 1e-6f);
    cpu::rmsnorm_backward(dx.data(), dw.data(), d.data(), x.data(), w.data(), rstd.data(), N, s.C);
  }
}
BENCHMARK(BM_rmsnorm)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_rope(benchmark::State& st) {
  Shape s = kShapes[st.range(0)];
  const int HS = s.C / s.NH;
  auto x = randn(static_cast<size_t>(s.B) * s.T * s.C, 1), d = randn(x.size(), 2);
  std::vector<float> out(x.size()), dx(x.size()), inv_freq(static_cast<size_t>(HS / 2));
  for (int i = 0; i < HS / 2; ++i) inv_freq[size_t(i)] = std::pow(10000.0f, -2.0f * i / HS);
  for (auto _ : st) {
    cpu::rope_forward(out.data(), x.data(), inv_freq.data(), s.B, s.T, s.NH, HS, HS, 0);
    cpu::rope_backward(dx.data(), d.data(), inv_freq.data(), s.B, s.T, s.NH, HS, HS, 0);
  }
}
BENCHMARK(BM_rope)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_attention_gqa(benchmark::State& st) {
  Shape s = kShapes[st.range(0)];
  bool backward = st.range(1);
  const int HS = s.C / s.NH, NKV = s.NH / 2;
  const size_t nq = static_cast<size_t>(s.B) * s.T * s.C, nkv = nq / 2;
  auto q = randn(nq, 1), k = randn(nkv, 2), v = randn(nkv, 3), dout = randn(nq, 4);
  std::vector<float> out(nq), att(static_cast<size_t>(s.B) * s.NH * s.T * s.T), dq(nq), dk(nkv),
      dv(nkv);
  cpu::attention_gqa_forward(out.data(), att.data(), q.data(), k.data(), v.data(), nullptr, s.B,
                             s.T, s.NH, NKV, HS, true);
  for (auto _ : st) {
    if (backward)
      cpu::attention_gqa_backward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(),
                                  v.data(), att.data(), s.B, s.T, s.NH, NKV, HS, true);
    else
      cpu::attention_gqa_forward(out.data(), att.data(), q.data(), k.data(), v.data(), nullptr, s.B,
                                 s.T, s.NH, NKV, HS, true);
  }
}
BENCHMARK(BM_attention_gqa)->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMillisecond);

// One decoding step (Tq = 1) against a cache of T positions.
void BM_attention_gqa_cached(benchmark::State& st) {
  Shape s = kShapes[st.range(0)];
  const int HS = s.C / s.NH, NKV = s.NH / 2;
  auto q = randn(static_cast<size_t>(s.C), 1), k = randn(static_cast<size_t>(s.T) * NKV * HS, 2),
       v = randn(static_cast<size_t>(s.T) * NKV * HS, 3);
  std::vector<float> out(static_cast<size_t>(s.C));
  for (auto _ : st)
    cpu::attention_gqa_forward_cached(out.data(), q.data(), s.C, k.data(), v.data(), 1, s.T - 1,
                                      s.NH, NKV, HS);
}
BENCHMARK(BM_attention_gqa_cached)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// SwiGLU on the (B*T, 4C) MLP activations; silu and tanh on the same count.
void BM_swiglu_silu_tanh(benchmark::State& st) {
  Shape s = kShapes[st.range(0)];
  int64_t N = int64_t(s.B) * s.T * 4 * s.C;
  auto g = randn(static_cast<size_t>(N), 1), u = randn(static_cast<size_t>(N), 2),
       d = randn(static_cast<size_t>(N), 3);
  std::vector<float> out(static_cast<size_t>(N)), dg(static_cast<size_t>(N)),
      du(static_cast<size_t>(N));
  for (auto _ : st) {
    switch (st.range(1)) {
      case 0:
        cpu::swiglu_forward(out.data(), g.data(), u.data(), N);
        cpu::swiglu_backward(dg.data(), du.data(), d.data(), g.data(), u.data(), N);
        break;
      case 1:
        cpu::silu_forward(out.data(), g.data(), N);
        cpu::silu_backward(dg.data(), g.data(), d.data(), N);
        break;
      default:
        cpu::tanh_forward(out.data(), g.data(), N);
        cpu::tanh_backward(dg.data(), out.data(), d.data(), N);
    }
  }
}
BENCHMARK(BM_swiglu_silu_tanh)->ArgsProduct({{0, 1}, {0, 1, 2}})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
