// Tokenizers (byte, char), tokenizer.json, UTF-8 scanning and StreamDecoder.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "ilm/core/error.h"
#include "ilm/core/rng.h"
#include "ilm/io/file.h"
#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/char_tokenizer.h"
#include "ilm/tokenizer/stream_decoder.h"
#include "ilm/tokenizer/tokenizer.h"

#include "test_util.h"

namespace fs = std::filesystem;
using namespace ilm;
using namespace ilm::test;

namespace {

// "In the name of God, the Most Gracious" with its diacritics (harakat, shadda, dagger alif).
const std::string kArabic = "بِسْمِ اللَّهِ الرَّحْمَٰنِ";
// Woman, ZWJ, woman, ZWJ, girl: one grapheme of five code points.
const std::string kFamily = "👩‍👩‍👧";
const std::string kMixed = "Hello, عالم! 🌍 café ñ 中文 " + kFamily + "\n\ttabs";

// The message of the ilm::Error that f throws; fails the test if it throws none.
bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const Utf8Scan scan = scan_utf8(s, i);
    if (scan.status != Utf8Status::ok) return false;
    i += size_t(scan.length);
  }
  return true;
}

size_t count_code_points(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) i += size_t(scan_utf8(s, i).length);
  return n;
}

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

}  // namespace

// ---- UTF-8 ---------------------------------------------------------------------------------

TEST(Utf8, ScansValidSequencesOfEveryLength) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a é € 😀
  Utf8Scan a = scan_utf8(s, 0), e = scan_utf8(s, 1), euro = scan_utf8(s, 3),
           smile = scan_utf8(s, 6);
  EXPECT_EQ(a.status, Utf8Status::ok);
  EXPECT_EQ(a.code_point, U'a');
  EXPECT_EQ(e.code_point, U'\u00E9');
  EXPECT_EQ(e.length, 2);
  EXPECT_EQ(euro.code_point, U'\u20AC');
  EXPECT_EQ(euro.length, 3);
  EXPECT_EQ(smile.code_point, U'\U0001F600');
  EXPECT_EQ(smile.length, 4);
}

TEST(Utf8, RejectsOverlongSurrogatesAndOutOfRange) {
  EXPECT_EQ(scan_utf8("\xC0\x80", 0).status, Utf8Status::invalid);          // overlong NUL
  EXPECT_EQ(scan_utf8("\xE0\x80\x80", 0).status, Utf8Status::invalid);      // overlong
  EXPECT_EQ(scan_utf8("\xED\xA0\x80", 0).status, Utf8Status::invalid);      // U+D800
  EXPECT_EQ(scan_utf8("\xF4\x90\x80\x80", 0).status, Utf8Status::invalid);  // U+110000
  EXPECT_EQ(scan_utf8("\xF5\x80\x80\x80", 0).status, Utf8Status::invalid);
  EXPECT_EQ(scan_utf8("\x80", 0).status, Utf8Status::invalid);  // lone continuation
  EXPECT_EQ(scan_utf8("\xF0\x9F\x98", 0).status, Utf8Status::incomplete);
  EXPECT_EQ(scan_utf8("\xF0\x9F\x98", 0).length, 3);
  // A broken 4-byte sequence is replaced as one maximal subpart, then 'A' is read.
  const Utf8Scan broken = scan_utf8(std::string("\xF0\x9F\x98") + "A", 0);
  EXPECT_EQ(broken.status, Utf8Status::invalid);
  EXPECT_EQ(broken.length, 3);
}

TEST(Utf8, EncodeInvertsScan) {
  for (char32_t cp : {U'\0', U'A', U'\u007F', U'\u0080', U'\u0645', U'\u07FF', U'\u0800', U'\uFFFD',
                      U'\U00010000', U'\U0001F469', U'\U0010FFFF'}) {
    const std::string s = encode_utf8(cp);
    const Utf8Scan scan = scan_utf8(s, 0);
    ASSERT_EQ(scan.status, Utf8Status::ok) << uint32_t(cp);
    EXPECT_EQ(scan.code_point, cp);
    EXPECT_EQ(size_t(scan.length), s.size());
  }
}

