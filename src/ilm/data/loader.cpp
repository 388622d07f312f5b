#include "ilm/data/loader.h"

#include <glob.h>

#include <algorithm>
#include <cstring>

#include "ilm/core/error.h"

namespace fs = std::filesystem;

namespace ilm {

TokenLoader::TokenLoader(std::vector<fs::path> shards, int B, int T, uint64_t seed)
    : B_(B), T_(T), rng_(seed) {
  ILM_CHECK(B >= 1 && T >= 1, "token loader: B = {} and T = {}, expected both >= 1", B, T);
  ILM_CHECK(!shards.empty(), "token loader: no shards given");
  window_start_.push_back(0);
  for (const fs::path& path : shards) {
    TokenShard s = TokenShard::open(path);
    if (s.vocab_size() > 0) {
      if (vocab_size_ > 0 && s.vocab_size() != vocab_size_) {
        const auto& first = *std::find_if(shards_.begin(), shards_.end(),
                                          [](const TokenShard& o) { return o.vocab_size() > 0; });
        fail(
            "token loader: {} has vocab size {} but {} has {}; shards must come from one "
            "tokenizer",
            path.string(), s.vocab_size(), first.path().string(), vocab_size_);
      }
      vocab_size_ = s.vocab_size();
    }
    total_tokens_ += s.size();
    // A window is T+1 tokens starting at offset 0..size-T-1.
    const uint64_t windows = s.size() > T ? uint64_t(s.size() - T) : 0;
    window_start_.push_back(window_start_.back() + windows);
    shards_.push_back(std::move(s));
  }
  if (window_start_.back() == 0) {
    std::string sizes;
    for (const TokenShard& s : shards_) {
      sizes +=
          fmt::format("{}{} ({} tokens)", sizes.empty() ? "" : ", ", s.path().string(), s.size());
    }
    fail("token loader: no shard has the T + 1 = {} tokens of one window (T = {}): {}",
         int64_t(T) + 1, T, sizes);
  }
  window_.resize(size_t(T) + 1);
}

void TokenLoader::next_batch(int32_t* inputs, int32_t* targets) {
  const size_t T = size_t(T_);
  for (int b = 0; b < B_; ++b) {
    // One draw over all windows of all shards: the shard, then the offset in it.
    const uint64_t w = rng_.below(window_start_.back());
    const auto after = std::upper_bound(window_start_.begin(), window_start_.end(), w);
    const size_t shard = size_t(after - window_start_.begin()) - 1;
    const int64_t offset = int64_t(w - window_start_[shard]);
    shards_[shard].read(offset, int64_t(T) + 1, window_.data());
    std::memcpy(inputs + size_t(b) * T, window_.data(), T * sizeof(int32_t));
    std::memcpy(targets + size_t(b) * T, window_.data() + 1, T * sizeof(int32_t));
  }
}

std::vector<fs::path> expand_shard_paths(const std::string& pattern) {
  ILM_CHECK(!pattern.empty(), "token shards: the pattern is empty");
  std::vector<fs::path> out;
  std::error_code ec;
  if (fs::is_directory(pattern, ec)) {
    for (const fs::directory_entry& e : fs::directory_iterator(pattern, ec)) {
      if (e.path().extension() == ".bin" && e.is_regular_file(ec)) out.push_back(e.path());
    }
    if (ec) fail("{}: cannot list folder: {}", pattern, ec.message());
    if (out.empty()) fail("{}: the folder has no .bin token shards", pattern);
    std::sort(out.begin(), out.end());
    return out;
  }
  if (fs::exists(pattern, ec)) return {fs::path(pattern)};
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), GLOB_MARK, nullptr, &g);
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      const std::string p = g.gl_pathv[i];
      if (!p.empty() && p.back() != '/') out.emplace_back(p);  // GLOB_MARK: folders end in '/'
    }
  }
  globfree(&g);
  if (rc != 0 && rc != GLOB_NOMATCH) fail("{}: glob failed (error {})", pattern, rc);
  if (out.empty()) {
    fail(
        "{}: no token shards match; expected a .bin file, a folder of .bin files, or a glob "
        "pattern such as data/train_*.bin",
        pattern);
  }
  return out;  // glob sorts its matches
}

}  // namespace ilm
