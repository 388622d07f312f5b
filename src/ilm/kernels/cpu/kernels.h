// CPU kernels: the math of every op, as plain functions over raw pointers.
//
// Conventions (as llm.c): B batch, T time, C channels, NH heads, HS = C / NH,
// V vocabulary, OC output channels. Tensors are contiguous row-major.
// Backward functions ACCUMULATE (+=) into every gradient they are given, both
// parameters' and activations', so a value used twice simply receives two
// contributions; callers zero gradient buffers once before backward.
// Reductions run in a fixed order for a fixed thread count, so results are
// bit-identical run to run.
#pragma once

#include <cstdint>

namespace ilm::cpu {

// ---- GEMM ------------------------------------------------------------------
// Row-major C(M,N) = alpha * op(A) @ op(B) + beta * C, op(X) = X or X^T. oneDNN's
// sgemm (~370 GFLOP/s on 2 Zen 5 cores, where OpenBLAS is pinned to AVX2 kernels).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);

// ---- Embedding ---------------------------------------------------------------
// out (B,T,C) = wte[inp[b,t]] + wpe[pos0 + t] (wpe may be null). inp (B,T) ids in [0, V).
void encoder_forward(float* out, const int32_t* inp, const float* wte, const float* wpe, int B,
                     int T, int C, int pos0 = 0);
// dwte (V,C) and dwpe (maxT,C) += scattered dout (B,T,C). Deterministic: each thread
// owns a range of channels.
void encoder_backward(float* dwte, float* dwpe, const float* dout, const int32_t* inp, int B,
                      int T, int C);

// ---- Linear: out = inp @ weight^T + bias -----------------------------------------
// inp (N,C), weight (OC,C) as torch.nn.Linear, bias (OC) or null, out (N,OC).
void matmul_forward(float* out, const float* inp, const float* weight, const float* bias,
                    int64_t N, int C, int OC);
// dinp (N,C) += dout @ weight; dweight (OC,C) += dout^T @ inp; dbias (OC) += sum of dout rows.
// Any gradient pointer may be null to skip it.
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                     const float* inp, const float* weight, int64_t N, int C, int OC);

// ---- LayerNorm ------------------------------------------------------------------
// out (N,C); mean and rstd (N) are saved for backward (may be null in inference).
// weight (C); bias (C) or null.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t N, int C, float eps = 1e-5f);
void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, const float* mean,
                        const float* rstd, int64_t N, int C);

// ---- GELU ----------------------------------------------------------------------------
// The tanh approximation (GPT-2's "gelu_new"); out may alias inp.
void gelu_forward(float* out, const float* inp, int64_t N);
void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t N);
// The exact form 0.5 x (1 + erf(x / sqrt 2)) (torch.nn.GELU(), BERT, nanoGPT today).
void gelu_exact_forward(float* out, const float* inp, int64_t N);
void gelu_exact_backward(float* dinp, const float* inp, const float* dout, int64_t N);

// ---- Residual ----------------------------------------------------------------------
void residual_forward(float* out, const float* a, const float* b, int64_t N);
// da += dout; db += dout.
void residual_backward(float* da, float* db, const float* dout, int64_t N);

// ---- Dropout (inverted) --------------------------------------------------------------
// Element i is kept when hash_uniform(seed, i) >= p and scaled by 1/(1-p). The mask
// is recomputed in backward from (seed, i), so nothing is stored.
void dropout_forward(float* out, const float* inp, float p, uint64_t seed, int64_t N);
void dropout_backward(float* dinp, const float* dout, float p, uint64_t seed, int64_t N);

// ---- Attention ------------------------------------------------------------------------
// qkv (B,T,3C) holds q, k, v side by side; head h of q is columns [h*HS, (h+1)*HS).
// out (B,T,C). att (B,NH,T,T) receives the softmax probabilities for backward
// (only row t's first t+1 entries are meaningful when causal); it may be null in
// inference, then a per-thread (T) scratch row is used.
void attention_forward(float* out, float* att, const float* qkv, int B, int T, int C, int NH,
                       bool causal);
// dqkv (B,T,3C) += from dout (B,T,C); scratch needs B*NH*T*T floats (or is null to
// let the kernel use its own per-thread buffers).
void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att,
                        int B, int T, int C, int NH, bool causal);
// Decoding with a KV cache, batch 1: q (Tq,C) for positions pos0..pos0+Tq-1 attends
// to k_cache and v_cache (pos0+Tq, C) rows (causal). out (Tq,C).
void attention_forward_cached(float* out, const float* q, int64_t q_stride, const float* k_cache,
                              const float* v_cache, int Tq, int pos0, int C, int NH);

// ---- Attention with grouped key/value heads (MHA, GQA, MQA) -----------------------------
// q (B,T,NH*HS), k and v (B,T,NKV*HS), NH % NKV == 0: head h reads kv head h / (NH/NKV).
// Scale 1/sqrt(HS). key_mask (B,T) or null: 0 marks a padded key, never attended; a query
// with no key to attend (all masked) gets zeros. out (B,T,NH*HS). att (B,NH,T,T) receives
// the probabilities for backward (0 wherever a key is not attended), or is null in
// inference. window > 0 (Mistral's sliding window): query t sees keys t - window < j <= t.
// key_bias (B,NH,T) or null: added to the scaled score of key j in every row of (b, h)
// (ALiBi, ilm/kernels/alibi.h). Backward needs neither window nor bias: att is 0 wherever a
// key was not attended, and a constant bias has no gradient.
void attention_gqa_forward(float* out, float* att, const float* q, const float* k, const float* v,
                           const uint8_t* key_mask, int B, int T, int NH, int NKV, int HS,
                           bool causal, int window = 0, const float* key_bias = nullptr);
