// SentencePieceTokenizer: a SentencePiece model (LLaMA-1/2's tokenizer.model, BPE or unigram)
// run by Google's libsentencepiece, so that ids match the Python package exactly. Pieces mark
// a preceding space with U+2581 '▁'; with byte_fallback, a character outside the vocabulary
// becomes one <0xAB> piece per UTF-8 byte. Notes: docs/sentencepiece.md.
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

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace ilm {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // A .model file (a serialized sentencepiece.ModelProto); errors name the file.
  static std::unique_ptr<SentencePieceTokenizer> from_file(const std::filesystem::path& path);
  // The bytes of a .model file; `source` names them in errors. Such a tokenizer has no file
  // for to_json to name.
  static std::unique_ptr<SentencePieceTokenizer> from_serialized(
      std::string_view model_proto, const std::string& source = "serialized SentencePiece model");
  ~SentencePieceTokenizer() override;

  std::string kind() const override { return "sentencepiece"; }
  int32_t vocab_size() const override;
  // Ids of the pieces, without BOS/EOS. Throws on invalid UTF-8, which SentencePiece would
  // silently turn into U+FFFD. Thread-safe, as SentencePieceProcessor::Encode is.
  std::vector<int32_t> encode(std::string_view text) const override;
  // Each piece of text between special tokens is encoded alone, so it gets its own dummy
  // prefix, as Hugging Face's slow (legacy) LlamaTokenizer does.
  using Tokenizer::encode;
  // The control pieces (<s>, </s>) and <unk>. User-defined pieces are not among them: the
  // library always matches those in the text, whatever EncodeOptions says.
  std::vector<std::pair<std::string, int32_t>> text_special_tokens() const override {
    return controls_;
  }
  // <s> A (<s> B), if the model has <s> (LLaMA's add_bos_token); type ids 0 and 1.
  std::vector<ModelTemplateItem> model_template(bool pair) const override;
  // As SentencePiece decodes: control pieces (<s>, </s>) give nothing, the space of the
  // dummy prefix at the start is dropped, runs of byte pieces become their bytes (each byte
  // that is not part of valid UTF-8 becomes U+FFFD), <unk> gives " ⁇ ".
  std::string decode(std::span<const int32_t> ids) const override;
  // A byte piece: its one byte; a control piece: nothing; any other: its text with '▁'
  // turned into a space (the dummy prefix included, which only decode drops).
  std::string token_bytes(int32_t id) const override;
  // The model's </s>, if it has one.
  std::optional<int32_t> eot_id() const override { return eos_id_; }
  // <unk>, <s>, </s> and the control and user-defined pieces, by their spelling.
  std::optional<int32_t> special_token_id(std::string_view name) const override;
  // {"ilm_tokenizer":1,"kind":"sentencepiece","model":"<file name>"}: the model named
  // relative to its own folder, right for a tokenizer.json saved beside it. Throws for a
  // tokenizer made by from_serialized.
  nlohmann::json to_json() const override;
  // As to_json, with "model" relative to `json_folder`, the folder tokenizer.json goes in.
  nlohmann::json to_json_in(const std::filesystem::path& json_folder) const;

  // The model's input: encode(text), after <s> and before </s> as asked (LLaMA adds <s>).
  // Throws when the model lacks the token asked for.
  std::vector<int32_t> encode_for_model(std::string_view text, bool add_bos,
                                        bool add_eos = false) const;
  // The pieces of `text` as strings ("▁Hello", "<0xF0>").
  std::vector<std::string> encode_as_pieces(std::string_view text) const;
  // The piece of an id as the model spells it; throws naming an out-of-range id.
  std::string piece(int32_t id) const;
  std::optional<int32_t> bos_id() const { return bos_id_; }
  std::optional<int32_t> unk_id() const { return unk_id_; }
  // What GGUF export writes (tokenizer.ggml.scores, token_type, add_space_prefix): each
  // piece's score and type, and whether the normalizer prefixes the text with a space.
  enum class PieceType { normal, unknown, control, user_defined, unused, byte };
  float score(int32_t id) const;
  PieceType piece_type(int32_t id) const;
  bool add_dummy_prefix() const { return add_dummy_prefix_; }
  // Empty for a tokenizer made by from_serialized.
  const std::filesystem::path& model_path() const { return model_path_; }

 private:
  SentencePieceTokenizer(std::string_view model_proto, const std::string& source);
  void check_id(int32_t id, size_t position) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  std::filesystem::path model_path_;
  std::string source_;
  std::optional<int32_t> bos_id_, eos_id_, unk_id_;
  bool add_dummy_prefix_ = true;  // NormalizerSpec.add_dummy_prefix
  // Control, user-defined and unknown pieces: read from the model proto, since
  // libsentencepiece 0.1.97 cannot say whether a piece is user-defined.
  std::unordered_map<std::string, int32_t> specials_;
  std::vector<std::pair<std::string, int32_t>> controls_;  // control and unknown pieces
};

// normalizer_spec.precompiled_charsmap of a serialized model: its normalization rules, the
// blob PrecompiledCharsMap reads (empty for the identity rule). Throws on a malformed proto.
std::string sentencepiece_precompiled_charsmap(std::string_view model_proto);

// The "sentencepiece" object of tokenizer.json, whose "model" is relative to the folder of
// `source`, the path of that tokenizer.json.
std::unique_ptr<SentencePieceTokenizer> sentencepiece_from_json(const nlohmann::json& j,
                                                                const std::string& source);

}  // namespace ilm
