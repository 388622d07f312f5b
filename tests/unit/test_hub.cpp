// pull_repo against an in-process mock of the Hub on 127.0.0.1: the listing and resolve
// endpoints, LFS files redirected to a second "CDN" server (another origin, which refuses
// an Authorization header as presigned storage URLs do), Range requests, and modes that
// break things: a token required, a gated repo, a response cut in the middle, a server
// that ignores Range, a wrong sha256, hostile paths, 5xx replies.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "ilm/io/file.h"
#include "ilm/io/hub.h"
#include "test_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ilm {
namespace {

using test::error_of;
using test::TempDir;

std::string digest_hex(const EVP_MD* md, const std::string& prefix, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_MD_CTX* c = EVP_MD_CTX_new();
  EVP_DigestInit_ex(c, md, nullptr);
  EVP_DigestUpdate(c, prefix.data(), prefix.size());
  EVP_DigestUpdate(c, data.data(), data.size());
  EVP_DigestFinal_ex(c, out, &n);
  EVP_MD_CTX_free(c);
  std::string s;
  for (unsigned i = 0; i < n; ++i) s += fmt::format("{:02x}", out[i]);
  return s;
}
std::string sha256_of(const std::string& data) {
  return digest_hex(EVP_sha256(), "", data);
}
std::string git_blob_id(const std::string& data) {
  std::string header = fmt::format("blob {}", data.size());
  header.push_back('\0');
  return digest_hex(EVP_sha1(), header, data);
}

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (char& c : s) c = char(gen() & 0xff);
  return s;
}

std::string read_all(const fs::path& p) {
  return read_file(p);
}

struct MockFile {
  std::string content;
  bool lfs = false;
};

// The Hub's two endpoints for one repository, plus a CDN server for LFS blobs.
class MockHub {
 public:
  std::string repo = "owner/model", repo_type = "models";
  std::string commit = "0123456789abcdef0123456789abcdef01234567";
  std::map<std::string, MockFile> files;
  std::vector<std::string> hostile_paths;  // listed, never served
  std::string token;                       // required when not empty
  bool gated = false, wrong_sha = false, ignore_range = false, always_500 = false;
  std::atomic<int> cut_next{0};       // this many file replies stop halfway
  std::atomic<bool> stall{false};     // file replies send half, then nothing more
  bool no_sizes = false;              // a listing without sizes and checksums (no ?blobs=true)
  bool short_sizes = false;           // sizes listed 10 bytes short of what is served
  std::atomic<int> fail_next_500{0};  // this many replies are HTTP 500
  std::set<std::string> missing;      // listed but 404 on resolve

