// Rng: a counter-based generator (SplitMix64 over seed and counter). Its whole
// state is two integers, so it is saved in checkpoints and restored bit-exactly,
// and any element i of a stream can be drawn without drawing 0..i-1, which makes
// parallel kernels (dropout) give the same bits at any thread count.
#pragma once

#include <cstdint>

namespace ilm {

// A well-mixed 64-bit value for (seed, index); the core of every draw.
inline uint64_t hash64(uint64_t seed, uint64_t index) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + index * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Uniform in [0, 1) with 24 random bits.
inline float hash_uniform(uint64_t seed, uint64_t index) {
  return float(hash64(seed, index) >> 40) * (1.0f / 16777216.0f);
}

__extension__ typedef unsigned __int128 uint128_t;

struct Rng {
  uint64_t seed = 0;
  uint64_t counter = 0;

  Rng() = default;
  explicit Rng(uint64_t s) : seed(s) {}

  uint64_t next_u64() { return hash64(seed, counter++); }
  // Uniform in [0, 1).
  float uniform() { return hash_uniform(seed, counter++); }
  double uniform_double() { return double(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias < 2^-64 * n).
  uint64_t below(uint64_t n) { return uint64_t(uint128_t(next_u64()) * n >> 64); }
  // Standard normal (Box-Muller, one value per two draws).
  float normal();
  // A child stream: same seed family, independent sequence.
  Rng fork(uint64_t stream) { return Rng(hash64(seed, 0xF00Dull ^ (stream << 32) ^ counter++)); }
};

}  // namespace ilm
