// Byte-level BPE pieces: the merge loop against a naive tiktoken-style reference, the
// pre-tokenization patterns, and the errors of malformed rank, encoder.json and vocab.bpe files.
#include "ilm/tokenizer/bpe.h"

#include <gtest/gtest.h>

#include <climits>
#include <random>

#include "ilm/io/file.h"
#include "ilm/tokenizer/pretokenize.h"
#include "ilm/tokenizer/tiktoken.h"
#include "test_util.h"

namespace ilm {
namespace {

namespace fs = std::filesystem;

// Ranks 0..255: the bytes; then `extra` in order.
BpeRanks make_ranks(const std::vector<std::string>& extra) {
  BpeRanks r;
  for (int b = 0; b < 256; ++b) r.add(std::string(1, char(b)), b);
  for (size_t i = 0; i < extra.size(); ++i) r.add(extra[i], int32_t(256 + i));
  r.finalize();
  return r;
}

std::vector<std::string> encode_strings(const BpeRanks& r, std::string_view piece) {
  std::vector<int32_t> ids;
  r.encode_piece(piece, ids);
  std::vector<std::string> out;
  for (int32_t id : ids) out.emplace_back(r.bytes(id));
  return out;
}

// tiktoken's definition, spelled out slowly: a whole-token piece is that token; otherwise merge
// the leftmost adjacent pair of lowest rank while any pair concatenates to a token.
std::vector<std::string> reference_merge(const BpeRanks& r, const std::string& piece) {
  if (r.find(piece) >= 0) return {piece};
  std::vector<std::string> parts;
  for (char c : piece) parts.emplace_back(1, c);
  while (parts.size() > 1) {
    int32_t best_rank = INT32_MAX;
    size_t best = 0;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      const int32_t rank = r.find(parts[i] + parts[i + 1]);
      if (rank >= 0 && rank < best_rank) best_rank = rank, best = i;
    }
    if (best_rank == INT32_MAX) break;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + long(best) + 1);
  }
  return parts;
}

TEST(Bpe, MergesLowestRankFirstAndLeftmostOnTies) {
  const BpeRanks r = make_ranks({"aa", "bc", "ab", "abc", "aaaa"});
  EXPECT_EQ(encode_strings(r, "aaa"), (std::vector<std::string>{"aa", "a"}));
  EXPECT_EQ(encode_strings(r, "aaaaa"), (std::vector<std::string>{"aaaa", "a"}));
  // "bc" (rank 257) merges before "ab" (258); "abc" then forms from "a" + "bc": ranks are
  // those of the concatenations, not of a list of merges.
  EXPECT_EQ(encode_strings(r, "xabc"), (std::vector<std::string>{"x", "abc"}));
  EXPECT_EQ(encode_strings(r, "xabcc"), (std::vector<std::string>{"x", "abc", "c"}));
  // A whole-token piece is that token.
  EXPECT_EQ(encode_strings(r, "abc"), (std::vector<std::string>{"abc"}));
  EXPECT_EQ(encode_strings(r, "abx"), (std::vector<std::string>{"ab", "x"}));
}

TEST(Bpe, ShortAndLongPiecesMatchTheReference) {
  std::mt19937 rng(3);
  const std::string alphabet = "ab c\xC3\xA9";
  std::vector<std::string> tokens;
  for (int i = 0; i < 400; ++i) {
    std::string t(2 + rng() % 5, 'a');
    for (char& c : t) c = alphabet[rng() % alphabet.size()];
    if (std::find(tokens.begin(), tokens.end(), t) == tokens.end()) tokens.push_back(t);
  }
  const BpeRanks r = make_ranks(tokens);
  for (int n = 0; n < 400; ++n) {
    std::string piece(1 + rng() % 300, 'a');
    for (char& c : piece) c = alphabet[rng() % alphabet.size()];
    const auto got = encode_strings(r, piece);
    ASSERT_EQ(got, reference_merge(r, piece)) << piece;
  }
}

TEST(Bpe, RankTableErrors) {
  BpeRanks r;
  r.add("a", 0);
  std::string e = test::error_of([&] { r.add("b", 0); });
  EXPECT_NE(e.find("rank 0 is given twice"), std::string::npos) << e;
  e = test::error_of([&] { r.add("a", 5); });
  EXPECT_NE(e.find("token \"a\" is given twice"), std::string::npos) << e;
  e = test::error_of([&] { r.finalize(); });
  EXPECT_NE(e.find("byte 0x00"), std::string::npos) << e;
}

