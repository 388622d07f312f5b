// Text generation, streamed as it goes, from any causal LM that gives next-token logits with
// a KV cache: the Transformer of a run folder or of a Hugging Face folder.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ilm/infer/sampling.h"
#include "ilm/models/transformer.h"
#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

// What decoding needs of a model: the logits (V) of the next token after feeding ids at the
// positions after those already cached.
class CausalLM {
 public:
  virtual ~CausalLM() = default;
  virtual int vocab_size() const = 0;
  virtual int context_length() const = 0;  // positions the cache holds
  virtual int cached() const = 0;          // positions filled
  virtual void reset() = 0;                // empty the cache
  // Feeds ids[0..n) at positions cached().. and writes the logits (V) of the last one.
  virtual void feed(const int32_t* ids, int n, float* logits) = 0;
};

// The model must outlive the returned object. Throws unless the model has a causal LM head
// (BERT cannot generate).
std::unique_ptr<CausalLM> causal_lm_of(const Transformer& model);

struct GenerateOptions {
  SamplingOptions sampling;
  int max_tokens = 256;
  uint64_t seed = 0;
  bool stop_at_eot = true;
  // Put the tokens the tokenizer's model template places before the text (LLaMA's <s>) in
  // front of the prompt, as transformers' generate does. On for Hugging Face folders; off for
  // runs, which ilm trains without them.
  bool leading_special_tokens = false;
  // Sample only ids below this (0: the whole vocabulary): a tokenizer smaller than the model's
  // vocabulary (padded embeddings, a model.init run with its own tokenizer) cannot decode the
  // rest. generate() sets it to the tokenizer's size.
  int vocab_limit = 0;
};

// The ids generation starts from: the template's leading tokens when asked, then the text.
std::vector<int32_t> prompt_ids(const Tokenizer& tok, std::string_view prompt,
                                bool leading_special_tokens);

struct GenerateStats {
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double prefill_ms = 0, decode_ms = 0;
};

// Generates after the ids `prompt` (not empty), calling on_token with each new id. Stops at
// max_tokens or at `eot` (not reported) when opt.stop_at_eot. When the context fills up, it
// keeps the most recent half and continues.
GenerateStats generate_ids(CausalLM& model, std::vector<int32_t> prompt, const GenerateOptions& opt,
                           std::optional<int32_t> eot,
                           const std::function<void(int32_t)>& on_token);

// Generates after `prompt`, calling on_text with each complete piece of UTF-8 text
// as it is produced. An empty prompt starts from the end-of-text token (or a newline).
GenerateStats generate(CausalLM& model, const Tokenizer& tok, std::string_view prompt,
                       const GenerateOptions& opt,
                       const std::function<void(std::string_view)>& on_text);

}  // namespace ilm
