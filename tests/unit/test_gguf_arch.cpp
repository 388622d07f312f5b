// GGUF architecture tables: Hugging Face -> llama.cpp tensor names, the key checks, and the
// layout changes (the RoPE row permutation checked against RoPE itself).
#include "ilm/io/gguf_arch.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "test_util.h"

using ilm::gguf_tensor_mapping;
using ilm::gguf_tensor_name;
using ilm::GgufTensorTransform;
using ilm::GgufValue;
using ilm::test::error_of;

TEST(GgufArch, Gpt2Names) {
  EXPECT_EQ(gguf_tensor_name("gpt2", "wte.weight"), "token_embd.weight");
  EXPECT_EQ(gguf_tensor_name("gpt2", "transformer.wpe.weight"), "position_embd.weight");
  EXPECT_EQ(gguf_tensor_name("gpt2", "h.0.ln_1.bias"), "blk.0.attn_norm.bias");
  EXPECT_EQ(gguf_tensor_name("gpt2", "transformer.h.11.ln_2.weight"), "blk.11.ffn_norm.weight");
  EXPECT_EQ(gguf_tensor_name("gpt2", "transformer.ln_f.weight"), "output_norm.weight");
  EXPECT_EQ(gguf_tensor_name("gpt2", "lm_head.weight"), "output.weight");
  auto qkv = gguf_tensor_mapping("gpt2", "transformer.h.3.attn.c_attn.weight");
  ASSERT_TRUE(qkv);
  EXPECT_EQ(qkv->name, "blk.3.attn_qkv.weight");
  EXPECT_EQ(qkv->transform, GgufTensorTransform::transpose);
  EXPECT_EQ(gguf_tensor_mapping("gpt2", "h.3.attn.c_attn.bias")->transform,
            GgufTensorTransform::none);
  EXPECT_EQ(gguf_tensor_mapping("gpt2", "h.7.mlp.c_proj.weight")->name, "blk.7.ffn_down.weight");
  EXPECT_EQ(gguf_tensor_mapping("gpt2", "h.7.mlp.c_fc.weight")->transform,
            GgufTensorTransform::transpose);
  EXPECT_EQ(gguf_tensor_mapping("gpt2", "h.7.attn.c_proj.weight")->name,
            "blk.7.attn_output.weight");
  EXPECT_FALSE(gguf_tensor_mapping("gpt2", "h.0.attn.bias"));  // the causal mask: dropped
  EXPECT_EQ(gguf_tensor_name("gpt2", "h.0.attn.masked_bias"), "");
}

TEST(GgufArch, LlamaNames) {
  auto q = gguf_tensor_mapping("llama", "model.layers.21.self_attn.q_proj.weight");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->name, "blk.21.attn_q.weight");
  EXPECT_EQ(q->transform, GgufTensorTransform::rope_permute_q);
  EXPECT_EQ(gguf_tensor_mapping("llama", "model.layers.0.self_attn.k_proj.weight")->transform,
            GgufTensorTransform::rope_permute_k);
  EXPECT_EQ(gguf_tensor_mapping("llama", "model.layers.0.self_attn.v_proj.weight")->transform,
            GgufTensorTransform::none);
  EXPECT_EQ(gguf_tensor_name("llama", "model.layers.2.mlp.gate_proj.weight"),
            "blk.2.ffn_gate.weight");
  EXPECT_EQ(gguf_tensor_name("llama", "model.layers.2.post_attention_layernorm.weight"),
            "blk.2.ffn_norm.weight");
  EXPECT_EQ(gguf_tensor_name("llama", "model.norm.weight"), "output_norm.weight");
  EXPECT_EQ(gguf_tensor_name("llama", "model.embed_tokens.weight"), "token_embd.weight");
  EXPECT_EQ(gguf_tensor_name("llama", "model.layers.2.self_attn.rotary_emb.inv_freq"), "");
}

