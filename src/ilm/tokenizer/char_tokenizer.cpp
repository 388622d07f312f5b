#include "ilm/tokenizer/char_tokenizer.h"

#include <algorithm>

#include "ilm/core/error.h"

namespace ilm {

CharTokenizer::CharTokenizer(std::vector<char32_t> vocab) : vocab_(std::move(vocab)) {
  ILM_CHECK(!vocab_.empty(), "char tokenizer: the vocabulary is empty");
  ILM_CHECK(vocab_.size() <= size_t(INT32_MAX), "char tokenizer: {} entries is too many",
            vocab_.size());
  utf8_.reserve(vocab_.size());
  ids_.reserve(vocab_.size());
  for (size_t i = 0; i < vocab_.size(); ++i) {
    const char32_t cp = vocab_[i];
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      fail("char tokenizer: vocabulary entry {} is {}, not a Unicode scalar value", i,
           describe_code_point(cp));
    }
    auto [it, inserted] = ids_.emplace(cp, int32_t(i));
    if (!inserted) {
      fail("char tokenizer: vocabulary entry {} ({}) duplicates entry {}", i,
           describe_code_point(cp), it->second);
    }
    utf8_.push_back(encode_utf8(cp));
  }
}

CharTokenizer CharTokenizer::from_corpus(std::string_view text) {
  ILM_CHECK(!text.empty(), "char tokenizer: cannot build a vocabulary from empty text");
  // Byte-valued code points are the common case (English text); count them in a table
  // and keep a set only for the rest.
  std::vector<bool> ascii(128, false);
  std::vector<char32_t> other;
  for (size_t i = 0; i < text.size();) {
    const Utf8Scan s = scan_utf8(text, i);
    if (s.status != Utf8Status::ok) fail("char tokenizer: {}", describe_invalid_utf8(text, i));
    if (s.code_point < 128) {
      ascii[s.code_point] = true;
    } else {
      other.push_back(s.code_point);
    }
    i += size_t(s.length);
  }
  std::vector<char32_t> vocab;
  for (char32_t c = 0; c < 128; ++c) {
    if (ascii[c]) vocab.push_back(c);
  }
  std::sort(other.begin(), other.end());
  other.erase(std::unique(other.begin(), other.end()), other.end());
  vocab.insert(vocab.end(), other.begin(), other.end());
  return CharTokenizer(std::move(vocab));
}

std::optional<int32_t> CharTokenizer::id_of(char32_t code_point) const {
  auto it = ids_.find(code_point);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const Utf8Scan s = scan_utf8(text, i);
    if (s.status != Utf8Status::ok) fail("char tokenizer: {}", describe_invalid_utf8(text, i));
    auto it = ids_.find(s.code_point);
    if (it == ids_.end()) {
      fail(
          "char tokenizer: character {} at byte offset {} is not in the vocabulary ({} characters)",
          describe_code_point(s.code_point), i, vocab_.size());
    }
    ids.push_back(it->second);
    i += size_t(s.length);
  }
  return ids;
}

std::string CharTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || size_t(id) >= utf8_.size()) {
      fail("char tokenizer: token id {} at position {} is out of range [0, {})", id, i,
           utf8_.size());
    }
    out += utf8_[size_t(id)];
  }
  return out;
}

std::string CharTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || size_t(id) >= utf8_.size()) {
    fail("char tokenizer: token id {} is out of range [0, {})", id, utf8_.size());
  }
  return utf8_[size_t(id)];
}

nlohmann::json CharTokenizer::to_json() const {
  return nlohmann::json{{"ilm_tokenizer", 1}, {"kind", "char"}, {"vocab", utf8_}};
}

}  // namespace ilm