std::vector<std::string> split(const std::string& pattern, std::string_view text) {
  std::vector<std::string_view> pieces;
  Pretokenizer::get(pattern).split(text, pieces);
  return {pieces.begin(), pieces.end()};
}

TEST(Pretokenize, Gpt2Pattern) {
  EXPECT_EQ(
      split("gpt2", "Hello world's  2024 tests!!\n\n"),
      (std::vector<std::string>{"Hello", " world", "'s", " ", " 2024", " tests", "!!", "\n\n"}));
  EXPECT_EQ(split("gpt2", "a   b"), (std::vector<std::string>{"a", "  ", " b"}));
}

TEST(Pretokenize, Cl100kPattern) {
  EXPECT_EQ(split("cl100k_base", "I'VE 1234567 x\r\n\r\ny"),
            (std::vector<std::string>{"I", "'VE", " ", "123", "456", "7", " x", "\r\n\r\n", "y"}));
}

TEST(Pretokenize, O200kPattern) {
  EXPECT_EQ(split("o200k_base", "HTTPServer's path/to\n"),
            (std::vector<std::string>{"HTTPServer's", " path", "/to", "\n"}));
  EXPECT_EQ(split("o200k_base", "CamelCase"), (std::vector<std::string>{"Camel", "Case"}));
}

TEST(Pretokenize, WhiteSpaceIsUnicodesProperty) {
  // U+180E is no longer White_Space (Unicode 6.3); PCRE2's \s would still match it.
  EXPECT_EQ(split("cl100k_base", "a\xE1\xA0\x8E b"),
            (std::vector<std::string>{"a", "\xE1\xA0\x8E", " b"}));
  EXPECT_EQ(split("gpt2",
                  "a\xE3\x80\x80"
                  "b"),
            (std::vector<std::string>{"a", "\xE3\x80\x80", "b"}));
}

TEST(Pretokenize, InvalidUtf8BecomesPiecesOfItsOwn) {
  const std::string text = "ab\xFF\xFE cd\xC3";
  const auto pieces = split("cl100k_base", text);
  EXPECT_EQ(pieces, (std::vector<std::string>{"ab", "\xFF\xFE", " cd", "\xC3"}));
  std::string joined;
  for (const auto& p : pieces) joined += p;
  EXPECT_EQ(joined, text);
}

TEST(Pretokenize, UnknownPatternListsKnownOnes) {
  const std::string e = test::error_of([] { Pretokenizer::get("gpt5"); });
  EXPECT_NE(e.find("\"gpt5\""), std::string::npos) << e;
  EXPECT_NE(e.find("cl100k_base"), std::string::npos) << e;
}

// ---- Malformed files ----------------------------------------------------------------------

// A rank file of the 256 bytes (base64 of each), then `extra` lines.
std::string rank_file(const std::string& extra) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string s;
  for (int b = 0; b < 256; ++b) {
    s += fmt::format("{}{}== {}\n", alphabet[b >> 2], alphabet[(b & 3) << 4], b);
  }
  return s + extra;
}

TEST(TiktokenFile, LoadsAndEncodes) {
  test::TempDir dir;
  const fs::path p = dir.path / "tiny.tiktoken";
  write_file_atomic(p, rank_file("YWI= 256\n"));  // "ab"
  const auto t = load_tiktoken_file(p, "gpt2", {{"<|endoftext|>", 300}});
  EXPECT_EQ(t->encode("ab"), (std::vector<int32_t>{256}));
  EXPECT_EQ(t->vocab_size(), 301);
  EXPECT_EQ(t->kind(), "bpe");
  EXPECT_EQ(t->encoding(), "tiny");
  EXPECT_EQ(t->decode(std::vector<int32_t>{256, 300}), "ab<|endoftext|>");
}

std::string rank_file_error(const std::string& extra) {
  test::TempDir dir;
  const fs::path p = dir.path / "bad.tiktoken";
  write_file_atomic(p, rank_file(extra));
  return test::error_of([&] { load_tiktoken_file(p, "gpt2", {}); });
}

