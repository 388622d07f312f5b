#include "ilm/tokenizer/tokenizer.h"

#include <fmt/core.h>

#include <unordered_map>

#include "ilm/core/error.h"
#include "ilm/io/file.h"
#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/char_tokenizer.h"
#include "ilm/tokenizer/hf_tokenizer.h"
#include "ilm/tokenizer/sentencepiece.h"
#include "ilm/tokenizer/tiktoken.h"
#include "ilm/tokenizer/wordpiece.h"

namespace ilm {

Utf8Scan scan_utf8(std::string_view text, size_t offset) {
  const auto b0 = uint8_t(text[offset]);
  if (b0 < 0x80) return {Utf8Status::ok, char32_t(b0), 1};
  // Table 3-7: the lead byte fixes the length and narrows the range of the second byte,
  // which is what excludes overlong forms, surrogates and values above U+10FFFF.
  int length = 0;
  char32_t cp = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {Utf8Status::invalid, 0, 1};
  }
  for (int k = 1; k < length; ++k) {
    if (offset + size_t(k) >= text.size()) return {Utf8Status::incomplete, 0, k};
    const auto b = uint8_t(text[offset + size_t(k)]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return {Utf8Status::invalid, 0, k};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {Utf8Status::ok, cp, length};
}

std::string encode_utf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
  return out;
}

std::string describe_code_point(char32_t cp) {
  // Printed raw, these would garble the message or be invisible in it.
  const bool invisible = cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0xAD ||
                         (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
                         (cp >= 0x2060 && cp <= 0x206F) || cp == 0xFEFF ||
                         (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF;
  std::string out = fmt::format("U+{:04X}", uint32_t(cp));
  if (!invisible) out += " '" + encode_utf8(cp) + "'";
  return out;
}

std::string describe_invalid_utf8(std::string_view text, size_t offset) {
  const Utf8Scan s = scan_utf8(text, offset);
  // The bytes of the malformed subpart, plus the byte that broke it when there is one.
  const size_t shown = std::min(text.size() - offset, size_t(s.length) + 1);
  std::string bytes;
  for (size_t k = 0; k < shown; ++k) {
    bytes += fmt::format("{}0x{:02X}", k ? " " : "", uint8_t(text[offset + k]));
  }
  if (s.status == Utf8Status::incomplete) {
    return fmt::format(
        "invalid UTF-8 at byte offset {}: the text ends inside a sequence (bytes {})", offset,
        bytes);
  }
  return fmt::format("invalid UTF-8 at byte offset {} (bytes {})", offset, bytes);
}

namespace {

const char* json_type(const nlohmann::json& j) {
  return j.type_name();
}

const nlohmann::json& field(const nlohmann::json& j, const char* name, const std::string& source) {
  auto it = j.find(name);
  if (it == j.end()) fail("{}: missing field \"{}\"", source, name);
  return *it;
}

void check_known_fields(const nlohmann::json& j, std::initializer_list<std::string_view> known,
                        const std::string& source, const std::string& kind) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || it.key() == k;
    if (!ok) fail("{}: unknown field \"{}\" for kind \"{}\"", source, it.key(), kind);
  }
}

std::unique_ptr<Tokenizer> char_from_json(const nlohmann::json& j, const std::string& source) {
  check_known_fields(j, {"ilm_tokenizer", "kind", "vocab"}, source, "char");
  const nlohmann::json& vocab = field(j, "vocab", source);
  if (!vocab.is_array())
    fail("{}: field \"vocab\": expected an array of strings, found {}", source, json_type(vocab));
  if (vocab.empty()) fail("{}: field \"vocab\" is empty", source);
  std::vector<char32_t> cps;
  std::unordered_map<char32_t, size_t> seen;
  for (size_t i = 0; i < vocab.size(); ++i) {
    const nlohmann::json& e = vocab[i];
    if (!e.is_string()) fail("{}: vocab[{}]: expected a string, found {}", source, i, json_type(e));
    const std::string& s = e.get_ref<const std::string&>();
    if (s.empty()) fail("{}: vocab[{}]: empty string, expected exactly one character", source, i);
    const Utf8Scan scan = scan_utf8(s, 0);
    if (scan.status != Utf8Status::ok)
      fail("{}: vocab[{}]: {}", source, i, describe_invalid_utf8(s, 0));
    if (size_t(scan.length) != s.size()) {
      fail("{}: vocab[{}]: \"{}\" is more than one code point, expected exactly one", source, i, s);
    }
    auto [it, inserted] = seen.emplace(scan.code_point, i);
    if (!inserted) {
      fail("{}: vocab[{}]: {} duplicates vocab[{}]", source, i,
           describe_code_point(scan.code_point), it->second);
    }
    cps.push_back(scan.code_point);
  }
  return std::make_unique<CharTokenizer>(std::move(cps));
}

}  // namespace

// ---- Special tokens in text ------------------------------------------------------------------

std::vector<int32_t> encode_with_special_tokens(
    std::string_view text, const EncodeOptions& options,
    const std::vector<std::pair<std::string, int32_t>>& specials, std::string_view who,
    const std::function<void(std::string_view, std::vector<int32_t>&)>& encode_plain) {
  struct Special {
    std::string_view spelling;
    int32_t id;
    bool allowed;
    size_t next;  // offset of its next occurrence at or after the search position, or npos
  };
  std::vector<Special> candidates;
  for (const auto& [spelling, id] : specials) {
    if (spelling.empty()) continue;
    const bool allowed = options.allowed.empty() ? options.special == SpecialTokens::allow : false;
    candidates.push_back({spelling, id, allowed, 0});
  }
  for (const std::string& name : options.allowed) {
    bool known = false;
    for (Special& s : candidates) {
      if (s.spelling == name) s.allowed = known = true;
    }
    if (!known) {
      std::string list;
      for (const auto& kv : specials)
        list += fmt::format("{}{}", list.empty() ? "" : ", ", kv.first);
      fail("{}: \"{}\" is not a special token (they are: {})", who, name,
           list.empty() ? "none" : list);
    }
  }
  std::erase_if(candidates, [&](const Special& s) {
    return !s.allowed && options.special != SpecialTokens::refuse;
  });

  std::vector<int32_t> out;
  size_t segment = 0;  // start of the text not yet encoded
  size_t search = 0;   // where the next special token may start
  for (Special& s : candidates) s.next = text.find(s.spelling);
  while (true) {
    // The leftmost occurrence; on a tie, the longest spelling.
    Special* found = nullptr;
    for (Special& s : candidates) {
      if (s.next != std::string_view::npos && s.next < search)
        s.next = text.find(s.spelling, search);
      if (s.next == std::string_view::npos) continue;
      if (!found || s.next < found->next ||
          (s.next == found->next && s.spelling.size() > found->spelling.size())) {
        found = &s;
      }
    }
    if (!found) break;
    if (!found->allowed) {
      fail(
          "{}: the text holds special token '{}' at byte offset {}, which this encode refuses "
          "(allow it, or encode it as text)",
          who, found->spelling, found->next);
    }
    if (found->next > segment) encode_plain(text.substr(segment, found->next - segment), out);
    out.push_back(found->id);
    segment = search = found->next + found->spelling.size();
  }
  if (segment < text.size()) encode_plain(text.substr(segment), out);
  return out;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  return encode_with_special_tokens(
      text, options, text_special_tokens(), fmt::format("{} tokenizer", kind()),
      [this](std::string_view segment, std::vector<int32_t>& out) { encode_plain(segment, out); });
}

void Tokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<int32_t> ids = encode(text);
  out.insert(out.end(), ids.begin(), ids.end());
}

