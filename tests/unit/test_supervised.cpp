// Supervised examples: chat messages from every record shape, the loss mask of rendered chats
// (known answers for ChatML and Llama-3), truncation, label maps, classification examples, and
// records through to an example set file.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "ilm/data/example_set.h"
#include "ilm/data/supervised.h"
#include "ilm/io/file.h"
#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/wordpiece.h"
#include "test_util.h"
#include "special_byte_tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ilm;
using namespace ilm::test;

namespace {


const SpecialByteTokenizer& chatml_tok() {
  static const SpecialByteTokenizer t({"<|im_start|>", "<|im_end|>"});
  return t;
}
const SpecialByteTokenizer& llama3_tok() {
  static const SpecialByteTokenizer t(
      {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"});
  return t;
}

// The expected ids and mask, built piece by piece from the template's definition.
struct Expected {
  const Tokenizer& tok;
  Example e;
  Expected& text(const std::string& s, uint8_t m = 0) {
    for (char c : s) {
      e.ids.push_back(uint8_t(c));
      e.loss_mask.push_back(m);
    }
    return *this;
  }
  Expected& special(const std::string& name, uint8_t m = 0) {
    e.ids.push_back(*tok.special_token_id(name));
    e.loss_mask.push_back(m);
    return *this;
  }
};

// The tokens with mask 1, bytes as themselves and special tokens as '#'.
std::string masked(const Example& e) {
  std::string s;
  for (size_t i = 0; i < e.ids.size(); ++i) {
    if (e.loss_mask[i]) s += e.ids[i] < 256 ? std::string(1, char(e.ids[i])) : "#";
  }
  return s;
}

const std::vector<ChatMessage> kTwoTurns = {{"system", "Be brief."},
                                            {"user", "Hi"},
                                            {"assistant", "Hello."},
                                            {"user", "2+2?"},
                                            {"assistant", "4"}};

WordPieceTokenizer bert() {
  return WordPieceTokenizer({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "movie", "bad"},
                            {}, "test vocab");
}

std::vector<ChatMessage> messages_of(const std::string& record) {
  return chat_messages_from_record(json::parse(record));
}

std::string record_error(const std::string& record) {
  return error_of([&] { chat_messages_from_record(json::parse(record)); });
}

void expect_messages(const std::vector<ChatMessage>& got, const std::vector<ChatMessage>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].role, want[i].role) << i;
    EXPECT_EQ(got[i].content, want[i].content) << i;
  }
}

}  // namespace

// ---- records ----------------------------------------------------------------------------------

TEST(ChatRecords, Shapes) {
  expect_messages(messages_of(R"({"id": 7, "messages": [{"role": "user", "content": "Hi"},
                                   {"role": "assistant", "content": "Yo"}]})"),
                  {{"user", "Hi"}, {"assistant", "Yo"}});
  // OpenAI's content parts: the text ones, joined.
  expect_messages(messages_of(R"({"messages": [{"role": "user", "content":
                                   [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                                   {"role": "assistant", "content": "c"}]})"),
                  {{"user", "ab"}, {"assistant", "c"}});
  expect_messages(messages_of(R"({"conversations": [{"from": "system", "value": "S"},
                                   {"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}]})"),
                  {{"system", "S"}, {"user", "Q"}, {"assistant", "A"}});
  expect_messages(
      messages_of(R"({"instruction": "Translate.", "input": "salaam", "output": "peace"})"),
      {{"user", "Translate.\n\nsalaam"}, {"assistant", "peace"}});
  expect_messages(messages_of(R"({"instruction": "Say hi.", "input": "", "output": "hi"})"),
                  {{"user", "Say hi."}, {"assistant", "hi"}});
  expect_messages(
      messages_of(R"({"instruction": "Say hi.", "output": "hi", "system": "Be kind."})"),
      {{"system", "Be kind."}, {"user", "Say hi."}, {"assistant", "hi"}});
  expect_messages(messages_of(R"({"prompt": "1+1=", "completion": "2", "system": ""})"),
                  {{"user", "1+1="}, {"assistant", "2"}});
  expect_messages(messages_of(R"({"system": "S", "messages": [{"role": "user", "content": "Q"}]})"),
                  {{"system", "S"}, {"user", "Q"}});
}

