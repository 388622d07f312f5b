// HfTokenizer: a Hugging Face `tokenizers` tokenizer.json, encoded and decoded as that library
// does. The pipeline is added tokens -> normalizer -> pre-tokenizer -> model (BPE, WordPiece,
// Unigram) -> post-processor, and the decoder for decode(). What is supported and where ilm
// differs: docs/hf-tokenizer.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

namespace hf {
struct Normalizer;
struct PreTokenizer;
struct Model;
struct PostProcessor;
struct Decoder;
struct AddedToken {
  int32_t id = 0;
  std::string content;
  // What is matched: content, normalized when the normalized flag is set.
  std::string match;
  bool special = false, lstrip = false, rstrip = false, single_word = false, normalized = true;
};
}  // namespace hf

class HfTokenizer final : public Tokenizer {
 public:
  // Use load_hf_tokenizer; public for std::make_unique.
  HfTokenizer();
  ~HfTokenizer() override;

  // "hf": ilm's name for a tokenizer.json of Hugging Face's format.
  std::string kind() const override { return "hf"; }
  // One more than the largest id of the model's vocabulary and the added tokens.
  int32_t vocab_size() const override { return vocab_size_; }
  // The ids of `text` without the post-processor's special tokens (Hugging Face's
  // add_special_tokens=False). Added tokens in the text become their ids.
  std::vector<int32_t> encode(std::string_view text) const override;
  // Non-special added tokens are always split out, as Hugging Face does (even with
  // split_special_tokens); EncodeOptions governs the special ones.
  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& options) const override;
  // The added tokens marked "special".
  std::vector<std::pair<std::string, int32_t>> text_special_tokens() const override;
  // The post-processor's tokens and type ids (TemplateProcessing's type_id; BertProcessing:
  // 1 for B [SEP]; RobertaProcessing: all 0); none without a post-processor.
  std::vector<ModelTemplateItem> model_template(bool pair) const override;
  // tokenizer.json's padding.pad_id, else Tokenizer::pad_id().
  std::optional<int32_t> pad_id() const override;
  // The ids as the model sees them: encode() of `text` (and `pair`), then the
  // post-processor (Hugging Face's add_special_tokens=True).
  std::vector<int32_t> encode_for_model(std::string_view text,
                                        std::optional<std::string_view> pair = {}) const;
  // The decoder over all tokens, special ones included (skip_special_tokens=False). The
  // ByteLevel decoder returns raw bytes where Hugging Face replaces invalid UTF-8 by U+FFFD.
  std::string decode(std::span<const int32_t> ids) const override;
  // The decoder over this one token as if it continued a text: "▁" is a space, byte tokens
  // are their byte; StreamDecoder joins these.
  std::string token_bytes(int32_t id) const override;
  // The first special added token among "<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>".
  std::optional<int32_t> eot_id() const override { return eot_; }
  // The id of an added token.
  std::optional<int32_t> special_token_id(std::string_view name) const override;
  // The document it was loaded from, unchanged.
  nlohmann::json to_json() const override { return json_; }

  // The token string of an id (model vocabulary or added token), if there is one.
  std::optional<std::string> id_to_token(int32_t id) const;
  std::optional<int32_t> token_to_id(std::string_view token) const;

 private:
  friend std::unique_ptr<HfTokenizer> load_hf_tokenizer(const nlohmann::json& j,
                                                        const std::string& source);
  // `enabled`, when given, says which of added_ may be split out.
  std::vector<int32_t> encode_added(std::string_view text, const std::vector<bool>* enabled) const;
  void encode_section(std::string_view text, bool at_start, const std::vector<bool>* enabled,
                      std::vector<int32_t>& ids) const;
  std::string decode_tokens(std::vector<std::string> tokens, bool continuation) const;

  nlohmann::json json_;
  std::vector<hf::AddedToken> added_;
  std::unordered_map<std::string, int32_t> added_ids_;
  std::unordered_map<int32_t, size_t> added_by_id_;
  // Indexes into added_ by (normalized flag * 256 + first byte of match): the candidates at a
  // position of the text.
  std::vector<std::vector<size_t>> added_index_;
  std::unique_ptr<hf::Normalizer> normalizer_;
  std::unique_ptr<hf::PreTokenizer> pre_tokenizer_;
  std::unique_ptr<hf::Model> model_;
  std::unique_ptr<hf::PostProcessor> post_processor_;
  std::unique_ptr<hf::Decoder> decoder_;
  std::optional<int32_t> eot_;
  int32_t vocab_size_ = 0;
};

// True when `j` looks like a Hugging Face tokenizer.json: a "model" object with a "type".
bool is_hf_tokenizer_json(const nlohmann::json& j);
// Builds the tokenizer; errors name `source` and the JSON path of what was wrong.
std::unique_ptr<HfTokenizer> load_hf_tokenizer(const nlohmann::json& j, const std::string& source);

}  // namespace ilm
