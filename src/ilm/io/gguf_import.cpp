// GGUF -> Transformer and tokenizer (see gguf_import.h): metadata to a Hugging Face
// config.json, GGUF tensor names back to Hugging Face names through the export's tables.
#include "ilm/io/gguf_import.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numbers>
#include <set>

#include "ilm/core/error.h"
#include "ilm/io/gguf_arch.h"
#include "ilm/kernels/rope.h"
#include "ilm/models/recipes.h"
#include "ilm/tokenizer/hf_tokenizer.h"
#include "ilm/tokenizer/pretokenize.h"
#include "ilm/tokenizer/sentencepiece.h"
#include "ilm/tokenizer/wordpiece.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ilm {

namespace {

constexpr std::string_view kSupportedArchs = "gpt2, llama (LLaMA, Mistral), falcon, bert";

std::string arch_of(const GgufFile& f) {
  const std::string arch = f.kv_as<std::string>("general.architecture");
  const auto& known = gguf_architectures();
  ILM_CHECK(std::find(known.begin(), known.end(), arch) != known.end(),
            "{}: GGUF architecture \"{}\" has no ilm recipe (supported: {})", f.path().string(),
            arch, kSupportedArchs);
  return arch;
}

int64_t u(const GgufFile& f, const std::string& key) {
  try {
    return int64_t(f.kv(key).to_u64());
  } catch (const Error& e) {
    throw e.with_context(fmt::format("{}: key {}", f.path().string(), key));
  }
}
int64_t u_or(const GgufFile& f, const std::string& key, int64_t fallback) {
  return f.has_kv(key) ? u(f, key) : fallback;
}
double d(const GgufFile& f, const std::string& key) {
  try {
    return f.kv(key).to_f64();
  } catch (const Error& e) {
    throw e.with_context(fmt::format("{}: key {}", f.path().string(), key));
  }
}
double d_or(const GgufFile& f, const std::string& key, double fallback) {
  return f.has_kv(key) ? d(f, key) : fallback;
}

// The head: tied when output.weight is absent or a byte copy of token_embd.weight.
bool tied(const GgufFile& f) {
  if (!f.has_tensor("output.weight")) return true;
  const GgufTensorInfo& out = f.tensor("output.weight");
  const GgufTensorInfo& emb = f.tensor("token_embd.weight");
  if (out.type != emb.type || out.shape != emb.shape) return false;
  const auto a = f.raw(out), b = f.raw(emb);
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size()) == 0;
}

