// Exporting an ilm model to GGUF for llama.cpp: the Transformer families (GPT-2, ilm's own
// runs included; LLaMA 1/2/3, Mistral, Falcon, BERT) as llama.cpp's gpt2, llama, falcon and
// bert architectures, with their tokenizers (docs/gguf.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ilm/io/gguf.h"

namespace ilm {

class Tokenizer;
class Transformer;

struct GgufExportOptions {
  // The type of the matrices (2-D weights, token embedding included); vectors (norms, biases)
  // and the position embedding stay F32, as llama.cpp's converter keeps them. A matrix whose
  // rows are not a multiple of 32 falls back from Q8_0 to F16 (a note says which).
  GgmlType matrix_type = GgmlType::f16;
  std::string name;  // general.name; empty: not written
  // Write output.weight as a copy of token_embd.weight (the tied head), as llama.cpp's
  // converter does. llama.cpp since 2024 reuses token_embd when output.weight is absent, so
  // false makes a smaller file that only newer llama.cpp versions load.
  bool write_output_copy = true;
  // export_transformer_gguf without a tokenizer: write no tokenizer.ggml.* fields (a file
  // llama.cpp refuses, for inspection and round trips) instead of failing.
  bool allow_no_tokenizer = false;
  // BERT: {arch}.pooling_type, how llama.cpp's embeddings pool the tokens: "none" (one
  // embedding per token), "mean", or "cls" (the first token's hidden state; the pooler's
  // dense layer is not applied).
  std::string bert_pooling = "none";
};

struct GgufExportReport {
  std::vector<std::string> notes;  // approximations and fallbacks the user should know about
  size_t tensors = 0;
  uint64_t bytes = 0;  // the file's size
};

// The vocabulary of a byte-level BPE tokenizer as GPT-2's files spell it (the tokenizers
// add_gguf_bpe_tokenizer takes): tokens in GPT-2's byte-to-unicode alphabet ("Ġthe"), special
// tokens as their text and ids an encoding leaves unused as "[PAD<id>]", their GGUF token
// types, the merges in rank order ("Ġ t"), and llama.cpp's pre-tokenizer name.
struct ByteLevelBpeVocab {
  std::vector<std::string> tokens;  // by id
  std::vector<int32_t> types;       // GgufTokenType by id
  std::vector<std::string> merges;
  std::string pre;
};
ByteLevelBpeVocab byte_level_bpe_vocab(const Tokenizer& tokenizer,
                                       std::vector<std::string>* notes = nullptr);

// The tokenizer.ggml.* metadata of a byte-level BPE tokenizer: ilm's tiktoken encodings
// (BpeTokenizer: gpt2, r50k/p50k, cl100k_base, o200k_base) or a Hugging Face tokenizer.json
// whose model is BPE over ByteLevel (what `ilm tokenizer train` writes). Tokens are spelled in
// GPT-2's byte-to-unicode alphabet ("Ġthe"); merges in rank order ("Ġ t"); special tokens are
// control tokens. n_vocab >= the tokenizer's size: ids past it are "[PAD<id>]" (unused), so the
// token list matches the embedding's rows. Other tokenizers are an error naming their kind.
void add_gguf_bpe_tokenizer(GgufWriter& writer, const Tokenizer& tokenizer, int32_t n_vocab,
                            std::vector<std::string>* notes = nullptr);

// The tokenizer.ggml.* metadata of a SentencePiece model (tokenizer.ggml.model "llama"):
// pieces, scores and types (normal, unknown, control, user defined, unused, byte), the
// <s> </s> <unk> ids, add_bos_token (true, as LLaMA), add_space_prefix from the normalizer.
// Ids past the model's pieces up to n_vocab are unused "[PAD<id>]" tokens.
void add_gguf_sentencepiece_tokenizer(GgufWriter& writer, const Tokenizer& tokenizer,
                                      int32_t n_vocab, std::vector<std::string>* notes = nullptr);
// The tokenizer.ggml.* metadata of a WordPiece vocabulary (tokenizer.ggml.model "bert"):
// tokens in llama.cpp's spelling, where a word start carries U+2581 '▁' and a continuation
// drops BERT's "##" ("play", "##ing" -> "▁play", "ing"; "[CLS]" as is), with the ids of
// [CLS] (also BOS) [SEP] [UNK] [PAD] [MASK]. A WordPieceTokenizer or a WordPiece
// tokenizer.json.
void add_gguf_wordpiece_tokenizer(GgufWriter& writer, const Tokenizer& tokenizer, int32_t n_vocab,
                                  int32_t type_vocab_size,
                                  std::vector<std::string>* notes = nullptr);

// Writes a Transformer as GGUF v3 for llama.cpp, atomically. config().arch picks llama.cpp's
// architecture: gpt2 -> "gpt2"; llama, mistral -> "llama" (q/k rows reordered for ggml's
// RoPE; linear RoPE scaling as rope.scaling.*, LLaMA-3 scaling as the rope_freqs.weight
// tensor); falcon -> "falcon" (query_key_value regrouped as [all q, all k, all v]); bert ->
// "bert" (encoder only: the masked-LM and classification heads are dropped, with a note).
// The tokenizer: byte-level BPE for any family, SentencePiece for llama/mistral, WordPiece for
// bert. Without one (tokenizer null), options.allow_no_tokenizer must be set. Throws naming
// what llama.cpp cannot run (an architecture, a bias, a wiring, a tokenizer kind).
GgufExportReport export_transformer_gguf(const Transformer& model, const Tokenizer* tokenizer,
                                         const std::filesystem::path& out,
                                         const GgufExportOptions& options = {});

}  // namespace ilm
