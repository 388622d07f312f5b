// HfTokenizer: Hugging Face tokenizer.json pipelines by hand, the errors, and the golden corpus
// of tests/reference/hf_tokenizer_reference.mjs (the npm package @xenova/transformers) over the
// fixtures in tests/reference/hf_fixtures.
#include "ilm/tokenizer/hf_tokenizer.h"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "ilm/io/file.h"
#include "test_util.h"

namespace ilm {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

std::unique_ptr<HfTokenizer> load(const json& j) {
  return load_hf_tokenizer(j, "tokenizer.json");
}

// A BPE model over single letters and the merges given.
json bpe_model(const std::vector<std::string>& tokens, const json& merges) {
  json vocab = json::object();
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = int(i);
  return {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}};
}

TEST(HfTokenizer, BpeMergesByMergeIndexNotById) {
  // "bc" has the lower id but its merge is listed second: "ab" merges first, as in Hugging
  // Face (tiktoken's rule, lowest id of the concatenation, would merge "bc").
  json j = {{"model", bpe_model({"a", "b", "c", "bc", "ab"}, {"a b", "b c"})}};
  const auto t = load(j);
  EXPECT_EQ(t->encode("abc"), (Ids{4, 2}));
  // A pair that is a token but not a listed merge never merges.
  j = {{"model", bpe_model({"a", "b", "c", "ab", "bc", "abc"}, {"a b"})}};
  EXPECT_EQ(load(j)->encode("abc"), (Ids{3, 2}));
  // Merges as ["left", "right"] arrays mean the same.
  j = {{"model", bpe_model({"a", "b", "c", "bc", "ab"}, json::array({{"a", "b"}, {"b", "c"}}))}};
  EXPECT_EQ(load(j)->encode("abc"), (Ids{4, 2}));
  EXPECT_EQ(load(j)->kind(), "hf");
  EXPECT_EQ(load(j)->vocab_size(), 5);
}

TEST(HfTokenizer, BpeLongPieceIsFast) {
  // One piece of 200000 characters: quadratic merging would take minutes.
  json j = {{"model", bpe_model({"a", "aa", "aaaa"}, {"a a", "aa aa"})}};
  const Ids ids = load(j)->encode(std::string(200002, 'a'));
  ASSERT_EQ(ids.size(), 50001u);
  EXPECT_EQ(ids.front(), 2);
  EXPECT_EQ(ids.back(), 1);
}

TEST(HfTokenizer, BpeUnknownAndByteFallback) {
  json m = bpe_model({"<unk>", "a", "b", "<0xC3>", "<0xA9>"}, json::array());
  m["unk_token"] = "<unk>";
  EXPECT_EQ(load({{"model", m}})->encode("azzb"), (Ids{1, 0, 0, 2}));
  m["fuse_unk"] = true;
  EXPECT_EQ(load({{"model", m}})->encode("azzb"), (Ids{1, 0, 2}));
  m["byte_fallback"] = true;
  // é is 0xC3 0xA9; z has no byte token, so it stays unk.
  EXPECT_EQ(load({{"model", m}})->encode("éz"), (Ids{3, 4, 0}));
  m["ignore_merges"] = true;
  EXPECT_EQ(load({{"model", m}})->encode("ab"), (Ids{1, 2}));
}

TEST(HfTokenizer, AddedTokensMatchFirstLongest) {
  json j = {{"model", bpe_model({"a", "<", ">", "b"}, json::array())},
            {"added_tokens",
             {{{"id", 4}, {"content", "<a>"}, {"special", true}},
              {{"id", 5}, {"content", "<a>b"}, {"special", true}},
              {{"id", 6}, {"content", "<b>"}, {"special", true}, {"lstrip", true}}}}};
  const auto t = load(j);
  EXPECT_EQ(t->encode("a<a>a"), (Ids{0, 4, 0}));
  EXPECT_EQ(t->encode("<a>b<a>"), (Ids{5, 4}));
  EXPECT_EQ(t->encode("a  <b>"), (Ids{0, 6}));
  EXPECT_EQ(t->encode("a\u3000\t<b>"), (Ids{0, 6}));
  EXPECT_EQ(t->special_token_id("<a>b"), 5);
  EXPECT_FALSE(t->special_token_id("a").has_value());
  EXPECT_EQ(t->vocab_size(), 7);
  EXPECT_EQ(t->decode(Ids{0, 4}), "a <a>");  // no decoder: tokens joined by spaces
}

