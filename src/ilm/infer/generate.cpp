#include "ilm/infer/generate.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "ilm/tokenizer/stream_decoder.h"

namespace ilm {

namespace {

// A model with its KV cache. The cache's second dimension is the positions it holds.
template <typename Model, typename Cache>
class CachedLM final : public CausalLM {
 public:
  CachedLM(Model& model, Cache cache) : model_(model), cache_(std::move(cache)) {}
  int vocab_size() const override { return model_.config().vocab_size; }
  int context_length() const override { return int(cache_.k.shape()[1]); }
  int cached() const override { return cache_.length; }
  void reset() override { cache_.length = 0; }
  void feed(const int32_t* ids, int n, float* logits) override {
    scratch_.reset();
    model_.forward_cached(cache_, ids, n, logits, scratch_);
  }

 private:
  Model& model_;
  Cache cache_;
  Arena scratch_;
};

// The KV cache holds n_layer x capacity x 2 x (kv heads x head dim) floats: LLaMA-3's 131072
// positions would be 32 GiB for 8B, so decoding keeps at most kMaxDecodeContext positions
// (then the latest half, as for any full context).
constexpr int kMaxDecodeContext = 8192;

}  // namespace

std::unique_ptr<CausalLM> causal_lm_of(const Transformer& model) {
  const TransformerConfig& c = model.config();
  if (c.head != HeadKind::causal_lm || !c.causal)
    fail(
        "a {} model without a causal LM head cannot generate text: generation needs a causal LM "
        "(gpt2, llama, mistral, falcon)",
        c.arch);
  return std::make_unique<CachedLM<const Transformer, TransformerKVCache>>(
      model, model.make_cache(std::min(c.max_positions, kMaxDecodeContext)));
}

GenerateStats generate_ids(CausalLM& model, std::vector<int32_t> ids, const GenerateOptions& opt,
                           std::optional<int32_t> eot,
                           const std::function<void(int32_t)>& on_token) {
  validate(opt.sampling);
  ILM_CHECK(opt.max_tokens >= 0, "max tokens must be >= 0, got {}", opt.max_tokens);
  ILM_CHECK(!ids.empty(), "the prompt has no tokens");
  using Clock = std::chrono::steady_clock;
  const int V = model.vocab_size(), block = model.context_length();
  const int sample_V = opt.vocab_limit > 0 ? std::min(V, opt.vocab_limit) : V;
  for (int32_t id : ids)
    ILM_CHECK(id >= 0 && id < V, "prompt token {} is outside the model's vocabulary of {}", id, V);
  GenerateStats st;
  st.prompt_tokens = int(ids.size());
  std::vector<float> logits(static_cast<size_t>(V));
  Rng rng(opt.seed);
  model.reset();
  auto t0 = Clock::now();
  {
    int n = int(ids.size()), start = n > block ? n - block : 0;
    model.feed(ids.data() + start, n - start, logits.data());
  }
  st.prefill_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  auto t1 = Clock::now();
  for (int i = 0; i < opt.max_tokens; ++i) {
    int32_t next = sample_token(logits.data(), sample_V, opt.sampling, rng);
    ++st.generated_tokens;
    if (opt.stop_at_eot && eot && next == *eot) break;
    ids.push_back(next);
    on_token(next);
    if (i + 1 == opt.max_tokens) break;
    if (model.cached() >= block) {  // full: keep the latest half of the context
      model.reset();
      int keep = block / 2;
      model.feed(ids.data() + ids.size() - size_t(keep), keep, logits.data());
    } else {
      model.feed(&next, 1, logits.data());
    }
  }
  st.decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - t1).count();
  return st;
}

std::vector<int32_t> prompt_ids(const Tokenizer& tok, std::string_view prompt,
                                bool leading_special_tokens) {
  std::vector<int32_t> ids;
  if (leading_special_tokens) {
    for (const ModelTemplateItem& item : tok.model_template(false)) {
      if (item.sequence >= 0) break;  // the text comes next; what follows it is not wanted
      ids.push_back(item.id);
    }
  }
  const std::vector<int32_t> text = tok.encode(prompt);
  ids.insert(ids.end(), text.begin(), text.end());
  return ids;
}

GenerateStats generate(CausalLM& model, const Tokenizer& tok, std::string_view prompt,
                       const GenerateOptions& opt,
                       const std::function<void(std::string_view)>& on_text) {
  std::vector<int32_t> ids = prompt_ids(tok, prompt, opt.leading_special_tokens);
  if (ids.empty()) {
    // Nothing to condition on: start from end-of-text as GPT-2 does, or a newline.
    if (auto eot = tok.eot_id()) {
      ids.push_back(*eot);
    } else {
      auto nl = tok.encode("\n");
      ILM_CHECK(!nl.empty(), "the prompt is empty and the tokenizer cannot encode a newline");
      ids.push_back(nl[0]);
    }
  }
  StreamDecoder decoder(tok);
  GenerateOptions o = opt;
  if (o.vocab_limit <= 0 || o.vocab_limit > tok.vocab_size()) o.vocab_limit = tok.vocab_size();
  GenerateStats st = generate_ids(model, std::move(ids), o, tok.eot_id(), [&](int32_t id) {
    std::string piece = decoder.push(id);
    if (!piece.empty()) on_text(piece);
  });
  std::string rest = decoder.flush();
  if (!rest.empty()) on_text(rest);
  return st;
}

}  // namespace ilm
