// Token shards: the llm.c .bin format, written atomically and read through a memory map.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ilm/core/error.h"
#include "ilm/data/shard.h"
#include "ilm/io/file.h"

#include "test_util.h"

namespace fs = std::filesystem;
using namespace ilm;
using namespace ilm::test;

namespace {

std::vector<int32_t> header_of(const fs::path& p) {
  const std::string bytes = read_file(p);
  std::vector<int32_t> h(256);
  std::memcpy(h.data(), bytes.data(), 1024);
  return h;
}

// A raw file: the given header fields (the rest 0) followed by `payload`.
void write_raw(const fs::path& p, std::vector<int32_t> fields, const std::string& payload) {
  std::vector<int32_t> h(256, 0);
  std::copy(fields.begin(), fields.end(), h.begin());
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(h.data()), 1024);
  f << payload;
}

std::vector<int32_t> read_all(const TokenShard& s) {
  std::vector<int32_t> out(size_t(s.size()));
  s.read(0, s.size(), out.data());
  return out;
}

}  // namespace

TEST(TokenShard, Uint16RoundTrip) {
  TempDir dir;
  const fs::path p = dir.path / "sub" / "a.bin";  // the parent folder is created
  std::vector<int32_t> tokens = {0, 1, 256, 65535, 42, 50256};
  write_token_shard(p, tokens, 65536);
  const std::vector<int32_t> h = header_of(p);
  EXPECT_EQ(h[0], 20240520);
  EXPECT_EQ(h[1], 1);
  EXPECT_EQ(h[2], 6);
  EXPECT_EQ(h[3], 65536);
  for (int i = 4; i < 256; ++i) EXPECT_EQ(h[size_t(i)], 0);
  EXPECT_EQ(fs::file_size(p), 1024u + 6 * 2);

  TokenShard s = TokenShard::open(p);
  EXPECT_EQ(s.size(), 6);
  EXPECT_EQ(s.version(), 1);
  EXPECT_EQ(s.vocab_size(), 65536);
  EXPECT_EQ(read_all(s), tokens);
  EXPECT_EQ(s.at(3), 65535);
  int32_t mid[2];
  s.read(2, 2, mid);
  EXPECT_EQ(mid[0], 256);
  EXPECT_EQ(mid[1], 65535);
}

TEST(TokenShard, Uint32RoundTrip) {
  TempDir dir;
  const fs::path p = dir.path / "big.bin";
  std::vector<int32_t> tokens;
  for (int32_t i = 0; i < 3000; ++i) tokens.push_back((i * 7919) % 128256);
  tokens.push_back(128255);
  write_token_shard(p, tokens, 128256);
  const std::vector<int32_t> h = header_of(p);
  EXPECT_EQ(h[1], 2);
  EXPECT_EQ(h[2], 3001);
  EXPECT_EQ(h[3], 128256);
  EXPECT_EQ(fs::file_size(p), 1024u + 3001 * 4);
  TokenShard s = TokenShard::open(p);
  EXPECT_EQ(s.version(), 2);
  EXPECT_EQ(read_all(s), tokens);
}

TEST(TokenShard, EmptyShardRoundTrips) {
  TempDir dir;
  write_token_shard(dir.path / "e.bin", {}, 65);
  TokenShard s = TokenShard::open(dir.path / "e.bin");
  EXPECT_EQ(s.size(), 0);
  EXPECT_EQ(fs::file_size(dir.path / "e.bin"), 1024u);
}

TEST(TokenShard, ReadsLlmcShardsWithUnknownVocab) {
  TempDir dir;
  const fs::path p = dir.path / "llmc.bin";
  const uint16_t tokens[3] = {50256, 7, 65535};
  write_raw(p, {20240520, 1, 3, 0}, std::string(reinterpret_cast<const char*>(tokens), 6));
  TokenShard s = TokenShard::open(p);
  EXPECT_EQ(s.vocab_size(), 0);
  EXPECT_EQ(read_all(s), (std::vector<int32_t>{50256, 7, 65535}));
}

TEST(TokenShard, ReadsLlmcLlama3Shards) {
  TempDir dir;
  const fs::path p = dir.path / "llama3.bin";
  const uint32_t tokens[2] = {128000, 9906};
  write_raw(p, {20240801, 7, 2, 0}, std::string(reinterpret_cast<const char*>(tokens), 8));
  TokenShard s = TokenShard::open(p);
  EXPECT_EQ(s.version(), 2);
  EXPECT_EQ(read_all(s), (std::vector<int32_t>{128000, 9906}));
  // That magic with another version is not a shard ilm knows.
  write_raw(p, {20240801, 1, 0, 0}, "");
  EXPECT_THROW(TokenShard::open(p), Error);
}