TEST(HfTokenizer, NormalizedAndSingleWordAddedTokens) {
  json j = {{"model", bpe_model({"a", "b", " "}, json::array())},
            {"normalizer", {{"type", "Lowercase"}}},
            {"added_tokens",
             {{{"id", 3}, {"content", "AB"}, {"special", false}, {"normalized", true}},
              {{"id", 4}, {"content", "ba"}, {"single_word", true}}}}};
  const auto t = load(j);
  // "AB" is matched after lower-casing, in the text and in the token.
  EXPECT_EQ(t->encode("aAbB"), (Ids{0, 3, 1}));
  // single_word: "ba" inside a word is not the added token.
  EXPECT_EQ(t->encode("ba bba"), (Ids{4, 2, 1, 1, 0}));
}

TEST(HfTokenizer, WordPieceWithBertPipeline) {
  json vocab = json::object();
  const std::vector<std::string> tokens = {"[UNK]", "[CLS]", "[SEP]", "un",   "##aff", "##able",
                                           "hello", ",",     "!",     "cafe", "中"};
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = int(i);
  json j = {{"model", {{"type", "WordPiece"}, {"vocab", vocab}, {"unk_token", "[UNK]"}}},
            {"normalizer", {{"type", "BertNormalizer"}, {"lowercase", true}}},
            {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
            {"post_processor",
             {{"type", "BertProcessing"}, {"cls", {"[CLS]", 1}}, {"sep", {"[SEP]", 2}}}},
            {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}}};
  const auto t = load(j);
  EXPECT_EQ(t->encode("UnAffable, Hello!"), (Ids{3, 4, 5, 7, 6, 8}));
  EXPECT_EQ(t->encode("Café中x"), (Ids{9, 10, 0}));
  EXPECT_EQ(t->encode_for_model("hello"), (Ids{1, 6, 2}));
  EXPECT_EQ(t->encode_for_model("hello", "cafe"), (Ids{1, 6, 2, 9, 2}));
  EXPECT_EQ(t->decode(Ids{3, 4, 5, 7, 6, 8}), "unaffable, hello!");
}

TEST(HfTokenizer, UnigramViterbiAndByteFallback) {
  json vocab = json::array({json::array({"<unk>", 0.0}), json::array({"a", -1.0}),
                            json::array({"b", -1.0}), json::array({"ab", -1.5}),
                            json::array({"abb", -4.0}), json::array({"<0x7A>", 0.0})});
  json j = {{"model", {{"type", "Unigram"}, {"vocab", vocab}, {"unk_id", 0}}}};
  // "ab"+"b" scores -2.5, better than "abb" (-4) or "a"+"b"+"b" (-3).
  EXPECT_EQ(load(j)->encode("abb"), (Ids{3, 2}));
  // Unknown characters fuse into one unk.
  EXPECT_EQ(load(j)->encode("axyb"), (Ids{1, 0, 2}));
  j["model"]["byte_fallback"] = true;
  EXPECT_EQ(load(j)->encode("az"), (Ids{1, 5}));
}

