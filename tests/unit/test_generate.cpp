// KV-cache decoding against the full forward pass, and the samplers.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "ilm/infer/generate.h"
#include "ilm/infer/sampling.h"
#include "ilm/models/recipes.h"
#include "ilm/tokenizer/byte_tokenizer.h"

using namespace ilm;

namespace {

Transformer small_gpt(bool bias) {
  Gpt2Spec c;
  c.n_layer = 2, c.n_head = 3, c.n_embd = 24, c.block_size = 12, c.vocab_size = 257, c.bias = bias;
  Transformer g(gpt2_config(c));
  g.init_weights(5);
  Rng r(9);  // bigger than init so that every position matters
  for (int64_t i = 0; i < g.params().numel(); ++i) g.params().values()[i] += 0.2f * r.normal();
  return g;
}

// Logits of the last position from the training forward.
std::vector<float> full_forward_last(Transformer& g, const std::vector<int32_t>& ids) {
  Tensor x = Tensor::zeros({1, int64_t(ids.size())}, DType::i32);
  std::copy(ids.begin(), ids.end(), x.data<int32_t>());
  Tape t;
  NoGrad ng(t);
  Rng r(0);
  Var logits = g.forward(t, x, false, r);
  const int V = g.config().vocab_size;
  const float* last = logits->value.f32() + (ids.size() - 1) * size_t(V);
  return {last, last + V};
}

}  // namespace

TEST(Generate, KVCacheMatchesFullForward) {
  for (bool bias : {true, false}) {
    Transformer g = small_gpt(bias);
    std::vector<int32_t> ids = {3, 200, 17, 17, 99, 0, 256, 45, 12, 7, 8, 1};
    TransformerKVCache cache = g.make_cache();
    Arena scratch;
    std::vector<float> logits(257);
    // A 5-token prefill, then one token at a time: every step equals the full forward.
    g.forward_cached(cache, ids.data(), 5, logits.data(), scratch);
    for (size_t n = 5; n <= ids.size(); ++n) {
      if (n > 5) {
        scratch.reset();
        g.forward_cached(cache, &ids[n - 1], 1, logits.data(), scratch);
      }
      std::vector<float> want = full_forward_last(g, {ids.begin(), ids.begin() + long(n)});
      for (int v = 0; v < 257; ++v)
        ASSERT_NEAR(logits[size_t(v)], want[size_t(v)], 1e-4f * (1 + std::fabs(want[size_t(v)])))
            << "bias " << bias << " length " << n << " token " << v;
    }
    EXPECT_THROW(g.forward_cached(cache, ids.data(), 1, logits.data(), scratch), Error);  // full
  }
}

TEST(Sampling, GreedyAndDegenerateFiltersPickArgmax) {
  std::vector<float> logits = {0.1f, 2.0f, -1.0f, 2.0f, 1.5f};
  Rng rng(1);
  EXPECT_EQ(sample_token(logits.data(), 5, {0.0f, 0, 1.0f}, rng), 1);  // ties: lowest id
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(sample_token(logits.data(), 5, {1.0f, 1, 1.0f}, rng), 1);
    EXPECT_EQ(sample_token(logits.data(), 5, {1.0f, 0, 1e-6f}, rng), 1);
  }
}

TEST(Sampling, FrequenciesFollowSoftmaxWithinTopK) {
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  Rng rng(3);
  std::map<int, int> count;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++count[sample_token(logits.data(), 4, {1.0f, 3, 1.0f}, rng)];
  EXPECT_EQ(count[3], 0);  // outside the top 3
  EXPECT_NEAR(count[0] / double(n), 0.5 / 0.95, 0.02);
  EXPECT_NEAR(count[1] / double(n), 0.3 / 0.95, 0.02);
  // top-p 0.7 keeps {0, 1} (0.5 + 0.3 >= 0.7), renormalized.
  count.clear();
  for (int i = 0; i < n; ++i) ++count[sample_token(logits.data(), 4, {1.0f, 0, 0.7f}, rng)];
  EXPECT_EQ(count[2] + count[3], 0);
  EXPECT_NEAR(count[0] / double(n), 0.5 / 0.8, 0.02);
}

TEST(Sampling, RejectsBadOptions) {
  EXPECT_THROW(validate(SamplingOptions{-1.0f, 0, 1.0f}), Error);
  EXPECT_THROW(validate(SamplingOptions{1.0f, -2, 1.0f}), Error);
  EXPECT_THROW(validate(SamplingOptions{1.0f, 0, 0.0f}), Error);
  EXPECT_THROW(validate(SamplingOptions{1.0f, 0, 1.5f}), Error);
}

TEST(Generate, SameSeedSameTextAndStopsAtMaxTokens) {
  Transformer g = small_gpt(true);
  std::unique_ptr<CausalLM> lm = causal_lm_of(g);
  ByteTokenizer tok;
  GenerateOptions opt;
  opt.max_tokens = 30;  // past block_size 12: the context slides
  opt.seed = 4;
  opt.stop_at_eot = false;
  opt.sampling = {0.9f, 20, 0.95f};
  std::string a, b;
  auto sa = generate(*lm, tok, "hi", opt, [&](std::string_view s) { a += s; });
  generate(*lm, tok, "hi", opt, [&](std::string_view s) { b += s; });
  EXPECT_EQ(a, b);
  EXPECT_EQ(sa.generated_tokens, 30);
}
