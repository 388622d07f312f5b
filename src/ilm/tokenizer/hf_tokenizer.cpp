#include "ilm/tokenizer/hf_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <queue>

#include "ilm/core/error.h"
#include "ilm/tokenizer/precompiled_charsmap.h"
#include "ilm/tokenizer/pretokenize.h"
#include "ilm/tokenizer/tiktoken.h"

namespace ilm {

using nlohmann::json;

namespace {

// ---- JSON access: every error names the file and the JSON path -------------------------------

struct Where {
  std::string_view source;
  std::string path;
  Where at(std::string_view key) const {
    return {source, path.empty() ? std::string(key) : path + "." + std::string(key)};
  }
  Where at(size_t index) const { return {source, path + "[" + std::to_string(index) + "]"}; }
};

[[noreturn]] void bad(const Where& w, const std::string& what) {
  fail("{}: {}: {}", w.source, w.path, what);
}

const json* find(const json& obj, std::string_view key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

const json& require(const json& obj, std::string_view key, const Where& w) {
  const json* v = find(obj, key);
  if (!v) bad(w.at(key), "missing field");
  return *v;
}

void expect_object(const json& j, const Where& w) {
  if (!j.is_object()) bad(w, fmt::format("expected an object, found {}", j.type_name()));
}

std::string string_field(const json& obj, std::string_view key, const Where& w,
                         std::optional<std::string> fallback = {}) {
  const json* v = find(obj, key);
  if (!v) {
    if (fallback) return *fallback;
    bad(w.at(key), "missing field");
  }
  if (!v->is_string()) bad(w.at(key), fmt::format("expected a string, found {}", v->type_name()));
  return v->get<std::string>();
}

std::optional<std::string> optional_string(const json& obj, std::string_view key, const Where& w) {
  const json* v = find(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) bad(w.at(key), fmt::format("expected a string, found {}", v->type_name()));
  return v->get<std::string>();
}

bool bool_field(const json& obj, std::string_view key, const Where& w, bool fallback) {
  const json* v = find(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean()) bad(w.at(key), fmt::format("expected a boolean, found {}", v->type_name()));
  return v->get<bool>();
}

int64_t int_field(const json& obj, std::string_view key, const Where& w, int64_t fallback) {
  const json* v = find(obj, key);
  if (!v) return fallback;
  if (!v->is_number_integer())
    bad(w.at(key), fmt::format("expected an integer, found {}", v->dump()));
  return v->get<int64_t>();
}

const json& array_field(const json& obj, std::string_view key, const Where& w) {
  const json& v = require(obj, key, w);
  if (!v.is_array()) bad(w.at(key), fmt::format("expected an array, found {}", v.type_name()));
  return v;
}

// ---- Unicode -----------------------------------------------------------------------------------

std::u32string to_code_points(std::string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    const Utf8Scan scan = scan_utf8(s, i);
    out += scan.status == Utf8Status::ok ? scan.code_point : char32_t(0xFFFD);
    i += size_t(scan.length);
  }
  return out;
}

std::string to_utf8(std::u32string_view w) {
  std::string s;
  for (char32_t c : w) s += encode_utf8(c);
  return s;
}

size_t char_length(std::string_view s, size_t i) {
  return size_t(scan_utf8(s, i).length);
}

utf8proc_category_t category(char32_t c) {
  return utf8proc_category(utf8proc_int32_t(c));
}

// Rust's char::is_whitespace: the White_Space property.
bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

// BERT's punctuation: all non-alphanumeric ASCII and every category P*.
bool is_bert_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  const utf8proc_category_t cat = category(c);
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

bool is_bert_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const utf8proc_category_t cat = category(c);
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
         cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CN;
}

bool is_bert_whitespace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || category(c) == UTF8PROC_CATEGORY_ZS;
}

bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool is_mark(char32_t c) {
  const utf8proc_category_t cat = category(c);
  return cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME;
}

bool is_numeric(char32_t c) {
  const utf8proc_category_t cat = category(c);
  return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

std::string utf8proc_normalize(std::string_view in, int options) {
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()),
                   utf8proc_ssize_t(in.size()), &out, utf8proc_option_t(UTF8PROC_STABLE | options));
  if (n < 0) fail("hf tokenizer: normalizing \"{}\" failed: {}", in, utf8proc_errmsg(n));
  std::string result(reinterpret_cast<const char*>(out), size_t(n));
  std::free(out);
  return result;
}

// Rust's char::to_lowercase, one character at a time (no final-sigma context, as the
// Lowercase normalizer maps characters independently).
std::string lowercase(std::string_view s) {
  std::string out;
  for (char32_t c : to_code_points(s)) {
    if (c == 0x130) {
      out += "i\u0307";
    } else {
      out += encode_utf8(char32_t(utf8proc_tolower(utf8proc_int32_t(c))));
    }
  }
  return out;
}

// ---- Regular expressions (Split, Replace) -------------------------------------------------------

class Regex {
 public:
  Regex(std::string_view pattern, const Where& w) {
    const std::string full = white_space_as_property(pattern);
    int error = 0;
    PCRE2_SIZE offset = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(full.data()), full.size(),
                          PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
    if (!code_) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      bad(w, fmt::format("cannot compile regex \"{}\" at offset {}: {}", pattern, offset,
                         reinterpret_cast<const char*>(message)));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping, non-empty matches, left to right, as [begin, end) byte offsets. `text` is
  // valid UTF-8 (encode() checks it): PCRE2's own check would rescan it at every match.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const {
    std::vector<std::pair<size_t, size_t>> out;
    pcre2_match_data* data = pcre2_match_data_create_from_pattern(code_, nullptr);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t pos = 0;
    while (pos <= text.size()) {
      const int rc =
          pcre2_match(code_, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, data, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(data);
      if (ov[1] > ov[0]) {
        out.emplace_back(ov[0], ov[1]);
        pos = ov[1];
      } else {
        if (ov[0] >= text.size()) break;
        pos = ov[0] + char_length(text, ov[0]);
      }
    }
    pcre2_match_data_free(data);
    return out;
  }

 private:
  pcre2_code* code_ = nullptr;
};

// A {"String": s} or {"Regex": r} pattern.
struct Pattern {
  std::string literal;
  std::unique_ptr<Regex> regex;

  Pattern() = default;

  static Pattern string(std::string s) {
    Pattern p;
    p.literal = std::move(s);
    return p;
  }

  Pattern(const json& j, const Where& w) {
    expect_object(j, w);
    if (const json* s = find(j, "String")) {
      if (!s->is_string()) bad(w.at("String"), "expected a string");
      literal = s->get<std::string>();
    } else if (const json* r = find(j, "Regex")) {
      if (!r->is_string()) bad(w.at("Regex"), "expected a string");
      regex = std::make_unique<Regex>(r->get<std::string>(), w.at("Regex"));
    } else {
      bad(w, "expected {\"String\": ...} or {\"Regex\": ...}");
    }
  }

  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const {
    if (regex) return regex->find_all(text);
    std::vector<std::pair<size_t, size_t>> out;
    if (literal.empty()) return out;
    for (size_t pos = text.find(literal); pos != std::string_view::npos;
         pos = text.find(literal, pos + literal.size())) {
      out.emplace_back(pos, pos + literal.size());
    }
    return out;
  }

  std::string replace_all(std::string_view text, std::string_view content) const {
    std::string out;
    size_t prev = 0;
    for (auto [b, e] : find_all(text)) {
      out.append(text.substr(prev, b - prev));
      out.append(content);
      prev = e;
    }
    out.append(text.substr(prev));
    return out;
  }
};

// Every character for which `pred` holds is one match.
template <typename Pred>
std::vector<std::pair<size_t, size_t>> char_matches(std::string_view text, Pred pred) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < text.size();) {
    const Utf8Scan scan = scan_utf8(text, i);
    if (scan.status == Utf8Status::ok && pred(scan.code_point))
      out.emplace_back(i, i + size_t(scan.length));
    i += size_t(scan.length);
  }
  return out;
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

[[noreturn]] void unknown_type(const Where& w, std::string_view what, std::string_view type,
                               const std::vector<std::string>& supported) {
  bad(w.at("type"), fmt::format("unknown {} \"{}\" (supported: {})", what, type, join(supported)));
}

}  // namespace

