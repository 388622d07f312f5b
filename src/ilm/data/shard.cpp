#include "ilm/data/shard.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include "ilm/core/error.h"

namespace fs = std::filesystem;

namespace ilm {

// Tokens and header are copied to and from memory as they are.
static_assert(std::endian::native == std::endian::little,
              "token shards are little-endian; this code assumes a little-endian host");

namespace {

int token_width(int32_t version) {
  return version == 1 ? 2 : 4;
}

template <typename U>
U load(const uint8_t* tokens, int64_t i) {
  U u;
  std::memcpy(&u, tokens + i * int64_t(sizeof(U)), sizeof(U));
  return u;
}

// out[0..n) = tokens[offset..offset+n) as int32; returns the index of the first token
// >= limit, or -1 when all are below it.
template <typename U>
int64_t decode_tokens(const uint8_t* tokens, int64_t offset, int64_t n, int64_t limit,
                      int32_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = load<U>(tokens, offset + i);
    if (v >= limit) return offset + i;
    out[i] = int32_t(v);
  }
  return -1;
}

}  // namespace

namespace {
// The writer creates its temporary file at once, so the check must come first.
fs::path checked_vocab(fs::path path, int32_t vocab_size) {
  ILM_CHECK(vocab_size > 0, "{}: cannot write a token shard with vocab size {}, expected > 0",
            path.string(), vocab_size);
  return path;
}
}  // namespace

void write_token_shard(const fs::path& path, std::span<const int32_t> tokens, int32_t vocab_size) {
  TokenShardWriter w(path, vocab_size);
  w.add(tokens);
  w.commit();
}

TokenShardWriter::TokenShardWriter(fs::path path, int32_t vocab_size)
    : writer_(checked_vocab(std::move(path), vocab_size)),
      vocab_size_(vocab_size),
      version_(vocab_size <= 65536 ? 1 : 2) {
  const int32_t header[256] = {};  // the real one is written by commit()
  writer_.write(header, sizeof header);
}

void TokenShardWriter::add(std::span<const int32_t> tokens) {
  if (int64_t(tokens.size()) > int64_t(INT32_MAX) - size_) {
    fail("{}: {} tokens do not fit one shard (the header counts at most {}); split them",
         path().string(), size_ + int64_t(tokens.size()), INT32_MAX);
  }
  const size_t width = size_t(token_width(version_));
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t t = tokens[i];
    if (t < 0 || t >= vocab_size_) {
      fail("{}: token {} at index {} is out of range [0, {})", path().string(), t,
           size_ + int64_t(i), vocab_size_);
    }
    const uint32_t u = uint32_t(t);  // little-endian host (asserted above)
    const size_t at = buffer_.size();
    buffer_.resize(at + width);
    std::memcpy(buffer_.data() + at, &u, width);
  }
  size_ += int64_t(tokens.size());
  if (buffer_.size() >= (size_t(1) << 20)) flush();
}

void TokenShardWriter::flush() {
  writer_.write(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void TokenShardWriter::commit() {
  flush();
  int32_t header[256] = {};
  header[0] = kShardMagic;
  header[1] = version_;
  header[2] = int32_t(size_);
  header[3] = vocab_size_;
  writer_.write_at(0, header, sizeof header);
  writer_.commit();
}

TokenShard TokenShard::open(const fs::path& path) {
  TokenShard s;
  s.file_ = MappedFile::open(path);
  const std::string name = path.string();
  const int64_t file_bytes = int64_t(s.file_->size());
  if (file_bytes < kShardHeaderBytes) {
    fail("{}: not a token shard: {} bytes is shorter than the {}-byte header", name, file_bytes,
         kShardHeaderBytes);
  }
  int32_t header[256];
  std::memcpy(header, s.file_->data(), sizeof header);
  // llm.c's LLaMA-3 shards (dev/data/data_common.py) have their own magic and version 7 for
  // uint32 tokens; they are read as our version 2.
  const bool llmc_llama3 = header[0] == kShardMagicLlama3;
  if (llmc_llama3) {
    if (header[1] != 7) {
      fail("{}: llm.c LLaMA-3 shard (magic {}) of version {} in header[1], expected 7", name,
           header[0], header[1]);
    }
  } else if (header[0] != kShardMagic) {
    fail("{}: not a token shard: header[0] (magic) is {}, expected {} (or llm.c's {})", name,
         header[0], kShardMagic, kShardMagicLlama3);
  } else if (header[1] != 1 && header[1] != 2) {
    fail(
        "{}: unsupported shard version {} in header[1], expected 1 (uint16 tokens) or 2 "
        "(uint32 tokens)",
        name, header[1]);
  }
  if (header[2] < 0) fail("{}: header[2] (token count) is {}, expected >= 0", name, header[2]);
  if (header[3] < 0) fail("{}: header[3] (vocab size) is {}, expected >= 0", name, header[3]);
  s.version_ = llmc_llama3 ? 2 : header[1];
  s.size_ = header[2];
  s.vocab_size_ = header[3];
  const int width = token_width(s.version_);
  if (s.version_ == 1 && s.vocab_size_ > 65536) {
    fail("{}: version 1 stores uint16 tokens, but header[3] says vocab size {} (> 65536)", name,
         s.vocab_size_);
  }
  const int64_t expected = s.size_ * width;
  const int64_t found = file_bytes - kShardHeaderBytes;
  if (found < expected) {
    fail("{}: truncated: header says {} tokens ({} bytes) but file has {} bytes of tokens", name,
         s.size_, expected, found);
  }
  if (found > expected) {
    fail(
        "{}: too long: header says {} tokens ({} bytes) but file has {} bytes of tokens "
        "({} extra)",
        name, s.size_, expected, found, found - expected);
  }
  s.tokens_ = s.file_->data() + kShardHeaderBytes;
  return s;
}

int32_t TokenShard::at(int64_t i) const {
  int32_t t;
  read(i, 1, &t);
  return t;
}

void TokenShard::read(int64_t offset, int64_t n, int32_t* out) const {
  if (offset < 0 || n < 0 || offset > size_ || n > size_ - offset) {
    fail("{}: cannot read tokens [{}, {}): the shard has {} tokens", path().string(), offset,
         offset + n, size_);
  }
  // Unknown vocab: still refuse values that would turn negative as int32.
  const int64_t limit = vocab_size_ > 0 ? vocab_size_ : int64_t(INT32_MAX) + 1;
  const int64_t bad = version_ == 1 ? decode_tokens<uint16_t>(tokens_, offset, n, limit, out)
                                    : decode_tokens<uint32_t>(tokens_, offset, n, limit, out);
  if (bad >= 0) {
    fail("{}: token {} at index {} is out of range [0, {})", path().string(),
         version_ == 1 ? int64_t(load<uint16_t>(tokens_, bad))
                       : int64_t(load<uint32_t>(tokens_, bad)),
         bad, limit);
  }
}

}  // namespace ilm
