// prepare_text_dataset: text file -> train.bin, val.bin, tokenizer.json, split as nanoGPT.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "ilm/core/error.h"
#include "ilm/data/shard.h"
#include "ilm/data/text_dataset.h"
#include "ilm/tokenizer/char_tokenizer.h"
#include "ilm/tokenizer/tokenizer.h"

#include "test_util.h"

namespace fs = std::filesystem;
using namespace ilm;
using namespace ilm::test;

namespace {

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

std::vector<int32_t> read_all(const fs::path& p) {
  TokenShard s = TokenShard::open(p);
  std::vector<int32_t> out(size_t(s.size()));
  s.read(0, s.size(), out.data());
  return out;
}

// 20 lines of mixed English and Arabic: 2 bytes per Arabic letter, so code points != bytes.
std::string sample_text() {
  std::string s;
  for (int i = 0; i < 20; ++i) s += "line " + std::to_string(i) + ": مرحبا بالعالم, hello!\n";
  return s;
}

}  // namespace

TEST(PrepareTextDataset, CharSplitsCodePointsAsNanoGPT) {
  TempDir dir;
  const std::string text = sample_text();
  write_text(dir.path / "input.txt", text);
  const TextDatasetInfo info =
      prepare_text_dataset(dir.path / "input.txt", "char", 0.1, dir.path / "out");

  const CharTokenizer expected = CharTokenizer::from_corpus(text);
  const int64_t n = int64_t(expected.encode(text).size());  // code points
  ASSERT_LT(n, int64_t(text.size()));
  EXPECT_EQ(info.tokenizer_kind, "char");
  EXPECT_EQ(info.vocab_size, expected.vocab_size());
  EXPECT_EQ(info.train_tokens, int64_t(std::floor(double(n) * 0.9)));
  EXPECT_EQ(info.train_tokens + info.val_tokens, n);

  std::unique_ptr<Tokenizer> tok = load_tokenizer(dir.path / "out" / "tokenizer.json");
  EXPECT_EQ(tok->kind(), "char");
  EXPECT_EQ(tok->vocab_size(), expected.vocab_size());
  const std::vector<int32_t> train = read_all(dir.path / "out" / "train.bin");
  const std::vector<int32_t> val = read_all(dir.path / "out" / "val.bin");
  EXPECT_EQ(int64_t(train.size()), info.train_tokens);
  EXPECT_EQ(int64_t(val.size()), info.val_tokens);
  EXPECT_EQ(TokenShard::open(dir.path / "out" / "train.bin").vocab_size(), info.vocab_size);
  // Train then val is the whole text again.
  EXPECT_EQ(tok->decode(train) + tok->decode(val), text);
}

TEST(PrepareTextDataset, ByteSplitsBytes) {
  TempDir dir;
  const std::string text = sample_text();
  write_text(dir.path / "input.txt", text);
  const TextDatasetInfo info =
      prepare_text_dataset(dir.path / "input.txt", "byte", 0.25, dir.path / "out");
  EXPECT_EQ(info.tokenizer_kind, "byte");
  EXPECT_EQ(info.vocab_size, 257);
  EXPECT_EQ(info.train_tokens, int64_t(std::floor(double(text.size()) * 0.75)));
  EXPECT_EQ(info.train_tokens + info.val_tokens, int64_t(text.size()));
  std::unique_ptr<Tokenizer> tok = load_tokenizer(dir.path / "out" / "tokenizer.json");
  EXPECT_EQ(tok->kind(), "byte");
  EXPECT_EQ(tok->decode(read_all(dir.path / "out" / "train.bin")) +
                tok->decode(read_all(dir.path / "out" / "val.bin")),
            text);
}

TEST(PrepareTextDataset, ZeroValFractionAndTinyTexts) {
  TempDir dir;
  write_text(dir.path / "a.txt", "abcab");
  TextDatasetInfo info = prepare_text_dataset(dir.path / "a.txt", "char", 0.0, dir.path / "o1");
  EXPECT_EQ(info.train_tokens, 5);
  EXPECT_EQ(info.val_tokens, 0);
  EXPECT_EQ(TokenShard::open(dir.path / "o1" / "val.bin").size(), 0);
  // One character and a half for validation: an empty train part is for the loader to report.
  write_text(dir.path / "b.txt", "x");
  info = prepare_text_dataset(dir.path / "b.txt", "char", 0.5, dir.path / "o2");
  EXPECT_EQ(info.train_tokens, 0);
  EXPECT_EQ(info.val_tokens, 1);
}

