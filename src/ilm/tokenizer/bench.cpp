#include "ilm/tokenizer/bench.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <string_view>
#include <vector>

#include "ilm/core/error.h"

namespace ilm {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// About `n` parts of `text`, each ending at a line end when one is near.
std::vector<std::string_view> split_at_lines(std::string_view text, int n) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (int i = 1; i <= n && start < text.size(); ++i) {
    size_t end = text.size();
    if (i < n) {
      size_t nl = text.find('\n', std::max(start, text.size() * size_t(i) / size_t(n)));
      end = nl == std::string_view::npos ? text.size() : nl + 1;
    }
    parts.push_back(text.substr(start, end - start));
    start = end;
  }
  return parts;
}
}  // namespace

TokenizerBenchResult bench_tokenizer(const Tokenizer& tok, const std::string& text, int threads,
                                     int repeats) {
  ILM_CHECK(!text.empty(), "tokenizer bench: the input text is empty");
  TokenizerBenchResult r;
  r.threads = threads > 0 ? threads : omp_get_num_procs();
  r.megabytes = double(text.size()) / 1e6;
  double best1 = 1e30, bestn = 1e30;
  for (int k = 0; k < repeats; ++k) {
    auto t = Clock::now();
    r.tokens = int64_t(tok.encode(text).size());
    best1 = std::min(best1, seconds_since(t));
  }
  // Many parts per thread, so uneven parts balance out.
  std::vector<std::string_view> parts = split_at_lines(text, 16 * r.threads);
  for (int k = 0; k < repeats; ++k) {
    std::vector<size_t> counts(parts.size());
    auto t = Clock::now();
#pragma omp parallel for schedule(dynamic, 1) num_threads(r.threads)
    for (size_t i = 0; i < parts.size(); ++i) counts[i] = tok.encode(parts[i]).size();
    bestn = std::min(bestn, seconds_since(t));
  }
  r.single_mb_per_s = r.megabytes / best1;
  r.multi_mb_per_s = r.megabytes / bestn;
  r.bytes_per_token = r.tokens ? double(text.size()) / double(r.tokens) : 0;
  return r;
}

}  // namespace ilm
