// PrecompiledCharsMap: SentencePiece's normalization rules as a model carries them
// (ModelProto.normalizer_spec.precompiled_charsmap; Hugging Face's tokenizer.json has the same
// bytes, base64, in {"type": "Precompiled", "precompiled_charsmap": ...}). The blob is
//   [u32 little-endian: trie size in bytes][trie: Darts-clone double array of u32 units]
//   [replacements: NUL-terminated UTF-8 strings]
// and the trie maps a UTF-8 key (a character or a short sequence) to the offset of its
// replacement. Notes: docs/hf-tokenizer.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ilm {

class PrecompiledCharsMap {
 public:
  // The raw blob; throws naming `source` when it is too short, the trie size does not fit or
  // is not a multiple of 4, or the trie is empty. An empty blob is the identity.
  PrecompiledCharsMap(std::string_view blob, const std::string& source);

  struct Match {
    size_t length;  // bytes of the key matched
    std::string_view replacement;
  };
  // Every key that is a prefix of `text`, shortest first (Darts' common-prefix search).
  std::vector<Match> prefix_matches(std::string_view text) const;

  // SentencePiece's normalization: at each position the longest key that starts there is
  // replaced, else one character is copied (an invalid UTF-8 byte becomes U+FFFD).
  std::string normalize(std::string_view text) const;
  // Hugging Face's Precompiled normalizer: for each extended grapheme cluster under 6 bytes
  // with a key that is a prefix of it, the whole cluster becomes the replacement of the
  // shortest such key; otherwise each character with a key is replaced and the others are
  // kept. Equal to normalize() except for clusters where a rule covers only part of them.
  std::string normalize_graphemes(std::string_view text) const;

  bool empty() const { return units_.empty(); }

 private:
  std::vector<uint32_t> units_;
  std::string replacements_;
};

// RFC 4648 base64 (with or without '=' padding); throws naming `what` on other characters.
std::string decode_base64(std::string_view text, std::string_view what);

}  // namespace ilm
