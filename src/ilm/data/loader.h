// TokenLoader: random (B, T) windows of one or more token shards, for training a
// language model. Each row is a window of T+1 consecutive tokens, drawn uniformly
// over every window of every shard (so a shard is picked in proportion to its
// number of windows); inputs are its first T tokens and targets its last T.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ilm/core/rng.h"
#include "ilm/data/shard.h"

namespace ilm {

// The whole state of a loader: its Rng. Saved in checkpoints for bit-exact resumes.
struct LoaderState {
  uint64_t seed;
  uint64_t counter;
};

class TokenLoader {
 public:
  // Throws when B or T < 1, a shard cannot be opened, shards disagree on their (known)
  // vocab sizes, or no shard has the T+1 tokens of one window. Shorter shards are skipped.
  TokenLoader(std::vector<std::filesystem::path> shards, int B, int T, uint64_t seed);

  // inputs and targets are (B, T) int32; targets[b, t] = inputs[b, t + 1] within the window.
  void next_batch(int32_t* inputs, int32_t* targets);

  LoaderState state() const { return {rng_.seed, rng_.counter}; }
  void set_state(LoaderState s) {
    rng_.seed = s.seed;
    rng_.counter = s.counter;
  }

  int64_t total_tokens() const { return total_tokens_; }
  // The vocab size the shards declare; 0 when none does (llm.c shards).
  int32_t vocab_size() const { return vocab_size_; }
  int B() const { return B_; }
  int T() const { return T_; }

 private:
  std::vector<TokenShard> shards_;
  // window_start_[i]: windows in shards 0..i-1; the last entry is the total.
  std::vector<uint64_t> window_start_;
  int B_, T_;
  int64_t total_tokens_ = 0;
  int32_t vocab_size_ = 0;
  Rng rng_;
  std::vector<int32_t> window_;  // T + 1 tokens
};

// The shard files that `pattern` names: a file; a folder (its *.bin files, sorted); or a
// glob(3) pattern (its matching files, sorted). Throws naming the pattern when none match.
std::vector<std::filesystem::path> expand_shard_paths(const std::string& pattern);

}  // namespace ilm
