// TokenLoader: random (B, T) windows over shards, determinism and resume; expand_shard_paths.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "ilm/core/error.h"
#include "ilm/data/loader.h"
#include "ilm/data/shard.h"

#include "test_util.h"

namespace fs = std::filesystem;
using namespace ilm;
using namespace ilm::test;

namespace {

// A shard whose token at position i is first + i, so a window shows where it came from.
fs::path counting_shard(const fs::path& p, int32_t first, int32_t n, int32_t vocab = 100000) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) t[size_t(i)] = first + i;
  write_token_shard(p, t, vocab);
  return p;
}

struct Batch {
  std::vector<int32_t> inputs, targets;
  bool operator==(const Batch&) const = default;
};

Batch next(TokenLoader& l) {
  Batch b{std::vector<int32_t>(size_t(l.B() * l.T())), std::vector<int32_t>(size_t(l.B() * l.T()))};
  l.next_batch(b.inputs.data(), b.targets.data());
  return b;
}

}  // namespace

TEST(TokenLoader, RowsAreContiguousWindowsAndTargetsAreShifted) {
  TempDir dir;
  const int B = 4, T = 16, N = 200;
  TokenLoader l({counting_shard(dir.path / "a.bin", 0, N)}, B, T, 7);
  EXPECT_EQ(l.total_tokens(), N);
  EXPECT_EQ(l.vocab_size(), 100000);
  for (int step = 0; step < 50; ++step) {
    const Batch b = next(l);
    for (int r = 0; r < B; ++r) {
      const int32_t* in = &b.inputs[size_t(r * T)];
      const int32_t* tg = &b.targets[size_t(r * T)];
      EXPECT_GE(in[0], 0);
      EXPECT_LE(in[0], N - T - 1);  // the last window ends at the last token
      for (int t = 0; t < T; ++t) {
        EXPECT_EQ(in[t], in[0] + t);
        EXPECT_EQ(tg[t], in[t] + 1);
      }
    }
  }
}

TEST(TokenLoader, EveryWindowIsReachable) {
  TempDir dir;
  const int T = 8;
  // T + 3 tokens: windows start at 0, 1 and 2.
  TokenLoader l({counting_shard(dir.path / "a.bin", 0, T + 3)}, 1, T, 1);
  std::map<int32_t, int> starts;
  for (int i = 0; i < 300; ++i) starts[next(l).inputs[0]]++;
  ASSERT_EQ(starts.size(), 3u);
  EXPECT_EQ(starts.begin()->first, 0);
  EXPECT_EQ(starts.rbegin()->first, 2);
  // A shard of exactly T + 1 tokens has one window.
  TokenLoader one({counting_shard(dir.path / "b.bin", 0, T + 1)}, 2, T, 1);
  const Batch b = next(one);
  EXPECT_EQ(b.inputs[0], 0);
  EXPECT_EQ(b.targets[size_t(2 * T - 1)], T);
}

TEST(TokenLoader, SameSeedSameBatchesOtherSeedOthers) {
  TempDir dir;
  const std::vector<fs::path> shards = {counting_shard(dir.path / "a.bin", 0, 5000),
                                        counting_shard(dir.path / "b.bin", 10000, 3000)};
  TokenLoader a(shards, 8, 32, 42), b(shards, 8, 32, 42), c(shards, 8, 32, 43);
  bool differs = false;
  for (int i = 0; i < 20; ++i) {
    const Batch ba = next(a), bb = next(b), bc = next(c);
    EXPECT_EQ(ba, bb);
    differs = differs || !(ba == bc);
  }
  EXPECT_TRUE(differs);
}

