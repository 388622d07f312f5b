// The cleaning stages: single passes over the bytes, with an ASCII fast path; the transforms
// that only shrink the text (controls, whitespace, HTML) rewrite it in place.
#include "ilm/data/clean_stages.h"

#include <utf8proc.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "ilm/tokenizer/tokenizer.h"

namespace ilm::clean {
namespace {

constexpr uint64_t kHighBits = 0x8080808080808080ull;

// The first offset at or after `i` whose byte is not ASCII, or text.size().
size_t skip_ascii(std::string_view text, size_t i) {
  const size_t n = text.size();
  while (i + 8 <= n) {
    uint64_t word;
    std::memcpy(&word, text.data() + i, 8);
    if (word & kHighBits) break;
    i += 8;
  }
  while (i < n && static_cast<unsigned char>(text[i]) < 0x80) ++i;
  return i;
}

// The code point at `i` of valid UTF-8, and its length in bytes.
inline char32_t decode(const unsigned char* p, int& length) {
  const unsigned b0 = p[0];
  if (b0 < 0x80) {
    length = 1;
    return b0;
  }
  if (b0 < 0xE0) {
    length = 2;
    return ((b0 & 0x1Fu) << 6) | (p[1] & 0x3Fu);
  }
  if (b0 < 0xF0) {
    length = 3;
    return ((b0 & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
  }
  length = 4;
  return ((b0 & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
}

// Writes the UTF-8 of `cp` to `out`; returns its length.
inline int encode(char32_t cp, char* out) {
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (cp >> 18));
  out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}

inline bool is_ascii_space(unsigned char b) {
  return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f';
}

inline bool is_ascii_alpha(unsigned char b) {
  return ((b | 0x20) >= 'a' && (b | 0x20) <= 'z');
}

inline bool is_letter_or_mark(int category) {
  return category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_ME;
}

inline int category_of(char32_t cp) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp));
}

// What the filters ask of a code point, looked up in a table for the BMP: its Script in the
// low 4 bits, and these classes.
enum : uint8_t {
  kScriptBits = 0x0F,
  kLetterOrMark = 0x10,  // L*, M*
  kInvisible = 0x20,     // Z*, Cf: not counted by letter_ratio
  kAlnum = 0x40,         // L*, M*, N*: a word with one is no symbol word
};

uint8_t compute_info(char32_t c) {
  const int category = category_of(c);
  uint8_t info = static_cast<uint8_t>(script_of(c));
  if (is_letter_or_mark(category)) info |= kLetterOrMark;
  if ((category >= UTF8PROC_CATEGORY_ZS && category <= UTF8PROC_CATEGORY_ZP) ||
      category == UTF8PROC_CATEGORY_CF)
    info |= kInvisible;
  if (category >= UTF8PROC_CATEGORY_LU && category <= UTF8PROC_CATEGORY_NO) info |= kAlnum;
  return info;
}

const std::vector<uint8_t>& bmp_info() {
  static const std::vector<uint8_t> table = [] {
    std::vector<uint8_t> t(0x10000);
    for (char32_t c = 0; c < 0x10000; ++c) t[c] = compute_info(c);
    return t;
  }();
  return table;
}

inline uint8_t info_of(const std::vector<uint8_t>& bmp, char32_t c) {
  return c < 0x10000 ? bmp[c] : compute_info(c);
}

constexpr auto kAsciiSpace = [] {
  std::array<bool, 256> t{};
  t[' '] = t['\t'] = t['\n'] = t['\r'] = t['\v'] = t['\f'] = true;
  return t;
}();

// The length of the well-formed sequence at p[i] (non-ASCII) in its common two- and
// three-byte forms, or 0: then scan_utf8 decides.
inline int quick_utf8_length(const unsigned char* p, size_t i, size_t n) {
  const unsigned b0 = p[i];
  if (b0 >= 0xC2 && b0 <= 0xDF) return i + 1 < n && (p[i + 1] & 0xC0) == 0x80 ? 2 : 0;
  if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF)
    return i + 2 < n && (p[i + 1] & 0xC0) == 0x80 && (p[i + 2] & 0xC0) == 0x80 ? 3 : 0;
  return 0;
}

// ---- NFC --------------------------------------------------------------------------------

// Code points NFC leaves alone whatever surrounds them, except that they may compose with
// what follows: combining class 0, no canonical decomposition, never the second of a
// composition. A text changes under NFC only around the others; each run of them is
// normalized together with the stable code point before it (its possible starter).
// Within a run, Unicode's NFC quick check answers most cases without utf8proc: when no code
// point is a composition second or has a canonical decomposition ("maybe"), and the marks are
// in canonical order, the run is already NFC (an Arabic letter with its harakat).
class NfcStableTable {
 public:
  NfcStableTable() : unstable_(kWords), maybe_(kWords) {
    for (char32_t c = 0x80; c < 0x110000; ++c) {
      if (c >= 0xD800 && c <= 0xDFFF) continue;
      const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(c));
      const bool canonical = p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0;
      if (p->combining_class != 0) mark(unstable_, c);
      if (canonical) mark(unstable_, c), mark(maybe_, c);
      if (canonical || (c >= 0xAC00 && c <= 0xD7A3)) {
        // Every code point after the first of a full canonical decomposition may be the
        // second of a composition (Hangul syllables decompose algorithmically).
        utf8proc_int32_t parts[8];
        int boundclass = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char(static_cast<utf8proc_int32_t>(c), parts, 8,
                                                     UTF8PROC_COMPOSE, &boundclass);
        for (utf8proc_ssize_t j = 1; j < k && j < 8; ++j) {
          mark(unstable_, static_cast<char32_t>(parts[j]));
          mark(maybe_, static_cast<char32_t>(parts[j]));
        }
      }
    }
    for (auto [first, last] : {std::pair<char32_t, char32_t>{0x1100, 0x11FF},  // Hangul jamo
                               {0xA960, 0xA97F},
                               {0xD7B0, 0xD7FF}}) {
      for (char32_t c = first; c <= last; ++c) mark(unstable_, c), mark(maybe_, c);
    }
  }
  bool stable(char32_t c) const { return !test(unstable_, c); }
  bool maybe(char32_t c) const { return test(maybe_, c); }