TEST(ChatRecords, ErrorsNameTheField) {
  auto expect_error = [](const std::string& record, const std::string& want) {
    const std::string e = record_error(record);
    EXPECT_NE(e.find(want), std::string::npos) << "expected '" << want << "' in: " << e;
  };
  expect_error(R"([1, 2])", "expected a JSON object");
  expect_error(R"({"text": "x", "label": 1})",
               "expected messages, conversations, instruction/output or prompt/completion; the "
               "record has label, text");
  expect_error(R"({"messages": []})", "messages: no messages");
  expect_error(R"({"messages": "hi"})", "messages: expected a list of messages, got string");
  expect_error(R"({"messages": [3]})", "messages[0]: expected an object, got number");
  expect_error(
      R"({"messages": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"}]})",
      "messages[1].role: unknown role 'bot'");
  expect_error(R"({"messages": [{"content": "a"}]})", "messages[0].role: missing");
  expect_error(R"({"messages": [{"role": "user"}]})", "messages[0].content: missing");
  expect_error(R"({"messages": [{"role": "user", "content": null}]})",
               "messages[0].content: expected a string or a list of text parts, got null");
  expect_error(R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
               "messages[0].content[0].type: 'image_url' is not supported");
  expect_error(
      R"({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}]})",
      "messages[1].role: a system message must come first");
  expect_error(R"({"system": "s", "messages": [{"role": "system", "content": "b"}]})",
               "system: the record has a system field and its messages start with a system");
  expect_error(R"({"system": 3, "prompt": "a", "completion": "b"})",
               "system: expected a string, got number");
  expect_error(R"({"conversations": [{"from": "bard", "value": "x"}]})",
               "conversations[0].from: unknown speaker 'bard'");
  expect_error(R"({"conversations": [{"from": "human"}]})", "conversations[0].value: missing");
  expect_error(R"({"output": "x"})", "instruction: missing");
  expect_error(R"({"instruction": "x"})", "output: missing");
  expect_error(R"({"instruction": "x", "input": 5, "output": "y"})",
               "input: expected a string, got number");
  expect_error(R"({"prompt": "x"})", "completion: missing");
  expect_error(R"({"completion": "x"})", "prompt: missing");
}

// ---- chat examples ----------------------------------------------------------------------------

TEST(ChatExample, ChatMLMaskCoversExactlyTheAssistantTokens) {
  const auto& tok = chatml_tok();
  Expected want{tok, {}};
  want.special("<|im_start|>").text("system\nBe brief.").special("<|im_end|>").text("\n");
  want.special("<|im_start|>").text("user\nHi").special("<|im_end|>").text("\n");
  want.special("<|im_start|>").text("assistant\n").text("Hello.", 1).special("<|im_end|>", 1);
  want.text("\n");
  want.special("<|im_start|>").text("user\n2+2?").special("<|im_end|>").text("\n");
  want.special("<|im_start|>").text("assistant\n").text("4", 1).special("<|im_end|>", 1);
  want.text("\n");
  const std::optional<Example> e = chat_example(kTwoTurns, tok, {});
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->ids, want.e.ids);
  EXPECT_EQ(e->loss_mask, want.e.loss_mask);
  EXPECT_EQ(e->label, -1);
  EXPECT_EQ(masked(*e), "Hello.#4#");
}

TEST(ChatExample, Llama3MaskCoversExactlyTheAssistantTokens) {
  const auto& tok = llama3_tok();
  Expected want{tok, {}};
  want.special("<|begin_of_text|>");
  for (const auto& [role, content, m] :
       std::vector<std::tuple<std::string, std::string, uint8_t>>{{"system", "Be brief.", 0},
                                                                  {"user", "Hi", 0},
                                                                  {"assistant", "Hello.", 1},
                                                                  {"user", "2+2?", 0},
                                                                  {"assistant", "4", 1}}) {
    want.special("<|start_header_id|>").text(role).special("<|end_header_id|>").text("\n\n");
    want.text(content, m).special("<|eot_id|>", m);
  }
  ChatExampleOptions o;
  o.format = ChatFormat::llama3;
  const std::optional<Example> e = chat_example(kTwoTurns, tok, o);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->ids, want.e.ids);
  EXPECT_EQ(e->loss_mask, want.e.loss_mask);
  EXPECT_EQ(masked(*e), "Hello.#4#");
}

