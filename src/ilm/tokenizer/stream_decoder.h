// StreamDecoder: turns tokens generated one at a time into text that is always
// whole UTF-8. A byte-level token may end inside a character (an Arabic letter is
// 2 bytes, an emoji 4); those bytes are held back until the character completes,
// so a streaming client never receives half a character.
#pragma once

#include <cstdint>
#include <string>

#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

class StreamDecoder {
 public:
  // `tokenizer` must outlive the decoder.
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  // Adds one token; returns the text it completes (often empty). Bytes that can never
  // become valid UTF-8 are replaced by U+FFFD at once, one per maximal ill-formed part.
  // Throws, as Tokenizer::token_bytes does, on an out-of-range id.
  std::string push(int32_t id);
  // At the end of the stream: what is held back, an unfinished sequence replaced by U+FFFD.
  // The decoder is then empty and can start a new stream.
  std::string flush();
  // Whether bytes of an unfinished character are held back.
  bool has_pending() const { return !pending_.empty(); }

 private:
  std::string take(bool at_end);

  const Tokenizer& tokenizer_;
  std::string pending_;
};

}  // namespace ilm