TEST(Utf8, DescribesCodePointsAndBadBytes) {
  EXPECT_EQ(describe_code_point(U'\u0645'), "U+0645 'م'");
  EXPECT_EQ(describe_code_point(U'\n'), "U+000A");
  EXPECT_EQ(describe_code_point(U'\u200D'), "U+200D");
  EXPECT_EQ(describe_invalid_utf8(std::string("ab\xD8") + "A", 2),
            "invalid UTF-8 at byte offset 2 (bytes 0xD8 0x41)");
}

// ---- ByteTokenizer ---------------------------------------------------------------------------

TEST(ByteTokenizer, AllByteValuesRoundTrip) {
  ByteTokenizer tok;
  std::string all;
  for (int b = 0; b < 256; ++b) all += char(uint8_t(b));
  const std::vector<int32_t> ids = tok.encode(all);
  ASSERT_EQ(ids.size(), 256u);
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(ids[size_t(b)], b);
    EXPECT_EQ(tok.token_bytes(b), std::string(1, char(uint8_t(b))));
  }
  EXPECT_EQ(tok.decode(ids), all);
  EXPECT_EQ(tok.vocab_size(), 257);
  EXPECT_EQ(tok.kind(), "byte");
}

TEST(ByteTokenizer, RandomByteStringsRoundTrip) {
  ByteTokenizer tok;
  Rng rng(1234);
  for (int trial = 0; trial < 200; ++trial) {
    std::string s(rng.below(300), '\0');
    for (char& c : s) c = char(uint8_t(rng.below(256)));
    const std::vector<int32_t> ids = tok.encode(s);
    ASSERT_EQ(ids.size(), s.size());
    ASSERT_EQ(tok.decode(ids), s) << "trial " << trial;
  }
}

TEST(ByteTokenizer, EndOfText) {
  ByteTokenizer tok;
  ASSERT_TRUE(tok.eot_id().has_value());
  EXPECT_EQ(*tok.eot_id(), 256);
  const std::vector<int32_t> ids = {'h', 'i', 256, 'x'};
  EXPECT_EQ(tok.decode(ids), "hi<|endoftext|>x");
  EXPECT_EQ(tok.token_bytes(256), "<|endoftext|>");
  // The text of the special token is just bytes: text cannot forge an end-of-text token.
  EXPECT_EQ(tok.encode("<|endoftext|>").size(), 13u);
}

TEST(ByteTokenizer, OutOfRangeIdsAreNamed) {
  ByteTokenizer tok;
  const std::vector<int32_t> ids = {1, 2, 257};
  const std::string msg = error_of([&] { tok.decode(ids); });
  EXPECT_NE(msg.find("257"), std::string::npos) << msg;
  EXPECT_NE(msg.find("position 2"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { tok.token_bytes(-1); }).find("-1"), std::string::npos);
}

TEST(ByteTokenizer, MultilingualRoundTrips) {
  ByteTokenizer tok;
  for (const std::string& s : {kArabic, kFamily, kMixed}) {
    const std::vector<int32_t> ids = tok.encode(s);
    EXPECT_EQ(ids.size(), s.size());
    EXPECT_EQ(tok.decode(ids), s);
  }
}

// ---- CharTokenizer ---------------------------------------------------------------------------

TEST(CharTokenizer, VocabIsSortedDistinctCodePoints) {
  CharTokenizer tok = CharTokenizer::from_corpus("hello world");
  const std::vector<char32_t> expected = {U' ', U'd', U'e', U'h', U'l', U'o', U'r', U'w'};
  EXPECT_EQ(tok.vocab(), expected);
  EXPECT_EQ(tok.vocab_size(), 8);
  EXPECT_EQ(tok.kind(), "char");
  EXPECT_FALSE(tok.eot_id().has_value());
  EXPECT_EQ(tok.encode("hello"), (std::vector<int32_t>{3, 2, 4, 4, 5}));
}

