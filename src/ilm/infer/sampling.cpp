#include "ilm/infer/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ilm/core/error.h"

namespace ilm {

void validate(const SamplingOptions& o) {
  ILM_CHECK(o.temperature >= 0 && std::isfinite(o.temperature), "temperature must be >= 0, got {}",
            o.temperature);
  ILM_CHECK(o.top_k >= 0, "top-k must be >= 0, got {}", o.top_k);
  ILM_CHECK(o.top_p > 0 && o.top_p <= 1, "top-p must be in (0, 1], got {}", o.top_p);
}

int32_t sample_token(const float* logits, int V, const SamplingOptions& o, Rng& rng) {
  if (o.temperature == 0.0f) return int32_t(std::max_element(logits, logits + V) - logits);
  // Candidates sorted by logit, highest first (stable: lower id first on ties).
  std::vector<int32_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  size_t k = (o.top_k > 0 && o.top_k < V) ? size_t(o.top_k) : size_t(V);
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  if (k < size_t(V) || o.top_p < 1.0f) {
    std::partial_sort(idx.begin(), idx.begin() + std::ptrdiff_t(k), idx.end(), by_logit);
    idx.resize(k);
  }
  float mx = logits[idx[0]];
  for (int32_t i : idx) mx = std::max(mx, logits[i]);
  std::vector<double> p(idx.size());
  double sum = 0;
  for (size_t i = 0; i < idx.size(); ++i)
    sum += p[i] = std::exp(double(logits[idx[i]] - mx) / o.temperature);
  for (double& x : p) x /= sum;
  if (o.top_p < 1.0f) {  // the smallest prefix whose mass reaches top_p (at least one token)
    double acc = 0;
    size_t keep = 0;
    while (keep < p.size()) {
      acc += p[keep++];
      if (acc >= o.top_p) break;
    }
    p.resize(keep);
    idx.resize(keep);
    for (double& x : p) x /= acc;
  }
  double r = rng.uniform_double(), acc = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    acc += p[i];
    if (r < acc) return idx[i];
  }
  return idx.back();
}

}  // namespace ilm