// ---- Normalizers -------------------------------------------------------------------------------

namespace hf {

struct Normalizer {
  virtual ~Normalizer() = default;
  virtual void apply(std::string& s) const = 0;
};

struct PreTokenizer {
  // A piece of text; at_start: it begins at offset 0 of the input (Metaspace's "first").
  struct Piece {
    std::string text;
    bool at_start;
  };
  virtual ~PreTokenizer() = default;
  virtual void apply(std::vector<Piece>& pieces) const = 0;
};

struct Model {
  virtual ~Model() = default;
  virtual void encode(std::string_view word, std::vector<int32_t>& out) const = 0;
  std::optional<int32_t> token_to_id(std::string_view token) const {
    auto it = ids.find(std::string(token));
    if (it == ids.end()) return std::nullopt;
    return it->second;
  }
  std::unordered_map<std::string, int32_t> ids;
  std::vector<std::string> tokens;  // id -> token; "" for an unused id
  std::vector<bool> used;
};

struct PostProcessor {
  virtual ~PostProcessor() = default;
  // `parts` is [a] or [a, b]; a processor that adds special tokens leaves one part.
  virtual void apply(std::vector<std::vector<int32_t>>& parts) const = 0;
  // The tokens it places around A (and B) with their type ids; false when it adds none.
  virtual bool model_template(bool pair, std::vector<ModelTemplateItem>& items) const = 0;
};

struct Decoder {
  virtual ~Decoder() = default;
  // continuation: decode the tokens as the middle of a longer text (no first-token rules,
  // byte tokens as raw bytes).
  virtual void apply(std::vector<std::string>& tokens, bool continuation) const = 0;
};

}  // namespace hf

namespace {

using hf::Normalizer;
using Piece = hf::PreTokenizer::Piece;

std::unique_ptr<Normalizer> make_normalizer(const json& j, const Where& w);

struct UnicodeNormalizer : Normalizer {
  int options;
  explicit UnicodeNormalizer(int o) : options(o) {}
  void apply(std::string& s) const override { s = utf8proc_normalize(s, options); }
};

struct LowercaseNormalizer : Normalizer {
  void apply(std::string& s) const override { s = lowercase(s); }
};

struct StripNormalizer : Normalizer {
  bool left, right;
  StripNormalizer(bool l, bool r) : left(l), right(r) {}
  void apply(std::string& s) const override {
    std::u32string w = to_code_points(s);
    size_t b = 0, e = w.size();
    if (left) {
      while (b < e && is_white_space(w[b])) ++b;
    }
    if (right) {
      while (e > b && is_white_space(w[e - 1])) --e;
    }
    s = to_utf8(std::u32string_view(w).substr(b, e - b));
  }
};

struct StripAccentsNormalizer : Normalizer {
  void apply(std::string& s) const override {
    std::u32string out;
    for (char32_t c : to_code_points(s)) {
      if (!is_mark(c)) out += c;
    }
    s = to_utf8(out);
  }
};

struct ReplaceNormalizer : Normalizer {
  Pattern pattern;
  std::string content;
  ReplaceNormalizer(const json& j, const Where& w)
      : pattern(require(j, "pattern", w), w.at("pattern")),
        content(string_field(j, "content", w)) {}
  void apply(std::string& s) const override { s = pattern.replace_all(s, content); }
};

struct PrependNormalizer : Normalizer {
  std::string prefix;
  explicit PrependNormalizer(std::string p) : prefix(std::move(p)) {}
  void apply(std::string& s) const override {
    if (!s.empty()) s = prefix + s;
  }
};

// Hugging Face's BertNormalizer: the rules of BERT's basic tokenizer before splitting.
struct BertNormalizer : Normalizer {
  bool clean_text, chinese_chars, strip_accents, lower;
  void apply(std::string& s) const override {
    std::u32string out;
    for (char32_t c : to_code_points(s)) {
      if (clean_text) {
        if (c == 0 || c == 0xFFFD || is_bert_control(c)) continue;
        if (is_bert_whitespace(c)) c = ' ';
      }
      if (chinese_chars && is_cjk(c)) {
        out += U' ';
        out += c;
        out += U' ';
      } else {
        out += c;
      }
    }
    std::string t = to_utf8(out);
    if (strip_accents) {
      std::u32string kept;
      for (char32_t c : to_code_points(utf8proc_normalize(t, UTF8PROC_DECOMPOSE))) {
        if (category(c) != UTF8PROC_CATEGORY_MN) kept += c;
      }
      t = to_utf8(kept);
    }
    if (lower) t = lowercase(t);
    s = std::move(t);
  }
};

// SentencePiece's rules (T5, ALBERT, XLM-R): Hugging Face applies them per grapheme cluster.
struct PrecompiledNormalizer : Normalizer {
  PrecompiledCharsMap map;
  explicit PrecompiledNormalizer(PrecompiledCharsMap m) : map(std::move(m)) {}
  void apply(std::string& s) const override {
    if (!map.empty()) s = map.normalize_graphemes(s);
  }
};

struct NormalizerSequence : Normalizer {
  std::vector<std::unique_ptr<Normalizer>> steps;
  void apply(std::string& s) const override {
    for (const auto& n : steps) n->apply(s);
  }
};

std::unique_ptr<Normalizer> make_normalizer(const json& j, const Where& w) {
  expect_object(j, w);
  const std::string type = string_field(j, "type", w);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_COMPOSE);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_DECOMPOSE);
  if (type == "NFKC")
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (type == "NFKD")
    return std::make_unique<UnicodeNormalizer>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip") {
    return std::make_unique<StripNormalizer>(bool_field(j, "strip_left", w, true),
                                             bool_field(j, "strip_right", w, true));
  }
  if (type == "StripAccents") return std::make_unique<StripAccentsNormalizer>();
  if (type == "Replace") return std::make_unique<ReplaceNormalizer>(j, w);
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(string_field(j, "prepend", w));
  if (type == "BertNormalizer") {
    auto n = std::make_unique<BertNormalizer>();
    n->clean_text = bool_field(j, "clean_text", w, true);
    n->chinese_chars = bool_field(j, "handle_chinese_chars", w, true);
    n->lower = bool_field(j, "lowercase", w, true);
    n->strip_accents = bool_field(j, "strip_accents", w, n->lower);
    return n;
  }
  if (type == "Precompiled") {
    const json* blob = find(j, "precompiled_charsmap");
    if (blob && !blob->is_null() && !blob->is_string())
      bad(w.at("precompiled_charsmap"),
          fmt::format("expected a base64 string, found {}", blob->dump()));
    const std::string where = fmt::format("{}: {}", w.source, w.at("precompiled_charsmap").path);
    std::string bytes;
    if (blob && blob->is_string())
      bytes = decode_base64(blob->get_ref<const std::string&>(), where);
    return std::make_unique<PrecompiledNormalizer>(PrecompiledCharsMap(bytes, where));
  }
  if (type == "Sequence") {
    auto seq = std::make_unique<NormalizerSequence>();
    const json& list = array_field(j, "normalizers", w);
    for (size_t i = 0; i < list.size(); ++i)
      seq->steps.push_back(make_normalizer(list[i], w.at("normalizers").at(i)));
    return seq;
  }
  unknown_type(w, "normalizer", type,
               {"BertNormalizer", "Lowercase", "NFC", "NFD", "NFKC", "NFKD", "Precompiled",
                "Prepend", "Replace", "Sequence", "Strip", "StripAccents"});
}

// ---- Pre-tokenizers ----------------------------------------------------------------------------

using hf::PreTokenizer;

enum class Behavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

Behavior parse_behavior(const json& j, std::string_view key, const Where& w, Behavior fallback) {
  const json* v = find(j, key);
  if (!v) return fallback;
  if (!v->is_string()) bad(w.at(key), "expected a string");
  const std::string& b = v->get_ref<const std::string&>();
  if (b == "Removed") return Behavior::removed;
  if (b == "Isolated") return Behavior::isolated;
  if (b == "MergedWithPrevious") return Behavior::merged_with_previous;
  if (b == "MergedWithNext") return Behavior::merged_with_next;
  if (b == "Contiguous") return Behavior::contiguous;
  bad(w.at(key), fmt::format("unknown behavior \"{}\" (supported: Removed, Isolated, "
                             "MergedWithPrevious, MergedWithNext, Contiguous)",
                             b));
}

