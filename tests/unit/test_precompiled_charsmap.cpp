// PrecompiledCharsMap and Hugging Face's Precompiled normalizer, against libsentencepiece: a
// unigram model trained here with the nmt_nfkc rule carries the blob in
// normalizer_spec.precompiled_charsmap; normalizations of awkward text must equal what
// libsentencepiece makes of it, and a tokenizer.json (Unigram + Precompiled) built from the
// model must give libsentencepiece's ids.
#include "ilm/tokenizer/precompiled_charsmap.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "ilm/io/file.h"
#include "ilm/tokenizer/hf_tokenizer.h"
#include "ilm/tokenizer/sentencepiece.h"
#include "test_util.h"

namespace ilm {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string base64(std::string_view bytes) {
  static constexpr char kDigits[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 |
                       uint8_t(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kDigits[(v >> k) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += kDigits[(v >> 18) & 63];
    out += kDigits[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kDigits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// Text whose NFKC forms the model learns: words, Arabic, digits, ligature spellings.
std::string training_text() {
  const std::vector<std::string> words = {
      "the", "file",  "office", "flow",     "ABC",  "abc",    "hello", "world", "lazy",
      "dog", "12345", "67890",  "لا",       "سلام", "كتاب",   "café",  "naïve", "x²",
      "Ⅳ",   "km",    "ｶﾀｶﾅ",   "カタカナ", "안녕", "한국어", "ǆ",     "…",     "(1)"};
  std::mt19937 rng(11);
  std::string text;
  for (int line = 0; line < 3000; ++line) {
    const int n = 2 + int(rng() % 8);
    for (int i = 0; i < n; ++i) {
      if (i) text += ' ';
      text += words[rng() % words.size()];
    }
    text += '\n';
  }
  return text;
}

// Full-width letters and digits, ligatures, Arabic presentation forms, compatibility digits
// and letters, odd spaces, decomposed accents, Hangul jamo, text that needs no change.
const std::vector<std::string> kAwkward = {
    "hello world",
    "ＡＢＣ ａｂｃ １２３",
    "ﬁle ﬂow oﬃce",
    "ﻻ ﷺ ﻼ",
    "① ⑳ ¹²³ ₄ Ⅻ ⅷ",
    "no\u00a0break\u3000ideographic\u2009thin",
    "cafe\u0301 nai\u0308ve",
    "ｶﾀｶﾅ ﾋ",
    "한국어",
    "㎞ ㍿ ℃ № ™",
    "ǆ Ǆ ǅ",
    "…‥",
    "x\u0301\u0302 combining",
    "👩‍💻 🇯🇵 emoji",
    "tab\there",
    "ﾞ ﾟ",
};

// Where Hugging Face's per-cluster rule parts from SentencePiece: a cluster of 6 bytes or more
// is normalized one character at a time, so a key spanning two of its characters is missed.
// Text, SentencePiece's normalization, Hugging Face's.
struct ClusterCase {
  std::string text, sentencepiece, hugging_face;
};
const std::vector<ClusterCase> kClusterCases = {
    // Half-width katakana HA + half-width semi-voiced mark (a grapheme extender): one key.
    {"ﾊﾟ", "\u30d1", "\u30cf\u309a"},
    // Conjoining jamo: one cluster of 9 bytes, composed by SentencePiece only.
    {"\u1100\u1161\u11a8", "\uac01", "\u1100\u1161\u11a8"},
};

class PrecompiledTrained : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    const fs::path corpus = dir_->path / "corpus.txt";
    std::ofstream(corpus) << training_text();
    // "plain": no dummy prefix, spaces kept, so its pieces joined are the normalized text;
    // "t5": the defaults T5 and ALBERT use.
    for (const char* name : {"plain", "t5"}) {
      const bool plain = std::string(name) == "plain";
      const std::string args = fmt::format(
          "--input={} --model_prefix={} --model_type=unigram --vocab_size=200 "
          "--normalization_rule_name=nmt_nfkc --character_coverage=1.0 --num_threads=1 "
          "--add_dummy_prefix={} --remove_extra_whitespaces={} --minloglevel=2 "
          "--hard_vocab_limit=false",
          corpus.string(), (dir_->path / name).string(), plain ? "false" : "true",
          plain ? "false" : "true");
      auto status = sentencepiece::SentencePieceTrainer::Train(args);
      ASSERT_TRUE(status.ok()) << status.ToString();
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string model(const std::string& name) {
    return read_file(dir_->path / (name + ".model"));
  }
  static test::TempDir* dir_;
};
test::TempDir* PrecompiledTrained::dir_ = nullptr;

std::string spaces_to_marks(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == ' ') {
      out += "\xE2\x96\x81";
    } else {
      out += c;
    }
  }
  return out;
}

TEST_F(PrecompiledTrained, NormalizesAsLibSentencePiece) {
  const std::string proto = model("plain");
  const std::string blob = sentencepiece_precompiled_charsmap(proto);
  ASSERT_GT(blob.size(), 1000u);
  const PrecompiledCharsMap map(blob, "plain.model");
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.LoadFromSerializedProto(proto).ok());
  for (const std::string& text : kAwkward) {
    // Unknown characters come out as pieces of their normalized text, so the pieces joined
    // are libsentencepiece's normalization, spaces written as U+2581.
    std::string expected;
    for (const std::string& piece : sp.EncodeAsPieces(text)) expected += piece;
    EXPECT_EQ(spaces_to_marks(map.normalize(text)), expected) << text;
    EXPECT_EQ(spaces_to_marks(map.normalize_graphemes(text)), expected) << text;
  }
  for (const ClusterCase& c : kClusterCases) {
    std::string expected;
    for (const std::string& piece : sp.EncodeAsPieces(c.text)) expected += piece;
    EXPECT_EQ(expected, c.sentencepiece) << c.text;
    EXPECT_EQ(map.normalize(c.text), c.sentencepiece) << c.text;
    EXPECT_EQ(map.normalize_graphemes(c.text), c.hugging_face) << c.text;
  }
}

// Every code point of the BMP and of a few supplementary blocks with compatibility forms, one
// at a time; then seeded random strings of characters that have rules, combining marks and
// half-width voicing marks, where keys of several characters compete (SentencePiece's rule).
TEST_F(PrecompiledTrained, EveryCharacterAndRandomMixtures) {
  const std::string proto = model("plain");
  const PrecompiledCharsMap map(sentencepiece_precompiled_charsmap(proto), "plain.model");
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.LoadFromSerializedProto(proto).ok());
  auto library = [&](const std::string& text) {
    std::string joined;
    for (const std::string& piece : sp.EncodeAsPieces(text)) joined += piece;
    return joined;
  };
  std::vector<std::string> with_rules;
  size_t checked = 0, changed = 0;
  auto check_range = [&](char32_t from, char32_t to) {
    for (char32_t cp = from; cp <= to; ++cp) {
      if (cp >= 0xD800 && cp <= 0xDFFF) continue;
      const std::string text = encode_utf8(cp);
      const std::string expected = library(text);
      ASSERT_EQ(spaces_to_marks(map.normalize(text)), expected) << describe_code_point(cp);
      ASSERT_EQ(spaces_to_marks(map.normalize_graphemes(text)), expected)
          << describe_code_point(cp);
      ++checked;
      if (map.normalize(text) != text) {
        ++changed;
        if (with_rules.size() < 4000 && cp > 0x20) with_rules.push_back(text);
      }
    }
  };
  check_range(0x01, 0xFFFF);
  check_range(0x1D400, 0x1D7FF);  // mathematical alphanumerics
  check_range(0x1F100, 0x1F2FF);  // enclosed alphanumerics and ideographic supplement
  EXPECT_GT(checked, 65000u);
  EXPECT_GT(changed, 3000u);  // NFKC changes thousands of characters

  std::vector<std::string> pool = with_rules;
  for (const char* extra : {"a", "e", "A", "\u0301", "\u0308", "\u0327", "\uff9e", "\uff9f",
                            "\u3099", "\u309a", " ", "\u1100", "\u1161", "\u11a8", "\u0644",
                            "\u0627", "\u200d", "1"})
    pool.push_back(extra);
  std::mt19937 rng(5);
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    const int n = 1 + int(rng() % 5);
    for (int k = 0; k < n; ++k) text += pool[rng() % pool.size()];
    ASSERT_EQ(spaces_to_marks(map.normalize(text)), library(text)) << text;
  }
}

TEST_F(PrecompiledTrained, KnownRules) {
  const PrecompiledCharsMap map(sentencepiece_precompiled_charsmap(model("plain")), "plain.model");
  EXPECT_EQ(map.normalize("ＡＢＣ１２３"), "ABC123");
  EXPECT_EQ(map.normalize("ﬁ"), "fi");
  EXPECT_EQ(map.normalize("ﻻ"), "\u0644\u0627");
  EXPECT_EQ(map.normalize("①"), "1");
  EXPECT_EQ(map.normalize("a\u3000b"), "a b");
  EXPECT_EQ(map.normalize("plain text"), "plain text");
  // The longest key wins: "e" + U+0301 is one key, composed to U+00E9.
  EXPECT_EQ(map.normalize("e\u0301"), "\u00e9");
  const std::vector<PrecompiledCharsMap::Match> m = map.prefix_matches("ﬁx");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].length, 3u);
  EXPECT_EQ(m[0].replacement, "fi");
  EXPECT_TRUE(map.prefix_matches("x").empty());
  // Invalid UTF-8 becomes U+FFFD, as in SentencePiece.
  EXPECT_EQ(map.normalize("a\xFF"
                          "b"),
            "a\uFFFDb");
}

