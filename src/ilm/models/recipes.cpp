#include "ilm/models/recipes.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

#include "ilm/core/error.h"
#include "ilm/io/file.h"
#include "ilm/io/safetensors_index.h"
#include "ilm/kernels/cpu/half_weights.h"
#include "ilm/tokenizer/registry.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ilm {
namespace {

const std::map<std::string, std::string>& architecture_recipes() {
  static const std::map<std::string, std::string> m = {
      {"GPT2LMHeadModel", "gpt2"},          {"GPT2Model", "gpt2"},
      {"LlamaForCausalLM", "llama"},        {"MistralForCausalLM", "mistral"},
      {"FalconForCausalLM", "falcon"},      {"RWForCausalLM", "falcon"},
      {"BertModel", "bert"},                {"BertForMaskedLM", "bert"},
      {"BertForSequenceClassification", "bert"}};
  return m;
}

// Reads typed fields of config.json with defaults; errors name the file and field.
struct Fields {
  const json& j;
  const std::string& source;

  bool has(const char* k) const { return j.contains(k) && !j[k].is_null(); }
  int i(const char* k, std::optional<int> dflt = std::nullopt) const {
    if (!has(k)) {
      if (dflt) return *dflt;
      fail("{}: config.json has no '{}'", source, k);
    }
    if (!j[k].is_number_integer()) fail("{}: '{}' must be an integer, got {}", source, k, j[k].dump());
    return j[k].get<int>();
  }
  double f(const char* k, double dflt) const {
    if (!has(k)) return dflt;
    if (!j[k].is_number()) fail("{}: '{}' must be a number, got {}", source, k, j[k].dump());
    return j[k].get<double>();
  }
  bool b(const char* k, bool dflt) const {
    if (!has(k)) return dflt;
    if (!j[k].is_boolean()) fail("{}: '{}' must be true or false, got {}", source, k, j[k].dump());
    return j[k].get<bool>();
  }
  std::string s(const char* k, const std::string& dflt) const {
    if (!has(k)) return dflt;
    if (!j[k].is_string()) fail("{}: '{}' must be a string, got {}", source, k, j[k].dump());
    return j[k].get<std::string>();
  }
  // The first of several names a field has had across versions.
  int i_any(std::initializer_list<const char*> ks, std::optional<int> dflt = std::nullopt) const {
    for (const char* k : ks)
      if (has(k)) return i(k);
    if (dflt) return *dflt;
    fail("{}: config.json has none of {}", source, json(std::vector<std::string>(ks.begin(), ks.end())).dump());
  }
};

void read_rope_scaling(const Fields& f, TransformerConfig& c) {
  c.rope.theta = static_cast<float>(f.f("rope_theta", 10000.0));
  if (!f.has("rope_scaling")) return;
  const json& r = f.j["rope_scaling"];
  if (!r.is_object()) fail("{}: 'rope_scaling' must be an object, got {}", f.source, r.dump());
  const Fields rf{r, f.source};
  std::string type = rf.s("rope_type", rf.s("type", "default"));
  if (type != "default" && type != "linear" && type != "dynamic" && type != "llama3" &&
      type != "yarn")
    fail("{}: rope_scaling type '{}' is not supported (supported: {})", f.source, type,
         rope_scaling_types());
  c.rope.scaling = type;
  c.rope.factor = static_cast<float>(rf.f("factor", 1.0));
  c.rope.low_freq_factor = static_cast<float>(rf.f("low_freq_factor", 1.0));
  c.rope.high_freq_factor = static_cast<float>(rf.f("high_freq_factor", 4.0));
  c.rope.original_max_positions = rf.i("original_max_position_embeddings", c.max_positions);
  if (type == "yarn") {
    // HF's _compute_yarn_parameters: a given original_max_position_embeddings replaces factor
    // by max_position_embeddings / original (DeepSeek-V3's convention); beta_fast/beta_slow
    // default to 32/1 (also when 0); mscale/mscale_all_dim count only when both are nonzero.
    if (!rf.has("factor")) fail("{}: rope_scaling of type yarn needs 'factor'", f.source);
    if (rf.has("original_max_position_embeddings")) {
      if (c.rope.original_max_positions < 1)
        fail("{}: rope_scaling original_max_position_embeddings = {} must be at least 1", f.source,
             c.rope.original_max_positions);
      c.rope.factor = static_cast<float>(double(c.max_positions) / c.rope.original_max_positions);
    }
    auto or_default = [&](const char* k, double d) {
      const double v = rf.f(k, 0.0);
      return static_cast<float>(v != 0.0 ? v : d);
    };
    c.rope.beta_fast = or_default("beta_fast", 32.0);
    c.rope.beta_slow = or_default("beta_slow", 1.0);
    c.rope.attention_factor = static_cast<float>(rf.f("attention_factor", 0.0));
    if (rf.has("attention_factor") && c.rope.attention_factor <= 0.0f)
      fail("{}: rope_scaling attention_factor = {} must be positive", f.source,
           c.rope.attention_factor);
    c.rope.mscale = static_cast<float>(rf.f("mscale", 0.0));
    c.rope.mscale_all_dim = static_cast<float>(rf.f("mscale_all_dim", 0.0));
    c.rope.truncate = rf.b("truncate", true);
  }
}

std::string architecture_of(const json& j, const std::string& source) {
  std::string names;
  for (const auto& [k, v] : architecture_recipes()) names += (names.empty() ? "" : ", ") + k;
  if (!j.contains("architectures") || !j["architectures"].is_array() || j["architectures"].empty())
    fail("{}: config.json has no 'architectures' list; ilm reads {}", source, names);
  const std::string a = j["architectures"][0].is_string() ? j["architectures"][0].get<std::string>() : "";
  if (!architecture_recipes().count(a))
    fail("{}: architecture '{}' is not supported; ilm reads {}", source, a, names);
  return a;
}

// Row indices of a fused q/k/v matrix, per part, in our order. `block` rows per head.
struct QkvRows {
  std::vector<int64_t> q, k, v;
};

QkvRows fused_rows(const TransformerConfig& c, const std::string& layout) {
  const int64_t HS = c.hs(), NH = c.n_head, NKV = c.kv_heads();
  QkvRows r;
  auto head = [&](std::vector<int64_t>& out, int64_t first_row) {
    for (int64_t i = 0; i < HS; ++i) out.push_back(first_row + i);
  };
  if (layout == "concat") {  // [q | k | v] (GPT-2's c_attn, Falcon-7B's multi-query)
    for (int64_t h = 0; h < NH; ++h) head(r.q, h * HS);
    for (int64_t h = 0; h < NKV; ++h) head(r.k, (NH + h) * HS);
    for (int64_t h = 0; h < NKV; ++h) head(r.v, (NH + NKV + h) * HS);
  } else if (layout == "grouped") {  // per kv group: its q heads, then k, then v (Falcon new architecture)
    const int64_t g = NH / NKV;
    for (int64_t kv = 0; kv < NKV; ++kv) {
      for (int64_t j = 0; j < g; ++j) head(r.q, (kv * (g + 2) + j) * HS);
      head(r.k, (kv * (g + 2) + g) * HS);
      head(r.v, (kv * (g + 2) + g + 1) * HS);
    }
  } else {  // "interleaved": per head q, k, v (Falcon without multi-query)
    for (int64_t h = 0; h < NH; ++h) {
      head(r.q, (3 * h) * HS);
      head(r.k, (3 * h + 1) * HS);
      head(r.v, (3 * h + 2) * HS);
    }
  }
  return r;
}

}  // namespace