// Hugging Face's NormalizedString::split: the matches and the text between them, combined as
// `behavior` says; empty pieces are dropped.
void split_piece(const Piece& piece, const std::vector<std::pair<size_t, size_t>>& matches,
                 Behavior behavior, bool invert, std::vector<Piece>& out) {
  struct Segment {
    size_t b, e;
    bool match;
  };
  std::vector<Segment> segs;
  size_t prev = 0;
  for (auto [b, e] : matches) {
    if (b > prev) segs.push_back({prev, b, invert});
    segs.push_back({b, e, !invert});
    prev = e;
  }
  if (prev < piece.text.size()) segs.push_back({prev, piece.text.size(), invert});

  std::vector<Segment> kept;
  bool previous_match = false;
  switch (behavior) {
    case Behavior::removed:
      for (const Segment& s : segs) {
        if (!s.match) kept.push_back(s);
      }
      break;
    case Behavior::isolated:
      kept = segs;
      break;
    case Behavior::merged_with_previous:
      for (const Segment& s : segs) {
        if (s.match && !previous_match && !kept.empty()) {
          kept.back().e = s.e;
        } else {
          kept.push_back(s);
        }
        previous_match = s.match;
      }
      break;
    case Behavior::merged_with_next:
      for (size_t k = segs.size(); k-- > 0;) {
        const Segment& s = segs[k];
        if (s.match && !previous_match && !kept.empty()) {
          kept.back().b = s.b;
        } else {
          kept.push_back(s);
        }
        previous_match = s.match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    case Behavior::contiguous:
      for (const Segment& s : segs) {
        if (!kept.empty() && s.match == previous_match) {
          kept.back().e = s.e;
        } else {
          kept.push_back(s);
        }
        previous_match = s.match;
      }
      break;
  }
  for (const Segment& s : kept) {
    if (s.e > s.b) out.push_back({piece.text.substr(s.b, s.e - s.b), piece.at_start && s.b == 0});
  }
}

template <typename Matcher>
void split_all(std::vector<Piece>& pieces, Behavior behavior, bool invert, Matcher matcher) {
  std::vector<Piece> out;
  for (const Piece& p : pieces) split_piece(p, matcher(p.text), behavior, invert, out);
  pieces = std::move(out);
}

std::string byte_level_chars(std::string_view s) {
  std::string out;
  for (char c : s) out += encode_utf8(gpt2_byte_to_char(uint8_t(c)));
  return out;
}

struct ByteLevelPreTokenizer : PreTokenizer {
  bool add_prefix_space, use_regex;
  void apply(std::vector<Piece>& pieces) const override {
    std::vector<Piece> out;
    std::vector<std::string_view> parts;
    for (Piece& p : pieces) {
      if (add_prefix_space && (p.text.empty() || p.text[0] != ' ')) p.text = " " + p.text;
      if (use_regex) {
        Pretokenizer::get("gpt2").split(p.text, parts);
      } else {
        parts.assign(1, p.text);
      }
      bool first = true;
      for (std::string_view part : parts) {
        out.push_back({byte_level_chars(part), p.at_start && first});
        first = false;
      }
    }
    pieces = std::move(out);
  }
};

struct SplitPreTokenizer : PreTokenizer {
  Pattern pattern;
  Behavior behavior;
  bool invert;
  SplitPreTokenizer(const json& j, const Where& w)
      : pattern(require(j, "pattern", w), w.at("pattern")),
        behavior(parse_behavior(j, "behavior", w, Behavior::isolated)),
        invert(bool_field(j, "invert", w, false)) {}
  void apply(std::vector<Piece>& pieces) const override {
    split_all(pieces, behavior, invert, [&](const std::string& t) { return pattern.find_all(t); });
  }
};

struct WhitespacePreTokenizer : PreTokenizer {
  Regex regex{R"(\w+|[^\w\s]+)", Where{"", "Whitespace"}};
  void apply(std::vector<Piece>& pieces) const override {
    split_all(pieces, Behavior::removed, true,
              [&](const std::string& t) { return regex.find_all(t); });
  }
};

struct WhitespaceSplitPreTokenizer : PreTokenizer {
  void apply(std::vector<Piece>& pieces) const override {
    split_all(pieces, Behavior::removed, false,
              [](const std::string& t) { return char_matches(t, is_white_space); });
  }
};

struct BertPreTokenizer : PreTokenizer {
  void apply(std::vector<Piece>& pieces) const override {
    split_all(pieces, Behavior::removed, false,
              [](const std::string& t) { return char_matches(t, is_white_space); });
    split_all(pieces, Behavior::isolated, false,
              [](const std::string& t) { return char_matches(t, is_bert_punctuation); });
  }
};

struct PunctuationPreTokenizer : PreTokenizer {
  Behavior behavior;
  void apply(std::vector<Piece>& pieces) const override {
    split_all(pieces, behavior, false,
              [](const std::string& t) { return char_matches(t, is_bert_punctuation); });
  }
};

struct DigitsPreTokenizer : PreTokenizer {
  bool individual;
  void apply(std::vector<Piece>& pieces) const override {
    split_all(pieces, individual ? Behavior::isolated : Behavior::contiguous, false,
              [](const std::string& t) { return char_matches(t, is_numeric); });
  }
};

enum class Prepend { always, first, never };

struct MetaspacePreTokenizer : PreTokenizer {
  std::string replacement;
  Prepend prepend;
  bool split;
  void apply(std::vector<Piece>& pieces) const override {
    const Pattern space = Pattern::string(" ");
    for (Piece& p : pieces) {
      p.text = space.replace_all(p.text, replacement);
      const bool starts = p.text.compare(0, replacement.size(), replacement) == 0;
      if (!starts && (prepend == Prepend::always || (prepend == Prepend::first && p.at_start)))
        p.text = replacement + p.text;
    }
    if (split) {
      const Pattern rep = Pattern::string(replacement);
      split_all(pieces, Behavior::merged_with_next, false,
                [&](const std::string& t) { return rep.find_all(t); });
    }
  }
};

struct PreTokenizerSequence : PreTokenizer {
  std::vector<std::unique_ptr<PreTokenizer>> steps;
  void apply(std::vector<Piece>& pieces) const override {
    for (const auto& s : steps) s->apply(pieces);
  }
};

Prepend parse_prepend(const json& j, const Where& w) {
  if (const json* scheme = find(j, "prepend_scheme")) {
    if (!scheme->is_string()) bad(w.at("prepend_scheme"), "expected a string");
    const std::string& s = scheme->get_ref<const std::string&>();
    if (s == "always") return Prepend::always;
    if (s == "first") return Prepend::first;
    if (s == "never") return Prepend::never;
    bad(w.at("prepend_scheme"),
        fmt::format("unknown prepend_scheme \"{}\" (supported: always, first, never)", s));
  }
  // The older files' add_prefix_space.
  return bool_field(j, "add_prefix_space", w, true) ? Prepend::always : Prepend::never;
}

std::string metaspace_replacement(const json& j, const Where& w) {
  std::string r = string_field(j, "replacement", w, std::string("\u2581"));
  const Utf8Scan scan = r.empty() ? Utf8Scan{Utf8Status::invalid, 0, 0} : scan_utf8(r, 0);
  if (scan.status != Utf8Status::ok || size_t(scan.length) != r.size())
    bad(w.at("replacement"), fmt::format("expected one character, found \"{}\"", r));
  return r;
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const Where& w) {
  expect_object(j, w);
  const std::string type = string_field(j, "type", w);
  if (type == "ByteLevel") {
    auto p = std::make_unique<ByteLevelPreTokenizer>();
    p->add_prefix_space = bool_field(j, "add_prefix_space", w, true);
    p->use_regex = bool_field(j, "use_regex", w, true);
    return p;
  }
  if (type == "Split") return std::make_unique<SplitPreTokenizer>(j, w);
  if (type == "Whitespace") return std::make_unique<WhitespacePreTokenizer>();
  if (type == "WhitespaceSplit") return std::make_unique<WhitespaceSplitPreTokenizer>();
  if (type == "BertPreTokenizer") return std::make_unique<BertPreTokenizer>();
  if (type == "Punctuation") {
    auto p = std::make_unique<PunctuationPreTokenizer>();
    p->behavior = parse_behavior(j, "behavior", w, Behavior::isolated);
    return p;
  }
  if (type == "Digits") {
    auto p = std::make_unique<DigitsPreTokenizer>();
    p->individual = bool_field(j, "individual_digits", w, false);
    return p;
  }
  if (type == "Metaspace") {
    auto p = std::make_unique<MetaspacePreTokenizer>();
    p->replacement = metaspace_replacement(j, w);
    p->prepend = parse_prepend(j, w);
    p->split = bool_field(j, "split", w, true);
    return p;
  }
  if (type == "Sequence") {
    auto seq = std::make_unique<PreTokenizerSequence>();
    const json& list = array_field(j, "pretokenizers", w);
    for (size_t i = 0; i < list.size(); ++i)
      seq->steps.push_back(make_pre_tokenizer(list[i], w.at("pretokenizers").at(i)));
    return seq;
  }
  unknown_type(w, "pre-tokenizer", type,
               {"BertPreTokenizer", "ByteLevel", "Digits", "Metaspace", "Punctuation", "Sequence",
                "Split", "Whitespace", "WhitespaceSplit"});
}

// ---- Models ------------------------------------------------------------------------------------

using hf::Model;

std::string byte_token(uint8_t b) {
  return fmt::format("<0x{:02X}>", b);
}

void add_vocab_entry(Model& m, const std::string& token, int64_t id, const Where& w) {
  if (id < 0 || id > std::numeric_limits<int32_t>::max())
    bad(w, fmt::format("id {} of \"{}\" out of range", id, token));
  if (!m.ids.emplace(token, int32_t(id)).second)
    bad(w, fmt::format("token \"{}\" given twice", token));
  if (size_t(id) >= m.tokens.size()) {
    m.tokens.resize(size_t(id) + 1);
    m.used.resize(size_t(id) + 1);
  }
  if (m.used[size_t(id)])
    bad(w, fmt::format("id {} given to both \"{}\" and \"{}\"", id, m.tokens[size_t(id)], token));
  m.tokens[size_t(id)] = token;
  m.used[size_t(id)] = true;
}

void read_vocab_object(Model& m, const json& j, const Where& w) {
  const json& vocab = require(j, "vocab", w);
  if (!vocab.is_object()) bad(w.at("vocab"), "expected an object {token: id}");
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it->is_number_integer())
      bad(w.at("vocab").at(it.key()), fmt::format("expected an integer id, found {}", it->dump()));
    add_vocab_entry(m, it.key(), it->get<int64_t>(), w.at("vocab").at(it.key()));
  }
}