 private:
  static constexpr size_t kWords = (0x110000 + 63) / 64;
  static void mark(std::vector<uint64_t>& bits, char32_t c) {
    bits[c >> 6] |= uint64_t{1} << (c & 63);
  }
  static bool test(const std::vector<uint64_t>& bits, char32_t c) {
    return (bits[c >> 6] >> (c & 63)) & 1;
  }
  std::vector<uint64_t> unstable_, maybe_;
};

// True when the run of unstable code points text[begin, end) is NFC by the quick check.
bool nfc_quick_yes(const NfcStableTable& table, const unsigned char* p, size_t begin, size_t end) {
  int last_class = 0;
  for (size_t i = begin; i < end;) {
    int length;
    const char32_t c = decode(p + i, length);
    if (table.maybe(c)) return false;
    const int combining_class =
        utf8proc_get_property(static_cast<utf8proc_int32_t>(c))->combining_class;
    if (combining_class != 0 && combining_class < last_class) return false;
    last_class = combining_class;
    i += static_cast<size_t>(length);
  }
  return true;
}

const NfcStableTable& nfc_table() {
  static const NfcStableTable table;
  return table;
}

// NFC of `span` (valid UTF-8) into `out`; false when it equals `span`.
bool nfc_span(std::string_view span, std::vector<utf8proc_int32_t>& buffer, std::string& out) {
  const auto options = static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE);
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(span.data());
  const auto length = static_cast<utf8proc_ssize_t>(span.size());
  if (buffer.size() < span.size() * 2 + 8) buffer.resize(span.size() * 2 + 8);
  utf8proc_ssize_t k = utf8proc_decompose(bytes, length, buffer.data(),
                                          static_cast<utf8proc_ssize_t>(buffer.size()), options);
  if (k > static_cast<utf8proc_ssize_t>(buffer.size())) {
    buffer.resize(static_cast<size_t>(k));
    k = utf8proc_decompose(bytes, length, buffer.data(), k, options);
  }
  if (k < 0) return false;  // cannot happen on valid UTF-8
  k = utf8proc_normalize_utf32(buffer.data(), k, options);
  out.clear();
  char utf8[4];
  for (utf8proc_ssize_t j = 0; j < k; ++j)
    out.append(utf8, static_cast<size_t>(
                         encode(static_cast<char32_t>(buffer[static_cast<size_t>(j)]), utf8)));
  return out != span;
}

