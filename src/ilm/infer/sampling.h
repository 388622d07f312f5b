// Choosing the next token from logits: temperature (0 = greedy argmax), top-k,
// top-p (nucleus), from a seeded Rng.
#pragma once

#include <cstdint>
#include <vector>

#include "ilm/core/rng.h"

namespace ilm {

struct SamplingOptions {
  float temperature = 1.0f;  // 0: argmax
  int top_k = 0;             // 0: no limit
  float top_p = 1.0f;        // 1: no limit
};

// Throws naming the option when a value is out of range.
void validate(const SamplingOptions& opt);
// logits (V) are not modified. Ties in argmax go to the lowest id.
int32_t sample_token(const float* logits, int V, const SamplingOptions& opt, Rng& rng);

}  // namespace ilm