// LLaMA-3 RoPE scaling back from rope_freqs.weight, llama.cpp's per-frequency divisors
// r_i = inv_i / scaled_i: 1 for short wavelengths, `factor` for long ones, and between them
// 1 / ((1 - s) / factor + s) with s = (orig / wavelen - low) / (high - low). Only the
// wavelength bounds orig / high and orig / low matter, so `orig` is taken as given (or 8192)
// and low / high solved from the ramp (or placed between the neighbouring wavelengths when
// the ramp has fewer than two points). The result is checked against every factor.
json llama3_scaling(const GgufFile& f, double theta, int64_t HS, int64_t orig) {
  const std::vector<float> r = f.read_f32("rope_freqs.weight");
  auto refuse = [&](std::string_view why) {
    fail(
        "{}: rope_freqs.weight (LLaMA-3 RoPE scaling as per-frequency factors) is not LLaMA-3 "
        "scaling that ilm can express ({}); convert the Hugging Face folder instead",
        f.path().string(), why);
  };
  if (int64_t(r.size()) != HS / 2) refuse(fmt::format("{} factors for heads of {}", r.size(), HS));
  const double F = *std::max_element(r.begin(), r.end());
  if (!(F > 1.0)) refuse("no factor above 1");
  std::vector<double> wavelen(r.size());
  for (size_t i = 0; i < r.size(); ++i)
    wavelen[i] = 2.0 * std::numbers::pi * std::pow(theta, double(2 * i) / double(HS));
  std::vector<size_t> ones, mids, tops;
  for (size_t i = 0; i < r.size(); ++i) {
    if (std::fabs(r[i] - 1.0) <= 1e-6)
      ones.push_back(i);
    else if (std::fabs(r[i] - F) <= 1e-6 * F)
      tops.push_back(i);
    else
      mids.push_back(i);
  }
  if (tops.empty()) refuse("no frequency is divided by the largest factor alone");
  const double O = double(orig);
  const double below = ones.empty() ? wavelen[0] / 2 : wavelen[ones.back()];
  const double above = wavelen[tops.front()];
  auto smooth = [&](size_t i) { return (1.0 / r[i] - 1.0 / F) / (1.0 - 1.0 / F); };
  double lo = 0, hi = 0;
  if (mids.size() >= 2) {  // s = a / wavelen + b, a = O / (hi - lo), b = -lo / (hi - lo)
    const size_t p = mids.front(), q = mids.back();
    const double a = (smooth(p) - smooth(q)) / (1.0 / wavelen[p] - 1.0 / wavelen[q]);
    const double b = smooth(p) - a / wavelen[p];
    lo = -b * O / a;
    hi = lo + O / a;
  } else if (mids.size() == 1) {
    const size_t m = mids.front();
    hi = O / std::sqrt(below * wavelen[m]);
    const double s = smooth(m);
    lo = (O / wavelen[m] - s * hi) / (1.0 - s);
  } else {
    hi = O / (std::pow(below, 2.0 / 3.0) * std::pow(above, 1.0 / 3.0));
    lo = O / (std::pow(below, 1.0 / 3.0) * std::pow(above, 2.0 / 3.0));
  }
  RopeConfig rc;
  rc.theta = float(theta);
  rc.scaling = "llama3";
  rc.factor = float(F);
  rc.low_freq_factor = float(lo);
  rc.high_freq_factor = float(hi);
  rc.original_max_positions = int(orig);
  RopeConfig plain = rc;
  plain.scaling = "";
  std::vector<float> base, scaled;
  try {
    base = rope_inv_freq(plain, int(HS), 0);
    scaled = rope_inv_freq(rc, int(HS), 0);
  } catch (const Error& e) {
    refuse(e.what());
  }
  for (size_t i = 0; i < r.size(); ++i)
    if (std::fabs(base[i] / scaled[i] - r[i]) > 1e-5 * r[i])
      refuse(
          fmt::format("factor {} is {}, LLaMA-3 scaling with factor {}, low_freq_factor {}, "
                      "high_freq_factor {} gives {}",
                      i, r[i], F, lo, hi, base[i] / scaled[i]));
  return {{"rope_type", "llama3"},
          {"factor", rc.factor},
          {"low_freq_factor", rc.low_freq_factor},
          {"high_freq_factor", rc.high_freq_factor},
          {"original_max_position_embeddings", orig}};
}

}  // namespace