TEST(HfTokenizer, SplitBehaviors) {
  json vocab = json::object();
  const std::vector<std::string> tokens = {"[UNK]", "a", "-", "a-", "-a", "--", "b"};
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = int(i);
  auto with = [&](const std::string& behavior, bool invert = false) {
    json j = {
        {"model", {{"type", "WordPiece"}, {"vocab", vocab}, {"continuing_subword_prefix", ""}}},
        {"pre_tokenizer",
         {{"type", "Split"},
          {"pattern", {{"String", "-"}}},
          {"behavior", behavior},
          {"invert", invert}}}};
    return load(j)->encode("a--a");
  };
  EXPECT_EQ(with("Removed"), (Ids{1, 1}));
  EXPECT_EQ(with("Isolated"), (Ids{1, 2, 2, 1}));
  EXPECT_EQ(with("MergedWithPrevious"), (Ids{3, 2, 1}));
  EXPECT_EQ(with("MergedWithNext"), (Ids{1, 2, 4}));
  EXPECT_EQ(with("Contiguous"), (Ids{1, 5, 1}));
  EXPECT_EQ(with("Removed", true), (Ids{2, 2}));
}

TEST(HfTokenizer, MetaspaceSplitsBeforeReplacement) {
  json j = {
      {"model", bpe_model({"\u2581a", "\u2581b", "\u2581", "a", "b"}, json::array())},
      {"pre_tokenizer",
       {{"type", "Metaspace"},
        {"replacement", "\u2581"},
        {"prepend_scheme", "first"},
        {"split", true}}},
      {"decoder", {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}}}};
  j["model"]["vocab"] = {{"\u2581a", 0}, {"\u2581b", 1}, {"\u2581", 2}, {"a", 3}, {"b", 4}};
  j["model"]["merges"] = json::array();
  j["model"]["ignore_merges"] = true;
  const auto t = load(j);
  EXPECT_EQ(t->encode("a b"), (Ids{0, 1}));
  EXPECT_EQ(t->encode("a  b"), (Ids{0, 2, 1}));
  EXPECT_EQ(t->decode(Ids{0, 1}), "a b");
  EXPECT_EQ(t->token_bytes(0), " a");
}

TEST(HfTokenizer, DigitsPunctuationWhitespace) {
  json vocab = json::object();
  const std::vector<std::string> tokens = {"[UNK]", "1", "2", "12", "x", "!", "x!", "hi"};
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = int(i);
  auto with = [&](json pre) {
    json j = {
        {"model", {{"type", "WordPiece"}, {"vocab", vocab}, {"continuing_subword_prefix", ""}}},
        {"pre_tokenizer", pre}};
    return load(j)->encode("x12 hi!");
  };
  EXPECT_EQ(with({{"type", "Digits"}, {"individual_digits", true}}), (Ids{4, 1, 2, 0}));
  EXPECT_EQ(with({{"type", "Digits"}, {"individual_digits", false}}), (Ids{4, 3, 0}));
  // \w+ keeps "x12" whole: x, 12.
  EXPECT_EQ(with({{"type", "Whitespace"}}), (Ids{4, 3, 7, 5}));
  EXPECT_EQ(with({{"type", "Sequence"},
                  {"pretokenizers", {{{"type", "WhitespaceSplit"}}, {{"type", "Punctuation"}}}}}),
            (Ids{4, 3, 7, 5}));
}

