// Every op's backward against central finite differences, on awkward shapes:
// B=1, T=1, T not a multiple of any block size, C not a multiple of 16.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "ilm/autograd/ops.h"
#include "ilm/core/threads.h"
#include "ilm/models/gpt.h"

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
  GPTConfig cfg;
  cfg.n_layer = 2;
  cfg.n_head = 2;
  cfg.n_embd = 12;
  cfg.block_size = 8;
  cfg.vocab_size = 11;
  cfg.bias = true;
  GPT gpt(cfg);
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
