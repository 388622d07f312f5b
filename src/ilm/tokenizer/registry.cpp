#include "ilm/tokenizer/registry.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "ilm/core/error.h"
#include "ilm/io/file.h"
#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/sentencepiece.h"
#include "ilm/tokenizer/tiktoken.h"
#include "ilm/tokenizer/wordpiece.h"

namespace fs = std::filesystem;

namespace ilm {

namespace {

// tokenizer_config.json of a Hub folder, or null when there is none. A file that is not JSON
// is an error naming it: the folder says how to tokenize and we would otherwise guess.
nlohmann::json tokenizer_config_of(const fs::path& folder) {
  const fs::path p = folder / "tokenizer_config.json";
  if (!fs::exists(p)) return nullptr;
  try {
    nlohmann::json j = nlohmann::json::parse(read_file(p));
    if (!j.is_object()) fail("{}: expected a JSON object", p.string());
    return j;
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: not valid JSON: {}", p.string(), e.what());
  }
}

// BERT's vocab.txt with the basic tokenizer's switches from tokenizer_config.json
// (do_lower_case defaults to true, as BertTokenizer's does).
std::unique_ptr<Tokenizer> load_wordpiece_folder(const fs::path& folder) {
  const nlohmann::json cfg = tokenizer_config_of(folder);
  WordPieceOptions opt;
  const std::string source = (folder / "tokenizer_config.json").string();
  auto flag = [&](const char* key) -> std::optional<bool> {
    if (!cfg.is_object() || !cfg.contains(key) || cfg[key].is_null()) return std::nullopt;
    if (!cfg[key].is_boolean())
      fail("{}: \"{}\" must be true or false, found {}", source, key, cfg[key].dump());
    return cfg[key].get<bool>();
  };
  if (auto v = flag("do_lower_case")) opt.lower_case = *v;
  opt.strip_accents = flag("strip_accents");
  if (auto v = flag("tokenize_chinese_chars")) opt.tokenize_chinese_chars = *v;
  return WordPieceTokenizer::from_vocab_txt(folder / "vocab.txt", opt);
}

}  // namespace

std::unique_ptr<Tokenizer> resolve_tokenizer(const std::string& spec) {
  ILM_CHECK(!spec.empty(),
            "no tokenizer given: name one (byte) or give a tokenizer.json or a folder");
  if (spec == "byte") return std::make_unique<ByteTokenizer>();
  for (const std::string& name : named_encodings())
    if (spec == name) return load_named_encoding(name);
  fs::path p(spec);
  if (fs::is_directory(p)) {
    if (fs::exists(p / "tokenizer.json")) return load_tokenizer(p / "tokenizer.json");
    if (fs::exists(p / "tokenizer.model"))
      return SentencePieceTokenizer::from_file(p / "tokenizer.model");
    // GPT-2's older files: vocab.json (encoder.json) and merges.txt (vocab.bpe); its special
    // token <|endoftext|> is in vocab.json and is also the eos of special_tokens_map.json.
    if (fs::exists(p / "vocab.json") && fs::exists(p / "merges.txt"))
      return load_gpt2_files(p / "vocab.json", p / "merges.txt");
    if (fs::exists(p / "vocab.txt")) return load_wordpiece_folder(p);
    fail(
        "{}: the folder has no tokenizer.json, tokenizer.model, vocab.json + merges.txt or "
        "vocab.txt",
        spec);
  }
  if (fs::exists(p) && p.extension() == ".model") return SentencePieceTokenizer::from_file(p);
  if (fs::exists(p)) return load_tokenizer(p);
  std::string names = "byte";
  for (const std::string& name : named_encodings()) names += ", " + name;
  fail(
      "unknown tokenizer '{}': not a built-in name ({}), a tokenizer.json, a SentencePiece .model, "
      "or a folder holding one of them (or GPT-2's vocab.json + merges.txt, or BERT's vocab.txt)",
      spec, names);
}

}  // namespace ilm