json gguf_hf_config(const GgufFile& f) {
  const std::string arch = arch_of(f);
  auto key = [&](std::string_view k) { return fmt::format("{}.{}", arch, k); };
  ILM_CHECK(f.has_tensor("token_embd.weight"), "{}: no token_embd.weight tensor",
            f.path().string());
  const int64_t C = u(f, key("embedding_length")), NH = u(f, key("attention.head_count"));
  ILM_CHECK(NH > 0 && C > 0, "{}: {} = {} and {} = {} must be positive", f.path().string(),
            key("embedding_length"), C, key("attention.head_count"), NH);
  json j;
  j["vocab_size"] = f.tensor("token_embd.weight").shape[0];
  j["torch_dtype"] = "float32";
  j["tie_word_embeddings"] = arch == "bert" ? true : tied(f);
  if (arch == "gpt2") {
    j["architectures"] = {"GPT2LMHeadModel"};
    j["model_type"] = "gpt2";
    j["n_layer"] = u(f, key("block_count"));
    j["n_head"] = NH;
    j["n_embd"] = C;
    j["n_positions"] = j["n_ctx"] = u(f, key("context_length"));
    const int64_t ff = u(f, key("feed_forward_length"));
    j["n_inner"] = ff == 4 * C ? json(nullptr) : json(ff);
    j["layer_norm_epsilon"] = d(f, key("attention.layer_norm_epsilon"));
    j["activation_function"] = "gelu_new";  // llama.cpp's gpt2 runs the tanh approximation
    return j;
  }
  if (arch == "llama") {
    j["architectures"] = {"LlamaForCausalLM"};
    j["model_type"] = "llama";
    j["num_hidden_layers"] = u(f, key("block_count"));
    j["num_attention_heads"] = NH;
    j["num_key_value_heads"] = u_or(f, key("attention.head_count_kv"), NH);
    j["hidden_size"] = C;
    const int64_t HS = u_or(f, key("attention.key_length"), C / NH);
    ILM_CHECK(u_or(f, key("attention.value_length"), HS) == HS,
              "{}: {} differs from {}: ilm's LLaMA has one head size", f.path().string(),
              key("attention.value_length"), key("attention.key_length"));
    if (HS != C / NH) j["head_dim"] = HS;
    ILM_CHECK(u_or(f, key("rope.dimension_count"), HS) == HS,
              "{}: {} = {} rotates part of each head of {}: LLaMA rotates all of it",
              f.path().string(), key("rope.dimension_count"), u(f, key("rope.dimension_count")),
              HS);
    j["intermediate_size"] = u(f, key("feed_forward_length"));
    j["max_position_embeddings"] = u(f, key("context_length"));
    j["rms_norm_eps"] = d(f, key("attention.layer_norm_rms_epsilon"));
    j["hidden_act"] = "silu";
    j["attention_bias"] = f.has_tensor("blk.0.attn_q.bias");
    j["mlp_bias"] = f.has_tensor("blk.0.ffn_up.bias");
    j["rope_theta"] = d_or(f, key("rope.freq_base"), 10000.0);
    if (f.has_tensor("rope_freqs.weight")) {
      j["rope_scaling"] =
          llama3_scaling(f, j["rope_theta"].get<double>(), HS,
                         u_or(f, key("rope.scaling.original_context_length"), 8192));
      return j;
    }
    const std::string scaling = f.has_kv(key("rope.scaling.type"))
                                    ? f.kv_as<std::string>(key("rope.scaling.type"))
                                    : std::string("none");
    j["rope_scaling"] = nullptr;
    if (scaling == "linear") {
      j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", d(f, key("rope.scaling.factor"))}};
    } else if (scaling == "yarn") {
      json y = {{"rope_type", "yarn"},
                {"factor", d(f, key("rope.scaling.factor"))},
                {"beta_fast", 32.0},
                {"beta_slow", 1.0}};
      const int64_t orig = u_or(f, key("rope.scaling.original_context_length"),
                                j["max_position_embeddings"].get<int64_t>());
      if (orig != j["max_position_embeddings"].get<int64_t>())
        y["original_max_position_embeddings"] = orig;
      j["rope_scaling"] = y;
    } else {
      ILM_CHECK(scaling == "none" || scaling.empty(),
                "{}: {} \"{}\" is not read (supported: none, linear, yarn)", f.path().string(),
                key("rope.scaling.type"), scaling);
    }
    return j;
  }
  if (arch == "falcon") {
    j["architectures"] = {"FalconForCausalLM"};
    j["model_type"] = "falcon";
    j["num_hidden_layers"] = u(f, key("block_count"));
    j["num_attention_heads"] = NH;
    j["hidden_size"] = C;
    j["ffn_hidden_size"] = u_or(f, key("feed_forward_length"), 4 * C);
    j["max_position_embeddings"] = u(f, key("context_length"));
    j["layer_norm_epsilon"] = d(f, key("attention.layer_norm_epsilon"));
    j["rope_theta"] = d_or(f, key("rope.freq_base"), 10000.0);
    j["rope_scaling"] = nullptr;
    j["bias"] = false;
    j["alibi"] = false;
    j["parallel_attn"] = true;
    const int64_t kv = u_or(f, key("attention.head_count_kv"), 1);
    // Two norms (ln_attn, ln_mlp) or grouped key/value heads: the new decoder architecture,
    // whose fused q/k/v is grouped per key/value head (with one head per group, the old
    // interleaved layout); otherwise 7B-style multi-query.
    const bool two_norms = f.has_tensor("blk.0.attn_norm_2.weight");
    const bool new_arch = two_norms || kv > 1;
    j["new_decoder_architecture"] = new_arch;
    j["multi_query"] = kv == 1;
    if (new_arch) {
      j["num_kv_heads"] = kv;
      j["num_ln_in_parallel_attn"] = two_norms ? 2 : 1;
    }
    return j;
  }
  // bert: the encoder (llama.cpp's bert has no heads).
  j["architectures"] = {"BertModel"};
  j["model_type"] = "bert";
  j["num_hidden_layers"] = u(f, key("block_count"));
  j["num_attention_heads"] = NH;
  j["hidden_size"] = C;
  j["intermediate_size"] = u(f, key("feed_forward_length"));
  j["max_position_embeddings"] = u(f, key("context_length"));
  j["layer_norm_eps"] = d(f, key("attention.layer_norm_epsilon"));
  j["hidden_act"] = "gelu";
  j["type_vocab_size"] =
      f.has_tensor("token_types.weight") ? f.tensor("token_types.weight").shape[0] : 2;
  return j;
}