// ---- HTML -------------------------------------------------------------------------------

// Windows-1252 for &#128;..&#159;, as HTML5 decodes them; 0 where 1252 has no character.
constexpr char16_t kWindows1252[32] = {
    0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};

inline bool is_control(char32_t c) {
  return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || (c >= 0x7F && c <= 0x9F);
}

// The character reference at text[i] == '&': its code point and length; length 0 when there
// is none (a lone '&' stays as it is).
struct Entity {
  char32_t code_point;
  size_t length;
};

Entity parse_entity(std::string_view text, size_t i) {
  const size_t n = text.size();
  size_t j = i + 1;
  if (j < n && text[j] == '#') {
    ++j;
    const bool hex = j < n && (text[j] == 'x' || text[j] == 'X');
    if (hex) ++j;
    const size_t digits_begin = j;
    uint32_t value = 0;
    bool too_big = false;
    for (; j < n; ++j) {
      const char c = text[j];
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (hex && (c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
        d = (c | 0x20) - 'a' + 10;
      } else {
        break;
      }
      value = value * (hex ? 16u : 10u) + static_cast<uint32_t>(d);
      if (value > 0x10FFFF) too_big = true, value = 0x110000;
    }
    if (j == digits_begin || j >= n || text[j] != ';') return {0, 0};
    char32_t cp = value;
    if (too_big || cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
      cp = 0xFFFD;
    } else if (cp >= 0x80 && cp <= 0x9F && kWindows1252[cp - 0x80] != 0) {
      cp = kWindows1252[cp - 0x80];
    }
    return {cp, j + 1 - i};
  }
  struct Named {
    std::string_view name;
    char32_t cp;
  };
  static constexpr Named kNamed[] = {{"amp;", '&'},  {"lt;", '<'},    {"gt;", '>'},
                                     {"quot;", '"'}, {"apos;", '\''}, {"nbsp;", ' '}};
  const std::string_view rest = text.substr(j);
  for (const Named& e : kNamed)
    if (rest.substr(0, e.name.size()) == e.name) return {e.cp, 1 + e.name.size()};
  return {0, 0};
}

inline char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// Case-insensitive find of the ASCII `needle` (lower case) in text from `from`; npos if none.
size_t find_ascii_nocase(std::string_view text, std::string_view needle, size_t from) {
  if (needle.empty() || text.size() < needle.size()) return std::string_view::npos;
  for (size_t i = from; i + needle.size() <= text.size(); ++i) {
    if (ascii_lower(text[i]) != needle[0]) continue;
    size_t k = 1;
    while (k < needle.size() && ascii_lower(text[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

// The '>' that ends the tag starting at text[i] == '<', skipping quoted attribute values;
// npos when there is none. `last_gt` is the text's last '>': with none after i, text full of
// "a<b" costs no scan per '<'; quotes are followed for 64 KiB at most, so that neither do
// unbalanced ones.
size_t tag_end(std::string_view text, size_t i, size_t last_gt) {
  if (last_gt == std::string_view::npos || last_gt < i) return std::string_view::npos;
  char quote = 0;
  const size_t limit = std::min(last_gt + 1, i + 65536);
  for (size_t j = i + 1; j < limit; ++j) {
    const char c = text[j];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      if (text[j - 1] == '=' || text[j - 1] == ' ') quote = c;
    } else if (c == '>') {
      return j;
    }
  }
  // An unbalanced quote: fall back to the first '>'.
  const size_t plain = text.find('>', i + 1);
  return plain;
}

enum class TagKind { none, inline_tag, block, cell };

constexpr std::string_view kBlockTags[] = {
    "address", "article",    "aside",  "blockquote", "br",    "dd",    "div",  "dl",
    "dt",      "figcaption", "figure", "footer",     "form",  "h1",    "h2",   "h3",
    "h4",      "h5",         "h6",     "header",     "hr",    "li",    "main", "nav",
    "ol",      "p",          "pre",    "section",    "table", "title", "tr",   "ul"};

struct Markup {
  TagKind kind;
  size_t end;  // one past the markup
};

// What starts at text[i] == '<': a tag, comment, declaration or script/style element (with
// its end), or none when the '<' is text ("a < b", "<3", a tag never closed).
Markup parse_markup(std::string_view text, size_t i, size_t last_gt) {
  const size_t n = text.size();
  if (i + 1 >= n) return {TagKind::none, 0};
  const char next = text[i + 1];
  if (text.compare(i, 4, "<!--") == 0) {
    const size_t close = text.find("-->", i + 4);
    return {TagKind::inline_tag, close == std::string_view::npos ? n : close + 3};
  }
  if (next == '!' || next == '?') {
    const size_t close = last_gt == std::string_view::npos || last_gt < i ? std::string_view::npos
                                                                          : text.find('>', i + 2);
    if (close == std::string_view::npos) return {TagKind::none, 0};
    return {TagKind::inline_tag, close + 1};
  }
  const bool closing = next == '/';
  size_t j = i + 1 + (closing ? 1 : 0);
  if (j >= n || !is_ascii_alpha(static_cast<unsigned char>(text[j]))) return {TagKind::none, 0};
  char name[16];
  size_t name_length = 0;
  while (j < n && (is_ascii_alpha(static_cast<unsigned char>(text[j])) ||
                   (text[j] >= '0' && text[j] <= '9') || text[j] == '-')) {
    if (name_length < sizeof(name)) name[name_length] = ascii_lower(text[j]);
    ++name_length;
    ++j;
  }
  const size_t close = tag_end(text, i, last_gt);
  if (close == std::string_view::npos) return {TagKind::none, 0};
  const std::string_view tag(name, std::min(name_length, sizeof(name)));
  if (name_length <= sizeof(name) && !closing && (tag == "script" || tag == "style") &&
      text[close - 1] != '/') {
    // The element's contents are code, not text: drop through its end tag.
    const std::string end_tag = tag == "script" ? "</script" : "</style";
    const size_t end = find_ascii_nocase(text, end_tag, close + 1);
    if (end == std::string_view::npos) return {TagKind::inline_tag, n};
    const size_t end_close = text.find('>', end);
    return {TagKind::block, end_close == std::string_view::npos ? n : end_close + 1};
  }
  TagKind kind = TagKind::inline_tag;
  if (tag == "td" || tag == "th") {
    kind = TagKind::cell;
  } else if (std::find(std::begin(kBlockTags), std::end(kBlockTags), tag) != std::end(kBlockTags)) {
    kind = TagKind::block;
  }
  return {kind, close + 1};
}

// ---- words and lines --------------------------------------------------------------------

// Calls f(word) for each run of non-white-space bytes (ASCII white space separates words).
template <typename F>
void for_each_word(std::string_view text, F&& f) {
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    while (i < n && kAsciiSpace[static_cast<unsigned char>(text[i])]) ++i;
    const size_t begin = i;
    while (i < n && !kAsciiSpace[static_cast<unsigned char>(text[i])]) ++i;
    if (i > begin) f(text.substr(begin, i - begin));
  }
}

}  // namespace

// ---- transforms -------------------------------------------------------------------------

bool is_valid_utf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      i = skip_ascii(text, i);
      continue;
    }
    int length = quick_utf8_length(p, i, n);
    if (length == 0) {
      const Utf8Scan s = scan_utf8(text, i);
      if (s.status != Utf8Status::ok) return false;
      length = s.length;
    }
    i += static_cast<size_t>(length);
  }
  return true;
}

