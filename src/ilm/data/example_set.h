// Example sets: the supervised examples fine-tuning trains on, one file per split, read by
// memory map with random access by example. Two kinds:
//   chat            token ids and a loss mask per example (1 where the loss applies: the
//                   assistant's tokens), from instruction/chat data rendered by a chat template
//   classification  token ids and a label in [0, L) per example (names in a LabelMap)
// The layout (docs/data-format.md, "Example sets"), all little-endian:
//   header   64 bytes: magic "ILMEXSET", int32 version, kind, token width, V, L, 0,
//            int64 N (examples), int64 T (tokens), 16 bytes 0
//   offsets  N + 1 int64: example i is tokens [offsets[i], offsets[i+1]); offsets[0] = 0,
//            offsets[N] = T, strictly increasing (no empty example)
//   labels   N int32 (classification only)
//   tokens   T uint16 (V <= 65536) or uint32
//   masks    T uint8, 0 or 1 (chat only)
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "ilm/io/file.h"

namespace ilm {

// One supervised example. loss_mask[i] = 1: the model is trained to predict ids[i] from
// ids[0..i) (so loss_mask[0] never counts). Chat: same length as ids, with at least one 1.
// Classification: empty, and label in [0, L).
struct Example {
  std::vector<int32_t> ids;
  std::vector<uint8_t> loss_mask;
  int32_t label = -1;
};

enum class ExampleKind : int32_t { chat = 1, classification = 2 };

// "chat", "classification".
const char* example_kind_name(ExampleKind kind);

inline constexpr char kExampleSetMagic[8] = {'I', 'L', 'M', 'E', 'X', 'S', 'E', 'T'};
inline constexpr int32_t kExampleSetVersion = 1;
inline constexpr int64_t kExampleSetHeaderBytes = 64;

// Streams examples into one file. Tokens and masks go to unlinked scratch files beside `path`
// as they come (memory holds 8 bytes per example, 12 with labels); finish() writes the set to
// `path` atomically. Destroyed without finish(), it writes nothing (an earlier file stays).
class ExampleSetWriter {
 public:
  // num_labels: the number of classes L >= 1 for classification, 0 for chat.
  ExampleSetWriter(std::filesystem::path path, ExampleKind kind, int32_t vocab_size,
                   int32_t num_labels);
  ~ExampleSetWriter();
  ExampleSetWriter(const ExampleSetWriter&) = delete;
  ExampleSetWriter& operator=(const ExampleSetWriter&) = delete;

  // Throws, naming the file and the example's index, unless `e` is valid for the kind: at
  // least one token, every id in [0, V), the mask and label as Example says.
  void add(const Example& e);
  // Writes header, offsets, labels, tokens and masks; then add() and finish() throw.
  void finish();

  int64_t size() const { return static_cast<int64_t>(offsets_.size()) - 1; }
  int64_t tokens() const { return offsets_.back(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Scratch;  // an unlinked temporary file
  std::filesystem::path path_;
  ExampleKind kind_;
  int32_t vocab_size_, num_labels_, token_width_;
  std::vector<int64_t> offsets_{0};
  std::vector<int32_t> labels_;
  std::unique_ptr<Scratch> tokens_, masks_;
  std::vector<uint8_t> buffer_;
  bool finished_ = false;
};

// A memory-mapped example set. open() checks everything before returning: header, file size,
// offsets, every token below V, every mask value 0 or 1 (and one 1 per chat example), every
// label below L. Errors name the file and what is wrong. Copies share the map.
class ExampleSet {
 public:
  static ExampleSet open(const std::filesystem::path& path);

  ExampleKind kind() const { return kind_; }
  int64_t size() const { return size_; }
  int64_t total_tokens() const { return total_tokens_; }
  int32_t vocab_size() const { return vocab_size_; }
  // L for classification, 0 for chat.
  int32_t num_labels() const { return num_labels_; }
  // 2 (uint16 tokens) or 4 (uint32).
  int32_t token_width() const { return token_width_; }
  const std::filesystem::path& path() const { return file_->path(); }

  // The longest example's length (0 for an empty set).
  int64_t max_length() const { return max_length_; }
  // Chat: the tokens with mask 1 over all examples; classification: 0.
  int64_t loss_tokens() const { return loss_tokens_; }
  // Classification: examples per label (L entries); chat: empty.
  const std::vector<int64_t>& label_counts() const { return label_counts_; }

  // Example i (throws naming i and the size when it is out of range).
  int64_t length(int64_t i) const;
  std::vector<int32_t> ids(int64_t i) const;
  // Chat: length(i) values 0/1; classification: empty.
  std::vector<uint8_t> loss_mask(int64_t i) const;
  // Classification: the label; chat: -1.
  int32_t label(int64_t i) const;
  Example example(int64_t i) const;
  // Without allocating: ids[0..length(i)) and, for chat, mask[0..length(i)) (mask may be null).
  void read(int64_t i, int32_t* ids, uint8_t* mask) const;

 private:
  ExampleSet() = default;
  int64_t offset(int64_t i) const;
  void check_index(int64_t i) const;

  std::shared_ptr<MappedFile> file_;
  const uint8_t* offsets_ = nullptr;
  const uint8_t* labels_ = nullptr;
  const uint8_t* tokens_ = nullptr;
  const uint8_t* masks_ = nullptr;
  ExampleKind kind_ = ExampleKind::chat;
  int64_t size_ = 0, total_tokens_ = 0, max_length_ = 0, loss_tokens_ = 0;
  int32_t vocab_size_ = 0, num_labels_ = 0, token_width_ = 0;
  std::vector<int64_t> label_counts_;
};

}  // namespace ilm