TEST(PrepareTextDataset, TinyShakespeareMatchesNanoGPT) {
  const std::string path = std::string(ILM_SOURCE_DIR) + "/../shared/data/tinyshakespeare.txt";
  if (!fs::exists(path)) GTEST_SKIP() << path << " is absent";
  TempDir dir;
  const TextDatasetInfo info = prepare_text_dataset(path, "char", 0.1, dir.path);
  // data/shakespeare_char/prepare.py: "train has 1,003,854 tokens", "val has 111,540 tokens".
  EXPECT_EQ(info.vocab_size, 65);
  EXPECT_EQ(info.train_tokens, 1003854);
  EXPECT_EQ(info.val_tokens, 111540);
  EXPECT_EQ(fs::file_size(dir.path / "train.bin"), 1024u + 1003854u * 2);
}

TEST(PrepareTextDataset, Errors) {
  TempDir dir;
  const fs::path text = dir.path / "in.txt";
  write_text(text, "hello");
  const fs::path out = dir.path / "out";

  std::string msg =
      error_of([&] { prepare_text_dataset(dir.path / "missing.txt", "char", 0.1, out); });
  EXPECT_NE(msg.find("missing.txt"), std::string::npos) << msg;

  write_text(dir.path / "empty.txt", "");
  msg = error_of([&] { prepare_text_dataset(dir.path / "empty.txt", "char", 0.1, out); });
  EXPECT_NE(msg.find("empty.txt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;

  for (double bad : {1.0, -0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    msg = error_of([&] { prepare_text_dataset(text, "char", bad, out); });
    EXPECT_NE(msg.find("val_fraction"), std::string::npos) << msg;
  }

  msg = error_of([&] { prepare_text_dataset(text, "bpe", 0.1, out); });
  EXPECT_NE(msg.find("'bpe'"), std::string::npos) << msg;

  write_text(dir.path / "latin1.txt", "caf\xE9 au lait");  // Latin-1, not UTF-8
  msg = error_of([&] { prepare_text_dataset(dir.path / "latin1.txt", "char", 0.1, out); });
  EXPECT_NE(msg.find("latin1.txt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte offset 3"), std::string::npos) << msg;
  // The byte tokenizer takes any bytes.
  EXPECT_EQ(prepare_text_dataset(dir.path / "latin1.txt", "byte", 0.0, out).train_tokens, 12);
}

TEST(TextDataset, NamedBpeEncodingSplitsAtALineAndRoundTrips) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 50; ++i) text += "Call me Ishmael. مرحبا بالعالم " + std::to_string(i) + "\n";
  const fs::path file = dir.path / "t.txt";
  write_text(file, text);
  TextDatasetInfo info;
  try {
    info = prepare_text_dataset(file, "gpt2", 0.1, dir.path / "out");
  } catch (const Error& e) {
    GTEST_SKIP() << "GPT-2 encoding files not installed (scripts/setup): " << e.what();
  }
  EXPECT_EQ(info.tokenizer_kind, "bpe");
  EXPECT_EQ(info.vocab_size, 50257);
  auto tok = load_tokenizer(dir.path / "out" / "tokenizer.json");
  TokenShard train = TokenShard::open(dir.path / "out" / "train.bin");
  TokenShard val = TokenShard::open(dir.path / "out" / "val.bin");
  std::vector<int32_t> a(size_t(train.size())), b(size_t(val.size()));
  train.read(0, train.size(), a.data());
  val.read(0, val.size(), b.data());
  std::string ta = tok->decode(a), tb = tok->decode(b);
  EXPECT_EQ(ta + tb, text);
  EXPECT_EQ(tb.find("Call me"), 0u);  // the validation part starts at a line
  EXPECT_NE(error_of([&] { prepare_text_dataset(file, "no-such-tokenizer", 0.1, dir.path / "x"); })
                .find("no-such-tokenizer"),
            std::string::npos);
}