// ---- tokenizers ----------------------------------------------------------------------------

namespace {

template <typename T>
const std::vector<T>* optional_array(const GgufFile& f, std::string_view key) {
  return f.has_kv(key) ? &f.kv_as<std::vector<T>>(key) : nullptr;
}

std::unique_ptr<Tokenizer> bpe_tokenizer(const GgufFile& f) {
  const auto& tokens = f.kv_as<std::vector<std::string>>("tokenizer.ggml.tokens");
  const auto& merges = f.kv_as<std::vector<std::string>>("tokenizer.ggml.merges");
  const auto* types = optional_array<int32_t>(f, "tokenizer.ggml.token_type");
  const std::string pre = f.has_kv("tokenizer.ggml.pre")
                              ? f.kv_as<std::string>("tokenizer.ggml.pre")
                              : std::string("gpt-2");
  json pre_tokenizer;
  if (pre == "gpt-2" || pre == "default") {
    pre_tokenizer = {{"type", "ByteLevel"},
                     {"add_prefix_space", false},
                     {"trim_offsets", true},
                     {"use_regex", true}};
  } else if (pre == "llama-bpe" || pre == "gpt-4o") {
    const std::string regex =
        Pretokenizer::get(pre == "llama-bpe" ? "cl100k_base" : "o200k_base").pattern();
    pre_tokenizer = {{"type", "Sequence"},
                     {"pretokenizers",
                      {{{"type", "Split"},
                        {"pattern", {{"Regex", regex}}},
                        {"behavior", "Isolated"},
                        {"invert", false}},
                       {{"type", "ByteLevel"},
                        {"add_prefix_space", false},
                        {"trim_offsets", true},
                        {"use_regex", false}}}}};
  } else {
    fail("{}: tokenizer.ggml.pre \"{}\" is not read (supported: gpt-2, llama-bpe, gpt-4o)",
         f.path().string(), pre);
  }
  json vocab = json::object(), added = json::array();
  for (size_t id = 0; id < tokens.size(); ++id) {
    const int32_t type = types && id < types->size() ? (*types)[id] : 1;
    if (type == int32_t(GgufTokenType::unused)) continue;
    if (type == int32_t(GgufTokenType::control) || type == int32_t(GgufTokenType::user_defined))
      added.push_back({{"id", id},
                       {"content", tokens[id]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", type == int32_t(GgufTokenType::control)}});
    vocab[tokens[id]] = id;
  }
  // add_bos_token (Llama 3's files): the model sees BOS before the text, as its
  // tokenizer.json's TemplateProcessing puts it.
  json post = nullptr;
  const bool add_bos =
      f.has_kv("tokenizer.ggml.add_bos_token") && f.kv_as<bool>("tokenizer.ggml.add_bos_token");
  if (add_bos && f.has_kv("tokenizer.ggml.bos_token_id")) {
    const uint64_t bos = f.kv("tokenizer.ggml.bos_token_id").to_u64();
    ILM_CHECK(bos < tokens.size(), "{}: tokenizer.ggml.bos_token_id = {} is past the {} tokens",
              f.path().string(), bos, tokens.size());
    const std::string& name = tokens[bos];
    auto item = [](const char* kind, const std::string& id, int type) {
      return json{{kind, {{"id", id}, {"type_id", type}}}};
    };
    post = {{"type", "TemplateProcessing"},
            {"single", {item("SpecialToken", name, 0), item("Sequence", "A", 0)}},
            {"pair",
             {item("SpecialToken", name, 0), item("Sequence", "A", 0),
              item("SpecialToken", name, 1), item("Sequence", "B", 1)}},
            {"special_tokens", {{name, {{"id", name}, {"ids", {bos}}, {"tokens", {name}}}}}}};
  }
  json j = {{"version", "1.0"},
            {"truncation", nullptr},
            {"padding", nullptr},
            {"added_tokens", added},
            {"normalizer", nullptr},
            {"pre_tokenizer", pre_tokenizer},
            {"post_processor", post},
            {"decoder",
             {{"type", "ByteLevel"},
              {"add_prefix_space", true},
              {"trim_offsets", true},
              {"use_regex", true}}},
            {"model",
             {{"type", "BPE"},
              {"dropout", nullptr},
              {"unk_token", nullptr},
              {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr},
              {"fuse_unk", false},
              {"byte_fallback", false},
              {"vocab", vocab},
              {"merges", merges}}}};
  return load_hf_tokenizer(j, f.path().string() + " (tokenizer.ggml.*)");
}

// Protocol buffer encoding of sentencepiece.ModelProto, the fields its loader reads.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(char(v));
}
void put_tag(std::string& out, uint32_t field, uint32_t wire) {
  put_varint(out, (field << 3) | wire);
}
void put_bytes(std::string& out, uint32_t field, std::string_view s) {
  put_tag(out, field, 2);
  put_varint(out, s.size());
  out.append(s);
}
void put_bool(std::string& out, uint32_t field, bool b) {
  put_tag(out, field, 0);
  put_varint(out, b ? 1 : 0);
}

std::unique_ptr<Tokenizer> sentencepiece_tokenizer(const GgufFile& f) {
  const auto& tokens = f.kv_as<std::vector<std::string>>("tokenizer.ggml.tokens");
  const auto& scores = f.kv_as<std::vector<float>>("tokenizer.ggml.scores");
  const auto& types = f.kv_as<std::vector<int32_t>>("tokenizer.ggml.token_type");
  ILM_CHECK(scores.size() == tokens.size() && types.size() == tokens.size(),
            "{}: tokenizer.ggml.tokens ({}), scores ({}) and token_type ({}) differ in length",
            f.path().string(), tokens.size(), scores.size(), types.size());
  std::string proto;
  bool bytes = false;
  for (size_t id = 0; id < tokens.size(); ++id) {
    const int32_t type = types[id];
    ILM_CHECK(type >= 1 && type <= 6, "{}: tokenizer.ggml.token_type[{}] = {} is not 1 to 6",
              f.path().string(), id, type);
    bytes |= type == int32_t(GgufTokenType::byte);
    std::string piece;
    put_bytes(piece, 1, tokens[id]);
    put_tag(piece, 2, 5);
    uint32_t bits;
    std::memcpy(&bits, &scores[id], 4);
    for (int b = 0; b < 4; ++b) piece.push_back(char((bits >> (8 * b)) & 0xff));
    put_tag(piece, 3, 0);
    put_varint(piece, uint64_t(type));  // sentencepiece's Type numbers are GGUF's
    put_bytes(proto, 1, piece);
  }
  std::string trainer;
  put_tag(trainer, 3, 0);
  put_varint(trainer, 2);  // BPE: merges by score, as llama.cpp's SentencePiece tokenizer
  put_bool(trainer, 35, bytes);
  // SentencePiece finds <unk>, <s> and </s> by piece (TrainerSpec unk_piece 45, bos_piece 46,
  // eos_piece 47): name the pieces at the file's ids.
  auto piece_of = [&](std::string_view key, uint32_t field) {
    if (!f.has_kv(key)) return;
    const uint64_t id = f.kv(key).to_u64();
    ILM_CHECK(id < tokens.size(), "{}: {} = {} is past the {} tokens", f.path().string(), key, id,
              tokens.size());
    put_bytes(trainer, field, tokens[id]);
  };
  piece_of("tokenizer.ggml.unknown_token_id", 45);
  piece_of("tokenizer.ggml.bos_token_id", 46);
  piece_of("tokenizer.ggml.eos_token_id", 47);
  put_bytes(proto, 2, trainer);
  std::string normalizer;
  put_bytes(normalizer, 1, "identity");
  put_bool(normalizer, 3,
           f.has_kv("tokenizer.ggml.add_space_prefix")
               ? f.kv_as<bool>("tokenizer.ggml.add_space_prefix")
               : true);
  put_bool(normalizer, 4, false);
  put_bool(normalizer, 5, true);
  put_bytes(proto, 3, normalizer);
  return SentencePieceTokenizer::from_serialized(proto, f.path().string() + " (tokenizer.ggml.*)");
}

std::unique_ptr<Tokenizer> wordpiece_tokenizer(const GgufFile& f) {
  const auto& tokens = f.kv_as<std::vector<std::string>>("tokenizer.ggml.tokens");
  const std::string_view word_start = "\xE2\x96\x81";  // U+2581
  std::vector<std::string> vocab;
  for (const std::string& t : tokens) {
    const bool bracketed = t.size() >= 2 && t.front() == '[' && t.back() == ']';
    if (bracketed)
      vocab.push_back(t);
    else if (t.starts_with(word_start))
      vocab.push_back(t.substr(word_start.size()));
    else
      vocab.push_back("##" + t);
  }
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), WordPieceOptions{},
                                              f.path().string() + " (tokenizer.ggml.*)");
}

}  // namespace

