// Tokenizer: text <-> token ids. Every kind (byte, char; later BPE, SentencePiece,
// WordPiece) implements this interface and is saved as one tokenizer.json; the
// schema is in docs/data-format.md. Also the UTF-8 helpers the kinds share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ilm {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // "byte", "char": the "kind" field of tokenizer.json.
  virtual std::string kind() const = 0;
  virtual int32_t vocab_size() const = 0;
  // Throws ilm::Error on text it cannot encode, naming the character and its byte offset.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // The concatenated bytes of the tokens; throws naming an out-of-range id and its position.
  // The result may be invalid UTF-8 (a byte tokenizer decodes any byte string exactly).
  virtual std::string decode(std::span<const int32_t> ids) const = 0;
  // Raw bytes of one token; may be part of a UTF-8 sequence (see StreamDecoder).
  virtual std::string token_bytes(int32_t id) const = 0;
  // The end-of-text token, if the tokenizer has one.
  virtual std::optional<int32_t> eot_id() const = 0;
  // The id of a special token by its spelling ("<|im_start|>", "[CLS]"), if the tokenizer
  // has it. Chat templates place these by id, never by encoding their text.
  virtual std::optional<int32_t> special_token_id(std::string_view name) const {
    (void)name;
    return std::nullopt;
  }
  // What tokenizer.json holds; tokenizer_from_json(to_json()) gives an equal tokenizer.
  virtual nlohmann::json to_json() const = 0;
};

// Builds the tokenizer that `j` describes; `source` names the file in errors.
std::unique_ptr<Tokenizer> tokenizer_from_json(const nlohmann::json& j, const std::string& source);
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& tokenizer_json);
// Writes to_json() to `path` atomically.
void save_tokenizer(const Tokenizer& tokenizer, const std::filesystem::path& path);

// ---- UTF-8 ---------------------------------------------------------------------------------

enum class Utf8Status { ok, incomplete, invalid };

// What starts at one byte offset of a string. `length` is, for ok, the bytes of the sequence
// (1..4); for incomplete, the bytes present (a valid prefix cut off by the end of the string);
// for invalid, the bytes that one U+FFFD replaces (the "maximal subpart" of Unicode 15, 3.9).
struct Utf8Scan {
  Utf8Status status;
  char32_t code_point;  // set when status is ok
  int length;
};

// Well-formed means Unicode's table 3-7: no overlong forms, surrogates or values > U+10FFFF.
// Requires offset < text.size().
Utf8Scan scan_utf8(std::string_view text, size_t offset);
// The UTF-8 bytes of a Unicode scalar value.
std::string encode_utf8(char32_t code_point);
// "U+0645 'م'" for error messages; control and format characters show only the code.
std::string describe_code_point(char32_t code_point);
// "invalid UTF-8 at byte offset 7 (bytes 0xD8 0x41)": the malformed sequence there.
std::string describe_invalid_utf8(std::string_view text, size_t offset);

}  // namespace ilm