TEST(TokenLoader, SetStateResumesBitExactly) {
  TempDir dir;
  const std::vector<fs::path> shards = {counting_shard(dir.path / "a.bin", 0, 5000),
                                        counting_shard(dir.path / "b.bin", 10000, 300)};
  TokenLoader a(shards, 4, 64, 99);
  for (int i = 0; i < 7; ++i) next(a);
  const LoaderState saved = a.state();
  std::vector<Batch> expected;
  for (int i = 0; i < 10; ++i) expected.push_back(next(a));

  TokenLoader resumed(shards, 4, 64, 12345);  // the seed is part of the state
  resumed.set_state(saved);
  EXPECT_EQ(resumed.state().seed, 99u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(next(resumed), expected[size_t(i)]) << "batch " << i;

  a.set_state(saved);  // rewinding a loader also replays
  EXPECT_EQ(next(a), expected[0]);
}

TEST(TokenLoader, ShardsArePickedByTheirNumberOfWindows) {
  TempDir dir;
  const int T = 10;
  // 990 and 90 windows: about 8.3% of rows from the small shard.
  const std::vector<fs::path> shards = {counting_shard(dir.path / "big.bin", 0, 1000),
                                        counting_shard(dir.path / "small.bin", 50000, 100)};
  TokenLoader l(shards, 100, T, 5);
  EXPECT_EQ(l.total_tokens(), 1100);
  int small = 0, rows = 0;
  for (int step = 0; step < 100; ++step) {
    const Batch b = next(l);
    for (int r = 0; r < 100; ++r, ++rows) {
      const int32_t first = b.inputs[size_t(r * T)];
      if (first >= 50000) {
        ++small;
        EXPECT_LE(first, 50000 + 100 - T - 1);
      } else {
        EXPECT_LE(first, 1000 - T - 1);
      }
    }
  }
  const double p = double(small) / rows;
  EXPECT_GT(p, 0.07);  // expected 0.0833 over 10000 rows: sd 0.003
  EXPECT_LT(p, 0.10);
}

TEST(TokenLoader, TooShortShards) {
  TempDir dir;
  const fs::path tiny = counting_shard(dir.path / "tiny.bin", 0, 16);
  const std::string msg = error_of([&] { TokenLoader({tiny}, 2, 16, 1); });
  EXPECT_NE(msg.find("tiny.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("16 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("T + 1 = 17"), std::string::npos) << msg;
  // Next to a usable shard, a short one is never drawn.
  TokenLoader l({tiny, counting_shard(dir.path / "ok.bin", 1000, 17)}, 4, 16, 1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(next(l).inputs[0], 1000);
  EXPECT_EQ(l.total_tokens(), 33);
}

TEST(TokenLoader, RejectsBadArguments) {
  TempDir dir;
  const fs::path a = counting_shard(dir.path / "a.bin", 0, 100);
  EXPECT_THROW(TokenLoader({a}, 0, 8, 1), Error);
  EXPECT_THROW(TokenLoader({a}, 2, 0, 1), Error);
  EXPECT_THROW(TokenLoader({}, 2, 8, 1), Error);
  const std::string missing = error_of([&] { TokenLoader({dir.path / "none.bin"}, 2, 8, 1); });
  EXPECT_NE(missing.find("none.bin"), std::string::npos) << missing;
  const fs::path other = counting_shard(dir.path / "other.bin", 0, 100, 50257);
  const std::string mixed = error_of([&] { TokenLoader({a, other}, 2, 8, 1); });
  EXPECT_NE(mixed.find("other.bin"), std::string::npos) << mixed;
  EXPECT_NE(mixed.find("50257"), std::string::npos) << mixed;
}

TEST(ExpandShardPaths, FolderFileAndGlob) {
  TempDir dir;
  counting_shard(dir.path / "train_002.bin", 0, 10);
  counting_shard(dir.path / "train_001.bin", 0, 10);
  counting_shard(dir.path / "val_000.bin", 0, 10);
  std::ofstream(dir.path / "notes.txt") << "not a shard";
  fs::create_directory(dir.path / "folder.bin");

  const std::vector<fs::path> all = expand_shard_paths(dir.path.string());
  EXPECT_EQ(all, (std::vector<fs::path>{dir.path / "train_001.bin", dir.path / "train_002.bin",
                                        dir.path / "val_000.bin"}));

  const std::vector<fs::path> train = expand_shard_paths((dir.path / "train_*.bin").string());
  EXPECT_EQ(train, (std::vector<fs::path>{dir.path / "train_001.bin", dir.path / "train_002.bin"}));

  // A glob that matches a folder as well skips it.
  EXPECT_EQ(expand_shard_paths((dir.path / "*.bin").string()).size(), 3u);

  const std::string one = (dir.path / "val_000.bin").string();
  EXPECT_EQ(expand_shard_paths(one), (std::vector<fs::path>{one}));
}

TEST(ExpandShardPaths, NothingMatches) {
  TempDir dir;
  const std::string pattern = (dir.path / "train_*.bin").string();
  std::string msg = error_of([&] { expand_shard_paths(pattern); });
  EXPECT_NE(msg.find(pattern), std::string::npos) << msg;
  msg = error_of([&] { expand_shard_paths(dir.path.string()); });  // a folder without shards
  EXPECT_NE(msg.find(dir.path.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find(".bin"), std::string::npos) << msg;
}