TEST(ChatExample, TrainOnPromptPutsLossEverywhere) {
  ChatExampleOptions o;
  o.train_on_prompt = true;
  const std::optional<Example> e = chat_example(kTwoTurns, chatml_tok(), o);
  const std::optional<Example> assistant_only = chat_example(kTwoTurns, chatml_tok(), {});
  ASSERT_TRUE(e && assistant_only);
  EXPECT_EQ(e->ids, assistant_only->ids);
  EXPECT_EQ(e->loss_mask, std::vector<uint8_t>(e->ids.size(), 1));
}

TEST(ChatExample, NoAssistantMessageIsDropped) {
  EXPECT_FALSE(chat_example({{"user", "Hi"}}, chatml_tok(), {}).has_value());
  ChatExampleOptions o;
  o.train_on_prompt = true;  // still nothing the assistant wrote
  EXPECT_FALSE(chat_example({{"system", "S"}, {"user", "Hi"}}, chatml_tok(), o).has_value());
}

TEST(ChatExample, Truncation) {
  const std::vector<ChatMessage> chat = {{"user", "Hi"}, {"assistant", "Hello."}};
  const Example full = *chat_example(chat, chatml_tok(), {});
  // <|im_start|> "user\nHi" <|im_end|> "\n" <|im_start|> "assistant\n" "Hello." <|im_end|> "\n"
  ASSERT_EQ(full.ids.size(), 29u);
  auto with = [&](int64_t max_tokens, Truncation t) {
    ChatExampleOptions o;
    o.max_tokens = max_tokens;
    o.truncation = t;
    return chat_example(chat, chatml_tok(), o);
  };
  auto slice = [](const auto& v, size_t b, size_t e) {
    return std::vector<typename std::decay_t<decltype(v)>::value_type>(v.begin() + long(b),
                                                                       v.begin() + long(e));
  };
  // drop: fits exactly or is dropped.
  ASSERT_TRUE(with(29, Truncation::drop).has_value());
  EXPECT_EQ(with(29, Truncation::drop)->ids, full.ids);
  EXPECT_FALSE(with(28, Truncation::drop).has_value());
  EXPECT_EQ(with(0, Truncation::drop)->ids, full.ids);  // no limit
  // right: the start is kept; with no assistant token left, the example is dropped.
  std::optional<Example> r = with(25, Truncation::right);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->ids, slice(full.ids, 0, 25));
  EXPECT_EQ(r->loss_mask, slice(full.loss_mask, 0, 25));
  EXPECT_EQ(masked(*r), "Hell");
  EXPECT_FALSE(with(21, Truncation::right).has_value());  // ends at "assistant\n"
  EXPECT_TRUE(with(22, Truncation::right).has_value());   // keeps "H"
  // left: the end is kept, the answer first of all.
  std::optional<Example> l = with(8, Truncation::left);
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->ids, slice(full.ids, 21, 29));
  EXPECT_EQ(l->loss_mask, (std::vector<uint8_t>{1, 1, 1, 1, 1, 1, 1, 0}));
  EXPECT_FALSE(with(1, Truncation::left).has_value());  // only the final "\n"
  // Multi-turn, left: the last answer survives while the first turn is cut.
  ChatExampleOptions o;
  o.max_tokens = 20;
  o.truncation = Truncation::left;
  EXPECT_EQ(masked(*chat_example(kTwoTurns, chatml_tok(), o)), "4#");
  EXPECT_NE(error_of([&] { with(-1, Truncation::drop); }).find("max_tokens is -1"),
            std::string::npos);
  EXPECT_EQ(truncation_from_name("left"), Truncation::left);
  EXPECT_EQ(truncation_from_name("right"), Truncation::right);
  EXPECT_EQ(truncation_from_name("drop"), Truncation::drop);
  EXPECT_NE(error_of([] { truncation_from_name("middle"); }).find("drop, right, left"),
            std::string::npos);
}

TEST(ChatExample, MissingSpecialTokenIsAnError) {
  ByteTokenizer bytes;
  EXPECT_NE(error_of([&] { chat_example(kTwoTurns, bytes, {}); }).find("<|im_start|>"),
            std::string::npos);
}