TEST(HfTokenizer, NormalizersAndDecoders) {
  json vocab = json::object();
  const std::vector<std::string> tokens = {"[UNK]", "e", "\u0301", "é", "fi", "x"};
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = int(i);
  auto with = [&](json norm, std::string_view text) {
    json j = {
        {"model", {{"type", "WordPiece"}, {"vocab", vocab}, {"continuing_subword_prefix", ""}}},
        {"normalizer", norm}};
    return load(j)->encode(text);
  };
  EXPECT_EQ(with({{"type", "NFC"}}, "e\u0301"), (Ids{3}));
  EXPECT_EQ(with({{"type", "NFD"}}, "é"), (Ids{1, 2}));
  EXPECT_EQ(with({{"type", "NFKC"}}, "ﬁ"), (Ids{4}));
  EXPECT_EQ(
      with({{"type", "Sequence"}, {"normalizers", {{{"type", "NFD"}}, {{"type", "StripAccents"}}}}},
           "É"),
      (Ids{0}));
  EXPECT_EQ(with({{"type", "Sequence"},
                  {"normalizers",
                   {{{"type", "Lowercase"}},
                    {{"type", "Strip"}},
                    {{"type", "Replace"}, {"pattern", {{"Regex", "[0-9]+"}}}, {"content", "x"}}}}},
                 "  É12  "),
            (Ids{3, 5}));

  json j = {{"model", bpe_model({"ab</w>", "c</w>", "<0xE2>", "<0x82>", "<0xAC>"}, json::array())},
            {"decoder",
             {{"type", "Sequence"},
              {"decoders", {{{"type", "ByteFallback"}}, {{"type", "BPEDecoder"}}}}}}};
  const auto t = load(j);
  EXPECT_EQ(t->decode(Ids{0, 1}), "ab c");
  EXPECT_EQ(t->decode(Ids{2, 3, 4}), "€");
  EXPECT_EQ(t->decode(Ids{2, 3}), "\uFFFD\uFFFD");
  EXPECT_EQ(t->token_bytes(2), "\xE2");
}

TEST(HfTokenizer, ToJsonIsTheDocument) {
  json j = {{"model", bpe_model({"a"}, json::array())}, {"extra", {{"kept", 1}}}};
  EXPECT_EQ(load(j)->to_json(), j);
  EXPECT_TRUE(is_hf_tokenizer_json(j));
  EXPECT_FALSE(is_hf_tokenizer_json({{"ilm_tokenizer", 1}, {"kind", "byte"}}));
  EXPECT_FALSE(is_hf_tokenizer_json({{"model", {{"vocab", 1}}}}));
}