bool repair_utf8(std::string& text) {
  const std::string_view in = text;
  size_t i = 0, copied = 0;
  std::string out;
  bool changed = false;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  while (true) {
    i = skip_ascii(in, i);
    if (i >= in.size()) break;
    if (const int quick = quick_utf8_length(p, i, in.size())) {
      i += static_cast<size_t>(quick);
      continue;
    }
    const Utf8Scan s = scan_utf8(in, i);
    if (s.status != Utf8Status::ok) {
      if (!changed) out.reserve(in.size() + 16), changed = true;
      out.append(in.substr(copied, i - copied));
      out.append("\xEF\xBF\xBD");
      copied = i + static_cast<size_t>(s.length);
    }
    i += static_cast<size_t>(s.length);
  }
  if (!changed) return false;
  out.append(in.substr(copied));
  text.swap(out);
  return true;
}

bool to_nfc(std::string& text) {
  const std::string_view in = text;
  const size_t n = in.size();
  size_t i = skip_ascii(in, 0);
  if (i == n) return false;  // ASCII is NFC
  const NfcStableTable& table = nfc_table();
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  thread_local std::vector<utf8proc_int32_t> buffer;
  thread_local std::string normalized;
  std::string out;
  bool changed = false;
  size_t copied = 0;
  size_t previous = i > 0 ? i - 1 : std::string_view::npos;  // start of the code point before i
  while (i < n) {
    if (p[i] < 0x80) {
      const size_t j = skip_ascii(in, i);
      previous = j - 1;
      i = j;
      continue;
    }
    int length;
    const char32_t c = decode(p + i, length);
    if (table.stable(c)) {
      previous = i;
      i += static_cast<size_t>(length);
      continue;
    }
    const size_t begin = previous == std::string_view::npos ? i : previous;
    size_t end = i + static_cast<size_t>(length);
    while (end < n) {
      const char32_t d = decode(p + end, length);
      if (d < 0x80 || table.stable(d)) break;
      end += static_cast<size_t>(length);
    }
    if (!nfc_quick_yes(table, p, i, end) &&
        nfc_span(in.substr(begin, end - begin), buffer, normalized)) {
      if (!changed) out.reserve(n + 16), changed = true;
      out.append(in.substr(copied, begin - copied));
      out.append(normalized);
      copied = end;
    }
    i = end;
  }
  if (!changed) return false;
  out.append(in.substr(copied));
  text.swap(out);
  return true;
}

