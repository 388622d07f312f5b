// What a `--tokenizer SPEC` names: a tokenizer.json file, a SentencePiece .model file,
// a folder that holds one (a run folder, a model folder), or a built-in name: "byte" or a byte-level BPE
// encoding (gpt2, r50k_base, p50k_base, p50k_edit, cl100k_base, o200k_base).
// A folder is searched in this order: tokenizer.json, tokenizer.model, GPT-2's vocab.json +
// merges.txt, BERT's vocab.txt (WordPiece; lower-casing from tokenizer_config.json's
// do_lower_case, default true).
#pragma once

#include <memory>
#include <string>

#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

// Throws naming the spec and listing what it may be when nothing matches.
std::unique_ptr<Tokenizer> resolve_tokenizer(const std::string& spec);

}  // namespace ilm
