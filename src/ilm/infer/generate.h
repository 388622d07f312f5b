// Text generation from a trained run or a weights folder, streamed as it goes.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ilm/infer/sampling.h"
#include "ilm/models/gpt.h"
#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

// A model ready for inference with its tokenizer.
struct LoadedModel {
  std::unique_ptr<GPT> model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::filesystem::path weights;  // the file the weights came from
};

// `path` is a run folder (its latest checkpoint), a checkpoint folder, or a folder
// holding config.yaml, tokenizer.json and model.safetensors.
LoadedModel load_model(const std::filesystem::path& path);

struct GenerateOptions {
  SamplingOptions sampling;
  int max_tokens = 256;
  uint64_t seed = 0;
  bool stop_at_eot = true;
};

struct GenerateStats {
  int prompt_tokens = 0;
  int generated_tokens = 0;
  double prefill_ms = 0, decode_ms = 0;
};

// Generates after `prompt`, calling on_text with each complete piece of UTF-8 text
// as it is produced. Stops at max_tokens or the end-of-text token. When the context
// fills up, it keeps the most recent half and continues.
GenerateStats generate(GPT& model, const Tokenizer& tok, std::string_view prompt,
                       const GenerateOptions& opt, const std::function<void(std::string_view)>& on_text);

}  // namespace ilm
