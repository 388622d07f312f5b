#include "ilm/data/text_split.h"

namespace ilm {

size_t document_cut(std::string_view text, size_t max_bytes) {
  const size_t limit = std::min(max_bytes, text.size());
  // A blank line is a '\n' right after another '\n' (or after "\n\r").
  for (size_t i = limit; i-- > 1;) {
    if (text[i] != '\n') continue;
    if (text[i - 1] == '\n' || (i >= 2 && text[i - 1] == '\r' && text[i - 2] == '\n')) return i + 1;
  }
  for (size_t i = limit; i-- > 0;)
    if (text[i] == '\n') return i + 1;
  // Step back over at most 3 continuation bytes (10xxxxxx) to the start of a character;
  // bytes that are not UTF-8 at all are cut at the limit.
  size_t cut = limit;
  while (cut > 0 && limit - cut < 3 && cut < text.size() &&
         (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
    --cut;
  if (cut == 0 || (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) return limit;
  return cut;
}

}  // namespace ilm
