// Transformer: one stack of blocks whose switches make GPT-2, LLaMA 1/2/3, Mistral, Falcon
// and BERT (DESIGN.md, "One Transformer, many architectures"). A family is a recipe
// (models/recipes.h) that maps its config.json to these switches and its weight names to
// the parameter names below; nothing here knows a family by name.
//
// Parameters (our names; shapes as torch.nn.Linear, (out, in)):
//   embed.weight (V,C); pos_embed.weight (P,C) for learned positions;
//   type_embed.weight (TV,C) and embed_norm.{weight,bias} (BERT);
//   layers.N.attn_norm.{weight,bias}  layers.N.attn.{q,k,v}.{weight,bias}  layers.N.attn.o.*
//   layers.N.mlp_norm.*  layers.N.mlp.{up,gate,down}.*  (gate only for SwiGLU);
//   norm.{weight,bias} (pre-norm and parallel wiring); lm_head.weight when not tied;
//   mlm.dense.*, mlm.norm.*, mlm.bias (masked LM); pooler.*, classifier.* (classification).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ilm/autograd/ops.h"
#include "ilm/kernels/rope.h"
#include "ilm/nn/params.h"

namespace ilm {

enum class NormKind { layernorm, rmsnorm };
// learned: a position embedding table; rope: rotary (with `rope`'s scaling); alibi: Falcon's
// linear key biases in attention (ilm/kernels/alibi.h), nothing added to the embeddings.
enum class PositionKind { learned, rope, alibi };
enum class MlpKind { gelu, gelu_tanh, swiglu };
// pre_norm: x + f(norm(x)) (GPT-2, LLaMA); parallel: x + attn(n1(x)) + mlp(n2(x)) with one
// shared norm or two (Falcon); post_norm: norm(x + f(x)) (BERT).
enum class Wiring { pre_norm, parallel, post_norm };
enum class HeadKind { causal_lm, masked_lm, classification, none };

struct TransformerConfig {
  std::string arch = "gpt2";  // the recipe's name, for messages and export
  int n_layer = 12, n_head = 12, n_kv_head = 0;  // n_kv_head 0: = n_head (MHA); 1: MQA
  int n_embd = 768;
  int head_dim = 0;           // 0: n_embd / n_head
  int intermediate = 0;       // MLP width; 0: 4 * n_embd
  int vocab_size = 50257;
  int max_positions = 1024;
  NormKind norm = NormKind::layernorm;
  float norm_eps = 1e-5f;
  PositionKind position = PositionKind::learned;
  RopeConfig rope;
  bool causal = true;
  int sliding_window = 0;     // Mistral: keys further back than this are not seen; 0: none
  MlpKind mlp = MlpKind::gelu_tanh;
  Wiring wiring = Wiring::pre_norm;
  int parallel_norms = 1;     // parallel wiring: 1 (Falcon-7B) or 2 (Falcon new architecture)
  bool qkv_bias = true, attn_out_bias = true, mlp_bias = true, norm_bias = true;
  bool tie_embeddings = true;
  // How a recipe's checkpoint fuses q, k and v into one matrix, for recipes that do: "concat"
  // ([q|k|v]: GPT-2, Falcon-7B), "grouped" (per kv group: Falcon's new architecture),
  // "interleaved" (per head: Falcon without multi-query). Our parameters are always separate.
  std::string fused_qkv;
  int type_vocab_size = 0;    // BERT's token types; 0: none
  bool embedding_norm = false;  // BERT: a norm right after the embeddings
  HeadKind head = HeadKind::causal_lm;
  int num_labels = 0;         // classification
  bool pooler = false;        // BERT's pooler (tanh(W h[CLS] + b)) without a classifier: BertModel's pooler_output
  float dropout = 0.0f;

  int kv_heads() const { return n_kv_head > 0 ? n_kv_head : n_head; }
  int hs() const { return head_dim > 0 ? head_dim : n_embd / n_head; }
  int mlp_width() const { return intermediate > 0 ? intermediate : 4 * n_embd; }
  // Throws naming the field and value.
  void validate() const;
  int64_t num_params() const;
  // Training FLOPs per token at sequence length T: 6 per weight of every matrix a token goes
  // through (the LM head included) plus attention's 12 L T (n_head head_dim).
  double flops_per_token(int T) const;
};

struct TransformerKVCache {
  Tensor k, v;  // (n_layer, capacity, NKV*HS)
  int length = 0;
};

// Optional inputs besides the ids: BERT's token types and padding mask (B,T), nonzero = real token.
struct TransformerInputs {
  const Tensor* token_types = nullptr;
  const Tensor* attention_mask = nullptr;
};

class Transformer {
 public:
  // storage owned (the default): parameters and gradients in one buffer each, for training.
  // mapped: no buffers; a loader (load_hf_weights) gives each parameter its value, often a
  // read-only view of a weights file's map (ParamStore). For inference only.
  explicit Transformer(const TransformerConfig& config, ParamStorage storage = ParamStorage::owned);

  const TransformerConfig& config() const { return config_; }
  ParamStore& params() { return params_; }
  const ParamStore& params() const { return params_; }

  // The usual initialization: N(0, 0.02) for matrices and embeddings, the residual
  // projections N(0, 0.02/sqrt(2 n_layer)), zero biases, unit norm gains. Throws on a mapped
  // model (its weights are read-only).
  void init_weights(uint64_t seed);

  // ids (B,T) -> the last hidden states (B,T,C), after the final norm where there is one.
  Var hidden(Tape& tape, const Tensor& ids, bool training, Rng& rng, const TransformerInputs& in = {});
  // hidden (B,T,C) -> (B,C): the first token ([CLS]) through the pooler, tanh(W h + b).
  // Needs a classification head or `pooler`.
  Var pooled(Tape& tape, const Var& hidden) const;
  // The head's output: causal/masked LM logits (B,T,V), or classification logits (B,labels)
  // from pooled().
  Var forward(Tape& tape, const Tensor& ids, bool training, Rng& rng, const TransformerInputs& in = {});

  // Decoding one sequence with a KV cache (causal LMs): feeds ids at positions
  // cache.length.. and writes the logits (V) of the last one. `scratch` holds activations.
  // capacity: positions it holds (0: max_positions; RoPE models may hold more).
  TransformerKVCache make_cache(int capacity = 0) const;
  void forward_cached(TransformerKVCache& cache, const int32_t* ids, int n, float* logits_out,
                      Arena& scratch) const;

 private:
  Var norm(Tape& tape, const Var& x, const std::string& name) const;
  Var attention_block(Tape& tape, const Var& x, const std::string& h, const Tensor* mask);
  Var mlp_block(Tape& tape, const Var& x, const std::string& h);

  TransformerConfig config_;
  ParamStore params_;
};

}  // namespace ilm