  MockHub() {
    hub_.Get(R"(/api/(models|datasets)/([^/]+/[^/]+)/revision/(.+))",
             [this](const httplib::Request& q, httplib::Response& r) { listing(q, r); });
    hub_.Get(R"(/(datasets/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+))",
             [this](const httplib::Request& q, httplib::Response& r) { resolve(q, r); });
    cdn_.Get(R"(/blobs/([0-9a-f]+))", [this](const httplib::Request& q, httplib::Response& r) {
      record(q, "cdn");
      if (q.has_header("Authorization")) {  // presigned storage refuses a second credential
        r.status = 400;
        r.set_content("Only one auth mechanism allowed", "text/plain");
        return;
      }
      for (auto& [path, f] : files)
        if (f.lfs && sha256_of(f.content) == q.matches[1].str()) return serve(q, r, f.content);
      r.status = 404;
    });
    port = hub_.bind_to_any_port("127.0.0.1");
    cdn_port = cdn_.bind_to_any_port("127.0.0.1");
    hub_thread_ = std::thread([this] { hub_.listen_after_bind(); });
    cdn_thread_ = std::thread([this] { cdn_.listen_after_bind(); });
    // stop() before the listen loop runs would be lost, and the join would wait forever.
    while (!hub_.is_running() || !cdn_.is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~MockHub() {
    stopping_ = true;
    hub_.stop();
    cdn_.stop();
    hub_thread_.join();
    cdn_thread_.join();
  }

  std::string endpoint() const { return fmt::format("http://127.0.0.1:{}", port); }

  std::vector<std::string> log() {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  int count(const std::string& needle) {
    int n = 0;
    for (const std::string& l : log()) n += l.find(needle) != std::string::npos;
    return n;
  }

  int port = 0, cdn_port = 0;

 private:
  void record(const httplib::Request& q, const std::string& who) {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(fmt::format("{} {} range={} auth={}", who, q.path, q.get_header_value("Range"),
                               q.get_header_value("Authorization")));
  }

  // false (and the reply made) unless the caller may read the repository.
  bool admitted(const httplib::Request& q, httplib::Response& r, const std::string& repo_seen,
                const std::string& type_seen) {
    if (always_500 || fail_next_500.fetch_sub(1) > 0) {
      r.status = 500;
      r.set_content("internal error", "text/plain");
      return false;
    }
    fail_next_500 = std::max(0, fail_next_500.load());
    if (gated) {
      r.status = 403;
      r.set_header("X-Error-Code", "GatedRepo");
      r.set_header("X-Error-Message", "Access to model owner/model is restricted.");
      return false;
    }
    if (!token.empty() && q.get_header_value("Authorization") != "Bearer " + token) {
      r.status = 401;
      r.set_header("X-Error-Code", "RepoNotFound");
      return false;
    }
    if (repo_seen != repo || type_seen != repo_type) {
      r.status = 404;
      r.set_header("X-Error-Code", "RepoNotFound");
      r.set_content("Repository Not Found", "text/plain");
      return false;
    }
    return true;
  }

  bool revision_ok(const std::string& rev, httplib::Response& r) {
    if (rev == "main" || rev == commit) return true;
    r.status = 404;
    r.set_header("X-Error-Code", "RevisionNotFound");
    r.set_content("Invalid rev id: " + rev, "text/plain");
    return false;
  }

  void listing(const httplib::Request& q, httplib::Response& r) {
    record(q, "hub");
    if (!admitted(q, r, q.matches[2], q.matches[1]) || !revision_ok(q.matches[3], r)) return;
    json siblings = json::array();
    for (auto& [path, f] : files) {
      json s = {{"rfilename", path}, {"size", f.content.size()}};
      if (short_sizes) s["size"] = f.content.size() - 10;
      if (no_sizes) {
        s.erase("size");
      } else if (f.lfs) {
        std::string sha = wrong_sha ? std::string(64, 'e') : sha256_of(f.content);
        s["blobId"] = std::string(40, 'b');  // the pointer file's blob, not the content's
        s["lfs"] = {{"sha256", sha}, {"size", f.content.size()}, {"pointerSize", 134}};
      } else {
        s["blobId"] = git_blob_id(f.content);
      }
      siblings.push_back(s);
    }
    for (const std::string& p : hostile_paths) siblings.push_back({{"rfilename", p}, {"size", 1}});
    r.set_content(json({{"id", repo}, {"sha", commit}, {"siblings", siblings}}).dump(),
                  "application/json");
  }

  void resolve(const httplib::Request& q, httplib::Response& r) {
    record(q, "hub");
    std::string type = q.matches[1].length() ? "datasets" : "models";
    if (!admitted(q, r, q.matches[2], type) || !revision_ok(q.matches[3], r)) return;
    std::string path = q.matches[4];
    auto it = files.find(path);
    if (it == files.end() || missing.count(path)) {
      r.status = 404;
      r.set_header("X-Error-Code", "EntryNotFound");
      r.set_content("Entry not found", "text/plain");
      return;
    }
    r.set_header("X-Repo-Commit", commit);
    const MockFile& f = it->second;
    if (f.lfs) {
      std::string sha = sha256_of(f.content);
      r.set_header("X-Linked-Size", std::to_string(f.content.size()));
      r.set_header("X-Linked-Etag", "\"" + sha + "\"");
      r.set_redirect(fmt::format("http://127.0.0.1:{}/blobs/{}", cdn_port, sha), 302);
      return;
    }
    r.set_header("ETag", "\"" + git_blob_id(f.content) + "\"");
    serve(q, r, f.content);
  }

  // The content from the Range's start (206), all of it (200), or 416 past the end.
  void serve(const httplib::Request& q, httplib::Response& r, const std::string& content) {
    // httplib would slice the body for a Range itself (and answer 206 where the Hub
    // answers 416); the mock answers the Range on its own, as the Hub does.
    const_cast<httplib::Request&>(q).ranges.clear();
    size_t from = 0;
    std::string range = q.get_header_value("Range");
    if (!range.empty() && !ignore_range) {
      from = std::stoull(range.substr(6));  // "bytes=N-"
      if (from >= content.size()) {
        r.status = 416;
        r.set_header("Content-Range", fmt::format("bytes */{}", content.size()));
        return;
      }
      r.status = 206;
      r.set_header("Content-Range",
                   fmt::format("bytes {}-{}/{}", from, content.size() - 1, content.size()));
    } else {
      r.status = 200;
    }
    auto body = std::make_shared<std::string>(content.substr(from));
    bool cut = cut_next.fetch_sub(1) > 0;
    cut_next = std::max(0, cut_next.load());
    bool stalls = stall;
    r.set_content_provider(
        body->size(), "application/octet-stream",
        [this, body, cut, stalls](size_t offset, size_t length, httplib::DataSink& sink) {
          if (cut || stalls) {  // half, then the connection drops or stalls
            sink.write(body->data(), body->size() / 2);
            for (int i = 0; stalls && !stopping_ && i < 100; ++i)
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
            return false;
          }
          sink.write(body->data() + offset, std::min<size_t>(length, 65536));
          return true;
        });
  }

  httplib::Server hub_, cdn_;
  std::thread hub_thread_, cdn_thread_;
  std::mutex mu_;
  std::vector<std::string> log_;
  std::atomic<bool> stopping_{false};
};

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("NO_PROXY", "127.0.0.1", 1);
    hub.files["config.json"] = {R"({"model_type": "gpt2", "n_layer": 2})", false};
    hub.files["model.safetensors"] = {random_bytes(300000, 1), true};
    hub.files["sub/tokenizer.json"] = {random_bytes(5000, 2), false};
    opt.endpoint = hub.endpoint();
    opt.token = "";
    opt.retry_backoff_s = 0.01;
    opt.timeout_s = 5;
    opt.progress = [this](const DownloadProgress& p) { events.push_back(p); };
  }

  // Each of `paths` in `root` holds the repository's content; no .incomplete is left.
  void expect_pulled(const std::vector<std::string>& paths, fs::path root = {}) {
    if (root.empty()) root = dir.path;
    for (const std::string& p : paths) EXPECT_EQ(read_all(root / p), hub.files[p].content) << p;
    for (auto& e : fs::recursive_directory_iterator(root))
      EXPECT_NE(e.path().extension(), ".incomplete") << "left " << e.path();
  }

  bool has_event(DownloadProgress::Event e) const {
    for (const DownloadProgress& p : events)
      if (p.event == e) return true;
    return false;
  }

  MockHub hub;
  HubOptions opt;
  TempDir dir;
  std::vector<DownloadProgress> events;
};

TEST_F(HubTest, PullsEveryFileAndRecordsThem) {
  hub.token = "hf_secret";
  opt.token = "hf_secret";
  PullResult r = pull_repo("owner/model", dir.path / "out", opt);
  EXPECT_EQ(r.commit, hub.commit);
  EXPECT_EQ(r.downloaded, 3);
  EXPECT_EQ(r.skipped, 0);
  EXPECT_EQ(r.bytes_downloaded, int64_t(300000 + 5000 + hub.files["config.json"].content.size()));
  expect_pulled({"config.json", "model.safetensors", "sub/tokenizer.json"}, dir.path / "out");

  json rec = json::parse(read_all(dir.path / "out/.ilm-pull.json"));
  EXPECT_EQ(rec["repo"], "owner/model");
  EXPECT_EQ(rec["commit"], hub.commit);
  EXPECT_EQ(rec["revision"], "main");
  ASSERT_EQ(rec["files"].size(), 3u);
  EXPECT_EQ(rec["files"][1]["path"], "model.safetensors");
  EXPECT_EQ(rec["files"][1]["size"], 300000);
  EXPECT_EQ(rec["files"][1]["sha256"], sha256_of(hub.files["model.safetensors"].content));
  EXPECT_EQ(rec["files"][0]["blob_id"], git_blob_id(hub.files["config.json"].content));

  // Files are fetched at the listed commit, not at the moving branch; the token goes to
  // the Hub but not to the CDN it redirects to.
  EXPECT_EQ(hub.count("/resolve/" + hub.commit + "/"), 3);
  EXPECT_EQ(hub.count("/resolve/main/"), 0);
  EXPECT_EQ(hub.count("cdn /blobs/"), 1);
  EXPECT_EQ(hub.count("auth=Bearer hf_secret"), 4);  // listing + three resolves
  EXPECT_TRUE(has_event(DownloadProgress::Event::listed));
  EXPECT_TRUE(has_event(DownloadProgress::Event::bytes));
  EXPECT_EQ(events.back().event, DownloadProgress::Event::finished);
  EXPECT_EQ(events.back().files_done, 3);
  EXPECT_EQ(events.back().bytes_done, events.back().bytes_total);
}

TEST_F(HubTest, GitBlobIdKnownAnswer) {  // `printf 'hello\n' | git hash-object --stdin`
  EXPECT_EQ(git_blob_id("hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
  hub.files = {{"hello.txt", {"hello\n", false}}};
  pull_repo("owner/model", dir.path, opt);
  EXPECT_EQ(read_all(dir.path / "hello.txt"), "hello\n");
}

TEST_F(HubTest, RerunSkipsVerifiedFiles) {
  pull_repo("owner/model", dir.path, opt);
  size_t requests = hub.log().size();
  PullResult again = pull_repo("owner/model", dir.path, opt);
  EXPECT_EQ(again.downloaded, 0);
  EXPECT_EQ(again.skipped, 3);
  EXPECT_EQ(hub.log().size(), requests + 1);  // the listing only
  EXPECT_TRUE(has_event(DownloadProgress::Event::skipped));

  // Without the record, files are checked by hash; a changed file is fetched again.
  fs::remove(dir.path / ".ilm-pull.json");
  std::string bad = hub.files["sub/tokenizer.json"].content;
  bad[10] ^= 1;
  write_file_atomic(dir.path / "sub/tokenizer.json", bad);
  PullResult third = pull_repo("owner/model", dir.path, opt);
  EXPECT_EQ(third.downloaded, 1);
  EXPECT_EQ(third.skipped, 2);
  expect_pulled({"config.json", "model.safetensors", "sub/tokenizer.json"});
}

TEST_F(HubTest, ResumesAPartialFileWithRange) {
  const std::string& blob = hub.files["model.safetensors"].content;
  write_file_atomic(dir.path / "model.safetensors.incomplete", blob.substr(0, 1000));
  PullResult r = pull_repo("owner/model", dir.path, opt);
  EXPECT_EQ(r.bytes_downloaded,
            int64_t(blob.size() - 1000 + 5000 + hub.files["config.json"].content.size()));
  EXPECT_EQ(hub.count("cdn /blobs/" + sha256_of(blob) + " range=bytes=1000-"), 1);
  expect_pulled({"config.json", "model.safetensors", "sub/tokenizer.json"});
}

TEST_F(HubTest, ResumesAfterTheConnectionDrops) {
  hub.cut_next = 1;  // the first file's reply stops halfway
  PullResult r = pull_repo("owner/model", dir.path, opt);
  EXPECT_EQ(r.downloaded, 3);
  EXPECT_TRUE(has_event(DownloadProgress::Event::retrying));
  std::string half = fmt::format("range=bytes={}-", hub.files["config.json"].content.size() / 2);
  EXPECT_EQ(hub.count(half), 1);
  expect_pulled({"config.json", "model.safetensors", "sub/tokenizer.json"});
}

TEST_F(HubTest, RestartsWhenTheServerIgnoresRange) {
  hub.ignore_range = true;
  write_file_atomic(dir.path / "model.safetensors.incomplete",
                    hub.files["model.safetensors"].content.substr(0, 777));
  pull_repo("owner/model", dir.path, opt);
  expect_pulled({"config.json", "model.safetensors", "sub/tokenizer.json"});
}

TEST_F(HubTest, RestartsAStalePartialFileOnce) {
  // A partial file from an older version of the file: resumed, it fails the check, so
  // the file is fetched again from the start.
  write_file_atomic(dir.path / "model.safetensors.incomplete", std::string(5000, 'x'));
  PullResult r = pull_repo("owner/model", dir.path, opt);
  EXPECT_EQ(r.downloaded, 3);
  expect_pulled({"config.json", "model.safetensors", "sub/tokenizer.json"});
}

TEST_F(HubTest, LearnsSizesAndChecksumsFromHeadersWithoutAListing) {
  hub.no_sizes = true;
  pull_repo("owner/model", dir.path, opt);
  expect_pulled({"config.json", "model.safetensors", "sub/tokenizer.json"});
  json rec = json::parse(read_all(dir.path / ".ilm-pull.json"));
  EXPECT_EQ(rec["files"][1]["size"], 300000);  // X-Linked-Size
  EXPECT_EQ(rec["files"][1]["sha256"], sha256_of(hub.files["model.safetensors"].content));
  EXPECT_EQ(rec["files"][0]["blob_id"], git_blob_id(hub.files["config.json"].content));  // ETag

  // A complete .incomplete of unknown size: the server answers 416, the file is checked.
  fs::remove(dir.path / "sub/tokenizer.json");
  write_file_atomic(dir.path / "sub/tokenizer.json.incomplete",
                    hub.files["sub/tokenizer.json"].content);
  PullResult r = pull_repo("owner/model", dir.path, opt);
  EXPECT_EQ(hub.count("tokenizer.json range=bytes=5000-"), 1);
  EXPECT_EQ(r.downloaded, 3);  // without listed sizes nothing counts as already here
  expect_pulled({"config.json", "model.safetensors", "sub/tokenizer.json"});
}

TEST_F(HubTest, AStalledTransferTimesOutAndKeepsThePartialFile) {
  hub.files.erase("model.safetensors");
  hub.files.erase("sub/tokenizer.json");
  hub.files["config.json"].content = random_bytes(100000, 3);
  hub.stall = true;
  opt.timeout_s = 1;
  opt.max_retries = 0;
  std::string e = error_of([&] { pull_repo("owner/model", dir.path, opt); });
  EXPECT_NE(e.find("/resolve/" + hub.commit +
                   "/config.json: timed out (no data for 1 s) after 1 "
                   "tries; run again to resume"),
            std::string::npos)
      << e;
  EXPECT_FALSE(fs::exists(dir.path / "config.json"));
  EXPECT_EQ(fs::file_size(dir.path / "config.json.incomplete"), 50000u);
  EXPECT_FALSE(fs::exists(dir.path / ".ilm-pull.json"));

  hub.stall = false;  // the next run resumes where this one stopped
  pull_repo("owner/model", dir.path, opt);
  EXPECT_EQ(hub.count("config.json range=bytes=50000-"), 1);
  expect_pulled({"config.json"});
}

TEST_F(HubTest, RetriesServerErrors) {
  hub.fail_next_500 = 2;
  pull_repo("owner/model", dir.path, opt);
  expect_pulled({"config.json", "model.safetensors", "sub/tokenizer.json"});
  hub.always_500 = true;
  opt.max_retries = 1;
  std::string e = error_of([&] { pull_repo("owner/model", dir.path / "x", opt); });
  EXPECT_NE(e.find("HTTP 500"), std::string::npos) << e;
  EXPECT_NE(e.find("after 2 tries"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir.path / "x"));
}

TEST_F(HubTest, IncludeAndExcludePatterns) {
  opt.include = {"*.json"};
  opt.exclude = {"sub/*"};
  PullResult r = pull_repo("owner/model", dir.path, opt);
  ASSERT_EQ(r.files.size(), 1u);
  EXPECT_EQ(r.files[0].path, "config.json");
  EXPECT_TRUE(fs::exists(dir.path / "config.json"));
  EXPECT_FALSE(fs::exists(dir.path / "model.safetensors"));
  EXPECT_FALSE(fs::exists(dir.path / "sub"));

  opt.include = {"*.bin"};
  opt.exclude = {};
  std::string e = error_of([&] { pull_repo("owner/model", dir.path / "y", opt); });
  EXPECT_NE(e.find("no file matching"), std::string::npos) << e;
}

TEST_F(HubTest, LeavesOutWeightsInFormatsIlmDoesNotRead) {
  // openai-community/gpt2's layout: the same weights in seven formats.
  const std::vector<std::string> foreign = {
      "pytorch_model.bin", "tf_model.h5",      "flax_model.msgpack", "rust_model.ot",
      "64-8bits.tflite",   "onnx/decoder.onnx", "onnx/config.json"};
  for (const std::string& f : foreign) hub.files[f] = {random_bytes(2000, 7), true};
  const std::vector<std::string> wanted = {"config.json", "model.safetensors", "sub/tokenizer.json"};

  PullResult r = pull_repo("owner/model", dir.path / "a", opt);
  ASSERT_EQ(r.files.size(), wanted.size());
  expect_pulled(wanted, dir.path / "a");
  ASSERT_EQ(r.left_out.size(), foreign.size());
  for (const std::string& f : foreign) EXPECT_FALSE(fs::exists(dir.path / "a" / f)) << f;
  EXPECT_EQ(r.left_out[0].path, "64-8bits.tflite");  // sorted
  EXPECT_EQ(r.left_out[0].size, 2000);
  json rec = json::parse(read_all(dir.path / "a/.ilm-pull.json"));
  EXPECT_EQ(rec["left_out"].size(), foreign.size());

  opt.all_formats = true;  // everything
  r = pull_repo("owner/model", dir.path / "b", opt);
  EXPECT_EQ(r.files.size(), wanted.size() + foreign.size());
  EXPECT_TRUE(r.left_out.empty());
  expect_pulled(foreign, dir.path / "b");

  opt.all_formats = false;  // an include pattern is the user's own choice
  opt.include = {"*.bin", "*.json"};
  r = pull_repo("owner/model", dir.path / "c", opt);
  EXPECT_TRUE(fs::exists(dir.path / "c/pytorch_model.bin"));
  EXPECT_TRUE(r.left_out.empty());

  opt.include = {};  // without safetensors nothing is left out: they are all there is
  hub.files.erase("model.safetensors");
  r = pull_repo("owner/model", dir.path / "d", opt);
  EXPECT_TRUE(fs::exists(dir.path / "d/pytorch_model.bin"));
  EXPECT_TRUE(r.left_out.empty());
}

TEST(HubNames, ForeignWeightFiles) {
  for (const char* p : {"pytorch_model.bin", "pytorch_model-00001-of-00002.bin",
                        "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack",
                        "rust_model.ot", "model.onnx", "onnx/decoder_model.onnx_data",
                        "onnx/config.json", "openvino/openvino_model.xml", "coreml/x/model.mlmodel",
                        "Model.mlpackage/Manifest.json", "original/consolidated.00.pth",
                        "training_args.bin", "64.tflite", "sub/onnx/a.json"})
    EXPECT_TRUE(is_foreign_weights_file(p)) << p;
  for (const char* p : {"model.safetensors", "model-00001-of-00002.safetensors",
                        "model.safetensors.index.json", "config.json", "tokenizer.json",
                        "tokenizer.model", "vocab.txt", "merges.txt", "model-q8_0.gguf",
                        "original/params.json", "README.md", "myonnx/readme.md", "binary.txt"})
    EXPECT_FALSE(is_foreign_weights_file(p)) << p;
}

TEST_F(HubTest, DatasetRepositories) {
  hub.repo = "owner/data";
  hub.repo_type = "datasets";
  opt.repo_type = "dataset";
  pull_repo("owner/data", dir.path, opt);
  expect_pulled({"config.json", "model.safetensors", "sub/tokenizer.json"});
  EXPECT_EQ(hub.count("hub /api/datasets/owner/data/revision/main"), 1);
  EXPECT_EQ(hub.count("hub /datasets/owner/data/resolve/"), 3);
}

TEST_F(HubTest, RefusesHostilePaths) {
  for (std::string p : {"../evil", "/etc/evil", "a/../../evil", "a//b", "./x", "a\\..\\b"}) {
    hub.hostile_paths = {p};
    std::string e = error_of([&] { pull_repo("owner/model", dir.path / "out", opt); });
    EXPECT_NE(e.find("unsafe file path '" + p + "'"), std::string::npos) << e;
  }
  EXPECT_FALSE(fs::exists(dir.path / "evil"));
  EXPECT_FALSE(fs::exists(dir.path / "out"));
}

TEST_F(HubTest, AuthErrorsNameTheRepoAndHfToken) {
  hub.token = "hf_right";
  std::string e = error_of([&] { pull_repo("owner/model", dir.path / "a", opt); });
  EXPECT_NE(e.find("'owner/model'"), std::string::npos) << e;
  EXPECT_NE(e.find("HTTP 401"), std::string::npos) << e;
  EXPECT_NE(e.find("set HF_TOKEN"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir.path / "a"));

  hub.gated = true;
  opt.token = "hf_wrong";
  e = error_of([&] { pull_repo("owner/model", dir.path / "a", opt); });
  EXPECT_NE(e.find("'owner/model' is gated (HTTP 403)"), std::string::npos) << e;
  EXPECT_NE(e.find("HF_TOKEN"), std::string::npos) << e;
  EXPECT_NE(e.find("Access to model owner/model is restricted."), std::string::npos) << e;
}

TEST_F(HubTest, NotFoundErrorsSayWhatIsMissing) {
  std::string e = error_of([&] { pull_repo("owner/nothing", dir.path / "a", opt); });
  EXPECT_NE(e.find("repository 'owner/nothing' not found at " + hub.endpoint()), std::string::npos)
      << e;
  opt.revision = "v9";
  e = error_of([&] { pull_repo("owner/model", dir.path / "a", opt); });
  EXPECT_NE(e.find("revision 'v9' not found in repository 'owner/model'"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir.path / "a"));

  opt.revision = "main";
  hub.missing = {"sub/tokenizer.json"};
  e = error_of([&] { pull_repo("owner/model", dir.path / "a", opt); });
  EXPECT_NE(e.find("file 'sub/tokenizer.json' not found in repository 'owner/model'"),
            std::string::npos)
      << e;
  EXPECT_FALSE(fs::exists(dir.path / "a/sub/tokenizer.json"));
  EXPECT_FALSE(fs::exists(dir.path / "a/sub/tokenizer.json.incomplete"));
  EXPECT_FALSE(fs::exists(dir.path / "a/.ilm-pull.json"));
}

TEST_F(HubTest, ChecksumMismatchRemovesThePartialFile) {
  hub.wrong_sha = true;
  std::string e = error_of([&] { pull_repo("owner/model", dir.path, opt); });
  EXPECT_NE(e.find("file 'model.safetensors'"), std::string::npos) << e;
  EXPECT_NE(e.find("expected " + std::string(64, 'e')), std::string::npos) << e;
  EXPECT_NE(e.find("got " + sha256_of(hub.files["model.safetensors"].content)), std::string::npos)
      << e;
  EXPECT_FALSE(fs::exists(dir.path / "model.safetensors"));
  EXPECT_FALSE(fs::exists(dir.path / "model.safetensors.incomplete"));
  EXPECT_FALSE(fs::exists(dir.path / ".ilm-pull.json"));
}

TEST_F(HubTest, StopsAServerThatSendsMoreThanListed) {
  hub.short_sizes = true;
  std::string e = error_of([&] { pull_repo("owner/model", dir.path, opt); });
  EXPECT_NE(e.find(fmt::format("the server sent more than the {} bytes listed for file "
                               "'config.json'",
                               hub.files["config.json"].content.size() - 10)),
            std::string::npos)
      << e;
  EXPECT_FALSE(fs::exists(dir.path / "config.json"));
  EXPECT_FALSE(fs::exists(dir.path / "config.json.incomplete"));
}

TEST_F(HubTest, UnreachableEndpointIsNamed) {
  // A port that was free a moment ago and has no listener: bound, never listened to.
  int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len);
  int closed_port = ntohs(addr.sin_port);
  opt.endpoint = fmt::format("http://127.0.0.1:{}", closed_port);
  std::string e = error_of([&] { pull_repo("owner/model", dir.path / "a", opt); });
  EXPECT_NE(e.find(fmt::format("cannot reach http://127.0.0.1:{}", closed_port)), std::string::npos)
      << e;
  EXPECT_NE(e.find("HF_ENDPOINT"), std::string::npos) << e;
  ::close(sock);

  opt.endpoint = "ftp://127.0.0.1/";
  e = error_of([&] { pull_repo("owner/model", dir.path / "a", opt); });
  EXPECT_NE(e.find("hub endpoint 'ftp://127.0.0.1/'"), std::string::npos) << e;
  EXPECT_FALSE(fs::exists(dir.path / "a"));
}

TEST(HubNames, RepoIds) {
  validate_repo_id("openai-community/gpt2");
  validate_repo_id("gpt2");
  validate_repo_id("Org_1/model.v2-x");
  for (std::string bad : {"", "a/b/c", "/gpt2", "a/", "a/..", "../x", "a/b c", "a/-b", "a/b.",
                          "a/b..c", "a/b?x", "a/%2e"}) {
    std::string e = error_of([&] { validate_repo_id(bad); });
    EXPECT_NE(e.find("invalid repository id '" + bad + "'"), std::string::npos) << e;
  }
}

TEST(HubNames, RepoPaths) {
  validate_repo_path("config.json");
  validate_repo_path("a/b/c.bin");
  validate_repo_path(".gitattributes");
  validate_repo_path("dir/..hidden");
  for (const std::string& bad :
       std::vector<std::string>{"", "/a", "..", "a/..", "a/./b", "a//b", "a/", "a\\b",
                                std::string("a\nb"), std::string("a\0b", 3)})
    EXPECT_NE(error_of([&] { validate_repo_path(bad); }).find("unsafe file path"),
              std::string::npos)
        << bad;
}

TEST(HubEnv, TokenAndEndpointFromTheEnvironment) {
  TempDir dir;
  write_file_atomic(dir.path / "token", "hf_from_file\n");
  setenv("HF_TOKEN_PATH", (dir.path / "token").c_str(), 1);
  unsetenv("HF_TOKEN");
  EXPECT_EQ(hub_token_from_env(), "hf_from_file");
  setenv("HF_TOKEN", "hf_from_env", 1);
  EXPECT_EQ(hub_token_from_env(), "hf_from_env");
  EXPECT_EQ(HubOptions().token, "hf_from_env");
  unsetenv("HF_TOKEN");
  unsetenv("HF_TOKEN_PATH");
  setenv("HF_HOME", dir.path.c_str(), 1);
  EXPECT_EQ(hub_token_from_env(), "hf_from_file");
  unsetenv("HF_HOME");

  setenv("HF_ENDPOINT", "http://127.0.0.1:9", 1);
  EXPECT_EQ(HubOptions().endpoint, "http://127.0.0.1:9");
  unsetenv("HF_ENDPOINT");
  EXPECT_EQ(hub_endpoint_from_env(), kDefaultHubEndpoint);
}

}  // namespace
}  // namespace ilm