const std::vector<std::string>& supported_hf_architectures() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [k, v] : architecture_recipes()) n.push_back(k);
    return n;
  }();
  return names;
}

void Gpt2Spec::validate() const {
  ILM_CHECK(n_layer >= 1, "model.n_layer must be at least 1, got {}", n_layer);
  ILM_CHECK(n_head >= 1, "model.n_head must be at least 1, got {}", n_head);
  ILM_CHECK(n_embd >= 1, "model.n_embd must be at least 1, got {}", n_embd);
  ILM_CHECK(n_embd % n_head == 0, "model.n_embd ({}) must be divisible by model.n_head ({})",
            n_embd, n_head);
  ILM_CHECK(block_size >= 1, "model.block_size must be at least 1, got {}", block_size);
  ILM_CHECK(vocab_size >= 1, "model.vocab_size must be at least 1, got {}", vocab_size);
  ILM_CHECK(dropout >= 0.0f && dropout < 1.0f, "model.dropout must be in [0, 1), got {}", dropout);
  ILM_CHECK(activation == "gelu_tanh" || activation == "gelu",
            "model.activation must be 'gelu_tanh' or 'gelu', got '{}'", activation);
}

TransformerConfig gpt2_config(const Gpt2Spec& spec) {
  spec.validate();
  TransformerConfig c;
  c.arch = "gpt2";
  c.n_layer = spec.n_layer;
  c.n_head = spec.n_head;
  c.n_embd = spec.n_embd;
  c.max_positions = spec.block_size;
  c.vocab_size = spec.vocab_size;
  c.fused_qkv = "concat";
  c.qkv_bias = c.attn_out_bias = c.mlp_bias = c.norm_bias = spec.bias;
  c.mlp = spec.activation == "gelu" ? MlpKind::gelu : MlpKind::gelu_tanh;
  c.dropout = spec.dropout;
  return c;
}

