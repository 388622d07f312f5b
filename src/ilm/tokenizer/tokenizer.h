// Tokenizer: text <-> token ids. Every kind (byte, char; later BPE, SentencePiece,
// WordPiece) implements this interface and is saved as one tokenizer.json; the
// schema is in docs/data-format.md. Also the UTF-8 helpers the kinds share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ilm {

// What encode(text, EncodeOptions) does with the spelling of a special token in the text.
enum class SpecialTokens {
  as_text,  // ordinary text: "<|endoftext|>" is encoded as its characters
  allow,    // the special token's id
  refuse,   // an error naming the token and its byte offset (tiktoken's disallowed_special)
};

struct EncodeOptions {
  SpecialTokens special = SpecialTokens::as_text;
  // When non-empty, exactly these special tokens become their ids, whatever `special` says,
  // and `special` decides only for the others (as_text or allow: text; refuse: an error).
  // So {refuse, {"<|endoftext|>"}} is tiktoken's encode(text, allowed_special={...}). A name
  // that is not a special token of the tokenizer is an error.
  std::vector<std::string> allowed;
};

// The special tokens a model input places around its sequences (Hugging Face's
// post-processor): each item is a token (id >= 0) or sequence 0 (A) or 1 (B), with the
// token_type_id its tokens get.
struct ModelTemplateItem {
  int32_t id = -1;
  int sequence = -1;
  int32_t type_id = 0;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // "byte", "char": the "kind" field of tokenizer.json.
  virtual std::string kind() const = 0;
  virtual int32_t vocab_size() const = 0;
  // Throws ilm::Error on text it cannot encode, naming the character and its byte offset.
  // What becomes of special-token spellings in the text depends on the kind (as each kind's
  // library does it): byte, char, bpe: text; hf, wordpiece: their ids; sentencepiece:
  // user-defined pieces their ids, control pieces (<s>, </s>) and <unk> text.
  // docs/tokenizer.md has the table.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // As encode(text), with the special tokens of text_special_tokens() treated as `options`
  // says. Matching is leftmost, longest on a tie; the text between is encoded with every
  // special spelling as ordinary text. Refused: "... special token '<|endoftext|>' at byte
  // offset 5 ...".
  virtual std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options) const;
  // The special tokens that EncodeOptions governs, spelling and id (hf: the added tokens
  // marked special; sentencepiece: control pieces and <unk>; wordpiece: [CLS] [SEP] ...).
  virtual std::vector<std::pair<std::string, int32_t>> text_special_tokens() const { return {}; }
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

  // The special tokens of a model input around A, or A and B (pair): by default none, with
  // token_type_ids 0 for A and 1 for B. Throws when the tokenizer lacks a token it needs.
  virtual std::vector<ModelTemplateItem> model_template(bool pair) const;
  // The token that pads model inputs: by default the first of <pad>, [PAD], <|padding|>,
  // <|pad|> that special_token_id knows.
  virtual std::optional<int32_t> pad_id() const;

 protected:
  // Appends the ids of a piece of text in which every special spelling is ordinary text;
  // encode(text, options) calls it between special tokens. The default is encode(text).
  virtual void encode_plain(std::string_view text, std::vector<int32_t>& out) const;
};

// Splits `text` at the special tokens of `specials` that `options` turns into ids (or
// refuses), calling encode_plain(segment, out) for the text between; `who` names the
// tokenizer in errors. encode(text, options) of every kind is this.
std::vector<int32_t> encode_with_special_tokens(
    std::string_view text, const EncodeOptions& options,
    const std::vector<std::pair<std::string, int32_t>>& specials, std::string_view who,
    const std::function<void(std::string_view, std::vector<int32_t>&)>& encode_plain);

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
