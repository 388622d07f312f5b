// Rotary position embedding (RoPE): the inverse frequencies, shared by every backend.
// Hugging Face LLaMA semantics: inv_freq[i] = 1 / theta^(2i / rotary_dim) for
// i < rotary_dim / 2, then adjusted by the rope_scaling variant of config.json:
//   ""/"none"/"default": as is;
//   "linear":  inv_freq / factor (positions divided by factor);
//   "dynamic": NTK-aware; when seq_len > original_max_positions the base becomes
//              theta * (factor * seq_len / orig - (factor - 1))^(dim / (dim - 2));
//   "llama3":  LLaMA-3.1: wavelengths longer than orig / low_freq_factor are divided by
//              factor, shorter than orig / high_freq_factor kept, and those between
//              interpolated smoothly;
//   "yarn":    YaRN (Peng et al. 2023) as HF's _compute_yarn_parameters: with
//              base^(2i/dim) = b_i, low/high = the dims where a wavelength makes beta_fast /
//              beta_slow turns over original_max_positions (floor/ceil when truncate, clamped
//              to [0, dim-1]), ramp_i = clamp((i - low) / (high - low), 0, 1) (high += 0.001
//              when equal): inv_freq = (1/b_i) * (1 - ramp_i) + (1/(factor b_i)) * ramp_i;
//              and cos/sin are multiplied by rope_attention_factor (both q and k, so scores
//              grow by its square).
// The recipe resolves HF's yarn fallbacks before they get here: original_max_positions is
// rope_scaling.original_max_position_embeddings when given (and then factor =
// max_position_embeddings / it, as HF computes), else max_position_embeddings.
#pragma once

#include <string>
#include <vector>

namespace ilm {

struct RopeConfig {
  float theta = 10000.0f;  // rope_theta (LLaMA-3: 500000)
  int rotary_dim = 0;      // dims rotated at the start of each head; 0 = the whole head
  std::string scaling;     // "", "none", "default", "linear", "dynamic", "llama3" or "yarn"
  float factor = 1.0f;
  float low_freq_factor = 1.0f;    // llama3
  float high_freq_factor = 4.0f;   // llama3
  int original_max_positions = 0;  // dynamic, llama3, yarn: original_max_position_embeddings
  float beta_fast = 32.0f, beta_slow = 1.0f;  // yarn: the ramp's rotation bounds
  float attention_factor = 0.0f;              // yarn: cos/sin multiplier; 0: from factor and mscale
  float mscale = 0.0f, mscale_all_dim = 0.0f;  // yarn (DeepSeek); 0: not given
  bool truncate = true;                        // yarn: round the ramp bounds to whole dims
};

// The rope_scaling types rope_inv_freq knows, for messages: "none, linear, dynamic, llama3, yarn".
const char* rope_scaling_types();

// The rotary dimensions actually used for heads of HS: rotary_dim, or HS when it is 0.
// Throws when it is odd or larger than HS.
int rope_rotary_dim(const RopeConfig& cfg, int HS);
// (rotary_dim / 2) inverse frequencies for heads of HS, computed in double and rounded to
// float. seq_len (the largest position + 1) matters only for "dynamic". Throws ilm::Error
// naming the field on an unknown variant or a bad value.
std::vector<float> rope_inv_freq(const RopeConfig& cfg, int HS, int seq_len);
// The factor cos and sin are multiplied by: 1 except for yarn, where it is attention_factor
// when given, else get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim) when both
// mscales are given, else get_mscale(factor); get_mscale(s, m) = 1 + 0.1 m ln s (1 for s <= 1).
float rope_attention_factor(const RopeConfig& cfg);

}  // namespace ilm
