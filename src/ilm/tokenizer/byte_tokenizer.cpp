#include "ilm/tokenizer/byte_tokenizer.h"

#include "ilm/core/error.h"

namespace ilm {

namespace {
constexpr std::string_view kEndOfTextText = "<|endoftext|>";
}  // namespace

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids(text.size());
  for (size_t i = 0; i < text.size(); ++i) ids[i] = int32_t(uint8_t(text[i]));
  return ids;
}

std::string ByteTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  out.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id >= 0 && id < 256) {
      out += char(uint8_t(id));
    } else if (id == kEndOfText) {
      out += kEndOfTextText;
    } else {
      fail("byte tokenizer: token id {} at position {} is out of range [0, {})", id, i, kVocabSize);
    }
  }
  return out;
}

std::string ByteTokenizer::token_bytes(int32_t id) const {
  if (id >= 0 && id < 256) return std::string(1, char(uint8_t(id)));
  if (id == kEndOfText) return std::string(kEndOfTextText);
  fail("byte tokenizer: token id {} is out of range [0, {})", id, kVocabSize);
}

nlohmann::json ByteTokenizer::to_json() const {
  return nlohmann::json{{"ilm_tokenizer", 1}, {"kind", "byte"}};
}

}  // namespace ilm
