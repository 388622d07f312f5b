// GPT-2 (the Transformer of gpt2_config, as `ilm train` builds it) against PyTorch
// (tests/reference/README.md): logits, loss, the gradient of every parameter, then three AdamW
// steps with clipping, on the golden files that tests/reference/gpt_reference.py computed in
// float64. As llm.c's test_gpt2.c does. The goldens hold GPT-2's Hugging Face names without
// "transformer." and its layouts (Conv1D weights (in, out), q/k/v fused in c_attn); our
// gradients and parameters are compared in that form, through hf_state_dict.
//
// The golden folder is $ILM_GOLDEN_DIR, or tests/reference/golden of the source tree.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "ilm/autograd/ops.h"
#include "ilm/autograd/tape.h"
#include "ilm/io/safetensors.h"
#include "ilm/models/recipes.h"
#include "ilm/train/optim.h"

namespace fs = std::filesystem;
using namespace ilm;

namespace {

fs::path golden_dir() {
  const char* env = std::getenv("ILM_GOLDEN_DIR");
  if (env && *env) return env;
  return fs::path(ILM_SOURCE_DIR) / "tests" / "reference" / "golden";
}

const std::string& meta(const SafetensorsFile& st, const std::string& key) {
  auto it = st.metadata().find(key);
  if (it == st.metadata().end())
    throw std::runtime_error(st.path().string() + ": no metadata key '" + key + "'");
  return it->second;
}
int meta_int(const SafetensorsFile& st, const std::string& key) {
  return std::stoi(meta(st, key));
}
double meta_double(const SafetensorsFile& st, const std::string& key) {
  return std::stod(meta(st, key));
}

// Our tensors (values, or the gradients when `grads`) under the golden's names and layouts:
// "h.0.attn.c_attn.weight" (in, out) and so on. A model without biases has none.
std::vector<std::pair<std::string, Tensor>> as_golden(const Transformer& model, bool grads) {
  Transformer copy(model.config());
  const ParamStore& ps = model.params();
  std::memcpy(copy.params().values(), grads ? ps.grads() : ps.values(), size_t(ps.numel()) * 4);
  std::vector<std::pair<std::string, Tensor>> out;
  const std::string prefix = "transformer.";
  for (auto& [name, t] : hf_state_dict(copy)) {
    if (!model.config().qkv_bias && name.ends_with(".bias")) continue;  // the zeros written for HF
    out.emplace_back(name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name, t);
  }
  return out;
}

float golden_scalar(const SafetensorsFile& st, const std::string& name) {
  Tensor t = st.get(name, DType::f32);
  EXPECT_EQ(t.numel(), 1) << name;
  return t.f32()[0];
}

struct Worst {
  double abs = 0.0, max_ref = 0.0;
  int64_t index = -1;  // of the worst excess over the tolerance (or the worst error)
  double got = 0.0, want = 0.0;
  int64_t failures = 0;
};

// Elementwise |a-b| <= tol(i); NaN always fails.
template <typename Tol>
Worst compare(const float* got, const float* want, int64_t n, Tol tol) {
  Worst w;
  double worst_excess = -1e300;
  for (int64_t i = 0; i < n; ++i) w.max_ref = std::max(w.max_ref, std::fabs(double(want[i])));
  for (int64_t i = 0; i < n; ++i) {
    double a = got[i], b = want[i], d = std::fabs(a - b), t = tol(i);
    w.abs = std::max(w.abs, d);
    if (!(d <= t)) ++w.failures;
    double excess = std::isnan(d) ? 1e300 : d - t;
    if (excess > worst_excess) {
      worst_excess = excess;
      w.index = i;
      w.got = a;
      w.want = b;
    }
  }
  return w;
}

double max_abs(const std::vector<float>& v) {
  double m = 0.0;
  for (float x : v) m = std::max(m, std::fabs(double(x)));
  return m;
}

std::string describe(const std::string& what, const Worst& w, int64_t n) {
  return fmt::format(
      "{}: {} of {} elements out of tolerance; max abs error {:.3g}, max |reference| {:.3g}; "
      "worst at index {}: got {:.9g}, expected {:.9g}",
      what, w.failures, n, w.abs, w.max_ref, w.index, w.got, w.want);
}

class Gpt2Reference : public ::testing::TestWithParam<std::string> {};

TEST_P(Gpt2Reference, LogitsLossGradientsAndThreeAdamWSteps) {
  const fs::path path = golden_dir() / GetParam();
  ASSERT_TRUE(fs::exists(path)) << path << " is missing (set ILM_GOLDEN_DIR)";
  SafetensorsFile st = SafetensorsFile::open(path);

  Gpt2Spec cfg;
  cfg.n_layer = meta_int(st, "n_layer");
  cfg.n_head = meta_int(st, "n_head");
  cfg.n_embd = meta_int(st, "n_embd");
  cfg.block_size = meta_int(st, "block_size");
  cfg.vocab_size = meta_int(st, "vocab_size");
  cfg.bias = meta_int(st, "bias") != 0;
  cfg.dropout = 0.0f;
  const int B = meta_int(st, "B"), T = meta_int(st, "T"), V = cfg.vocab_size;
  const double lr = meta_double(st, "lr"), grad_clip = meta_double(st, "grad_clip");
  AdamWOptions adam{meta_double(st, "beta1"), meta_double(st, "beta2"), meta_double(st, "eps"),
                    meta_double(st, "weight_decay")};

  Transformer model(gpt2_config(cfg));
  ParamStore& ps = model.params();
  std::vector<std::string> weight_names;  // the golden's weights, without grad./final. ones
  for (const auto& [name, t] : as_golden(model, false)) {
    ASSERT_TRUE(st.has(name)) << path << " has no tensor " << name;
    weight_names.push_back(name);
  }
  load_hf_weights(model, weight_names, [&](const std::string& n) -> std::optional<Tensor> {
    return st.get(n, DType::f32);
  });

  const Shape bt{B, T};
  Tensor ids = st.get("input_ids", DType::i32, &bt).clone();
  Tensor targets = st.get("targets", DType::i32, &bt).clone();
  Rng no_dropout(0);
  Tape tape;

  // Forward: logits and loss.
  ps.zero_grad();
  Var logits = model.forward(tape, ids, /*training=*/false, no_dropout);
  Var loss = cross_entropy(tape, logits, targets, -1);
  {
    const Shape btv{B, T, V};
    ASSERT_EQ(logits->value.shape(), btv);
    Tensor want = st.get("logits", DType::f32, &btv);
    const float* ref = want.f32();
    Worst w = compare(logits->value.f32(), ref, want.numel(),
                      [&](int64_t i) { return 1e-4 * std::max(1.0, std::fabs(double(ref[i]))); });
    EXPECT_EQ(w.failures, 0) << describe("logits", w, want.numel());
    std::printf("[ %s ] logits: max abs error %.3g (max |logit| %.3g)\n", GetParam().c_str(), w.abs,
                w.max_ref);
  }
  const float want_loss = golden_scalar(st, "loss");
  const float got_loss = loss->value.f32()[0];
  EXPECT_NEAR(got_loss, want_loss, 1e-5 * std::fabs(want_loss)) << "loss";
  std::printf("[ %s ] loss: %.7f (reference %.7f)\n", GetParam().c_str(), got_loss, want_loss);

  // Backward: every parameter's gradient, |a-b| <= 1e-4 * max|grad| + 1e-6 per tensor.
  tape.backward(loss);
  double worst_grad_ratio = 0.0;
  std::string worst_grad_name;
  for (const auto& [param, got_t] : as_golden(model, true)) {
    const std::string name = "grad." + param;
    ASSERT_TRUE(st.has(name)) << path << " has no tensor " << name;
    Tensor want_t = st.get(name, DType::f32, &got_t.shape());
    const std::vector<float> want(want_t.f32(), want_t.f32() + want_t.numel());
    const float* got = got_t.f32();
    const double max_ref = max_abs(want), tol = 1e-6 + 1e-4 * max_ref;
    Worst w = compare(got, want.data(), got_t.numel(), [&](int64_t) { return tol; });
    EXPECT_EQ(w.failures, 0) << describe(name, w, got_t.numel());
    double ratio = w.abs / (max_ref + 1e-30);
    if (ratio > worst_grad_ratio) worst_grad_ratio = ratio, worst_grad_name = name;
  }
  std::printf("[ %s ] gradients: worst max-abs-error / max|grad| %.3g in %s\n", GetParam().c_str(),
              worst_grad_ratio, worst_grad_name.c_str());

  // Three AdamW steps on the same batch, with global-norm clipping, from the same start.
  AdamW opt(ps, adam);
  for (int k = 1; k <= 3; ++k) {
    tape.clear();
    ps.zero_grad();
    Var lg = model.forward(tape, ids, false, no_dropout);
    Var l = cross_entropy(tape, lg, targets, -1);
    tape.backward(l);
    tape.clear();
    const double norm = grad_global_norm(ps);
    opt.step(lr, clip_factor(norm, grad_clip));

    const std::string sk = "step" + std::to_string(k);
    const float want_l = golden_scalar(st, sk + ".loss");
    const float want_n = golden_scalar(st, sk + ".grad_norm");
    const float got_l = l->value.f32()[0];
    EXPECT_NEAR(got_l, want_l, 1e-5 * std::fabs(want_l)) << sk << ".loss";
    EXPECT_NEAR(norm, want_n, 1e-5 * std::fabs(want_n)) << sk << ".grad_norm";
    std::printf("[ %s ] %s: loss %.7f (reference %.7f), grad norm %.7f (reference %.7f)\n",
                GetParam().c_str(), sk.c_str(), got_l, want_l, norm, want_n);
  }
  double worst_param_ratio = 0.0;
  std::string worst_param_name;
  int64_t unresolved = 0;
  for (const auto& [param, got_t] : as_golden(model, false)) {
    const std::string name = "final." + param;
    ASSERT_TRUE(st.has(name)) << path << " has no tensor " << name;
    Tensor want_t = st.get(name, DType::f32, &got_t.shape());
    const std::vector<float> want(want_t.f32(), want_t.f32() + want_t.numel());
    const float* got = got_t.f32();
    const double scale = std::max(1.0, max_abs(want)), tol = 1e-5 * scale;
    // Adam moves a parameter by about lr * g / (|g| + eps) whatever the size of g, so where
    // g is within float32's reach of zero (|g| <= 1e-5 max|g|, ten times the gradient error
    // seen above; mostly the keys' weights, whose gradient vanishes at init) the direction of
    // the update is noise. Those elements are held to 3 steps of lr. A gradient that is
    // exactly zero (wpe rows past T) gives an exact update and keeps the strict bar.
    Tensor grad_t = st.get("grad." + param, DType::f32, &got_t.shape());
    const float* grad = grad_t.f32();
    double noise = 0.0;
    for (int64_t i = 0; i < grad_t.numel(); ++i)
      noise = std::max(noise, std::fabs(double(grad[i])));
    noise *= 1e-5;
    Worst w = compare(got, want.data(), got_t.numel(), [&](int64_t i) {
      const double g = std::fabs(double(grad[i]));
      if (g == 0.0 || g > noise) return tol;
      ++unresolved;
      return std::max(tol, 3.0 * lr);
    });
    EXPECT_EQ(w.failures, 0) << describe(name, w, got_t.numel());
    double ratio = w.abs / scale;
    if (ratio > worst_param_ratio) worst_param_ratio = ratio, worst_param_name = name;
  }
  std::printf(
      "[ %s ] parameters after 3 steps: worst max-abs-error / max(1,max|p|) %.3g in %s "
      "(%lld elements with a vanishing gradient held to 3 lr)\n",
      GetParam().c_str(), worst_param_ratio, worst_param_name.c_str(),
      static_cast<long long>(unresolved));
}

INSTANTIATE_TEST_SUITE_P(Golden, Gpt2Reference,
                         ::testing::Values("gpt_bias.safetensors", "gpt_nobias.safetensors"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           return param.param.find("nobias") != std::string::npos ? "NoBias"
                                                                                  : "Bias";
                         });

}  // namespace
