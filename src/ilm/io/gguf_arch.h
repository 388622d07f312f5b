// What llama.cpp expects inside a GGUF file for each architecture ilm can export: the metadata
// keys, the tokenizer fields, and the tensor names with the Hugging Face names they come from
// and the change of layout each needs. Data for the exporters (docs/gguf.md).
//
// Layouts. GGUF stores a matrix as ggml ne = [in, out] (ne0 innermost), which in ilm order is
// (out, in): the torch.nn.Linear weight layout. Two Hugging Face layouts differ from that:
//   - GPT-2 uses Conv1D, whose weight is (in, out): those matrices are transposed.
//   - LLaMA's q_proj / k_proj rows are ordered for "rotate_half" RoPE: within each head the
//     first HS/2 rows are the first halves of the rotated pairs, the last HS/2 the second
//     halves. llama.cpp's "llama" architecture rotates adjacent pairs (2i, 2i+1) (ggml's normal
//     RoPE mode), so its converter reorders each head's rows: new row 2i+j = old row j*HS/2+i
//     (j in {0,1}, i < HS/2). k uses the key/value head count (grouped-query attention).
//   - Falcon's fused query_key_value is grouped per key/value head as [q..., k, v]; llama.cpp
//     wants all q rows, then all k, then all v.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ilm/io/gguf.h"

namespace ilm {

// The architectures these tables describe: "gpt2", "llama", "falcon", "bert".
const std::vector<std::string_view>& gguf_architectures();

struct GgufKeySpec {
  std::string key;   // with the architecture substituted: "gpt2.context_length"
  GgufType type;     // for arrays, the type of the array value itself (GgufType::array)
  GgufType element;  // for arrays, the element type; equal to type otherwise
  bool required;     // llama.cpp refuses to load the model without it
  std::string_view meaning;
};

// general.* and {arch}.* keys llama.cpp reads for arch; throws naming an unknown arch.
std::vector<GgufKeySpec> gguf_model_keys(std::string_view arch);
// tokenizer.ggml.* keys for a tokenizer model ("gpt2" byte-level BPE, "llama" SentencePiece,
// "bert" WordPiece); required ones are those that model's loader needs.
std::vector<GgufKeySpec> gguf_tokenizer_keys(std::string_view tokenizer_model);
// The tokenizer model and pre-tokenizer llama.cpp uses for an architecture's usual tokenizer:
// gpt2 -> {"gpt2", "gpt-2"}, llama -> {"llama", ""} (SentencePiece has none), falcon ->
// {"gpt2", "falcon"}, bert -> {"bert", ""}.
std::pair<std::string_view, std::string_view> gguf_default_tokenizer(std::string_view arch);

// tokenizer.ggml.token_type values.
enum class GgufTokenType : int32_t {
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6
};

// Every problem with a set of key/values against gguf_model_keys(arch) and
// gguf_tokenizer_keys(model of tokenizer.ggml.model): required keys missing, keys of the wrong
// type. Empty when llama.cpp would accept them.
std::vector<std::string> gguf_check_keys(std::string_view arch,
                                         const std::vector<std::pair<std::string, GgufValue>>& kvs);

enum class GgufTensorTransform {
  none,
  transpose,           // GPT-2 Conv1D (in, out) -> (out, in)
  rope_permute_q,      // LLaMA q_proj: gguf_rope_permute_rows with the head count
  rope_permute_k,      // LLaMA k_proj: the same with the key/value head count
  falcon_qkv_regroup,  // Falcon query_key_value: gguf_falcon_qkv_regroup
};
std::string_view gguf_transform_name(GgufTensorTransform t);

struct GgufTensorMapping {
  std::string name;  // "blk.3.attn_qkv.weight"
  GgufTensorTransform transform = GgufTensorTransform::none;
};

// The GGUF tensor for a Hugging Face tensor name of arch (with or without the model prefix:
// "transformer.", "bert."); nullopt for tensors llama.cpp does not take (GPT-2's attn.bias
// causal masks, LLaMA's rotary inv_freq, BERT's pooler and position_ids). Throws naming the
// tensor and arch when the name is unknown.
std::optional<GgufTensorMapping> gguf_tensor_mapping(std::string_view arch,
                                                     std::string_view hf_name);
// The name only; "" for a tensor that is not written.
std::string gguf_tensor_name(std::string_view arch, std::string_view hf_name);

// The GGUF tensors llama.cpp's loader requires for arch with n_layer blocks (optional ones,
// such as a tied output.weight, are not listed).
std::vector<std::string> gguf_required_tensors(std::string_view arch, int n_layer);

// LLaMA q/k rows from Hugging Face's rotate_half order to ggml's adjacent pairs.
// in, out (rows, cols), rows = n_head * HS with HS even; out must not alias in.
void gguf_rope_permute_rows(float* out, const float* in, int64_t rows, int64_t cols, int n_head);
// Falcon query_key_value (n_head_kv * (n_head / n_head_kv + 2) * HS, C) grouped per kv head
// as [q x n_head/n_head_kv, k, v] -> [all q (n_head * HS), all k (n_head_kv * HS), all v].
void gguf_falcon_qkv_regroup(float* out, const float* in, int n_head, int n_head_kv, int64_t HS,
                             int64_t C);
// in (rows, cols) -> out (cols, rows); out must not alias in.
void gguf_transpose(float* out, const float* in, int64_t rows, int64_t cols);

// Head counts the RoPE and Falcon transforms need (from the model's config).
struct GgufHeads {
  int n_head = 0;
  int n_head_kv = 0;  // 0: n_head
};
// A Hugging Face tensor (shape in ilm order, numel values at `in`) in the layout GGUF wants,
// into `out`; returns the GGUF shape (transposed for `transpose`, unchanged otherwise).
// Errors name the transform, the shape and the head counts when they do not fit.
std::vector<int64_t> gguf_apply_transform(GgufTensorTransform transform, const float* in,
                                          const std::vector<int64_t>& shape, const GgufHeads& heads,
                                          std::vector<float>& out);
// The inverse: a tensor as stored in GGUF (shape in ilm order) back in the Hugging Face layout;
// returns the Hugging Face shape. gguf_undo_transform(t, gguf_apply_transform(t, x)) == x.
std::vector<int64_t> gguf_undo_transform(GgufTensorTransform transform, const float* in,
                                         const std::vector<int64_t>& shape, const GgufHeads& heads,
                                         std::vector<float>& out);

}  // namespace ilm