TEST(GgufArch, FalconAndBertNames) {
  EXPECT_EQ(gguf_tensor_mapping("falcon", "transformer.h.1.self_attention.query_key_value.weight")
                ->transform,
            GgufTensorTransform::falcon_qkv_regroup);
  EXPECT_EQ(gguf_tensor_name("falcon", "transformer.h.1.mlp.dense_4h_to_h.weight"),
            "blk.1.ffn_down.weight");
  EXPECT_EQ(gguf_tensor_name("bert", "bert.encoder.layer.5.attention.output.LayerNorm.bias"),
            "blk.5.attn_output_norm.bias");
  EXPECT_EQ(gguf_tensor_name("bert", "embeddings.token_type_embeddings.weight"),
            "token_types.weight");
  EXPECT_EQ(gguf_tensor_name("bert", "bert.pooler.dense.weight"), "");
}

TEST(GgufArch, UnknownNamesAreErrors) {
  std::string e = error_of([] { gguf_tensor_name("gpt2", "h.0.attn.c_attn.weight.extra"); });
  EXPECT_NE(e.find("h.0.attn.c_attn.weight.extra"), std::string::npos) << e;
  EXPECT_NE(e.find("gpt2"), std::string::npos) << e;
  e = error_of([] { gguf_tensor_name("gpt2", "h.x.ln_1.weight"); });  // not a block number
  EXPECT_NE(e.find("h.x.ln_1.weight"), std::string::npos) << e;
  e = error_of([] { gguf_tensor_name("mamba", "x"); });
  EXPECT_NE(e.find("mamba"), std::string::npos) << e;
}

TEST(GgufArch, EveryRequiredTensorHasASource) {
  // Each tensor llama.cpp requires comes from some Hugging Face name in the tables.
  const std::vector<std::string> gpt2_hf = {"wte.weight",
                                            "wpe.weight",
                                            "ln_f.weight",
                                            "ln_f.bias",
                                            "h.1.ln_1.weight",
                                            "h.1.ln_1.bias",
                                            "h.1.attn.c_attn.weight",
                                            "h.1.attn.c_attn.bias",
                                            "h.1.attn.c_proj.weight",
                                            "h.1.attn.c_proj.bias",
                                            "h.1.ln_2.weight",
                                            "h.1.ln_2.bias",
                                            "h.1.mlp.c_fc.weight",
                                            "h.1.mlp.c_fc.bias",
                                            "h.1.mlp.c_proj.weight",
                                            "h.1.mlp.c_proj.bias"};
  std::vector<std::string> mapped;
  for (const std::string& n : gpt2_hf) mapped.push_back(gguf_tensor_name("gpt2", n));
  std::vector<std::string> required = ilm::gguf_required_tensors("gpt2", 2);
  for (const std::string& r : required) {
    if (r.starts_with("blk.0.")) continue;  // the names above cover block 1
    EXPECT_NE(std::find(mapped.begin(), mapped.end(), r), mapped.end()) << r;
  }
  EXPECT_EQ(required.size(), 4u + 2 * 12);
  EXPECT_EQ(ilm::gguf_required_tensors("llama", 3).size(), 2u + 3 * 9);
}

TEST(GgufArch, KeyTables) {
  auto keys = ilm::gguf_model_keys("llama");
  auto has = [&](std::string_view k, bool required) {
    for (const auto& s : keys)
      if (s.key == k) return s.required == required;
    return false;
  };
  EXPECT_TRUE(has("general.architecture", true));
  EXPECT_TRUE(has("llama.attention.layer_norm_rms_epsilon", true));
  EXPECT_TRUE(has("llama.attention.head_count_kv", false));
  EXPECT_TRUE(has("llama.rope.freq_base", false));
  keys = ilm::gguf_model_keys("gpt2");
  EXPECT_TRUE(has("gpt2.attention.layer_norm_epsilon", true));
  EXPECT_TRUE(has("gpt2.context_length", true));
  EXPECT_EQ(ilm::gguf_default_tokenizer("gpt2"),
            (std::pair<std::string_view, std::string_view>{"gpt2", "gpt-2"}));
  auto tok = ilm::gguf_tokenizer_keys("gpt2");
  for (const auto& k : tok)
    if (k.key == "tokenizer.ggml.merges") {
      EXPECT_TRUE(k.required);
    }
}