TransformerConfig config_from_hf(const json& j, const std::string& source) {
  if (!j.is_object()) fail("{}: config.json must be an object", source);
  const std::string architecture = architecture_of(j, source);
  const std::string recipe = architecture_recipes().at(architecture);
  const Fields f{j, source};
  TransformerConfig c;
  c.arch = recipe;
  c.vocab_size = f.i("vocab_size");
  c.tie_embeddings = f.b("tie_word_embeddings", true);
  if (recipe == "gpt2") {
    c.n_layer = f.i("n_layer");
    c.n_head = f.i("n_head");
    c.n_embd = f.i("n_embd");
    c.max_positions = f.i_any({"n_positions", "n_ctx"});
    c.fused_qkv = "concat";
    c.intermediate = f.i("n_inner", 0);
    c.norm_eps = static_cast<float>(f.f("layer_norm_epsilon", 1e-5));
    // Not GPT2Config's: ilm writes "bias": false for a GPT-2 trained without biases.
    c.qkv_bias = c.attn_out_bias = c.mlp_bias = c.norm_bias = f.b("bias", true);
    const std::string act = f.s("activation_function", "gelu_new");
    if (act == "gelu_new" || act == "gelu_pytorch_tanh") {
      c.mlp = MlpKind::gelu_tanh;
    } else if (act == "gelu") {
      c.mlp = MlpKind::gelu;
    } else {
      fail("{}: activation_function '{}' is not supported (gelu_new, gelu_pytorch_tanh, gelu)", source, act);
    }
  } else if (recipe == "llama" || recipe == "mistral") {
    c.n_layer = f.i("num_hidden_layers");
    c.n_head = f.i("num_attention_heads");
    c.n_kv_head = f.i("num_key_value_heads", c.n_head);
    c.n_embd = f.i("hidden_size");
    c.head_dim = f.i("head_dim", 0);
    c.intermediate = f.i("intermediate_size");
    c.max_positions = f.i("max_position_embeddings", 2048);
    c.norm = NormKind::rmsnorm;
    c.norm_eps = static_cast<float>(f.f("rms_norm_eps", 1e-6));
    c.position = PositionKind::rope;
    read_rope_scaling(f, c);
    c.mlp = MlpKind::swiglu;
    const std::string act = f.s("hidden_act", "silu");
    if (act != "silu") fail("{}: hidden_act '{}' is not supported (silu)", source, act);
    c.qkv_bias = c.attn_out_bias = f.b("attention_bias", false);
    c.mlp_bias = f.b("mlp_bias", false);
    c.norm_bias = false;
    c.tie_embeddings = f.b("tie_word_embeddings", false);
    if (recipe == "mistral") c.sliding_window = f.i("sliding_window", 0);
  } else if (recipe == "falcon") {
    const bool alibi = f.b("alibi", false);
    c.n_layer = f.i_any({"num_hidden_layers", "n_layer"});
    c.n_head = f.i_any({"num_attention_heads", "n_head"});
    c.n_embd = f.i("hidden_size");
    const bool new_arch = f.b("new_decoder_architecture", false);
    const bool multi_query = f.b("multi_query", true);
    c.n_kv_head = new_arch ? f.i_any({"num_kv_heads", "n_head_kv"}, c.n_head) : multi_query ? 1 : c.n_head;
    c.fused_qkv = new_arch ? "grouped" : multi_query ? "concat" : "interleaved";
    c.intermediate = f.i("ffn_hidden_size", 4 * c.n_embd);
    c.max_positions = f.i("max_position_embeddings", 2048);
    c.norm_eps = static_cast<float>(f.f("layer_norm_epsilon", 1e-5));
    if (alibi) {
      // FalconConfig refuses rope_scaling with alibi (_rope_scaling_validation); rope_theta
      // is simply unused there.
      if (f.has("rope_scaling"))
        fail(
            "{}: 'rope_scaling' is set but 'alibi' is true: Falcon with ALiBi has no rotary "
            "positions to scale",
            source);
      c.position = PositionKind::alibi;
    } else {
      c.position = PositionKind::rope;
      read_rope_scaling(f, c);
    }
    c.mlp = MlpKind::gelu;
    const bool bias = f.b("bias", false);
    c.qkv_bias = c.attn_out_bias = c.mlp_bias = bias;
    if (f.b("parallel_attn", true)) {
      c.wiring = Wiring::parallel;
      c.parallel_norms = new_arch ? f.i("num_ln_in_parallel_attn", 2) : 1;
    }
  } else {  // bert
    c.n_layer = f.i("num_hidden_layers");
    c.n_head = f.i("num_attention_heads");
    c.n_embd = f.i("hidden_size");
    c.intermediate = f.i("intermediate_size");
    c.max_positions = f.i("max_position_embeddings", 512);
    c.type_vocab_size = f.i("type_vocab_size", 2);
    c.norm_eps = static_cast<float>(f.f("layer_norm_eps", 1e-12));
    c.causal = false;
    c.wiring = Wiring::post_norm;
    c.embedding_norm = true;
    const std::string act = f.s("hidden_act", "gelu");
    if (act == "gelu") {
      c.mlp = MlpKind::gelu;
    } else if (act == "gelu_new") {
      c.mlp = MlpKind::gelu_tanh;
    } else {
      fail("{}: hidden_act '{}' is not supported (gelu, gelu_new)", source, act);
    }
    const std::string pos = f.s("position_embedding_type", "absolute");
    if (pos != "absolute") fail("{}: position_embedding_type '{}' is not supported (absolute)", source, pos);
    if (architecture == "BertModel") {
      c.head = HeadKind::none;
    } else if (architecture == "BertForMaskedLM") {
      c.head = HeadKind::masked_lm;
    } else {
      c.head = HeadKind::classification;
      c.num_labels = j.contains("id2label") && j["id2label"].is_object()
                         ? static_cast<int>(j["id2label"].size())
                         : f.i("num_labels", 2);
    }
  }
  c.validate();
  return c;
}

namespace {
// A float as the decimal a person wrote (1e-05), not its widening to double (9.99999974e-06).
double written(float f) { return std::stod(fmt::format("{}", f)); }
}  // namespace

