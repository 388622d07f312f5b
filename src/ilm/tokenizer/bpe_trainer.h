// Training a byte-level BPE vocabulary, as Hugging Face tokenizers' BpeTrainer does:
// count the pre-tokenized words (so memory grows with the number of distinct words,
// not with the text), then merge the most frequent adjacent pair again and again,
// updating the pair counts of only the words a merge touches (no recount per merge).
// The result is written as a Hugging Face tokenizer.json.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string_view>
#include <string>
#include <unordered_map>
#include <vector>

namespace ilm {

struct BpeTrainerOptions {
  int32_t vocab_size = 8192;         // special tokens + 256 bytes + merges
  int64_t min_frequency = 2;         // a pair seen fewer times is never merged
  std::vector<std::string> special_tokens = {"<|endoftext|>"};
  std::string pattern = "gpt2";      // pre-tokenization: gpt2, cl100k_base or o200k_base
  int threads = 0;                   // counting words; 0: all cores
};

struct TrainedBpe {
  // id -> token bytes: special tokens first, then the 256 bytes (in the order of their
  // byte-level characters, as Hugging Face assigns them), then one token per merge.
  std::vector<std::string> tokens;
  int32_t num_special = 0;
  // Each merge as the ids of its two parts; merge k made token num_special + 256 + k.
  std::vector<std::pair<int32_t, int32_t>> merges;
  std::string pattern;
  int64_t words = 0, distinct_words = 0;
};

// Distinct pre-tokenized words and how often each occurs.
using WordCounts = std::unordered_map<std::string, int64_t>;

// Counts the words of `files` (whole UTF-8 text files, read in blocks split at line
// ends). `progress`, if given, receives the bytes read so far.
WordCounts count_words(const std::vector<std::filesystem::path>& files, const BpeTrainerOptions& opt,
                       const std::function<void(int64_t bytes)>& progress = {});
// Learns merges from word counts until vocab_size or until no pair reaches min_frequency.
TrainedBpe train_bpe(const WordCounts& words, const BpeTrainerOptions& opt);

// A token's bytes spelled in GPT-2's byte-level alphabet (gpt2_byte_to_char), as
// tokenizer.json and vocab files spell them.
std::string byte_level_spelling(std::string_view bytes);

// Writes a Hugging Face tokenizer.json (BPE model with byte-level pre-tokenization and
// decoding) atomically.
void save_hf_tokenizer_json(const TrainedBpe& bpe, const std::filesystem::path& path);

}  // namespace ilm