bool strip_controls(std::string& text) {
  // 1: a byte that may start something to remove.
  static const auto kSuspect = [] {
    std::array<uint8_t, 256> t{};
    for (int b = 0; b < 0x20; ++b) t[static_cast<size_t>(b)] = 1;
    t['\t'] = t['\n'] = t['\r'] = 0;
    t[0x7F] = t[0xC2] = t[0xEF] = 1;
    return t;
  }();
  char* p = text.data();
  const size_t n = text.size();
  size_t r = 0;
  while (r < n && !kSuspect[static_cast<unsigned char>(p[r])]) ++r;
  if (r == n) return false;
  size_t w = r;
  bool changed = false;
  while (r < n) {
    const auto b = static_cast<unsigned char>(p[r]);
    if (kSuspect[b]) {
      size_t drop = 0;
      if (b < 0x80) {
        drop = 1;
      } else if (b == 0xC2) {
        if (r + 1 < n && (static_cast<unsigned char>(p[r + 1]) & 0xE0) == 0x80) drop = 2;
      } else if (r + 2 < n && static_cast<unsigned char>(p[r + 1]) == 0xBB &&
                 static_cast<unsigned char>(p[r + 2]) == 0xBF) {
        drop = 3;  // U+FEFF
      }
      if (drop) {
        r += drop;
        changed = true;
        continue;
      }
    }
    p[w++] = p[r++];
  }
  text.resize(w);
  return changed;
}

