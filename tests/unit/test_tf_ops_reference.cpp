// The transformer ops against PyTorch (tests/reference/tf_ops_reference.py): RMSNorm, RoPE
// and its frequency variants, grouped-query attention with a key padding mask, SwiGLU, SiLU
// and tanh. Each case: output and every input gradient for a given upstream gradient, on the
// golden file computed in float64; errors are measured against the largest reference value of
// each tensor (max |got - want| / max |want| <= 1e-5).
//
// The golden folder is $ILM_GOLDEN_DIR, or tests/reference/golden of the source tree.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "ilm/autograd/ops.h"
#include "ilm/autograd/tape.h"
#include "ilm/io/safetensors.h"
#include "ilm/kernels/rope.h"

namespace fs = std::filesystem;
using namespace ilm;

namespace {

const SafetensorsFile& golden() {
  static const SafetensorsFile st = [] {
    const char* env = std::getenv("ILM_GOLDEN_DIR");
    fs::path dir =
        env && *env ? fs::path(env) : fs::path(ILM_SOURCE_DIR) / "tests/reference/golden";
    return SafetensorsFile::open(dir / "tf_ops.safetensors");
  }();
  return st;
}

nlohmann::json settings(const std::string& name) {
  auto it = golden().metadata().find("case." + name);
  if (it == golden().metadata().end())
    throw std::runtime_error(
        fmt::format("{}: no metadata case.{}", golden().path().string(), name));
  return nlohmann::json::parse(it->second);
}

// A golden float tensor as a leaf with a zeroed gradient.
Var input(const std::string& name) {
  Tensor v = golden().get(name, DType::f32).clone();
  return make_var(v, Tensor::zeros(v.shape()));
}

// max |got - want| <= rel * max |want| (+ a floor for all-zero references); NaN fails.
void expect_close(const Tensor& got, const std::string& name, double rel = 1e-5) {
  ASSERT_TRUE(golden().has(name)) << name;
  Tensor want = golden().get(name, DType::f32);
  ASSERT_EQ(got.shape(), want.shape()) << name;
  double max_ref = 0.0, max_err = 0.0;
  int64_t worst = 0;
  for (int64_t i = 0; i < want.numel(); ++i)
    max_ref = std::max(max_ref, std::fabs(double(want.f32()[i])));
  for (int64_t i = 0; i < want.numel(); ++i) {
    double e = std::fabs(double(got.f32()[i]) - double(want.f32()[i]));
    if (std::isnan(e)) e = INFINITY;
    if (e > max_err) max_err = e, worst = i;
  }
  EXPECT_LE(max_err, rel * max_ref + 1e-7)
      << fmt::format("{}: max abs error {:.3g} at {} (got {:.9g}, want {:.9g}), max |ref| {:.3g}",
                     name, max_err, worst, got.f32()[worst], want.f32()[worst], max_ref);
  std::printf("[ %-48s ] max error / max |ref| %.2e\n", name.c_str(),
              max_err / std::max(max_ref, 1e-30));
}

// Runs backward from the case's upstream gradient, then checks the output and the gradient of
// every input in `inputs`.
void check_case(const std::string& name, Tape& tape, const Var& out,
                const std::vector<std::pair<std::string, Var>>& inputs) {
  expect_close(out->value, name + ".out");
  tape.backward(out, golden().get(name + ".dout", DType::f32).clone());
  for (const auto& [in_name, v] : inputs) expect_close(v->grad, name + ".grad." + in_name);
}

RopeConfig rope_config(const nlohmann::json& s) {
  RopeConfig c;
  c.theta = s.at("theta").get<float>();
  c.rotary_dim = s.at("rotary_dim").get<int>();
  c.scaling = s.at("scaling").get<std::string>();
  c.factor = s.at("factor").get<float>();
  c.low_freq_factor = s.at("low_freq_factor").get<float>();
  c.high_freq_factor = s.at("high_freq_factor").get<float>();
  c.original_max_positions = s.at("original_max_positions").get<int>();
  return c;
}

void expect_inv_freq(const std::vector<float>& got, const std::string& name) {
  Tensor want = golden().get(name, DType::f32);
  ASSERT_EQ(int64_t(got.size()), want.numel()) << name;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want.f32()[i], 1e-6 * std::fabs(want.f32()[i])) << name << " [" << i << "]";
}

TEST(TfOpsReference, RMSNorm) {
  Var x = input("rmsnorm.x"), w = input("rmsnorm.w");
  Tape tape;
  Var y = rmsnorm(tape, x, w, settings("rmsnorm").at("eps").get<float>());
  check_case("rmsnorm", tape, y, {{"x", x}, {"w", w}});
}

TEST(TfOpsReference, Rope) {
  for (const char* variant : {"none", "partial_linear", "dynamic", "llama3"}) {
    SCOPED_TRACE(variant);
    const std::string name = fmt::format("rope.{}", variant);
    nlohmann::json s = settings(name);
    RopeConfig cfg = rope_config(s);
    const int HS = s.at("head_size"), NH = s.at("n_head"), T = s.at("T"), pos0 = s.at("pos0");
    expect_inv_freq(rope_inv_freq(cfg, HS, pos0 + T), name + ".inv_freq");
    Var x = input(name + ".x");
    Tape tape;
    check_case(name, tape, rope(tape, x, NH, cfg, pos0), {{"x", x}});
  }
}

TEST(TfOpsReference, RopeInvFreq) {
  for (const char* variant :
       {"llama3_128", "dynamic_short", "dynamic_long", "linear_64", "none_theta1e6"}) {
    const std::string name = fmt::format("freq.{}", variant);
    nlohmann::json s = settings(name);
    expect_inv_freq(rope_inv_freq(rope_config(s), s.at("head_size"), s.at("seq_len")),
                    name + ".inv_freq");
  }
}

TEST(TfOpsReference, AttentionGQA) {
  for (const char* variant : {"gqa_causal", "mqa_bidirectional_mask", "mha_causal_left_padded"}) {
    SCOPED_TRACE(variant);
    const std::string name = fmt::format("attention.{}", variant);
    nlohmann::json s = settings(name);
    Var q = input(name + ".q"), k = input(name + ".k"), v = input(name + ".v");
    Tensor mask;
    if (s.at("key_mask").get<bool>()) mask = golden().get(name + ".key_mask", DType::u8).clone();
    Tape tape;
    Var y = attention_gqa(tape, q, k, v, s.at("n_head"), s.at("n_kv_head"), s.at("causal"),
                          mask.defined() ? &mask : nullptr);
    check_case(name, tape, y, {{"q", q}, {"k", k}, {"v", v}});
  }
}

TEST(TfOpsReference, SwiGLU) {
  Var gate = input("swiglu.gate"), up = input("swiglu.up");
  Tape tape;
  check_case("swiglu", tape, swiglu(tape, gate, up), {{"gate", gate}, {"up", up}});
}

TEST(TfOpsReference, SiluAndTanh) {
  Var x = input("silu.x");
  Tape t1;
  check_case("silu", t1, silu(t1, x), {{"x", x}});
  Var z = input("tanh.x");
  Tape t2;
  check_case("tanh", t2, tanh(t2, z), {{"x", z}});
}

}  // namespace