TEST(CharTokenizer, MultilingualRoundTrips) {
  for (const std::string& s : {kArabic, kFamily, kMixed}) {
    CharTokenizer tok = CharTokenizer::from_corpus(s);
    const std::vector<int32_t> ids = tok.encode(s);
    EXPECT_EQ(ids.size(), count_code_points(s));
    EXPECT_EQ(tok.decode(ids), s);
  }
  // The family emoji: 👩 ZWJ 👩 ZWJ 👧 is five code points of three distinct values,
  // sorted by value: ZWJ U+200D, girl U+1F467, woman U+1F469.
  CharTokenizer family = CharTokenizer::from_corpus(kFamily);
  EXPECT_EQ(family.vocab(), (std::vector<char32_t>{U'\u200D', U'\U0001F467', U'\U0001F469'}));
  EXPECT_EQ(family.encode(kFamily), (std::vector<int32_t>{2, 0, 2, 0, 1}));
  // Arabic letters and diacritics are separate code points; each is two bytes.
  CharTokenizer arabic = CharTokenizer::from_corpus(kArabic);
  for (int32_t id = 0; id < arabic.vocab_size(); ++id) {
    const std::string bytes = arabic.token_bytes(id);
    EXPECT_EQ(bytes.size(), arabic.vocab()[size_t(id)] == U' ' ? 1u : 2u);
  }
  EXPECT_TRUE(arabic.id_of(U'\u0651').has_value());  // shadda
}

TEST(CharTokenizer, TinyShakespeareMatchesNanoGPT) {
  const std::string path = std::string(ILM_SOURCE_DIR) + "/../shared/data/tinyshakespeare.txt";
  if (!fs::exists(path)) GTEST_SKIP() << path << " is absent";
  const std::string text = read_file(path);
  CharTokenizer tok = CharTokenizer::from_corpus(text);
  EXPECT_EQ(tok.vocab_size(), 65);
  EXPECT_EQ(*tok.id_of(U'\n'), 0);
  EXPECT_EQ(*tok.id_of(U' '), 1);
  EXPECT_EQ(*tok.id_of(U'!'), 2);
  EXPECT_EQ(*tok.id_of(U'A'), 13);
  EXPECT_EQ(*tok.id_of(U'z'), 64);
  // nanoGPT's (and Karpathy's "Let's build GPT") encode("hii there").
  EXPECT_EQ(tok.encode("hii there"), (std::vector<int32_t>{46, 47, 47, 1, 58, 46, 43, 56, 43}));
  EXPECT_EQ(tok.decode(tok.encode(text)), text);
}