bool normalize_whitespace(std::string& text) {
  // 0: other bytes, 1: space or tab, 2: \n or \r.
  static constexpr auto kClass = [] {
    std::array<uint8_t, 256> t{};
    t[' '] = t['\t'] = 1;
    t['\n'] = t['\r'] = 2;
    return t;
  }();
  char* p = text.data();
  const size_t n = text.size();
  size_t w = 0;
  size_t newlines = 0;                 // pending, not yet written
  size_t blank_begin = 0, blanks = 0;  // pending spaces and tabs of the current line
  bool started = false;
  bool changed = false;
  size_t r = 0;
  while (r < n) {
    const char c = p[r];
    const uint8_t cls = kClass[static_cast<unsigned char>(c)];
    if (cls == 1) {
      if (blanks == 0) blank_begin = r;
      ++blanks;
      ++r;
      continue;
    }
    if (cls == 2) {
      if (c == '\r') {
        changed = true;
        if (r + 1 < n && p[r + 1] == '\n') ++r;
      }
      if (blanks) changed = true, blanks = 0;  // trailing blanks of the line
      ++newlines;
      ++r;
      continue;
    }
    if (!started) {
      if (newlines || blanks) changed = true;  // leading space of the document
      newlines = blanks = 0;
      started = true;
    } else {
      if (newlines > 2) changed = true, newlines = 2;
      for (; newlines; --newlines) p[w++] = '\n';
      // w <= blank_begin: the copy runs forwards over bytes already read.
      for (size_t k = 0; k < blanks; ++k) p[w++] = p[blank_begin + k];
      blanks = 0;
    }
    // The run of other bytes up to the next space or line end.
    if (w == r) {
      do ++r;
      while (r < n && kClass[static_cast<unsigned char>(p[r])] == 0);
      w = r;
    } else {
      do p[w++] = p[r++];
      while (r < n && kClass[static_cast<unsigned char>(p[r])] == 0);
    }
  }
  if (newlines || blanks) changed = true;  // trailing space of the document
  text.resize(w);
  return changed;
}

bool strip_html(std::string& text, bool drop_controls) {
  const size_t n = text.size();
  size_t r = 0;
  while (r < n && text[r] != '<' && text[r] != '&') ++r;
  if (r == n) return false;
  const std::string_view in = text;  // reads stay ahead of writes: every rewrite shrinks
  const size_t last_gt = in.rfind('>');
  char* p = text.data();
  size_t w = r;
  bool changed = false;
  while (r < n) {
    const char c = p[r];
    if (c == '<') {
      const Markup m = parse_markup(in, r, last_gt);
      if (m.kind != TagKind::none) {
        if (m.kind == TagKind::block) p[w++] = '\n';
        if (m.kind == TagKind::cell) p[w++] = ' ';
        r = m.end;
        changed = true;
        continue;
      }
    } else if (c == '&') {
      const Entity e = parse_entity(in, r);
      if (e.length) {
        if (!(drop_controls && is_control(e.code_point))) {
          char utf8[4];
          const int k = encode(e.code_point, utf8);
          for (int j = 0; j < k; ++j) p[w++] = utf8[j];
        }
        r += e.length;
        changed = true;
        continue;
      }
    }
    p[w++] = p[r++];
  }
  text.resize(w);
  return changed;
}

// ---- measures ---------------------------------------------------------------------------

int64_t count_code_points(std::string_view text) {
  int64_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

double letter_ratio(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  const std::vector<uint8_t>& bmp = bmp_info();
  int64_t letters = 0, visible = 0;
  size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      if (!is_ascii_space(p[i])) ++visible, letters += is_ascii_alpha(p[i]);
      ++i;
      continue;
    }
    int length;
    const uint8_t info = info_of(bmp, decode(p + i, length));
    i += static_cast<size_t>(length);
    if (info & kInvisible) continue;
    ++visible;
    letters += (info & kLetterOrMark) != 0;
  }
  return visible ? static_cast<double>(letters) / static_cast<double>(visible) : 0.0;
}

double repeated_line_fraction(std::string_view text) {
  thread_local std::vector<std::pair<uint64_t, int64_t>> lines;  // (hash, code points)
  lines.clear();
  int64_t total = 0;
  size_t i = 0;
  while (i <= text.size()) {
    size_t end = text.find('\n', i);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(i, end - i);
    if (!line.empty()) {
      const int64_t chars = count_code_points(line);
      total += chars;
      lines.emplace_back(XXH3_64bits(line.data(), line.size()), chars);
    }
    i = end + 1;
  }
  if (total == 0) return 0.0;
  std::sort(lines.begin(), lines.end());
  int64_t repeated = 0;
  for (size_t a = 0; a < lines.size();) {
    size_t b = a + 1;
    while (b < lines.size() && lines[b].first == lines[a].first) ++b;
    if (b - a > 1)
      for (size_t k = a; k < b; ++k) repeated += lines[k].second;
    a = b;
  }
  return static_cast<double>(repeated) / static_cast<double>(total);
}

