// What the attention kernels share: the masked row softmax and per-thread scratch rows.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "ilm/kernels/cpu/fastmath.h"

namespace ilm::cpu {

// Softmax over the entries lo <= j < n of row (length T) with keep[j] != 0 (all when keep
// is null); every other entry becomes 0, and so does the whole row when none is kept.
inline void masked_softmax_row(float* row, int lo, int n, const uint8_t* keep, int T) {
  float mx = -std::numeric_limits<float>::infinity();
  float s = 0.0f;
  for (int j = 0; j < lo; ++j) row[j] = 0.0f;
  row += lo, n -= lo, T -= lo;
  if (keep) keep += lo;
  if (keep) {
    for (int j = 0; j < n; ++j)
      if (keep[j] && row[j] > mx) mx = row[j];
    if (mx == -std::numeric_limits<float>::infinity()) {  // nothing to attend (or all -inf)
      for (int j = 0; j < T; ++j) row[j] = 0.0f;
      return;
    }
    for (int j = 0; j < n; ++j) {
      row[j] = keep[j] ? exp_approx(row[j] - mx) : 0.0f;
      s += row[j];
    }
  } else {
    for (int j = 0; j < n; ++j) mx = row[j] > mx ? row[j] : mx;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; ++j) {
      row[j] = exp_approx(row[j] - mx);
      s += row[j];
    }
  }
  const float inv = 1.0f / s;
  for (int j = 0; j < n; ++j) row[j] *= inv;
  for (int j = n; j < T; ++j) row[j] = 0.0f;
}

inline std::vector<float>& thread_scratch(size_t n) {
  static thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf;
}

}  // namespace ilm::cpu
