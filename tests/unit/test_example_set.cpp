// Example sets: round trips of both kinds and both token widths, the writer's checks, and
// every corruption of a file refused on open with the file and the fault named.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "ilm/core/error.h"
#include "ilm/data/example_set.h"
#include "ilm/io/file.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace ilm;
using namespace ilm::test;

namespace {

template <typename T>
T field(const std::string& bytes, size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

template <typename T>
void set_field(std::string& bytes, size_t at, T v) {
  std::memcpy(bytes.data() + at, &v, sizeof v);
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

Example chat(std::vector<int32_t> ids, std::vector<uint8_t> mask) {
  return Example{std::move(ids), std::move(mask), -1};
}

Example labelled(std::vector<int32_t> ids, int32_t label) {
  return Example{std::move(ids), {}, label};
}

// Three chat examples over vocabulary V, the largest id V - 1.
std::vector<Example> chat_examples(int32_t V) {
  return {chat({1, 2, 3, V - 1}, {0, 0, 1, 1}), chat({5}, {1}),
          chat({0, 7, 7, 7, 9, V - 2}, {0, 1, 0, 1, 1, 0})};
}

std::vector<Example> classification_examples(int32_t V) {
  return {labelled({V - 1, 4}, 2), labelled({3}, 0), labelled({8, 9, 10, 11, 12}, 2),
          labelled({0}, 1)};
}

void write_set(const fs::path& p, ExampleKind kind, int32_t V, int32_t L,
               const std::vector<Example>& examples) {
  ExampleSetWriter w(p, kind, V, L);
  for (const Example& e : examples) w.add(e);
  EXPECT_EQ(w.size(), int64_t(examples.size()));
  w.finish();
}

// The message of opening `p`; the test fails unless it names the file and contains `want`.
void expect_open_error(const fs::path& p, const std::string& want) {
  const std::string e = error_of([&] { ExampleSet::open(p); });
  EXPECT_NE(e.find(p.string()), std::string::npos) << e;
  EXPECT_NE(e.find(want), std::string::npos) << "expected '" << want << "' in: " << e;
}

// Chat set with V = 300: 11 tokens (u16) over 3 examples.
// Layout: header 64, offsets 4 * 8 = 32 (at 64), tokens 11 * 2 = 22 (at 96), masks 11 (at 118).
constexpr size_t kOffsetsAt = 64, kChatTokensAt = 96, kChatMasksAt = 118, kChatBytes = 129;

}  // namespace

TEST(ExampleSet, ChatRoundTripUint16) {
  TempDir dir;
  const fs::path p = dir.path / "sub" / "train.examples";  // the parent folder is created
  const std::vector<Example> examples = chat_examples(300);
  write_set(p, ExampleKind::chat, 300, 0, examples);

  // The header and layout, byte by byte.
  const std::string bytes = read_file(p);
  ASSERT_EQ(bytes.size(), kChatBytes);
  EXPECT_EQ(bytes.substr(0, 8), "ILMEXSET");
  EXPECT_EQ(field<int32_t>(bytes, 8), 1);     // version
  EXPECT_EQ(field<int32_t>(bytes, 12), 1);    // kind: chat
  EXPECT_EQ(field<int32_t>(bytes, 16), 2);    // token width
  EXPECT_EQ(field<int32_t>(bytes, 20), 300);  // V
  EXPECT_EQ(field<int32_t>(bytes, 24), 0);    // L
  EXPECT_EQ(field<int64_t>(bytes, 32), 3);    // N
  EXPECT_EQ(field<int64_t>(bytes, 40), 11);   // T
  for (size_t b : {28, 29, 30, 31}) EXPECT_EQ(bytes[b], 0);
  for (size_t b = 48; b < 64; ++b) EXPECT_EQ(bytes[b], 0);
  const std::vector<int64_t> offsets = {0, 4, 5, 11};
  for (size_t i = 0; i < offsets.size(); ++i) {
    EXPECT_EQ(field<int64_t>(bytes, kOffsetsAt + 8 * i), offsets[i]);
  }
  EXPECT_EQ(field<uint16_t>(bytes, kChatTokensAt + 2 * 3), 299);
  EXPECT_EQ(bytes[kChatMasksAt + 2], 1);
  EXPECT_EQ(bytes[kChatMasksAt + 10], 0);

  const ExampleSet s = ExampleSet::open(p);
  EXPECT_EQ(s.kind(), ExampleKind::chat);
  EXPECT_EQ(s.size(), 3);
  EXPECT_EQ(s.total_tokens(), 11);
  EXPECT_EQ(s.vocab_size(), 300);
  EXPECT_EQ(s.num_labels(), 0);
  EXPECT_EQ(s.token_width(), 2);
  EXPECT_EQ(s.max_length(), 6);
  EXPECT_EQ(s.loss_tokens(), 6);
  EXPECT_TRUE(s.label_counts().empty());
  for (int64_t i = 0; i < s.size(); ++i) {
    const Example& want = examples[size_t(i)];
    EXPECT_EQ(s.length(i), int64_t(want.ids.size()));
    EXPECT_EQ(s.ids(i), want.ids);
    EXPECT_EQ(s.loss_mask(i), want.loss_mask);
    EXPECT_EQ(s.label(i), -1);
    const Example got = s.example(i);
    EXPECT_EQ(got.ids, want.ids);
    EXPECT_EQ(got.loss_mask, want.loss_mask);
    std::vector<int32_t> ids(want.ids.size());
    std::vector<uint8_t> mask(want.ids.size());
    s.read(i, ids.data(), mask.data());
    EXPECT_EQ(ids, want.ids);
    EXPECT_EQ(mask, want.loss_mask);
  }
  EXPECT_NE(error_of([&] { s.ids(3); }).find("example 3 is out of range: the set has 3"),
            std::string::npos);
  EXPECT_NE(error_of([&] { s.label(-1); }).find("example -1"), std::string::npos);
}

TEST(ExampleSet, ClassificationRoundTripUint32) {
  TempDir dir;
  const fs::path p = dir.path / "val.examples";
  const int32_t V = 128256;  // > 65536: uint32 tokens
  const std::vector<Example> examples = classification_examples(V);
  write_set(p, ExampleKind::classification, V, 3, examples);
  // header 64 + offsets 5 * 8 + labels 4 * 4 + tokens 9 * 4, no masks
  EXPECT_EQ(fs::file_size(p), 64u + 40 + 16 + 36);
  const std::string bytes = read_file(p);
  EXPECT_EQ(field<int32_t>(bytes, 12), 2);
  EXPECT_EQ(field<int32_t>(bytes, 16), 4);
  EXPECT_EQ(field<int32_t>(bytes, 24), 3);
  EXPECT_EQ(field<int32_t>(bytes, 64 + 40), 2);  // labels[0]

  const ExampleSet s = ExampleSet::open(p);
  EXPECT_EQ(s.kind(), ExampleKind::classification);
  EXPECT_EQ(s.size(), 4);
  EXPECT_EQ(s.total_tokens(), 9);
  EXPECT_EQ(s.vocab_size(), V);
  EXPECT_EQ(s.num_labels(), 3);
  EXPECT_EQ(s.token_width(), 4);
  EXPECT_EQ(s.max_length(), 5);
  EXPECT_EQ(s.loss_tokens(), 0);
  EXPECT_EQ(s.label_counts(), (std::vector<int64_t>{1, 1, 2}));
  for (int64_t i = 0; i < s.size(); ++i) {
    EXPECT_EQ(s.ids(i), examples[size_t(i)].ids);
    EXPECT_TRUE(s.loss_mask(i).empty());
    EXPECT_EQ(s.label(i), examples[size_t(i)].label);
  }
}

TEST(ExampleSet, BothKindsAndBothWidths) {
  TempDir dir;
  for (int32_t V : {257, 65536, 65537, 200000}) {
    for (ExampleKind kind : {ExampleKind::chat, ExampleKind::classification}) {
      const fs::path p = dir.path / fmt::format("{}-{}.examples", example_kind_name(kind), V);
      const bool is_chat = kind == ExampleKind::chat;
      const std::vector<Example> examples = is_chat ? chat_examples(V) : classification_examples(V);
      write_set(p, kind, V, is_chat ? 0 : 3, examples);
      const ExampleSet s = ExampleSet::open(p);
      EXPECT_EQ(s.token_width(), V <= 65536 ? 2 : 4) << V;
      ASSERT_EQ(s.size(), int64_t(examples.size()));
      for (int64_t i = 0; i < s.size(); ++i) {
        const Example got = s.example(i);
        EXPECT_EQ(got.ids, examples[size_t(i)].ids) << p;
        EXPECT_EQ(got.loss_mask, examples[size_t(i)].loss_mask) << p;
        EXPECT_EQ(got.label, examples[size_t(i)].label) << p;
      }
    }
  }
}

TEST(ExampleSet, EmptySet) {
  TempDir dir;
  const fs::path p = dir.path / "empty.examples";
  write_set(p, ExampleKind::chat, 257, 0, {});
  EXPECT_EQ(fs::file_size(p), 64u + 8);
  const ExampleSet s = ExampleSet::open(p);
  EXPECT_EQ(s.size(), 0);
  EXPECT_EQ(s.total_tokens(), 0);
  EXPECT_EQ(s.max_length(), 0);
}

TEST(ExampleSet, ManyExamplesStreamThroughTheScratchFiles) {
  TempDir dir;
  const fs::path p = dir.path / "big.examples";
  ExampleSetWriter w(p, ExampleKind::chat, 50257, 0);
  int64_t tokens = 0;
  for (int32_t i = 0; i < 20000; ++i) {
    Example e;
    for (int32_t j = 0; j <= i % 97; ++j) e.ids.push_back((i * 131 + j * 7) % 50257);
    e.loss_mask.assign(e.ids.size(), 0);
    e.loss_mask.back() = 1;
    tokens += int64_t(e.ids.size());
    w.add(e);
  }
  EXPECT_EQ(w.tokens(), tokens);
  w.finish();
  // Nothing but the set is left in the folder: the scratch files were never visible.
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir.path)) files.push_back(entry.path());
  EXPECT_EQ(files, std::vector<fs::path>{p});
  const ExampleSet s = ExampleSet::open(p);
  EXPECT_EQ(s.size(), 20000);
  EXPECT_EQ(s.total_tokens(), tokens);
  EXPECT_EQ(s.loss_tokens(), 20000);
  const std::vector<int32_t> ids = s.ids(12345);
  ASSERT_EQ(ids.size(), size_t(12345 % 97 + 1));
  for (size_t j = 0; j < ids.size(); ++j) {
    EXPECT_EQ(ids[j], int32_t((12345 * 131 + int64_t(j) * 7) % 50257));
  }
}