TEST(PrecompiledCharsMap, Errors) {
  EXPECT_TRUE(PrecompiledCharsMap("", "x").empty());
  EXPECT_EQ(PrecompiledCharsMap("", "x").normalize("ﬁ"), "ﬁ");
  std::string e = test::error_of([] { PrecompiledCharsMap("\x01\x02", "m.json"); });
  EXPECT_NE(e.find("m.json: precompiled_charsmap of 2 bytes is too short"), std::string::npos) << e;
  e = test::error_of([] { PrecompiledCharsMap(std::string("\x10\0\0\0abcd", 8), "m.json"); });
  EXPECT_NE(e.find("trie size 16"), std::string::npos) << e;
  e = test::error_of([] { PrecompiledCharsMap(std::string("\x03\0\0\0abcd", 8), "m.json"); });
  EXPECT_NE(e.find("trie size 3"), std::string::npos) << e;
  // A trie of garbage units finds nothing rather than reading out of bounds.
  const PrecompiledCharsMap junk(std::string("\x08\0\0\0\xff\xff\xff\xff\xff\xff\xff\xff", 12),
                                 "j");
  EXPECT_EQ(junk.normalize("abc"), "abc");
  EXPECT_EQ(decode_base64("aGVsbG8=", "b"), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8", "b"), "hello");
  e = test::error_of([] { decode_base64("aGV*bG8=", "field x"); });
  EXPECT_NE(e.find("field x: invalid base64 character 0x2A at offset 3"), std::string::npos) << e;
}

// The tokenizer.json Hugging Face's converter writes for a T5-style unigram model.
json hf_json_of(const std::string& proto) {
  sentencepiece::SentencePieceProcessor sp;
  EXPECT_TRUE(sp.LoadFromSerializedProto(proto).ok());
  json vocab = json::array();
  json added = json::array();
  for (int id = 0; id < sp.GetPieceSize(); ++id) {
    vocab.push_back(json::array({sp.IdToPiece(id), sp.GetScore(id)}));
    if (sp.IsControl(id) || sp.IsUnknown(id)) {
      added.push_back({{"id", id}, {"content", sp.IdToPiece(id)}, {"special", true}});
    }
  }
  return {
      {"added_tokens", added},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         json::array(
             {{{"type", "Precompiled"},
               {"precompiled_charsmap", base64(sentencepiece_precompiled_charsmap(proto))}},
              {{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}})}}},
      {"pre_tokenizer",
       {{"type", "Metaspace"},
        {"replacement", "\u2581"},
        {"prepend_scheme", "always"},
        {"split", true}}},
      {"model", {{"type", "Unigram"}, {"unk_id", sp.unk_id()}, {"vocab", vocab}}},
  };
}

