// llama.cpp's per-architecture GGUF conventions as tables (see gguf_arch.h).
#include "ilm/io/gguf_arch.h"

#include <algorithm>
#include <cstring>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ilm/core/error.h"

namespace ilm {

namespace {

using T = GgufType;

// A key of every architecture's table: "{arch}" is replaced by the architecture name.
struct KeyRow {
  std::string_view key;
  GgufType type;
  GgufType element;
  bool required;
  std::string_view meaning;
};

constexpr KeyRow kGeneralKeys[] = {
    {"general.architecture", T::string, T::string, true, "the architecture name"},
    {"general.name", T::string, T::string, false, "the model's name"},
    {"general.file_type", T::u32, T::u32, false,
     "the dominant tensor type: 0 all F32, 1 mostly F16, 7 mostly Q8_0"},
    {"general.quantization_version", T::u32, T::u32, false,
     "2: the quantized block layout version (written by llama.cpp's converter)"},
    {"general.alignment", T::u32, T::u32, false, "data alignment, 32 when absent"},
};

// The hyperparameters each architecture's loader reads.
const std::map<std::string_view, std::vector<KeyRow>>& arch_key_rows() {
  static const std::map<std::string_view, std::vector<KeyRow>> rows = {
      {"gpt2",
       {
           {"{arch}.context_length", T::u32, T::u32, true, "T: positions in position_embd"},
           {"{arch}.embedding_length", T::u32, T::u32, true, "C"},
           {"{arch}.feed_forward_length", T::u32, T::u32, true, "the MLP width (4C)"},
           {"{arch}.block_count", T::u32, T::u32, true, "L"},
           {"{arch}.attention.head_count", T::u32, T::u32, true, "NH"},
           {"{arch}.attention.layer_norm_epsilon", T::f32, T::f32, true, "LayerNorm eps"},
       }},
      {"llama",
       {
           {"{arch}.context_length", T::u32, T::u32, true, "the trained context"},
           {"{arch}.embedding_length", T::u32, T::u32, true, "C"},
           {"{arch}.feed_forward_length", T::u32, T::u32, true, "the SwiGLU width"},
           {"{arch}.block_count", T::u32, T::u32, true, "L"},
           {"{arch}.attention.head_count", T::u32, T::u32, true, "NH"},
           {"{arch}.attention.head_count_kv", T::u32, T::u32, false,
            "key/value heads (grouped-query attention); NH when absent"},
           {"{arch}.attention.layer_norm_rms_epsilon", T::f32, T::f32, true, "RMSNorm eps"},
           {"{arch}.rope.freq_base", T::f32, T::f32, false, "RoPE theta, 10000 when absent"},
           {"{arch}.rope.dimension_count", T::u32, T::u32, false,
            "rotated dimensions per head, HS when absent"},
           {"{arch}.vocab_size", T::u32, T::u32, false, "V"},
           {"{arch}.attention.key_length", T::u32, T::u32, false, "HS of keys, C/NH when absent"},
           {"{arch}.attention.value_length", T::u32, T::u32, false,
            "HS of values, C/NH when absent"},
           {"{arch}.rope.scaling.type", T::string, T::string, false,
            "\"none\", \"linear\" or \"yarn\" (LLaMA-3 scaling is the rope_freqs tensor)"},
           {"{arch}.rope.scaling.factor", T::f32, T::f32, false, "positions divided by this"},
           {"{arch}.rope.scaling.original_context_length", T::u32, T::u32, false,
            "the context before scaling"},
       }},
      {"falcon",
       {
           {"{arch}.context_length", T::u32, T::u32, true, "the trained context"},
           {"{arch}.embedding_length", T::u32, T::u32, true, "C"},
           {"{arch}.feed_forward_length", T::u32, T::u32, false, "4C"},
           {"{arch}.block_count", T::u32, T::u32, true, "L"},
           {"{arch}.attention.head_count", T::u32, T::u32, true, "NH"},
           {"{arch}.attention.head_count_kv", T::u32, T::u32, false, "key/value heads"},
           {"{arch}.attention.layer_norm_epsilon", T::f32, T::f32, true, "LayerNorm eps"},
           {"{arch}.rope.freq_base", T::f32, T::f32, false, "RoPE theta, 10000 when absent"},
       }},
      {"bert",
       {
           {"{arch}.context_length", T::u32, T::u32, true, "positions in position_embd"},
           {"{arch}.embedding_length", T::u32, T::u32, true, "C"},
           {"{arch}.feed_forward_length", T::u32, T::u32, true, "the intermediate width"},
           {"{arch}.block_count", T::u32, T::u32, true, "L"},
           {"{arch}.attention.head_count", T::u32, T::u32, true, "NH"},
           {"{arch}.attention.layer_norm_epsilon", T::f32, T::f32, true, "LayerNorm eps"},
           {"{arch}.attention.causal", T::boolean, T::boolean, false, "false: an encoder"},
           {"{arch}.pooling_type", T::u32, T::u32, false, "0 none, 1 mean, 2 CLS"},
       }},
  };
  return rows;
}

constexpr KeyRow kTokenizerKeys[] = {
    {"tokenizer.ggml.model", T::string, T::string, true,
     "\"gpt2\" byte-level BPE, \"llama\" SentencePiece, \"bert\" WordPiece"},
    {"tokenizer.ggml.pre", T::string, T::string, false,
     "the BPE pre-tokenizer (\"gpt-2\", \"llama-bpe\", \"falcon\", ...)"},
    {"tokenizer.ggml.tokens", T::array, T::string, true, "the vocabulary, by id"},
    {"tokenizer.ggml.token_type", T::array, T::i32, false,
     "per token: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte"},
    {"tokenizer.ggml.scores", T::array, T::f32, false, "per token: SentencePiece log scores"},
    {"tokenizer.ggml.merges", T::array, T::string, false,
     "BPE merges by rank, \"left right\" in the byte-to-unicode alphabet"},
    {"tokenizer.ggml.bos_token_id", T::u32, T::u32, false, "beginning of sequence"},
    {"tokenizer.ggml.eos_token_id", T::u32, T::u32, false, "end of sequence"},
    {"tokenizer.ggml.unknown_token_id", T::u32, T::u32, false, "unknown"},
    {"tokenizer.ggml.seperator_token_id", T::u32, T::u32, false,
     "separator ([SEP]); llama.cpp spells the key this way"},
    {"tokenizer.ggml.padding_token_id", T::u32, T::u32, false, "padding"},
    {"tokenizer.ggml.cls_token_id", T::u32, T::u32, false, "[CLS]"},
    {"tokenizer.ggml.mask_token_id", T::u32, T::u32, false, "[MASK]"},
    {"tokenizer.ggml.add_bos_token", T::boolean, T::boolean, false, "prepend BOS when encoding"},
    {"tokenizer.ggml.add_eos_token", T::boolean, T::boolean, false, "append EOS when encoding"},
    {"tokenizer.ggml.add_space_prefix", T::boolean, T::boolean, false,
     "SentencePiece: prefix a space to the text"},
    {"tokenizer.ggml.token_type_count", T::u32, T::u32, false, "BERT segment types (2)"},
    {"tokenizer.chat_template", T::string, T::string, false, "the Jinja chat template"},
};

// ---- tensor names ----------------------------------------------------------------------------

using X = GgufTensorTransform;

// A Hugging Face name with "{N}" for the block number, and the GGUF name it becomes ("" for a
// tensor that is dropped).
struct NameRow {
  std::string_view hf;
  std::string_view gguf;
  GgufTensorTransform transform;
};

const std::vector<NameRow>& gpt2_names() {
  // Names as GPT2Model saves them; GPT2LMHeadModel adds "transformer." (stripped first).
  static const std::vector<NameRow> rows = {
      {"wte.weight", "token_embd.weight", X::none},
      {"wpe.weight", "position_embd.weight", X::none},
      {"h.{N}.ln_1.weight", "blk.{N}.attn_norm.weight", X::none},
      {"h.{N}.ln_1.bias", "blk.{N}.attn_norm.bias", X::none},
      {"h.{N}.attn.c_attn.weight", "blk.{N}.attn_qkv.weight", X::transpose},
      {"h.{N}.attn.c_attn.bias", "blk.{N}.attn_qkv.bias", X::none},
      {"h.{N}.attn.c_proj.weight", "blk.{N}.attn_output.weight", X::transpose},
      {"h.{N}.attn.c_proj.bias", "blk.{N}.attn_output.bias", X::none},
      {"h.{N}.ln_2.weight", "blk.{N}.ffn_norm.weight", X::none},
      {"h.{N}.ln_2.bias", "blk.{N}.ffn_norm.bias", X::none},
      {"h.{N}.mlp.c_fc.weight", "blk.{N}.ffn_up.weight", X::transpose},
      {"h.{N}.mlp.c_fc.bias", "blk.{N}.ffn_up.bias", X::none},
      {"h.{N}.mlp.c_proj.weight", "blk.{N}.ffn_down.weight", X::transpose},
      {"h.{N}.mlp.c_proj.bias", "blk.{N}.ffn_down.bias", X::none},
      {"ln_f.weight", "output_norm.weight", X::none},
      {"ln_f.bias", "output_norm.bias", X::none},
      {"lm_head.weight", "output.weight", X::none},
      {"h.{N}.attn.bias", "", X::none},         // the causal mask buffer
      {"h.{N}.attn.masked_bias", "", X::none},  // a constant of old transformers versions
  };
  return rows;
}

const std::vector<NameRow>& llama_names() {
  static const std::vector<NameRow> rows = {
      {"model.embed_tokens.weight", "token_embd.weight", X::none},
      {"model.layers.{N}.input_layernorm.weight", "blk.{N}.attn_norm.weight", X::none},
      {"model.layers.{N}.self_attn.q_proj.weight", "blk.{N}.attn_q.weight", X::rope_permute_q},
      {"model.layers.{N}.self_attn.k_proj.weight", "blk.{N}.attn_k.weight", X::rope_permute_k},
      {"model.layers.{N}.self_attn.v_proj.weight", "blk.{N}.attn_v.weight", X::none},
      {"model.layers.{N}.self_attn.o_proj.weight", "blk.{N}.attn_output.weight", X::none},
      // Biases (attention_bias, mlp_bias): optional in llama.cpp; q and k rows reorder as the
      // weights' rows do.
      {"model.layers.{N}.self_attn.q_proj.bias", "blk.{N}.attn_q.bias", X::rope_permute_q},
      {"model.layers.{N}.self_attn.k_proj.bias", "blk.{N}.attn_k.bias", X::rope_permute_k},
      {"model.layers.{N}.self_attn.v_proj.bias", "blk.{N}.attn_v.bias", X::none},
      {"model.layers.{N}.self_attn.o_proj.bias", "blk.{N}.attn_output.bias", X::none},
      {"model.layers.{N}.mlp.gate_proj.bias", "blk.{N}.ffn_gate.bias", X::none},
      {"model.layers.{N}.mlp.up_proj.bias", "blk.{N}.ffn_up.bias", X::none},
      {"model.layers.{N}.mlp.down_proj.bias", "blk.{N}.ffn_down.bias", X::none},
      {"model.layers.{N}.post_attention_layernorm.weight", "blk.{N}.ffn_norm.weight", X::none},
      {"model.layers.{N}.mlp.gate_proj.weight", "blk.{N}.ffn_gate.weight", X::none},
      {"model.layers.{N}.mlp.up_proj.weight", "blk.{N}.ffn_up.weight", X::none},
      {"model.layers.{N}.mlp.down_proj.weight", "blk.{N}.ffn_down.weight", X::none},
      {"model.norm.weight", "output_norm.weight", X::none},
      {"lm_head.weight", "output.weight", X::none},
      {"model.layers.{N}.self_attn.rotary_emb.inv_freq", "", X::none},  // recomputed
  };
  return rows;
}

const std::vector<NameRow>& falcon_names() {
  // "transformer." is stripped first. ln_attn / ln_mlp are the two norms of the 40B layout:
  // llama.cpp's falcon feeds attention from attn_norm_2 when present and the MLP from
  // attn_norm, so ln_mlp is attn_norm and ln_attn attn_norm_2.
  static const std::vector<NameRow> rows = {
      {"word_embeddings.weight", "token_embd.weight", X::none},
      {"h.{N}.input_layernorm.weight", "blk.{N}.attn_norm.weight", X::none},
      {"h.{N}.input_layernorm.bias", "blk.{N}.attn_norm.bias", X::none},
      {"h.{N}.ln_attn.weight", "blk.{N}.attn_norm_2.weight", X::none},
      {"h.{N}.ln_attn.bias", "blk.{N}.attn_norm_2.bias", X::none},
      {"h.{N}.ln_mlp.weight", "blk.{N}.attn_norm.weight", X::none},
      {"h.{N}.ln_mlp.bias", "blk.{N}.attn_norm.bias", X::none},
      {"h.{N}.self_attention.query_key_value.weight", "blk.{N}.attn_qkv.weight",
       X::falcon_qkv_regroup},
      {"h.{N}.self_attention.dense.weight", "blk.{N}.attn_output.weight", X::none},
      {"h.{N}.mlp.dense_h_to_4h.weight", "blk.{N}.ffn_up.weight", X::none},
      {"h.{N}.mlp.dense_4h_to_h.weight", "blk.{N}.ffn_down.weight", X::none},
      {"ln_f.weight", "output_norm.weight", X::none},
      {"ln_f.bias", "output_norm.bias", X::none},
      {"lm_head.weight", "output.weight", X::none},
  };
  return rows;
}

const std::vector<NameRow>& bert_names() {
  // "bert." is stripped first.
  static const std::vector<NameRow> rows = {
      {"embeddings.word_embeddings.weight", "token_embd.weight", X::none},
      {"embeddings.token_type_embeddings.weight", "token_types.weight", X::none},
      {"embeddings.position_embeddings.weight", "position_embd.weight", X::none},
      {"embeddings.LayerNorm.weight", "token_embd_norm.weight", X::none},
      {"embeddings.LayerNorm.bias", "token_embd_norm.bias", X::none},
      {"encoder.layer.{N}.attention.self.query.weight", "blk.{N}.attn_q.weight", X::none},
      {"encoder.layer.{N}.attention.self.query.bias", "blk.{N}.attn_q.bias", X::none},
      {"encoder.layer.{N}.attention.self.key.weight", "blk.{N}.attn_k.weight", X::none},
      {"encoder.layer.{N}.attention.self.key.bias", "blk.{N}.attn_k.bias", X::none},
      {"encoder.layer.{N}.attention.self.value.weight", "blk.{N}.attn_v.weight", X::none},
      {"encoder.layer.{N}.attention.self.value.bias", "blk.{N}.attn_v.bias", X::none},
      {"encoder.layer.{N}.attention.output.dense.weight", "blk.{N}.attn_output.weight", X::none},
      {"encoder.layer.{N}.attention.output.dense.bias", "blk.{N}.attn_output.bias", X::none},
      {"encoder.layer.{N}.attention.output.LayerNorm.weight", "blk.{N}.attn_output_norm.weight",
       X::none},
      {"encoder.layer.{N}.attention.output.LayerNorm.bias", "blk.{N}.attn_output_norm.bias",
       X::none},
      {"encoder.layer.{N}.intermediate.dense.weight", "blk.{N}.ffn_up.weight", X::none},
      {"encoder.layer.{N}.intermediate.dense.bias", "blk.{N}.ffn_up.bias", X::none},
      {"encoder.layer.{N}.output.dense.weight", "blk.{N}.ffn_down.weight", X::none},
      {"encoder.layer.{N}.output.dense.bias", "blk.{N}.ffn_down.bias", X::none},
      {"encoder.layer.{N}.output.LayerNorm.weight", "blk.{N}.layer_output_norm.weight", X::none},
      {"encoder.layer.{N}.output.LayerNorm.bias", "blk.{N}.layer_output_norm.bias", X::none},
      {"embeddings.position_ids", "", X::none},  // a buffer 0..T-1
      {"pooler.dense.weight", "", X::none},      // llama.cpp pools without it
      {"pooler.dense.bias", "", X::none},
  };
  return rows;
}

struct ArchNames {
  std::string_view arch;
  std::string_view strip_prefix;  // a model prefix Hugging Face adds in some classes
  const std::vector<NameRow>& (*rows)();
};

constexpr ArchNames kArchNames[] = {
    {"gpt2", "transformer.", gpt2_names},
    {"llama", "", llama_names},
    {"falcon", "transformer.", falcon_names},
    {"bert", "bert.", bert_names},
};

const ArchNames& arch_names(std::string_view arch) {
  for (const ArchNames& a : kArchNames)
    if (a.arch == arch) return a;
  fail("GGUF architecture \"{}\" has no tensor table (known: gpt2, llama, falcon, bert)", arch);
}

// The block number when name matches pattern ("{N}" standing for decimal digits), -1 for a
// match without "{N}", nullopt for no match.
std::optional<long> match(std::string_view pattern, std::string_view name) {
  const size_t at = pattern.find("{N}");
  if (at == std::string_view::npos) return pattern == name ? std::optional<long>(-1) : std::nullopt;
  const std::string_view head = pattern.substr(0, at), tail = pattern.substr(at + 3);
  if (name.size() <= head.size() + tail.size() || !name.starts_with(head) || !name.ends_with(tail))
    return std::nullopt;
  const std::string_view digits = name.substr(head.size(), name.size() - head.size() - tail.size());
  if (digits.size() > 6 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  long n = 0;
  for (char ch : digits) {
    if (ch < '0' || ch > '9') return std::nullopt;
    n = n * 10 + (ch - '0');
  }
  return n;
}

std::string fill(std::string_view pattern, long n) {
  std::string s(pattern);
  const size_t at = s.find("{N}");
  if (at != std::string::npos) s.replace(at, 3, std::to_string(n));
  return s;
}

std::vector<GgufKeySpec> specs(const KeyRow* begin, const KeyRow* end, std::string_view arch) {
  std::vector<GgufKeySpec> out;
  for (const KeyRow* r = begin; r != end; ++r) {
    std::string key(r->key);
    if (key.starts_with("{arch}")) key.replace(0, 6, arch);
    out.push_back({std::move(key), r->type, r->element, r->required, r->meaning});
  }
  return out;
}

}  // namespace

const std::vector<std::string_view>& gguf_architectures() {
  static const std::vector<std::string_view> archs = {"gpt2", "llama", "falcon", "bert"};
  return archs;
}

std::vector<GgufKeySpec> gguf_model_keys(std::string_view arch) {
  auto it = arch_key_rows().find(arch);
  ILM_CHECK(it != arch_key_rows().end(),
            "GGUF architecture \"{}\" has no key table (known: gpt2, llama, falcon, bert)", arch);
  std::vector<GgufKeySpec> out = specs(std::begin(kGeneralKeys), std::end(kGeneralKeys), arch);
  std::vector<GgufKeySpec> own =
      specs(it->second.data(), it->second.data() + it->second.size(), arch);
  out.insert(out.end(), own.begin(), own.end());
  return out;
}

std::vector<GgufKeySpec> gguf_tokenizer_keys(std::string_view tokenizer_model) {
  ILM_CHECK(tokenizer_model == "gpt2" || tokenizer_model == "llama" || tokenizer_model == "bert",
            "tokenizer.ggml.model \"{}\" has no key table (known: gpt2, llama, bert)",
            tokenizer_model);
  std::vector<GgufKeySpec> out = specs(std::begin(kTokenizerKeys), std::end(kTokenizerKeys), "");
  for (GgufKeySpec& k : out) {
    if (tokenizer_model == "gpt2" && k.key == "tokenizer.ggml.merges") k.required = true;
    if (tokenizer_model == "llama" && k.key == "tokenizer.ggml.scores") k.required = true;
    if (tokenizer_model == "llama" && k.key == "tokenizer.ggml.token_type") k.required = true;
  }
  return out;
}

std::pair<std::string_view, std::string_view> gguf_default_tokenizer(std::string_view arch) {
  if (arch == "gpt2") return {"gpt2", "gpt-2"};
  if (arch == "llama") return {"llama", ""};
  if (arch == "falcon") return {"gpt2", "falcon"};
  if (arch == "bert") return {"bert", ""};
  fail("GGUF architecture \"{}\" has no default tokenizer (known: gpt2, llama, falcon, bert)",
       arch);
}

std::vector<std::string> gguf_check_keys(
    std::string_view arch, const std::vector<std::pair<std::string, GgufValue>>& kvs) {
  std::map<std::string, const GgufValue*, std::less<>> given;
  for (const auto& [k, v] : kvs) given[k] = &v;
  std::vector<GgufKeySpec> wanted = gguf_model_keys(arch);
  std::vector<std::string> problems;
  auto model = given.find("tokenizer.ggml.model");
  if (model == given.end()) {
    problems.push_back("tokenizer.ggml.model is missing");
  } else if (model->second->type() == GgufType::string) {
    try {
      std::vector<GgufKeySpec> tok = gguf_tokenizer_keys(model->second->str());
      wanted.insert(wanted.end(), tok.begin(), tok.end());
    } catch (const Error& e) {
      problems.push_back(e.what());
    }
  }
  for (const GgufKeySpec& k : wanted) {
    auto it = given.find(k.key);
    if (it == given.end()) {
      if (k.required) problems.push_back(fmt::format("{} is missing ({})", k.key, k.meaning));
      continue;
    }
    const GgufValue& v = *it->second;
    const bool ok =
        v.type() == k.type && (k.type != GgufType::array || v.array_type() == k.element);
    if (!ok) {
      const std::string want = k.type == GgufType::array
                                   ? fmt::format("array of {}", gguf_type_name(k.element))
                                   : std::string(gguf_type_name(k.type));
      problems.push_back(fmt::format("{} is {}, expected {}", k.key, v.describe(), want));
    }
  }
  auto a = given.find("general.architecture");
  if (a != given.end() && a->second->type() == GgufType::string && a->second->str() != arch)
    problems.push_back(
        fmt::format("general.architecture is \"{}\", expected \"{}\"", a->second->str(), arch));
  return problems;
}

std::string_view gguf_transform_name(GgufTensorTransform t) {
  switch (t) {
    case X::none:
      return "none";
    case X::transpose:
      return "transpose";
    case X::rope_permute_q:
      return "rope_permute_q";
    case X::rope_permute_k:
      return "rope_permute_k";
    case X::falcon_qkv_regroup:
      return "falcon_qkv_regroup";
  }
  return "?";
}

std::optional<GgufTensorMapping> gguf_tensor_mapping(std::string_view arch,
                                                     std::string_view hf_name) {
  const ArchNames& a = arch_names(arch);
  std::string_view name = hf_name;
  if (!a.strip_prefix.empty() && name.starts_with(a.strip_prefix))
    name.remove_prefix(a.strip_prefix.size());
  for (const NameRow& r : a.rows()) {
    if (std::optional<long> n = match(r.hf, name)) {
      if (r.gguf.empty()) return std::nullopt;
      return GgufTensorMapping{fill(r.gguf, *n), r.transform};
    }
  }
  fail("tensor {} has no GGUF name for architecture {}", hf_name, arch);
}

std::string gguf_tensor_name(std::string_view arch, std::string_view hf_name) {
  std::optional<GgufTensorMapping> m = gguf_tensor_mapping(arch, hf_name);
  return m ? m->name : std::string();
}

std::vector<std::string> gguf_required_tensors(std::string_view arch, int n_layer) {
  std::vector<std::string_view> top, block;
  if (arch == "gpt2") {
    top = {"token_embd.weight", "position_embd.weight", "output_norm.weight", "output_norm.bias"};
    block = {"attn_norm.weight",   "attn_norm.bias",   "attn_qkv.weight", "attn_qkv.bias",
             "attn_output.weight", "attn_output.bias", "ffn_norm.weight", "ffn_norm.bias",
             "ffn_up.weight",      "ffn_up.bias",      "ffn_down.weight", "ffn_down.bias"};
  } else if (arch == "llama") {
    top = {"token_embd.weight", "output_norm.weight"};
    block = {"attn_norm.weight", "attn_q.weight",      "attn_k.weight",
             "attn_v.weight",    "attn_output.weight", "ffn_norm.weight",
             "ffn_gate.weight",  "ffn_up.weight",      "ffn_down.weight"};
  } else if (arch == "falcon") {
    top = {"token_embd.weight", "output_norm.weight", "output_norm.bias"};
    block = {"attn_norm.weight",   "attn_norm.bias", "attn_qkv.weight",
             "attn_output.weight", "ffn_up.weight",  "ffn_down.weight"};
  } else if (arch == "bert") {
    top = {"token_embd.weight", "token_types.weight", "position_embd.weight",
           "token_embd_norm.weight", "token_embd_norm.bias"};
    block = {"attn_q.weight",         "attn_q.bias",      "attn_k.weight",
             "attn_k.bias",           "attn_v.weight",    "attn_v.bias",
             "attn_output.weight",    "attn_output.bias", "attn_output_norm.weight",
             "attn_output_norm.bias", "ffn_up.weight",    "ffn_up.bias",
             "ffn_down.weight",       "ffn_down.bias",    "layer_output_norm.weight",
             "layer_output_norm.bias"};
  } else {
    fail("GGUF architecture \"{}\" has no tensor table (known: gpt2, llama, falcon, bert)", arch);
  }
  std::vector<std::string> out(top.begin(), top.end());
  for (int l = 0; l < n_layer; ++l)
    for (std::string_view b : block) out.push_back(fmt::format("blk.{}.{}", l, b));
  return out;
}

void gguf_rope_permute_rows(float* out, const float* in, int64_t rows, int64_t cols, int n_head) {
  ILM_CHECK(n_head > 0 && rows % n_head == 0 && (rows / n_head) % 2 == 0,
            "RoPE row permutation: {} rows do not split into {} heads of an even size", rows,
            n_head);
  const int64_t HS = rows / n_head, half = HS / 2;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t j = 0; j < 2; ++j)
        std::memcpy(out + (h * HS + 2 * i + j) * cols, in + (h * HS + j * half + i) * cols,
                    size_t(cols) * sizeof(float));
}

void gguf_falcon_qkv_regroup(float* out, const float* in, int n_head, int n_head_kv, int64_t HS,
                             int64_t C) {
  ILM_CHECK(n_head > 0 && n_head_kv > 0 && n_head % n_head_kv == 0,
            "Falcon qkv regroup: {} heads do not split into {} key/value groups", n_head,
            n_head_kv);
  const int64_t q_per_group = n_head / n_head_kv;
  const int64_t group_rows = (q_per_group + 2) * HS;
  const size_t head_bytes = size_t(HS * C) * sizeof(float);
  for (int64_t g = 0; g < n_head_kv; ++g) {
    const float* group = in + g * group_rows * C;
    for (int64_t q = 0; q < q_per_group; ++q)
      std::memcpy(out + (g * q_per_group + q) * HS * C, group + q * HS * C, head_bytes);
    std::memcpy(out + (n_head + g) * HS * C, group + q_per_group * HS * C, head_bytes);
    std::memcpy(out + (n_head + n_head_kv + g) * HS * C, group + (q_per_group + 1) * HS * C,
                head_bytes);
  }
}

void gguf_transpose(float* out, const float* in, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
}

std::vector<int64_t> gguf_apply_transform(GgufTensorTransform transform, const float* in,
                                          const std::vector<int64_t>& shape, const GgufHeads& heads,
                                          std::vector<float>& out) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  out.resize(static_cast<size_t>(numel));
  if (transform == X::none) {
    std::copy(in, in + numel, out.begin());
    return shape;
  }
  // A bias of the RoPE-permuted rows is a matrix of one column.
  const bool vector_rows =
      shape.size() == 1 && (transform == X::rope_permute_q || transform == X::rope_permute_k ||
                            transform == X::falcon_qkv_regroup);
  ILM_CHECK(shape.size() == 2 || vector_rows, "GGUF {}: expected a matrix, got shape [{}]",
            gguf_transform_name(transform), fmt::join(shape, ", "));
  const int64_t rows = shape[0], cols = vector_rows ? 1 : shape[1];
  const int n_head_kv = heads.n_head_kv > 0 ? heads.n_head_kv : heads.n_head;
  switch (transform) {
    case X::transpose:
      gguf_transpose(out.data(), in, rows, cols);
      return {cols, rows};
    case X::rope_permute_q:
      gguf_rope_permute_rows(out.data(), in, rows, cols, heads.n_head);
      return shape;
    case X::rope_permute_k:
      gguf_rope_permute_rows(out.data(), in, rows, cols, n_head_kv);
      return shape;
    case X::falcon_qkv_regroup: {
      const int64_t groups = int64_t(heads.n_head) + 2 * n_head_kv;
      ILM_CHECK(heads.n_head > 0 && rows % groups == 0,
                "GGUF falcon_qkv_regroup: {} rows are not (n_head {} + 2 x n_head_kv {}) heads",
                rows, heads.n_head, n_head_kv);
      gguf_falcon_qkv_regroup(out.data(), in, heads.n_head, n_head_kv, rows / groups, cols);
      return shape;
    }
    case X::none:
      break;
  }
  return shape;
}