TEST(ExampleSetWriter, RefusesBadExamples) {
  TempDir dir;
  const fs::path p = dir.path / "x.examples";
  ExampleSetWriter c(p, ExampleKind::chat, 300, 0);
  c.add(chat({1}, {1}));
  auto chat_error = [&](Example e) { return error_of([&] { c.add(e); }); };
  std::string e = chat_error(chat({1, 300}, {1, 1}));
  EXPECT_NE(e.find(p.string()), std::string::npos) << e;
  EXPECT_NE(e.find("example 1: token 300 at position 1 is out of range [0, 300)"),
            std::string::npos)
      << e;
  EXPECT_NE(chat_error(chat({-1}, {1})).find("token -1 at position 0"), std::string::npos);
  EXPECT_NE(chat_error(chat({}, {})).find("example 1 has no tokens"), std::string::npos);
  EXPECT_NE(chat_error(chat({1, 2}, {1})).find("loss mask has 1 values for 2 tokens"),
            std::string::npos);
  EXPECT_NE(chat_error(chat({1, 2}, {0, 2})).find("loss mask value 2 at position 1"),
            std::string::npos);
  EXPECT_NE(chat_error(chat({1, 2}, {0, 0})).find("no token has loss"), std::string::npos);
  EXPECT_NE(chat_error(Example{{1}, {1}, 0}).find("a chat example has no label, got label 0"),
            std::string::npos);
  EXPECT_EQ(c.size(), 1);  // refused examples are not counted
  c.finish();
  EXPECT_NE(error_of([&] { c.add(chat({1}, {1})); }).find("after finish"), std::string::npos);
  EXPECT_NE(error_of([&] { c.finish(); }).find("twice"), std::string::npos);
  EXPECT_EQ(ExampleSet::open(p).size(), 1);

  ExampleSetWriter k(dir.path / "k.examples", ExampleKind::classification, 300, 2);
  EXPECT_NE(error_of([&] { k.add(labelled({1}, 2)); }).find("label 2 is out of range [0, 2)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { k.add(labelled({1}, -1)); }).find("label -1 is out of range"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              k.add(Example{{1}, {1}, 0});
            }).find("has no loss mask, got 1 values"),
            std::string::npos);

  EXPECT_NE(error_of([&] { ExampleSetWriter(p, ExampleKind::chat, 300, 2); }).find("no labels"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ExampleSetWriter(p, ExampleKind::classification, 300, 0);
            }).find("needs >= 1 label"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ExampleSetWriter(p, ExampleKind::chat, 0, 0); }).find("vocab size 0"),
            std::string::npos);
}

