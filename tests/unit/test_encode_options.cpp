// encode(text, EncodeOptions) for the byte, char, wordpiece, hf and sentencepiece kinds
// (bpe's, against js-tiktoken, is in test_tiktoken.cpp), and encode_model_input: templates,
// truncation, padding, masks and type ids with known answers.
#include <sentencepiece_trainer.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "ilm/io/file.h"
#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/char_tokenizer.h"
#include "ilm/tokenizer/hf_tokenizer.h"
#include "ilm/tokenizer/model_input.h"
#include "ilm/tokenizer/sentencepiece.h"
#include "ilm/tokenizer/wordpiece.h"
#include "test_util.h"

namespace ilm {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

const EncodeOptions kAsText{SpecialTokens::as_text, {}};
const EncodeOptions kAllow{SpecialTokens::allow, {}};
const EncodeOptions kRefuse{SpecialTokens::refuse, {}};

TEST(EncodeOptions, Byte) {
  const ByteTokenizer t;
  const std::string text = "a<|endoftext|>b";
  EXPECT_EQ(t.encode(text, kAsText), t.encode(text));
  EXPECT_EQ(t.encode(text, kAsText).size(), text.size());
  EXPECT_EQ(t.encode(text, kAllow), (Ids{97, 256, 98}));
  EXPECT_EQ(t.encode(text, {SpecialTokens::as_text, {"<|endoftext|>"}}), (Ids{97, 256, 98}));
  const std::string e = test::error_of([&] { t.encode(text, kRefuse); });
  EXPECT_NE(e.find("byte tokenizer: the text holds special token '<|endoftext|>' at byte offset 1"),
            std::string::npos)
      << e;
  EXPECT_EQ(t.encode("plain", kRefuse), t.encode("plain"));
  EXPECT_EQ(t.encode("", kAllow), Ids{});
}

TEST(EncodeOptions, CharHasNoSpecialTokens) {
  const CharTokenizer t = CharTokenizer::from_corpus("ab<|>");
  EXPECT_EQ(t.encode("a<|>b", kRefuse), t.encode("a<|>b"));
  EXPECT_EQ(t.encode("a<|>b", kAllow), t.encode("a<|>b"));
  const std::string e = test::error_of([&] { t.encode("a", {SpecialTokens::allow, {"<|>"}}); });
  EXPECT_NE(e.find("\"<|>\" is not a special token (they are: none)"), std::string::npos) << e;
}

TEST(EncodeOptions, WordPiece) {
  // [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, then the words.
  const WordPieceTokenizer t(
      {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "[", "]", "cls", "sep"}, {},
      "test vocab");
  const std::string text = "hello [SEP] [CLS]";
  // encode() splits [CLS] etc. out, as BertTokenizer does: that is `allow`.
  EXPECT_EQ(t.encode(text), (Ids{5, 3, 2}));
  EXPECT_EQ(t.encode(text, kAllow), (Ids{5, 3, 2}));
  // As text, the basic tokenizer splits the brackets off and lower-cases.
  EXPECT_EQ(t.encode(text, kAsText), (Ids{5, 6, 9, 7, 6, 8, 7}));
  EXPECT_EQ(t.encode(text, {SpecialTokens::as_text, {"[CLS]"}}), (Ids{5, 6, 9, 7, 2}));
  std::string e = test::error_of([&] { t.encode(text, kRefuse); });
  EXPECT_NE(e.find("special token '[SEP]' at byte offset 6"), std::string::npos) << e;
  e = test::error_of([&] { t.encode(text, {SpecialTokens::refuse, {"[SEP]"}}); });
  EXPECT_NE(e.find("special token '[CLS]' at byte offset 12"), std::string::npos) << e;
  EXPECT_EQ(t.text_special_tokens().size(), 5u);
}

// A WordPiece tokenizer.json: added tokens [CLS] [SEP] special, "<new>" not special.
json hf_bert_json() {
  json vocab = json::object();
  const std::vector<std::string> words = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b",
                                          "c",     "d",     "e",     "[",     "]", "cls",
                                          "sep",   "<",     ">",     "new",   "f", "g"};
  for (size_t i = 0; i < words.size(); ++i) vocab[words[i]] = int(i);
  json added = json::array();
  for (int id : {0, 1, 2, 3})
    added.push_back({{"id", id}, {"content", words[size_t(id)]}, {"special", true}});
  added.push_back({{"id", 18}, {"content", "<new>"}, {"special", false}});
  return {{"added_tokens", added},
          {"normalizer", {{"type", "BertNormalizer"}, {"lowercase", true}}},
          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
          {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"vocab", vocab}}},
          {"post_processor",
           {{"type", "BertProcessing"}, {"cls", {"[CLS]", 2}}, {"sep", {"[SEP]", 3}}}}};
}

