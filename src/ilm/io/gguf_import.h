// Reading a GGUF model into ilm: the inverse of gguf_export (docs/gguf.md, "Reading GGUF").
// llama.cpp's gpt2, llama (LLaMA, Mistral), falcon and bert architectures become the
// Transformer of the matching Hugging Face recipe, their tensors with the export's layout
// changes undone, and tokenizer.ggml.* becomes an ilm tokenizer.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ilm/io/gguf.h"
#include "ilm/models/transformer.h"
#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

// The Hugging Face config.json a GGUF file's metadata describes (what config_from_hf reads):
// sizes from {arch}.*, vocab_size and type_vocab_size from the tensors, biases and Falcon's
// norms from which tensors exist, tie_word_embeddings when output.weight is absent or equal
// to token_embd.weight. Throws naming the file and the key for an architecture ilm has no
// recipe for (listing the supported ones), a missing key, and what has no Hugging Face form
// (LLaMA-3's rope_freqs.weight, a partial rotary dimension).
nlohmann::json gguf_hf_config(const GgufFile& file);

// The tokenizer of tokenizer.ggml.*: "gpt2" (byte-level BPE, pre-tokenizers gpt-2, llama-bpe
// and gpt-4o) as a Hugging Face BPE tokenizer, "llama" as a SentencePiece model (BPE over the
// scores, byte fallback when there are byte tokens), "bert" as WordPiece (lower-casing). Null
// when the file has no tokenizer.ggml.model. Throws naming the field for another model or
// pre-tokenizer.
std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& file);

struct GgufModel {
  std::unique_ptr<Transformer> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the file has none or it is refused
  nlohmann::json hf_config;              // gguf_hf_config
  std::vector<std::string> notes;        // e.g. why there is no tokenizer
};

// The model of a GGUF file. Tensor types: F32, F16 and BF16 (in mapped storage, those needing
// no layout change stay read-only views of the file's map; the others are converted to f32),
// Q8_0 dequantized to f32. Other types are refused naming the tensor, its type and the
// supported ones. A tokenizer that cannot be built is a note, not an error.
GgufModel load_gguf_model(const std::filesystem::path& path,
                          ParamStorage storage = ParamStorage::owned);

}  // namespace ilm
