#include "ilm/tokenizer/registry.h"

#include <filesystem>

#include "ilm/core/error.h"
#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/sentencepiece.h"
#include "ilm/tokenizer/tiktoken.h"

namespace fs = std::filesystem;

namespace ilm {

std::unique_ptr<Tokenizer> resolve_tokenizer(const std::string& spec) {
  ILM_CHECK(!spec.empty(), "no tokenizer given: name one (byte) or give a tokenizer.json or a folder");
  if (spec == "byte") return std::make_unique<ByteTokenizer>();
  for (const std::string& name : named_encodings())
    if (spec == name) return load_named_encoding(name);
  fs::path p(spec);
  if (fs::is_directory(p)) {
    if (fs::exists(p / "tokenizer.json")) return load_tokenizer(p / "tokenizer.json");
    if (fs::exists(p / "tokenizer.model")) return SentencePieceTokenizer::from_file(p / "tokenizer.model");
    fail("{}: the folder has no tokenizer.json or tokenizer.model", spec);
  }
  if (fs::exists(p) && p.extension() == ".model") return SentencePieceTokenizer::from_file(p);
  if (fs::exists(p)) return load_tokenizer(p);
  std::string names = "byte";
  for (const std::string& name : named_encodings()) names += ", " + name;
  fail("unknown tokenizer '{}': not a built-in name ({}), a tokenizer.json, a SentencePiece .model, "
       "or a folder holding one of them",
       spec, names);
}

}  // namespace ilm