TEST(EncodeOptions, HfSpecialAddedTokensOnly) {
  const auto t = load_hf_tokenizer(hf_bert_json(), "bert.json");
  const std::string text = "a [SEP] <new>";
  // encode(): every added token is split out.
  EXPECT_EQ(t->encode(text), (Ids{4, 3, 18}));
  EXPECT_EQ(t->encode(text, kAllow), (Ids{4, 3, 18}));
  // as_text: the special ones are text (split_special_tokens); <new> is still split out.
  EXPECT_EQ(t->encode(text, kAsText), (Ids{4, 9, 12, 10, 18}));
  std::string e = test::error_of([&] { t->encode(text, kRefuse); });
  EXPECT_NE(e.find("hf tokenizer: the text holds special token '[SEP]' at byte offset 2"),
            std::string::npos)
      << e;
  // <new> is no special token: refusing does not touch it, and allowing it is an error.
  EXPECT_EQ(t->encode("a <new>", kRefuse), (Ids{4, 18}));
  e = test::error_of([&] { t->encode(text, {SpecialTokens::allow, {"<new>"}}); });
  EXPECT_NE(e.find("\"<new>\" is not a special token (they are: [PAD], [UNK], [CLS], [SEP])"),
            std::string::npos)
      << e;
  EXPECT_EQ(t->encode("[CLS] a [SEP]", {SpecialTokens::refuse, {"[CLS]", "[SEP]"}}),
            (Ids{2, 4, 3}));
  EXPECT_EQ(t->encode("[CLS] a [SEP]", {SpecialTokens::as_text, {"[SEP]"}}),
            (Ids{9, 11, 10, 4, 3}));
}

class SentencePieceSpecials : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    std::ofstream(dir_->path / "corpus.txt") << std::string(200, 'x') << "\n"
                                             << "hello world s <> / a b\n"
                                             << "the lazy dog <s> </s>\n";
    const std::string args = fmt::format(
        "--input={} --model_prefix={} --model_type=bpe --vocab_size=300 --byte_fallback=true "
        "--user_defined_symbols=<|user|> --control_symbols=<|ctrl|> --minloglevel=2 "
        "--hard_vocab_limit=false --character_coverage=1.0",
        (dir_->path / "corpus.txt").string(), (dir_->path / "m").string());
    auto status = sentencepiece::SentencePieceTrainer::Train(args);
    ASSERT_TRUE(status.ok()) << status.ToString();
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static test::TempDir* dir_;
};
test::TempDir* SentencePieceSpecials::dir_ = nullptr;

TEST_F(SentencePieceSpecials, ControlPiecesAreGoverned) {
  const auto t = SentencePieceTokenizer::from_file(dir_->path / "m.model");
  const int32_t bos = *t->bos_id(), eos = *t->eot_id();
  const int32_t user = *t->special_token_id("<|user|>"), ctrl = *t->special_token_id("<|ctrl|>");
  const std::string text = "hello</s>world";
  // encode(): control pieces are text (the library never matches them)...
  EXPECT_EQ(t->encode(text, kAsText), t->encode(text));
  const Ids plain = t->encode(text);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), eos), 0);
  // ...allowed, each side is encoded alone, with its own dummy prefix.
  Ids expected = t->encode("hello");
  expected.push_back(eos);
  const Ids world = t->encode("world");
  expected.insert(expected.end(), world.begin(), world.end());
  EXPECT_EQ(t->encode(text, kAllow), expected);
  EXPECT_EQ(t->encode("<s><|ctrl|>", kAllow), (Ids{bos, ctrl}));
  const std::string e = test::error_of([&] { t->encode(text, kRefuse); });
  EXPECT_NE(e.find("special token '</s>' at byte offset 5"), std::string::npos) << e;
  // User-defined pieces are always matched, whatever the options.
  for (const EncodeOptions& o : {kAsText, kAllow, kRefuse}) {
    const Ids ids = t->encode("a<|user|>b", o);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), user), 1);
  }
  std::vector<std::string> names;
  for (const auto& kv : t->text_special_tokens()) names.push_back(kv.first);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"</s>", "<s>", "<unk>", "<|ctrl|>"}));
}

// ---- Model inputs --------------------------------------------------------------------------

