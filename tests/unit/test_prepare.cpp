#include "ilm/data/prepare.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>

#include "ilm/data/example_set.h"
#include "ilm/data/shard.h"
#include "ilm/io/file.h"
#include "ilm/io/paths.h"
#include "test_util.h"

namespace ilm {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::TempDir;

constexpr int32_t kEot = 256;  // the byte tokenizer's end-of-text

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

// n distinct documents of a few sentences, English and Arabic in turn.
std::vector<std::string> documents(int n) {
  std::vector<std::string> docs;
  for (int i = 0; i < n; ++i) {
    std::string d = i % 2 ? fmt::format("مستند رقم {} يتحدث عن النماذج اللغوية والبيانات {}.", i, i * 7)
                          : fmt::format("Document number {} is about language models and data {}.", i, i * 7);
    for (int k = 0; k < i % 5; ++k) d += fmt::format(" Sentence {} of {}.", k, i);
    docs.push_back(d);
  }
  return docs;
}

std::string jsonl(const std::vector<std::string>& docs) {
  std::string s;
  for (const auto& d : docs) s += nlohmann::json({{"text", d}}).dump() + "\n";
  return s;
}

// Every document in the shards of one split, decoded with the byte tokenizer.
std::vector<std::string> decoded_split(const fs::path& out, const std::string& split) {
  std::vector<std::string> docs;
  for (const fs::path& p : expand_inputs({(out / (split + "_*.bin")).string()})) {
    TokenShard s = TokenShard::open(p);
    for (int64_t i = 0; i < s.size(); ++i) {
      const int32_t t = s.at(i);
      if (t == kEot) {
        docs.emplace_back();
      } else {
        EXPECT_FALSE(docs.empty()) << "a shard must begin with the separator";
        if (docs.empty()) docs.emplace_back();
        docs.back().push_back(static_cast<char>(t));
      }
    }
  }
  return docs;
}

PrepareConfig base_config(const TempDir& dir, const std::string& out) {
  PrepareConfig c;
  c.inputs = {(dir.path / "in.jsonl").string()};
  c.tokenizer = "byte";
  c.out = dir.path / out;
  c.val_fraction = 0.2;
  c.seed = 7;
  c.shard_tokens = 2048;
  c.report = false;
  return c;
}

TEST(Prepare, ShardsDecodeBackToTheCleanedDocuments) {
  TempDir dir;
  std::vector<std::string> docs = documents(60);
  std::string in = jsonl(docs);
  in += nlohmann::json({{"text", docs[3]}}).dump() + "\n";            // an exact duplicate
  in += nlohmann::json({{"text", "  " + docs[4] + "  \r\n"}}).dump() + "\n";  // one after cleaning
  in += "{not json\n";                                                 // a malformed line
  in += nlohmann::json({{"title", "no text"}}).dump() + "\n";          // a missing field
  write_text(dir.path / "in.jsonl", in);
  PrepareConfig c = base_config(dir, "out");
  PrepareResult r = prepare_dataset(c);

  EXPECT_EQ(r.documents_in, 62);
  EXPECT_EQ(r.documents_kept, 60);
  EXPECT_EQ(r.train.documents + r.val.documents, 60);
  EXPECT_GT(r.val.documents, 3);
  EXPECT_GT(r.train.files.size(), 1u);  // 2048-token shards
  EXPECT_EQ(r.read.problems.size(), 2u);

  std::vector<std::string> train = decoded_split(c.out, "train");
  std::vector<std::string> val = decoded_split(c.out, "val");
  ASSERT_EQ(static_cast<int64_t>(train.size()), r.train.documents);
  ASSERT_EQ(static_cast<int64_t>(val.size()), r.val.documents);
  // Each split keeps the input order; together they are the input, once each.
  std::vector<std::string> merged;
  size_t a = 0, b = 0;
  for (const auto& d : docs) {
    if (a < train.size() && train[a] == d) {
      merged.push_back(train[a++]);
    } else if (b < val.size() && val[b] == d) {
      merged.push_back(val[b++]);
    }
  }
  EXPECT_EQ(merged, docs);

  // The manifest counts them, with a sha256 per shard.
  nlohmann::json m = nlohmann::json::parse(read_file(c.out / "manifest.json"));
  EXPECT_TRUE(m["complete"].get<bool>());
  EXPECT_EQ(m["splits"]["train"]["documents"].get<int64_t>(), r.train.documents);
  EXPECT_EQ(m["splits"]["train"]["files"].size(), r.train.files.size());
  EXPECT_EQ(m["splits"]["train"]["files"][0]["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(m["counts"]["dedup_exact_removed"].get<int64_t>(), 2);
  EXPECT_TRUE(fs::exists(c.out / "tokenizer.json"));
}

std::map<std::string, std::string> folder_bytes(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".bin") files[e.path().filename().string()] = read_file(e.path());
  return files;
}

TEST(Prepare, SameSeedSameShardsAtAnyThreadCount) {
  TempDir dir;
  write_text(dir.path / "in.jsonl", jsonl(documents(200)));
  PrepareConfig c1 = base_config(dir, "one");
  c1.threads = 1;
  c1.batch_bytes = 500;  // many batches
  PrepareConfig c2 = base_config(dir, "two");
  c2.threads = 2;
  prepare_dataset(c1);
  prepare_dataset(c2);
  EXPECT_EQ(folder_bytes(c1.out), folder_bytes(c2.out));
  PrepareConfig c3 = base_config(dir, "three");
  c3.seed = 8;
  prepare_dataset(c3);
  EXPECT_NE(folder_bytes(c1.out), folder_bytes(c3.out));
}

TEST(Prepare, AnInterruptedRunResumesAfterItsFinishedShards) {
  TempDir dir;
  write_text(dir.path / "in.jsonl", jsonl(documents(300)));
  PrepareConfig whole = base_config(dir, "whole");
  prepare_dataset(whole);

  PrepareConfig c = base_config(dir, "resumed");
  c.batch_bytes = 2000;
  struct Killed {};
  int batches = 0;
  EXPECT_THROW(prepare_dataset(c, [&](int64_t, int64_t, const PrepareResult&) {
                 if (++batches == 6) throw Killed{};
               }),
               Killed);
  nlohmann::json m = nlohmann::json::parse(read_file(c.out / "manifest.json"));
  EXPECT_FALSE(m["complete"].get<bool>());
  const int64_t finished = m["progress"]["train"]["shards"].get<int64_t>();
  ASSERT_GT(finished, 0);
  // No half shard: only finished ones are there.
  EXPECT_EQ(static_cast<int64_t>(expand_inputs({(c.out / "train_*.bin").string()}).size()), finished);

  PrepareResult r = prepare_dataset(c);
  EXPECT_EQ(r.shards_reused, finished + m["progress"]["val"]["shards"].get<int64_t>());
  EXPECT_EQ(folder_bytes(c.out), folder_bytes(whole.out));

  // Complete: a third run does nothing.
  EXPECT_TRUE(prepare_dataset(c).already_complete);
}

TEST(Prepare, ARerunWithAnotherConfigIsRefusedNamingTheChange) {
  TempDir dir;
  write_text(dir.path / "in.jsonl", jsonl(documents(20)));
  PrepareConfig c = base_config(dir, "out");
  prepare_dataset(c);
  c.val_fraction = 0.3;
  std::string e = error_of([&] { prepare_dataset(c); });
  EXPECT_NE(e.find("val_fraction: 0.2 -> 0.3"), std::string::npos) << e;
}

TEST(Prepare, NothingLeftIsAnErrorNotAnEmptyOutput) {
  TempDir dir;
  write_text(dir.path / "in.jsonl", jsonl({"short", "tiny"}));
  PrepareConfig c = base_config(dir, "out");
  c.clean.min_chars = 100;
  std::string e = error_of([&] { prepare_dataset(c); });
  EXPECT_NE(e.find("no document is left"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(c.out / "train_000000.bin"));
}

TEST(Prepare, ConfigFileErrorsNameTheKey) {
  TempDir dir;
  write_text(dir.path / "data.yaml", "inputs: [a.txt]\nout: x\nclean:\n  min_char: 3\n");
  std::string e = error_of([&] { load_prepare_config(dir.path / "data.yaml", {}); });
  EXPECT_NE(e.find("min_char"), std::string::npos) << e;
  EXPECT_NE(e.find("min_chars"), std::string::npos) << e;  // did you mean
  write_text(dir.path / "data.yaml", "inputs: [a.txt]\nval_fractoin: 0.1\n");
  e = error_of([&] { load_prepare_config(dir.path / "data.yaml", {}); });
  EXPECT_NE(e.find("did you mean 'val_fraction'"), std::string::npos) << e;
  e = error_of([&] { load_prepare_config("", {"task=finetune"}); });
  EXPECT_NE(e.find("pretrain, chat, classify"), std::string::npos) << e;
  PrepareConfig c = load_prepare_config("", {"inputs=[a.txt, b.txt]", "dedup.near=true", "seed=3"});
  EXPECT_EQ(c.inputs, (std::vector<std::string>{"a.txt", "b.txt"}));
  EXPECT_TRUE(c.dedup.near);
  EXPECT_EQ(c.seed, 3u);
}

TEST(Prepare, ChatRecordsBecomeAnExampleSetWithLossMasks) {
  TempDir dir;
  std::string in;
  for (int i = 0; i < 30; ++i) {
    in += nlohmann::json({{"messages", {{{"role", "user"}, {"content", fmt::format("question {}", i)}},
                                        {{"role", "assistant"}, {"content", fmt::format("answer {}", i)}}}}})
              .dump() + "\n";
  }
  write_text(dir.path / "in.jsonl", in);
  PrepareConfig c = base_config(dir, "out");
  c.task = DataTask::chat;
  c.chat.format = ChatFormat::plain;
  PrepareResult r = prepare_dataset(c);
  EXPECT_EQ(r.train.documents + r.val.documents, 30);
  ExampleSet train = ExampleSet::open(c.out / "train.examples");
  ASSERT_EQ(train.size(), r.train.documents);
  ASSERT_GT(train.size(), 0);
  std::vector<int32_t> ids = train.ids(0);
  std::vector<uint8_t> mask = train.loss_mask(0);
  std::string answer;
  for (size_t i = 0; i < ids.size(); ++i)
    if (mask[i] && ids[i] < 256) answer.push_back(static_cast<char>(ids[i]));
  EXPECT_NE(answer.find("answer "), std::string::npos) << answer;
  EXPECT_EQ(answer.find("question"), std::string::npos) << answer;
}

TEST(Prepare, ClassificationRecordsGetLabelIdsAndUnknownLabelsAreReported) {
  TempDir dir;
  std::string in;
  const char* labels[] = {"neg", "pos", "neutral?"};
  for (int i = 0; i < 30; ++i)
    in += nlohmann::json({{"text", fmt::format("review number {}", i)}, {"label", labels[i % 3]}}).dump() + "\n";
  write_text(dir.path / "in.jsonl", in);
  PrepareConfig c = base_config(dir, "out");
  c.task = DataTask::classify;
  c.labels = {"neg", "pos"};
  PrepareResult r = prepare_dataset(c);
  EXPECT_EQ(r.train.documents + r.val.documents, 20);
  EXPECT_EQ(r.read.problems.at("unknown label"), 10);
  ExampleSet train = ExampleSet::open(c.out / "train.examples");
  for (int64_t i = 0; i < train.size(); ++i) EXPECT_TRUE(train.label(i) == 0 || train.label(i) == 1);
  EXPECT_TRUE(fs::exists(c.out / "label_map.json"));
}

TEST(Prepare, StatsCountDuplicatesAndWriteTheReports) {
  TempDir dir;
  std::vector<std::string> docs = documents(10);
  docs.push_back(docs[0]);
  docs.push_back(docs[0]);
  write_text(dir.path / "in.jsonl", jsonl(docs));
  PrepareConfig c = base_config(dir, "report");
  c.tokenizer.clear();
  PrepareResult r = collect_data_stats(c);
  EXPECT_EQ(r.documents_in, 12);
  EXPECT_EQ(r.documents_kept, 12);  // counted, not removed
  std::string md = read_file(c.out / "report.md");
  EXPECT_NE(md.find("dedup\\_exact"), std::string::npos) << md;  // Markdown escapes _
  EXPECT_TRUE(fs::exists(c.out / "report.html"));
  EXPECT_FALSE(fs::exists(c.out / "manifest.json"));
}

}  // namespace
}  // namespace ilm
