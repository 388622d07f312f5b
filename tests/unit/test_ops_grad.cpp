// Every op's backward against central finite differences, on awkward shapes:
// B=1, T=1, T not a multiple of any block size, C not a multiple of 16.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "ilm/autograd/ops.h"
#include "ilm/core/threads.h"
#include "ilm/kernels/alibi.h"
#include "ilm/kernels/cpu/kernels.h"
#include "ilm/models/recipes.h"
#include "test_util.h"

using namespace ilm;

namespace {

Tensor random_tensor(Shape s, Rng& rng, float scale = 1.0f) {
  Tensor t = Tensor::zeros(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.f32()[i] = scale * rng.normal();
  return t;
}

Var param(Shape s, Rng& rng, float scale = 1.0f) {
  Tensor v = random_tensor(s, rng, scale);
  return make_var(v, Tensor::zeros(s));
}

// Checks d(sum(out * R))/d(input) for every input against central differences.
// `f` builds the output on the tape from the inputs.
void check_grads(const std::vector<Var>& inputs, const std::function<Var(Tape&)>& f,
                 float eps = 3e-3f, float rtol = 2e-2f, float atol = 2e-3f, int max_checks = 60) {
  Rng rng(1234);
  for (const Var& in : inputs) in->grad.zero_();
  Tape tape;
  Var out = f(tape);
  Tensor R = random_tensor(out->value.shape(), rng);
  tape.backward(out, R);
  // The analytic gradients are read now; the tape is cleared before each FD probe.
  std::vector<Tensor> analytic;
  for (const Var& in : inputs) analytic.push_back(in->grad.clone());
  tape.clear();

  auto objective = [&]() {
    Tape t2;
    NoGrad ng(t2);
    Var o = f(t2);
    double s = 0.0;
    for (int64_t i = 0; i < o->value.numel(); ++i) s += double(o->value.f32()[i]) * R.f32()[i];
    return s;
  };
  for (size_t k = 0; k < inputs.size(); ++k) {
    float* x = inputs[k]->value.f32();
    int64_t n = inputs[k]->value.numel();
    int64_t stride = std::max<int64_t>(1, n / max_checks);
    for (int64_t i = 0; i < n; i += stride) {
      float orig = x[i];
      x[i] = orig + eps;
      double fp = objective();
      x[i] = orig - eps;
      double fm = objective();
      x[i] = orig;
      float numeric = float((fp - fm) / (2.0 * eps));
      float a = analytic[k].f32()[i];
      EXPECT_NEAR(a, numeric, atol + rtol * std::max(std::fabs(a), std::fabs(numeric)))
          << "input " << k << " element " << i;
    }
  }
}

}  // namespace

TEST(OpsGrad, Linear) {
  Rng rng(1);
  for (auto [N, C, OC] : {std::tuple{1, 1, 1}, std::tuple{7, 20, 13}, std::tuple{3, 5, 33}}) {
    Var x = param({1, N, C}, rng), w = param({OC, C}, rng, 0.5f), b = param({OC}, rng);
    check_grads({x, w, b}, [&](Tape& t) { return linear(t, x, w, b); });
    check_grads({x, w}, [&](Tape& t) { return linear(t, x, w, nullptr); });
  }
}

TEST(OpsGrad, LayerNorm) {
  Rng rng(2);
  for (auto [N, C] : {std::pair{1, 2}, std::pair{7, 20}, std::pair{3, 33}}) {
    Var x = param({N, C}, rng), w = param({C}, rng), b = param({C}, rng);
    check_grads({x, w, b}, [&](Tape& t) { return layernorm(t, x, w, b); });
    check_grads({x, w}, [&](Tape& t) { return layernorm(t, x, w, nullptr); });
  }
}

TEST(OpsGrad, Gelu) {
  Rng rng(3);
  Var x = param({5, 19}, rng, 2.0f);
  check_grads({x}, [&](Tape& t) { return gelu(t, x); });
}

TEST(OpsGrad, GeluExact) {
  Rng rng(31);
  Var x = param({5, 19}, rng, 2.0f);
  check_grads({x}, [&](Tape& t) { return gelu(t, x, false); });
  // Against erf from libm.
  Tape t;
  NoGrad ng(t);
  Var y = gelu(t, x, false);
  for (int64_t i = 0; i < x->value.numel(); ++i) {
    double v = x->value.f32()[i];
    EXPECT_NEAR(y->value.f32()[i], 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 1e-6 * (1 + std::fabs(v)));
  }
}

TEST(OpsGrad, AddSameInputTwice) {
  Rng rng(4);
  Var a = param({3, 7}, rng), b = param({3, 7}, rng);
  check_grads({a, b}, [&](Tape& t) { return add(t, add(t, a, b), a); });
}

TEST(OpsGrad, Dropout) {
  Rng rng(5);
  Var x = param({4, 37}, rng);
  check_grads({x}, [&](Tape& t) {
    Rng r(99);  // same mask on every evaluation
    return dropout(t, x, 0.3f, r);
  });
}

TEST(OpsGrad, DropoutKeepsExpectation) {
  Rng rng(6);
  Tape t;
  NoGrad ng(t);
  Var x = make_var(Tensor::zeros({100000}));
  for (int64_t i = 0; i < 100000; ++i) x->value.f32()[i] = 1.0f;
  Var y = dropout(t, x, 0.25f, rng);
  double s = 0;
  int64_t zeros = 0;
  for (int64_t i = 0; i < 100000; ++i) {
    s += y->value.f32()[i];
    zeros += y->value.f32()[i] == 0.0f;
  }
  EXPECT_NEAR(s / 100000, 1.0, 0.02);
  EXPECT_NEAR(double(zeros) / 100000, 0.25, 0.01);
}

TEST(OpsGrad, Embedding) {
  Rng rng(7);
  const int V = 11, C = 20, B = 2, T = 7;
  Var wte = param({V, C}, rng), wpe = param({9, C}, rng);
  Tensor ids = Tensor::zeros({B, T}, DType::i32);
  for (int i = 0; i < B * T; ++i) ids.data<int32_t>()[i] = (i * 3) % 5;  // repeated tokens
  check_grads({wte, wpe}, [&](Tape& t) { return embedding(t, ids, wte, wpe); }, 3e-3f, 2e-2f, 2e-3f,
              1000);
  check_grads({wte}, [&](Tape& t) { return embedding(t, ids, wte, nullptr); });
}

TEST(OpsGrad, Attention) {
  Rng rng(8);
  for (auto [B, T, C, NH] : {std::tuple{1, 1, 4, 1}, std::tuple{2, 7, 20, 4}, std::tuple{1, 17, 12, 3}}) {
    Var qkv = param({B, T, 3 * C}, rng);
    check_grads({qkv}, [&](Tape& t) { return attention(t, qkv, NH, true); });
    check_grads({qkv}, [&](Tape& t) { return attention(t, qkv, NH, false); });
  }
}

TEST(OpsGrad, AttentionIsCausal) {
  // Changing a later position must not change an earlier output.
  Rng rng(9);
  const int B = 1, T = 6, C = 8, NH = 2;
  Var qkv = param({B, T, 3 * C}, rng);
  Tape t;
  NoGrad ng(t);
  Tensor before = attention(t, qkv, NH, true)->value.clone();
  for (int c = 0; c < 3 * C; ++c) qkv->value.f32()[(T - 1) * 3 * C + c] += 1.0f;
  Tensor after = attention(t, qkv, NH, true)->value;
  for (int i = 0; i < (T - 1) * C; ++i) EXPECT_EQ(before.f32()[i], after.f32()[i]);
}

TEST(OpsGrad, CrossEntropyWithIgnoreIndex) {
  Rng rng(10);
  const int N = 9, V = 13;
  Var logits = param({N, V}, rng, 2.0f);
  Tensor targets = Tensor::zeros({N}, DType::i32);
  for (int i = 0; i < N; ++i) targets.data<int32_t>()[i] = i % 3 == 1 ? -1 : (i * 5) % V;
  check_grads({logits}, [&](Tape& t) { return cross_entropy(t, logits, targets, -1); });
}

TEST(OpsGrad, CrossEntropyValue) {
  Tape t;
  Var logits = make_var(Tensor::zeros({2, 4}), Tensor::zeros({2, 4}));
  Tensor targets = Tensor::zeros({2}, DType::i32);
  targets.data<int32_t>()[1] = -1;
  Var loss = cross_entropy(t, logits, targets, -1);
  EXPECT_NEAR(loss->value.f32()[0], std::log(4.0f), 1e-6);  // uniform over 4, one row counted
  targets.data<int32_t>()[0] = -1;
  EXPECT_EQ(cross_entropy(t, logits, targets, -1)->value.f32()[0], 0.0f);  // all ignored
  targets.data<int32_t>()[0] = 4;
  EXPECT_THROW(cross_entropy(t, logits, targets, -1), Error);
}

TEST(OpsGrad, TinyGPTEndToEnd) {
  Gpt2Spec cfg;
  cfg.n_layer = 2;
  cfg.n_head = 2;
  cfg.n_embd = 12;
  cfg.block_size = 8;
  cfg.vocab_size = 11;
  cfg.bias = true;
  Transformer gpt(gpt2_config(cfg));  // q, k, v through one fused matmul
  gpt.init_weights(3);
  // Larger weights than GPT-2's init, so every path carries a visible gradient.
  Rng rng(11);
  for (int64_t i = 0; i < gpt.params().numel(); ++i) gpt.params().values()[i] += 0.3f * rng.normal();
  Tensor ids = Tensor::zeros({2, 5}, DType::i32), tg = Tensor::zeros({2, 5}, DType::i32);
  for (int i = 0; i < 10; ++i) {
    ids.data<int32_t>()[i] = (i * 7) % 11;
    tg.data<int32_t>()[i] = (i * 3 + 1) % 11;
  }
  std::vector<Var> vars;
  for (auto& p : gpt.params().params()) vars.push_back(p.var);
  check_grads(vars, [&](Tape& t) {
    Rng r(0);
    return cross_entropy(t, gpt.forward(t, ids, false, r), tg);
  }, 3e-3f, 3e-2f, 2e-3f, 8);
}

TEST(OpsGrad, CrossEntropyGradientInPlaceMatches) {
  // The in-place path (gradient overwriting the logits) gives the same upstream
  // gradients as the accumulating one, ignored rows included.
  Rng rng(12);
  const int N = 6, C = 10, V = 17;
  Var x = param({N, C}, rng), w = param({V, C}, rng, 0.5f);
  Tensor targets = Tensor::zeros({N}, DType::i32);
  for (int i = 0; i < N; ++i) targets.data<int32_t>()[i] = i == 2 ? -1 : (i * 7) % V;
  std::vector<Tensor> grads[2];
  for (int private_logits = 0; private_logits < 2; ++private_logits) {
    x->grad.zero_();
    w->grad.zero_();
    Tape t;
    Var loss = cross_entropy(t, linear(t, x, w, nullptr), targets, -1, private_logits == 1);
    t.backward(loss);
    grads[private_logits] = {x->grad.clone(), w->grad.clone()};
  }
  for (int k = 0; k < 2; ++k)
    for (int64_t i = 0; i < grads[0][size_t(k)].numel(); ++i)
      EXPECT_FLOAT_EQ(grads[0][size_t(k)].f32()[i], grads[1][size_t(k)].f32()[i]);
  check_grads({x, w}, [&](Tape& t) {
    return cross_entropy(t, linear(t, x, w, nullptr), targets, -1, true);
  });
}

// ---- Transformer ops (LLaMA, Mistral, Falcon, BERT): RMSNorm, RoPE, grouped attention,
// SwiGLU, SiLU, tanh.

TEST(OpsGrad, RMSNorm) {
  Rng rng(20);
  for (auto [N, C] : {std::pair{1, 1}, std::pair{1, 2}, std::pair{7, 20}, std::pair{3, 33}}) {
    Var x = param({N, C}, rng), w = param({C}, rng);
    check_grads({x, w}, [&](Tape& t) { return rmsnorm(t, x, w, 1e-5f); });
  }
}

TEST(OpsGrad, RMSNormValue) {
  Tape t;
  NoGrad ng(t);
  Var x = make_var(Tensor::zeros({1, 2})), w = make_var(Tensor::zeros({2}));
  x->value.f32()[0] = 3.0f, x->value.f32()[1] = 4.0f;
  w->value.f32()[0] = 1.0f, w->value.f32()[1] = 2.0f;
  Var y = rmsnorm(t, x, w, 0.0f);  // rms = sqrt((9 + 16) / 2)
  const double r = 1.0 / std::sqrt(12.5);
  EXPECT_NEAR(y->value.f32()[0], 3.0 * r, 1e-6);
  EXPECT_NEAR(y->value.f32()[1], 8.0 * r, 1e-6);
}

namespace {

RopeConfig rope_cfg(const std::string& scaling, int rotary_dim = 0) {
  RopeConfig c;
  c.theta = 100.0f;  // small, so that every pair turns visibly over a few positions
  c.rotary_dim = rotary_dim;
  c.scaling = scaling;
  c.factor = 4.0f;
  c.low_freq_factor = 1.0f;
  c.high_freq_factor = 4.0f;
  c.original_max_positions = 8;
  return c;
}

}  // namespace

TEST(OpsGrad, Rope) {
  Rng rng(21);
  struct Case {
    int B, T, NH, HS, rotary_dim, pos0;
    const char* scaling;
  };
  for (Case c : {Case{1, 1, 1, 2, 0, 0, ""}, Case{1, 1, 2, 8, 0, 3, "none"},
                 Case{2, 7, 3, 8, 4, 5, "linear"}, Case{1, 7, 2, 6, 6, 2, "dynamic"},
                 Case{2, 7, 2, 5, 4, 9, "llama3"}, Case{1, 3, 1, 7, 2, 0, "linear"},
                 Case{2, 5, 2, 8, 0, 3, "yarn"}, Case{1, 4, 3, 6, 4, 1, "yarn"}}) {
    Var x = param({c.B, c.T, c.NH * c.HS}, rng);
    RopeConfig cfg = rope_cfg(c.scaling, c.rotary_dim);
    check_grads({x}, [&](Tape& t) { return rope(t, x, c.NH, cfg, c.pos0); });
  }
}

TEST(OpsGrad, RopeRotatesPairsByPositionTimesFrequency) {
  // HS 4, rotary_dim 4: pairs (0,2) at inv_freq 1 and (1,3) at inv_freq 1/theta^(1/2) = 0.1.
  Tape t;
  NoGrad ng(t);
  RopeConfig cfg = rope_cfg("");
  const int T = 3, pos0 = 2;
  Var x = make_var(Tensor::zeros({1, T, 4}));
  for (int tt = 0; tt < T; ++tt) {
    float* r = x->value.f32() + tt * 4;
    r[0] = 1.0f, r[1] = 2.0f, r[2] = 3.0f, r[3] = -1.0f;
  }
  Var y = rope(t, x, 1, cfg, pos0);
  for (int tt = 0; tt < T; ++tt) {
    const double p = pos0 + tt;
    const float* r = y->value.f32() + tt * 4;
    EXPECT_NEAR(r[0], 1 * std::cos(p) - 3 * std::sin(p), 1e-6);
    EXPECT_NEAR(r[2], 3 * std::cos(p) + 1 * std::sin(p), 1e-6);
    EXPECT_NEAR(r[1], 2 * std::cos(0.1 * p) + 1 * std::sin(0.1 * p), 1e-6);
    EXPECT_NEAR(r[3], -1 * std::cos(0.1 * p) + 2 * std::sin(0.1 * p), 1e-6);
  }
  // Partial rotary: dims past rotary_dim are copied.
  cfg.rotary_dim = 2;
  Var z = rope(t, x, 1, cfg, pos0);
  for (int tt = 0; tt < T; ++tt) {
    EXPECT_EQ(z->value.f32()[tt * 4 + 2], 3.0f);
    EXPECT_EQ(z->value.f32()[tt * 4 + 3], -1.0f);
  }
}

TEST(OpsGrad, RopeScoresDependOnRelativePosition) {
  // <rope(q, m), rope(k, n)> depends only on m - n: the point of RoPE.
  Rng rng(22);
  Tape t;
  NoGrad ng(t);
  RopeConfig cfg = rope_cfg("none");
  Var q = param({1, 1, 8}, rng), k = param({1, 1, 8}, rng);
  auto score = [&](int m, int n) {
    const float* a = rope(t, q, 1, cfg, m)->value.f32();
    const float* b = rope(t, k, 1, cfg, n)->value.f32();
    double s = 0;
    for (int i = 0; i < 8; ++i) s += double(a[i]) * b[i];
    return s;
  };
  EXPECT_NEAR(score(3, 1), score(12, 10), 1e-5);
  EXPECT_NEAR(score(0, 5), score(7, 12), 1e-5);
}

TEST(RopeInvFreq, Variants) {
  RopeConfig c;
  c.theta = 10000.0f;
  auto f = rope_inv_freq(c, 4, 1);  // 1 / 10000^(0/4), 1 / 10000^(2/4)
  ASSERT_EQ(f.size(), 2u);
  EXPECT_FLOAT_EQ(f[0], 1.0f);
  EXPECT_FLOAT_EQ(f[1], 0.01f);
  c.scaling = "linear";
  c.factor = 2.0f;
  f = rope_inv_freq(c, 4, 1);
  EXPECT_FLOAT_EQ(f[0], 0.5f);
  EXPECT_FLOAT_EQ(f[1], 0.005f);
  // dynamic: unchanged up to original_max_positions, then the base grows.
  c.scaling = "dynamic";
  c.original_max_positions = 16;
  f = rope_inv_freq(c, 4, 16);
  EXPECT_FLOAT_EQ(f[1], 0.01f);
  f = rope_inv_freq(c, 4, 32);  // base 10000 * (2*32/16 - 1)^(4/2) = 90000
  EXPECT_FLOAT_EQ(f[0], 1.0f);
  EXPECT_FLOAT_EQ(f[1], float(1.0 / std::sqrt(90000.0)));
  // llama3, orig 16, low 1, high 4: wavelengths > 16 divided by factor, < 4 kept, between
  // interpolated. HS 8, theta 10: inv_freq 1, 10^-0.25, 10^-0.5, 10^-0.75.
  c.scaling = "llama3";
  c.theta = 10.0f;
  c.factor = 8.0f;
  f = rope_inv_freq(c, 8, 1);
  for (int i = 0; i < 4; ++i) {
    double inv = std::pow(10.0, -i / 4.0), wl = 2 * M_PI / inv, want = inv;
    if (wl > 16)
      want = inv / 8;
    else if (wl >= 4) {
      double s = (16 / wl - 1) / 3;
      want = (1 - s) * inv / 8 + s * inv;
    }
    EXPECT_FLOAT_EQ(f[size_t(i)], float(want)) << i;
  }
  c.scaling = "longrope";
  const std::string msg = test::error_of([&] { rope_inv_freq(c, 8, 1); });
  EXPECT_NE(msg.find("'longrope'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("linear, dynamic, llama3, yarn"), std::string::npos) << msg;
  c.scaling = "";
  c.rotary_dim = 3;
  EXPECT_THROW(rope_inv_freq(c, 8, 1), Error);
  c.rotary_dim = 10;
  EXPECT_THROW(rope_inv_freq(c, 8, 1), Error);
}

TEST(RopeInvFreq, Yarn) {
  // theta 100, HS 8, original context 64, betas 16 / 2: the dims where a wavelength turns
  // r times over 64 positions, d(r) = 8 ln(64 / (2 pi r)) / (2 ln 100), are d(16) = -0.39 and
  // d(2) = 1.41, so the ramp runs from 0 to 2: dim 0 keeps its frequency, dim 1 is half way,
  // dims 2 and 3 are divided by the factor 4.
  RopeConfig c;
  c.theta = 100.0f;
  c.scaling = "yarn";
  c.factor = 4.0f;
  c.original_max_positions = 64;
  c.beta_fast = 16.0f;
  c.beta_slow = 2.0f;
  auto f = rope_inv_freq(c, 8, 1);
  ASSERT_EQ(f.size(), 4u);
  const double base[4] = {1.0, std::pow(100.0, -0.25), 0.1, std::pow(100.0, -0.75)};
  EXPECT_FLOAT_EQ(f[0], float(base[0]));
  EXPECT_FLOAT_EQ(f[1], float(0.5 * base[1] + 0.5 * base[1] / 4));
  EXPECT_FLOAT_EQ(f[2], float(base[2] / 4));
  EXPECT_FLOAT_EQ(f[3], float(base[3] / 4));
  // Unrounded bounds: low 0 (clamped), high d(2) = 1.41...: dim 1 at ramp 1 / 1.41.
  c.truncate = false;
  f = rope_inv_freq(c, 8, 1);
  const double high = 8 * std::log(64 / (2 * M_PI * 2)) / (2 * std::log(100.0));
  EXPECT_FLOAT_EQ(f[1], float(base[1] * (1 - 1 / high) + base[1] / 4 / high));
  EXPECT_FLOAT_EQ(f[0], float(base[0]));
  // Attention factor: 1 + 0.1 ln(factor) by default; the mscale ratio; an explicit value.
  EXPECT_FLOAT_EQ(rope_attention_factor(c), float(1 + 0.1 * std::log(4.0)));
  c.mscale = 0.5f, c.mscale_all_dim = 1.0f;
  EXPECT_FLOAT_EQ(rope_attention_factor(c),
                  float((1 + 0.05 * std::log(4.0)) / (1 + 0.1 * std::log(4.0))));
  c.attention_factor = 0.75f;
  EXPECT_FLOAT_EQ(rope_attention_factor(c), 0.75f);
  c.factor = 0.5f, c.attention_factor = 0.0f, c.mscale = 0.0f;
  EXPECT_FLOAT_EQ(rope_attention_factor(c), 1.0f);  // no scaling down
  c.scaling = "linear";
  EXPECT_FLOAT_EQ(rope_attention_factor(c), 1.0f);
  c.scaling = "yarn";
  c.original_max_positions = 0;
  EXPECT_THROW(rope_inv_freq(c, 8, 1), Error);
}

TEST(OpsGrad, RopeYarnScalesCosAndSin) {
  // yarn's rope is the plain rotation (with yarn's frequencies) times the attention factor.
  Rng rng(31);
  RopeConfig y = rope_cfg("yarn");
  RopeConfig plain = y;
  plain.scaling = "";
  Var x = param({2, 5, 16}, rng);
  Tape t;
  NoGrad ng(t);
  const float* a = rope(t, x, 2, y, 3)->value.f32();
  const std::vector<float> fy = rope_inv_freq(y, 8, 8);
  // The same rotation through the kernel with yarn's frequencies and scale 1.
  std::vector<float> b(2 * 5 * 16);
  cpu::rope_forward(b.data(), x->value.f32(), fy.data(), 2, 5, 2, 8, 8, 3);
  const float af = rope_attention_factor(y);
  EXPECT_GT(af, 1.1f);
  for (size_t i = 0; i < b.size(); ++i) EXPECT_NEAR(a[i], af * b[i], 1e-5) << i;
}

TEST(Alibi, SlopesAndFalconBiases) {
  auto slopes = alibi_slopes(8);  // 2^-1 .. 2^-8
  ASSERT_EQ(slopes.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(slopes[size_t(i)], std::ldexp(1.0f, -(i + 1))) << i;
  slopes = alibi_slopes(6);  // 4 heads' 2^-2, -4, -6, -8, then 2^-1, 2^-3 (every other of 8)
  const int want6[6] = {2, 4, 6, 8, 1, 3};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(slopes[size_t(i)], std::ldexp(1.0f, -want6[i])) << i;
  slopes = alibi_slopes(12);  // 2^-1 .. 2^-8, then 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(slopes[size_t(8 + i)], std::exp2(-0.5 - i), 1e-7) << i;
  EXPECT_EQ(alibi_slopes(1)[0], std::ldexp(1.0f, -8));
  EXPECT_THROW(alibi_slopes(0), Error);
  // Falcon rounds the slope to bfloat16 (2^-0.5 -> 0.70703125) and the product too:
  // 0.70703125 * 11 = 7.77734375 -> 7.78125 (8 significant bits).
  EXPECT_EQ(alibi_bias(std::exp2(-0.5f), 1), 0.70703125f);
  EXPECT_EQ(alibi_bias(std::exp2(-0.5f), 11), 7.78125f);
  EXPECT_EQ(alibi_bias(0.25f, 300), 75.0f);
  EXPECT_EQ(alibi_bias(0.125f, 257), 32.0f);  // 257 itself is not a bfloat16: 256
  // Key positions count the kept keys: mask [1 0 1 1] -> positions 0, -, 1, 2.
  const uint8_t mask[8] = {1, 0, 1, 1, 1, 1, 1, 1};
  std::vector<float> bias(2 * 2 * 4);
  alibi_key_bias(bias.data(), {0.5f, 0.25f}, mask, 2, 4, 2.0f);
  const float want[16] = {0, 0, 1, 2, 0, 0, 0.5f, 1, 0, 1, 2, 3, 0, 0.5f, 1, 1.5f};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(bias[size_t(i)], want[i]) << i;
  alibi_key_bias(bias.data(), {0.5f}, nullptr, 1, 4, 1.0f, 3);  // no mask: pos0 + j
  for (int j = 0; j < 4; ++j) EXPECT_EQ(bias[size_t(j)], 0.5f * (3 + j)) << j;
}

TEST(OpsGrad, AttentionAlibiAddsTheBiasBeforeScaling) {
  // With q = 0 the scores are the biases alone: the softmax weights of query t over keys
  // j <= t are exp(s_h j / sqrt(HS)) normalised (added before the 1/sqrt(HS) scaling).
  const int T = 4, NH = 3, HS = 4;
  Tape t;
  NoGrad ng(t);
  Var q = make_var(Tensor::zeros({1, T, NH * HS}));
  Var k = make_var(Tensor::zeros({1, T, NH * HS}));
  Var v = make_var(Tensor::zeros({1, T, NH * HS}));
  for (int j = 0; j < T; ++j)
    for (int c = 0; c < NH * HS; ++c) v->value.f32()[j * NH * HS + c] = float(j);  // v_j = j
  const float* y = attention_gqa(t, q, k, v, NH, NH, true, nullptr, 0, true)->value.f32();
  const std::vector<float> slopes = alibi_slopes(NH);  // 2^-4, 2^-8, 2^-2
  for (int h = 0; h < NH; ++h)
    for (int tt = 0; tt < T; ++tt) {
      double num = 0, den = 0;
      for (int j = 0; j <= tt; ++j) {
        const double w = std::exp(alibi_bias(slopes[size_t(h)], j) / 2.0);  // sqrt(HS) = 2
        num += w * j, den += w;
      }
      EXPECT_NEAR(y[tt * NH * HS + h * HS], num / den, 1e-5) << h << " " << tt;
    }
}

TEST(OpsGrad, AttentionGQAAlibi) {
  // The bias is a constant: the gradients are those of the biased softmax.
  Rng rng(32);
  struct Case {
    int B, T, NH, NKV, HS;
  };
  for (Case c :
       {Case{1, 1, 1, 1, 4}, Case{2, 7, 6, 2, 3}, Case{1, 9, 12, 12, 2}, Case{2, 5, 5, 1, 4}}) {
    Var q = param({c.B, c.T, c.NH * c.HS}, rng, 2.0f),
        k = param({c.B, c.T, c.NKV * c.HS}, rng, 2.0f), v = param({c.B, c.T, c.NKV * c.HS}, rng);
    for (bool causal : {true, false})
      check_grads(
          {q, k, v},
          [&](Tape& t) { return attention_gqa(t, q, k, v, c.NH, c.NKV, causal, nullptr, 0, true); },
          3e-3f, 2e-2f, 2e-3f, 60);
  }
}

namespace {

Tensor key_mask_tensor(int B, int T, const std::vector<int>& keep, DType dt) {
  Tensor m = Tensor::zeros({B, T}, dt);
  for (int i = 0; i < B * T; ++i) {
    if (dt == DType::u8)
      m.data<uint8_t>()[i] = uint8_t(keep[size_t(i)]);
    else
      m.data<int32_t>()[i] = keep[size_t(i)] ? 7 : 0;  // any nonzero keeps
  }
  return m;
}

}  // namespace

TEST(OpsGrad, AttentionGQA) {
  Rng rng(23);
  struct Case {
    int B, T, NH, NKV, HS;
  };
  for (Case c : {Case{1, 1, 1, 1, 4}, Case{2, 7, 4, 2, 3}, Case{1, 7, 3, 1, 5}, Case{2, 5, 2, 2, 4},
                 Case{1, 17, 6, 3, 2}}) {
    Var q = param({c.B, c.T, c.NH * c.HS}, rng), k = param({c.B, c.T, c.NKV * c.HS}, rng),
        v = param({c.B, c.T, c.NKV * c.HS}, rng);
    for (bool causal : {true, false})
      check_grads(
          {q, k, v}, [&](Tape& t) { return attention_gqa(t, q, k, v, c.NH, c.NKV, causal); }, 3e-3f,
          2e-2f, 2e-3f, 60);
  }
}

TEST(OpsGrad, AttentionGQAKeyMask) {
  // Batch 1 is left-padded: with causal attention its rows 0 and 1 see no key at all;
  // bidirectionally, batch 1 masks every key.
  Rng rng(24);
  const int B = 2, T = 7, NH = 4, NKV = 2, HS = 3;
  Var q = param({B, T, NH * HS}, rng), k = param({B, T, NKV * HS}, rng),
      v = param({B, T, NKV * HS}, rng);
  for (bool causal : {true, false}) {
    std::vector<int> keep = {1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1, 1};
    if (!causal) std::fill(keep.begin() + T, keep.end(), 0);
    for (DType dt : {DType::u8, DType::i32}) {
      Tensor mask = key_mask_tensor(B, T, keep, dt);
      if (dt == DType::u8)
        check_grads(
            {q, k, v}, [&](Tape& t) { return attention_gqa(t, q, k, v, NH, NKV, causal, &mask); },
            3e-3f, 2e-2f, 2e-3f, 1000);
      Tape t;
      NoGrad ng(t);
      const float* y = attention_gqa(t, q, k, v, NH, NKV, causal, &mask)->value.f32();
      for (int i = 0; i < B * T * NH * HS; ++i) ASSERT_TRUE(std::isfinite(y[i])) << i;
      const int dead_rows = causal ? 2 : T;
      for (int i = 0; i < dead_rows * NH * HS; ++i) EXPECT_EQ(y[T * NH * HS + i], 0.0f) << i;
      // A padded key's values do not matter.
      Tensor before = attention_gqa(t, q, k, v, NH, NKV, causal, &mask)->value.clone();
      for (int c = 0; c < NKV * HS; ++c) {
        k->value.f32()[5 * NKV * HS + c] += 3.0f;  // batch 0, key 5 (padded)
        v->value.f32()[5 * NKV * HS + c] -= 2.0f;
      }
      const float* after = attention_gqa(t, q, k, v, NH, NKV, causal, &mask)->value.f32();
      for (int i = 0; i < B * T * NH * HS; ++i) EXPECT_EQ(before.f32()[i], after[i]) << i;
    }
  }
  Tensor bad = Tensor::zeros({B, T + 1}, DType::u8);
  Tape t;
  EXPECT_THROW(attention_gqa(t, q, k, v, NH, NKV, true, &bad), Error);
  EXPECT_THROW(attention_gqa(t, q, k, v, NH, 3, true), Error);
}

TEST(OpsGrad, AttentionGQAAlibiKeyMask) {
  // Padding with ALiBi: gradients through the masked, biased softmax (batch 0 has holes, whose
  // later keys' positions count only kept keys); a left-padded row equals the same row
  // unpadded (every kept key's position shifts by the same amount).
  Rng rng(33);
  const int B = 2, T = 7, NH = 6, NKV = 3, HS = 3;
  Var q = param({B, T, NH * HS}, rng, 2.0f), k = param({B, T, NKV * HS}, rng, 2.0f),
      v = param({B, T, NKV * HS}, rng);
  std::vector<int> keep = {1, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1};
  Tensor mask = key_mask_tensor(B, T, keep, DType::u8);
  check_grads(
      {q, k, v}, [&](Tape& t) { return attention_gqa(t, q, k, v, NH, NKV, true, &mask, 0, true); },
      3e-3f, 2e-2f, 2e-3f, 1000);
  Tape t;
  NoGrad ng(t);
  const float* padded = attention_gqa(t, q, k, v, NH, NKV, true, &mask, 0, true)->value.f32();
  // Batch 1 without its two leading pads.
  const int P = 2, U = T - P;
  Var qu = make_var(Tensor::zeros({1, U, NH * HS})), ku = make_var(Tensor::zeros({1, U, NKV * HS})),
      vu = make_var(Tensor::zeros({1, U, NKV * HS}));
  std::copy_n(q->value.f32() + (T + P) * NH * HS, U * NH * HS, qu->value.f32());
  std::copy_n(k->value.f32() + (T + P) * NKV * HS, U * NKV * HS, ku->value.f32());
  std::copy_n(v->value.f32() + (T + P) * NKV * HS, U * NKV * HS, vu->value.f32());
  const float* plain = attention_gqa(t, qu, ku, vu, NH, NKV, true, nullptr, 0, true)->value.f32();
  for (int i = 0; i < U * NH * HS; ++i)
    EXPECT_NEAR(padded[(T + P) * NH * HS + i], plain[i], 1e-5) << i;
}

TEST(OpsGrad, AttentionGQAMatchesFusedAndRepeatedHeads) {
  // NKV == NH gives the fused qkv attention; NKV < NH gives MHA with each kv head repeated
  // over its group (Hugging Face's repeat_kv), and dk, dv sum over the group.
  Rng rng(25);
  const int B = 2, T = 6, NH = 4, HS = 5, C = NH * HS;
  for (int NKV : {4, 2, 1}) {
    const int G = NH / NKV;
    Var q = param({B, T, C}, rng), k = param({B, T, NKV * HS}, rng),
        v = param({B, T, NKV * HS}, rng);
    Var qkv = param({B, T, 3 * C}, rng);
    for (int b = 0; b < B; ++b)
      for (int tt = 0; tt < T; ++tt)
        for (int h = 0; h < NH; ++h)
          for (int e = 0; e < HS; ++e) {
            float* row = qkv->value.f32() + (b * T + tt) * 3 * C;
            const int kv = (b * T + tt) * NKV * HS + (h / G) * HS + e;
            row[h * HS + e] = q->value.f32()[(b * T + tt) * C + h * HS + e];
            row[C + h * HS + e] = k->value.f32()[kv];
            row[2 * C + h * HS + e] = v->value.f32()[kv];
          }
    Rng rr(5);
    Tensor R = random_tensor({B, T, C}, rr);
    for (const Var& p : {q, k, v, qkv}) p->grad.zero_();
    Tape t1, t2;
    Var y1 = attention_gqa(t1, q, k, v, NH, NKV, true);
    Var y2 = attention(t2, qkv, NH, true);
    for (int i = 0; i < B * T * C; ++i) EXPECT_NEAR(y1->value.f32()[i], y2->value.f32()[i], 1e-6);
    t1.backward(y1, R);
    t2.backward(y2, R);
    for (int b = 0; b < B; ++b)
      for (int tt = 0; tt < T; ++tt)
        for (int h = 0; h < NH; ++h)
          for (int e = 0; e < HS; ++e) {
            const float* row = qkv->grad.f32() + (b * T + tt) * 3 * C;
            EXPECT_NEAR(q->grad.f32()[(b * T + tt) * C + h * HS + e], row[h * HS + e], 1e-5);
          }
    for (int b = 0; b < B; ++b)
      for (int tt = 0; tt < T; ++tt)
        for (int kvh = 0; kvh < NKV; ++kvh)
          for (int e = 0; e < HS; ++e) {
            const float* row = qkv->grad.f32() + (b * T + tt) * 3 * C;
            double sk = 0, sv = 0;
            for (int h = kvh * G; h < (kvh + 1) * G; ++h) {
              sk += row[C + h * HS + e];
              sv += row[2 * C + h * HS + e];
            }
            const int i = (b * T + tt) * NKV * HS + kvh * HS + e;
            EXPECT_NEAR(k->grad.f32()[i], sk, 1e-5);
            EXPECT_NEAR(v->grad.f32()[i], sv, 1e-5);
          }
  }
}

TEST(OpsGrad, AttentionGQACachedMatchesFull) {
  // Decoding the last Tq positions against a cache of all T keys gives the rows of the
  // full causal forward.
  Rng rng(26);
  const int T = 9, NH = 6, NKV = 2, HS = 5;
  Var q = param({1, T, NH * HS}, rng), k = param({1, T, NKV * HS}, rng),
      v = param({1, T, NKV * HS}, rng);
  Tape t;
  NoGrad ng(t);
  const float* full = attention_gqa(t, q, k, v, NH, NKV, true)->value.f32();
  for (int Tq : {1, 3, 9}) {
    const int pos0 = T - Tq;
    std::vector<float> out(static_cast<size_t>(Tq) * NH * HS);
    cpu::attention_gqa_forward_cached(out.data(), q->value.f32() + pos0 * NH * HS, NH * HS,
                                      k->value.f32(), v->value.f32(), Tq, pos0, NH, NKV, HS);
    for (int i = 0; i < Tq * NH * HS; ++i)
      EXPECT_NEAR(out[size_t(i)], full[pos0 * NH * HS + i], 1e-6) << "Tq " << Tq << " i " << i;
  }
}

TEST(OpsGrad, AttentionGQAAlibiCachedMatchesFull) {
  // The cached decode path with ALiBi key biases (NH, pos0 + Tq) gives the full forward's rows.
  Rng rng(34);
  const int T = 9, NH = 6, NKV = 2, HS = 5;
  Var q = param({1, T, NH * HS}, rng, 2.0f), k = param({1, T, NKV * HS}, rng, 2.0f),
      v = param({1, T, NKV * HS}, rng);
  Tape t;
  NoGrad ng(t);
  const float* full = attention_gqa(t, q, k, v, NH, NKV, true, nullptr, 0, true)->value.f32();
  for (int Tq : {1, 3, 9}) {
    const int pos0 = T - Tq;
    std::vector<float> bias(static_cast<size_t>(NH) * T);
    alibi_key_bias(bias.data(), alibi_slopes(NH), nullptr, 1, T, 1.0f / std::sqrt(float(HS)));
    std::vector<float> out(static_cast<size_t>(Tq) * NH * HS);
    cpu::attention_gqa_forward_cached(out.data(), q->value.f32() + pos0 * NH * HS, NH * HS,
                                      k->value.f32(), v->value.f32(), Tq, pos0, NH, NKV, HS, 0,
                                      bias.data());
    for (int i = 0; i < Tq * NH * HS; ++i)
      EXPECT_NEAR(out[size_t(i)], full[pos0 * NH * HS + i], 1e-5) << "Tq " << Tq << " i " << i;
  }
}

TEST(OpsGrad, SwiGLU) {
  Rng rng(27);
  for (auto [N, I] : {std::pair{1, 1}, std::pair{7, 13}, std::pair{3, 33}}) {
    Var gate = param({1, N, I}, rng, 2.0f), up = param({1, N, I}, rng);
    check_grads({gate, up}, [&](Tape& t) { return swiglu(t, gate, up); });
    // silu(gate) * up, through the two separate ops' values.
    Tape t;
    NoGrad ng(t);
    const float* y = swiglu(t, gate, up)->value.f32();
    const float* s = silu(t, gate)->value.f32();
    for (int i = 0; i < N * I; ++i) EXPECT_NEAR(y[i], s[i] * up->value.f32()[i], 1e-6);
  }
  Tape t;
  Var a = param({2, 3}, rng), b = param({3, 2}, rng);
  EXPECT_THROW(swiglu(t, a, b), Error);
}

TEST(OpsGrad, SiluAndTanh) {
  Rng rng(28);
  Var x = param({5, 19}, rng, 3.0f);
  check_grads({x}, [&](Tape& t) { return silu(t, x); });
  check_grads({x}, [&](Tape& t) { return tanh(t, x); });
  Tape t;
  NoGrad ng(t);
  x->value.f32()[0] = 1e-4f;  // tanh keeps its relative precision near 0
  const float* s = silu(t, x)->value.f32();
  const float* th = tanh(t, x)->value.f32();
  for (int i = 0; i < 95; ++i) {
    const double v = x->value.f32()[i];
    EXPECT_NEAR(s[i], v / (1 + std::exp(-v)), 1e-6 * (1 + std::fabs(v)));
    EXPECT_NEAR(th[i], std::tanh(v), 2e-7 * std::fabs(std::tanh(v)) + 1e-9);
  }
}