TEST(ModelInput, BertTruncatedAndPadded) {
  // [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 a=5 ... j=14.
  const WordPieceTokenizer t({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d", "e",
                              "f", "g", "h", "i", "j"},
                             {}, "bert vocab");
  ModelInputOptions o;
  o.max_length = 8;
  o.truncation = Truncation::right;
  ModelInput in = encode_model_input(t, "a b c d e f g h i j", std::nullopt, o);
  EXPECT_EQ(in.ids, (Ids{2, 5, 6, 7, 8, 9, 10, 3}));  // room for [CLS] and [SEP] kept
  EXPECT_EQ(in.attention_mask, Ids(8, 1));
  EXPECT_EQ(in.token_type_ids, Ids(8, 0));

  // Padded to 12, short input: [CLS] a b c [SEP] + 7 x [PAD].
  o.max_length = 12;
  o.pad_to_max_length = true;
  in = encode_model_input(t, "a b c", std::nullopt, o);
  EXPECT_EQ(in.ids, (Ids{2, 5, 6, 7, 3, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(in.attention_mask, (Ids{1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(in.token_type_ids, Ids(12, 0));

  // Truncated to 8 then padded to 12 is not possible with one max_length; truncation to 8 and
  // padding to 8 leave no pad, and left-side options mirror the right ones.
  o.max_length = 8;
  o.truncation = Truncation::left;
  o.padding_side = PaddingSide::left;
  in = encode_model_input(t, "a b c d e f g h i j", std::nullopt, o);
  EXPECT_EQ(in.ids, (Ids{2, 9, 10, 11, 12, 13, 14, 3}));
  in = encode_model_input(t, "a b", std::nullopt, o);
  EXPECT_EQ(in.ids, (Ids{0, 0, 0, 0, 2, 5, 6, 3}));
  EXPECT_EQ(in.attention_mask, (Ids{0, 0, 0, 0, 1, 1, 1, 1}));

  // A pair, longest first: a b c d e f (6) and g h (2) to 8 - 3 = 5: 3 + 2.
  ModelInputOptions p;
  p.max_length = 8;
  p.truncation = Truncation::right;
  in = encode_model_input(t, "a b c d e f", "g h", p);
  EXPECT_EQ(in.ids, (Ids{2, 5, 6, 7, 3, 11, 12, 3}));
  EXPECT_EQ(in.token_type_ids, (Ids{0, 0, 0, 0, 0, 1, 1, 1}));
  // The same as WordPieceTokenizer::encode_for_model.
  const auto old = t.encode_for_model("a b c d e f", "g h", 8);
  EXPECT_EQ(in.ids, old.ids);
  EXPECT_EQ(in.token_type_ids, old.token_type_ids);
  // No truncation: longer than max_length stays so, and padding adds nothing.
  ModelInputOptions none;
  none.max_length = 4;
  none.pad_to_max_length = true;
  EXPECT_EQ(encode_model_input(t, "a b c", std::nullopt, none).ids, (Ids{2, 5, 6, 7, 3}));
  // Without special tokens: type ids 0 then 1.
  ModelInputOptions bare;
  bare.add_special_tokens = false;
  in = encode_model_input(t, "a b", "c", bare);
  EXPECT_EQ(in.ids, (Ids{5, 6, 7}));
  EXPECT_EQ(in.token_type_ids, (Ids{0, 0, 1}));

  ModelInputOptions tiny;
  tiny.max_length = 2;
  tiny.truncation = Truncation::right;
  std::string e = test::error_of([&] { encode_model_input(t, "a", "b", tiny); });
  EXPECT_NE(e.find("max_length 2 leaves no room for the 3 special tokens"), std::string::npos) << e;
  ModelInputOptions pad_only;
  pad_only.pad_to_max_length = true;
  e = test::error_of([&] { encode_model_input(t, "a", std::nullopt, pad_only); });
  EXPECT_NE(e.find("needs a max_length"), std::string::npos) << e;
  ModelInputOptions negative;
  negative.max_length = -1;
  e = test::error_of([&] { encode_model_input(t, "a", std::nullopt, negative); });
  EXPECT_NE(e.find("max_length -1 is negative"), std::string::npos) << e;
}

// Hugging Face tokenizers' longest-first lengths for a pair, on bytes (no template tokens).
TEST(ModelInput, LongestFirstPairLengths) {
  const ByteTokenizer t;
  ModelInputOptions o;
  o.max_length = 7;
  o.truncation = Truncation::right;
  o.add_special_tokens = false;
  auto lengths = [&](const std::string& a, const std::string& b) {
    const ModelInput in = encode_model_input(t, a, b, o);
    const auto n_b = std::count(in.token_type_ids.begin(), in.token_type_ids.end(), 1);
    return std::make_pair(int64_t(in.ids.size()) - n_b, int64_t(n_b));
  };
  using P = std::pair<int64_t, int64_t>;
  EXPECT_EQ(lengths("ab", "cdefghij"), (P{2, 5}));
  EXPECT_EQ(lengths("abcd", "efgh"), (P{3, 4}));  // equal: B gets the odd token
  EXPECT_EQ(lengths("abcdefgh", "ijkl"), (P{4, 3}));
  EXPECT_EQ(lengths("abcdefgh", "ijklmnop"), (P{3, 4}));
  EXPECT_EQ(lengths("abcdefgh", "ij"), (P{5, 2}));
  EXPECT_EQ(lengths("ab", "cd"), (P{2, 2}));
  // Left truncation keeps the ends.
  o.truncation = Truncation::left;
  EXPECT_EQ(encode_model_input(t, "abcdefgh", "ijklmnop", o).ids,
            (Ids{'f', 'g', 'h', 'm', 'n', 'o', 'p'}));
  // With the 3 tokens of a BERT pair, 4 + 4 into 8 leaves 5: 2 + 3.
  const WordPieceTokenizer bert({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "b", "c", "d"}, {},
                                "bert vocab");
  ModelInputOptions p;
  p.max_length = 8;
  p.truncation = Truncation::right;
  EXPECT_EQ(encode_model_input(bert, "a b c d", "a b c d", p).ids, (Ids{2, 4, 5, 3, 4, 5, 6, 3}));
}

TEST(ModelInput, HfPostProcessorTemplate) {
  json j = hf_bert_json();
  const auto t = load_hf_tokenizer(j, "bert.json");
  ModelInputOptions o;
  o.max_length = 9;
  o.truncation = Truncation::right;
  o.pad_to_max_length = true;
  ModelInput in = encode_model_input(*t, "a b c", "d", o);
  EXPECT_EQ(in.ids, (Ids{2, 4, 5, 6, 3, 7, 3, 0, 0}));
  EXPECT_EQ(in.token_type_ids, (Ids{0, 0, 0, 0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(in.attention_mask, (Ids{1, 1, 1, 1, 1, 1, 1, 0, 0}));
  // Unpadded, the ids are encode_for_model's.
  EXPECT_EQ(encode_model_input(*t, "a b c", "d").ids, t->encode_for_model("a b c", "d"));

  // TemplateProcessing with its type ids, and tokenizer.json's padding.pad_id.
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", json::array({{{"SpecialToken", {{"id", "[CLS]"}, {"type_id", 0}}}},
                              {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
      {"pair", json::array({{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                            {{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 0}}}},
                            {{"Sequence", {{"id", "B"}, {"type_id", 2}}}}})},
      {"special_tokens",
       {{"[CLS]", {{"id", "[CLS]"}, {"ids", {2}}, {"tokens", {"[CLS]"}}}},
        {"[SEP]", {{"id", "[SEP]"}, {"ids", {3}}, {"tokens", {"[SEP]"}}}}}}};
  j["padding"] = {{"pad_id", 17}, {"pad_token", "g"}};
  const auto t2 = load_hf_tokenizer(j, "template.json");
  o.max_length = 6;
  in = encode_model_input(*t2, "a b c d e", std::nullopt, o);
  EXPECT_EQ(in.ids, (Ids{2, 4, 5, 6, 7, 8}));
  in = encode_model_input(*t2, "a", "b c", o);
  EXPECT_EQ(in.ids, (Ids{4, 3, 5, 6, 17, 17}));
  EXPECT_EQ(in.token_type_ids, (Ids{0, 0, 2, 2, 0, 0}));
  EXPECT_EQ(t2->pad_id(), 17);
}

TEST_F(SentencePieceSpecials, ModelInputAddsBos) {
  const auto t = SentencePieceTokenizer::from_file(dir_->path / "m.model");
  ModelInputOptions o;
  o.max_length = 4;
  o.truncation = Truncation::right;
  const ModelInput in = encode_model_input(*t, "hello world the lazy dog", std::nullopt, o);
  ASSERT_EQ(in.ids.size(), 4u);
  EXPECT_EQ(in.ids[0], *t->bos_id());
  const Ids all = t->encode("hello world the lazy dog");
  EXPECT_EQ(Ids(in.ids.begin() + 1, in.ids.end()), Ids(all.begin(), all.begin() + 3));
  // The model has no <pad>: padding needs pad_id.
  o.max_length = 40;
  o.pad_to_max_length = true;
  const std::string e = test::error_of([&] { encode_model_input(*t, "hello", std::nullopt, o); });
  EXPECT_NE(e.find("padding needs a pad token"), std::string::npos) << e;
  o.pad_id = 0;
  EXPECT_EQ(encode_model_input(*t, "hello", std::nullopt, o).ids.size(), 40u);
}

TEST(ModelInput, ByteAddsNothingAndHonoursEncodeOptions) {
  const ByteTokenizer t;
  ModelInputOptions o;
  o.encode = kAllow;
  ModelInput in = encode_model_input(t, "a<|endoftext|>", "b", o);
  EXPECT_EQ(in.ids, (Ids{97, 256, 98}));
  EXPECT_EQ(in.token_type_ids, (Ids{0, 0, 1}));
  EXPECT_FALSE(t.pad_id().has_value());
}

}  // namespace
}  // namespace ilm
