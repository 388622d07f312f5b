// GGUF export of ilm's GPT with its byte-level BPE tokenizer (see gguf_export.h).
#include "ilm/io/gguf_export.h"

#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "ilm/core/error.h"
#include "ilm/io/gguf_arch.h"
#include "ilm/models/gpt.h"
#include "ilm/tokenizer/bpe_trainer.h"
#include "ilm/tokenizer/hf_tokenizer.h"
#include "ilm/tokenizer/pretokenize.h"
#include "ilm/tokenizer/tiktoken.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ilm {

namespace {

// llama.cpp's name (tokenizer.ggml.pre) for each of ilm's pre-tokenization patterns: its
// regexes for these are the same as tiktoken's.
std::string llama_cpp_pre_for_pattern(std::string_view pattern_name) {
  if (pattern_name == "gpt2") return "gpt-2";
  if (pattern_name == "cl100k_base") return "llama-bpe";  // Llama 3's regex is cl100k's
  if (pattern_name == "o200k_base") return "gpt-4o";
  fail("pre-tokenization pattern {} has no llama.cpp name (known: gpt2, cl100k_base, o200k_base)",
       pattern_name);
}

using BpeVocab = ByteLevelBpeVocab;

// tiktoken's BPE over one token's bytes using only ranks below `max_rank`: for a token of rank
// r, the two parts it was merged from (tiktoken tables are built by merging, so exactly two
// remain).
std::vector<std::string> bpe_parts(std::string_view bytes, int32_t max_rank,
                                   const std::unordered_map<std::string, int32_t>& ranks) {
  std::vector<std::string> parts;
  for (char b : bytes) parts.emplace_back(1, b);
  while (parts.size() > 1) {
    int32_t best_rank = max_rank;
    size_t best = parts.size();
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      auto it = ranks.find(parts[i] + parts[i + 1]);
      if (it != ranks.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best == parts.size()) break;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + ptrdiff_t(best) + 1);
  }
  return parts;
}

BpeVocab vocab_of_tiktoken(const BpeTokenizer& tok) {
  BpeVocab v;
  v.pre =
      llama_cpp_pre_for_pattern(tok.encoding() == "r50k_base" || tok.encoding() == "p50k_base" ||
                                        tok.encoding() == "p50k_edit"
                                    ? "gpt2"
                                    : tok.encoding());
  const int32_t V = tok.vocab_size();
  std::map<int32_t, std::string> special;
  for (const auto& [name, id] : tok.special_tokens()) special[id] = name;
  std::unordered_map<std::string, int32_t> ranks;
  std::vector<std::string> bytes_of(static_cast<size_t>(V));
  std::vector<bool> regular(static_cast<size_t>(V), false);
  for (int32_t id = 0; id < V; ++id) {
    if (auto s = special.find(id); s != special.end()) {
      v.tokens.push_back(s->second);
      v.types.push_back(int32_t(GgufTokenType::control));
      continue;
    }
    std::string b;
    try {
      b = tok.token_bytes(id);
    } catch (const Error&) {  // a rank the encoding leaves unused
      v.tokens.push_back(fmt::format("[PAD{}]", id));
      v.types.push_back(int32_t(GgufTokenType::unused));
      continue;
    }
    v.tokens.push_back(byte_level_spelling(b));
    v.types.push_back(int32_t(GgufTokenType::normal));
    ranks.emplace(b, id);
    bytes_of[size_t(id)] = std::move(b);
    regular[size_t(id)] = true;
  }
  for (int32_t id = 0; id < V; ++id) {
    if (!regular[size_t(id)] || bytes_of[size_t(id)].size() < 2) continue;
    std::vector<std::string> parts = bpe_parts(bytes_of[size_t(id)], id, ranks);
    ILM_CHECK(parts.size() == 2,
              "BPE encoding {}: token {} ({}) is not the merge of two lower-ranked tokens",
              tok.encoding(), id, v.tokens[size_t(id)]);
    v.merges.push_back(byte_level_spelling(parts[0]) + " " + byte_level_spelling(parts[1]));
  }
  return v;
}

// ByteLevel with its own (GPT-2) regex, or Split(regex) then ByteLevel without one.
std::string pre_of_hf(const json& pre, const std::string& source) {
  auto is_byte_level = [](const json& p, bool with_regex) {
    return p.is_object() && p.value("type", "") == "ByteLevel" &&
           p.value("use_regex", true) == with_regex;
  };
  if (is_byte_level(pre, true)) return "gpt-2";
  if (pre.is_object() && pre.value("type", "") == "Sequence" && pre.contains("pretokenizers")) {
    const json& seq = pre["pretokenizers"];
    if (seq.is_array() && seq.size() == 2 && is_byte_level(seq[1], false) &&
        seq[0].value("type", "") == "Split" && seq[0].contains("pattern") &&
        seq[0]["pattern"].is_object() && seq[0]["pattern"].contains("Regex")) {
      const std::string regex = seq[0]["pattern"]["Regex"].get<std::string>();
      for (const std::string& name : Pretokenizer::known_patterns())
        if (Pretokenizer::get(name).pattern() == regex) return llama_cpp_pre_for_pattern(name);
    }
  }
  fail(
      "{}: the pre_tokenizer is not one llama.cpp has a name for (GPT-2's ByteLevel, or a Split "
      "with the gpt2, cl100k_base or o200k_base pattern before ByteLevel): {}",
      source, pre.dump().substr(0, 200));
}