TEST(GgufArch, CheckKeysFindsMissingAndMistypedKeys) {
  std::vector<std::pair<std::string, GgufValue>> kvs = {
      {"general.architecture", "gpt2"},
      {"gpt2.context_length", uint32_t{1024}},
      {"gpt2.embedding_length", uint32_t{768}},
      {"gpt2.feed_forward_length", uint32_t{3072}},
      {"gpt2.block_count", uint32_t{12}},
      {"gpt2.attention.head_count", uint32_t{12}},
      {"gpt2.attention.layer_norm_epsilon", 1e-5f},
      {"tokenizer.ggml.model", "gpt2"},
      {"tokenizer.ggml.pre", "gpt-2"},
      {"tokenizer.ggml.tokens", std::vector<std::string>{"a", "b", "ab"}},
      {"tokenizer.ggml.token_type", std::vector<int32_t>{1, 1, 1}},
      {"tokenizer.ggml.merges", std::vector<std::string>{"a b"}},
  };
  EXPECT_TRUE(ilm::gguf_check_keys("gpt2", kvs).empty());
  kvs[4].second = int32_t{12};  // block_count as i32
  kvs.erase(kvs.begin() + 11);  // no merges
  auto problems = ilm::gguf_check_keys("gpt2", kvs);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("gpt2.block_count is i32 12, expected u32"), std::string::npos)
      << problems[0];
  EXPECT_NE(problems[1].find("tokenizer.ggml.merges is missing"), std::string::npos) << problems[1];
  problems = ilm::gguf_check_keys("llama", kvs);
  EXPECT_GE(problems.size(), 3u);  // the llama.* keys, and the architecture itself
}

TEST(GgufArch, RopePermuteKnownAnswer) {
  // 2 heads of HS = 4, 1 column: per head rows [0 1 2 3] -> [0 2 1 3].
  const float in[8] = {0, 1, 2, 3, 10, 11, 12, 13};
  float out[8];
  ilm::gguf_rope_permute_rows(out, in, 8, 1, 2);
  const float expect[8] = {0, 2, 1, 3, 10, 12, 11, 13};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], expect[i]) << i;
  EXPECT_NE(error_of([&] { ilm::gguf_rope_permute_rows(out, in, 6, 1, 2); }).find("6 rows"),
            std::string::npos);
}

// The reason for the permutation: rotate_half RoPE on q = W x equals, after permuting q's rows,
// adjacent-pair RoPE (ggml's normal mode) on q' = permute(W) x.
TEST(GgufArch, RopePermuteTurnsRotateHalfIntoAdjacentPairs) {
  const int NH = 2, HS = 8, C = 5, half = HS / 2;
  std::vector<float> W(size_t(NH * HS * C)), x(C);
  for (size_t i = 0; i < W.size(); ++i) W[i] = std::sin(0.7f * float(i) + 0.1f);
  for (int c = 0; c < C; ++c) x[size_t(c)] = std::cos(1.3f * float(c));
  auto matvec = [&](const std::vector<float>& M) {
    std::vector<float> y(size_t(NH * HS), 0.0f);
    for (int r = 0; r < NH * HS; ++r)
      for (int c = 0; c < C; ++c) y[size_t(r)] += M[size_t(r * C + c)] * x[size_t(c)];
    return y;
  };
  const float pos = 3.0f;
  auto angle = [&](int i) { return pos * std::pow(10000.0f, -2.0f * float(i) / float(HS)); };
  // Hugging Face: pairs (i, i + HS/2).
  std::vector<float> q = matvec(W), hf = q;
  for (int h = 0; h < NH; ++h)
    for (int i = 0; i < half; ++i) {
      const float a = q[size_t(h * HS + i)], b = q[size_t(h * HS + i + half)], t = angle(i);
      hf[size_t(h * HS + i)] = a * std::cos(t) - b * std::sin(t);
      hf[size_t(h * HS + i + half)] = a * std::sin(t) + b * std::cos(t);
    }
  // ggml normal mode on the permuted weights: pairs (2i, 2i + 1).
  std::vector<float> Wp(W.size());
  ilm::gguf_rope_permute_rows(Wp.data(), W.data(), NH * HS, C, NH);
  std::vector<float> qp = matvec(Wp), gg = qp;
  for (int h = 0; h < NH; ++h)
    for (int i = 0; i < half; ++i) {
      const float a = qp[size_t(h * HS + 2 * i)], b = qp[size_t(h * HS + 2 * i + 1)], t = angle(i);
      gg[size_t(h * HS + 2 * i)] = a * std::cos(t) - b * std::sin(t);
      gg[size_t(h * HS + 2 * i + 1)] = a * std::sin(t) + b * std::cos(t);
    }
  // Same values, with ggml's rows in the permuted order.
  std::vector<float> hf_permuted(hf.size());
  ilm::gguf_rope_permute_rows(hf_permuted.data(), hf.data(), NH * HS, 1, NH);
  for (size_t i = 0; i < gg.size(); ++i) EXPECT_NEAR(gg[i], hf_permuted[i], 1e-5f) << i;
}

