#include "ilm/data/label_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <utility>

#include "ilm/core/error.h"
#include "ilm/io/file.h"

namespace ilm {

namespace {

using ordered_json = nlohmann::ordered_json;
using nlohmann::json;

// Per input line.
enum LineStatus : uint8_t { kNotRecord, kUnlabeled, kLabeled };

constexpr size_t kMaxProblemsShown = 100;

// The line without a trailing '\r' (files written on Windows).
std::string_view chomp(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

std::string dump(const ordered_json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string error_json(const std::string& message) {
  return dump(json{{"error", message}});
}

// Writes all of `data` at the end of `fd` and fsyncs; throws ilm::Error naming `path`.
void append_durably(int fd, const std::filesystem::path& path, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("{}: write failed: {}", path.string(), std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) fail("{}: fsync failed: {}", path.string(), std::strerror(errno));
}

}  // namespace

struct LabelServer::State {
  LabelOptions opt;

  mutable std::mutex mu;          // guards the index, the counts, the files and the undo stack
  std::vector<uint64_t> offsets;  // byte offset of each input line; line L is offsets[L-1]
  std::vector<uint8_t> status;    // LineStatus of each input line
  size_t total = 0, labeled = 0;
  std::vector<std::pair<int64_t, std::string>> problems;  // the first kMaxProblemsShown
  size_t problem_count = 0;
  std::vector<std::string> warnings;
  mutable std::ifstream input;
  int out_fd = -1;
  uint64_t out_size = 0;            // bytes of complete lines in the output
  std::vector<int64_t> undo_stack;  // lines labeled by this server, most recent last

  httplib::Server server;
  std::thread thread;
  std::mutex join_mu;  // stop() may be called from several threads
  std::mutex stop_mu;
  std::condition_variable stopped_cv;
  bool stopped = false;
  std::atomic<bool> listen_returned{false};
  int port = -1;

  // The input line `line` (1-based), read from the file; the index keeps only offsets.
  std::string read_line(int64_t line) const {
    input.clear();
    input.seekg(static_cast<std::streamoff>(offsets[static_cast<size_t>(line - 1)]));
    std::string s;
    std::getline(input, s);
    ILM_CHECK(!input.bad(), "{}: cannot read line {}", opt.input.string(), line);
    return std::string(chomp(s));
  }

  // {"line": L, "text": ..., "record": {...}}: what the page shows.
  ordered_json record_json(int64_t line) const {
    ordered_json record = ordered_json::parse(read_line(line));
    ordered_json out;
    out["line"] = line;
    out["text"] = record[opt.text_field];
    out["record"] = std::move(record);
    return out;
  }

  // The first unlabeled line after `after`, wrapping around to the start; 0 when none.
  int64_t next_unlabeled(int64_t after) const {
    const int64_t n = static_cast<int64_t>(status.size());
    after = std::clamp<int64_t>(after, 0, n);
    for (int64_t i = after; i < n; ++i)
      if (status[static_cast<size_t>(i)] == kUnlabeled) return i + 1;
    for (int64_t i = 0; i < after; ++i)
      if (status[static_cast<size_t>(i)] == kUnlabeled) return i + 1;
    return 0;
  }

  LabelProgress progress() const {
    LabelProgress p;
    p.total = total;
    p.labeled = labeled;
    p.remaining = total - labeled;
    p.problems = problem_count;
    return p;
  }

  json progress_json() const {
    json problem_list = json::array();
    for (const auto& [line, message] : problems)
      problem_list.push_back({{"line", line}, {"error", message}});
    return {{"done", labeled},
            {"total", total},
            {"remaining", total - labeled},
            {"labels", opt.labels},
            {"text_field", opt.text_field},
            {"problems", problem_list},
            {"problem_count", problem_count}};
  }

  // {"record": {...} or null, "progress": {...}}.
  std::string next_response(int64_t after) const {
    int64_t line = next_unlabeled(after);
    ordered_json out;
    out["record"] = line ? record_json(line) : ordered_json(nullptr);
    out["progress"] = ordered_json::parse(dump(progress_json()));
    return dump(out);
  }

  // Appends one line to the output; on failure the output is cut back to its complete lines.
  void append_output(const std::string& line) {
    try {
      append_durably(out_fd, opt.output, line + "\n");
    } catch (const Error&) {
      if (::ftruncate(out_fd, static_cast<off_t>(out_size)) != 0) { /* the next start cuts it */
      }
      throw;
    }
    out_size += line.size() + 1;
  }

  void set_status(int64_t line, bool is_labeled) {
    uint8_t& s = status[static_cast<size_t>(line - 1)];
    if (s == kLabeled && !is_labeled) --labeled;
    if (s == kUnlabeled && is_labeled) ++labeled;
    s = is_labeled ? kLabeled : kUnlabeled;
  }

  void index_input();
  void read_output();
};

// One pass over the input: the offset of every line, and whether it is a record (a JSON object
// with a string `text_field`). Nothing else is kept.
void LabelServer::State::index_input() {
  std::ifstream in(opt.input, std::ios::binary);
  if (!in) fail("cannot open input {}: {}", opt.input.string(), std::strerror(errno));
  std::string line;
  uint64_t offset = 0;
  while (std::getline(in, line)) {
    offsets.push_back(offset);
    offset += line.size() + 1;
    const int64_t number = static_cast<int64_t>(offsets.size());
    std::string_view text = chomp(line);
    if (is_blank(text)) {
      status.push_back(kNotRecord);
      continue;
    }
    std::string problem;
    json record = json::parse(text, nullptr, false);
    if (record.is_discarded()) {
      problem = "not valid JSON";
    } else if (!record.is_object()) {
      problem = "not a JSON object";
    } else if (!record.contains(opt.text_field) || !record[opt.text_field].is_string()) {
      problem = fmt::format("no string field \"{}\"", opt.text_field);
    }
    if (!problem.empty()) {
      status.push_back(kNotRecord);
      if (problems.size() < kMaxProblemsShown) problems.emplace_back(number, problem);
      ++problem_count;
      continue;
    }
    status.push_back(kUnlabeled);
    ++total;
  }
  ILM_CHECK(!in.bad(), "{}: read failed", opt.input.string());
}

// Replays the labels written so far (the last line for a _line wins) and cuts away a torn last
// line: one without its newline, or one that is not JSON, as a crash mid-write leaves it.
void LabelServer::State::read_output() {
  std::error_code ec;
  if (!std::filesystem::exists(opt.output, ec)) return;
  ILM_CHECK(!std::filesystem::is_directory(opt.output, ec), "output {} is a folder, not a file",
            opt.output.string());
  std::ifstream in(opt.output, std::ios::binary);
  if (!in) fail("cannot read output {}: {}", opt.output.string(), std::strerror(errno));
  std::string line;
  uint64_t offset = 0, line_number = 0;
  std::optional<uint64_t> torn_at;
  while (std::getline(in, line)) {
    ++line_number;
    const uint64_t start = offset;
    const bool complete = !in.eof();  // getline stopped at a newline
    offset += line.size() + (complete ? 1 : 0);
    std::string_view text = chomp(line);
    if (is_blank(text) && complete) continue;
    json j = json::parse(text, nullptr, false);
    const bool is_last = in.peek() == std::char_traits<char>::eof();
    if (!complete || (j.is_discarded() && is_last)) {
      torn_at = start;
      warnings.push_back(fmt::format(
          "{} line {}: an incomplete last line (an interrupted write) was removed: {:.60}",
          opt.output.string(), line_number, std::string(text)));
      break;
    }
    const std::string where = fmt::format("{} line {}", opt.output.string(), line_number);
    ILM_CHECK(!j.is_discarded() && j.is_object(), "{}: not a JSON object; fix or remove the line",
              where);
    ILM_CHECK(j.contains("_line") && j["_line"].is_number_integer(),
              "{}: no integer \"_line\" (is this a file written by `ilm data label`?)", where);
    ILM_CHECK(j.contains("label") && (j["label"].is_string() || j["label"].is_null()),
              "{}: \"label\" must be a string or null", where);
    const int64_t input_line = j["_line"].get<int64_t>();
    ILM_CHECK(input_line >= 1 && input_line <= static_cast<int64_t>(status.size()) &&
                  status[static_cast<size_t>(input_line - 1)] != kNotRecord,
              "{}: _line {} is not a record of {} (was this output written for another input?)",
              where, input_line, opt.input.string());
    set_status(input_line, j["label"].is_string());
  }
  ILM_CHECK(!in.bad(), "{}: read failed", opt.output.string());
  in.close();
  if (torn_at) {
    std::filesystem::resize_file(opt.output, *torn_at, ec);
    ILM_CHECK(!ec, "{}: cannot remove the incomplete last line: {}", opt.output.string(),
              ec.message());
  }
}

LabelServer::LabelServer(LabelOptions options) : state_(std::make_unique<State>()) {
  auto& o = options;
  ILM_CHECK(o.host == "127.0.0.1",
            "host {}: the labeling page serves only 127.0.0.1 (this machine)", o.host);
  ILM_CHECK(!o.labels.empty(), "no labels given: expected 1 to 9 names (--labels a,b,c)");
  ILM_CHECK(o.labels.size() <= 9, "{} labels given: at most 9 (one per key 1..9)", o.labels.size());
  std::set<std::string> seen;
  for (const auto& label : o.labels) {
    ILM_CHECK(!label.empty(), "an empty label name in --labels");
    ILM_CHECK(seen.insert(label).second, "label \"{}\" is given twice", label);
  }
  ILM_CHECK(!o.text_field.empty(), "the text field name is empty");
  ILM_CHECK(o.port >= 0 && o.port <= 65535, "port {}: expected 0 (any free port) to 65535", o.port);
  ILM_CHECK(!o.input.empty(), "no input file given");
  ILM_CHECK(!o.output.empty(), "no output file given");
  state_->opt = std::move(options);
}

LabelServer::~LabelServer() {
  stop();
  if (state_->out_fd >= 0) ::close(state_->out_fd);
}

void LabelServer::start() {
  State& s = *state_;
  ILM_CHECK(s.port < 0, "the label server is already started");
  std::error_code ec;
  ILM_CHECK(std::filesystem::exists(s.opt.input, ec), "input {} does not exist",
            s.opt.input.string());
  ILM_CHECK(std::filesystem::is_regular_file(s.opt.input, ec), "input {} is not a file",
            s.opt.input.string());
  std::filesystem::path in_abs = std::filesystem::weakly_canonical(s.opt.input, ec);
  std::filesystem::path out_abs = std::filesystem::weakly_canonical(s.opt.output, ec);
  ILM_CHECK(in_abs != out_abs, "the output {} is the input file", s.opt.output.string());
  s.index_input();
  s.read_output();
  s.out_fd = ::open(s.opt.output.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (s.out_fd < 0)
    fail("cannot open output {} for appending: {}", s.opt.output.string(), std::strerror(errno));
  s.out_size = static_cast<uint64_t>(::lseek(s.out_fd, 0, SEEK_END));
  s.input.open(s.opt.input, std::ios::binary);
  ILM_CHECK(s.input.is_open(), "cannot open input {}", s.opt.input.string());

  auto& server = s.server;
  // A page on another site can make the browser send requests here: accept only requests
  // addressed to this host (no DNS rebinding) and JSON POSTs (no plain form posts).
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const std::string host = req.get_header_value("Host");
    const std::string port = std::to_string(state_->port);
    if (host != "127.0.0.1:" + port && host != "localhost:" + port) {
      res.status = 403;
      res.set_content(error_json("requests must be addressed to 127.0.0.1:" + port),
                      "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (req.method == "POST" &&
        req.get_header_value("Content-Type").rfind("application/json", 0) != 0) {
      res.status = 415;
      res.set_content(error_json("POST bodies must be application/json"), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string message = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          message = e.what();
        } catch (...) {
        }
        res.status = 500;
        res.set_content(error_json(message), "application/json");
      });
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty())
      res.set_content(error_json(fmt::format("{} {}: no such page", req.method, req.path)),
                      "application/json");
  });
  auto send = [](httplib::Response& res, int status, const std::string& body) {
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_content(body, "application/json");
  };
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(label_page_html(), "text/html; charset=utf-8");
  });
  server.Get("/api/next", [this, send](const httplib::Request& req, httplib::Response& res) {
    int status = 200;
    int64_t after = 0;
    if (req.has_param("after")) {
      const std::string v = req.get_param_value("after");
      char* end = nullptr;
      after = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0') {
        send(res, 400, error_json("after=" + v + ": expected a line number"));
        return;
      }
    }
    std::string body = api_next(after, status);
    send(res, status, body);
  });
  server.Get("/api/progress", [this, send](const httplib::Request&, httplib::Response& res) {
    int status = 200;
    std::string body = api_progress(status);
    send(res, status, body);
  });
  server.Post("/api/label", [this, send](const httplib::Request& req, httplib::Response& res) {
    int status = 200;
    std::string body = api_label(req.body, status);
    send(res, status, body);
  });
  server.Post("/api/undo", [this, send](const httplib::Request&, httplib::Response& res) {
    int status = 200;
    std::string body = api_undo(status);
    send(res, status, body);
  });
  server.set_payload_max_length(1 << 20);
  // stop() waits for idle keep-alive connections to time out: keep that short.
  server.set_keep_alive_timeout(1);

  s.port = s.opt.port == 0 ? server.bind_to_any_port(s.opt.host)
                           : (server.bind_to_port(s.opt.host, s.opt.port) ? s.opt.port : -1);
  if (s.port <= 0) {
    s.port = -1;
    fail("cannot listen on {}:{} (in use? try --port 0 for any free port)", s.opt.host, s.opt.port);
  }
  s.thread = std::thread([&s] {
    s.server.listen_after_bind();
    s.listen_returned = true;
    std::lock_guard<std::mutex> lock(s.stop_mu);
    s.stopped = true;
    s.stopped_cv.notify_all();
  });
  // stop() before the server runs would be lost: wait until it listens.
  while (!s.server.is_running() && !s.listen_returned)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

