// Tokenizer throughput: MB/s of encoding on one thread and on several, over the
// same text, in one invocation.
#pragma once

#include <string>

#include "ilm/tokenizer/tokenizer.h"

namespace ilm {

struct TokenizerBenchResult {
  double megabytes = 0;
  int64_t tokens = 0;
  double single_mb_per_s = 0;
  double multi_mb_per_s = 0;
  int threads = 1;
  double bytes_per_token = 0;
};

// Encodes `text` whole on one thread, then as `threads` parts split at line ends in
// parallel (batch encoding), best of `repeats` each. threads 0: all cores.
TokenizerBenchResult bench_tokenizer(const Tokenizer& tok, const std::string& text, int threads,
                                     int repeats = 3);

}  // namespace ilm
