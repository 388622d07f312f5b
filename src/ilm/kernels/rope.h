// Rotary position embedding (RoPE): the inverse frequencies, shared by every backend.
// Hugging Face LLaMA semantics: inv_freq[i] = 1 / theta^(2i / rotary_dim) for
// i < rotary_dim / 2, then adjusted by the rope_scaling variant of config.json:
//   ""/"none"/"default": as is;
//   "linear":  inv_freq / factor (positions divided by factor);
//   "dynamic": NTK-aware; when seq_len > original_max_positions the base becomes
//              theta * (factor * seq_len / orig - (factor - 1))^(dim / (dim - 2));
//   "llama3":  LLaMA-3.1: wavelengths longer than orig / low_freq_factor are divided by
//              factor, shorter than orig / high_freq_factor kept, and those between
//              interpolated smoothly.
#pragma once

#include <string>
#include <vector>

namespace ilm {

struct RopeConfig {
  float theta = 10000.0f;  // rope_theta (LLaMA-3: 500000)
  int rotary_dim = 0;      // dims rotated at the start of each head; 0 = the whole head
  std::string scaling;     // "", "none", "default", "linear", "dynamic" or "llama3"
  float factor = 1.0f;
  float low_freq_factor = 1.0f;    // llama3
  float high_freq_factor = 4.0f;   // llama3
  int original_max_positions = 0;  // dynamic, llama3: original_max_position_embeddings
};

// The rotary dimensions actually used for heads of HS: rotary_dim, or HS when it is 0.
// Throws when it is odd or larger than HS.
int rope_rotary_dim(const RopeConfig& cfg, int HS);
// (rotary_dim / 2) inverse frequencies for heads of HS, computed in double and rounded to
// float. seq_len (the largest position + 1) matters only for "dynamic". Throws ilm::Error
// naming the field on an unknown variant or a bad value.
std::vector<float> rope_inv_freq(const RopeConfig& cfg, int HS, int seq_len);

}  // namespace ilm