json hf_config_from(const TransformerConfig& c) {
  json j;
  j["vocab_size"] = c.vocab_size;
  j["torch_dtype"] = "float32";
  j["tie_word_embeddings"] = c.tie_embeddings;
  auto rope = [&] {
    j["rope_theta"] = written(c.rope.theta);
    if (!c.rope.scaling.empty() && c.rope.scaling != "default" && c.rope.scaling != "none") {
      j["rope_scaling"] = {{"rope_type", c.rope.scaling}, {"factor", written(c.rope.factor)}};
      if (c.rope.scaling == "llama3") {
        j["rope_scaling"]["low_freq_factor"] = written(c.rope.low_freq_factor);
        j["rope_scaling"]["high_freq_factor"] = written(c.rope.high_freq_factor);
        j["rope_scaling"]["original_max_position_embeddings"] = c.rope.original_max_positions;
      }
      if (c.rope.scaling == "yarn") {
        json& y = j["rope_scaling"];
        // Read back, a written original_max_position_embeddings sets factor to
        // max_position_embeddings / it; without it the original is max_position_embeddings.
        if (c.rope.original_max_positions != c.max_positions)
          y["original_max_position_embeddings"] = c.rope.original_max_positions;
        y["beta_fast"] = written(c.rope.beta_fast);
        y["beta_slow"] = written(c.rope.beta_slow);
        if (c.rope.attention_factor > 0.0f)
          y["attention_factor"] = written(c.rope.attention_factor);
        if (c.rope.mscale != 0.0f) y["mscale"] = written(c.rope.mscale);
        if (c.rope.mscale_all_dim != 0.0f) y["mscale_all_dim"] = written(c.rope.mscale_all_dim);
        if (!c.rope.truncate) y["truncate"] = false;
      }
    } else {
      j["rope_scaling"] = nullptr;
    }
  };
  if (c.arch == "gpt2") {
    j["architectures"] = {"GPT2LMHeadModel"};
    j["model_type"] = "gpt2";
    j["n_layer"] = c.n_layer;
    j["n_head"] = c.n_head;
    j["n_embd"] = c.n_embd;
    j["n_positions"] = c.max_positions;
    j["n_ctx"] = c.max_positions;
    j["n_inner"] = c.intermediate > 0 ? json(c.intermediate) : json(nullptr);
    j["layer_norm_epsilon"] = written(c.norm_eps);
    j["activation_function"] = c.mlp == MlpKind::gelu ? "gelu" : "gelu_new";
    if (!c.qkv_bias) j["bias"] = false;
  } else if (c.arch == "llama" || c.arch == "mistral") {
    j["architectures"] = {c.arch == "llama" ? "LlamaForCausalLM" : "MistralForCausalLM"};
    j["model_type"] = c.arch;
    j["num_hidden_layers"] = c.n_layer;
    j["num_attention_heads"] = c.n_head;
    j["num_key_value_heads"] = c.kv_heads();
    j["hidden_size"] = c.n_embd;
    if (c.head_dim > 0) j["head_dim"] = c.head_dim;
    j["intermediate_size"] = c.mlp_width();
    j["max_position_embeddings"] = c.max_positions;
    j["rms_norm_eps"] = written(c.norm_eps);
    j["hidden_act"] = "silu";
    j["attention_bias"] = c.qkv_bias;
    j["mlp_bias"] = c.mlp_bias;
    rope();
    if (c.arch == "mistral") j["sliding_window"] = c.sliding_window > 0 ? json(c.sliding_window) : json(nullptr);
  } else if (c.arch == "falcon") {
    j["architectures"] = {"FalconForCausalLM"};
    j["model_type"] = "falcon";
    j["num_hidden_layers"] = c.n_layer;
    j["num_attention_heads"] = c.n_head;
    j["hidden_size"] = c.n_embd;
    j["ffn_hidden_size"] = c.mlp_width();
    j["max_position_embeddings"] = c.max_positions;
    j["layer_norm_epsilon"] = written(c.norm_eps);
    const bool new_arch = c.fused_qkv == "grouped";
    j["new_decoder_architecture"] = new_arch;
    j["multi_query"] = c.kv_heads() == 1;
    if (new_arch) j["num_kv_heads"] = c.kv_heads();
    j["parallel_attn"] = c.wiring == Wiring::parallel;
    if (new_arch) j["num_ln_in_parallel_attn"] = c.parallel_norms;
    j["bias"] = c.qkv_bias;
    j["alibi"] = c.position == PositionKind::alibi;
    if (c.position != PositionKind::alibi) rope();
  } else {
    j["architectures"] = {c.head == HeadKind::masked_lm        ? "BertForMaskedLM"
                          : c.head == HeadKind::classification ? "BertForSequenceClassification"
                                                               : "BertModel"};
    j["model_type"] = "bert";
    j["num_hidden_layers"] = c.n_layer;
    j["num_attention_heads"] = c.n_head;
    j["hidden_size"] = c.n_embd;
    j["intermediate_size"] = c.mlp_width();
    j["max_position_embeddings"] = c.max_positions;
    j["type_vocab_size"] = c.type_vocab_size;
    j["layer_norm_eps"] = written(c.norm_eps);
    j["hidden_act"] = c.mlp == MlpKind::gelu ? "gelu" : "gelu_new";
    j["position_embedding_type"] = "absolute";
    if (c.head == HeadKind::classification) {
      json id2label = json::object(), label2id = json::object();
      for (int i = 0; i < c.num_labels; ++i) {
        id2label[std::to_string(i)] = "LABEL_" + std::to_string(i);
        label2id["LABEL_" + std::to_string(i)] = i;
      }
      j["id2label"] = id2label;
      j["label2id"] = label2id;
    }
  }
  return j;
}