TEST_F(PrecompiledTrained, TokenizerJsonGivesLibSentencePieceIds) {
  const std::string proto = model("t5");
  const auto hf = load_hf_tokenizer(hf_json_of(proto), "t5 tokenizer.json");
  const auto spm = SentencePieceTokenizer::from_serialized(proto, "t5.model");
  for (const std::string& text : kAwkward) {
    EXPECT_EQ(hf->encode(text), spm->encode(text)) << text;
  }
  EXPECT_EQ(hf->encode("ﬁle ＡＢＣ"), spm->encode("file ABC"));
  // Without the Precompiled step the ligature and full-width forms are other pieces.
  json plain = hf_json_of(proto);
  plain["normalizer"]["normalizers"].erase(0);
  EXPECT_NE(load_hf_tokenizer(plain, "no-precompiled.json")->encode("ﬁle ＡＢＣ"),
            spm->encode("ﬁle ＡＢＣ"));
}

TEST(HfPrecompiled, BadCharsMapNamesTheField) {
  json j = {
      {"normalizer", {{"type", "Precompiled"}, {"precompiled_charsmap", "@@"}}},
      {"model", {{"type", "Unigram"}, {"unk_id", 0}, {"vocab", json::array({{"<unk>", 0.0}})}}}};
  std::string e = test::error_of([&] { load_hf_tokenizer(j, "t.json"); });
  EXPECT_NE(e.find("t.json: normalizer.precompiled_charsmap: invalid base64"), std::string::npos)
      << e;
  j["normalizer"]["precompiled_charsmap"] = nullptr;
  EXPECT_EQ(load_hf_tokenizer(j, "t.json")->encode("ﬁ"), (std::vector<int32_t>{0}));
}

}  // namespace
}  // namespace ilm
