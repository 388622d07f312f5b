// The BPE trainer: merges on a hand-checked example, vocabulary limits, determinism,
// and a trained vocabulary that encodes and decodes text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "ilm/io/file.h"
#include "ilm/tokenizer/bpe.h"
#include "ilm/tokenizer/bpe_trainer.h"
#include "ilm/tokenizer/pretokenize.h"
#include "test_util.h"

using namespace ilm;
using namespace ilm::test;

namespace {

std::string merge_text(const TrainedBpe& t, size_t k) {
  auto [a, b] = t.merges[k];
  return t.tokens[size_t(a)] + "+" + t.tokens[size_t(b)];
}

// A BpeRanks from a trained vocabulary: a token's id is its rank, and merges were made in
// id order, so tiktoken's lowest-rank-first rule replays the training merges.
BpeRanks ranks_of(const TrainedBpe& t) {
  BpeRanks r;
  for (size_t i = size_t(t.num_special); i < t.tokens.size(); ++i) r.add(t.tokens[i], int32_t(i));
  r.finalize();
  return r;
}

std::vector<int32_t> encode(const BpeRanks& r, const std::string& pattern, std::string_view text) {
  std::vector<std::string_view> pieces;
  Pretokenizer::get(pattern).split(text, pieces);
  std::vector<int32_t> ids;
  for (auto p : pieces) r.encode_piece(p, ids);
  return ids;
}

}  // namespace

TEST(BpeTrainer, MergesTheMostFrequentPairFirst) {
  // The Hugging Face course's example corpus: hug x10, pug x5, pun x12, bun x4, hugs x5.
  WordCounts w = {{"hug", 10}, {"pug", 5}, {"pun", 12}, {"bun", 4}, {"hugs", 5}};
  BpeTrainerOptions opt;
  opt.special_tokens = {};
  opt.vocab_size = 256 + 3;
  opt.min_frequency = 1;
  TrainedBpe t = train_bpe(w, opt);
  ASSERT_EQ(t.merges.size(), 3u);
  EXPECT_EQ(merge_text(t, 0), "u+g");   // 10 + 5 + 5 = 20
  EXPECT_EQ(merge_text(t, 1), "u+n");   // 12 + 4 = 16
  EXPECT_EQ(merge_text(t, 2), "h+ug");  // 10 + 5 = 15
  EXPECT_EQ(t.tokens.size(), 259u);
  EXPECT_EQ(t.distinct_words, 5);
  EXPECT_EQ(t.words, 36);
}

TEST(BpeTrainer, StopsAtMinFrequencyAndKeepsSpecialTokensFirst) {
  WordCounts w = {{"ab", 3}, {"cd", 1}};
  BpeTrainerOptions opt;
  opt.special_tokens = {"<|endoftext|>", "<pad>"};
  opt.vocab_size = 1000;
  opt.min_frequency = 2;
  TrainedBpe t = train_bpe(w, opt);
  ASSERT_EQ(t.merges.size(), 1u);  // "cd" occurs once
  EXPECT_EQ(t.tokens[0], "<|endoftext|>");
  EXPECT_EQ(t.tokens[1], "<pad>");
  EXPECT_EQ(t.num_special, 2);
  EXPECT_EQ(t.tokens.back(), "ab");
  EXPECT_NE(error_of([&] {
              opt.vocab_size = 100;
              train_bpe(w, opt);
            }).find("vocab size 100"),
            std::string::npos);
}

TEST(BpeTrainer, RepeatedPairsInOneWordMergeLeftToRight) {
  WordCounts w = {{"aaaa", 5}};
  BpeTrainerOptions opt;
  opt.special_tokens = {};
  opt.vocab_size = 256 + 2;
  opt.min_frequency = 1;
  TrainedBpe t = train_bpe(w, opt);
  ASSERT_EQ(t.merges.size(), 2u);
  EXPECT_EQ(merge_text(t, 0), "a+a");    // "aaaa" -> aa aa
  EXPECT_EQ(merge_text(t, 1), "aa+aa");  // the pair (aa, aa) counted 5 times, not 10
}

TEST(BpeTrainer, TrainsOnFilesDeterministicallyAndEncodesBack) {
  TempDir tmp;
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += "The whale, the whale! مرحبا بالعالم 🐋 numbers 12345 and code: x = f(y);\n";
  write_file_atomic(tmp.path / "a.txt", text);
  BpeTrainerOptions opt;
  opt.vocab_size = 400;
  opt.threads = 2;
  WordCounts w = count_words({tmp.path / "a.txt"}, opt);
  EXPECT_EQ(w.at(" whale"), 400);  // twice a line
  TrainedBpe t1 = train_bpe(w, opt), t2 = train_bpe(count_words({tmp.path / "a.txt"}, opt), opt);
  EXPECT_EQ(t1.tokens, t2.tokens);
  EXPECT_LE(int(t1.tokens.size()), 400);

  BpeRanks r = ranks_of(t1);
  for (std::string s : {std::string("The whale"), std::string(" مرحبا بالعالم 🐋"), text.substr(0, 500),
                        std::string("unseen words \xff\xfe bytes")}) {
    std::vector<int32_t> ids = encode(r, "gpt2", s);
    std::string back;
    for (int32_t id : ids) back += t1.tokens[size_t(id)];
    EXPECT_EQ(back, s);
  }
  EXPECT_EQ(encode(r, "gpt2", " whale").size(), 1u);  // a frequent word is one token
}

TEST(BpeTrainer, WritesAHuggingFaceTokenizerJson) {
  TempDir tmp;
  WordCounts w = {{" hello", 50}, {" world", 40}, {"hello", 10}};
  BpeTrainerOptions opt;
  opt.vocab_size = 300;
  TrainedBpe t = train_bpe(w, opt);
  save_hf_tokenizer_json(t, tmp.path / "tokenizer.json");
  auto j = nlohmann::json::parse(read_file(tmp.path / "tokenizer.json"));
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_EQ(j["added_tokens"][0]["content"], "<|endoftext|>");
  EXPECT_EQ(j["added_tokens"][0]["id"], 0);
  auto hello = std::find(t.tokens.begin(), t.tokens.end(), std::string(" hello"));
  ASSERT_NE(hello, t.tokens.end());
  EXPECT_EQ(j["model"]["vocab"]["Ġhello"], hello - t.tokens.begin());
  EXPECT_EQ(j["model"]["merges"].size(), t.merges.size());
  // he, el, ll, lo occur 60 times; the tie goes to the smallest pair of ids: (e, l).
  EXPECT_EQ(j["model"]["merges"][0], "e l");
  EXPECT_EQ(j["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(byte_level_spelling(" \n"), "ĠĊ");
}