std::vector<WeightMapping> hf_weight_mappings(const TransformerConfig& c) {
  std::vector<WeightMapping> m;
  auto copy = [&](std::string hf, std::string ours) {
    m.push_back({std::move(hf), {std::move(ours)}, WeightTransform::copy, {}});
  };
  auto transpose = [&](std::string hf, std::string ours) {
    m.push_back({std::move(hf), {std::move(ours)}, WeightTransform::transpose, {}});
  };
  auto split = [&](std::string hf, const std::string& ours_prefix, const std::string& suffix,
                   const QkvRows& rows, bool transposed) {
    m.push_back({std::move(hf),
                 {ours_prefix + "q." + suffix, ours_prefix + "k." + suffix, ours_prefix + "v." + suffix},
                 transposed ? WeightTransform::transpose_split_qkv : WeightTransform::split_qkv,
                 {rows.q, rows.k, rows.v}});
  };
  const bool ln_bias = c.norm == NormKind::layernorm && c.norm_bias;
  auto norm = [&](const std::string& hf, const std::string& ours) {
    copy(hf + ".weight", ours + ".weight");
    if (ln_bias) copy(hf + ".bias", ours + ".bias");
  };
  auto linear = [&](const std::string& hf, const std::string& ours, bool bias) {
    copy(hf + ".weight", ours + ".weight");
    if (bias) copy(hf + ".bias", ours + ".bias");
  };
  if (c.arch == "gpt2") {
    const QkvRows rows = fused_rows(c, "concat");
    copy("transformer.wte.weight", "embed.weight");
    copy("transformer.wpe.weight", "pos_embed.weight");
    for (int l = 0; l < c.n_layer; ++l) {
      const std::string hf = "transformer.h." + std::to_string(l) + ".";
      const std::string o = "layers." + std::to_string(l) + ".";
      norm(hf + "ln_1", o + "attn_norm");
      split(hf + "attn.c_attn.weight", o + "attn.", "weight", rows, true);
      if (c.qkv_bias) split(hf + "attn.c_attn.bias", o + "attn.", "bias", rows, false);
      transpose(hf + "attn.c_proj.weight", o + "attn.o.weight");
      if (c.attn_out_bias) copy(hf + "attn.c_proj.bias", o + "attn.o.bias");
      norm(hf + "ln_2", o + "mlp_norm");
      transpose(hf + "mlp.c_fc.weight", o + "mlp.up.weight");
      if (c.mlp_bias) copy(hf + "mlp.c_fc.bias", o + "mlp.up.bias");
      transpose(hf + "mlp.c_proj.weight", o + "mlp.down.weight");
      if (c.mlp_bias) copy(hf + "mlp.c_proj.bias", o + "mlp.down.bias");
    }
    norm("transformer.ln_f", "norm");
    if (!c.tie_embeddings) copy("lm_head.weight", "lm_head.weight");
  } else if (c.arch == "llama" || c.arch == "mistral") {
    copy("model.embed_tokens.weight", "embed.weight");
    for (int l = 0; l < c.n_layer; ++l) {
      const std::string hf = "model.layers." + std::to_string(l) + ".";
      const std::string o = "layers." + std::to_string(l) + ".";
      copy(hf + "input_layernorm.weight", o + "attn_norm.weight");
      for (const char* p : {"q", "k", "v"})
        linear(hf + "self_attn." + p + "_proj", o + "attn." + p, c.qkv_bias);
      linear(hf + "self_attn.o_proj", o + "attn.o", c.attn_out_bias);
      copy(hf + "post_attention_layernorm.weight", o + "mlp_norm.weight");
      linear(hf + "mlp.gate_proj", o + "mlp.gate", c.mlp_bias);
      linear(hf + "mlp.up_proj", o + "mlp.up", c.mlp_bias);
      linear(hf + "mlp.down_proj", o + "mlp.down", c.mlp_bias);
    }
    copy("model.norm.weight", "norm.weight");
    if (!c.tie_embeddings) copy("lm_head.weight", "lm_head.weight");
  } else if (c.arch == "falcon") {
    const QkvRows rows = fused_rows(c, c.fused_qkv);
    copy("transformer.word_embeddings.weight", "embed.weight");
    for (int l = 0; l < c.n_layer; ++l) {
      const std::string hf = "transformer.h." + std::to_string(l) + ".";
      const std::string o = "layers." + std::to_string(l) + ".";
      if (c.wiring == Wiring::parallel && c.parallel_norms == 2) {
        norm(hf + "ln_attn", o + "attn_norm");
        norm(hf + "ln_mlp", o + "mlp_norm");
      } else {
        norm(hf + "input_layernorm", o + "attn_norm");
        if (c.wiring != Wiring::parallel) norm(hf + "post_attention_layernorm", o + "mlp_norm");
      }
      split(hf + "self_attention.query_key_value.weight", o + "attn.", "weight", rows, false);
      if (c.qkv_bias) split(hf + "self_attention.query_key_value.bias", o + "attn.", "bias", rows, false);
      linear(hf + "self_attention.dense", o + "attn.o", c.attn_out_bias);
      linear(hf + "mlp.dense_h_to_4h", o + "mlp.up", c.mlp_bias);
      linear(hf + "mlp.dense_4h_to_h", o + "mlp.down", c.mlp_bias);
    }
    norm("transformer.ln_f", "norm");
    if (!c.tie_embeddings) copy("lm_head.weight", "lm_head.weight");
  } else {  // bert
    const std::string e = "bert.embeddings.";
    copy(e + "word_embeddings.weight", "embed.weight");
    copy(e + "position_embeddings.weight", "pos_embed.weight");
    copy(e + "token_type_embeddings.weight", "type_embed.weight");
    norm(e + "LayerNorm", "embed_norm");
    for (int l = 0; l < c.n_layer; ++l) {
      const std::string hf = "bert.encoder.layer." + std::to_string(l) + ".";
      const std::string o = "layers." + std::to_string(l) + ".";
      linear(hf + "attention.self.query", o + "attn.q", true);
      linear(hf + "attention.self.key", o + "attn.k", true);
      linear(hf + "attention.self.value", o + "attn.v", true);
      linear(hf + "attention.output.dense", o + "attn.o", true);
      norm(hf + "attention.output.LayerNorm", o + "attn_norm");
      linear(hf + "intermediate.dense", o + "mlp.up", true);
      linear(hf + "output.dense", o + "mlp.down", true);
      norm(hf + "output.LayerNorm", o + "mlp_norm");
    }
    if (c.head == HeadKind::masked_lm) {
      linear("cls.predictions.transform.dense", "mlm.dense", true);
      norm("cls.predictions.transform.LayerNorm", "mlm.norm");
      copy("cls.predictions.bias", "mlm.bias");
    }
    if (c.head == HeadKind::classification || c.pooler) linear("bert.pooler.dense", "pooler", true);
    if (c.head == HeadKind::classification) linear("classifier", "classifier", true);
  }
  return m;
}

