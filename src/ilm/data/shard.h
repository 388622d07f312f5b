// Token shards: the llm.c .bin format, so shards move between ilm and llm.c.
// A 1024-byte header of 256 little-endian int32:
//   [0] magic 20240520
//   [1] version: 1 = uint16 tokens (what llm.c writes), 2 = uint32 tokens (ours, for V > 65536)
//   [2] number of tokens N
//   [3] vocabulary size V, 0 when unknown (llm.c writes 0)
//   [4..255] 0 (reserved; ignored on read)
// then N tokens of 2 or 4 bytes, little-endian. llm.c's LLaMA-3 shards (magic 20240801,
// version 7, uint32 tokens) are read too. docs/data-format.md describes it for users.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <vector>

#include "ilm/io/file.h"

namespace ilm {

inline constexpr int32_t kShardMagic = 20240520;
inline constexpr int32_t kShardMagicLlama3 = 20240801;  // read only
inline constexpr int64_t kShardHeaderBytes = 1024;

// Writes `tokens` atomically as version 1 when vocab_size <= 65536, else version 2.
// Throws unless every token is in [0, vocab_size) and there are at most 2^31 - 1 of them.
void write_token_shard(const std::filesystem::path& path, std::span<const int32_t> tokens,
                       int32_t vocab_size);

// Streams tokens into a shard without holding them: the header's count is written at
// commit(). Nothing appears at `path` before commit() (destroyed without it, it leaves
// nothing). Same version rule and checks as write_token_shard.
class TokenShardWriter {
 public:
  TokenShardWriter(std::filesystem::path path, int32_t vocab_size);

  void add(std::span<const int32_t> tokens);
  int64_t size() const { return size_; }
  const std::filesystem::path& path() const { return writer_.path(); }
  void commit();

 private:
  void flush();

  AtomicWriter writer_;
  int32_t vocab_size_, version_;
  int64_t size_ = 0;
  std::vector<uint8_t> buffer_;  // encoded tokens not yet written
};

// A memory-mapped shard. open() checks the header and that the file holds exactly the
// tokens it declares; copies share the map.
class TokenShard {
 public:
  static TokenShard open(const std::filesystem::path& path);

  int64_t size() const { return size_; }
  // 0 when the header does not say (shards written by llm.c).
  int32_t vocab_size() const { return vocab_size_; }
  // 1 (uint16 tokens) or 2 (uint32 tokens, also for llm.c's LLaMA-3 shards).
  int32_t version() const { return version_; }
  const std::filesystem::path& path() const { return file_->path(); }

  int32_t at(int64_t i) const;
  // out[0..n) = tokens [offset, offset + n). Throws when the range leaves the shard or a
  // token is not below the vocabulary size (or 2^31 when that is unknown).
  void read(int64_t offset, int64_t n, int32_t* out) const;

 private:
  TokenShard() = default;

  std::shared_ptr<MappedFile> file_;
  const uint8_t* tokens_ = nullptr;  // file_->data() + kShardHeaderBytes
  int64_t size_ = 0;
  int32_t vocab_size_ = 0;
  int32_t version_ = 0;
};

}  // namespace ilm