BpeVocab vocab_of_hf(const HfTokenizer& tok, std::vector<std::string>* notes) {
  const json& j = tok.to_json();
  const std::string source = "tokenizer.json";
  ILM_CHECK(j.contains("model") && j["model"].value("type", "") == "BPE",
            "{}: a {} model; GGUF export takes byte-level BPE", source,
            j.contains("model") ? j["model"].value("type", "unknown") : "missing");
  const json& model = j["model"];
  ILM_CHECK(!model.value("byte_fallback", false),
            "{}: BPE with byte_fallback is SentencePiece-style; GGUF export takes byte-level BPE",
            source);
  BpeVocab v;
  v.pre = pre_of_hf(j.value("pre_tokenizer", json()), source);
  if (j.contains("normalizer") && !j["normalizer"].is_null() && notes)
    notes->push_back(
        "tokenizer.json has a normalizer, which llama.cpp's gpt2 tokenizer does not "
        "apply: texts it changes tokenize differently there");
  std::map<int32_t, bool> added;  // id -> special
  if (j.contains("added_tokens") && j["added_tokens"].is_array())
    for (const json& a : j["added_tokens"])
      added[a.at("id").get<int32_t>()] = a.value("special", false);
  const int32_t V = tok.vocab_size();
  for (int32_t id = 0; id < V; ++id) {
    std::optional<std::string> t = tok.id_to_token(id);
    if (!t) {
      v.tokens.push_back(fmt::format("[PAD{}]", id));
      v.types.push_back(int32_t(GgufTokenType::unused));
      continue;
    }
    v.tokens.push_back(*t);
    auto a = added.find(id);
    v.types.push_back(int32_t(a == added.end() ? GgufTokenType::normal
                              : a->second      ? GgufTokenType::control
                                               : GgufTokenType::user_defined));
  }
  if (model.contains("merges") && model["merges"].is_array()) {
    for (const json& m : model["merges"]) {
      if (m.is_string()) {
        v.merges.push_back(m.get<std::string>());
      } else {
        ILM_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(),
                  "{}: a merge is neither \"a b\" nor [\"a\", \"b\"]: {}", source, m.dump());
        v.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      }
    }
  }
  return v;
}

}  // namespace

ByteLevelBpeVocab byte_level_bpe_vocab(const Tokenizer& tokenizer,
                                       std::vector<std::string>* notes) {
  if (const auto* tt = dynamic_cast<const BpeTokenizer*>(&tokenizer)) return vocab_of_tiktoken(*tt);
  if (const auto* hf = dynamic_cast<const HfTokenizer*>(&tokenizer)) return vocab_of_hf(*hf, notes);
  fail(
      "GGUF export takes a byte-level BPE tokenizer (bpe, or a BPE tokenizer.json), not a {} "
      "tokenizer",
      tokenizer.kind());
}

void add_gguf_bpe_tokenizer(GgufWriter& writer, const Tokenizer& tokenizer, int32_t n_vocab,
                            std::vector<std::string>* notes) {
  BpeVocab v = byte_level_bpe_vocab(tokenizer, notes);
  const int32_t size = int32_t(v.tokens.size());
  ILM_CHECK(n_vocab >= size, "the tokenizer has {} tokens but the model's vocabulary only {}", size,
            n_vocab);
  for (int32_t id = size; id < n_vocab; ++id) {
    v.tokens.push_back(fmt::format("[PAD{}]", id));
    v.types.push_back(int32_t(GgufTokenType::unused));
  }
  if (n_vocab > size && notes)
    notes->push_back(
        fmt::format("the model's vocabulary of {} is {} larger than the tokenizer's: "
                    "ids {} to {} are unused [PAD] tokens",
                    n_vocab, n_vocab - size, size, n_vocab - 1));
  writer.add_kv("tokenizer.ggml.model", "gpt2");
  writer.add_kv("tokenizer.ggml.pre", v.pre);
  writer.add_kv("tokenizer.ggml.tokens", std::move(v.tokens));
  writer.add_kv("tokenizer.ggml.token_type", std::move(v.types));
  writer.add_kv("tokenizer.ggml.merges", std::move(v.merges));
  if (std::optional<int32_t> eot = tokenizer.eot_id()) {
    // GPT-2 style: one end-of-text token both starts and ends documents.
    writer.add_kv("tokenizer.ggml.bos_token_id", uint32_t(*eot));
    writer.add_kv("tokenizer.ggml.eos_token_id", uint32_t(*eot));
  }
  writer.add_kv("tokenizer.ggml.add_bos_token", false);
  writer.add_kv("tokenizer.ggml.add_eos_token", false);
}