double top_ngram_fraction(std::string_view text) {
  constexpr size_t N = 3;
  thread_local std::vector<uint64_t> word_hash, gram_hash, slot_key;
  thread_local std::vector<int64_t> word_chars;
  thread_local std::vector<uint32_t> slot_count;
  word_hash.clear();
  word_chars.clear();
  int64_t total = 0;
  for_each_word(text, [&](std::string_view word) {
    word_hash.push_back(XXH3_64bits(word.data(), word.size()));
    const int64_t chars = count_code_points(word);
    word_chars.push_back(chars);
    total += chars;
  });
  if (word_hash.size() < N + 1 || total == 0) return 0.0;
  const size_t grams = word_hash.size() - N + 1;
  gram_hash.resize(grams);
  // Counts of each 3-gram in an open-addressing table (key 0 = empty slot).
  size_t slots = 64;
  while (slots < 2 * grams) slots *= 2;
  if (slot_key.size() < slots) slot_key.resize(slots), slot_count.resize(slots);
  std::fill(slot_key.begin(), slot_key.begin() + static_cast<std::ptrdiff_t>(slots), 0);
  uint64_t best_hash = 0;
  uint32_t best_count = 0;
  int64_t best_chars = 0;
  for (size_t w = 0; w < grams; ++w) {
    uint64_t h = word_hash[w] * 0x9E3779B97F4A7C15ull;
    h = (h ^ (h >> 32) ^ word_hash[w + 1]) * 0xC2B2AE3D27D4EB4Full;
    h = (h ^ (h >> 29) ^ word_hash[w + 2]) * 0x165667B19E3779F9ull;
    h ^= h >> 32;
    if (h == 0) h = 1;
    gram_hash[w] = h;
    size_t slot = h & (slots - 1);
    while (slot_key[slot] != 0 && slot_key[slot] != h) slot = (slot + 1) & (slots - 1);
    if (slot_key[slot] == 0) slot_key[slot] = h, slot_count[slot] = 0;
    const uint32_t count = ++slot_count[slot];
    // The most frequent 3-gram; among equally frequent ones, the longest.
    const int64_t chars = word_chars[w] + word_chars[w + 1] + word_chars[w + 2];
    if (count > best_count || (count == best_count && chars > best_chars))
      best_hash = h, best_count = count, best_chars = chars;
  }
  if (best_count < 2) return 0.0;
  // Occurrences may overlap ("a a a a"): count each covered word once.
  int64_t covered = 0;
  size_t covered_end = 0;
  for (size_t w = 0; w < grams; ++w) {
    if (gram_hash[w] != best_hash) continue;
    for (size_t j = std::max(w, covered_end); j < w + N; ++j) covered += word_chars[j];
    covered_end = w + N;
  }
  return static_cast<double>(covered) / static_cast<double>(total);
}

ScriptCounts script_counts(std::string_view text) {
  const std::vector<uint8_t>& bmp = bmp_info();
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  ScriptCounts counts;
  size_t i = 0;
  while (i < n) {
    int length;
    const char32_t c = decode(p + i, length);
    ++counts.count[info_of(bmp, c) & kScriptBits];
    i += static_cast<size_t>(length);
  }
  return counts;
}

double symbol_word_ratio(std::string_view text) {
  const std::vector<uint8_t>& bmp = bmp_info();
  int64_t words = 0, symbol_words = 0;
  for_each_word(text, [&](std::string_view word) {
    ++words;
    const auto* p = reinterpret_cast<const unsigned char*>(word.data());
    size_t i = 0;
    while (i < word.size()) {
      if (p[i] < 0x80) {
        if (is_ascii_alpha(p[i]) || (p[i] >= '0' && p[i] <= '9')) return;
        ++i;
        continue;
      }
      int length;
      if (info_of(bmp, decode(p + i, length)) & kAlnum) return;
      i += static_cast<size_t>(length);
    }
    ++symbol_words;
  });
  return words ? static_cast<double>(symbol_words) / static_cast<double>(words) : 0.0;
}

}  // namespace ilm::clean