int LabelServer::port() const {
  return state_->port;
}

std::string LabelServer::url() const {
  return fmt::format("http://{}:{}/", state_->opt.host, state_->port);
}

void LabelServer::wait() {
  if (state_->port < 0) return;  // never started
  std::unique_lock<std::mutex> lock(state_->stop_mu);
  state_->stopped_cv.wait(lock, [this] { return state_->stopped; });
}

void LabelServer::stop() {
  State& s = *state_;
  if (s.port < 0) return;
  s.server.stop();  // closes the socket; requests in progress finish (the pool is joined)
  std::lock_guard<std::mutex> lock(s.join_mu);
  if (s.thread.joinable()) s.thread.join();
}

LabelProgress LabelServer::progress() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->progress();
}

std::vector<std::string> LabelServer::warnings() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->warnings;
}

std::string LabelServer::api_next(int64_t after_line, int& status) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  status = 200;
  return state_->next_response(after_line);
}

std::string LabelServer::api_progress(int& status) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  status = 200;
  return dump(state_->progress_json());
}

std::string LabelServer::api_label(const std::string& body, int& status) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  status = 400;
  json request = json::parse(body, nullptr, false);
  if (request.is_discarded() || !request.is_object())
    return error_json("the body must be a JSON object {\"line\": N, \"label\": \"name\"}");
  if (!request.contains("line") || !request["line"].is_number_integer())
    return error_json("\"line\" must be an integer (the record's input line)");
  if (!request.contains("label") || !request["label"].is_string())
    return error_json("\"label\" must be a string");
  const int64_t line = request["line"].get<int64_t>();
  const std::string label = request["label"].get<std::string>();
  if (std::find(s.opt.labels.begin(), s.opt.labels.end(), label) == s.opt.labels.end()) {
    std::string names;
    for (const auto& l : s.opt.labels) names += (names.empty() ? "" : ", ") + l;
    return error_json(fmt::format("label \"{}\" is not one of: {}", label, names));
  }
  const int64_t n = static_cast<int64_t>(s.status.size());
  if (line < 1 || line > n)
    return error_json(fmt::format("line {} is out of range 1..{}", line, n));
  if (s.status[static_cast<size_t>(line - 1)] == kNotRecord)
    return error_json(fmt::format("line {} is not a record (a blank or malformed line)", line));

  ordered_json record = ordered_json::parse(s.read_line(line));
  record["label"] = label;
  record["_line"] = line;
  s.append_output(dump(record));  // throws before any state changes when the write fails
  s.set_status(line, true);
  s.undo_stack.push_back(line);
  status = 200;
  ordered_json out = ordered_json::parse(s.next_response(line));
  out["ok"] = true;
  return dump(out);
}

