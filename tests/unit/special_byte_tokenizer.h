// For tests: the byte tokenizer plus named special tokens at ids 257, 258, ... (chat
// templates and example sets place special tokens by id).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ilm/tokenizer/byte_tokenizer.h"

namespace ilm::test {

class SpecialByteTokenizer : public Tokenizer {
 public:
  explicit SpecialByteTokenizer(std::vector<std::string> names) {
    for (size_t i = 0; i < names.size(); ++i) ids_[names[i]] = int32_t(257 + i);
  }
  std::string kind() const override { return "test"; }
  int32_t vocab_size() const override { return 257 + int32_t(ids_.size()); }
  std::vector<int32_t> encode(std::string_view text) const override { return bytes_.encode(text); }
  std::string decode(std::span<const int32_t> ids) const override { return bytes_.decode(ids); }
  std::string token_bytes(int32_t id) const override { return bytes_.token_bytes(id); }
  std::optional<int32_t> eot_id() const override { return bytes_.eot_id(); }
  nlohmann::json to_json() const override { return {}; }
  std::optional<int32_t> special_token_id(std::string_view name) const override {
    auto it = ids_.find(std::string(name));
    if (it == ids_.end()) return bytes_.special_token_id(name);
    return it->second;
  }

 private:
  ByteTokenizer bytes_;
  std::map<std::string, int32_t> ids_;
};

}  // namespace ilm::test
