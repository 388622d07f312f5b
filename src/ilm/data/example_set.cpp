#include "ilm/data/example_set.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

#include "ilm/core/error.h"

namespace fs = std::filesystem;

namespace ilm {

// Header fields, offsets, labels and tokens are copied to and from memory as they are.
static_assert(std::endian::native == std::endian::little,
              "example sets are little-endian; this code assumes a little-endian host");

const char* example_kind_name(ExampleKind kind) {
  switch (kind) {
    case ExampleKind::chat:
      return "chat";
    case ExampleKind::classification:
      return "classification";
  }
  return "unknown";
}

namespace {

// Byte offsets of the header fields.
constexpr size_t kVersionAt = 8, kKindAt = 12, kWidthAt = 16, kVocabAt = 20, kLabelsAt = 24,
                 kReserved32At = 28, kExamplesAt = 32, kTokensAt = 40, kReservedAt = 48;

int32_t width_for_vocab(int32_t vocab_size) {
  return vocab_size <= 65536 ? 2 : 4;
}

template <typename T>
T load(const uint8_t* p, int64_t i = 0) {
  T v;
  std::memcpy(&v, p + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

template <typename T>
void store(uint8_t* p, size_t at, T v) {
  std::memcpy(p + at, &v, sizeof(T));
}

// The token at index i of a token section of width 2 or 4.
int64_t token_at(const uint8_t* tokens, int32_t width, int64_t i) {
  return width == 2 ? int64_t(load<uint16_t>(tokens, i)) : int64_t(load<uint32_t>(tokens, i));
}

// The index of the first token >= limit in [0, n), or -1.
template <typename U>
int64_t first_token_at_or_above(const uint8_t* tokens, int64_t n, int64_t limit) {
  for (int64_t i = 0; i < n; ++i) {
    if (int64_t(load<U>(tokens, i)) >= limit) return i;
  }
  return -1;
}

// The 8 magic bytes for an error message: printable ASCII as is, others as '.'.
std::string printable(const uint8_t* bytes, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += bytes[i] >= 0x20 && bytes[i] < 0x7f ? char(bytes[i]) : '.';
  return s;
}

}  // namespace

// ---- writer ---------------------------------------------------------------------------------

// A temporary file beside the output, unlinked as soon as it is open, so that nothing is left
// behind whatever happens to the process.
struct ExampleSetWriter::Scratch {
  std::FILE* file = nullptr;
  std::string what;  // for errors: "<path> (token scratch file)"
  int64_t bytes = 0;

  Scratch(const fs::path& beside, const char* name) {
    static thread_local std::mt19937_64 gen{std::random_device{}()};
    what = fmt::format("{} ({} scratch file)", beside.string(), name);
    const fs::path p =
        beside.parent_path() /
        fmt::format(".{}.{}-{}-{:x}", beside.filename().string(), name, getpid(), gen() & 0xffffff);
    file = std::fopen(p.c_str(), "w+b");
    if (!file) fail("{}: cannot create {}: {}", what, p.string(), std::strerror(errno));
    ::unlink(p.c_str());
    std::setvbuf(file, nullptr, _IOFBF, size_t(1) << 20);
  }
  ~Scratch() {
    if (file) std::fclose(file);
  }
  void write(const void* data, size_t n) {
    if (n == 0) return;
    if (std::fwrite(data, 1, n, file) != n)
      fail("{}: write failed: {}", what, std::strerror(errno));
    bytes += int64_t(n);
  }
  // Copies everything written into `out`.
  void copy_to(AtomicWriter& out) {
    if (std::fflush(file) != 0 || std::fseek(file, 0, SEEK_SET) != 0) {
      fail("{}: cannot rewind: {}", what, std::strerror(errno));
    }
    std::vector<char> buf(size_t(1) << 20);
    int64_t left = bytes;
    while (left > 0) {
      const size_t want = size_t(std::min<int64_t>(left, int64_t(buf.size())));
      if (std::fread(buf.data(), 1, want, file) != want) {
        fail("{}: read back failed: {}", what, std::strerror(errno));
      }
      out.write(buf.data(), want);
      left -= int64_t(want);
    }
  }
};

ExampleSetWriter::ExampleSetWriter(fs::path path, ExampleKind kind, int32_t vocab_size,
                                   int32_t num_labels)
    : path_(std::move(path)), kind_(kind), vocab_size_(vocab_size), num_labels_(num_labels) {
  const std::string name = path_.string();
  ILM_CHECK(kind == ExampleKind::chat || kind == ExampleKind::classification,
            "{}: unknown example kind {}", name, int32_t(kind));
  ILM_CHECK(vocab_size > 0, "{}: vocab size {}, expected > 0", name, vocab_size);
  if (kind == ExampleKind::chat) {
    ILM_CHECK(num_labels == 0, "{}: a chat example set has no labels, got {} labels", name,
              num_labels);
  } else {
    ILM_CHECK(num_labels >= 1, "{}: a classification example set needs >= 1 label, got {}", name,
              num_labels);
  }
  token_width_ = width_for_vocab(vocab_size);
  if (path_.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(path_.parent_path(), ec);
    if (ec) fail("{}: cannot create folder: {}", path_.parent_path().string(), ec.message());
  }
  tokens_ = std::make_unique<Scratch>(path_, "tokens");
  if (kind == ExampleKind::chat) masks_ = std::make_unique<Scratch>(path_, "masks");
}

ExampleSetWriter::~ExampleSetWriter() = default;

void ExampleSetWriter::add(const Example& e) {
  const std::string name = path_.string();
  ILM_CHECK(!finished_, "{}: add() after finish()", name);
  const int64_t index = size();
  const size_t n = e.ids.size();
  ILM_CHECK(n > 0, "{}: example {} has no tokens", name, index);
  for (size_t j = 0; j < n; ++j) {
    if (e.ids[j] < 0 || e.ids[j] >= vocab_size_) {
      fail("{}: example {}: token {} at position {} is out of range [0, {})", name, index, e.ids[j],
           j, vocab_size_);
    }
  }
  if (kind_ == ExampleKind::chat) {
    ILM_CHECK(e.loss_mask.size() == n, "{}: example {}: loss mask has {} values for {} tokens",
              name, index, e.loss_mask.size(), n);
    bool any = false;
    for (size_t j = 0; j < n; ++j) {
      ILM_CHECK(e.loss_mask[j] <= 1,
                "{}: example {}: loss mask value {} at position {}, expected 0 or 1", name, index,
                int(e.loss_mask[j]), j);
      any = any || e.loss_mask[j] == 1;
    }
    ILM_CHECK(any, "{}: example {}: no token has loss (the loss mask is all 0)", name, index);
    ILM_CHECK(e.label == -1, "{}: example {}: a chat example has no label, got label {}", name,
              index, e.label);
  } else {
    ILM_CHECK(e.loss_mask.empty(),
              "{}: example {}: a classification example has no loss mask, got {} values", name,
              index, e.loss_mask.size());
    ILM_CHECK(e.label >= 0 && e.label < num_labels_,
              "{}: example {}: label {} is out of range [0, {})", name, index, e.label,
              num_labels_);
  }

  buffer_.resize(n * size_t(token_width_));
  for (size_t j = 0; j < n; ++j) {
    if (token_width_ == 2) {
      store(buffer_.data(), j * 2, uint16_t(e.ids[j]));
    } else {
      store(buffer_.data(), j * 4, uint32_t(e.ids[j]));
    }
  }
  tokens_->write(buffer_.data(), buffer_.size());
  if (masks_) masks_->write(e.loss_mask.data(), n);
  if (kind_ == ExampleKind::classification) labels_.push_back(e.label);
  offsets_.push_back(offsets_.back() + int64_t(n));
}

void ExampleSetWriter::finish() {
  ILM_CHECK(!finished_, "{}: finish() called twice", path_.string());
  finished_ = true;
  uint8_t header[kExampleSetHeaderBytes] = {};
  std::memcpy(header, kExampleSetMagic, sizeof kExampleSetMagic);
  store(header, kVersionAt, kExampleSetVersion);
  store(header, kKindAt, int32_t(kind_));
  store(header, kWidthAt, token_width_);
  store(header, kVocabAt, vocab_size_);
  store(header, kLabelsAt, num_labels_);
  store(header, kExamplesAt, size());
  store(header, kTokensAt, tokens());
  AtomicWriter w(path_);
  w.write(header, sizeof header);
  w.write(offsets_.data(), offsets_.size() * sizeof(int64_t));
  w.write(labels_.data(), labels_.size() * sizeof(int32_t));
  tokens_->copy_to(w);
  if (masks_) masks_->copy_to(w);
  w.commit();
  tokens_.reset();
  masks_.reset();
}

// ---- reader ---------------------------------------------------------------------------------

ExampleSet ExampleSet::open(const fs::path& path) {
  ExampleSet s;
  s.file_ = MappedFile::open(path);
  const std::string name = path.string();
  const uint8_t* data = s.file_->data();
  const int64_t file_bytes = int64_t(s.file_->size());
  if (file_bytes < kExampleSetHeaderBytes) {
    fail("{}: not an example set: {} bytes is shorter than the {}-byte header", name, file_bytes,
         kExampleSetHeaderBytes);
  }
  if (std::memcmp(data, kExampleSetMagic, sizeof kExampleSetMagic) != 0) {
    if (load<int32_t>(data) == 20240520 || load<int32_t>(data) == 20240801) {
      fail("{}: not an example set but a token shard (magic {}); example sets start with \"{}\"",
           name, load<int32_t>(data), std::string(kExampleSetMagic, 8));
    }
    fail("{}: not an example set: bytes 0-7 (magic) are \"{}\", expected \"{}\"", name,
         printable(data, 8), std::string(kExampleSetMagic, 8));
  }
  const int32_t version = load<int32_t>(data + kVersionAt);
  if (version != kExampleSetVersion) {
    fail("{}: unsupported example set version {} (bytes 8-11), expected {}", name, version,
         kExampleSetVersion);
  }
  const int32_t kind = load<int32_t>(data + kKindAt);
  if (kind != int32_t(ExampleKind::chat) && kind != int32_t(ExampleKind::classification)) {
    fail("{}: kind {} (bytes 12-15) is unknown, expected 1 (chat) or 2 (classification)", name,
         kind);
  }
  s.kind_ = ExampleKind(kind);
  s.token_width_ = load<int32_t>(data + kWidthAt);
  s.vocab_size_ = load<int32_t>(data + kVocabAt);
  s.num_labels_ = load<int32_t>(data + kLabelsAt);
  s.size_ = load<int64_t>(data + kExamplesAt);
  s.total_tokens_ = load<int64_t>(data + kTokensAt);
  if (s.vocab_size_ <= 0) {
    fail("{}: vocab size {} (bytes 20-23), expected > 0", name, s.vocab_size_);
  }
  if (s.token_width_ != width_for_vocab(s.vocab_size_)) {
    fail("{}: token width {} (bytes 16-19) for vocab size {}, expected {}", name, s.token_width_,
         s.vocab_size_, width_for_vocab(s.vocab_size_));
  }
  const bool chat = s.kind_ == ExampleKind::chat;
  if (chat && s.num_labels_ != 0) {
    fail("{}: a chat example set with {} labels (bytes 24-27), expected 0", name, s.num_labels_);
  }
  if (!chat && s.num_labels_ < 1) {
    fail("{}: a classification example set with {} labels (bytes 24-27), expected >= 1", name,
         s.num_labels_);
  }
  bool reserved_zero = load<int32_t>(data + kReserved32At) == 0;
  for (size_t b = kReservedAt; b < size_t(kExampleSetHeaderBytes); ++b) {
    reserved_zero = reserved_zero && data[b] == 0;
  }
  if (!reserved_zero) fail("{}: reserved header bytes (28-31, 48-63) are not 0", name);
  if (s.size_ < 0) fail("{}: example count {} (bytes 32-39), expected >= 0", name, s.size_);
  if (s.total_tokens_ < 0) {
    fail("{}: token count {} (bytes 40-47), expected >= 0", name, s.total_tokens_);
  }

  // Both counts are bounded by the file size before any product is formed, so none overflows.
  const int64_t N = s.size_, T = s.total_tokens_;
  const int64_t label_bytes = chat ? 0 : 4;
  const int64_t mask_bytes = chat ? 1 : 0;
  if (N >= file_bytes / 8 || T > file_bytes) {
    fail("{}: truncated: the header says {} examples and {} tokens but the file has {} bytes", name,
         N, T, file_bytes);
  }
  const int64_t expected =
      kExampleSetHeaderBytes + 8 * (N + 1) + label_bytes * N + (s.token_width_ + mask_bytes) * T;
  if (file_bytes < expected) {
    fail(
        "{}: truncated: the header says {} examples and {} tokens ({} bytes) but the file has {} "
        "bytes",
        name, N, T, expected, file_bytes);
  }
  if (file_bytes > expected) {
    fail(
        "{}: too long: the header says {} examples and {} tokens ({} bytes) but the file has {} "
        "bytes ({} extra)",
        name, N, T, expected, file_bytes, file_bytes - expected);
  }
  s.offsets_ = data + kExampleSetHeaderBytes;
  s.labels_ = s.offsets_ + 8 * (N + 1);
  s.tokens_ = s.labels_ + label_bytes * N;
  s.masks_ = chat ? s.tokens_ + s.token_width_ * T : nullptr;

  // Offsets: 0, strictly increasing, ending at T.
  int64_t previous = load<int64_t>(s.offsets_, 0);
  if (previous != 0) fail("{}: offsets[0] is {}, expected 0", name, previous);
  for (int64_t i = 1; i <= N; ++i) {
    const int64_t o = load<int64_t>(s.offsets_, i);
    if (o <= previous) {
      fail(
          "{}: offsets are not increasing: offsets[{}] = {} after offsets[{}] = {} (example {} "
          "would have {} tokens)",
          name, i, o, i - 1, previous, i - 1, o - previous);
    }
    if (o > T) {
      fail("{}: offsets[{}] = {} is past the {} tokens the header declares", name, i, o, T);
    }
    s.max_length_ = std::max(s.max_length_, o - previous);
    previous = o;
  }
  if (previous != T) {
    fail("{}: offsets[{}] = {}, expected the token count {}", name, N, previous, T);
  }

  // Tokens: a flat scan; the example is found only for the message.
  const int64_t bad = s.token_width_ == 2
                          ? first_token_at_or_above<uint16_t>(s.tokens_, T, s.vocab_size_)
                          : first_token_at_or_above<uint32_t>(s.tokens_, T, s.vocab_size_);
  if (bad >= 0) {
    int64_t lo = 0, hi = N;  // the example i with offsets[i] <= bad < offsets[i+1]
    while (hi - lo > 1) {
      const int64_t mid = lo + (hi - lo) / 2;
      (s.offset(mid) <= bad ? lo : hi) = mid;
    }
    fail("{}: example {}: token {} at position {} is out of range [0, {})", name, lo,
         token_at(s.tokens_, s.token_width_, bad), bad - s.offset(lo), s.vocab_size_);
  }

  if (chat) {
    for (int64_t i = 0; i < N; ++i) {
      const int64_t begin = s.offset(i), end = s.offset(i + 1);
      int64_t ones = 0;
      for (int64_t j = begin; j < end; ++j) {
        const uint8_t m = s.masks_[j];
        if (m > 1) {
          fail("{}: example {}: loss mask value {} at position {}, expected 0 or 1", name, i,
               int(m), j - begin);
        }
        ones += m;
      }
      if (ones == 0) fail("{}: example {}: no token has loss (the loss mask is all 0)", name, i);
      s.loss_tokens_ += ones;
    }
  } else {
    s.label_counts_.assign(size_t(s.num_labels_), 0);
    for (int64_t i = 0; i < N; ++i) {
      const int32_t l = load<int32_t>(s.labels_, i);
      if (l < 0 || l >= s.num_labels_) {
        fail("{}: example {}: label {} is out of range [0, {})", name, i, l, s.num_labels_);
      }
      ++s.label_counts_[size_t(l)];
    }
  }
  return s;
}

int64_t ExampleSet::offset(int64_t i) const {
  return load<int64_t>(offsets_, i);
}

void ExampleSet::check_index(int64_t i) const {
  if (i < 0 || i >= size_) {
    fail("{}: example {} is out of range: the set has {} examples", path().string(), i, size_);
  }
}

int64_t ExampleSet::length(int64_t i) const {
  check_index(i);
  return offset(i + 1) - offset(i);
}

void ExampleSet::read(int64_t i, int32_t* ids, uint8_t* mask) const {
  check_index(i);
  const int64_t begin = offset(i), n = offset(i + 1) - begin;
  // Every token was checked against the vocabulary size at open().
  if (token_width_ == 2) {
    for (int64_t j = 0; j < n; ++j) ids[j] = int32_t(load<uint16_t>(tokens_, begin + j));
  } else {
    for (int64_t j = 0; j < n; ++j) ids[j] = int32_t(load<uint32_t>(tokens_, begin + j));
  }
  if (mask && masks_) std::memcpy(mask, masks_ + begin, size_t(n));
}

std::vector<int32_t> ExampleSet::ids(int64_t i) const {
  std::vector<int32_t> out(static_cast<size_t>(length(i)));
  read(i, out.data(), nullptr);
  return out;
}

std::vector<uint8_t> ExampleSet::loss_mask(int64_t i) const {
  const int64_t n = length(i);
  if (!masks_) return {};
  const uint8_t* p = masks_ + offset(i);
  return std::vector<uint8_t>(p, p + n);
}

int32_t ExampleSet::label(int64_t i) const {
  check_index(i);
  return kind_ == ExampleKind::classification ? load<int32_t>(labels_, i) : -1;
}

Example ExampleSet::example(int64_t i) const {
  Example e;
  e.ids.resize(static_cast<size_t>(length(i)));
  if (masks_) e.loss_mask.resize(e.ids.size());
  read(i, e.ids.data(), masks_ ? e.loss_mask.data() : nullptr);
  e.label = label(i);
  return e;
}

}  // namespace ilm
