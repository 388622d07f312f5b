// PrecompiledCharsMap: walks a Darts-clone double array (see precompiled_charsmap.h).
#include "ilm/tokenizer/precompiled_charsmap.h"

#include <utf8proc.h>

#include <cstring>

#include "ilm/core/error.h"
#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

namespace {

// A Darts-clone unit: bits 0-7 the label of the edge into the node (bit 31 set for a leaf,
// so that no byte matches it), bit 8 "has a leaf child", bits 10-31 the offset to the
// children, scaled by 256 when bit 9 is set; a leaf's bits 0-30 are its value.
bool has_leaf(uint32_t unit) {
  return (unit >> 8) & 1;
}
uint32_t value(uint32_t unit) {
  return unit & 0x7FFFFFFFu;
}
uint32_t label(uint32_t unit) {
  return unit & 0x800000FFu;
}
uint32_t offset(uint32_t unit) {
  return (unit >> 10) << ((unit & (1u << 9)) >> 6);
}

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

// The length of the character at `pos` (1 for an invalid byte).
size_t char_length(std::string_view text, size_t pos) {
  const Utf8Scan s = scan_utf8(text, pos);
  return s.status == Utf8Status::ok ? size_t(s.length) : 1;
}

// Appends the character at `pos`, or U+FFFD for an invalid byte; returns its length.
size_t copy_char(std::string_view text, size_t pos, std::string& out) {
  const Utf8Scan s = scan_utf8(text, pos);
  if (s.status != Utf8Status::ok) {
    out += kReplacementChar;
    return 1;
  }
  out.append(text.substr(pos, size_t(s.length)));
  return size_t(s.length);
}

}  // namespace

PrecompiledCharsMap::PrecompiledCharsMap(std::string_view blob, const std::string& source) {
  if (blob.empty()) return;
  if (blob.size() < 4)
    fail("{}: precompiled_charsmap of {} bytes is too short", source, blob.size());
  const auto* b = reinterpret_cast<const uint8_t*>(blob.data());
  const uint32_t trie_bytes =
      uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
  if (trie_bytes == 0 || trie_bytes % 4 != 0 || trie_bytes > blob.size() - 4) {
    fail(
        "{}: precompiled_charsmap: trie size {} is not a positive multiple of 4 within the {} "
        "bytes that follow it",
        source, trie_bytes, blob.size() - 4);
  }
  units_.resize(trie_bytes / 4);
  for (size_t i = 0; i < units_.size(); ++i) {
    const uint8_t* u = b + 4 + 4 * i;
    units_[i] = uint32_t(u[0]) | uint32_t(u[1]) << 8 | uint32_t(u[2]) << 16 | uint32_t(u[3]) << 24;
  }
  replacements_ = std::string(blob.substr(4 + trie_bytes));
}

std::vector<PrecompiledCharsMap::Match> PrecompiledCharsMap::prefix_matches(
    std::string_view text) const {
  std::vector<Match> out;
  if (units_.empty()) return out;
  size_t node = offset(units_[0]);
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = uint8_t(text[i]);
    if (c == 0) break;  // keys hold no NUL
    node ^= c;
    if (node >= units_.size()) break;  // a malformed trie: no match rather than a crash
    const uint32_t unit = units_[node];
    if (label(unit) != c) break;
    node ^= offset(unit);
    if (has_leaf(unit)) {
      if (node >= units_.size()) break;
      const size_t at = value(units_[node]);
      if (at >= replacements_.size()) continue;
      const size_t end = replacements_.find('\0', at);
      out.push_back(
          {i + 1, std::string_view(replacements_)
                      .substr(at, (end == std::string::npos ? replacements_.size() : end) - at)});
    }
  }
  return out;
}

std::string PrecompiledCharsMap::normalize(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const std::vector<Match> m = prefix_matches(text.substr(pos));
    if (!m.empty()) {
      out.append(m.back().replacement);
      pos += m.back().length;
    } else {
      pos += copy_char(text, pos, out);
    }
  }
  return out;
}

std::string PrecompiledCharsMap::normalize_graphemes(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    // The extended grapheme cluster at pos (an invalid byte is a cluster of its own).
    size_t end = pos + char_length(text, pos);
    if (scan_utf8(text, pos).status == Utf8Status::ok) {
      utf8proc_int32_t state = 0;
      char32_t prev = scan_utf8(text, pos).code_point;
      while (end < text.size()) {
        const Utf8Scan next = scan_utf8(text, end);
        if (next.status != Utf8Status::ok) break;
        if (utf8proc_grapheme_break_stateful(utf8proc_int32_t(prev),
                                             utf8proc_int32_t(next.code_point), &state))
          break;
        prev = next.code_point;
        end += size_t(next.length);
      }
    }
    const std::string_view cluster = text.substr(pos, end - pos);
    if (cluster.size() < 6) {
      const std::vector<Match> m = prefix_matches(cluster);
      if (!m.empty()) {
        out.append(m.front().replacement);
        pos = end;
        continue;
      }
    }
    for (size_t i = pos; i < end;) {
      const size_t n = char_length(text, i);
      const std::vector<Match> m = prefix_matches(text.substr(i, n));
      if (!m.empty()) {
        out.append(m.front().replacement);
        i += n;
      } else {
        i += copy_char(text, i, out);
      }
    }
    pos = end;
  }
  return out;
}

std::string decode_base64(std::string_view text, std::string_view what) {
  auto digit = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] != '='; ++i) {
    const int d = digit(text[i]);
    if (d < 0) {
      fail("{}: invalid base64 character 0x{:02X} at offset {}", what, uint8_t(text[i]), i);
    }
    acc = (acc << 6) | uint32_t(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xFF);
    }
  }
  for (; i < text.size(); ++i) {
    if (text[i] != '=') fail("{}: base64 continues after '=' padding at offset {}", what, i);
  }
  return out;
}

}  // namespace ilm
