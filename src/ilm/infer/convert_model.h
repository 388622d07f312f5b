// `ilm convert`: a run folder or a Hugging Face folder to a Hugging Face folder (transformers
// loads it) or to a GGUF file (llama.cpp runs it). docs/convert.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ilm/io/gguf.h"

namespace ilm {

struct ConvertReport {
  std::vector<std::string> notes;            // what the user should know (zero biases, ...)
  std::vector<std::filesystem::path> files;  // written
};

// "2GB" (10^9, as save_pretrained's max_shard_size), "500MB", "2GiB" (2^30), "1024" bytes.
// Throws naming the text.
uint64_t parse_byte_size(const std::string& text);
// "f32", "f16", "q8_0"; throws listing them.
GgmlType parse_gguf_matrix_type(const std::string& text);

// Run folder -> Hugging Face GPT-2 folder (config.json, model.safetensors or shards,
// generation_config.json, tokenizer.json); Hugging Face folder -> the same folder re-sharded,
// every tensor's bytes unchanged (the model is loaded first, so bad weights fail here). `out`
// must not exist or be an empty folder; it is built beside and renamed into place, so a failure
// leaves nothing.
ConvertReport convert_to_hf(const std::filesystem::path& in, const std::filesystem::path& out,
                            uint64_t max_shard_bytes = uint64_t(5) * 1000 * 1000 * 1000);

// Run folder or Hugging Face GPT-2 folder (with a byte-level BPE tokenizer) -> GGUF of
// architecture gpt2, atomically. Other families are an error naming what is supported.
ConvertReport convert_to_gguf(const std::filesystem::path& in, const std::filesystem::path& out,
                              GgmlType matrix_type);

}  // namespace ilm