std::optional<int32_t> unk_id_of(const Model& m, const json& j, const Where& w) {
  const std::optional<std::string> unk = optional_string(j, "unk_token", w);
  if (!unk) return std::nullopt;
  auto id = m.token_to_id(*unk);
  if (!id) bad(w.at("unk_token"), fmt::format("\"{}\" is not in the vocabulary", *unk));
  return id;
}

// BPE with Hugging Face's merge rule: only pairs listed in `merges` merge, the pair with the
// lowest merge index first, the leftmost among equal ones (tiktoken instead ranks by the id
// of the concatenation).
struct BpeModel : Model {
  struct Merge {
    int32_t rank, id;
  };
  std::unordered_map<uint64_t, Merge> merges;
  std::optional<int32_t> unk;
  std::string prefix, suffix;
  bool fuse_unk = false, byte_fallback = false, ignore_merges = false;

  static uint64_t key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

  void encode(std::string_view word, std::vector<int32_t>& out) const override {
    if (ignore_merges) {
      if (auto id = token_to_id(word)) {
        out.push_back(*id);
        return;
      }
    }
    std::vector<int32_t> symbols;
    std::optional<int32_t> pending_unk;
    for (size_t i = 0; i < word.size();) {
      const size_t n = char_length(word, i);
      std::string s(word.substr(i, n));
      if (i > 0 && !prefix.empty()) s = prefix + s;
      if (i + n == word.size() && !suffix.empty()) s += suffix;
      i += n;
      if (auto id = token_to_id(s)) {
        if (pending_unk) symbols.push_back(*pending_unk);
        pending_unk.reset();
        symbols.push_back(*id);
        continue;
      }
      if (byte_fallback) {
        std::vector<int32_t> bytes;
        for (char c : s) {
          auto id = token_to_id(byte_token(uint8_t(c)));
          if (!id) break;
          bytes.push_back(*id);
        }
        if (bytes.size() == s.size()) {
          if (pending_unk) symbols.push_back(*pending_unk);
          pending_unk.reset();
          symbols.insert(symbols.end(), bytes.begin(), bytes.end());
          continue;
        }
      }
      if (unk) {
        if (pending_unk && !fuse_unk) symbols.push_back(*pending_unk);
        pending_unk = unk;
      }
      // Without an unk token the character is dropped, as Hugging Face does.
    }
    if (pending_unk) symbols.push_back(*pending_unk);

    merge(symbols);
    out.insert(out.end(), symbols.begin(), symbols.end());
  }

  // Merges the listed pair of lowest rank, the leftmost among equal ones, until none is left:
  // a heap of candidate pairs over a linked list of symbols, O(n log n) in the piece's length.
  void merge(std::vector<int32_t>& symbols) const {
    if (symbols.size() < 2) return;
    struct Candidate {
      int32_t rank;
      size_t pos;
      int32_t left, right;
      bool operator>(const Candidate& o) const {
        return rank != o.rank ? rank > o.rank : pos > o.pos;
      }
    };
    const size_t n = symbols.size();
    std::vector<size_t> prev(n), next(n);
    std::vector<bool> alive(n, true);
    for (size_t k = 0; k < n; ++k) {
      prev[k] = k - 1;  // wraps to SIZE_MAX for the first: no previous symbol
      next[k] = k + 1;  // n for the last
    }
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    auto push = [&](size_t left) {
      if (left >= n || next[left] >= n) return;
      auto it = merges.find(key(symbols[left], symbols[next[left]]));
      if (it != merges.end())
        heap.push({it->second.rank, left, symbols[left], symbols[next[left]]});
    };
    for (size_t k = 0; k + 1 < n; ++k) push(k);
    while (!heap.empty()) {
      const Candidate c = heap.top();
      heap.pop();
      // Skip a candidate that an earlier merge made stale.
      if (!alive[c.pos] || next[c.pos] >= n || symbols[c.pos] != c.left ||
          symbols[next[c.pos]] != c.right) {
        continue;
      }
      const size_t right = next[c.pos];
      symbols[c.pos] = merges.at(key(c.left, c.right)).id;
      alive[right] = false;
      next[c.pos] = next[right];
      if (next[right] < n) prev[next[right]] = c.pos;
      push(prev[c.pos]);
      push(c.pos);
    }
    size_t kept = 0;
    for (size_t k = 0; k < n; ++k) {
      if (alive[k]) symbols[kept++] = symbols[k];
    }
    symbols.resize(kept);
  }
};