// ---- label maps -------------------------------------------------------------------------------

TEST(LabelMap, NamesAndIds) {
  const LabelMap m = LabelMap::from_names({"positive", "negative", "neutral"});
  EXPECT_EQ(m.size(), 3);
  EXPECT_EQ(m.id("positive"), 0);
  EXPECT_EQ(m.id("neutral"), 2);
  EXPECT_EQ(m.id("Positive"), std::nullopt);  // unknown: the caller reports file and line
  EXPECT_EQ(m.name(1), "negative");
  EXPECT_NE(error_of([&] { m.name(3); }).find("label id 3 is out of range [0, 3)"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              LabelMap::from_names({"a", "b", "a"});
            }).find("label 'a' appears twice (ids 0 and 2)"),
            std::string::npos);
  EXPECT_NE(error_of([] { LabelMap::from_names({}); }).find("at least one label"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              LabelMap::from_names({"a", ""});
            }).find("label 1 is an empty string"),
            std::string::npos);
}

TEST(LabelMap, SaveAndLoad) {
  TempDir dir;
  const fs::path p = dir.path / "label_map.json";
  LabelMap::from_names({"sports", "politics", "علوم"}).save(p);
  EXPECT_EQ(json::parse(read_file(p)),
            json::parse(R"({"labels": ["sports", "politics", "علوم"]})"));
  const LabelMap m = LabelMap::load(p);
  EXPECT_EQ(m.names(), (std::vector<std::string>{"sports", "politics", "علوم"}));
  EXPECT_EQ(m.id("علوم"), 2);

  auto load_error = [&](const std::string& text) {
    write_file_atomic(p, text);
    const std::string e = error_of([&] { LabelMap::load(p); });
    EXPECT_NE(e.find(p.string()), std::string::npos) << e;
    return e;
  };
  EXPECT_NE(load_error("{").find("not valid JSON"), std::string::npos);
  EXPECT_NE(load_error("[]").find("expected an object"), std::string::npos);
  EXPECT_NE(load_error("{}").find("missing field 'labels'"), std::string::npos);
  EXPECT_NE(load_error(R"({"labels": "a"})").find("labels: expected a list of strings"),
            std::string::npos);
  EXPECT_NE(load_error(R"({"labels": ["a", 1]})").find("labels[1]: expected a string, got number"),
            std::string::npos);
  EXPECT_NE(load_error(R"({"labels": ["a"], "names": []})").find("unknown field 'names'"),
            std::string::npos);
  EXPECT_NE(load_error(R"({"labels": ["a", "a"]})").find("appears twice"), std::string::npos);
  EXPECT_NE(error_of([&] { LabelMap::load(dir.path / "none.json"); }).find("none.json"),
            std::string::npos);
}

// ---- classification examples ------------------------------------------------------------------

TEST(ClassificationExample, SpecialTokens) {
  ByteTokenizer bytes;  // no bos; <|endoftext|> after the text
  std::optional<Example> e = classification_example("ab", 1, bytes, {});
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->ids, (std::vector<int32_t>{'a', 'b', 256}));
  EXPECT_TRUE(e->loss_mask.empty());
  EXPECT_EQ(e->label, 1);

  const SpecialByteTokenizer with_bos({"<s>"});  // <s> text <|endoftext|>
  EXPECT_EQ(classification_example("ab", 0, with_bos, {})->ids,
            (std::vector<int32_t>{257, 'a', 'b', 256}));

  const WordPieceTokenizer wp = bert();  // [CLS] text [SEP]
  EXPECT_EQ(classification_example("Good movie", 2, wp, {})->ids,
            (std::vector<int32_t>{2, 5, 6, 3}));
  EXPECT_EQ(classification_example("", 0, wp, {})->ids, (std::vector<int32_t>{2, 3}));

  ClassificationOptions plain;
  plain.add_special = false;
  EXPECT_EQ(classification_example("Good movie", 2, wp, plain)->ids, (std::vector<int32_t>{5, 6}));
  EXPECT_FALSE(classification_example("", 0, wp, plain).has_value());  // nothing to classify
  EXPECT_NE(error_of([&] { classification_example("x", -1, wp, {}); }).find("label -1"),
            std::string::npos);
}