bool hf_weight_ignorable(const TransformerConfig& c, const std::string& name) {
  auto ends = [&](const char* s) {
    const size_t n = std::char_traits<char>::length(s);
    return name.size() >= n && name.compare(name.size() - n, n, s) == 0;
  };
  if (ends("rotary_emb.inv_freq") || ends(".attn.bias") || ends(".attn.masked_bias") ||
      ends("position_ids"))
    return true;
  if (c.tie_embeddings && name == "lm_head.weight") return true;
  // A GPT-2 without biases: the zeros hf_state_dict writes.
  if (c.arch == "gpt2" && !c.qkv_bias && ends(".bias")) return true;
  if (c.arch == "bert") {
    // Heads this model does not have: NSP, the tied MLM decoder, a pooler without a classifier.
    if (name.rfind("cls.", 0) == 0 && c.head != HeadKind::masked_lm) return true;
    if (name == "cls.predictions.decoder.weight" || name == "cls.predictions.decoder.bias" ||
        name.rfind("cls.seq_relationship.", 0) == 0)
      return true;
    if (name.rfind("bert.pooler.", 0) == 0 && c.head != HeadKind::classification && !c.pooler)
      return true;
  }
  return false;
}

namespace {

// The name a Hub file uses for `canonical` may lack the prefix (GPT2Model, BertModel save
// without "transformer." / "bert.") or use BERT's old LayerNorm gamma/beta.
std::string canonical_name(const TransformerConfig& c, std::string name) {
  if (c.arch == "gpt2" && name.rfind("transformer.", 0) != 0 && name != "lm_head.weight")
    name = "transformer." + name;
  if (c.arch == "bert") {
    if (name.rfind("bert.", 0) != 0 && name.rfind("cls.", 0) != 0 && name.rfind("classifier.", 0) != 0)
      name = "bert." + name;
    auto swap_end = [&](const char* from, const char* to) {
      const std::string f = from;
      if (name.size() > f.size() && name.compare(name.size() - f.size(), f.size(), f) == 0 &&
          name.find("LayerNorm") != std::string::npos)
        name = name.substr(0, name.size() - f.size()) + to;
    };
    swap_end(".gamma", ".weight");
    swap_end(".beta", ".bias");
  }
  return name;
}

template <typename T>
void transpose_into(T* d, const T* s, int64_t R, int64_t C) {
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < C; ++j) d[j * R + i] = s[i * C + j];
}

// In its own dtype: a bf16 matrix stays bf16 (half the memory of a widened copy).
Tensor transposed(const Tensor& t) {
  const int64_t R = t.shape()[0], C = t.shape()[1];
  Tensor out = Tensor::zeros({C, R}, t.dtype());
  if (dtype_size(t.dtype()) == 2)
    transpose_into(static_cast<uint16_t*>(out.raw()), static_cast<const uint16_t*>(t.raw()), R, C);
  else
    transpose_into(out.f32(), t.f32(), R, C);
  return out;
}

Tensor as_f32(const Tensor& t) {
  if (t.dtype() == DType::f32) return t;
  Tensor out = Tensor::zeros(t.shape());
  cpu::widen_to_f32(out.f32(), t.raw(), t.dtype(), t.numel());
  return out;
}

bool consecutive(const std::vector<int64_t>& rows) {
  for (size_t i = 1; i < rows.size(); ++i)
    if (rows[i] != rows[0] + static_cast<int64_t>(i)) return false;
  return !rows.empty();
}

}  // namespace