std::vector<int64_t> gguf_undo_transform(GgufTensorTransform transform, const float* in,
                                         const std::vector<int64_t>& shape, const GgufHeads& heads,
                                         std::vector<float>& out) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  out.resize(static_cast<size_t>(numel));
  if (transform == X::none) {
    std::copy(in, in + numel, out.begin());
    return shape;
  }
  const bool vector_rows = shape.size() == 1 && transform != X::transpose;
  ILM_CHECK(shape.size() == 2 || vector_rows, "GGUF {}: expected a matrix, got shape [{}]",
            gguf_transform_name(transform), fmt::join(shape, ", "));
  const int64_t rows = shape[0], cols = vector_rows ? 1 : shape[1];
  const int n_head_kv = heads.n_head_kv > 0 ? heads.n_head_kv : heads.n_head;
  auto unpermute = [&](int n_head) {
    ILM_CHECK(n_head > 0 && rows % n_head == 0 && (rows / n_head) % 2 == 0,
              "RoPE row permutation: {} rows do not split into {} heads of an even size", rows,
              n_head);
    const int64_t HS = rows / n_head, half = HS / 2;
    for (int64_t h = 0; h < n_head; ++h)
      for (int64_t i = 0; i < half; ++i)
        for (int64_t j = 0; j < 2; ++j)
          std::memcpy(out.data() + (h * HS + j * half + i) * cols, in + (h * HS + 2 * i + j) * cols,
                      size_t(cols) * sizeof(float));
  };
  switch (transform) {
    case X::transpose:
      gguf_transpose(out.data(), in, rows, cols);
      return {cols, rows};
    case X::rope_permute_q:
      unpermute(heads.n_head);
      return shape;
    case X::rope_permute_k:
      unpermute(n_head_kv);
      return shape;
    case X::falcon_qkv_regroup: {
      const int64_t groups = int64_t(heads.n_head) + 2 * n_head_kv;
      ILM_CHECK(heads.n_head > 0 && rows % groups == 0 && heads.n_head % n_head_kv == 0,
                "GGUF falcon_qkv_regroup: {} rows are not (n_head {} + 2 x n_head_kv {}) heads",
                rows, heads.n_head, n_head_kv);
      const int64_t HS = rows / groups, q_per_group = heads.n_head / n_head_kv;
      const size_t head_values = size_t(HS * cols);
      for (int64_t g = 0; g < n_head_kv; ++g) {
        float* group = out.data() + g * (q_per_group + 2) * HS * cols;
        for (int64_t q = 0; q < q_per_group; ++q)
          std::copy_n(in + (g * q_per_group + q) * HS * cols, head_values, group + q * HS * cols);
        std::copy_n(in + (heads.n_head + g) * HS * cols, head_values,
                    group + q_per_group * HS * cols);
        std::copy_n(in + (heads.n_head + n_head_kv + g) * HS * cols, head_values,
                    group + (q_per_group + 1) * HS * cols);
      }
      return shape;
    }
    case X::none:
      break;
  }
  return shape;
}

}  // namespace ilm