TEST(ClassificationExample, Truncation) {
  const WordPieceTokenizer wp = bert();
  ClassificationOptions o;
  o.max_tokens = 4;  // [CLS] good movie bad [SEP] is 5
  o.truncation = Truncation::right;
  EXPECT_EQ(classification_example("good movie bad", 0, wp, o)->ids,
            (std::vector<int32_t>{2, 5, 6, 3}));
  o.truncation = Truncation::left;
  EXPECT_EQ(classification_example("good movie bad", 0, wp, o)->ids,
            (std::vector<int32_t>{2, 6, 7, 3}));
  o.truncation = Truncation::drop;
  EXPECT_FALSE(classification_example("good movie bad", 0, wp, o).has_value());
  EXPECT_EQ(classification_example("good movie", 0, wp, o)->ids,
            (std::vector<int32_t>{2, 5, 6, 3}));
  o.max_tokens = 2;
  EXPECT_NE(error_of([&] {
              classification_example("good", 0, wp, o);
            }).find("max_tokens 2 cannot hold the 2 special tokens and one token of text"),
            std::string::npos);
  o.add_special = false;
  o.truncation = Truncation::right;
  EXPECT_EQ(classification_example("good movie bad", 0, wp, o)->ids, (std::vector<int32_t>{5, 6}));
}

// ---- records to a file --------------------------------------------------------------------------

TEST(SupervisedToExampleSet, ChatRecordsRoundTrip) {
  TempDir dir;
  const fs::path p = dir.path / "train.examples";
  const std::vector<std::string> records = {
      R"({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"}]})",
      R"({"instruction": "Add.", "input": "2+2", "output": "4"})",
      R"({"messages": [{"role": "user", "content": "no answer"}]})",
      R"({"prompt": "Capital of Egypt?", "completion": "Cairo", "system": "Be brief."})"};
  const auto& tok = chatml_tok();
  ExampleSetWriter w(p, ExampleKind::chat, tok.vocab_size(), 0);
  std::vector<Example> kept;
  for (const std::string& r : records) {
    if (std::optional<Example> e =
            chat_example(chat_messages_from_record(json::parse(r)), tok, {})) {
      w.add(*e);
      kept.push_back(*e);
    }
  }
  w.finish();
  ASSERT_EQ(kept.size(), 3u);  // the record without an answer is dropped
  const ExampleSet s = ExampleSet::open(p);
  ASSERT_EQ(s.size(), 3);
  EXPECT_EQ(s.kind(), ExampleKind::chat);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(s.ids(i), kept[size_t(i)].ids);
    EXPECT_EQ(s.loss_mask(i), kept[size_t(i)].loss_mask);
  }
  EXPECT_EQ(masked(s.example(0)), "Yo#");
  EXPECT_EQ(masked(s.example(1)), "4#");
  EXPECT_EQ(masked(s.example(2)), "Cairo#");
  EXPECT_EQ(s.loss_tokens(), 3 + 2 + 6);
}

TEST(SupervisedToExampleSet, ClassificationRoundTrip) {
  TempDir dir;
  const WordPieceTokenizer wp = bert();
  const LabelMap labels = LabelMap::from_names({"neg", "pos"});
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"good movie", "pos"}, {"bad movie", "neg"}, {"good", "pos"}};
  ExampleSetWriter w(dir.path / "train.examples", ExampleKind::classification, wp.vocab_size(),
                     labels.size());
  for (const auto& [text, label] : rows) {
    w.add(*classification_example(text, *labels.id(label), wp, {}));
  }
  w.finish();
  labels.save(dir.path / "label_map.json");
  const ExampleSet s = ExampleSet::open(dir.path / "train.examples");
  const LabelMap loaded = LabelMap::load(dir.path / "label_map.json");
  EXPECT_EQ(s.num_labels(), loaded.size());
  EXPECT_EQ(s.ids(1), (std::vector<int32_t>{2, 7, 6, 3}));
  EXPECT_EQ(loaded.name(s.label(0)), "pos");
  EXPECT_EQ(loaded.name(s.label(1)), "neg");
  EXPECT_EQ(s.label_counts(), (std::vector<int64_t>{1, 2}));
}