std::string LabelServer::api_undo(int& status) {
  State& s = *state_;
  std::lock_guard<std::mutex> lock(s.mu);
  // Skip lines whose label a later undo already took back.
  while (!s.undo_stack.empty() &&
         s.status[static_cast<size_t>(s.undo_stack.back() - 1)] != kLabeled)
    s.undo_stack.pop_back();
  if (s.undo_stack.empty()) {
    status = 400;
    return error_json("nothing to undo: no label was given since the server started");
  }
  const int64_t line = s.undo_stack.back();
  ordered_json retraction;
  retraction["_line"] = line;
  retraction["label"] = nullptr;
  s.append_output(dump(retraction));
  s.undo_stack.pop_back();
  s.set_status(line, false);
  status = 200;
  ordered_json out;
  out["record"] = s.record_json(line);
  out["progress"] = ordered_json::parse(dump(s.progress_json()));
  return dump(out);
}

size_t collapse_labels(const std::filesystem::path& labels_path,
                       const std::filesystem::path& final_path) {
  std::ifstream in(labels_path, std::ios::binary);
  if (!in) fail("cannot open labels file {}: {}", labels_path.string(), std::strerror(errno));
  // _line -> offset of its last line in the labels file (or none when the last one is null).
  std::map<int64_t, std::optional<uint64_t>> last;
  std::string line;
  uint64_t offset = 0, line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    const uint64_t start = offset;
    const bool complete = !in.eof();
    offset += line.size() + (complete ? 1 : 0);
    std::string_view text = chomp(line);
    if (is_blank(text)) continue;
    json j = json::parse(text, nullptr, false);
    const bool is_last = in.peek() == std::char_traits<char>::eof();
    if (!complete || (j.is_discarded() && is_last)) break;  // torn by an interrupted write
    const std::string where = fmt::format("{} line {}", labels_path.string(), line_number);
    ILM_CHECK(!j.is_discarded() && j.is_object() && j.contains("_line") &&
                  j["_line"].is_number_integer() && j.contains("label") &&
                  (j["label"].is_string() || j["label"].is_null()),
              "{}: not a label record (a JSON object with integer \"_line\" and \"label\")", where);
    last[j["_line"].get<int64_t>()] =
        j["label"].is_null() ? std::nullopt : std::optional<uint64_t>(start);
  }
  ILM_CHECK(!in.bad(), "{}: read failed", labels_path.string());
  AtomicWriter out(final_path);
  size_t written = 0;
  for (const auto& [input_line, where] : last) {
    if (!where) continue;
    in.clear();
    in.seekg(static_cast<std::streamoff>(*where));
    std::getline(in, line);
    ordered_json record = ordered_json::parse(chomp(line));
    record.erase("_line");
    out.write(dump(record));
    out.write("\n");
    ++written;
  }
  out.commit();
  return written;
}

}  // namespace ilm
