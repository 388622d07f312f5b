#include "ilm/tokenizer/stream_decoder.h"

namespace ilm {

namespace {
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
}  // namespace

std::string StreamDecoder::push(int32_t id) {
  pending_ += tokenizer_.token_bytes(id);
  return take(false);
}

std::string StreamDecoder::flush() {
  return take(true);
}

std::string StreamDecoder::take(bool at_end) {
  std::string out;
  size_t i = 0;
  while (i < pending_.size()) {
    const Utf8Scan s = scan_utf8(pending_, i);
    if (s.status == Utf8Status::ok) {
      out.append(pending_, i, size_t(s.length));
    } else if (s.status == Utf8Status::incomplete && !at_end) {
      break;  // a valid prefix at the end: the next token may complete it
    } else {
      out += kReplacement;
    }
    i += size_t(s.length);
  }
  pending_.erase(0, i);
  return out;
}

}  // namespace ilm