GgufExportReport export_gpt2_gguf(const GPT& model, const Tokenizer& tokenizer, const fs::path& out,
                                  const GgufExportOptions& options) {
  const GPTConfig& cfg = model.config();
  const GgmlType mtype = options.matrix_type;
  ILM_CHECK(mtype == GgmlType::f32 || mtype == GgmlType::f16 || mtype == GgmlType::q8_0,
            "GGUF export writes matrices as F32, F16 or Q8_0, not {}",
            ggml_type_name(uint32_t(mtype)));
  GgufExportReport report;
  if (cfg.activation != "gelu_tanh")
    report.notes.push_back(fmt::format(
        "the model uses activation {}; llama.cpp's gpt2 runs GELU's tanh approximation, so its "
        "outputs differ slightly from ilm's",
        cfg.activation));

  GgufWriter w;
  w.add_kv("general.architecture", "gpt2");
  if (!options.name.empty()) w.add_kv("general.name", options.name);
  w.add_kv("general.file_type", gguf_file_type_of(mtype));
  w.add_kv("general.quantization_version", uint32_t{2});
  w.add_kv("gpt2.context_length", uint32_t(cfg.block_size));
  w.add_kv("gpt2.embedding_length", uint32_t(cfg.n_embd));
  w.add_kv("gpt2.feed_forward_length", uint32_t(4 * cfg.n_embd));
  w.add_kv("gpt2.block_count", uint32_t(cfg.n_layer));
  w.add_kv("gpt2.attention.head_count", uint32_t(cfg.n_head));
  w.add_kv("gpt2.attention.layer_norm_epsilon", 1e-5f);  // ilm's LayerNorm eps
  add_gguf_bpe_tokenizer(w, tokenizer, cfg.vocab_size, &report.notes);

  auto type_for = [&](const std::string& name, const Shape& shape) {
    if (shape.ndim() == 1 || name == "position_embd.weight") return GgmlType::f32;
    if (mtype == GgmlType::q8_0 && shape.last() % 32 != 0) {
      report.notes.push_back(
          fmt::format("{} {}: rows are not a multiple of 32, stored as F16 "
                      "instead of Q8_0",
                      name, shape.to_string()));
      return GgmlType::f16;
    }
    return mtype;
  };
  // ilm's parameters have Hugging Face GPT-2's names but torch.nn.Linear's (out, in) layout,
  // which is what ggml wants: the names map, nothing is transposed.
  std::set<std::string> written;
  std::map<std::string, int64_t> rows_of;  // gguf weight name -> its outermost dimension
  for (const Param& p : model.params().params()) {
    const std::string name = gguf_tensor_name("gpt2", p.name);
    ILM_CHECK(!name.empty(), "parameter {} has no place in a GGUF gpt2 file", p.name);
    w.add_tensor(name, p.var->value, type_for(name, p.shape));
    written.insert(name);
    rows_of[name] = p.shape[0];
  }
  // llama.cpp's gpt2 has biases everywhere; a model trained without them gets zeros.
  int zero_biases = 0;
  for (const std::string& name : gguf_required_tensors("gpt2", cfg.n_layer)) {
    if (written.count(name)) continue;
    ILM_CHECK(name.ends_with(".bias"), "the model has no tensor for GGUF {}", name);
    const std::string weight = name.substr(0, name.size() - 5) + ".weight";
    ILM_CHECK(rows_of.count(weight), "the model has no tensor for GGUF {}", weight);
    auto zeros = std::make_shared<std::vector<float>>(static_cast<size_t>(rows_of[weight]), 0.0f);
    w.add_tensor(name, {rows_of[weight]}, GgmlType::f32, zeros->data(), zeros);
    ++zero_biases;
  }
  if (zero_biases)
    report.notes.push_back(
        fmt::format("the model has no biases: {} zero bias vectors written, "
                    "as llama.cpp's gpt2 expects them",
                    zero_biases));
  if (options.write_output_copy) {
    const Param& wte = model.params().get("wte.weight");
    w.add_tensor("output.weight", wte.var->value, type_for("output.weight", wte.shape));
  }
  w.write(out);
  report.tensors = w.tensor_count();
  report.bytes = fs::file_size(out);
  return report;
}

}  // namespace ilm
