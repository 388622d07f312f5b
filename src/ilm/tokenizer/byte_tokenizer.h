// ByteTokenizer: one token per byte, as in byte-level models. Ids 0..255 are the
// bytes themselves and id 256 is <|endoftext|>, so any byte string round-trips
// exactly and encoding never fails.
#pragma once

#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

class ByteTokenizer final : public Tokenizer {
 public:
  static constexpr int32_t kEndOfText = 256;
  static constexpr int32_t kVocabSize = 257;

  std::string kind() const override { return "byte"; }
  int32_t vocab_size() const override { return kVocabSize; }
  // The text "<|endoftext|>" is encoded as its 13 bytes, never as id 256: only the caller
  // inserts end-of-text tokens, so text cannot forge one.
  std::vector<int32_t> encode(std::string_view text) const override;
  using Tokenizer::encode;
  // <|endoftext|>, for encode(text, EncodeOptions).
  std::vector<std::pair<std::string, int32_t>> text_special_tokens() const override {
    return {{"<|endoftext|>", kEndOfText}};
  }
  // Id 256 decodes to the text "<|endoftext|>".
  std::string decode(std::span<const int32_t> ids) const override;
  std::string token_bytes(int32_t id) const override;
  std::optional<int32_t> eot_id() const override { return kEndOfText; }
  std::optional<int32_t> special_token_id(std::string_view name) const override {
    if (name == "<|endoftext|>") return kEndOfText;
    return std::nullopt;
  }
  nlohmann::json to_json() const override;
};

}  // namespace ilm
