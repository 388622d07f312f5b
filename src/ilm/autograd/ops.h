// Differentiable ops: each runs its fused forward kernel and records a backward
// made of the matching kernel. Shapes use B, T, C, NH, V as in kernels/cpu.
// An optional input (a bias, position embeddings) is passed as a null Var.
#pragma once

#include "ilm/autograd/tape.h"
#include "ilm/core/rng.h"
#include "ilm/kernels/rope.h"

namespace ilm {

// ids (B,T) int32 -> (B,T,C) = wte[ids] + wpe[t]; wpe may be null.
Var embedding(Tape& tape, const Tensor& ids, const Var& wte, const Var& wpe);
// x (...,C) -> (...,OC) = x @ w^T + b; w (OC,C) as torch.nn.Linear; b (OC) or null.
Var linear(Tape& tape, const Var& x, const Var& w, const Var& b);
// Over the last dimension; w (C), b (C) or null.
Var layernorm(Tape& tape, const Var& x, const Var& w, const Var& b, float eps = 1e-5f);
// GELU: the tanh approximation (GPT-2's) when `tanh_approximation`, else exact (erf).
Var gelu(Tape& tape, const Var& x, bool tanh_approximation = true);
// a + b, same shape.
Var add(Tape& tape, const Var& a, const Var& b);
// Inverted dropout with probability p; the identity when p == 0. Draws one seed from rng.
Var dropout(Tape& tape, const Var& x, float p, Rng& rng);
// qkv (B,T,3C) -> (B,T,C): multi-head scaled dot-product attention.
Var attention(Tape& tape, const Var& qkv, int n_head, bool causal);
// q (B,T,NH*HS), k and v (B,T,NKV*HS) -> (B,T,NH*HS): attention with grouped key/value
// heads (n_kv_head == n_head: MHA; 1: MQA), scale 1/sqrt(HS). key_mask (B,T) u8 or i32, or
// null: 0 marks a padded key; a query with no key left to attend outputs zeros. window > 0:
// query t sees only keys t - window < j <= t (Mistral's sliding window). alibi: Falcon's ALiBi
// key biases (ilm/kernels/alibi.h: added before the 1/sqrt(HS) scaling, key positions count
// the kept keys).
Var attention_gqa(Tape& tape, const Var& q, const Var& k, const Var& v, int n_head, int n_kv_head,
                  bool causal, const Tensor* key_mask = nullptr, int window = 0,
                  bool alibi = false);
// RMSNorm over the last dimension (LLaMA): x * rsqrt(mean(x^2) + eps) * w, w (C).
Var rmsnorm(Tape& tape, const Var& x, const Var& w, float eps = 1e-6f);
// RoPE on x (B,T,n_head*HS) (q with n_head, k with n_kv_head) at positions pos0..pos0+T-1,
// Hugging Face rotate_half layout; the frequencies are rope_inv_freq(cfg, HS, pos0 + T) and
// cos/sin are scaled by rope_attention_factor(cfg) (yarn).
Var rope(Tape& tape, const Var& x, int n_head, const RopeConfig& cfg, int pos0 = 0);
// LLaMA's MLP activation silu(gate) * up; gate and up are the outputs of the separate
// gate_proj and up_proj (same shape).
Var swiglu(Tape& tape, const Var& gate, const Var& up);
// x * sigmoid(x).
Var silu(Tape& tape, const Var& x);
// Elementwise tanh (BERT's pooler).
Var tanh(Tape& tape, const Var& x);
// x (B,T,C) -> (B,C): the vectors at position t (BERT's [CLS] at t = 0).
Var select_position(Tape& tape, const Var& x, int t);
// logits (...,V), targets (...) int32 -> scalar mean loss over rows whose target is
// not ignore_index. All rows ignored gives loss 0 and zero gradients.
// logits_are_private: nothing else reads the logits during backward, so their
// gradient may overwrite them in place (saves a (B,T,V) buffer: 200 MB for GPT-2
// at B=4, T=256).
Var cross_entropy(Tape& tape, const Var& logits, const Tensor& targets, int ignore_index = -1,
                  bool logits_are_private = false);

}  // namespace ilm