TEST(TiktokenFile, MalformedLinesNameFileAndLine) {
  std::string e = rank_file_error("YW*= 256\n");
  EXPECT_NE(e.find("bad.tiktoken:257"), std::string::npos) << e;
  EXPECT_NE(e.find("not base64"), std::string::npos) << e;
  e = rank_file_error("YWI=\n");
  EXPECT_NE(e.find("bad.tiktoken:257"), std::string::npos) << e;
  e = rank_file_error("YWI= x12\n");
  EXPECT_NE(e.find("bad.tiktoken:257"), std::string::npos) << e;
  EXPECT_NE(e.find("x12"), std::string::npos) << e;
  e = rank_file_error("YWI= 256\nYWM= 256\n");
  EXPECT_NE(e.find("bad.tiktoken:258"), std::string::npos) << e;
  EXPECT_NE(e.find("rank 256 is given twice"), std::string::npos) << e;
  e = rank_file_error("YWI= 256\nYWI= 257\n");
  EXPECT_NE(e.find("bad.tiktoken:258"), std::string::npos) << e;
  e = test::error_of([] { load_tiktoken_file("/nonexistent/x.tiktoken", "gpt2", {}); });
  EXPECT_NE(e.find("/nonexistent/x.tiktoken"), std::string::npos) << e;
}

// A GPT-2 pair of files over the 256 bytes with merges "a b" and "ab c".
struct Gpt2Files {
  test::TempDir dir;
  fs::path encoder = dir.path / "encoder.json", vocab = dir.path / "vocab.bpe";
  Gpt2Files(const std::string& encoder_extra, const std::string& merges) {
    nlohmann::json j;
    for (int b = 0; b < 256; ++b) j[encode_utf8(gpt2_byte_to_char(uint8_t(b)))] = b;
    j["ab"] = 256;
    j["abc"] = 257;
    j["<|endoftext|>"] = 258;
    std::string text = j.dump();
    if (!encoder_extra.empty()) text = encoder_extra;
    write_file_atomic(encoder, text);
    write_file_atomic(vocab, merges);
  }
};

TEST(Gpt2Files, LoadsAndAgrees) {
  Gpt2Files f("", "#version: 0.2\na b\nab c\n");
  const auto t = load_gpt2_files(f.encoder, f.vocab);
  // Pieces "abc" and " ab"; the space is byte 0x20, whose id here is 0x20.
  EXPECT_EQ(t->encode("abc ab"), (std::vector<int32_t>{257, 0x20, 256}));
  EXPECT_EQ(t->decode(t->encode("abc ab")), "abc ab");
  EXPECT_EQ(t->eot_id(), 258);
  EXPECT_EQ(gpt2_byte_to_char(' '), char32_t(0x120));
  EXPECT_EQ(gpt2_byte_to_char('!'), char32_t('!'));
}

TEST(Gpt2Files, ErrorsNameFileAndLine) {
  {
    Gpt2Files f("", "a b\nab c\n");
    const std::string e = test::error_of([&] { load_gpt2_files(f.encoder, f.vocab); });
    EXPECT_NE(e.find("vocab.bpe:1"), std::string::npos) << e;
  }
  {
    Gpt2Files f("", "#version: 0.2\na b\nab d\n");
    const std::string e = test::error_of([&] { load_gpt2_files(f.encoder, f.vocab); });
    EXPECT_NE(e.find("vocab.bpe:3"), std::string::npos) << e;
    EXPECT_NE(e.find("ab d"), std::string::npos) << e;
  }
  {
    Gpt2Files f("", "#version: 0.2\nab c\na b\n");
    const std::string e = test::error_of([&] { load_gpt2_files(f.encoder, f.vocab); });
    EXPECT_NE(e.find("vocab.bpe:2"), std::string::npos) << e;
    EXPECT_NE(e.find("disagree"), std::string::npos) << e;
  }
  {
    Gpt2Files f("", "#version: 0.2\na b\n");
    const std::string e = test::error_of([&] { load_gpt2_files(f.encoder, f.vocab); });
    EXPECT_NE(e.find("1 merges"), std::string::npos) << e;
  }
  {
    Gpt2Files f("{\"a\": 0, \"b c\": 1}", "#version: 0.2\n");
    const std::string e = test::error_of([&] { load_gpt2_files(f.encoder, f.vocab); });
    EXPECT_NE(e.find("encoder.json"), std::string::npos) << e;
    EXPECT_NE(e.find("\"b c\""), std::string::npos) << e;
    EXPECT_NE(e.find("U+0020"), std::string::npos) << e;
  }
  {
    Gpt2Files f("{\"a\": 0,\n \"b\": }", "#version: 0.2\n");
    const std::string e = test::error_of([&] { load_gpt2_files(f.encoder, f.vocab); });
    EXPECT_NE(e.find("encoder.json"), std::string::npos) << e;
    EXPECT_NE(e.find("line 2"), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace ilm