std::unique_ptr<Model> make_bpe(const json& j, const Where& w) {
  auto m = std::make_unique<BpeModel>();
  read_vocab_object(*m, j, w);
  m->unk = unk_id_of(*m, j, w);
  m->prefix = optional_string(j, "continuing_subword_prefix", w).value_or("");
  m->suffix = optional_string(j, "end_of_word_suffix", w).value_or("");
  m->fuse_unk = bool_field(j, "fuse_unk", w, false);
  m->byte_fallback = bool_field(j, "byte_fallback", w, false);
  m->ignore_merges = bool_field(j, "ignore_merges", w, false);
  if (const json* d = find(j, "dropout"); d && !(d->is_number() && d->get<double>() == 0.0))
    bad(w.at("dropout"), "BPE dropout is not supported (it makes encoding random)");
  const json& merges = array_field(j, "merges", w);
  for (size_t i = 0; i < merges.size(); ++i) {
    const Where wi = w.at("merges").at(i);
    std::string a, b;
    const json& e = merges[i];
    if (e.is_string()) {
      const std::string& s = e.get_ref<const std::string&>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        bad(wi, fmt::format("expected \"left right\", found \"{}\"", s));
      a = s.substr(0, space);
      b = s.substr(space + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    } else {
      bad(wi, fmt::format("expected \"left right\" or [\"left\", \"right\"], found {}", e.dump()));
    }
    auto ia = m->token_to_id(a), ib = m->token_to_id(b);
    if (!ia) bad(wi, fmt::format("\"{}\" is not in the vocabulary", a));
    if (!ib) bad(wi, fmt::format("\"{}\" is not in the vocabulary", b));
    std::string merged = a;
    if (!m->prefix.empty() && b.compare(0, m->prefix.size(), m->prefix) == 0) {
      merged += b.substr(m->prefix.size());
    } else {
      merged += b;
    }
    auto id = m->token_to_id(merged);
    if (!id) bad(wi, fmt::format("the merged token \"{}\" is not in the vocabulary", merged));
    // A pair listed twice keeps its first (lowest) rank.
    m->merges.emplace(BpeModel::key(*ia, *ib), BpeModel::Merge{int32_t(i), *id});
  }
  return m;
}

struct WordPieceModel : Model {
  int32_t unk = 0;
  std::string prefix;
  size_t max_chars = 100;
  void encode(std::string_view word, std::vector<int32_t>& out) const override {
    if (to_code_points(word).size() > max_chars) {
      out.push_back(unk);
      return;
    }
    std::vector<int32_t> pieces;
    for (size_t start = 0; start < word.size();) {
      size_t end = word.size();
      std::optional<int32_t> found;
      while (start < end) {
        std::string sub(word.substr(start, end - start));
        if (start > 0) sub = prefix + sub;
        if ((found = token_to_id(sub))) break;
        // Back off one character.
        do {
          --end;
        } while (end > start && (uint8_t(word[end]) & 0xC0) == 0x80);
      }
      if (!found) {
        out.push_back(unk);
        return;
      }
      pieces.push_back(*found);
      start = end;
    }
    out.insert(out.end(), pieces.begin(), pieces.end());
  }
};

std::unique_ptr<Model> make_wordpiece(const json& j, const Where& w) {
  auto m = std::make_unique<WordPieceModel>();
  read_vocab_object(*m, j, w);
  const std::string unk = string_field(j, "unk_token", w, std::string("[UNK]"));
  auto id = m->token_to_id(unk);
  if (!id) bad(w.at("unk_token"), fmt::format("\"{}\" is not in the vocabulary", unk));
  m->unk = *id;
  m->prefix = string_field(j, "continuing_subword_prefix", w, std::string("##"));
  const int64_t max_chars = int_field(j, "max_input_chars_per_word", w, 100);
  if (max_chars < 0) bad(w.at("max_input_chars_per_word"), "expected a non-negative integer");
  m->max_chars = size_t(max_chars);
  return m;
}

// Unigram: the segmentation with the highest total log-probability (Viterbi); a character no
// piece covers is unk with the lowest score minus 10, runs of unk fused into one.
struct UnigramModel : Model {
  std::vector<double> scores;
  std::optional<int32_t> unk;
  bool byte_fallback = false;
  double min_score = 0;
  size_t max_piece_bytes = 0;

  void encode(std::string_view s, std::vector<int32_t>& out) const override {
    constexpr double kUnkPenalty = 10.0;
    const double unk_score = min_score - kUnkPenalty;
    struct Node {
      double score = 0;
      size_t start = 0;
      int32_t id = -1;
      bool set = false;
    };
    std::vector<Node> best(s.size() + 1);
    best[0].set = true;
    for (size_t start = 0; start < s.size();) {
      const size_t char_len = char_length(s, start);
      if (!best[start].set) {
        start += char_len;
        continue;
      }
      const double base = best[start].score;
      bool single = false;
      const size_t limit = std::min(s.size() - start, max_piece_bytes);
      for (size_t len = 1; len <= limit; ++len) {
        auto id = token_to_id(s.substr(start, len));
        if (!id) continue;
        const double cand = base + scores[size_t(*id)];
        Node& t = best[start + len];
        if (!t.set || cand > t.score) t = {cand, start, *id, true};
        if (len == char_len) single = true;
      }
      if (!single) {
        Node& t = best[start + char_len];
        const double cand = base + unk_score;
        if (!t.set || cand > t.score) t = {cand, start, unk.value_or(-1), true};
      }
      start += char_len;
    }
    // Back from the end: the pieces, runs of unk joined into one string.
    std::vector<std::pair<std::string, bool>> pieces;  // text, is_unk
    for (size_t end = s.size(); end > 0;) {
      const Node& n = best[end];
      const std::string text(s.substr(n.start, end - n.start));
      const bool is_unk = !unk || n.id == *unk || n.id < 0;
      if (is_unk && !pieces.empty() && pieces.back().second) {
        pieces.back().first = text + pieces.back().first;
      } else {
        pieces.push_back({text, is_unk});
      }
      end = n.start;
    }
    std::reverse(pieces.begin(), pieces.end());
    for (const auto& [text, is_unk] : pieces) {
      if (auto id = token_to_id(text)) {
        out.push_back(*id);
        continue;
      }
      if (byte_fallback) {
        std::vector<int32_t> bytes;
        for (char c : text) {
          auto id = token_to_id(byte_token(uint8_t(c)));
          if (!id) break;
          bytes.push_back(*id);
        }
        if (bytes.size() == text.size()) {
          out.insert(out.end(), bytes.begin(), bytes.end());
          continue;
        }
      }
      if (!unk) fail("hf tokenizer: Unigram model has no unk_id for \"{}\"", text);
      out.push_back(*unk);
    }
  }
};

std::unique_ptr<Model> make_unigram(const json& j, const Where& w) {
  auto m = std::make_unique<UnigramModel>();
  const json& vocab = array_field(j, "vocab", w);
  m->min_score = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < vocab.size(); ++i) {
    const json& e = vocab[i];
    const Where wi = w.at("vocab").at(i);
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number())
      bad(wi, fmt::format("expected [\"piece\", score], found {}", e.dump()));
    const std::string piece = e[0].get<std::string>();
    add_vocab_entry(*m, piece, int64_t(i), wi);
    m->scores.push_back(e[1].get<double>());
    m->min_score = std::min(m->min_score, m->scores.back());
    m->max_piece_bytes = std::max(m->max_piece_bytes, piece.size());
  }
  if (vocab.empty()) bad(w.at("vocab"), "empty vocabulary");
  const int64_t unk = int_field(j, "unk_id", w, -1);
  if (unk >= int64_t(vocab.size()))
    bad(w.at("unk_id"), fmt::format("id {} out of range (vocabulary of {})", unk, vocab.size()));
  if (unk >= 0) m->unk = int32_t(unk);
  m->byte_fallback = bool_field(j, "byte_fallback", w, false);
  return m;
}

std::unique_ptr<Model> make_model(const json& j, const Where& w) {
  expect_object(j, w);
  const std::string type = string_field(j, "type", w, std::string("BPE"));
  if (type == "BPE") return make_bpe(j, w);
  if (type == "WordPiece") return make_wordpiece(j, w);
  if (type == "Unigram") return make_unigram(j, w);
  unknown_type(w, "model", type, {"BPE", "Unigram", "WordPiece"});
}

// ---- Post-processors ---------------------------------------------------------------------------

using hf::PostProcessor;

// TemplateProcessing; Bert and Roberta processing are templates too.
struct TemplateProcessor : PostProcessor {
  // An element: a special token's ids, or sequence 0 (A) or 1 (B).
  struct Item {
    std::vector<int32_t> ids;
    int sequence = -1;
    int32_t type_id = 0;
  };
  std::vector<Item> single, pair;
  bool model_template(bool is_pair, std::vector<ModelTemplateItem>& items) const override {
    items.clear();
    for (const Item& it : is_pair ? pair : single) {
      if (it.sequence >= 0) {
        items.push_back({-1, it.sequence, it.type_id});
      } else {
        for (int32_t id : it.ids) items.push_back({id, -1, it.type_id});
      }
    }
    return true;
  }
  void apply(std::vector<std::vector<int32_t>>& parts) const override {
    const std::vector<Item>& items = parts.size() > 1 ? pair : single;
    std::vector<int32_t> out;
    for (const Item& it : items) {
      if (it.sequence < 0) {
        out.insert(out.end(), it.ids.begin(), it.ids.end());
      } else if (size_t(it.sequence) < parts.size()) {
        out.insert(out.end(), parts[size_t(it.sequence)].begin(), parts[size_t(it.sequence)].end());
      }
    }
    parts.assign(1, std::move(out));
  }
};