TEST(ExampleSetWriter, WithoutFinishLeavesTheOldFileAndNothingElse) {
  TempDir dir;
  const fs::path p = dir.path / "train.examples";
  write_set(p, ExampleKind::chat, 300, 0, chat_examples(300));
  const std::string before = read_file(p);
  {
    ExampleSetWriter w(p, ExampleKind::chat, 300, 0);
    w.add(chat({1, 2}, {0, 1}));
  }  // destroyed unfinished, as by an error in the caller
  EXPECT_EQ(read_file(p), before);
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path)) ++files;
  EXPECT_EQ(files, 1);
}

// ---- corrupt files ----------------------------------------------------------------------------

class CorruptExampleSet : public ::testing::Test {
 protected:
  void SetUp() override {
    write_set(chat_path, ExampleKind::chat, 300, 0, chat_examples(300));
    write_set(cls_path, ExampleKind::classification, 300, 3, classification_examples(300));
    chat_bytes = read_file(chat_path);
    cls_bytes = read_file(cls_path);
    ASSERT_EQ(chat_bytes.size(), kChatBytes);
  }
  // Writes `bytes` as a file and expects opening it to fail with `want` in the message.
  void expect_refused(const std::string& bytes, const std::string& want) {
    const fs::path p = dir.path / "corrupt.examples";
    write_bytes(p, bytes);
    expect_open_error(p, want);
  }