void load_hf_weights(Transformer& model, const std::vector<std::string>& names, const TensorSource& get) {
  const TransformerConfig& c = model.config();
  std::map<std::string, std::string> actual;  // canonical -> as stored
  for (const std::string& n : names) actual[canonical_name(c, n)] = n;
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  ParamStore& ps = model.params();
  // Mapped: each parameter takes `src` itself (a view of the file, or the tensor a transpose or
  // conversion made) instead of a copy into the store's buffer.
  const bool mapped = ps.mapped();
  for (const WeightMapping& m : hf_weight_mappings(c)) {
    auto it = actual.find(m.hf);
    if (it == actual.end()) {
      missing.push_back(m.hf);
      continue;
    }
    used.insert(it->first);
    std::optional<Tensor> t = get(it->second);
    if (!t) {
      missing.push_back(m.hf);
      continue;
    }
    // Mapped loads keep 2-D bf16/f16 tensors as they are (ParamStore::set_value); everything
    // else computes in f32.
    Tensor src = *t;
    if (src.dtype() != DType::f32 && (!mapped || src.shape().ndim() != 2)) src = as_f32(src);
    if (m.transform == WeightTransform::transpose || m.transform == WeightTransform::transpose_split_qkv) {
      if (src.shape().ndim() != 2) {
        mismatched.push_back(fmt::format("{}: expected a matrix, found {}", it->second, src.shape().to_string()));
        continue;
      }
      src = transposed(src);
    }
    if (m.transform == WeightTransform::copy || m.transform == WeightTransform::transpose) {
      const Param& p = ps.get(m.ours[0]);
      if (src.shape() != p.shape) {
        mismatched.push_back(fmt::format("{}: expected shape {}, found {}", it->second,
                                         m.transform == WeightTransform::transpose
                                             ? Shape({p.shape[1], p.shape[0]}).to_string()
                                             : p.shape.to_string(),
                                         t->shape().to_string()));
        continue;
      }
      if (mapped) {
        ps.set_value(p.name, src);  // the file's bytes when stored f32/bf16/f16, else a copy
      } else {
        std::copy_n(src.f32(), src.numel(), p.var->value.f32());
      }
      continue;
    }
    // Split a fused q/k/v: rows of `src` into our three.
    const int64_t cols = src.shape().ndim() == 2 ? src.shape()[1] : 1;
    int64_t rows_total = 0;
    for (const auto& r : m.rows) rows_total += static_cast<int64_t>(r.size());
    if (src.shape()[0] != rows_total || (src.shape().ndim() == 2 && cols != ps.get(m.ours[0]).shape[1])) {
      mismatched.push_back(fmt::format("{}: expected {} fused rows of {}, found {}", it->second, rows_total,
                                       cols, t->shape().to_string()));
      continue;
    }
    for (size_t part = 0; part < 3; ++part) {
      const Param& p = ps.get(m.ours[part]);
      const std::vector<int64_t>& rows = m.rows[part];
      if (mapped && consecutive(rows)) {  // a row block of the fused matrix ("concat"): a view
        const int64_t first = rows.front(), n = static_cast<int64_t>(rows.size());
        ps.set_value(p.name, src.slice(first, first + n));
        continue;
      }
      // rows gathered: its own copy, in the source's dtype
      if (mapped) ps.set_value(p.name, Tensor::zeros(p.shape, src.dtype()));
      const size_t row_bytes = static_cast<size_t>(cols) * dtype_size(src.dtype());
      auto* dst = static_cast<uint8_t*>(p.var->value.raw());
      const auto* from = static_cast<const uint8_t*>(src.raw());
      for (size_t i = 0; i < rows.size(); ++i)
        std::memcpy(dst + i * row_bytes, from + static_cast<size_t>(rows[i]) * row_bytes,
                    row_bytes);
    }
  }
  // Mapped: a parameter no mapping names (none today) is zero, as in an owned store.
  if (mapped)
    for (const Param& p : ps.params())
      if (!p.var->value.defined()) ps.set_value(p.name, Tensor::zeros(p.shape));
  std::vector<std::string> unexpected;
  for (const auto& [canon, stored] : actual)
    if (!used.count(canon) && !hf_weight_ignorable(c, canon)) unexpected.push_back(stored);
  // A GPT-2 without biases is written with zero biases; other values would be lost.
  if (c.arch == "gpt2" && !c.qkv_bias) {
    for (const auto& [canon, stored] : actual) {
      if (used.count(canon) || !canon.ends_with(".bias") || canon.ends_with(".attn.bias")) continue;
      const std::optional<Tensor> t = get(stored);
      if (t && std::any_of(t->f32(), t->f32() + t->numel(), [](float v) { return v != 0.0f; }))
        mismatched.push_back(
            fmt::format("{}: nonzero, in a model without biases (\"bias\": false)", stored));
    }
  }
  if (missing.empty() && unexpected.empty() && mismatched.empty()) return;
  // One line (errors are one "error:" line), the first 12 names of each kind.
  std::string msg = fmt::format("[{}] the weights do not match the config:", c.arch);
  const char* sep = " ";
  auto list = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    msg += fmt::format("{}{} ({}): ", sep, what, v.size());
    for (size_t i = 0; i < std::min<size_t>(v.size(), 12); ++i) msg += (i ? ", " : "") + v[i];
    if (v.size() > 12) msg += fmt::format(" and {} more", v.size() - 12);
    sep = "; ";
  };
  list("missing", missing);
  list("unexpected", unexpected);
  list("wrong shape", mismatched);
  fail("{}", msg);
}

