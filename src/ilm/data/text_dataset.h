// prepare_text_dataset: a plain-text file to train.bin, val.bin and tokenizer.json,
// as nanoGPT's data/shakespeare_char/prepare.py does it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace ilm {

struct TextDatasetInfo {
  int64_t train_tokens, val_tokens;
  int32_t vocab_size;
  std::string tokenizer_kind;
};

// Reads `text_file` whole, builds the tokenizer ("char": the text's own code points, from
// the whole text; "byte": the 257-token byte tokenizer; anything else: what
// resolve_tokenizer names, e.g. "gpt2" or a tokenizer.json), splits the text into its first
// floor(n * (1 - val_fraction)) units for training and the rest for validation (units are
// code points for "char", bytes otherwise; n counts them; for multi-byte tokenizers the
// cut moves back to a line start nearby), and writes out_dir/train.bin, out_dir/val.bin and
// out_dir/tokenizer.json, each atomically. Throws on a missing or empty file, invalid UTF-8
// (char), an unknown tokenizer, or val_fraction outside [0, 1). A part too small to train
// on is left for the loader to report.
TextDatasetInfo prepare_text_dataset(const std::filesystem::path& text_file,
                                     const std::string& tokenizer_kind, double val_fraction,
                                     const std::filesystem::path& out_dir);

}  // namespace ilm