  TempDir dir;
  fs::path chat_path = dir.path / "chat.examples", cls_path = dir.path / "cls.examples";
  std::string chat_bytes, cls_bytes;
};

TEST_F(CorruptExampleSet, Header) {
  expect_refused("", "0 bytes is shorter than the 64-byte header");
  expect_refused(chat_bytes.substr(0, 63), "63 bytes is shorter than the 64-byte header");
  std::string b = chat_bytes;
  b[0] = 'X';
  expect_refused(b, "bytes 0-7 (magic) are \"XLMEXSET\", expected \"ILMEXSET\"");
  set_field<int32_t>(b, 0, 20240520);
  expect_refused(b, "not an example set but a token shard");

  b = chat_bytes;
  set_field<int32_t>(b, 8, 2);
  expect_refused(b, "unsupported example set version 2 (bytes 8-11), expected 1");
  b = chat_bytes;
  set_field<int32_t>(b, 12, 3);
  expect_refused(b, "kind 3 (bytes 12-15) is unknown");
  b = chat_bytes;
  set_field<int32_t>(b, 16, 4);
  expect_refused(b, "token width 4 (bytes 16-19) for vocab size 300, expected 2");
  b = chat_bytes;
  set_field<int32_t>(b, 20, 0);
  expect_refused(b, "vocab size 0 (bytes 20-23), expected > 0");
  b = chat_bytes;
  set_field<int32_t>(b, 20, 70000);
  expect_refused(b, "token width 2 (bytes 16-19) for vocab size 70000, expected 4");
  b = chat_bytes;
  set_field<int32_t>(b, 24, 2);
  expect_refused(b, "a chat example set with 2 labels");
  b = cls_bytes;
  set_field<int32_t>(b, 24, 0);
  expect_refused(b, "a classification example set with 0 labels");
  b = chat_bytes;
  b[30] = 1;
  expect_refused(b, "reserved header bytes");
  b = chat_bytes;
  b[63] = 1;
  expect_refused(b, "reserved header bytes");
  b = chat_bytes;
  set_field<int64_t>(b, 32, -1);
  expect_refused(b, "example count -1");
  b = chat_bytes;
  set_field<int64_t>(b, 40, -5);
  expect_refused(b, "token count -5");
  b = chat_bytes;
  set_field<int64_t>(b, 32, int64_t(1) << 60);
  expect_refused(b, "truncated: the header says 1152921504606846976 examples");
}

TEST_F(CorruptExampleSet, Size) {
  expect_refused(chat_bytes.substr(0, kChatBytes - 1),
                 "truncated: the header says 3 examples and 11 tokens (129 bytes) but the file "
                 "has 128 bytes");
  expect_refused(chat_bytes + "x",
                 "too long: the header says 3 examples and 11 tokens (129 "
                 "bytes) but the file has 130 bytes (1 extra)");
  expect_refused(cls_bytes.substr(0, cls_bytes.size() - 2), "truncated");
  // A header that claims one token more than the file holds.
  std::string b = chat_bytes;
  set_field<int64_t>(b, 40, 12);
  expect_refused(b, "truncated: the header says 3 examples and 12 tokens (132 bytes)");
}

