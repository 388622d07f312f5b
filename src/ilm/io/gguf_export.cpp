// GGUF export of the Transformer families with their tokenizers (see
// gguf_export.h).
#include "ilm/io/gguf_export.h"

#include <fmt/ranges.h>
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_map>

#include "ilm/core/error.h"
#include "ilm/io/gguf_arch.h"
#include "ilm/models/recipes.h"
#include "ilm/models/transformer.h"
#include "ilm/tokenizer/bpe_trainer.h"
#include "ilm/tokenizer/hf_tokenizer.h"
#include "ilm/tokenizer/pretokenize.h"
#include "ilm/tokenizer/sentencepiece.h"
#include "ilm/tokenizer/tiktoken.h"
#include "ilm/tokenizer/wordpiece.h"

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

}  // namespace ilm

// ---- the Transformer families ----------------------------------------------------------------

namespace ilm {

namespace {

// Pads a token list to n_vocab with unused [PAD<id>] tokens, as the BPE path does.
void pad_vocab(std::vector<std::string>& tokens, std::vector<int32_t>& types, int32_t n_vocab,
               std::vector<std::string>* notes) {
  const int32_t size = int32_t(tokens.size());
  ILM_CHECK(n_vocab >= size, "the tokenizer has {} tokens but the model's vocabulary only {}", size,
            n_vocab);
  for (int32_t id = size; id < n_vocab; ++id) {
    tokens.push_back(fmt::format("[PAD{}]", id));
    types.push_back(int32_t(GgufTokenType::unused));
  }
  if (n_vocab > size && notes)
    notes->push_back(
        fmt::format("the model's vocabulary of {} is {} larger than the tokenizer's: "
                    "ids {} to {} are unused [PAD] tokens",
                    n_vocab, n_vocab - size, size, n_vocab - 1));
}

GgufTokenType gguf_type_of(SentencePieceTokenizer::PieceType t) {
  using P = SentencePieceTokenizer::PieceType;
  switch (t) {
    case P::unknown:
      return GgufTokenType::unknown;
    case P::control:
      return GgufTokenType::control;
    case P::user_defined:
      return GgufTokenType::user_defined;
    case P::unused:
      return GgufTokenType::unused;
    case P::byte:
      return GgufTokenType::byte;
    case P::normal:
      break;
  }
  return GgufTokenType::normal;
}

// llama.cpp's name for an ilm architecture.
std::string gguf_arch_of(const std::string& arch) {
  if (arch == "gpt2" || arch == "llama" || arch == "falcon" || arch == "bert") return arch;
  if (arch == "mistral") return "llama";  // Mistral is LLaMA with a sliding window
  fail(
      "GGUF export: architecture \"{}\" has no llama.cpp counterpart (known: gpt2, llama, "
      "mistral, falcon, bert)",
      arch);
}

std::vector<int64_t> dims_of(const Tensor& t) {
  std::vector<int64_t> d;
  for (int i = 0; i < int(t.shape().ndim()); ++i) d.push_back(t.shape()[i]);
  return d;
}

void add_tokenizer(GgufWriter& w, const std::string& garch, const TransformerConfig& c,
                   const Tokenizer& tok, std::vector<std::string>& notes) {
  if (dynamic_cast<const BpeTokenizer*>(&tok) || dynamic_cast<const HfTokenizer*>(&tok)) {
    const bool hf_wordpiece = [&] {
      const auto* hf = dynamic_cast<const HfTokenizer*>(&tok);
      if (!hf) return false;
      const json& j = hf->to_json();
      return j.contains("model") && j["model"].value("type", "") == "WordPiece";
    }();
    if (hf_wordpiece) {
      ILM_CHECK(garch == "bert", "GGUF export: a WordPiece tokenizer goes with BERT, not {}",
                c.arch);
      add_gguf_wordpiece_tokenizer(w, tok, c.vocab_size, c.type_vocab_size, &notes);
      return;
    }
    ILM_CHECK(garch != "bert",
              "GGUF export: llama.cpp's bert takes a WordPiece tokenizer, not {} BPE", tok.kind());
    add_gguf_bpe_tokenizer(w, tok, c.vocab_size, &notes);
    return;
  }
  if (dynamic_cast<const SentencePieceTokenizer*>(&tok)) {
    ILM_CHECK(garch == "llama",
              "GGUF export: a SentencePiece tokenizer goes with llama or mistral (llama.cpp's "
              "\"llama\" tokenizer), not {}",
              c.arch);
    add_gguf_sentencepiece_tokenizer(w, tok, c.vocab_size, &notes);
    return;
  }
  if (dynamic_cast<const WordPieceTokenizer*>(&tok)) {
    ILM_CHECK(garch == "bert", "GGUF export: a WordPiece tokenizer goes with BERT, not {}", c.arch);
    add_gguf_wordpiece_tokenizer(w, tok, c.vocab_size, c.type_vocab_size, &notes);
    return;
  }
  fail(
      "GGUF export: llama.cpp has no tokenizer for a {} tokenizer (it takes byte-level BPE, "
      "SentencePiece and WordPiece)",
      tok.kind());
}

// {arch}.* hyperparameters; refuses what llama.cpp's architecture cannot compute.
void add_model_keys(GgufWriter& w, const std::string& garch, const TransformerConfig& c,
                    const GgufExportOptions& options, std::vector<std::string>& notes) {
  auto key = [&](std::string_view k) { return fmt::format("{}.{}", garch, k); };
  w.add_kv(key("context_length"), uint32_t(c.max_positions));
  w.add_kv(key("embedding_length"), uint32_t(c.n_embd));
  w.add_kv(key("feed_forward_length"), uint32_t(c.mlp_width()));
  w.add_kv(key("block_count"), uint32_t(c.n_layer));
  w.add_kv(key("attention.head_count"), uint32_t(c.n_head));
  if (garch == "gpt2") {
    ILM_CHECK(c.wiring == Wiring::pre_norm && c.norm == NormKind::layernorm &&
                  c.position == PositionKind::learned,
              "GGUF export: gpt2 must be pre-norm with LayerNorm and learned positions");
    w.add_kv(key("attention.layer_norm_epsilon"), c.norm_eps);
    if (c.mlp != MlpKind::gelu_tanh)
      notes.push_back(
          "the model uses exact GELU; llama.cpp's gpt2 runs GELU's tanh approximation, so its "
          "outputs differ slightly from ilm's");
    return;
  }
  if (garch == "llama") {
    ILM_CHECK(c.mlp == MlpKind::swiglu && c.norm == NormKind::rmsnorm &&
                  c.position == PositionKind::rope && c.wiring == Wiring::pre_norm,
              "GGUF export: llama must be pre-norm with RMSNorm, RoPE and a SwiGLU MLP");
    w.add_kv(key("attention.head_count_kv"), uint32_t(c.kv_heads()));
    w.add_kv(key("attention.layer_norm_rms_epsilon"), c.norm_eps);
    w.add_kv(key("rope.freq_base"), c.rope.theta);
    w.add_kv(key("rope.dimension_count"), uint32_t(rope_rotary_dim(c.rope, c.hs())));
    if (c.hs() * c.n_head != c.n_embd) {
      w.add_kv(key("attention.key_length"), uint32_t(c.hs()));
      w.add_kv(key("attention.value_length"), uint32_t(c.hs()));
    }
    w.add_kv(key("vocab_size"), uint32_t(c.vocab_size));
    const std::string& s = c.rope.scaling;
    if (s == "linear") {
      w.add_kv(key("rope.scaling.type"), "linear");
      w.add_kv(key("rope.scaling.factor"), c.rope.factor);
    } else if (s == "dynamic") {
      notes.push_back(fmt::format(
          "dynamic (NTK) RoPE scaling changes nothing up to {} positions; llama.cpp has no "
          "dynamic scaling, so past that its outputs differ from ilm's",
          c.rope.original_max_positions > 0 ? c.rope.original_max_positions : c.max_positions));
    } else if (s == "yarn") {
      // llama.cpp's YaRN: the same ramp (floor/ceil bounds) between its default betas 32 and
      // 1, and cos/sin times 1 + 0.1 ln(factor), computed inside ggml's RoPE.
      const RopeConfig& r = c.rope;
      ILM_CHECK(r.truncate,
                "GGUF export: yarn RoPE with \"truncate\": false (unrounded ramp bounds) has no "
                "llama.cpp form: llama.cpp rounds them");
      ILM_CHECK(r.beta_fast == 32.0f && r.beta_slow == 1.0f,
                "GGUF export: yarn RoPE with beta_fast {} and beta_slow {}: llama.cpp's llama "
                "architecture uses 32 and 1",
                r.beta_fast, r.beta_slow);
      const double ours = rope_attention_factor(r);
      const double theirs = 1.0 + 0.1 * std::log(double(r.factor));
      ILM_CHECK(std::fabs(ours - theirs) <= 1e-6 * theirs,
                "GGUF export: yarn RoPE with attention factor {} (from attention_factor, mscale "
                "or mscale_all_dim): llama.cpp's llama architecture always scales by "
                "1 + 0.1 ln(factor) = {}",
                ours, theirs);
      w.add_kv(key("rope.scaling.type"), "yarn");
      w.add_kv(key("rope.scaling.factor"), r.factor);
      w.add_kv(key("rope.scaling.original_context_length"), uint32_t(r.original_max_positions));
    } else {
      ILM_CHECK(s.empty() || s == "none" || s == "default" || s == "llama3",
                "GGUF export: RoPE scaling \"{}\" has no llama.cpp form", s);
    }
    if (c.sliding_window > 0 && c.sliding_window < c.max_positions)
      notes.push_back(fmt::format(
          "the sliding window of {} is not written: llama.cpp's llama architecture attends to "
          "every earlier position, so past {} tokens its outputs differ from ilm's",
          c.sliding_window, c.sliding_window));
    return;
  }
  if (garch == "falcon") {
    ILM_CHECK(c.position != PositionKind::alibi,
              "GGUF export: this Falcon uses ALiBi positions (\"alibi\": true, e.g. falcon-rw); "
              "llama.cpp's falcon architecture always applies RoPE and has no ALiBi, so the file "
              "would compute something else");
    ILM_CHECK(c.wiring == Wiring::parallel && c.norm == NormKind::layernorm &&
                  c.position == PositionKind::rope,
              "GGUF export: llama.cpp's falcon computes attention and MLP in parallel with "
              "LayerNorm and RoPE; this model is not wired so (parallel_attn false)");
    ILM_CHECK(!c.qkv_bias && !c.attn_out_bias && !c.mlp_bias,
              "GGUF export: llama.cpp's falcon has no biases on its linear layers (Falcon's "
              "\"bias\": false); this model has them");
    ILM_CHECK(c.rope.scaling.empty() || c.rope.scaling == "none" || c.rope.scaling == "default",
              "GGUF export: llama.cpp's falcon has no RoPE scaling (\"{}\")", c.rope.scaling);
    w.add_kv(key("attention.head_count_kv"),
             uint32_t(c.fused_qkv == "interleaved" ? c.n_head : c.kv_heads()));
    w.add_kv(key("attention.layer_norm_epsilon"), c.norm_eps);
    w.add_kv(key("rope.freq_base"), c.rope.theta);
    if (c.mlp != MlpKind::gelu_tanh)
      notes.push_back(
          "Falcon uses exact GELU; llama.cpp's falcon runs GELU's tanh approximation, so its "
          "outputs differ slightly from ilm's");
    return;
  }
  // bert
  ILM_CHECK(c.wiring == Wiring::post_norm && c.position == PositionKind::learned &&
                c.embedding_norm && !c.causal,
            "GGUF export: bert must be a post-norm encoder with learned positions and an "
            "embedding norm");
  w.add_kv(key("attention.layer_norm_epsilon"), c.norm_eps);
  w.add_kv(key("attention.causal"), false);
  const std::string& p = options.bert_pooling;
  ILM_CHECK(p == "none" || p == "mean" || p == "cls",
            "GGUF export: bert pooling \"{}\" is not one of none, mean, cls", p);
  w.add_kv(key("pooling_type"), uint32_t(p == "none" ? 0 : p == "mean" ? 1 : 2));
  if (c.mlp != MlpKind::gelu_tanh)
    notes.push_back(
        "BERT uses exact GELU; llama.cpp's bert runs ggml's GELU (the tanh approximation), so "
        "its outputs differ slightly from ilm's");
  if (c.head == HeadKind::masked_lm)
    notes.push_back(
        "the masked-LM head (cls.predictions.*) is not written: llama.cpp's bert is an "
        "encoder for embeddings");
  if (c.head == HeadKind::classification)
    notes.push_back(
        "the pooler and classifier are not written: llama.cpp's bert is an encoder for "
        "embeddings");
}

}  // namespace

void add_gguf_sentencepiece_tokenizer(GgufWriter& writer, const Tokenizer& tokenizer,
                                      int32_t n_vocab, std::vector<std::string>* notes) {
  const auto* sp = dynamic_cast<const SentencePieceTokenizer*>(&tokenizer);
  ILM_CHECK(sp,
            "GGUF export: tokenizer.ggml.model \"llama\" takes a SentencePiece model, not a "
            "{} tokenizer",
            tokenizer.kind());
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (int32_t id = 0; id < sp->vocab_size(); ++id) {
    tokens.push_back(sp->piece(id));
    scores.push_back(sp->score(id));
    types.push_back(int32_t(gguf_type_of(sp->piece_type(id))));
  }
  pad_vocab(tokens, types, n_vocab, notes);
  scores.resize(tokens.size(), -1e9f);  // [PAD] tokens: never chosen by a merge
  writer.add_kv("tokenizer.ggml.model", "llama");
  writer.add_kv("tokenizer.ggml.tokens", std::move(tokens));
  writer.add_kv("tokenizer.ggml.scores", std::move(scores));
  writer.add_kv("tokenizer.ggml.token_type", std::move(types));
  if (sp->bos_id()) writer.add_kv("tokenizer.ggml.bos_token_id", uint32_t(*sp->bos_id()));
  if (sp->eot_id()) writer.add_kv("tokenizer.ggml.eos_token_id", uint32_t(*sp->eot_id()));
  if (sp->unk_id()) writer.add_kv("tokenizer.ggml.unknown_token_id", uint32_t(*sp->unk_id()));
  writer.add_kv("tokenizer.ggml.add_bos_token", sp->bos_id().has_value());
  writer.add_kv("tokenizer.ggml.add_eos_token", false);
  writer.add_kv("tokenizer.ggml.add_space_prefix", sp->add_dummy_prefix());
}

void add_gguf_wordpiece_tokenizer(GgufWriter& writer, const Tokenizer& tokenizer, int32_t n_vocab,
                                  int32_t type_vocab_size, std::vector<std::string>* notes) {
  std::vector<std::string> vocab;
  std::string prefix = "##";
  if (const auto* wp = dynamic_cast<const WordPieceTokenizer*>(&tokenizer)) {
    for (int32_t id = 0; id < wp->vocab_size(); ++id) vocab.push_back(wp->token_bytes(id));
    if (!wp->options().lower_case && notes)
      notes->push_back(
          "the WordPiece tokenizer keeps case; llama.cpp's bert tokenizer lower-cases, so "
          "texts with capitals tokenize differently there");
  } else if (const auto* hf = dynamic_cast<const HfTokenizer*>(&tokenizer)) {
    const json& model = hf->to_json().at("model");
    ILM_CHECK(model.value("type", "") == "WordPiece",
              "GGUF export: tokenizer.ggml.model \"bert\" takes WordPiece, not a {} tokenizer.json",
              model.value("type", "unknown"));
    prefix = model.value("continuing_subword_prefix", std::string("##"));
    for (int32_t id = 0; id < hf->vocab_size(); ++id) {
      std::optional<std::string> t = hf->id_to_token(id);
      vocab.push_back(t ? *t : fmt::format("[PAD{}]", id));
    }
  } else {
    fail("GGUF export: tokenizer.ggml.model \"bert\" takes a WordPiece tokenizer, not {}",
         tokenizer.kind());
  }
  std::map<std::string, int32_t> special;  // the bracketed special tokens present
  for (const char* name : {"[CLS]", "[SEP]", "[UNK]", "[PAD]", "[MASK]"})
    if (std::optional<int32_t> id = tokenizer.special_token_id(name)) special[name] = *id;
  std::set<int32_t> control;
  for (const auto& [text, id] : tokenizer.text_special_tokens()) control.insert(id);
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  for (int32_t id = 0; id < int32_t(vocab.size()); ++id) {
    const std::string& t = vocab[size_t(id)];
    const bool bracketed = t.size() >= 2 && t.front() == '[' && t.back() == ']';
    if (bracketed)
      tokens.push_back(t);
    else if (t.starts_with(prefix))
      tokens.push_back(t.substr(prefix.size()));
    else
      tokens.push_back("\xE2\x96\x81" + t);  // U+2581, a word start
    types.push_back(
        int32_t(special.count("[UNK]") && special["[UNK]"] == id       ? GgufTokenType::unknown
                : control.count(id) || (bracketed && special.count(t)) ? GgufTokenType::control
                                                                       : GgufTokenType::normal));
  }
  pad_vocab(tokens, types, n_vocab, notes);
  writer.add_kv("tokenizer.ggml.model", "bert");
  writer.add_kv("tokenizer.ggml.tokens", std::move(tokens));
  writer.add_kv("tokenizer.ggml.token_type", std::move(types));
  writer.add_kv("tokenizer.ggml.token_type_count", uint32_t(std::max(type_vocab_size, 1)));
  auto id_key = [&](const char* name, const char* key) {
    if (special.count(name)) writer.add_kv(key, uint32_t(special[name]));
  };
  id_key("[CLS]", "tokenizer.ggml.bos_token_id");
  id_key("[SEP]", "tokenizer.ggml.eos_token_id");
  id_key("[UNK]", "tokenizer.ggml.unknown_token_id");
  id_key("[SEP]", "tokenizer.ggml.seperator_token_id");
  id_key("[PAD]", "tokenizer.ggml.padding_token_id");
  id_key("[CLS]", "tokenizer.ggml.cls_token_id");
  id_key("[MASK]", "tokenizer.ggml.mask_token_id");
  writer.add_kv("tokenizer.ggml.add_bos_token", special.count("[CLS]") > 0);
  writer.add_kv("tokenizer.ggml.add_eos_token", special.count("[SEP]") > 0);
}

GgufExportReport export_transformer_gguf(const Transformer& model, const Tokenizer* tokenizer,
                                         const fs::path& out, const GgufExportOptions& options) {
  const TransformerConfig& c = model.config();
  const std::string garch = gguf_arch_of(c.arch);
  const GgmlType mtype = options.matrix_type;
  ILM_CHECK(mtype == GgmlType::f32 || mtype == GgmlType::f16 || mtype == GgmlType::q8_0,
            "GGUF export writes matrices as F32, F16 or Q8_0, not {}",
            ggml_type_name(uint32_t(mtype)));
  ILM_CHECK(tokenizer || options.allow_no_tokenizer,
            "GGUF export of {}: the model has no tokenizer, and llama.cpp cannot load a GGUF "
            "file without one; give the model's tokenizer (or allow a file without tokenizer "
            "fields, for inspection only)",
            c.arch);
  GgufExportReport report;

  GgufWriter w;
  w.add_kv("general.architecture", garch);
  if (!options.name.empty()) w.add_kv("general.name", options.name);
  w.add_kv("general.file_type", gguf_file_type_of(mtype));
  w.add_kv("general.quantization_version", uint32_t{2});
  add_model_keys(w, garch, c, options, report.notes);
  if (tokenizer)
    add_tokenizer(w, garch, c, *tokenizer, report.notes);
  else
    report.notes.push_back("no tokenizer fields: llama.cpp cannot load this file");

  auto type_for = [&](const std::string& name, const std::vector<int64_t>& shape) {
    if (shape.size() == 1 || name == "position_embd.weight" || name == "token_types.weight")
      return GgmlType::f32;
    if (mtype == GgmlType::q8_0 && shape.back() % 32 != 0) {
      report.notes.push_back(
          fmt::format("{} [{}]: rows are not a multiple of 32, stored as F16 instead of Q8_0", name,
                      fmt::join(shape, ", ")));
      return GgmlType::f16;
    }
    return mtype;
  };
  auto add = [&](const std::string& name, std::vector<int64_t> shape,
                 std::shared_ptr<std::vector<float>> data) {
    const GgmlType type = type_for(name, shape);
    w.add_tensor(name, std::move(shape), type, data->data(), data);
  };
  const GgufHeads heads{c.n_head, c.fused_qkv == "interleaved" ? c.n_head : c.kv_heads()};
  std::set<std::string> written;
  std::map<std::string, int64_t> rows_of;  // gguf weight name -> its outermost dimension
  std::shared_ptr<std::vector<float>> token_embd;
  std::vector<int64_t> token_embd_shape;
  for (const auto& [hf_name, tensor] : hf_state_dict(model)) {
    if (garch == "bert" && (hf_name.starts_with("cls.") || hf_name.starts_with("classifier.") ||
                            hf_name.starts_with("bert.pooler.")))
      continue;  // heads llama.cpp's bert does not run (a note says so)
    std::optional<GgufTensorMapping> m = gguf_tensor_mapping(garch, hf_name);
    if (!m) continue;
    auto data = std::make_shared<std::vector<float>>();
    std::vector<int64_t> shape =
        gguf_apply_transform(m->transform, tensor.f32(), dims_of(tensor), heads, *data);
    rows_of[m->name] = shape[0];
    written.insert(m->name);
    if (m->name == "token_embd.weight") {
      token_embd = data;
      token_embd_shape = shape;
    }
    add(m->name, std::move(shape), std::move(data));
  }
  // llama.cpp's gpt2 and bert have biases everywhere; a model without them gets zeros
  // (a GPT-2 without biases has them already, from hf_state_dict).
  int zero_biases = 0;
  if (garch == "gpt2" && !c.qkv_bias)
    for (const std::string& name : written) zero_biases += name.ends_with(".bias");
  for (const std::string& name : gguf_required_tensors(garch, c.n_layer)) {
    if (written.count(name)) continue;
    ILM_CHECK(name.ends_with(".bias"), "the model has no tensor for GGUF {}", name);
    const std::string weight = name.substr(0, name.size() - 5) + ".weight";
    ILM_CHECK(rows_of.count(weight), "the model has no tensor for GGUF {}", weight);
    add(name, {rows_of[weight]},
        std::make_shared<std::vector<float>>(static_cast<size_t>(rows_of[weight]), 0.0f));
    ++zero_biases;
  }
  if (zero_biases)
    report.notes.push_back(fmt::format(
        "the model has no biases: {} zero bias vectors written, as llama.cpp's {} expects them",
        zero_biases, garch));
  // LLaMA-3 scaling: llama.cpp divides each rotary frequency by rope_freqs[i].
  if (c.position == PositionKind::rope && c.rope.scaling == "llama3") {
    RopeConfig plain = c.rope;
    plain.scaling = "";
    const std::vector<float> base = rope_inv_freq(plain, c.hs(), 0);
    const std::vector<float> scaled = rope_inv_freq(c.rope, c.hs(), 0);
    auto factors = std::make_shared<std::vector<float>>(base.size());
    for (size_t i = 0; i < base.size(); ++i) (*factors)[i] = base[i] / scaled[i];
    add("rope_freqs.weight", {int64_t(factors->size())}, factors);
  }
  if (c.tie_embeddings && garch != "bert" && options.write_output_copy && token_embd &&
      !written.count("output.weight"))
    add("output.weight", token_embd_shape, token_embd);
  w.write(out);
  report.tensors = w.tensor_count();
  report.bytes = fs::file_size(out);
  return report;
}

}  // namespace ilm
