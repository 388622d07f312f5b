// Model inputs from text, as Hugging Face's tokenizer(text, pair, max_length=..., truncation=...,
// padding="max_length") gives them: the ids with the tokenizer's special tokens
// (Tokenizer::model_template), truncated to leave room for those tokens, padded, with the
// attention mask and token type ids. Works for every tokenizer kind.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

// How a too-long token sequence is cut. Model inputs and example sets (data/supervised.h)
// share it; `drop` only makes sense for a set, which can leave an example out.
enum class Truncation {
  none,   // never cut (a sequence longer than the limit stays so)
  drop,   // example sets: leave the example out; model inputs refuse it
  right,  // drop tokens from the ends of the sequences (Hugging Face's default side)
  left,   // drop tokens from their starts
};
enum class PaddingSide { right, left };

struct ModelInputOptions {
  // The most tokens, special ones included; 0: no limit.
  int64_t max_length = 0;
  // With a pair, Hugging Face's (tokenizers') "longest first": when the shorter sequence fits
  // in half the room it is kept whole and the longer gets the rest; otherwise each gets half,
  // the longer (B when equally long) the odd token. 4+4 tokens into 7: 3+4; 8+4 into 7: 4+3.
  Truncation truncation = Truncation::none;
  // Pad up to max_length with pad_id (attention mask 0, token type id 0).
  bool pad_to_max_length = false;
  PaddingSide padding_side = PaddingSide::right;
  // Unset: Tokenizer::pad_id(); padding without either is an error.
  std::optional<int32_t> pad_id;
  // False: no template tokens; type ids 0 for A and 1 for B.
  bool add_special_tokens = true;
  // How A and B are encoded; unset: Tokenizer::encode(text), the kind's own way.
  std::optional<EncodeOptions> encode;
};

struct ModelInput {
  std::vector<int32_t> ids, attention_mask, token_type_ids;
};

// Throws when max_length is negative, leaves no room for the special tokens while truncating,
// or padding is asked for without max_length or a pad token.
ModelInput encode_model_input(const Tokenizer& tokenizer, std::string_view a,
                              std::optional<std::string_view> b = std::nullopt,
                              const ModelInputOptions& options = {});

}  // namespace ilm
