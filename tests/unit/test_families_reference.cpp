// Every family against its PyTorch reference (tests/reference/families_reference.py): each
// fixture folder is a Hugging Face model folder (config.json + model.safetensors, some with
// legacy names, bf16 weights or extra buffers) and golden.safetensors holds what the
// reference computed: logits, loss, the gradient of every parameter, and a greedy
// continuation with the logits behind each pick.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "ilm/io/safetensors.h"
#include "ilm/models/recipes.h"

namespace ilm {
namespace {

namespace fs = std::filesystem;

fs::path fixtures() { return fs::path(ILM_SOURCE_DIR) / "tests/reference/golden/families"; }

// max |a - b| / max(1, max |b|): the relative error of a whole tensor.
double rel_error(const float* a, const float* b, int64_t n) {
  double diff = 0, scale = 1;
  for (int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::fabs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  return diff / scale;
}

class Family : public ::testing::TestWithParam<std::string> {};

TEST_P(Family, MatchesThePyTorchReference) {
  const fs::path dir = fixtures() / GetParam();
  HfModel hf = load_hf_folder(dir);
  Transformer& m = *hf.model;
  const TransformerConfig& c = m.config();
  SafetensorsFile g = SafetensorsFile::open(dir / "golden.safetensors");
  Tensor ids = g.get("input_ids", DType::i32);
  Tensor mask, types;
  TransformerInputs in;
  if (g.has("attention_mask")) mask = g.get("attention_mask", DType::i32), in.attention_mask = &mask;
  if (g.has("token_type_ids")) types = g.get("token_type_ids", DType::i32), in.token_types = &types;

  m.params().zero_grad();
  Tape tape;
  Rng rng(0);
  if (g.has("last_hidden_state")) {
    Tape t;
    NoGrad ng(t);
    Var h = m.hidden(t, ids, false, rng, in);
    Tensor want = g.get("last_hidden_state", DType::f32);
    ASSERT_EQ(h->value.numel(), want.numel());
    EXPECT_LT(rel_error(h->value.f32(), want.f32(), want.numel()), 1e-4) << "last_hidden_state";
    if (g.has("pooler_output")) {
      Var p = m.pooled(t, h);
      Tensor want_p = g.get("pooler_output", DType::f32);
      ASSERT_EQ(p->value.numel(), want_p.numel());
      EXPECT_LT(rel_error(p->value.f32(), want_p.f32(), want_p.numel()), 1e-4) << "pooler_output";
    }
  }
  if (!g.has("logits")) return;  // the bare encoder has no head
  Var logits = m.forward(tape, ids, false, rng, in);
  Tensor want = g.get("logits", DType::f32);
  ASSERT_EQ(logits->value.shape(), want.shape());
  EXPECT_LT(rel_error(logits->value.f32(), want.f32(), want.numel()), 1e-4) << "logits";

  // The loss as the reference defines it: causal LMs predict the next token (labels shifted
  // by one), -100 ignored; masked LM and classification take the labels as they are.
  Tensor labels = g.get("labels", DType::i32);
  Tensor targets = labels;
  if (c.head == HeadKind::causal_lm) {
    const int64_t B = labels.shape()[0], T = labels.shape()[1];
    targets = Tensor::zeros({B, T}, DType::i32);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        targets.data<int32_t>()[b * T + t] = t + 1 < T ? labels.data<int32_t>()[b * T + t + 1] : -100;
  }
  Var loss = cross_entropy(tape, logits, targets, -100);
  const float want_loss = g.get("loss", DType::f32).f32()[0];
  EXPECT_NEAR(loss->value.f32()[0], want_loss, 1e-4 * std::fabs(want_loss)) << "loss";

  // Gradients under the Hugging Face names: put ours into a model's values and export it.
  tape.backward(loss);
  Transformer grads(c);
  for (const Param& p : m.params().params())
    std::copy_n(m.params().grads() + p.offset, p.shape.numel(), grads.params().get(p.name).var->value.f32());
  int compared = 0;
  for (const auto& [name, grad] : hf_state_dict(grads)) {
    ASSERT_TRUE(g.has("grad." + name)) << "the reference has no gradient for " << name;
    Tensor w = g.get("grad." + name, DType::f32);
    ASSERT_EQ(grad.shape(), w.shape()) << name;
    EXPECT_LT(rel_error(grad.f32(), w.f32(), w.numel()), 1e-4) << "grad of " << name;
    ++compared;
  }
  EXPECT_GT(compared, 10);

  // Greedy decoding through the KV cache picks the same tokens, for the same logits.
  if (!g.has("generate.prompt_ids")) return;
  Tensor prompt = g.get("generate.prompt_ids", DType::i32);
  Tensor new_ids = g.get("generate.new_ids", DType::i32);
  Tensor step_logits = g.get("generate.logits", DType::f32);
  const int V = c.vocab_size, P = int(prompt.numel()), N = int(new_ids.numel());
  TransformerKVCache cache = m.make_cache(P + N);
  Arena scratch;
  std::vector<float> out(static_cast<size_t>(V));
  std::vector<int32_t> seq(prompt.data<int32_t>(), prompt.data<int32_t>() + P);
  m.forward_cached(cache, seq.data(), P, out.data(), scratch);
  for (int i = 0; i < N; ++i) {
    EXPECT_LT(rel_error(out.data(), step_logits.f32() + int64_t(i) * V, V), 1e-4) << "step " << i;
    const int32_t next = int32_t(std::max_element(out.begin(), out.end()) - out.begin());
    ASSERT_EQ(next, new_ids.data<int32_t>()[i]) << "greedy token " << i;
    scratch.reset();
    if (i + 1 < N) m.forward_cached(cache, &next, 1, out.data(), scratch);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Family,
                         ::testing::Values("gpt2", "gpt2_legacy", "llama", "llama2_gqa_bf16",
                                           "llama_dynamic_bias_tied", "llama3", "mistral_window",
                                           "falcon_mqa", "falcon_new_arch", "falcon_rw",
                                           "llama_yarn", "bert", "bert_mlm_legacy", "bert_cls"));

}  // namespace
}  // namespace ilm