TEST(HfTokenizer, ErrorsNameTheFileAndPath) {
  json j = {
      {"model", bpe_model({"a"}, json::array())},
      {"pre_tokenizer",
       {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Whitespace"}}, {{"type", "Foo"}}}}}}};
  std::string e = test::error_of([&] { load(j); });
  EXPECT_NE(e.find("tokenizer.json: pre_tokenizer.pretokenizers[1].type: unknown pre-tokenizer "
                   "\"Foo\" (supported: "),
            std::string::npos)
      << e;
  j = {{"model", {{"type", "Magic"}}}};
  e = test::error_of([&] { load(j); });
  EXPECT_NE(e.find("model.type: unknown model \"Magic\""), std::string::npos) << e;
  j = {{"model", bpe_model({"a", "b"}, {"a c"})}};
  e = test::error_of([&] { load(j); });
  EXPECT_NE(e.find("model.merges[0]: \"c\" is not in the vocabulary"), std::string::npos) << e;
  j = {{"model", bpe_model({"a"}, json::array())}, {"decoder", {{"type", "Nope"}}}};
  e = test::error_of([&] { load(j); });
  EXPECT_NE(e.find("decoder.type: unknown decoder \"Nope\""), std::string::npos) << e;
  j = {{"model", bpe_model({"a"}, json::array())}, {"normalizer", {{"type", "Nope"}}}};
  e = test::error_of([&] { load(j); });
  EXPECT_NE(e.find("normalizer.type: unknown normalizer \"Nope\""), std::string::npos) << e;
  j = {{"model", bpe_model({"a"}, json::array())}};
  e = test::error_of([&] { load(j)->decode(Ids{0, 7}); });
  EXPECT_NE(e.find("id 7 at position 1"), std::string::npos) << e;
}

// Every field of a fixture replaced by values of the wrong type: loading either works or throws
// ilm::Error (never another exception or a crash), and a loaded tokenizer encodes.
TEST(HfTokenizer, MalformedFieldsGiveErrors) {
  const std::string dir = std::string(ILM_SOURCE_DIR) + "/tests/reference/hf_fixtures/";
  const json replacements[] = {42, -1, "x", nullptr, json::array(), json::object(), 1.5, true};
  for (const char* name : {"llama_bpe.json", "unigram_metaspace.json", "bert_wordpiece.json",
                           "split_bytelevel.json"}) {
    const json original = json::parse(read_file(dir + name));
    const json flat = original.flatten();
    int errors = 0;
    for (const auto& [pointer, value] : flat.items()) {
      // The vocabularies are large; their first entries stand for the rest.
      if (pointer.find("/vocab/") != std::string::npos &&
          pointer.find("/vocab/0") == std::string::npos &&
          pointer.find("/vocab/<unk>") == std::string::npos)
        continue;
      if (pointer.find("/merges/") != std::string::npos &&
          pointer.find("/merges/0") == std::string::npos)
        continue;
      for (const json& r : replacements) {
        json broken = original;
        broken[json::json_pointer(pointer)] = r;
        try {
          const auto t = load_hf_tokenizer(broken, name);
          (void)t->encode("Hello, world! 123 café");
        } catch (const Error&) {
          ++errors;
        } catch (const std::exception& e) {
          ADD_FAILURE() << name << " " << pointer << " = " << r.dump() << ": " << e.what();
        }
      }
    }
    EXPECT_GT(errors, 0) << name;
  }
}

// ---- golden corpus -----------------------------------------------------------------------------

const std::string kReferenceDir = std::string(ILM_SOURCE_DIR) + "/tests/reference";

// $ILM_HF_GOLDEN: another output of hf_tokenizer_reference.mjs (its --corpus option).
json golden() {
  const char* other = std::getenv("ILM_HF_GOLDEN");
  return json::parse(read_file(
      other && *other ? std::string(other) : kReferenceDir + "/golden/hf_tokenizer_corpus.json"));
}

std::unique_ptr<HfTokenizer> fixture(const std::string& name) {
  const std::string path = kReferenceDir + "/hf_fixtures/" + name;
  return load_hf_tokenizer(json::parse(read_file(path)), path);
}

// Pipelines whose decode gives back the text exactly.
bool lossless(const std::string& name) {
  return name == "bytelevel_bpe.json" || name == "llama_bpe.json";
}

TEST(HfReference, GoldenCorpus) {
  const json g = golden();
  ASSERT_GE(g.at("fixtures").size(), 5u);
  for (const auto& [name, f] : g.at("fixtures").items()) {
    SCOPED_TRACE(name);
    const auto t = fixture(name);
    int matched = 0, compared = 0;
    for (const json& c : f.at("cases")) {
      const std::string text = c.at("text");
      SCOPED_TRACE(text);
      const Ids ids = t->encode(text);
      // Known differences of the package from Hugging Face (see the generator).
      if (c.contains("excluded")) continue;
      ++compared;
      EXPECT_EQ(ids, c.at("ids").get<Ids>());
      EXPECT_EQ(t->encode_for_model(text), c.at("ids_with_special").get<Ids>());
      if (!c.contains("decoded_excluded")) {
        EXPECT_EQ(t->decode(ids), c.at("decoded").get<std::string>());
      }
      bool has_added = false;
      for (int32_t id : ids) has_added = has_added || t->special_token_id(*t->id_to_token(id));
      if (lossless(name) && !has_added) {
        EXPECT_EQ(t->decode(ids), text);
      }
      matched += ids == c.at("ids").get<Ids>();
    }
    for (const json& p : f.at("pairs")) {
      EXPECT_EQ(t->encode_for_model(p.at("a").get<std::string>(), p.at("b").get<std::string>()),
                p.at("ids").get<Ids>());
    }
    std::printf("%s: %d/%d compared cases match (%zu in the corpus)\n", name.c_str(), matched,
                compared, f.at("cases").size());
  }
}

}  // namespace
}  // namespace ilm