std::unique_ptr<Tokenizer> gguf_tokenizer(const GgufFile& f) {
  if (!f.has_kv("tokenizer.ggml.model")) return nullptr;
  const std::string model = f.kv_as<std::string>("tokenizer.ggml.model");
  try {
    if (model == "gpt2") return bpe_tokenizer(f);
    if (model == "llama") return sentencepiece_tokenizer(f);
    if (model == "bert") return wordpiece_tokenizer(f);
  } catch (const Error& e) {
    throw e.with_context(fmt::format("{}: tokenizer.ggml.model \"{}\"", f.path().string(), model));
  }
  fail("{}: tokenizer.ggml.model \"{}\" is not read (supported: gpt2, llama, bert)",
       f.path().string(), model);
}

// ---- the model -----------------------------------------------------------------------------

GgufModel load_gguf_model(const fs::path& path, ParamStorage storage) {
  auto file = std::make_shared<const GgufFile>(GgufFile::open(path));
  const GgufFile& f = *file;
  GgufModel out;
  out.hf_config = gguf_hf_config(f);
  const std::string arch = f.kv_as<std::string>("general.architecture");
  const TransformerConfig config = config_from_hf(out.hf_config, path.string());
  const GgufHeads heads{config.n_head,
                        config.fused_qkv == "interleaved" ? config.n_head : config.kv_heads()};

  // GGUF name -> (Hugging Face name, layout change), from the export's tables.
  struct Source {
    std::string hf;
    GgufTensorTransform transform;
  };
  std::map<std::string, Source> by_gguf;
  for (const WeightMapping& m : hf_weight_mappings(config)) {
    std::optional<GgufTensorMapping> g;
    try {
      g = gguf_tensor_mapping(arch, m.hf);
    } catch (const Error&) {
      continue;  // a head llama.cpp's architecture does not have
    }
    if (g) by_gguf[g->name] = {m.hf, g->transform};
  }
  std::map<std::string, const GgufTensorInfo*> by_hf;
  std::vector<std::string> unexpected;
  for (const GgufTensorInfo& t : f.tensors()) {
    auto it = by_gguf.find(t.name);
    if (it != by_gguf.end()) {
      by_hf[it->second.hf] = &t;
      continue;
    }
    if (t.name == "output.weight" && config.tie_embeddings) continue;  // the tied head's copy
    if (t.name == "rope_freqs.weight") continue;  // read as the config's LLaMA-3 scaling
    // Zero biases written for llama.cpp's gpt2 / bert where the model has none.
    if (t.name.ends_with(".bias")) {
      const std::vector<float> v = f.read_f32(t);
      if (std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; })) continue;
    }
    unexpected.push_back(t.name);
  }
  ILM_CHECK(unexpected.empty(), "{}: tensors with no place in the {} model: {}", path.string(),
            arch, fmt::join(unexpected, ", "));

  auto model = std::make_unique<Transformer>(config, storage);
  std::vector<std::string> names;
  for (const auto& [hf, info] : by_hf) names.push_back(hf);
  try {
    load_hf_weights(*model, names, [&](const std::string& hf) -> std::optional<Tensor> {
      auto it = by_hf.find(hf);
      if (it == by_hf.end()) return std::nullopt;
      const GgufTensorInfo& t = *it->second;
      const GgufTensorTransform transform = by_gguf.at(t.name).transform;
      Shape shape;
      std::vector<int64_t> dims = t.shape;
      const bool plain = t.type == uint32_t(GgmlType::f32) || t.type == uint32_t(GgmlType::f16) ||
                         t.type == uint32_t(GgmlType::bf16);
      if (transform == GgufTensorTransform::none && plain) {
        const DType dtype = t.type == uint32_t(GgmlType::f32)   ? DType::f32
                            : t.type == uint32_t(GgmlType::f16) ? DType::f16
                                                                : DType::bf16;
        // A view of the map; the GgufFile (and its map) lives as long as the tensor.
        void* data = const_cast<uint8_t*>(f.raw(t).data());
        return Tensor::wrap(data, Shape(dims), dtype,
                            std::shared_ptr<void>(std::const_pointer_cast<GgufFile>(file)));
      }
      if (!plain && t.type != uint32_t(GgmlType::q8_0))
        fail("tensor {} is {}: ilm reads F32, F16, BF16 and Q8_0 (dequantized to f32)", t.name,
             ggml_type_name(t.type));
      const std::vector<float> values = f.read_f32(t);
      auto back = std::make_shared<std::vector<float>>();
      dims = gguf_undo_transform(transform, values.data(), t.shape, heads, *back);
      return Tensor::wrap(back->data(), Shape(dims), DType::f32, back);
    });
  } catch (const Error& e) {
    throw e.with_context(path.string());
  }
  out.model = std::move(model);
  try {
    out.tokenizer = gguf_tokenizer(f);
    if (!out.tokenizer) out.notes.push_back("the file has no tokenizer (tokenizer.ggml.model)");
  } catch (const Error& e) {
    out.notes.push_back(fmt::format("no tokenizer: {}", e.what()));
  }
  return out;
}

}  // namespace ilm
