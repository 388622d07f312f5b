// rope_inv_freq: the RoPE frequency table and its rope_scaling variants.
#include "ilm/kernels/rope.h"

#include <algorithm>
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

const char* rope_scaling_types() {
  return "none, linear, dynamic, llama3, yarn";
}

namespace {

double yarn_mscale(double scale, double m) {
  return scale <= 1.0 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
}

}  // namespace

float rope_attention_factor(const RopeConfig& cfg) {
  if (cfg.scaling != "yarn") return 1.0f;
  if (cfg.attention_factor > 0.0f) return cfg.attention_factor;
  if (cfg.mscale != 0.0f && cfg.mscale_all_dim != 0.0f)
    return float(yarn_mscale(cfg.factor, cfg.mscale) / yarn_mscale(cfg.factor, cfg.mscale_all_dim));
  return float(yarn_mscale(cfg.factor, 1.0));
}

std::vector<float> rope_inv_freq(const RopeConfig& cfg, int HS, int seq_len) {
  const int dim = rope_rotary_dim(cfg, HS);
  const std::string& kind = cfg.scaling;
  const bool plain = kind.empty() || kind == "none" || kind == "default";
  ILM_CHECK(plain || kind == "linear" || kind == "dynamic" || kind == "llama3" || kind == "yarn",
            "[rope] unknown rope_scaling type '{}' (supported: {})", kind, rope_scaling_types());
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
  } else if (kind == "yarn") {
    ILM_CHECK(cfg.original_max_positions > 0,
              "[rope] yarn scaling needs original_max_position_embeddings > 0, got {}",
              cfg.original_max_positions);
    ILM_CHECK(cfg.beta_fast > 0.0f && cfg.beta_slow > 0.0f,
              "[rope] yarn beta_fast ({}) and beta_slow ({}) must be positive", cfg.beta_fast,
              cfg.beta_slow);
    ILM_CHECK(cfg.attention_factor >= 0.0f, "[rope] yarn attention_factor {} must be positive",
              cfg.attention_factor);
    // The dim (of `dim`) at which a wavelength turns `rotations` times over the original context.
    auto correction_dim = [&](double rotations) {
      return dim * std::log(cfg.original_max_positions / (rotations * 2.0 * std::numbers::pi)) /
             (2.0 * std::log(base));
    };
    double low = correction_dim(cfg.beta_fast), high = correction_dim(cfg.beta_slow);
    if (cfg.truncate) low = std::floor(low), high = std::ceil(high);
    low = std::max(low, 0.0);
    high = std::min(high, double(dim - 1));
    if (low == high) high += 0.001;  // no zero-width ramp
    for (int i = 0; i < dim / 2; ++i) {
      const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
      double& f = inv[size_t(i)];
      f = f * (1.0 - ramp) + f / factor * ramp;  // extrapolated below low, interpolated above high
    }
  }
  std::vector<float> out(inv.size());
  for (size_t i = 0; i < inv.size(); ++i) out[i] = float(inv[i]);
  return out;
}

}  // namespace ilm