TEST(TokenShard, WriteChecksTokensAndVocab) {
  TempDir dir;
  const fs::path p = dir.path / "w.bin";
  std::string msg = error_of([&] { write_token_shard(p, std::vector<int32_t>{1, 65, 2}, 65); });
  EXPECT_NE(msg.find("w.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("token 65 at index 1"), std::string::npos) << msg;
  msg = error_of([&] { write_token_shard(p, std::vector<int32_t>{-1}, 65); });
  EXPECT_NE(msg.find("-1"), std::string::npos) << msg;
  EXPECT_FALSE(error_of([&] { write_token_shard(p, std::vector<int32_t>{0}, 0); }).empty());
  // Nothing was left behind, not even a temporary file.
  EXPECT_TRUE(fs::is_empty(dir.path));
}

TEST(TokenShard, RejectsBadMagic) {
  TempDir dir;
  const fs::path p = dir.path / "magic.bin";
  write_raw(p, {20240519, 1, 0, 0}, "");
  const std::string msg = error_of([&] { TokenShard::open(p); });
  EXPECT_NE(msg.find("magic.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("20240519"), std::string::npos) << msg;
  EXPECT_NE(msg.find("20240520"), std::string::npos) << msg;
}

TEST(TokenShard, RejectsBadVersion) {
  TempDir dir;
  const fs::path p = dir.path / "version.bin";
  write_raw(p, {20240520, 3, 0, 0}, "");
  const std::string msg = error_of([&] { TokenShard::open(p); });
  EXPECT_NE(msg.find("version.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("version 3"), std::string::npos) << msg;
  // Version 1 cannot hold a vocabulary over 65536.
  write_raw(p, {20240520, 1, 0, 100000}, "");
  EXPECT_NE(error_of([&] { TokenShard::open(p); }).find("100000"), std::string::npos);
}

TEST(TokenShard, RejectsTruncatedFiles) {
  TempDir dir;
  const fs::path p = dir.path / "short.bin";
  write_raw(p, {20240520, 1, 1000, 0}, std::string(1500, '\0'));
  std::string msg = error_of([&] { TokenShard::open(p); });
  EXPECT_NE(msg.find("short.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated: header says 1000 tokens (2000 bytes) but file has 1500 bytes"),
            std::string::npos)
      << msg;
  // Shorter than the header itself.
  std::ofstream(p, std::ios::binary | std::ios::trunc) << "tiny";
  msg = error_of([&] { TokenShard::open(p); });
  EXPECT_NE(msg.find("short.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4 bytes"), std::string::npos) << msg;
  // An empty file.
  std::ofstream(p, std::ios::binary | std::ios::trunc);
  EXPECT_NE(error_of([&] { TokenShard::open(p); }).find("short.bin"), std::string::npos);
}

TEST(TokenShard, RejectsOverlongFiles) {
  TempDir dir;
  const fs::path p = dir.path / "long.bin";
  write_raw(p, {20240520, 2, 10, 100000}, std::string(44, '\0'));
  const std::string msg = error_of([&] { TokenShard::open(p); });
  EXPECT_NE(msg.find("long.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("10 tokens (40 bytes)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("44 bytes"), std::string::npos) << msg;
}

TEST(TokenShard, RejectsMissingFiles) {
  TempDir dir;
  const std::string msg = error_of([&] { TokenShard::open(dir.path / "absent.bin"); });
  EXPECT_NE(msg.find("absent.bin"), std::string::npos) << msg;
}

TEST(TokenShard, ReadChecksRangeAndVocab) {
  TempDir dir;
  const fs::path p = dir.path / "r.bin";
  write_token_shard(p, std::vector<int32_t>{1, 2, 3}, 10);
  TokenShard s = TokenShard::open(p);
  int32_t out[4];
  std::string msg = error_of([&] { s.read(1, 3, out); });
  EXPECT_NE(msg.find("r.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[1, 4)"), std::string::npos) << msg;
  EXPECT_THROW(s.at(-1), Error);
  EXPECT_THROW(s.at(3), Error);

  // A token the header's vocab size does not allow.
  const fs::path bad = dir.path / "bad.bin";
  const uint16_t tokens[2] = {3, 50};
  write_raw(bad, {20240520, 1, 2, 10}, std::string(reinterpret_cast<const char*>(tokens), 4));
  TokenShard b = TokenShard::open(bad);
  EXPECT_EQ(b.at(0), 3);
  msg = error_of([&] { b.at(1); });
  EXPECT_NE(msg.find("bad.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("token 50 at index 1"), std::string::npos) << msg;
}

TEST(TokenShard, CopiesShareTheMapAndOutliveTheOriginal) {
  TempDir dir;
  const fs::path p = dir.path / "c.bin";
  write_token_shard(p, std::vector<int32_t>{5, 6, 7}, 8);
  std::vector<TokenShard> v;
  {
    TokenShard s = TokenShard::open(p);
    v.push_back(s);
  }
  EXPECT_EQ(read_all(v[0]), (std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(v[0].path(), p);
}
