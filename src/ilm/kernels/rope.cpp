// rope_inv_freq: the RoPE frequency table and its rope_scaling variants.
#include "ilm/kernels/rope.h"

#include <cmath>
#include <numbers>

#include "ilm/core/error.h"

namespace ilm {

int rope_rotary_dim(const RopeConfig& cfg, int HS) {
  const int dim = cfg.rotary_dim == 0 ? HS : cfg.rotary_dim;
  ILM_CHECK(dim > 0 && dim <= HS && dim % 2 == 0,
            "[rope] rotary_dim {} must be even and in (0, head size {}]", dim, HS);
  return dim;
}

std::vector<float> rope_inv_freq(const RopeConfig& cfg, int HS, int seq_len) {
  const int dim = rope_rotary_dim(cfg, HS);
  const std::string& kind = cfg.scaling;
  const bool plain = kind.empty() || kind == "none" || kind == "default";
  ILM_CHECK(plain || kind == "linear" || kind == "dynamic" || kind == "llama3",
            "[rope] unknown rope_scaling type '{}' (expected none, linear, dynamic or llama3)",
            kind);
  ILM_CHECK(cfg.theta > 0.0f, "[rope] rope_theta {} must be positive", cfg.theta);
  if (!plain)
    ILM_CHECK(cfg.factor > 0.0f, "[rope] rope_scaling factor {} must be positive", cfg.factor);
  double base = cfg.theta;
  const double factor = cfg.factor;
  if (kind == "dynamic") {
    ILM_CHECK(cfg.original_max_positions > 0,
              "[rope] dynamic scaling needs original_max_position_embeddings > 0, got {}",
              cfg.original_max_positions);
    ILM_CHECK(dim > 2, "[rope] dynamic scaling needs rotary_dim > 2, got {}", dim);
    const double orig = cfg.original_max_positions;
    if (seq_len > cfg.original_max_positions)
      base *= std::pow(factor * double(seq_len) / orig - (factor - 1.0), double(dim) / (dim - 2));
  }
  std::vector<double> inv(static_cast<size_t>(dim / 2));
  for (int i = 0; i < dim / 2; ++i) inv[size_t(i)] = 1.0 / std::pow(base, double(2 * i) / dim);
  if (kind == "linear") {
    for (double& f : inv) f /= factor;
  } else if (kind == "llama3") {
    ILM_CHECK(cfg.original_max_positions > 0,
              "[rope] llama3 scaling needs original_max_position_embeddings > 0, got {}",
              cfg.original_max_positions);
    ILM_CHECK(cfg.high_freq_factor > cfg.low_freq_factor && cfg.low_freq_factor > 0.0f,
              "[rope] llama3 scaling needs 0 < low_freq_factor ({}) < high_freq_factor ({})",
              cfg.low_freq_factor, cfg.high_freq_factor);
    const double orig = cfg.original_max_positions;
    const double lo = cfg.low_freq_factor, hi = cfg.high_freq_factor;
    const double low_freq_wavelen = orig / lo, high_freq_wavelen = orig / hi;
    for (double& f : inv) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_freq_wavelen) {
        f /= factor;  // long wavelengths: interpolated like "linear"
      } else if (wavelen >= high_freq_wavelen) {
        const double smooth = (orig / wavelen - lo) / (hi - lo);
        f = (1.0 - smooth) * f / factor + smooth * f;
      }  // short wavelengths: unchanged
    }
  }
  std::vector<float> out(inv.size());
  for (size_t i = 0; i < inv.size(); ++i) out[i] = float(inv[i]);
  return out;
}

}  // namespace ilm
