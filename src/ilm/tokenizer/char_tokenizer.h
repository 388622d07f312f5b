// CharTokenizer: one token per Unicode code point, as nanoGPT's shakespeare_char.
// The vocabulary is a list of code points and a token's id is its index; built
// from a corpus, the list is the corpus's distinct code points sorted by value
// (tinyshakespeare: 65 tokens, '\n' = 0, ' ' = 1, '!' = 2). No end-of-text token.
#pragma once

#include <unordered_map>

#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

class CharTokenizer final : public Tokenizer {
 public:
  // Throws on an empty list, a duplicate, or a value that is not a Unicode scalar value.
  explicit CharTokenizer(std::vector<char32_t> vocab);
  // The sorted distinct code points of `text`; throws naming the byte offset of invalid
  // UTF-8, or when the text is empty.
  static CharTokenizer from_corpus(std::string_view text);

  std::string kind() const override { return "char"; }
  int32_t vocab_size() const override { return int32_t(vocab_.size()); }
  // Throws on invalid UTF-8 or a character outside the vocabulary, naming its byte offset.
  std::vector<int32_t> encode(std::string_view text) const override;
  // No special tokens: every EncodeOptions encodes as encode(text).
  using Tokenizer::encode;
  std::string decode(std::span<const int32_t> ids) const override;
  std::string token_bytes(int32_t id) const override;
  std::optional<int32_t> eot_id() const override { return std::nullopt; }
  nlohmann::json to_json() const override;

  const std::vector<char32_t>& vocab() const { return vocab_; }
  std::optional<int32_t> id_of(char32_t code_point) const;

 private:
  std::vector<char32_t> vocab_;
  std::vector<std::string> utf8_;  // utf8_[id]: the bytes of vocab_[id]
  std::unordered_map<char32_t, int32_t> ids_;
};

}  // namespace ilm