struct NoOpProcessor : PostProcessor {
  void apply(std::vector<std::vector<int32_t>>&) const override {}
  bool model_template(bool, std::vector<ModelTemplateItem>&) const override { return false; }
};

struct ProcessorSequence : PostProcessor {
  std::vector<std::unique_ptr<PostProcessor>> steps;
  void apply(std::vector<std::vector<int32_t>>& parts) const override {
    for (const auto& s : steps) s->apply(parts);
  }
  // The last step that adds tokens (the others, ByteLevel, add none).
  bool model_template(bool pair, std::vector<ModelTemplateItem>& items) const override {
    bool any = false;
    for (const auto& s : steps) any |= s->model_template(pair, items);
    return any;
  }
};

std::vector<TemplateProcessor::Item> parse_template(const json& j, std::string_view key,
                                                    const json& specials, const Where& w) {
  const json& list = array_field(j, key, w);
  std::vector<TemplateProcessor::Item> items;
  for (size_t i = 0; i < list.size(); ++i) {
    const Where wi = w.at(key).at(i);
    const json& e = list[i];
    expect_object(e, wi);
    if (const json* seq = find(e, "Sequence")) {
      const std::string id = string_field(*seq, "id", wi.at("Sequence"));
      if (id != "A" && id != "B")
        bad(wi.at("Sequence").at("id"), fmt::format("expected \"A\" or \"B\", found \"{}\"", id));
      items.push_back(
          {{}, id == "A" ? 0 : 1, int32_t(int_field(*seq, "type_id", wi.at("Sequence"), 0))});
    } else if (const json* sp = find(e, "SpecialToken")) {
      const std::string id = string_field(*sp, "id", wi.at("SpecialToken"));
      const json* entry = specials.is_object() ? find(specials, id) : nullptr;
      if (!entry)
        bad(wi.at("SpecialToken").at("id"), fmt::format("\"{}\" is not in special_tokens", id));
      const Where ws = w.at("special_tokens").at(id);
      const json& ids = array_field(*entry, "ids", ws);
      TemplateProcessor::Item item;
      item.type_id = int32_t(int_field(*sp, "type_id", wi.at("SpecialToken"), 0));
      for (size_t k = 0; k < ids.size(); ++k) {
        if (!ids[k].is_number_integer()) bad(ws.at("ids").at(k), "expected an integer id");
        item.ids.push_back(ids[k].get<int32_t>());
      }
      items.push_back(std::move(item));
    } else {
      bad(wi, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
    }
  }
  return items;
}

int32_t special_pair_id(const json& j, std::string_view key, const Where& w) {
  const json& v = require(j, key, w);
  if (!v.is_array() || v.size() != 2 || !v[1].is_number_integer())
    bad(w.at(key), fmt::format("expected [\"token\", id], found {}", v.dump()));
  return v[1].get<int32_t>();
}

std::unique_ptr<PostProcessor> make_post_processor(const json& j, const Where& w) {
  expect_object(j, w);
  const std::string type = string_field(j, "type", w);
  if (type == "TemplateProcessing") {
    auto p = std::make_unique<TemplateProcessor>();
    const json* specials = find(j, "special_tokens");
    const json empty = json::object();
    p->single = parse_template(j, "single", specials ? *specials : empty, w);
    p->pair = parse_template(j, "pair", specials ? *specials : empty, w);
    return p;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    auto p = std::make_unique<TemplateProcessor>();
    const int32_t cls = special_pair_id(j, "cls", w), sep = special_pair_id(j, "sep", w);
    p->single = {{{cls}, -1, 0}, {{}, 0, 0}, {{sep}, -1, 0}};
    if (type == "BertProcessing") {
      p->pair = {{{cls}, -1, 0}, {{}, 0, 0}, {{sep}, -1, 0}, {{}, 1, 1}, {{sep}, -1, 1}};
    } else {
      // RoBERTa has no segment embeddings: every type id is 0.
      p->pair = {{{cls}, -1, 0}, {{}, 0, 0}, {{sep}, -1, 0},
                 {{sep}, -1, 0}, {{}, 1, 0}, {{sep}, -1, 0}};
    }
    return p;
  }
  if (type == "ByteLevel") return std::make_unique<NoOpProcessor>();
  if (type == "Sequence") {
    auto seq = std::make_unique<ProcessorSequence>();
    const json& list = array_field(j, "processors", w);
    for (size_t i = 0; i < list.size(); ++i)
      seq->steps.push_back(make_post_processor(list[i], w.at("processors").at(i)));
    return seq;
  }
  unknown_type(
      w, "post-processor", type,
      {"BertProcessing", "ByteLevel", "RobertaProcessing", "Sequence", "TemplateProcessing"});
}

// ---- Decoders ----------------------------------------------------------------------------------

using hf::Decoder;

struct ByteLevelDecoder : Decoder {
  std::unordered_map<char32_t, uint8_t> bytes;
  ByteLevelDecoder() {
    for (int b = 0; b < 256; ++b) bytes[gpt2_byte_to_char(uint8_t(b))] = uint8_t(b);
  }
  // All tokens become one byte string; a character outside GPT-2's alphabet stays itself.
  void apply(std::vector<std::string>& tokens, bool) const override {
    std::string out;
    for (const std::string& t : tokens) {
      for (size_t i = 0; i < t.size();) {
        const Utf8Scan scan = scan_utf8(t, i);
        auto it = scan.status == Utf8Status::ok ? bytes.find(scan.code_point) : bytes.end();
        if (it != bytes.end()) {
          out += char(it->second);
        } else {
          out.append(t, i, size_t(scan.length));
        }
        i += size_t(scan.length);
      }
    }
    tokens.assign(1, std::move(out));
  }
};

struct WordPieceDecoder : Decoder {
  std::string prefix;
  bool cleanup;
  static std::string replace(std::string s, std::string_view from, std::string_view to) {
    for (size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
      s.replace(pos, from.size(), to);
    return s;
  }
  void apply(std::vector<std::string>& tokens, bool continuation) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i > 0 || continuation) {
        if (t.compare(0, prefix.size(), prefix) == 0) {
          t.erase(0, prefix.size());
        } else {
          t = " " + t;
        }
      }
      if (cleanup) {
        static constexpr std::pair<std::string_view, std::string_view> kCleanup[] = {
            {" .", "."},   {" ?", "?"},     {" !", "!"},    {" ,", ","},
            {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},  {" do not", " don't"},
            {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
        for (auto [from, to] : kCleanup) t = replace(t, from, to);
      }
    }
  }
};

struct MetaspaceDecoder : Decoder {
  std::string replacement;
  Prepend prepend;
  void apply(std::vector<std::string>& tokens, bool continuation) const override {
    const Pattern rep = Pattern::string(replacement);
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = rep.replace_all(tokens[i], " ");
      if (i == 0 && !continuation && prepend != Prepend::never && !tokens[i].empty() &&
          tokens[i][0] == ' ') {
        tokens[i].erase(0, 1);
      }
    }
  }
};

struct BpeDecoder : Decoder {
  std::string suffix;
  void apply(std::vector<std::string>& tokens, bool continuation) const override {
    const Pattern suf = Pattern::string(suffix);
    for (size_t i = 0; i < tokens.size(); ++i) {
      const bool last = i + 1 == tokens.size() && !continuation;
      tokens[i] = suf.replace_all(tokens[i], last ? "" : " ");
    }
  }
};

std::optional<uint8_t> parse_byte_token(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return std::nullopt;
  int v = 0;
  for (char c : t.substr(3, 2)) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    v = v * 16 + d;
  }
  return uint8_t(v);
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const Utf8Scan scan = scan_utf8(s, i);
    if (scan.status != Utf8Status::ok) return false;
    i += size_t(scan.length);
  }
  return true;
}

