// LabelServer driven over HTTP on 127.0.0.1 with httplib::Client: labels are appended with their
// input line, a restart skips what is done, undo appends a retraction, bad requests get 4xx with
// a JSON error, a torn last output line is cut away, collapse_labels keeps the last label.
#include "ilm/data/label_server.h"

#include <httplib.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ilm/io/file.h"
#include "test_util.h"

namespace ilm {
namespace {

using nlohmann::json;
using test::error_of;
using test::TempDir;

// Five input lines: records on 1, 2, 4 and 5 (one Arabic); line 3 is not JSON.
const char* kInput =
    "{\"text\": \"good movie\", \"id\": 1}\n"
    "{\"text\": \"bad movie\", \"id\": 2}\n"
    "{not json\n"
    "{\"text\": \"\xd9\x81\xd9\x8a\xd9\x84\xd9\x85 \xd8\xac\xd9\x8a\xd8\xaf\", \"id\": 4}\n"
    "{\"text\": \"so so\", \"id\": 5}\n";

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<std::string> lines_of(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

struct Fixture {
  TempDir dir;
  LabelOptions options;
  Fixture() {
    options.input = dir.path / "in.jsonl";
    options.output = dir.path / "labeled.jsonl";
    options.labels = {"positive", "negative", "neutral"};
    write_text(options.input, kInput);
  }
};

struct Http {
  httplib::Client client;
  explicit Http(int port) : client("127.0.0.1", port) {
    client.set_connection_timeout(5);
    client.set_read_timeout(5);
  }
  std::pair<int, json> get(const std::string& path) {
    auto res = client.Get(path.c_str());
    EXPECT_TRUE(res) << path;
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  std::pair<int, json> post(const std::string& path, const std::string& body) {
    auto res = client.Post(path.c_str(), body, "application/json");
    EXPECT_TRUE(res) << path;
    if (!res) return {0, json()};
    return {res->status, json::parse(res->body, nullptr, false)};
  }
  std::pair<int, json> label(int64_t line, const std::string& label) {
    return post("/api/label", json{{"line", line}, {"label", label}}.dump());
  }
};

TEST(LabelServer, LabelsAreAppendedWithTheirInputLine) {
  Fixture f;
  LabelServer server(f.options);
  server.start();
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(server.url(), "http://127.0.0.1:" + std::to_string(server.port()) + "/");
  Http http(server.port());

  auto [s0, progress] = http.get("/api/progress");
  EXPECT_EQ(s0, 200);
  EXPECT_EQ(progress["total"], 4);
  EXPECT_EQ(progress["done"], 0);
  EXPECT_EQ(progress["problem_count"], 1);
  EXPECT_EQ(progress["problems"][0]["line"], 3);
  EXPECT_EQ(progress["labels"], json({"positive", "negative", "neutral"}));

  auto [s1, next] = http.get("/api/next");
  EXPECT_EQ(s1, 200);
  EXPECT_EQ(next["record"]["line"], 1);
  EXPECT_EQ(next["record"]["text"], "good movie");
  EXPECT_EQ(next["record"]["record"]["id"], 1);

  auto [s2, r2] = http.label(1, "positive");
  EXPECT_EQ(s2, 200);
  EXPECT_EQ(r2["record"]["line"], 2);  // the next one comes with the answer
  EXPECT_EQ(r2["progress"]["done"], 1);
  auto [s3, r3] = http.label(2, "negative");
  EXPECT_EQ(s3, 200);
  EXPECT_EQ(r3["record"]["line"], 4);  // line 3 is not a record

  // Written as soon as given: the file holds both labels while the server still runs.
  EXPECT_EQ(
      lines_of(f.options.output),
      (std::vector<std::string>{R"({"text":"good movie","id":1,"label":"positive","_line":1})",
                                R"({"text":"bad movie","id":2,"label":"negative","_line":2})"}));
  server.stop();
  EXPECT_EQ(server.progress().labeled, 2u);
  EXPECT_EQ(server.progress().remaining, 2u);
}

TEST(LabelServer, ResumeSkipsWhatIsLabeled) {
  Fixture f;
  {
    LabelServer server(f.options);
    server.start();
    Http http(server.port());
    EXPECT_EQ(http.label(1, "positive").first, 200);
    EXPECT_EQ(http.label(4, "neutral").first, 200);
  }
  LabelServer server(f.options);
  server.start();
  EXPECT_EQ(server.progress().labeled, 2u);
  EXPECT_TRUE(server.warnings().empty());
  Http http(server.port());
  auto [s, next] = http.get("/api/next");
  EXPECT_EQ(next["record"]["line"], 2);
  auto [s2, r2] = http.label(2, "negative");
  EXPECT_EQ(r2["record"]["line"], 5);
  auto [s3, r3] = http.label(5, "neutral");
  EXPECT_TRUE(r3["record"].is_null());  // all done
  EXPECT_TRUE(server.all_labeled());
  EXPECT_EQ(lines_of(f.options.output).size(), 4u);
}

TEST(LabelServer, SkipComesBackAfterTheOthers) {
  Fixture f;
  LabelServer server(f.options);
  server.start();
  Http http(server.port());
  EXPECT_EQ(http.get("/api/next?after=1").second["record"]["line"], 2);
  EXPECT_EQ(http.get("/api/next?after=2").second["record"]["line"], 4);
  EXPECT_EQ(http.get("/api/next?after=5").second["record"]["line"], 1);  // wraps around
  EXPECT_EQ(http.label(1, "positive").first, 200);
  EXPECT_EQ(http.get("/api/next?after=5").second["record"]["line"], 2);
  EXPECT_EQ(http.get("/api/next?after=x").first, 400);
}

TEST(LabelServer, UndoAppendsARetractionAndTheLastLineWins) {
  Fixture f;
  LabelServer server(f.options);
  server.start();
  Http http(server.port());
  EXPECT_EQ(http.post("/api/undo", "{}").first, 400);  // nothing to undo yet
  http.label(1, "positive");
  http.label(2, "negative");
  auto [s, undone] = http.post("/api/undo", "{}");
  EXPECT_EQ(s, 200);
  EXPECT_EQ(undone["record"]["line"], 2);
  EXPECT_EQ(undone["progress"]["done"], 1);
  auto [s2, undone2] = http.post("/api/undo", "{}");
  EXPECT_EQ(undone2["record"]["line"], 1);
  EXPECT_EQ(http.post("/api/undo", "{}").first, 400);
  http.label(1, "neutral");
  server.stop();
  EXPECT_EQ(
      lines_of(f.options.output),
      (std::vector<std::string>{R"({"text":"good movie","id":1,"label":"positive","_line":1})",
                                R"({"text":"bad movie","id":2,"label":"negative","_line":2})",
                                R"({"_line":2,"label":null})", R"({"_line":1,"label":null})",
                                R"({"text":"good movie","id":1,"label":"neutral","_line":1})"}));

  // A restart sees line 1 labeled and line 2 not.
  LabelServer again(f.options);
  again.start();
  EXPECT_EQ(again.progress().labeled, 1u);
  int status = 0;
  EXPECT_EQ(json::parse(again.api_next(0, status))["record"]["line"], 2);

  // The final file: the last label of each line, in input order, without _line.
  auto final_path = f.dir.path / "final.jsonl";
  EXPECT_EQ(collapse_labels(f.options.output, final_path), 1u);
  EXPECT_EQ(read_file(final_path), "{\"text\":\"good movie\",\"id\":1,\"label\":\"neutral\"}\n");
}

TEST(LabelServer, BadRequestsGet4xxWithAJsonError) {
  Fixture f;
  LabelServer server(f.options);
  server.start();
  Http http(server.port());
  auto expect_400 = [&](const std::string& body, const std::string& needle) {
    auto [status, r] = http.post("/api/label", body);
    EXPECT_EQ(status, 400) << body;
    ASSERT_TRUE(r.is_object() && r.contains("error")) << body;
    EXPECT_NE(r["error"].get<std::string>().find(needle), std::string::npos)
        << body << " -> " << r["error"];
  };
  expect_400(R"({"line": 1, "label": "happy"})", "label \"happy\" is not one of: positive");
  expect_400(R"({"line": 0, "label": "positive"})", "line 0 is out of range 1..5");
  expect_400(R"({"line": 6, "label": "positive"})", "line 6 is out of range 1..5");
  expect_400(R"({"line": 3, "label": "positive"})", "line 3 is not a record");
  expect_400(R"({"line": "1", "label": "positive"})", "\"line\" must be an integer");
  expect_400(R"({"line": 1})", "\"label\" must be a string");
  expect_400("not json", "JSON object");
  expect_400("[1,2]", "JSON object");

  // A form post (not JSON) and an unknown path.
  auto form =
      http.client.Post("/api/label", "line=1&label=positive", "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 415);
  EXPECT_EQ(http.get("/api/nothing").first, 404);
  // A request addressed to another host name (DNS rebinding) is refused.
  auto rebound = http.client.Get("/api/progress", {{"Host", "evil.example:80"}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 403);

  // Nothing was written, and the server still answers.
  EXPECT_FALSE(std::filesystem::exists(f.options.output) &&
               std::filesystem::file_size(f.options.output) > 0);
  EXPECT_EQ(http.get("/api/progress").first, 200);
  auto page = http.client.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("dir=\"auto\""), std::string::npos);
}

TEST(LabelServer, TornLastOutputLineIsCutAway) {
  Fixture f;
  const std::string good = R"({"text":"good movie","id":1,"label":"positive","_line":1})";
  write_text(f.options.output, good + "\n" + R"({"text":"bad mo)");
  LabelServer server(f.options);
  server.start();
  ASSERT_EQ(server.warnings().size(), 1u);
  EXPECT_NE(server.warnings()[0].find("line 2: an incomplete last line"), std::string::npos)
      << server.warnings()[0];
  EXPECT_EQ(server.progress().labeled, 1u);
  EXPECT_EQ(read_file(f.options.output), good + "\n");
  Http http(server.port());
  EXPECT_EQ(http.label(2, "negative").first, 200);
  server.stop();
  EXPECT_EQ(lines_of(f.options.output).size(), 2u);
  EXPECT_EQ(lines_of(f.options.output)[1],
            R"({"text":"bad movie","id":2,"label":"negative","_line":2})");

  // A last line with its newline but garbage (a crash that left zeros) is cut too.
  write_text(f.options.output, good + "\n" + std::string(5, '\0') + "\n");
  LabelServer again(f.options);
  again.start();
  EXPECT_EQ(again.warnings().size(), 1u);
  EXPECT_EQ(read_file(f.options.output), good + "\n");
}

TEST(LabelServer, CollapseKeepsTheLastLabelInInputOrder) {
  TempDir dir;
  auto labels = dir.path / "labeled.jsonl", final_path = dir.path / "final.jsonl";
  write_text(labels,
             "{\"text\":\"b\",\"label\":\"x\",\"_line\":7}\n"
             "{\"text\":\"a\",\"label\":\"x\",\"_line\":2}\n"
             "{\"_line\":7,\"label\":null}\n"
             "{\"text\":\"a\",\"label\":\"y\",\"_line\":2}\n"
             "{\"text\":\"c\",\"label\":\"z\",\"_line\":9}\n"
             "{\"text\":\"d\",\"lab");  // torn: ignored
  EXPECT_EQ(collapse_labels(labels, final_path), 2u);
  EXPECT_EQ(read_file(final_path),
            "{\"text\":\"a\",\"label\":\"y\"}\n{\"text\":\"c\",\"label\":\"z\"}\n");
  write_text(labels, "{\"text\":\"a\"}\n{\"_line\":1,\"label\":null}\n");
  EXPECT_NE(error_of([&] { collapse_labels(labels, final_path); }).find("labeled.jsonl line 1"),
            std::string::npos);
}

TEST(LabelServer, BadOptionsAndFilesAreErrors) {
  Fixture f;
  auto with = [&](auto change) {
    LabelOptions o = f.options;
    change(o);
    return error_of([&] { LabelServer(o).start(); });
  };
  EXPECT_NE(with([](LabelOptions& o) { o.labels = {}; }).find("no labels"), std::string::npos);
  EXPECT_NE(with([](LabelOptions& o) {
              o.labels = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
            }).find("10 labels given: at most 9"),
            std::string::npos);
  EXPECT_NE(with([](LabelOptions& o) {
              o.labels = {"a", "b", "a"};
            }).find("\"a\" is given twice"),
            std::string::npos);
  EXPECT_NE(with([](LabelOptions& o) { o.host = "0.0.0.0"; }).find("only 127.0.0.1"),
            std::string::npos);
  EXPECT_NE(with([&](LabelOptions& o) {
              o.input = f.dir.path / "missing.jsonl";
            }).find("missing.jsonl does not exist"),
            std::string::npos);
  EXPECT_NE(with([&](LabelOptions& o) {
              o.output = f.dir.path / "no" / "out.jsonl";
            }).find("cannot open output"),
            std::string::npos);
  EXPECT_NE(with([&](LabelOptions& o) { o.output = f.dir.path; }).find("is a folder"),
            std::string::npos);
  // An output written for another input: its _line is not a record here.
  write_text(f.options.output, R"({"text":"x","label":"positive","_line":3})"
                               "\n");
  EXPECT_NE(
      error_of([&] { LabelServer(f.options).start(); }).find("line 1: _line 3 is not a record"),
      std::string::npos);
  // A malformed line that is not the last one is not a torn write: refuse, name it.
  write_text(f.options.output, "garbage\n{\"_line\":1,\"label\":null}\n");
  EXPECT_NE(error_of([&] { LabelServer(f.options).start(); }).find("labeled.jsonl line 1"),
            std::string::npos);
}

TEST(LabelServer, DirectApiCallsMatchHttp) {
  Fixture f;
  f.options.text_field = "id";  // not a string: every line is a problem
  LabelServer server(f.options);
  server.start();
  EXPECT_EQ(server.progress().total, 0u);
  EXPECT_EQ(server.progress().problems, 5u);
  EXPECT_TRUE(server.all_labeled());  // nothing to label
  int status = 0;
  EXPECT_TRUE(json::parse(server.api_next(0, status))["record"].is_null());
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace ilm
