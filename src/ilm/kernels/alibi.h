// ALiBi (attention with linear biases, Press et al. 2021) as Hugging Face's Falcon computes it
// (modeling_falcon build_alibi_tensor and the attention that uses it):
//   * slopes: for n heads, p = the largest power of two <= n; heads 0..p-1 get
//     2^(-8/p * (i+1)); the remaining n - p heads take every other slope of 2p heads,
//     2^(-4/p * (2i+1)) for i < n - p (the BLOOM rule, any head count);
//   * the bias of key position j for head h is bf16(bf16(slope_h) * j): Falcon rounds the
//     slopes to bfloat16 and forms the product in bfloat16 (exact up to j = 256 for the
//     slopes of power-of-two head counts, rounded beyond);
//   * it is added to the raw scores q.k BEFORE the 1/sqrt(head_dim) scaling, so the
//     softmax sees (q.k + bias) / sqrt(HS); RoPE Falcon scales first and adds nothing;
//   * j counts the kept keys: with a padding mask, key j's position is the number of
//     unmasked keys before it (the mask's cumsum - 1); masked keys are never attended.
// The bias depends on the key only: per query row that is a shift of -slope * i away from the
// textbook -slope * (i - j), which the softmax ignores.
#pragma once

#include <cstdint>
#include <vector>

namespace ilm {

// The n_head slopes, computed as float (torch's float32 pow), before Falcon's bf16 rounding.
std::vector<float> alibi_slopes(int n_head);
// Falcon's bias for one head at key position pos (before the 1/sqrt(HS) scaling).
float alibi_bias(float slope, int64_t pos);
// (B, NH, T) biases of keys 0..T-1 for scores that are already scaled: scale * alibi_bias.
// key_mask (B,T) nonzero = kept, or null (positions pos0 + j).
void alibi_key_bias(float* out, const std::vector<float>& slopes, const uint8_t* key_mask, int B,
                    int T, float scale, int pos0 = 0);

}  // namespace ilm