TEST(CharTokenizer, UnknownCharacterNamesItAndItsOffset) {
  CharTokenizer tok = CharTokenizer::from_corpus("abc ");
  const std::string msg = error_of([&] { tok.encode("ab م"); });
  EXPECT_NE(msg.find("U+0645"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'م'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte offset 3"), std::string::npos) << msg;
}

TEST(CharTokenizer, InvalidUtf8NamesTheOffset) {
  const std::string corpus_msg = error_of([] { CharTokenizer::from_corpus("abc\xC3(def"); });
  EXPECT_NE(corpus_msg.find("byte offset 3"), std::string::npos) << corpus_msg;
  EXPECT_NE(corpus_msg.find("0xC3"), std::string::npos) << corpus_msg;
  EXPECT_NE(error_of([] { CharTokenizer::from_corpus("ab\xED\xA0\x80"); }).find("byte offset 2"),
            std::string::npos);
  EXPECT_NE(error_of([] { CharTokenizer::from_corpus("abcd\xF0\x9F"); }).find("byte offset 4"),
            std::string::npos);
  CharTokenizer tok = CharTokenizer::from_corpus("abc");
  const std::string msg = error_of([&] { tok.encode("ab\x80"); });
  EXPECT_NE(msg.find("byte offset 2"), std::string::npos) << msg;
  EXPECT_FALSE(error_of([] { CharTokenizer::from_corpus(""); }).empty());
}

TEST(CharTokenizer, OutOfRangeIdsAreNamed) {
  CharTokenizer tok = CharTokenizer::from_corpus("abc");
  const std::vector<int32_t> ids = {0, 3};
  const std::string msg = error_of([&] { tok.decode(ids); });
  EXPECT_NE(msg.find("token id 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[0, 3)"), std::string::npos) << msg;
}

TEST(CharTokenizer, RejectsDuplicateVocab) {
  const std::string msg = error_of([] { CharTokenizer({U'a', U'b', U'a'}); });
  EXPECT_NE(msg.find("duplicates"), std::string::npos) << msg;
  EXPECT_FALSE(error_of([] { CharTokenizer({char32_t(0xD800)}); }).empty());
}

// ---- tokenizer.json --------------------------------------------------------------------------

TEST(TokenizerJson, SaveLoadRoundTrip) {
  TempDir dir;
  ByteTokenizer byte;
  save_tokenizer(byte, dir.path / "byte.json");
  std::unique_ptr<Tokenizer> b = load_tokenizer(dir.path / "byte.json");
  EXPECT_EQ(b->kind(), "byte");
  EXPECT_EQ(b->vocab_size(), 257);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir.path / "byte.json")),
            (nlohmann::json{{"ilm_tokenizer", 1}, {"kind", "byte"}}));

  CharTokenizer chars = CharTokenizer::from_corpus(kMixed + "\"\\");
  save_tokenizer(chars, dir.path / "char.json");
  std::unique_ptr<Tokenizer> c = load_tokenizer(dir.path / "char.json");
  EXPECT_EQ(c->kind(), "char");
  EXPECT_EQ(static_cast<const CharTokenizer&>(*c).vocab(), chars.vocab());
  EXPECT_EQ(c->decode(c->encode(kMixed)), kMixed);
  EXPECT_EQ(c->to_json(), chars.to_json());
}

TEST(TokenizerJson, StrictValidationNamesTheFieldAndFile) {
  using nlohmann::json;
  struct Case {
    json j;
    std::vector<std::string> expect;  // substrings of the message
  };
  const std::vector<Case> cases = {
      {json::array(), {"tok.json", "expected a JSON object"}},
      {json{{"kind", "byte"}}, {"tok.json", "ilm_tokenizer"}},
      {json{{"ilm_tokenizer", "1"}, {"kind", "byte"}}, {"ilm_tokenizer", "integer"}},
      {json{{"ilm_tokenizer", 2}, {"kind", "byte"}}, {"ilm_tokenizer", "version 2"}},
      {json{{"ilm_tokenizer", 1}}, {"tok.json", "\"kind\""}},
      {json{{"ilm_tokenizer", 1}, {"kind", 3}}, {"\"kind\"", "string"}},
      {json{{"ilm_tokenizer", 1}, {"kind", "bpe9"}}, {"bpe9"}},
      {json{{"ilm_tokenizer", 1}, {"kind", "byte"}, {"vocab", json::array()}},
       {"unknown field \"vocab\""}},
      {json{{"ilm_tokenizer", 1}, {"kind", "char"}}, {"tok.json", "\"vocab\""}},
      {json{{"ilm_tokenizer", 1}, {"kind", "char"}, {"vocab", "abc"}}, {"\"vocab\"", "array"}},
      {json{{"ilm_tokenizer", 1}, {"kind", "char"}, {"vocab", json::array()}}, {"empty"}},
      {json{{"ilm_tokenizer", 1}, {"kind", "char"}, {"vocab", {"a", 7}}}, {"vocab[1]", "string"}},
      {json{{"ilm_tokenizer", 1}, {"kind", "char"}, {"vocab", {"a", "bc"}}},
       {"vocab[1]", "exactly one"}},
      {json{{"ilm_tokenizer", 1}, {"kind", "char"}, {"vocab", {"a", ""}}},
       {"vocab[1]", "exactly one"}},
      {json{{"ilm_tokenizer", 1}, {"kind", "char"}, {"vocab", {"a", "b", "a"}}},
       {"vocab[2]", "duplicates vocab[0]"}},
      {json{{"ilm_tokenizer", 1}, {"kind", "char"}, {"vocab", {"a"}}, {"extra", 1}},
       {"unknown field \"extra\""}},
  };
  for (const Case& c : cases) {
    const std::string msg = error_of([&] { tokenizer_from_json(c.j, "tok.json"); });
    for (const std::string& e : c.expect) {
      EXPECT_NE(msg.find(e), std::string::npos) << c.j.dump() << " -> " << msg;
    }
  }
}

