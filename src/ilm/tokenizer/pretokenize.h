// Pre-tokenization: the regular expression that cuts text into the pieces byte-level BPE
// merges within (tokens never cross a piece boundary). Patterns are those of OpenAI's
// tiktoken for GPT-2 (r50k_base, p50k_base), cl100k_base and o200k_base, run with PCRE2.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ilm {

// `pattern` with \s and \S spelled as the White_Space property. tiktoken (Rust's regex)
// and Hugging Face (Oniguruma) mean exactly that by \s; PCRE2's \s with UCP also matches
// U+180E, so patterns go through this before PCRE2 compiles them.
std::string white_space_as_property(std::string_view pattern);

class Pretokenizer {
 public:
  // The compiled pattern `name` ("gpt2", "cl100k_base" or "o200k_base"); compiled once per
  // process and shared by all threads. Unknown name: an error listing the known ones.
  static const Pretokenizer& get(std::string_view name);
  static std::vector<std::string> known_patterns();

  // Compiles `pattern` (UTF and Unicode properties on, JIT when available).
  Pretokenizer(std::string name, std::string_view pattern);
  ~Pretokenizer();
  Pretokenizer(const Pretokenizer&) = delete;
  Pretokenizer& operator=(const Pretokenizer&) = delete;

  const std::string& name() const { return name_; }
  // The pattern as tiktoken writes it (what a Hugging Face Split pre-tokenizer takes).
  const std::string& pattern() const { return pattern_; }

  // Replaces `pieces` with the pieces of `text`, in order; together they cover every byte.
  // Bytes that are not well-formed UTF-8 match no pattern element; each run of them between
  // two matches becomes a piece of its own, so any byte string can be encoded and decoded.
  // Safe to call from several threads at once.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

 private:
  std::string name_;
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*, kept out of the header
};

}  // namespace ilm
