// GPT: the GPT-2 architecture (learned positions, pre-norm LayerNorm blocks,
// GELU MLP, tied embeddings) built from a config, as nanoGPT and llm.c define it.
// Parameter names are Hugging Face GPT-2's without the "transformer." prefix.
#pragma once

#include <string>
#include <vector>

#include "ilm/autograd/ops.h"
#include "ilm/nn/params.h"

namespace ilm {

struct GPTConfig {
  int n_layer = 12;
  int n_head = 12;
  int n_embd = 768;
  int block_size = 1024;
  int vocab_size = 50257;
  bool bias = true;
  float dropout = 0.0f;
  // "gelu_tanh" (GPT-2's approximation, Hugging Face's gelu_new) or "gelu" (exact erf,
  // torch.nn.GELU(), as nanoGPT uses today).
  std::string activation = "gelu_tanh";

  // Throws naming the field and value (n_embd not divisible by n_head, sizes < 1, ...).
  void validate() const;
  int64_t num_params() const;  // without the position embedding counted twice; tied head
  // Training FLOPs per token (6N + attention's 12 L T C), as in the PaLM appendix.
  double flops_per_token(int T) const;
};

// Key/value cache for decoding one sequence: (n_layer, block_size, C) each.
struct KVCache {
  Tensor k, v;
  int length = 0;  // positions filled
};

class GPT {
 public:
  explicit GPT(const GPTConfig& config);

  const GPTConfig& config() const { return config_; }
  ParamStore& params() { return params_; }
  const ParamStore& params() const { return params_; }

  // GPT-2's initialization: N(0, 0.02) for weights and embeddings, residual
  // projections N(0, 0.02/sqrt(2 n_layer)), zero biases, unit LayerNorm gains.
  void init_weights(uint64_t seed);

  // ids (B,T) -> logits (B,T,V). Dropout is active when `training` is true.
  Var forward(Tape& tape, const Tensor& ids, bool training, Rng& dropout_rng);

  // Decoding: feeds `ids` at positions cache.length.. and returns logits (V) of the
  // last one. `scratch` holds activations (reset by the caller between calls).
  KVCache make_cache() const;
  void forward_cached(KVCache& cache, const int32_t* ids, int n, float* logits_out, Arena& scratch);

 private:
  GPTConfig config_;
  ParamStore params_;
};

// Hugging Face GPT-2 stores these as Conv1D, (in, out): transpose on export/import.
bool gpt2_is_conv1d_weight(const std::string& name);

}  // namespace ilm
