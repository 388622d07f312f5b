// The Transformer with switches: GPT-2's fused q/k/v matmul equals the three separate ones
// (test_gpt_reference checks GPT-2 against PyTorch); every family's recipe round-trips its weights;
// the KV cache equals the full forward; gradients of whole small models against finite differences;
// errors name the tensors. (Each family against its PyTorch reference:
// test_families_reference.cpp.)
#include "ilm/models/transformer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "ilm/io/safetensors.h"
#include "ilm/models/recipes.h"
#include "ilm/train/checkpoint.h"
#include "test_util.h"

namespace ilm {
namespace {

void perturb(ParamStore& ps, uint64_t seed, float scale) {
  Rng r(seed);
  for (int64_t i = 0; i < ps.numel(); ++i) ps.values()[i] += scale * r.normal();
}

Tensor ids_tensor(const std::vector<int32_t>& ids, int64_t B) {
  Tensor x = Tensor::zeros({B, int64_t(ids.size()) / B}, DType::i32);
  std::copy(ids.begin(), ids.end(), x.data<int32_t>());
  return x;
}

std::vector<float> logits_of(Transformer& m, const Tensor& ids, const TransformerInputs& in = {}) {
  Tape t;
  NoGrad ng(t);
  Rng r(0);
  Var out = m.forward(t, ids, false, r, in);
  return {out->value.f32(), out->value.f32() + out->value.numel()};
}

// Small configs of every family, with the switches that make them.
std::vector<TransformerConfig> family_configs() {
  std::vector<TransformerConfig> cs;
  TransformerConfig gpt2;
  gpt2.arch = "gpt2", gpt2.fused_qkv = "concat";
  gpt2.n_layer = 2, gpt2.n_head = 3, gpt2.n_embd = 24, gpt2.vocab_size = 61, gpt2.max_positions = 16;
  cs.push_back(gpt2);
  TransformerConfig llama;
  llama.arch = "llama";
  llama.n_layer = 2, llama.n_head = 4, llama.n_kv_head = 2, llama.n_embd = 32, llama.intermediate = 40;
  llama.vocab_size = 67, llama.max_positions = 32, llama.norm = NormKind::rmsnorm, llama.norm_eps = 1e-6f;
  llama.position = PositionKind::rope, llama.mlp = MlpKind::swiglu, llama.tie_embeddings = false;
  llama.qkv_bias = llama.attn_out_bias = llama.mlp_bias = llama.norm_bias = false;
  llama.rope.scaling = "llama3", llama.rope.factor = 8, llama.rope.original_max_positions = 8;
  llama.rope.theta = 500000;
  cs.push_back(llama);
  for (const char* layout : {"concat", "grouped", "interleaved"}) {
    TransformerConfig f;
    f.arch = "falcon", f.fused_qkv = layout;
    f.n_layer = 2, f.n_head = 4, f.n_embd = 32, f.vocab_size = 53, f.max_positions = 32;
    f.n_kv_head = std::string(layout) == "concat" ? 1 : std::string(layout) == "grouped" ? 2 : 4;
    f.position = PositionKind::rope, f.mlp = MlpKind::gelu, f.wiring = Wiring::parallel;
    f.parallel_norms = std::string(layout) == "grouped" ? 2 : 1;
    f.qkv_bias = f.attn_out_bias = f.mlp_bias = false;
    cs.push_back(f);
  }
  TransformerConfig rw;  // falcon-rw: ALiBi, sequential blocks, biases, 6 heads (not a power of 2)
  rw.arch = "falcon", rw.fused_qkv = "interleaved";
  rw.n_layer = 2, rw.n_head = 6, rw.n_kv_head = 6, rw.n_embd = 24, rw.vocab_size = 53;
  rw.max_positions = 32, rw.position = PositionKind::alibi, rw.mlp = MlpKind::gelu;
  cs.push_back(rw);
  TransformerConfig yarn = llama;  // yarn with an original context of 8 (factor 32 / 8)
  yarn.rope = RopeConfig{};
  yarn.rope.theta = 100, yarn.rope.scaling = "yarn", yarn.rope.factor = 4;
  yarn.rope.original_max_positions = 8, yarn.rope.beta_fast = 8, yarn.rope.beta_slow = 2;
  cs.push_back(yarn);
  for (HeadKind head : {HeadKind::masked_lm, HeadKind::classification}) {
    TransformerConfig b;
    b.arch = "bert";
    b.n_layer = 2, b.n_head = 2, b.n_embd = 16, b.intermediate = 24, b.vocab_size = 50, b.max_positions = 16;
    b.type_vocab_size = 2, b.embedding_norm = true, b.causal = false, b.wiring = Wiring::post_norm;
    b.mlp = MlpKind::gelu, b.norm_eps = 1e-12f, b.head = head, b.num_labels = 3;
    cs.push_back(b);
  }
  return cs;
}

// GPT-2's q, k and v lie back to back, and attention runs one (3C, C) matmul over them; a
// sliding window wider than the context changes nothing but takes the path of three matmuls
// and grouped attention. Logits and every gradient agree, with and without biases, and the
// gpt2_config of a run's model.* keys is the recipe's GPT-2.
TEST(Transformer, Gpt2FusedQkvEqualsThreeMatmuls) {
  // C = 24 with biases: the 24-float biases are padded to 32 in the ParamStore, so they are not
  // back to back and attention falls back to three matmuls.
  for (auto [C, bias] : {std::pair{32, true}, std::pair{32, false}, std::pair{24, true}}) {
    SCOPED_TRACE(fmt::format("C {} bias {}", C, bias));
    Gpt2Spec spec;
    spec.n_layer = 2, spec.n_head = C == 24 ? 3 : 4, spec.n_embd = C, spec.block_size = 16,
    spec.vocab_size = 61;
    spec.bias = bias;
    const TransformerConfig fused_cfg = gpt2_config(spec);
    TransformerConfig split_cfg = fused_cfg;
    split_cfg.sliding_window = 64;
    Transformer fused(fused_cfg), split(split_cfg);
    const ParamStore& ps = fused.params();
    const float* q = ps.get("layers.1.attn.q.weight").var->value.f32();
    EXPECT_EQ(ps.get("layers.1.attn.v.weight").var->value.f32(), q + 2 * C * C);
    if (bias) {
      const float* qb = ps.get("layers.1.attn.q.bias").var->value.f32();
      EXPECT_EQ(ps.get("layers.1.attn.k.bias").var->value.f32() == qb + C, C % 16 == 0);
    }
    fused.init_weights(3);
    perturb(fused.params(), 4, 0.1f);
    ASSERT_EQ(fused.params().numel(), split.params().numel());
    std::copy_n(fused.params().values(), fused.params().numel(), split.params().values());
    if (bias && C == 24) {  // the family config of GPT-2 above
      EXPECT_EQ(config_from_hf(hf_config_from(family_configs()[0]), "test").num_params(),
                fused_cfg.num_params());
      EXPECT_EQ(hf_config_from(fused_cfg).dump(), hf_config_from(family_configs()[0]).dump());
    } else if (!bias) {
      EXPECT_EQ(hf_config_from(fused_cfg)["bias"], false);
      EXPECT_FALSE(config_from_hf(hf_config_from(fused_cfg), "test").norm_bias);
      // Written with zero biases, which load back; a nonzero one is refused by name.
      std::vector<std::pair<std::string, Tensor>> sd = hf_state_dict(fused);
      std::map<std::string, Tensor> by_name(sd.begin(), sd.end());
      ASSERT_TRUE(by_name.count("transformer.h.1.mlp.c_fc.bias"));
      std::vector<std::string> names;
      for (const auto& [n, t] : sd) names.push_back(n);
      auto get = [&](const std::string& n) -> std::optional<Tensor> { return by_name.at(n); };
      Transformer back(fused_cfg);
      load_hf_weights(back, names, get);
      EXPECT_EQ(0, std::memcmp(back.params().values(), fused.params().values(),
                               size_t(fused.params().numel()) * 4));
      by_name["transformer.h.1.mlp.c_fc.bias"].f32()[3] = 0.5f;
      const std::string e = test::error_of([&] { load_hf_weights(back, names, get); });
      EXPECT_NE(e.find("transformer.h.1.mlp.c_fc.bias: nonzero"), std::string::npos) << e;
    }

    std::vector<int32_t> ids = {1, 5, 60, 7, 7, 0, 33, 12, 9, 3, 40, 2, 8, 8, 1, 59};
    Tensor x = ids_tensor(ids, 2),
           y = ids_tensor({5, 60, 7, 7, 0, 33, 12, 9, 3, 40, 2, 8, 8, 1, 59, 4}, 2);
    std::vector<float> grads[2], logits[2];
    Transformer* models[2] = {&fused, &split};
    for (int k = 0; k < 2; ++k) {
      Tape t;
      Rng r(0);
      Var out = models[k]->forward(t, x, true, r);
      logits[k].assign(out->value.f32(), out->value.f32() + out->value.numel());
      models[k]->params().zero_grad();
      t.backward(cross_entropy(t, out, y));
      grads[k].assign(models[k]->params().grads(),
                      models[k]->params().grads() + models[k]->params().numel());
    }
    for (size_t i = 0; i < logits[0].size(); ++i)
      ASSERT_NEAR(logits[0][i], logits[1][i], 1e-5f * (1 + std::fabs(logits[1][i]))) << i;
    for (size_t i = 0; i < grads[0].size(); ++i)
      ASSERT_NEAR(grads[0][i], grads[1][i], 1e-5f * (1 + std::fabs(grads[1][i]))) << i;
  }
}

TEST(Transformer, EveryRecipeRoundTripsItsWeights) {
  for (const TransformerConfig& c : family_configs()) {
    SCOPED_TRACE(c.arch + " " + c.fused_qkv);
    Transformer a(c);
    a.init_weights(1);
    perturb(a.params(), 2, 0.05f);
    std::vector<std::pair<std::string, Tensor>> sd = hf_state_dict(a);
    std::map<std::string, Tensor> by_name(sd.begin(), sd.end());
    std::vector<std::string> names;
    for (const auto& [n, t] : sd) names.push_back(n);
    Transformer b(c);
    load_hf_weights(b, names, [&](const std::string& n) -> std::optional<Tensor> { return by_name.at(n); });
    for (const Param& p : a.params().params()) {
      const float* x = p.var->value.f32();
      const float* y = b.params().get(p.name).var->value.f32();
      for (int64_t i = 0; i < p.shape.numel(); ++i) ASSERT_EQ(x[i], y[i]) << p.name << " " << i;
    }
    // And the config through config.json.
    TransformerConfig back = config_from_hf(hf_config_from(c), "test");
    EXPECT_EQ(back.num_params(), c.num_params());
    EXPECT_EQ(back.fused_qkv, c.fused_qkv);
    EXPECT_EQ(Transformer(back).params().numel(), a.params().numel());
  }
}

TEST(Transformer, KVCacheMatchesTheFullForward) {
  for (const TransformerConfig& c : family_configs()) {
    if (c.head != HeadKind::causal_lm) continue;
    SCOPED_TRACE(c.arch + " " + c.fused_qkv);
    Transformer m(c);
    m.init_weights(1);
    perturb(m.params(), 7, 0.2f);
    std::vector<int32_t> ids = {3, 50, 17, 17, 9, 0, 52, 45, 12, 7, 8, 1};
    TransformerKVCache cache = m.make_cache();
    Arena scratch;
    const int V = c.vocab_size;
    std::vector<float> logits(static_cast<size_t>(V));
    m.forward_cached(cache, ids.data(), 4, logits.data(), scratch);
    for (size_t n = 4; n <= ids.size(); ++n) {
      if (n > 4) {
        scratch.reset();
        m.forward_cached(cache, &ids[n - 1], 1, logits.data(), scratch);
      }
      std::vector<float> full = logits_of(m, ids_tensor({ids.begin(), ids.begin() + long(n)}, 1));
      for (int v = 0; v < V; ++v) {
        const float want = full[(n - 1) * size_t(V) + size_t(v)];
        ASSERT_NEAR(logits[size_t(v)], want, 1e-4f * (1 + std::fabs(want))) << "length " << n;
      }
    }
  }
}

// d(loss)/d(param) against central differences, two entries of every parameter.
TEST(Transformer, GradientsOfWholeModelsMatchFiniteDifferences) {
  for (TransformerConfig c : family_configs()) {
    SCOPED_TRACE(c.arch + " " + c.fused_qkv);
    c.n_layer = 1;
    Transformer m(c);
    m.init_weights(1);
    perturb(m.params(), 3, 0.1f);
    const bool cls = c.head == HeadKind::classification;
    Tensor x = ids_tensor({1, 4, 9, 2, 7, 3, 0, 5, 8, 6}, 2);
    Tensor mask = Tensor::zeros({2, 5}, DType::i32);
    for (int i = 0; i < 10; ++i) mask.data<int32_t>()[i] = i == 9 ? 0 : 1;  // one padded key
    Tensor types = Tensor::zeros({2, 5}, DType::i32);
    types.data<int32_t>()[7] = 1;
    TransformerInputs in;
    if (c.arch == "bert") in = {&types, &mask};
    Tensor targets = cls ? Tensor::zeros({2}, DType::i32) : ids_tensor({4, 9, 2, 7, 3, 5, 8, 6, 1, 0}, 2);
    if (cls) targets.data<int32_t>()[1] = 2;
    auto loss = [&](Tape& t) {
      Rng r(0);
      return cross_entropy(t, m.forward(t, x, false, r, in), targets);
    };
    m.params().zero_grad();
    {
      Tape t;
      t.backward(loss(t));
    }
    std::vector<float> grads(m.params().grads(), m.params().grads() + m.params().numel());
    auto value = [&] {
      Tape t;
      NoGrad ng(t);
      return double(loss(t)->value.f32()[0]);
    };
    Rng pick(11);
    for (const Param& p : m.params().params()) {
      for (int k = 0; k < 2; ++k) {
        const int64_t i = p.offset + int64_t(pick.below(uint64_t(p.shape.numel())));
        float& w = m.params().values()[i];
        const float w0 = w, eps = 1e-2f;
        w = w0 + eps;
        const double up = value();
        w = w0 - eps;
        const double down = value();
        w = w0;
        const double fd = (up - down) / (2 * eps);
        EXPECT_NEAR(grads[size_t(i)], fd, 2e-3 + 3e-2 * std::fabs(fd)) << p.name;
      }
    }
  }
}

TEST(Transformer, WeightErrorsNameEveryTensor) {
  TransformerConfig c = family_configs()[1];  // llama
  Transformer a(c);
  std::vector<std::pair<std::string, Tensor>> sd = hf_state_dict(a);
  std::map<std::string, Tensor> by_name(sd.begin(), sd.end());
  by_name.erase("model.layers.1.mlp.up_proj.weight");
  by_name["model.layers.0.self_attn.q_proj.weight"] = Tensor::zeros({3, 3});
  by_name["model.extra.weight"] = Tensor::zeros({1});
  by_name["model.layers.0.self_attn.rotary_emb.inv_freq"] = Tensor::zeros({4});  // ignorable
  std::vector<std::string> names;
  for (const auto& [n, t] : by_name) names.push_back(n);
  Transformer b(c);
  std::string e = test::error_of([&] {
    load_hf_weights(b, names, [&](const std::string& n) -> std::optional<Tensor> { return by_name.at(n); });
  });
  EXPECT_NE(e.find("missing (1): model.layers.1.mlp.up_proj.weight;"), std::string::npos) << e;
  EXPECT_NE(e.find("unexpected (1): model.extra.weight;"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
  EXPECT_NE(e.find("model.layers.0.self_attn.q_proj.weight: expected shape [32, 32], found [3, 3]"),
            std::string::npos) << e;
}

TEST(Transformer, AlibiAndYarnConfigs) {
  using nlohmann::json;
  // falcon-rw-1b's fields (shrunk): alibi true, no rotary.
  json rw = {{"architectures", {"FalconForCausalLM"}},
             {"alibi", true},
             {"bias", true},
             {"multi_query", false},
             {"new_decoder_architecture", false},
             {"parallel_attn", false},
             {"hidden_size", 24},
             {"num_attention_heads", 6},
             {"num_hidden_layers", 2},
             {"vocab_size", 50}};
  TransformerConfig c = config_from_hf(rw, "rw/config.json");
  EXPECT_EQ(c.position, PositionKind::alibi);
  EXPECT_EQ(c.wiring, Wiring::pre_norm);
  EXPECT_EQ(c.fused_qkv, "interleaved");
  EXPECT_TRUE(c.qkv_bias && c.mlp_bias);
  json back = hf_config_from(c);
  EXPECT_EQ(back["alibi"], true);
  EXPECT_FALSE(back.contains("rope_scaling"));
  EXPECT_EQ(config_from_hf(back, "back").position, PositionKind::alibi);
  // alibi with rope_scaling: HF's FalconConfig refuses it, so do we, naming both fields.
  json bad = rw;
  bad["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  std::string e = test::error_of([&] { config_from_hf(bad, "rw/config.json"); });
  EXPECT_NE(e.find("'rope_scaling'"), std::string::npos) << e;
  EXPECT_NE(e.find("'alibi'"), std::string::npos) << e;

  json llama = {{"architectures", {"LlamaForCausalLM"}},
                {"hidden_size", 32},
                {"num_attention_heads", 4},
                {"num_hidden_layers", 2},
                {"intermediate_size", 40},
                {"vocab_size", 50},
                {"max_position_embeddings", 256}};
  // Qwen-style: no original_max_position_embeddings: the original is max_position_embeddings
  // and factor stays as written; betas 32 / 1.
  llama["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
  c = config_from_hf(llama, "y");
  EXPECT_EQ(c.rope.scaling, "yarn");
  EXPECT_EQ(c.rope.factor, 4.0f);
  EXPECT_EQ(c.rope.original_max_positions, 256);
  EXPECT_EQ(c.rope.beta_fast, 32.0f);
  EXPECT_EQ(c.rope.beta_slow, 1.0f);
  back = hf_config_from(c);
  EXPECT_FALSE(back["rope_scaling"].contains("original_max_position_embeddings")) << back.dump();
  EXPECT_EQ(config_from_hf(back, "b").rope.factor, 4.0f);
  // DeepSeek-style: the original given: factor = 256 / 64 whatever "factor" says; mscales.
  llama["rope_scaling"] = {
      {"rope_type", "yarn"}, {"factor", 40.0},  {"original_max_position_embeddings", 64},
      {"beta_fast", 0},      {"mscale", 0.707}, {"mscale_all_dim", 0.707},
      {"truncate", false}};
  c = config_from_hf(llama, "y");
  EXPECT_EQ(c.rope.factor, 4.0f);
  EXPECT_EQ(c.rope.original_max_positions, 64);
  EXPECT_EQ(c.rope.beta_fast, 32.0f);  // 0 means the default, as in HF
  EXPECT_FALSE(c.rope.truncate);
  EXPECT_FLOAT_EQ(rope_attention_factor(c.rope), 1.0f);  // equal mscales cancel
  TransformerConfig again = config_from_hf(hf_config_from(c), "b");
  EXPECT_EQ(again.rope.factor, c.rope.factor);
  EXPECT_EQ(again.rope.original_max_positions, 64);
  EXPECT_EQ(again.rope.mscale, c.rope.mscale);
  EXPECT_EQ(again.rope.truncate, false);
  // Refusals name the field; unknown types list the supported ones.
  llama["rope_scaling"] = {{"rope_type", "yarn"}};
  e = test::error_of([&] { config_from_hf(llama, "y/config.json"); });
  EXPECT_NE(e.find("needs 'factor'"), std::string::npos) << e;
  llama["rope_scaling"] = {{"rope_type", "longrope"}, {"factor", 2.0}};
  e = test::error_of([&] { config_from_hf(llama, "y/config.json"); });
  EXPECT_NE(e.find("'longrope' is not supported"), std::string::npos) << e;
  EXPECT_NE(e.find("linear, dynamic, llama3, yarn"), std::string::npos) << e;
}

TEST(Transformer, UnknownArchitectureListsTheSupportedOnes) {
  std::string e = test::error_of([] {
    config_from_hf(nlohmann::json{{"architectures", {"T5ForConditionalGeneration"}}, {"vocab_size", 5}},
                   "m/config.json");
  });
  EXPECT_NE(e.find("architecture 'T5ForConditionalGeneration' is not supported"), std::string::npos) << e;
  EXPECT_NE(e.find("LlamaForCausalLM"), std::string::npos) << e;
  e = test::error_of([] {
    config_from_hf(nlohmann::json{{"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 5}}, "m/config.json");
  });
  EXPECT_NE(e.find("m/config.json: config.json has no 'num_hidden_layers'"), std::string::npos) << e;
}

}  // namespace
}  // namespace ilm