// Runs of <0xAB> tokens become their bytes when those are valid UTF-8, else one U+FFFD per
// byte; in continuation mode, always the raw bytes (a stream decoder joins them).
struct ByteFallbackDecoder : Decoder {
  void apply(std::vector<std::string>& tokens, bool continuation) const override {
    std::vector<std::string> out;
    std::string run;
    size_t run_tokens = 0;
    auto flush = [&] {
      if (run_tokens == 0) return;
      if (continuation || valid_utf8(run)) {
        out.push_back(run);
      } else {
        for (size_t k = 0; k < run_tokens; ++k) out.push_back("\uFFFD");
      }
      run.clear();
      run_tokens = 0;
    };
    for (std::string& t : tokens) {
      if (auto b = parse_byte_token(t)) {
        run += char(*b);
        ++run_tokens;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
};

struct FuseDecoder : Decoder {
  void apply(std::vector<std::string>& tokens, bool) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

struct StripDecoder : Decoder {
  char32_t content;
  size_t start, stop;
  void apply(std::vector<std::string>& tokens, bool continuation) const override {
    if (continuation) return;
    for (std::string& t : tokens) {
      std::u32string w = to_code_points(t);
      size_t b = 0, e = w.size();
      while (b < start && b < e && w[b] == content) ++b;
      for (size_t k = 0; k < stop && e > b && w[e - 1] == content; ++k) --e;
      t = to_utf8(std::u32string_view(w).substr(b, e - b));
    }
  }
};

struct ReplaceDecoder : Decoder {
  Pattern pattern;
  std::string content;
  ReplaceDecoder(const json& j, const Where& w)
      : pattern(require(j, "pattern", w), w.at("pattern")),
        content(string_field(j, "content", w)) {}
  void apply(std::vector<std::string>& tokens, bool) const override {
    for (std::string& t : tokens) t = pattern.replace_all(t, content);
  }
};

struct DecoderSequence : Decoder {
  std::vector<std::unique_ptr<Decoder>> steps;
  void apply(std::vector<std::string>& tokens, bool continuation) const override {
    for (const auto& s : steps) s->apply(tokens, continuation);
  }
};

std::unique_ptr<Decoder> make_decoder(const json& j, const Where& w) {
  expect_object(j, w);
  const std::string type = string_field(j, "type", w);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "WordPiece") {
    auto d = std::make_unique<WordPieceDecoder>();
    d->prefix = string_field(j, "prefix", w, std::string("##"));
    d->cleanup = bool_field(j, "cleanup", w, true);
    return d;
  }
  if (type == "Metaspace") {
    auto d = std::make_unique<MetaspaceDecoder>();
    d->replacement = metaspace_replacement(j, w);
    d->prepend = parse_prepend(j, w);
    return d;
  }
  if (type == "BPEDecoder") {
    auto d = std::make_unique<BpeDecoder>();
    d->suffix = string_field(j, "suffix", w, std::string("</w>"));
    return d;
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    auto d = std::make_unique<StripDecoder>();
    const std::string content = string_field(j, "content", w);
    const std::u32string cps = to_code_points(content);
    if (cps.size() != 1) bad(w.at("content"), "expected one character");
    d->content = cps[0];
    d->start = size_t(std::max<int64_t>(0, int_field(j, "start", w, 0)));
    d->stop = size_t(std::max<int64_t>(0, int_field(j, "stop", w, 0)));
    return d;
  }
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(j, w);
  if (type == "Sequence") {
    auto seq = std::make_unique<DecoderSequence>();
    const json& list = array_field(j, "decoders", w);
    for (size_t i = 0; i < list.size(); ++i)
      seq->steps.push_back(make_decoder(list[i], w.at("decoders").at(i)));
    return seq;
  }
  unknown_type(w, "decoder", type,
               {"BPEDecoder", "ByteFallback", "ByteLevel", "Fuse", "Metaspace", "Replace",
                "Sequence", "Strip", "WordPiece"});
}

// ---- Added tokens ------------------------------------------------------------------------------

bool is_word_char(char32_t c) {
  const utf8proc_category_t cat = category(c);
  return c == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO);
}

// Splits `text` at the added tokens in `tokens` (those whose normalized flag is `normalized`),
// leftmost-longest; lstrip/rstrip take the white space next to a match into it, single_word
// requires no word character next to it. Segments: (text, id or -1).
// `enabled`, when given, says which of `tokens` may match.
void split_added(std::string_view text, const std::vector<hf::AddedToken>& tokens,
                 const std::vector<std::vector<size_t>>& index, bool normalized,
                 const std::vector<bool>* enabled,
                 std::vector<std::pair<std::string, int32_t>>& out) {
  size_t last = 0;  // end of the previous match
  size_t pos = 0;
  while (pos < text.size()) {
    const hf::AddedToken* best = nullptr;
    for (size_t k : index[(normalized ? 256 : 0) + uint8_t(text[pos])]) {
      const hf::AddedToken& t = tokens[k];
      if (enabled && !(*enabled)[k]) continue;
      if (text.compare(pos, t.match.size(), t.match) != 0) continue;
      if (best && best->match.size() >= t.match.size()) continue;
      if (t.single_word) {
        size_t before = pos;
        while (before > 0 && (uint8_t(text[before - 1]) & 0xC0) == 0x80) --before;
        if (before > 0) --before;
        const size_t e = pos + t.match.size();
        const Utf8Scan prev = pos > 0 ? scan_utf8(text, before) : Utf8Scan{};
        const Utf8Scan next = e < text.size() ? scan_utf8(text, e) : Utf8Scan{};
        if ((pos > 0 && prev.status == Utf8Status::ok && is_word_char(prev.code_point)) ||
            (e < text.size() && next.status == Utf8Status::ok && is_word_char(next.code_point)))
          continue;
      }
      best = &t;
    }
    if (!best) {
      pos += char_length(text, pos);
      continue;
    }
    size_t b = pos, e = pos + best->match.size();
    // lstrip/rstrip take in white space (Rust's char::is_whitespace) next to the match.
    while (best->lstrip && b > last) {
      size_t c = b - 1;
      while (c > last && (uint8_t(text[c]) & 0xC0) == 0x80) --c;
      const Utf8Scan scan = scan_utf8(text, c);
      if (scan.status != Utf8Status::ok || !is_white_space(scan.code_point)) break;
      b = c;
    }
    while (best->rstrip && e < text.size()) {
      const Utf8Scan scan = scan_utf8(text, e);
      if (scan.status != Utf8Status::ok || !is_white_space(scan.code_point)) break;
      e += size_t(scan.length);
    }
    if (b > last) out.push_back({std::string(text.substr(last, b - last)), -1});
    out.push_back({best->content, best->id});
    last = pos = e;
  }
  if (last < text.size()) out.push_back({std::string(text.substr(last)), -1});
}

}  // namespace

// ---- HfTokenizer -------------------------------------------------------------------------------

HfTokenizer::HfTokenizer() = default;
HfTokenizer::~HfTokenizer() = default;

bool is_hf_tokenizer_json(const json& j) {
  if (!j.is_object()) return false;
  auto m = j.find("model");
  return m != j.end() && m->is_object() && m->contains("type");
}

std::unique_ptr<HfTokenizer> load_hf_tokenizer(const json& j, const std::string& source) {
  const Where root{source, ""};
  if (!j.is_object()) fail("{}: expected a JSON object, found {}", source, j.type_name());
  auto t = std::make_unique<HfTokenizer>();
  t->json_ = j;
  t->model_ = make_model(require(j, "model", root), root.at("model"));
  if (const json* n = find(j, "normalizer"))
    t->normalizer_ = make_normalizer(*n, root.at("normalizer"));
  if (const json* p = find(j, "pre_tokenizer"))
    t->pre_tokenizer_ = make_pre_tokenizer(*p, root.at("pre_tokenizer"));
  if (const json* p = find(j, "post_processor"))
    t->post_processor_ = make_post_processor(*p, root.at("post_processor"));
  if (const json* d = find(j, "decoder")) t->decoder_ = make_decoder(*d, root.at("decoder"));

  t->vocab_size_ = int32_t(t->model_->tokens.size());
  if (const json* added = find(j, "added_tokens")) {
    if (!added->is_array()) bad(root.at("added_tokens"), "expected an array");
    for (size_t i = 0; i < added->size(); ++i) {
      const Where wi = root.at("added_tokens").at(i);
      const json& e = (*added)[i];
      expect_object(e, wi);
      hf::AddedToken a;
      const int64_t id = int_field(e, "id", wi, -1);
      if (id < 0 || id > std::numeric_limits<int32_t>::max())
        bad(wi.at("id"), fmt::format("expected an id >= 0, found {}", id));
      a.id = int32_t(id);
      a.content = string_field(e, "content", wi);
      a.special = bool_field(e, "special", wi, false);
      a.lstrip = bool_field(e, "lstrip", wi, false);
      a.rstrip = bool_field(e, "rstrip", wi, false);
      a.single_word = bool_field(e, "single_word", wi, false);
      a.normalized = bool_field(e, "normalized", wi, !a.special);
      t->added_ids_[a.content] = a.id;
      t->added_by_id_[a.id] = t->added_.size();
      t->vocab_size_ = std::max(t->vocab_size_, a.id + 1);
      a.match = a.content;
      if (a.normalized && t->normalizer_) t->normalizer_->apply(a.match);
      t->added_.push_back(std::move(a));
    }
  }
  t->added_index_.resize(512);
  for (size_t k = 0; k < t->added_.size(); ++k) {
    const hf::AddedToken& a = t->added_[k];
    if (!a.match.empty())
      t->added_index_[(a.normalized ? 256 : 0) + uint8_t(a.match[0])].push_back(k);
  }
  for (std::string_view eot : {"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"}) {
    auto it = t->added_ids_.find(std::string(eot));
    if (it != t->added_ids_.end() && t->added_[t->added_by_id_.at(it->second)].special) {
      t->eot_ = it->second;
      break;
    }
  }
  return t;
}

void HfTokenizer::encode_section(std::string_view text, bool at_start,
                                 const std::vector<bool>* enabled,
                                 std::vector<int32_t>& ids) const {
  std::string normalized(text);
  if (normalizer_) normalizer_->apply(normalized);
  // Added tokens whose "normalized" flag is set are found in the normalized text.
  std::vector<std::pair<std::string, int32_t>> segments;
  split_added(normalized, added_, added_index_, true, enabled, segments);
  for (size_t k = 0; k < segments.size(); ++k) {
    if (segments[k].second >= 0) {
      ids.push_back(segments[k].second);
      continue;
    }
    std::vector<Piece> pieces{{segments[k].first, at_start && k == 0}};
    if (pre_tokenizer_) pre_tokenizer_->apply(pieces);
    for (const Piece& p : pieces) model_->encode(p.text, ids);
  }
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text) const {
  return encode_added(text, nullptr);
}

std::vector<int32_t> HfTokenizer::encode_added(std::string_view text,
                                               const std::vector<bool>* enabled) const {
  for (size_t i = 0; i < text.size();) {
    const Utf8Scan scan = scan_utf8(text, i);
    if (scan.status != Utf8Status::ok) fail("hf tokenizer: {}", describe_invalid_utf8(text, i));
    i += size_t(scan.length);
  }
  std::vector<std::pair<std::string, int32_t>> segments;
  split_added(text, added_, added_index_, false, enabled, segments);
  std::vector<int32_t> ids;
  for (size_t k = 0; k < segments.size(); ++k) {
    if (segments[k].second >= 0) {
      ids.push_back(segments[k].second);
    } else {
      encode_section(segments[k].first, k == 0, enabled, ids);
    }
  }
  return ids;
}

std::vector<std::pair<std::string, int32_t>> HfTokenizer::text_special_tokens() const {
  std::vector<std::pair<std::string, int32_t>> out;
  for (const hf::AddedToken& a : added_) {
    if (a.special) out.emplace_back(a.content, a.id);
  }
  return out;
}

std::vector<int32_t> HfTokenizer::encode(std::string_view text,
                                         const EncodeOptions& options) const {
  std::vector<bool> enabled(added_.size(), true);
  for (size_t k = 0; k < added_.size(); ++k) {
    if (added_[k].special)
      enabled[k] = options.allowed.empty() && options.special == SpecialTokens::allow;
  }
  for (const std::string& name : options.allowed) {
    bool known = false;
    for (size_t k = 0; k < added_.size(); ++k) {
      if (added_[k].special && added_[k].content == name) enabled[k] = known = true;
    }
    if (!known) {
      std::string list;
      for (const auto& kv : text_special_tokens())
        list += fmt::format("{}{}", list.empty() ? "" : ", ", kv.first);
      fail("hf tokenizer: \"{}\" is not a special token (they are: {})", name,
           list.empty() ? "none" : list);
    }
  }
  if (options.special == SpecialTokens::refuse) {
    // As tiktoken: any occurrence of a special token that is not allowed, leftmost first.
    size_t first = std::string_view::npos;
    const hf::AddedToken* which = nullptr;
    for (size_t k = 0; k < added_.size(); ++k) {
      if (enabled[k] || added_[k].content.empty()) continue;
      const size_t at = text.find(added_[k].content);
      if (at < first ||
          (at == first && which && added_[k].content.size() > which->content.size())) {
        first = at;
        which = &added_[k];
      }
    }
    if (which) {
      fail(
          "hf tokenizer: the text holds special token '{}' at byte offset {}, which this encode "
          "refuses (allow it, or encode it as text)",
          which->content, first);
    }
  }
  return encode_added(text, &enabled);
}

std::vector<int32_t> HfTokenizer::encode_for_model(std::string_view text,
                                                   std::optional<std::string_view> pair) const {
  std::vector<std::vector<int32_t>> parts{encode(text)};
  if (pair) parts.push_back(encode(*pair));
  if (post_processor_) {
    post_processor_->apply(parts);
  }
  std::vector<int32_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<ModelTemplateItem> HfTokenizer::model_template(bool pair) const {
  std::vector<ModelTemplateItem> items;
  if (!post_processor_ || !post_processor_->model_template(pair, items))
    return Tokenizer::model_template(pair);
  return items;
}

std::optional<int32_t> HfTokenizer::pad_id() const {
  // tokenizer.json's "padding" (set by enable_padding), else the usual pad tokens.
  if (const json* padding = find(json_, "padding"); padding && padding->is_object()) {
    if (const json* id = find(*padding, "pad_id"); id && id->is_number_integer())
      return id->get<int32_t>();
  }
  return Tokenizer::pad_id();
}

std::optional<std::string> HfTokenizer::id_to_token(int32_t id) const {
  auto it = added_by_id_.find(id);
  if (it != added_by_id_.end()) return added_[it->second].content;
  if (id >= 0 && size_t(id) < model_->tokens.size() && model_->used[size_t(id)])
    return model_->tokens[size_t(id)];
  return std::nullopt;
}

std::optional<int32_t> HfTokenizer::token_to_id(std::string_view token) const {
  auto it = added_ids_.find(std::string(token));
  if (it != added_ids_.end()) return it->second;
  return model_->token_to_id(token);
}

std::optional<int32_t> HfTokenizer::special_token_id(std::string_view name) const {
  auto it = added_ids_.find(std::string(name));
  if (it == added_ids_.end()) return std::nullopt;
  return it->second;
}

std::string HfTokenizer::decode_tokens(std::vector<std::string> tokens, bool continuation) const {
  std::string out;
  if (!decoder_) {
    // Hugging Face joins the tokens with spaces when there is no decoder.
    for (const std::string& t : tokens) out += (out.empty() || continuation ? "" : " ") + t;
    return continuation ? " " + out : out;
  }
  decoder_->apply(tokens, continuation);
  for (const std::string& t : tokens) out += t;
  return out;
}

std::string HfTokenizer::decode(std::span<const int32_t> ids) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    auto t = id_to_token(ids[i]);
    if (!t) fail("hf tokenizer: decode: id {} at position {} is not in the vocabulary", ids[i], i);
    tokens.push_back(std::move(*t));
  }
  return decode_tokens(std::move(tokens), false);
}

std::string HfTokenizer::token_bytes(int32_t id) const {
  auto t = id_to_token(id);
  if (!t) fail("hf tokenizer: id {} is not in the vocabulary", id);
  return decode_tokens({std::move(*t)}, true);
}

}  // namespace ilm