TEST_F(CorruptExampleSet, Offsets) {
  std::string b = chat_bytes;
  set_field<int64_t>(b, kOffsetsAt, 1);
  expect_refused(b, "offsets[0] is 1, expected 0");
  b = chat_bytes;
  set_field<int64_t>(b, kOffsetsAt + 8 * 2, 3);  // 0, 4, 3, 11
  expect_refused(b, "offsets are not increasing: offsets[2] = 3 after offsets[1] = 4");
  b = chat_bytes;
  set_field<int64_t>(b, kOffsetsAt + 8 * 2, 4);  // 0, 4, 4, 11: an empty example
  expect_refused(b, "example 1 would have 0 tokens");
  b = chat_bytes;
  set_field<int64_t>(b, kOffsetsAt + 8 * 2, 40);  // 0, 4, 40, 11
  expect_refused(b, "offsets[2] = 40 is past the 11 tokens");
  b = chat_bytes;
  set_field<int64_t>(b, kOffsetsAt + 8 * 3, 10);  // 0, 4, 5, 10
  expect_refused(b, "offsets[3] = 10, expected the token count 11");
}

TEST_F(CorruptExampleSet, TokensMasksAndLabels) {
  std::string b = chat_bytes;
  set_field<uint16_t>(b, kChatTokensAt + 2 * 6, 300);  // example 2, position 1
  expect_refused(b, "example 2: token 300 at position 1 is out of range [0, 300)");
  b = chat_bytes;
  set_field<uint16_t>(b, kChatTokensAt, 65535);
  expect_refused(b, "example 0: token 65535 at position 0 is out of range");
  b = chat_bytes;
  b[kChatMasksAt + 5 + 3] = 2;  // example 2, position 3
  expect_refused(b, "example 2: loss mask value 2 at position 3, expected 0 or 1");
  b = chat_bytes;
  b[kChatMasksAt + 4] = 0;  // example 1's only loss token
  expect_refused(b, "example 1: no token has loss");

  // Classification: header 64, offsets 5 * 8 (at 64), labels 4 * 4 (at 104), tokens (at 120).
  b = cls_bytes;
  set_field<int32_t>(b, 104 + 4 * 3, 3);
  expect_refused(b, "example 3: label 3 is out of range [0, 3)");
  b = cls_bytes;
  set_field<int32_t>(b, 104 + 4 * 1, -1);
  expect_refused(b, "example 1: label -1 is out of range [0, 3)");
  b = cls_bytes;
  set_field<uint16_t>(b, 120 + 2 * 3, 1000);  // example 2, position 0
  expect_refused(b, "example 2: token 1000 at position 0 is out of range [0, 300)");
}

TEST_F(CorruptExampleSet, MissingFile) {
  const std::string e = error_of([&] { ExampleSet::open(dir.path / "none.examples"); });
  EXPECT_NE(e.find("none.examples"), std::string::npos) << e;
}

// Any single corrupted byte either is refused with an ilm::Error or (a token, mask or label
// changed to another valid value) opens to a set whose every example reads back valid.
TEST_F(CorruptExampleSet, EveryByteChangedOpensValidOrIsRefused) {
  const fs::path p = dir.path / "corrupt.examples";
  for (const std::string* original : {&chat_bytes, &cls_bytes}) {
    for (size_t at = 0; at < original->size(); ++at) {
      for (uint8_t value : {uint8_t(0), uint8_t(2), uint8_t(0xff)}) {
        std::string b = *original;
        if (uint8_t(b[at]) == value) continue;
        b[at] = char(value);
        write_bytes(p, b);
        try {
          const ExampleSet s = ExampleSet::open(p);
          for (int64_t i = 0; i < s.size(); ++i) {
            const Example e = s.example(i);
            ASSERT_FALSE(e.ids.empty());
            for (int32_t id : e.ids) ASSERT_TRUE(id >= 0 && id < s.vocab_size()) << at;
            if (s.kind() == ExampleKind::classification) {
              ASSERT_TRUE(e.label >= 0 && e.label < s.num_labels()) << at;
            }
          }
        } catch (const Error&) {
        }
      }
    }
  }
}