TEST(GgufArch, FalconRegroupAndTranspose) {
  // n_head 4, n_head_kv 2, HS 1, C 1: groups [q0 q1 k0 v0][q2 q3 k1 v1] -> q0..q3 k0 k1 v0 v1.
  const float in[8] = {0, 1, 100, 200, 2, 3, 101, 201};
  float out[8];
  ilm::gguf_falcon_qkv_regroup(out, in, 4, 2, 1, 1);
  const float expect[8] = {0, 1, 2, 3, 100, 101, 200, 201};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(out[i], expect[i]) << i;

  const float m[6] = {1, 2, 3, 4, 5, 6};  // (2, 3)
  float t[6];
  ilm::gguf_transpose(t, m, 2, 3);  // (3, 2)
  const float mt[6] = {1, 4, 2, 5, 3, 6};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t[i], mt[i]) << i;
}

TEST(GgufArch, ApplyTransform) {
  std::vector<float> out;
  // GPT-2 Conv1D (in 2, out 3) -> (3, 2).
  const float conv[6] = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(ilm::gguf_apply_transform(GgufTensorTransform::transpose, conv, {2, 3}, {}, out),
            (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(out, (std::vector<float>{1, 4, 2, 5, 3, 6}));
  // LLaMA k_proj with 4 query heads and 1 key/value head of HS 4: permuted as one head.
  const float k[4] = {0, 1, 2, 3};
  ilm::gguf_apply_transform(GgufTensorTransform::rope_permute_k, k, {4, 1}, {4, 1}, out);
  EXPECT_EQ(out, (std::vector<float>{0, 2, 1, 3}));
  // q_proj of the same model: 4 heads of 2 rows each, where the permutation is the identity.
  const float q[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  ilm::gguf_apply_transform(GgufTensorTransform::rope_permute_q, q, {8, 1}, {4, 1}, out);
  EXPECT_EQ(out, (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
  // Falcon: n_head 4, n_head_kv 2, HS 1, C 1.
  const float qkv[8] = {0, 1, 100, 200, 2, 3, 101, 201};
  ilm::gguf_apply_transform(GgufTensorTransform::falcon_qkv_regroup, qkv, {8, 1}, {4, 2}, out);
  EXPECT_EQ(out, (std::vector<float>{0, 1, 2, 3, 100, 101, 200, 201}));
  const std::string e = error_of([&] {
    ilm::gguf_apply_transform(GgufTensorTransform::falcon_qkv_regroup, qkv, {7, 1}, {4, 2}, out);
  });
  EXPECT_NE(e.find("7 rows"), std::string::npos) << e;
  EXPECT_NE(error_of([&] {
              ilm::gguf_apply_transform(GgufTensorTransform::transpose, conv, {6}, {}, out);
            }).find("expected a matrix"),
            std::string::npos);
}
