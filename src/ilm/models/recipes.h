// Recipes: how each family's Hugging Face config.json maps to TransformerConfig and its
// weight names and layouts map to ours, both ways. Adding a family is adding a recipe here.
//
//   GPT2LMHeadModel                       gpt2
//   LlamaForCausalLM, MistralForCausalLM  llama, mistral
//   FalconForCausalLM                     falcon (7B-style multi-query and the new decoder architecture)
//   BertModel, BertForMaskedLM, BertForSequenceClassification   bert
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "ilm/models/transformer.h"
#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

class MappedFile;

// The "architectures" values ilm reads, for messages.
const std::vector<std::string>& supported_hf_architectures();

// config.json -> switches. Throws naming `source`, the field, or the unknown architecture
// (listing the supported ones).
TransformerConfig config_from_hf(const nlohmann::json& config, const std::string& source);
// switches -> config.json, with "architectures" and "model_type" of config.arch.
nlohmann::json hf_config_from(const TransformerConfig& config);

// GPT-2 by its sizes: what `ilm train` builds from a run config's model.* keys when it
// trains from scratch (nanoGPT's GPTConfig).
struct Gpt2Spec {
  int n_layer = 12;
  int n_head = 12;
  int n_embd = 768;
  int block_size = 1024;
  int vocab_size = 50257;
  bool bias = true;  // false: no biases in linear layers and LayerNorms (nanoGPT's switch)
  float dropout = 0.0f;
  // "gelu_tanh" (GPT-2's approximation, Hugging Face's gelu_new) or "gelu" (exact erf,
  // torch.nn.GELU(), as nanoGPT uses today).
  std::string activation = "gelu_tanh";

  // Throws naming the model.* key and value (n_embd not divisible by n_head, sizes < 1, ...).
  void validate() const;
};
// The Transformer of `spec` (arch "gpt2"): learned positions, pre-norm LayerNorm blocks, a
// 4C GELU MLP, tied embeddings. Transformer::init_weights is GPT-2's initialization for it.
// Without biases its Hugging Face config.json carries "bias": false (GPT2Config has no such
// switch; config_from_hf reads it back) and its safetensors hold zero biases, so that
// transformers loads the folder as the same model.
TransformerConfig gpt2_config(const Gpt2Spec& spec);

// One Hugging Face tensor and where it goes: a copy, a transpose (GPT-2's Conv1D), or a
// fused q/k/v matrix split into our three (GPT-2's c_attn, Falcon's query_key_value).
enum class WeightTransform { copy, transpose, split_qkv, transpose_split_qkv };
struct WeightMapping {
  std::string hf;                 // the Hub name (with the usual prefix)
  std::vector<std::string> ours;  // one name, or q, k, v for the split transforms
  WeightTransform transform = WeightTransform::copy;
  // split_qkv: which rows of the fused matrix belong to q, k and v, as (source row,
  // destination) for each of the three, in our row order.
  std::vector<std::vector<int64_t>> rows;
};
std::vector<WeightMapping> hf_weight_mappings(const TransformerConfig& config);
// Tensors a Hub file may hold that carry no weights of ours (causal-mask buffers, rotary
// caches, tied duplicates, heads we do not build, the zero biases of a GPT-2 without biases):
// skipped without complaint.
bool hf_weight_ignorable(const TransformerConfig& config, const std::string& name);

// Tensors by name, as read from one or more safetensors files.
using TensorSource = std::function<std::optional<Tensor>(const std::string& name)>;

// Fills the model's parameters from `get` (any float dtype is converted). An owned model is
// written in place, in f32. A mapped model (ParamStorage::mapped) takes the tensors `get`
// returns as its values: f32 tensors, and bf16/f16 matrices, in our layout (a view of a file's
// map stays one, as does a row block of a "concat" fused q/k/v) are not copied; transposes and
// gathered q/k/v rows get tensors of their own in the same dtype; bf16/f16 vectors and other
// dtypes are converted to f32. Throws one message
// listing every missing weight, every unexpected one (not mapped, not ignorable) and every
// shape mismatch, naming each tensor.
void load_hf_weights(Transformer& model, const std::vector<std::string>& names, const TensorSource& get);
// Our parameters under Hugging Face names and layouts, in a fixed order; a GPT-2 without
// biases gets zero biases (GPT2LMHeadModel always has them). f32 models only: throws, naming
// the parameter, for a mapped model holding bf16/f16 matrices.
std::vector<std::pair<std::string, Tensor>> hf_state_dict(const Transformer& model);

struct HfModel {
  std::unique_ptr<Transformer> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when the folder has none
  std::filesystem::path folder;
  nlohmann::json config_json;
  // Mapped loads: the maps of the weight files, which the parameters that are views point into
  // (the parameters keep them alive themselves; these are for inspection). Empty when owned.
  std::vector<std::shared_ptr<const MappedFile>> weight_maps;
};

// A Hugging Face model folder: config.json, model.safetensors (or sharded with
// model.safetensors.index.json), and the tokenizer files when there are any.
// storage owned (the default) copies every weight into the model's buffer (training, convert,
// anything that writes weights); mapped loads for inference: f32 weights, and bf16/f16
// matrices (used as stored: half the memory), in our layout stay read-only views of the files'
// maps, and there are no gradients (see load_hf_weights).
HfModel load_hf_folder(const std::filesystem::path& folder,
                       ParamStorage storage = ParamStorage::owned);
// Writes config.json, model.safetensors (sharded past max_shard_bytes) and
// generation_config.json for causal LMs, and the tokenizer (tokenizer.json) when given;
// each file atomically. `dtype` (f32, bf16 or f16) is how the f32 weights are stored, rounded
// to nearest even; config.json's torch_dtype says which.
void save_hf_folder(const Transformer& model, const Tokenizer* tokenizer,
                    const std::filesystem::path& folder, int64_t max_shard_bytes = int64_t(5) << 30,
                    DType dtype = DType::f32);

}  // namespace ilm