TEST(TokenizerJson, LoadNamesTheFileOnBadJson) {
  TempDir dir;
  write_text(dir.path / "bad.json", "{\"ilm_tokenizer\": 1, \"kind\": ");
  const std::string msg = error_of([&] { load_tokenizer(dir.path / "bad.json"); });
  EXPECT_NE(msg.find("bad.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
  const std::string missing = error_of([&] { load_tokenizer(dir.path / "nope.json"); });
  EXPECT_NE(missing.find("nope.json"), std::string::npos) << missing;
}

// ---- StreamDecoder ---------------------------------------------------------------------------

TEST(StreamDecoder, NeverEmitsAPartialSequence) {
  ByteTokenizer tok;
  for (const std::string& s : {kArabic, kFamily, kMixed}) {
    StreamDecoder dec(tok);
    std::string joined;
    for (int32_t id : tok.encode(s)) {
      const std::string piece = dec.push(id);
      EXPECT_TRUE(is_valid_utf8(piece)) << "emitted a partial sequence";
      joined += piece;
    }
    EXPECT_FALSE(dec.has_pending());
    EXPECT_EQ(dec.flush(), "");
    EXPECT_EQ(joined, s);
  }
}

TEST(StreamDecoder, HoldsBackUntilTheCharacterCompletes) {
  ByteTokenizer tok;
  StreamDecoder dec(tok);
  const std::string smile = "\xF0\x9F\x98\x80";
  EXPECT_EQ(dec.push('a'), "a");
  EXPECT_EQ(dec.push(uint8_t(smile[0])), "");
  EXPECT_EQ(dec.push(uint8_t(smile[1])), "");
  EXPECT_EQ(dec.push(uint8_t(smile[2])), "");
  EXPECT_TRUE(dec.has_pending());
  EXPECT_EQ(dec.push(uint8_t(smile[3])), smile);
  EXPECT_FALSE(dec.has_pending());
}

TEST(StreamDecoder, ReplacesMalformedBytes) {
  ByteTokenizer tok;
  StreamDecoder dec(tok);
  // A lone continuation byte can never become valid: replaced at once.
  EXPECT_EQ(dec.push(0x80), "\xEF\xBF\xBD");
  // A sequence broken by the next token: one U+FFFD, then the token itself.
  EXPECT_EQ(dec.push(0xD8), "");
  EXPECT_EQ(dec.push('x'), "\xEF\xBF\xBDx");
  // End-of-text after a partial sequence.
  EXPECT_EQ(dec.push(0xE2), "");
  EXPECT_EQ(dec.push(256), "\xEF\xBF\xBD<|endoftext|>");
  // A stream that ends inside a character.
  EXPECT_EQ(dec.push(0xF0), "");
  EXPECT_EQ(dec.push(0x9F), "");
  EXPECT_EQ(dec.flush(), "\xEF\xBF\xBD");
  EXPECT_FALSE(dec.has_pending());
  EXPECT_EQ(dec.flush(), "");
}

TEST(StreamDecoder, CharTokensAreWhole) {
  CharTokenizer tok = CharTokenizer::from_corpus(kMixed);
  StreamDecoder dec(tok);
  std::string joined;
  for (int32_t id : tok.encode(kMixed)) {
    const std::string piece = dec.push(id);
    EXPECT_EQ(piece, tok.token_bytes(id));
    joined += piece;
  }
  EXPECT_EQ(joined, kMixed);
  EXPECT_THROW(dec.push(10000), Error);
}