std::vector<ModelTemplateItem> Tokenizer::model_template(bool pair) const {
  std::vector<ModelTemplateItem> items{{-1, 0, 0}};
  if (pair) items.push_back({-1, 1, 1});
  return items;
}

std::optional<int32_t> Tokenizer::pad_id() const {
  for (std::string_view name : {"<pad>", "[PAD]", "<|padding|>", "<|pad|>"}) {
    if (auto id = special_token_id(name)) return id;
  }
  return std::nullopt;
}

std::unique_ptr<Tokenizer> tokenizer_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object()) fail("{}: expected a JSON object, found {}", source, json_type(j));
  // A Hugging Face tokenizer.json: no "ilm_tokenizer" field, a "model" object with a "type".
  if (!j.contains("ilm_tokenizer") && is_hf_tokenizer_json(j)) return load_hf_tokenizer(j, source);
  auto version = j.find("ilm_tokenizer");
  if (version == j.end()) {
    fail(
        "{}: missing field \"ilm_tokenizer\"; expected an ilm tokenizer.json such as "
        "{{\"ilm_tokenizer\": 1, \"kind\": \"byte\"}}",
        source);
  }
  if (!version->is_number_integer()) {
    fail("{}: field \"ilm_tokenizer\": expected the integer 1, found {}", source, version->dump());
  }
  if (version->get<int64_t>() != 1) {
    fail("{}: field \"ilm_tokenizer\": unsupported version {}, expected 1", source,
         version->get<int64_t>());
  }
  const nlohmann::json& kind = field(j, "kind", source);
  if (!kind.is_string())
    fail("{}: field \"kind\": expected a string, found {}", source, json_type(kind));
  const std::string& k = kind.get_ref<const std::string&>();
  if (k == "byte") {
    check_known_fields(j, {"ilm_tokenizer", "kind"}, source, k);
    return std::make_unique<ByteTokenizer>();
  }
  if (k == "char") return char_from_json(j, source);
  if (k == "wordpiece") return WordPieceTokenizer::from_json(j, source);
  if (k == "bpe") return bpe_from_json(j, source);
  if (k == "sentencepiece") return sentencepiece_from_json(j, source);
  fail("{}: field \"kind\": unknown tokenizer kind \"{}\", expected \"byte\", \"char\", "
       "\"wordpiece\", \"bpe\" or \"sentencepiece\"", source, k);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& tokenizer_json) {
  const std::string text = read_file(tokenizer_json);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", tokenizer_json.string(), e.what());
  }
  return tokenizer_from_json(j, tokenizer_json.string());
}

void save_tokenizer(const Tokenizer& tokenizer, const std::filesystem::path& path) {
  // A SentencePiece tokenizer.json names its model file relative to its own folder.
  if (auto* sp = dynamic_cast<const SentencePieceTokenizer*>(&tokenizer)) {
    write_file_atomic(path, sp->to_json_in(path.parent_path()).dump(2) + "\n");
    return;
  }
  write_file_atomic(path, tokenizer.to_json().dump(2) + "\n");
}

}  // namespace ilm