std::vector<std::pair<std::string, Tensor>> hf_state_dict(const Transformer& model) {
  std::vector<std::pair<std::string, Tensor>> out;
  const ParamStore& ps = model.params();
  for (const Param& p : ps.params())
    if (p.var->value.defined() && p.var->value.dtype() != DType::f32)
      fail(
          "[{}] '{}' is {} (a model loaded mapped for inference keeps half-precision weights as "
          "stored); writing weights needs a model loaded owned (f32)",
          model.config().arch, p.name, dtype_name(p.var->value.dtype()));
  for (const WeightMapping& m : hf_weight_mappings(model.config())) {
    const Tensor& first = ps.get(m.ours[0]).var->value;
    switch (m.transform) {
      case WeightTransform::copy:
        out.emplace_back(m.hf, first.clone());
        break;
      case WeightTransform::transpose:
        out.emplace_back(m.hf, transposed(first));
        break;
      case WeightTransform::split_qkv:
      case WeightTransform::transpose_split_qkv: {
        const int64_t cols = first.shape().ndim() == 2 ? first.shape()[1] : 1;
        int64_t rows_total = 0;
        for (const auto& r : m.rows) rows_total += static_cast<int64_t>(r.size());
        Tensor fused = cols == 1 && first.shape().ndim() == 1 ? Tensor::zeros({rows_total})
                                                              : Tensor::zeros({rows_total, cols});
        for (size_t part = 0; part < 3; ++part) {
          const float* src = ps.get(m.ours[part]).var->value.f32();
          for (size_t i = 0; i < m.rows[part].size(); ++i)
            std::copy_n(src + static_cast<int64_t>(i) * cols, cols, fused.f32() + m.rows[part][i] * cols);
        }
        out.emplace_back(m.hf, m.transform == WeightTransform::transpose_split_qkv ? transposed(fused) : fused);
        break;
      }
    }
  }
  const TransformerConfig& c = model.config();
  if (c.arch == "gpt2" && !c.qkv_bias) {  // GPT2LMHeadModel has biases: zeros compute the same
    const int64_t C = c.n_embd;
    for (int l = 0; l < c.n_layer; ++l) {
      const std::string h = "transformer.h." + std::to_string(l) + ".";
      for (const auto& [name, size] :
           std::vector<std::pair<const char*, int64_t>>{{"ln_1.bias", C},
                                                        {"attn.c_attn.bias", 3 * C},
                                                        {"attn.c_proj.bias", C},
                                                        {"ln_2.bias", C},
                                                        {"mlp.c_fc.bias", c.mlp_width()},
                                                        {"mlp.c_proj.bias", C}})
        out.emplace_back(h + name, Tensor::zeros({size}));
    }
    out.emplace_back("transformer.ln_f.bias", Tensor::zeros({C}));
  }
  return out;
}

HfModel load_hf_folder(const fs::path& folder, ParamStorage storage) {
  HfModel r;
  r.folder = folder;
  const fs::path cfg = folder / "config.json";
  if (!fs::exists(cfg)) fail("{}: no config.json: not a Hugging Face model folder", folder.string());
  try {
    r.config_json = json::parse(read_file(cfg));
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", cfg.string(), e.what());
  }
  TransformerConfig c = config_from_hf(r.config_json, cfg.string());
  // The weights: model.safetensors, or the shards its index lists.
  const SafetensorsIndex weights = SafetensorsIndex::open(folder);
  // A bare BertModel has a pooler unless it was saved without one (add_pooling_layer=False).
  if (c.arch == "bert" && c.head == HeadKind::none)
    c.pooler = weights.has("bert.pooler.dense.weight") || weights.has("pooler.dense.weight");
  r.model = std::make_unique<Transformer>(c, storage);
  if (storage == ParamStorage::mapped)
    for (const SafetensorsFile& shard : weights.shards()) r.weight_maps.push_back(shard.map());
  load_hf_weights(*r.model, weights.names(), [&](const std::string& name) -> std::optional<Tensor> {
    if (!weights.has(name)) return std::nullopt;
    // Mapped: bf16/f16 as stored (a view of the map); load_hf_weights keeps matrices so and
    // widens vectors. Owned: f32.
    const DType stored = weights.info(name).dtype;
    if (storage == ParamStorage::mapped && (stored == DType::bf16 || stored == DType::f16))
      return weights.get(name, stored);
    return weights.get(name, DType::f32);
  });
  // A folder of weights only has no tokenizer; a broken tokenizer file is an error.
  for (const char* f : {"tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt"}) {
    if (fs::exists(folder / f)) {
      r.tokenizer = resolve_tokenizer(folder.string());
      break;
    }
  }
  return r;
}

void save_hf_folder(const Transformer& model, const Tokenizer* tokenizer, const fs::path& folder,
                    int64_t max_shard_bytes, DType dtype) {
  ILM_CHECK(dtype == DType::f32 || dtype == DType::bf16 || dtype == DType::f16,
            "{}: weights are saved as F32, BF16 or F16, not {}", folder.string(), dtype_name(dtype));
  fs::create_directories(folder);
  const TransformerConfig& c = model.config();
  json cfg = hf_config_from(c);
  if (dtype != DType::f32) cfg["torch_dtype"] = dtype == DType::bf16 ? "bfloat16" : "float16";
  if (tokenizer && tokenizer->eot_id()) {
    cfg["bos_token_id"] = *tokenizer->eot_id();
    cfg["eos_token_id"] = *tokenizer->eot_id();
  }
  std::vector<std::pair<std::string, Tensor>> tensors = hf_state_dict(model);
  if (dtype != DType::f32) {
    for (auto& [name, t] : tensors) {
      if (t.dtype() != DType::f32) continue;
      Tensor half = Tensor::zeros(t.shape(), dtype);
      auto* out = static_cast<uint16_t*>(half.raw());
      const float* in = t.f32();
      for (int64_t i = 0; i < t.numel(); ++i)
        out[i] = dtype == DType::bf16 ? f32_to_bf16(in[i]) : f32_to_f16(in[i]);
      t = half;
    }
  }
  write_safetensors_sharded(folder, tensors, static_cast<uint64_t>(max_shard_bytes),
                            {{"format", "pt"}});
  write_file_atomic(folder / "config.json", cfg.dump(2) + "\n");
  if (c.head == HeadKind::causal_lm) {
    json gen = {{"_from_model_config", true}};
    if (cfg.contains("bos_token_id")) gen["bos_token_id"] = cfg["bos_token_id"];
    if (cfg.contains("eos_token_id")) gen["eos_token_id"] = cfg["eos_token_id"];
    write_file_atomic(folder / "generation_config.json", gen.dump(2) + "\n");
  }
  if (tokenizer) save_tokenizer(*tokenizer, folder / "tokenizer.json");
}

}  // namespace ilm