// dq (B,T,NH*HS), dk and dv (B,T,NKV*HS) += from dout (B,T,NH*HS); dk and dv sum over the
// heads of each group. Any gradient may be null to skip it.
void attention_gqa_backward(float* dq, float* dk, float* dv, const float* dout, const float* q,
                            const float* k, const float* v, const float* att, int B, int T, int NH,
                            int NKV, int HS, bool causal);
// Decoding with a KV cache, batch 1: q (Tq, rows q_stride apart, NH*HS used) for positions
// pos0..pos0+Tq-1 attends causally to k_cache and v_cache (pos0+Tq, NKV*HS). out (Tq,NH*HS).
// key_bias (NH, pos0+Tq) or null: added to the scaled scores, as in attention_gqa_forward.
void attention_gqa_forward_cached(float* out, const float* q, int64_t q_stride,
                                  const float* k_cache, const float* v_cache, int Tq, int pos0,
                                  int NH, int NKV, int HS, int window = 0,
                                  const float* key_bias = nullptr);

// ---- RMSNorm (LLaMA) -------------------------------------------------------------------
// out (N,C) = x * rstd * weight, rstd = 1/sqrt(mean(x^2) + eps) saved (N) for backward
// (may be null in inference); weight (C).
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* weight, int64_t N,
                     int C, float eps);
// dinp (N,C) and dweight (C) +=; either may be null.
void rmsnorm_backward(float* dinp, float* dweight, const float* dout, const float* inp,
                      const float* weight, const float* rstd, int64_t N, int C);

// ---- RoPE (Hugging Face rotate_half layout) -------------------------------------------
// inp and out (B,T,NH*HS); out may alias inp. In each head, dims i and i + rotary_dim/2
// (i < rotary_dim/2) rotate by the angle (pos0 + t) * inv_freq[i] (ilm/kernels/rope.h
// computes inv_freq); dims from rotary_dim to HS are copied. rotary_dim is even, <= HS.
// cos_sin_scale multiplies cos and sin (yarn's attention factor; 1 otherwise), so the rotated
// dims are also scaled by it.
void rope_forward(float* out, const float* inp, const float* inv_freq, int B, int T, int NH, int HS,
                  int rotary_dim, int pos0, float cos_sin_scale = 1.0f);
// dinp += the transpose of the forward map applied to dout (dinp must not alias dout).
void rope_backward(float* dinp, const float* dout, const float* inv_freq, int B, int T, int NH,
                   int HS, int rotary_dim, int pos0, float cos_sin_scale = 1.0f);

// ---- SiLU, SwiGLU, tanh ------------------------------------------------------------------
// silu(x) = x * sigmoid(x); out may alias inp.
void silu_forward(float* out, const float* inp, int64_t N);
void silu_backward(float* dinp, const float* inp, const float* dout, int64_t N);
// LLaMA's MLP activation: out (N) = silu(gate) * up, gate and up (N) from the separate
// gate_proj and up_proj. dgate, dup += (either may be null).
void swiglu_forward(float* out, const float* gate, const float* up, int64_t N);
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate,
                     const float* up, int64_t N);
// tanh (BERT's pooler). Backward reads the forward's output: dinp += dout * (1 - out^2).
void tanh_forward(float* out, const float* inp, int64_t N);
void tanh_backward(float* dinp, const float* out, const float* dout, int64_t N);

// ---- Softmax cross-entropy, fused, with an ignore index -----------------------------
// logits (N,V), targets (N). losses (N) = -log softmax(logits)[target], 0 where
// target == ignore_index; lse (N) saves log-sum-exp for backward. Returns the
// number of counted (non-ignored) rows. Throws on a target outside [0,V).
int64_t crossentropy_forward(float* losses, float* lse, const float* logits,
                             const int32_t* targets, int64_t N, int V, int ignore_index);
// dlogits (N,V) += dloss[row] * (softmax - onehot(target)); dloss (N) per row
// (e.g. 1/count for a mean); ignored rows get nothing. With overwrite, dlogits is
// written (=) instead, ignored rows get zeros, and dlogits may alias logits: the
// (B,T,V) logits buffer then holds its own gradient, saving one such buffer.
void crossentropy_backward(float* dlogits, const float* logits, const float* lse,
                           const int32_t* targets, const float* dloss, int64_t N, int V,
                           int ignore_index, bool overwrite = false);

// ---- Optimizer and gradient utilities -----------------------------------------------
// One AdamW step (PyTorch semantics: decoupled weight decay, bias-corrected moments).
// `step` counts from 1.
void adamw_update(float* param, const float* grad, float* m, float* v, int64_t N, float lr,
                  float beta1, float beta2, float eps, float weight_decay, int64_t step,
                  float grad_scale = 1.0f);
// Sum of squares in double, in a fixed order (blocks of 4096, then summed in order).
double sum_squares(const float* x, int64_t N);
void scale_inplace(float* x, float s, int64_t N);

}  // namespace ilm::cpu
