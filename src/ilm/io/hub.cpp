// Hub download: the HTTP layer (libcurl, redirects followed by hand so that the
// token only goes to the endpoint's own origin), the file listing, resumable
// downloads with retries, and verification of size, sha256 and git blob id.
#include "ilm/io/hub.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "ilm/core/error.h"
#include "ilm/io/file.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ilm {

// ---------------------------------------------------------------- environment

std::string hub_endpoint_from_env() {
  const char* e = std::getenv("HF_ENDPOINT");
  return e && *e ? std::string(e) : std::string(kDefaultHubEndpoint);
}

std::string hub_token_from_env() {
  if (const char* t = std::getenv("HF_TOKEN"); t && *t) return t;
  fs::path file;
  if (const char* p = std::getenv("HF_TOKEN_PATH"); p && *p) {
    file = p;
  } else if (const char* h = std::getenv("HF_HOME"); h && *h) {
    file = fs::path(h) / "token";
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    file = fs::path(x) / "huggingface" / "token";
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    file = fs::path(home) / ".cache" / "huggingface" / "token";
  } else {
    return "";
  }
  std::ifstream in(file);
  std::string line;
  if (!in || !std::getline(in, line)) return "";
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

// ---------------------------------------------------------------- validation

void validate_repo_id(const std::string& repo_id) {
  auto bad = [&](const char* why) {
    fail("invalid repository id '{}': {} (expected 'owner/name' of letters, digits, '-', '_', '.')",
         repo_id, why);
  };
  if (repo_id.empty() || repo_id.size() > 200) bad("empty or too long");
  size_t slash = repo_id.find('/');
  if (slash != std::string::npos && repo_id.find('/', slash + 1) != std::string::npos)
    bad("more than one '/'");
  auto check_part = [&](std::string_view part) {
    if (part.empty()) bad("an empty part");
    for (char c : part)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
        bad("a character outside [A-Za-z0-9-_.]");
    if (part.front() == '-' || part.front() == '.' || part.back() == '-' || part.back() == '.')
      bad("a part starts or ends with '-' or '.'");
    if (part.find("..") != std::string_view::npos) bad("'..' inside");
  };
  std::string_view id = repo_id;
  if (slash == std::string::npos) {
    check_part(id);
  } else {
    check_part(id.substr(0, slash));
    check_part(id.substr(slash + 1));
  }
}

void validate_repo_path(const std::string& path) {
  auto bad = [&](const char* why) { fail("unsafe file path '{}' from the server: {}", path, why); };
  if (path.empty()) bad("empty");
  if (path.size() > 4096) bad("too long");
  if (path.front() == '/') bad("absolute");
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) bad("a control character");
    if (c == '\\') bad("a backslash");
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    if (part.empty()) bad("an empty part");
    if (part == "." || part == "..") bad("a '.' or '..' part");
    start = end + 1;
  }
}

// ---------------------------------------------------------------- hashing

namespace {

struct Digest {
  EVP_MD_CTX* ctx;
  explicit Digest(const EVP_MD* md) : ctx(EVP_MD_CTX_new()) {
    if (!ctx || EVP_DigestInit_ex(ctx, md, nullptr) != 1) fail("cannot start a digest (OpenSSL)");
  }
  ~Digest() { EVP_MD_CTX_free(ctx); }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void update(const void* p, size_t n) { EVP_DigestUpdate(ctx, p, n); }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx, out, &n);
    std::string s;
    for (unsigned int i = 0; i < n; ++i) s += fmt::format("{:02x}", out[i]);
    return s;
  }
};

// Reads `path` once into each digest given; the git blob id hashes "blob SIZE\0" first.
void hash_file(const fs::path& path, Digest* sha256, Digest* git_sha1, int64_t size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("{}: cannot open to verify: {}", path.string(), std::strerror(errno));
  if (git_sha1) {
    std::string header = fmt::format("blob {}", size);
    git_sha1->update(header.data(), header.size() + 1);  // with its '\0'
  }
  std::vector<char> buf(size_t(1) << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      fail("{}: read failed: {}", path.string(), std::strerror(e));
    }
    if (n == 0) break;
    if (sha256) sha256->update(buf.data(), size_t(n));
    if (git_sha1) git_sha1->update(buf.data(), size_t(n));
  }
  ::close(fd);
}

bool is_hex(const std::string& s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isxdigit(static_cast<unsigned char>(c)) != 0;
         });
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "" when `file` on disk matches what `want` lists (size, sha256, blob id), else what differs.
std::string mismatch(const fs::path& file, const HubFile& want) {
  std::error_code ec;
  int64_t size = int64_t(fs::file_size(file, ec));
  if (ec) return fmt::format("cannot read its size: {}", ec.message());
  if (want.size >= 0 && size != want.size)
    return fmt::format("size mismatch: expected {} bytes, got {}", want.size, size);
  std::unique_ptr<Digest> sha256, sha1;
  if (!want.sha256.empty()) sha256 = std::make_unique<Digest>(EVP_sha256());
  if (!want.blob_id.empty()) sha1 = std::make_unique<Digest>(EVP_sha1());
  if (!sha256 && !sha1) return "";
  hash_file(file, sha256.get(), sha1.get(), size);
  if (sha256) {
    std::string got = sha256->hex();
    if (got != lower(want.sha256))
      return fmt::format("sha256 mismatch: expected {}, got {}", lower(want.sha256), got);
  }
  if (sha1) {
    std::string got = sha1->hex();
    if (got != lower(want.blob_id))
      return fmt::format("git blob id mismatch: expected {}, got {}", lower(want.blob_id), got);
  }
  return "";
}

}  // namespace

// ---------------------------------------------------------------- HTTP

namespace {

using Headers = std::map<std::string, std::string>;  // lowercase names

struct HttpReply {
  long status = 0;
  Headers first, last;  // headers of the first hop (the Hub's) and of the final one
  std::string body;     // a non-2xx body (capped), or a 2xx body when there is no sink
  std::string url;      // the final URL
  CURLcode curl = CURLE_OK;
  std::string curl_error;
};

// Where a 2xx body goes: `start` once the status and headers are known, before any byte.
struct BodySink {
  std::function<void(long status, const Headers& headers)> start;
  std::function<void(const char* data, size_t n)> data;
};

constexpr size_t kMaxErrorBody = 64 << 10;
constexpr size_t kMaxListingBody = size_t(64) << 20;

void init_curl() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// "scheme://host:port" of a URL, the port made explicit; "" if it does not parse.
std::string origin_of(const std::string& url) {
  CURLU* u = curl_url();
  std::string origin;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK) {
    char *scheme = nullptr, *host = nullptr, *port = nullptr;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
      origin = lower(fmt::format("{}://{}:{}", scheme, host, port));
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
  }
  curl_url_cleanup(u);
  return origin;
}

std::string escape(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.data(), int(s.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

// Each '/'-separated part escaped, the slashes kept.
std::string escape_path(const std::string& path) {
  std::string out;
  size_t start = 0;
  for (;;) {
    size_t end = path.find('/', start);
    out += escape(path.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    out += '/';
    start = end + 1;
  }
  return out;
}

struct Transfer {
  HttpReply* reply;
  Headers headers;
  const BodySink* sink;
  bool started = false;
  bool too_big = false;
  std::exception_ptr error;
  CURL* curl;
  int stall_limit_s;  // abort after this long without a byte
  bool stalled = false;
  curl_off_t last_bytes = -1;
  std::chrono::steady_clock::time_point last_change = std::chrono::steady_clock::now();

  long status() const {
    long s = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &s);
    return s;
  }
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    t->headers.clear();  // a new header block (after a 1xx)
  } else if (size_t colon = line.find(':'); colon != std::string::npos) {
    std::string value = line.substr(colon + 1);
    auto strip = [](std::string& s) {
      while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
      size_t i = 0;
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
      s.erase(0, i);
    };
    strip(value);
    t->headers[lower(line.substr(0, colon))] = value;
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * count;
  long status = t->status();
  if (status >= 200 && status < 300 && t->sink) {
    try {
      if (!t->started) {
        t->started = true;
        t->sink->start(status, t->headers);
      }
      t->sink->data(data, n);
    } catch (...) {
      t->error = std::current_exception();
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    return n;
  }
  if (status >= 300 && status < 400) return n;  // a redirect's body: ignored
  size_t cap = status >= 200 && status < 300 ? kMaxListingBody : kMaxErrorBody;
  if (t->reply->body.size() + n > cap) {
    if (status >= 200 && status < 300) {
      t->too_big = true;
      return 0;
    }
    n = cap - t->reply->body.size();
  }
  t->reply->body.append(data, n);
  return size * count;
}

// Aborts a transfer that received nothing for stall_limit_s (curl's own low-speed check
// averages over a window of seconds, so it would let a stall run on for longer).
int on_transfer_info(void* user, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  auto now = std::chrono::steady_clock::now();
  if (dlnow != t->last_bytes) {
    t->last_bytes = dlnow;
    t->last_change = now;
    return 0;
  }
  if (now - t->last_change > std::chrono::seconds(t->stall_limit_s)) {
    t->stalled = true;
    return 1;
  }
  return 0;
}

// GET `url` on the handle `c` (reset first; it keeps its open connections for the next
// request), following up to 10 redirects by hand. `token` goes only to `auth_origin`.
// `range` is a Range header value ("bytes=N-") or "".
HttpReply http_get(CURL* c, const std::string& url, const std::string& auth_origin,
                   const std::string& token, const std::string& range, int timeout_s,
                   const BodySink* sink) {
  HttpReply reply;
  std::string current = url;
  for (int hop = 0;; ++hop) {
    reply.body.clear();
    curl_easy_reset(c);
    Transfer t{&reply, {}, sink, false, false, nullptr, c, timeout_s};
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_slist* headers = nullptr;
    std::string auth = "Authorization: Bearer " + token;
    if (!token.empty() && origin_of(current) == auth_origin)
      headers = curl_slist_append(headers, auth.c_str());
    std::string range_header = "Range: " + range;
    if (!range.empty()) headers = curl_slist_append(headers, range_header.c_str());
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> header_list(headers,
                                                                            curl_slist_free_all);
    curl_easy_setopt(c, CURLOPT_URL, current.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ilm/" ILM_VERSION);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, long(timeout_s));
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_transfer_info);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    CURLcode rc = curl_easy_perform(c);
    if (t.error) std::rethrow_exception(t.error);
    reply.status = t.status();
    reply.url = current;
    if (hop == 0) reply.first = t.headers;
    reply.last = t.headers;
    if (t.too_big) fail("{}: the reply is larger than {} MiB", current, kMaxListingBody >> 20);
    if (rc != CURLE_OK) {
      reply.curl = t.stalled ? CURLE_OPERATION_TIMEDOUT : rc;
      reply.curl_error = t.stalled   ? fmt::format("no data for {} s", timeout_s)
                         : errbuf[0] ? errbuf
                                     : curl_easy_strerror(rc);
      return reply;
    }
    if (reply.status >= 200 && reply.status < 300 && sink && !t.started) {
      sink->start(reply.status, t.headers);  // an empty body still makes its file
    }
    bool redirect = reply.status == 301 || reply.status == 302 || reply.status == 303 ||
                    reply.status == 307 || reply.status == 308;
    if (!redirect) return reply;
    char* next = nullptr;
    curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &next);
    if (!next) fail("{}: redirect (HTTP {}) without a Location header", current, reply.status);
    if (hop >= 10) fail("{}: more than 10 redirects", url);
    current = next;
  }
}

bool transient(const HttpReply& r) {
  switch (r.curl) {
    case CURLE_OK:
      return r.status >= 500 || r.status == 429;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// ---------------------------------------------------------------- errors and retries

struct Context {
  std::string repo_id, repo_type, revision, endpoint, auth_origin, token;
  int timeout_s, max_retries;
  double backoff_s;
  const std::function<void(const DownloadProgress&)>* progress;
  std::shared_ptr<CURL> curl;  // one handle for the whole pull: connections are reused
};

std::string repo_words(const Context& cx) {
  return fmt::format("{} '{}'", cx.repo_type == "dataset" ? "dataset repository" : "repository",
                     cx.repo_id);
}

// Throws the message for a reply that failed for good. `file` is "" for the listing.
[[noreturn]] void fail_reply(const Context& cx, const HttpReply& r, const std::string& file,
                             int tries) {
  if (r.curl != CURLE_OK) {
    std::string origin = origin_of(r.url);
    if (r.curl == CURLE_COULDNT_CONNECT || r.curl == CURLE_COULDNT_RESOLVE_HOST ||
        r.curl == CURLE_COULDNT_RESOLVE_PROXY)
      fail("cannot reach {} ({}): {}; check the network, or set HF_ENDPOINT to a reachable Hub",
           origin,
           origin == cx.auth_origin ? "the Hub endpoint" : "redirected to by " + cx.endpoint,
           r.curl_error);
    if (r.curl == CURLE_OPERATION_TIMEDOUT)
      fail("{}: timed out (no data for {} s) after {} tries{}", r.url, cx.timeout_s, tries,
           file.empty() ? "" : "; run again to resume");
    fail("{}: {} after {} tries{}", r.url, r.curl_error, tries,
         file.empty() ? "" : "; run again to resume");
  }
  std::string code = r.last.count("x-error-code") ? r.last.at("x-error-code") : "";
  std::string detail = r.last.count("x-error-message") ? r.last.at("x-error-message") : "";
  std::string tail = detail.empty() ? "" : fmt::format(" (server: {})", detail);
  std::string what = file.empty() ? "" : fmt::format("file '{}' of ", file);
  if (code == "GatedRepo")
    fail(
        "{}{} is gated (HTTP {}): accept its conditions on the Hub, then set HF_TOKEN to a token "
        "of that account{}",
        what, repo_words(cx), r.status, tail);
  if (r.status == 401 || r.status == 403) {
    if (code == "RepoNotFound" || cx.token.empty())
      fail(
          "{}{}: access denied (HTTP {}) by {}: it does not exist, or it is private or gated; "
          "set HF_TOKEN to a token that can read it{}",
          what, repo_words(cx), r.status, cx.endpoint, tail);
    fail("{}{}: access denied (HTTP {}) by {}: the token in HF_TOKEN cannot read it{}", what,
         repo_words(cx), r.status, cx.endpoint, tail);
  }
  if (r.status == 404) {
    if (code == "RepoNotFound" || (code.empty() && file.empty() && cx.revision == "main"))
      fail("{} not found at {}{}", repo_words(cx), cx.endpoint, tail);
    if (code == "RevisionNotFound" || (code.empty() && file.empty()))
      fail("revision '{}' not found in {} at {}{}", cx.revision, repo_words(cx), cx.endpoint, tail);
    fail("file '{}' not found in {} at revision '{}'{}", file, repo_words(cx), cx.revision, tail);
  }
  if (r.status == 416) fail("{}: HTTP 416 (range not satisfiable) for file '{}'", r.url, file);
  std::string body = r.body.substr(0, 200);
  for (char& ch : body)
    if (ch == '\n' || ch == '\r') ch = ' ';
  fail("{}: HTTP {}{} after {} tries{}", r.url, r.status, body.empty() ? "" : ": " + body, tries,
       tail);
}

void report(const Context& cx, DownloadProgress p) {
  if (*cx.progress) (*cx.progress)(p);
}

void pause_before_try(const Context& cx, int attempt) {
  double s = cx.backoff_s * double(1 << std::min(attempt, 10));
  std::this_thread::sleep_for(std::chrono::duration<double>(std::min(s, 60.0)));
}

std::string describe(const HttpReply& r) {
  return r.curl != CURLE_OK ? r.curl_error : fmt::format("HTTP {}", r.status);
}

std::vector<HubFile> list_files(const Context& cx, std::string* commit) {
  std::string url = fmt::format("{}/api/{}s/{}/revision/{}?blobs=true", cx.endpoint, cx.repo_type,
                                cx.repo_id, escape(cx.revision));
  HttpReply r;
  int tries = 0;
  for (int attempt = 0;; ++attempt) {
    r = http_get(cx.curl.get(), url, cx.auth_origin, cx.token, "", cx.timeout_s, nullptr);
    tries = attempt + 1;
    if (!transient(r) || attempt >= cx.max_retries) break;
    report(cx, {DownloadProgress::Event::retrying, "", 0, -1, 0, 0, 0, 0,
                fmt::format("listing {}: {}; trying again", cx.repo_id, describe(r))});
    pause_before_try(cx, attempt);
  }
  if (r.curl != CURLE_OK || r.status != 200) fail_reply(cx, r, "", tries);

  json j;
  try {
    j = json::parse(r.body);
  } catch (const json::exception& e) {
    fail("{}: the file listing is not JSON: {}", url, e.what());
  }
  auto where = [&](const std::string& field) { return fmt::format("{}: field '{}'", url, field); };
  ILM_CHECK(j.is_object(), "{}: the file listing is not a JSON object", url);
  ILM_CHECK(j.contains("sha") && j["sha"].is_string(), "{} missing or not a string", where("sha"));
  *commit = j["sha"].get<std::string>();
  ILM_CHECK(is_hex(*commit, 40) || is_hex(*commit, 64), "{}: '{}' is not a commit id (hex)",
            where("sha"), *commit);
  ILM_CHECK(j.contains("siblings") && j["siblings"].is_array(), "{} missing or not a list",
            where("siblings"));
  std::vector<HubFile> files;
  std::set<std::string> seen;
  for (size_t i = 0; i < j["siblings"].size(); ++i) {
    const json& s = j["siblings"][i];
    std::string at = fmt::format("siblings[{}]", i);
    ILM_CHECK(s.is_object() && s.contains("rfilename") && s["rfilename"].is_string(),
              "{} has no string 'rfilename'", where(at));
    HubFile f;
    f.path = s["rfilename"].get<std::string>();
    validate_repo_path(f.path);
    if (s.contains("size") && s["size"].is_number_integer()) f.size = s["size"].get<int64_t>();
    if (s.contains("blobId") && s["blobId"].is_string() && is_hex(s["blobId"], 40))
      f.blob_id = lower(s["blobId"].get<std::string>());
    if (s.contains("lfs") && s["lfs"].is_object()) {
      const json& lfs = s["lfs"];
      if (lfs.contains("sha256") && lfs["sha256"].is_string()) {
        f.sha256 = lower(lfs["sha256"].get<std::string>());
        ILM_CHECK(is_hex(f.sha256, 64), "{}: '{}' is not a sha256", where(at + ".lfs.sha256"),
                  f.sha256);
      }
      if (lfs.contains("size") && lfs["size"].is_number_integer())
        f.size = lfs["size"].get<int64_t>();
      f.blob_id.clear();  // the blob of an LFS file is its pointer, not its content
    }
    ILM_CHECK(f.size >= -1, "{}: negative size", where(at + ".size"));
    ILM_CHECK(seen.insert(f.path).second, "{}: '{}' listed twice", where("siblings"), f.path);
    files.push_back(std::move(f));
  }
  return files;
}

Context make_context(const std::string& repo_id, const HubOptions& o) {
  validate_repo_id(repo_id);
  ILM_CHECK(o.repo_type == "model" || o.repo_type == "dataset",
            "repo type '{}': expected 'model' or 'dataset'", o.repo_type);
  ILM_CHECK(!o.revision.empty(), "empty revision");
  std::string endpoint = o.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  ILM_CHECK(endpoint.rfind("http://", 0) == 0 || endpoint.rfind("https://", 0) == 0,
            "hub endpoint '{}': expected an http:// or https:// URL (HF_ENDPOINT)", o.endpoint);
  std::string origin = origin_of(endpoint);
  ILM_CHECK(!origin.empty(), "hub endpoint '{}' is not a valid URL (HF_ENDPOINT)", o.endpoint);
  ILM_CHECK(o.max_retries >= 0 && o.timeout_s > 0, "max_retries must be >= 0 and timeout_s > 0");
  init_curl();
  std::shared_ptr<CURL> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) fail("cannot start libcurl");
  return Context{repo_id,     o.repo_type,   o.revision,        endpoint,    origin, o.token,
                 o.timeout_s, o.max_retries, o.retry_backoff_s, &o.progress, curl};
}

// ---------------------------------------------------------------- one file

struct Totals {
  int64_t bytes_done = 0, bytes_total = 0, bytes_downloaded = 0;
  int files_done = 0, files_total = 0;
};

class FileDownload {
 public:
  FileDownload(const Context& cx, const std::string& commit, HubFile& file, const fs::path& dest,
               Totals& totals)
      : cx_(cx),
        file_(file),
        totals_(totals),
        final_(dest / file.path),
        incomplete_(dest / (file.path + ".incomplete")) {
    std::string prefix = cx.repo_type == "dataset" ? "datasets/" : "";
    url_ = fmt::format("{}/{}{}/resolve/{}/{}", cx.endpoint, prefix, cx.repo_id, commit,
                       escape_path(file.path));
  }

  // Downloads, verifies and renames into place.
  void run() {
    std::error_code ec;
    fs::create_directories(final_.parent_path(), ec);
    if (ec) fail("{}: cannot create folder: {}", final_.parent_path().string(), ec.message());
    for (bool restarted = false;; restarted = true) {
      int64_t resumed_from = fetch();
      std::string why = mismatch(incomplete_, file_);
      if (why.empty()) break;
      fs::remove(incomplete_, ec);
      // A partial file from an earlier run may belong to an older version: start over once.
      if (resumed_from > 0 && !restarted) continue;
      fail("file '{}' of {}: {}; removed the partial download", file_.path, repo_words(cx_), why);
    }
    int fd = ::open(incomplete_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
    fs::rename(incomplete_, final_, ec);
    if (ec) fail("{}: cannot rename into place: {}", final_.string(), ec.message());
    fsync_dir(final_.parent_path());
  }

 private:
  int64_t on_disk() const {
    std::error_code ec;
    auto n = fs::file_size(incomplete_, ec);
    return ec ? 0 : int64_t(n);
  }

  void emit(DownloadProgress::Event e, const std::string& message = "") {
    report(cx_, {e, file_.path, bytes_, file_.size, totals_.bytes_done + bytes_,
                 totals_.bytes_total, totals_.files_done, totals_.files_total, message});
  }

  // Brings the .incomplete file to the whole content, resuming and retrying.
  // Returns the offset the first request resumed from.
  int64_t fetch() {
    int64_t first_offset = -1;
    for (int attempt = 0;; ++attempt) {
      int64_t offset = on_disk();
      if (file_.size >= 0 && offset > file_.size) {
        fs::remove(incomplete_);
        offset = 0;
      }
      if (first_offset < 0) {
        first_offset = offset;
        bytes_ = offset;
        emit(DownloadProgress::Event::started);
      }
      if (file_.size >= 0 && offset == file_.size && offset > 0) return first_offset;
      HttpReply r = request(offset);
      if (r.curl == CURLE_OK && r.status == 416 && offset > 0) {  // already complete
        learn_from_headers(r);
        return first_offset;
      }
      if (r.curl == CURLE_OK && (r.status == 200 || r.status == 206)) {
        learn_from_headers(r);
        if (file_.size < 0 || on_disk() >= file_.size) return first_offset;
        r.curl = CURLE_PARTIAL_FILE;  // a reply that ended early: resume like a dropped one
        r.curl_error = fmt::format("the reply ended at byte {} of {}", on_disk(), file_.size);
      }
      if (!transient(r) || attempt >= cx_.max_retries) fail_reply(cx_, r, file_.path, attempt + 1);
      emit(DownloadProgress::Event::retrying,
           fmt::format("{}: {} at byte {}; resuming", file_.path, describe(r), on_disk()));
      pause_before_try(cx_, attempt);
    }
  }

  // One GET from `offset`; bytes go to the .incomplete file, opened only for a 2xx reply.
  HttpReply request(int64_t offset) {
    int fd = -1;
    BodySink sink;
    sink.start = [&](long status, const Headers& h) {
      bool append = status == 206 && offset > 0;
      if (append) {  // a 206 must continue exactly where the file ends
        auto cr = h.find("content-range");
        std::string want = fmt::format("bytes {}-", offset);
        if (cr == h.end() || cr->second.rfind(want, 0) != 0) append = false;
        if (!append)
          fail("{}: the server answered the range from byte {} with Content-Range '{}'", url_,
               offset, cr == h.end() ? "" : cr->second);
      }
      if (!append) bytes_ = 0;  // the server ignored Range: start over
      fd = ::open(incomplete_.c_str(),
                  O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
      if (fd < 0) fail("{}: cannot open: {}", incomplete_.string(), std::strerror(errno));
    };
    sink.data = [&](const char* p, size_t n) {
      if (file_.size >= 0 && bytes_ + int64_t(n) > file_.size) {  // a server that never stops
        ::unlink(incomplete_.c_str());
        fail(
            "{}: the server sent more than the {} bytes listed for file '{}'; removed the "
            "partial download",
            url_, file_.size, file_.path);
      }
      size_t left = n;
      while (left > 0) {
        ssize_t w = ::write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) fail("{}: write failed: {}", incomplete_.string(), std::strerror(errno));
        p += w;
        left -= size_t(w);
      }
      bytes_ += int64_t(n);
      totals_.bytes_downloaded += int64_t(n);
      emit(DownloadProgress::Event::bytes);
    };
    std::string range = offset > 0 ? fmt::format("bytes={}-", offset) : "";
    try {
      HttpReply r =
          http_get(cx_.curl.get(), url_, cx_.auth_origin, cx_.token, range, cx_.timeout_s, &sink);
      if (fd >= 0) ::close(fd);
      return r;
    } catch (...) {
      if (fd >= 0) ::close(fd);
      throw;
    }
  }

  // What the Hub's headers say when its listing did not: size and checksum.
  void learn_from_headers(const HttpReply& r) {
    auto get = [&](const char* name) {
      auto it = r.first.find(name);
      return it == r.first.end() ? std::string() : it->second;
    };
    if (file_.size < 0) {
      std::string linked = get("x-linked-size");
      if (!linked.empty()) file_.size = std::strtoll(linked.c_str(), nullptr, 10);
    }
    if (file_.sha256.empty() && file_.blob_id.empty()) {
      std::string etag = get("x-linked-etag");
      if (etag.empty()) etag = get("etag");
      if (etag.rfind("W/", 0) == 0) etag.erase(0, 2);
      etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
      etag = lower(etag);
      if (is_hex(etag, 64))
        file_.sha256 = etag;
      else if (is_hex(etag, 40))
        file_.blob_id = etag;
    }
  }

  const Context& cx_;
  HubFile& file_;
  Totals& totals_;
  fs::path final_, incomplete_;
  std::string url_;
  int64_t bytes_ = 0;  // bytes of this file on disk
};

bool selected(const std::string& path, const HubOptions& o) {
  auto any = [&](const std::vector<std::string>& patterns) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) {
      return fnmatch(p.c_str(), path.c_str(), 0) == 0;
    });
  };
  return (o.include.empty() || any(o.include)) && !any(o.exclude);
}

bool ends_with_any(const std::string& s, std::initializer_list<const char*> suffixes) {
  return std::any_of(suffixes.begin(), suffixes.end(),
                     [&](const char* x) { return s.ends_with(x); });
}

// The files a previous pull into `dest` verified, by path; empty if none or unreadable.
std::map<std::string, HubFile> previous_pull(const fs::path& dest) {
  std::map<std::string, HubFile> out;
  try {
    json j = json::parse(read_file(dest / ".ilm-pull.json"));
    for (const json& f : j.at("files")) {
      HubFile h;
      h.path = f.at("path").get<std::string>();
      h.size = f.value("size", int64_t(-1));
      h.sha256 = f.value("sha256", std::string());
      h.blob_id = f.value("blob_id", std::string());
      out[h.path] = h;
    }
  } catch (const std::exception&) {
    out.clear();
  }
  return out;
}

// Whether `file` is already in place: a size match, and then either the same entry in the
// previous pull's record or a checksum match.
bool already_there(const fs::path& dest, const HubFile& file,
                   const std::map<std::string, HubFile>& previous) {
  std::error_code ec;
  fs::path p = dest / file.path;
  if (!fs::is_regular_file(p, ec)) return false;
  int64_t size = int64_t(fs::file_size(p, ec));
  if (ec || file.size < 0 || size != file.size) return false;
  auto it = previous.find(file.path);
  if (it != previous.end() && it->second.size == file.size && it->second.sha256 == file.sha256 &&
      it->second.blob_id == file.blob_id)
    return true;
  return mismatch(p, file).empty();
}

}  // namespace

// ---------------------------------------------------------------- public

bool is_foreign_weights_file(const std::string& path) {
  for (const char* folder : {"onnx/", "openvino/", "coreml/"})
    if (path.starts_with(folder) || path.find(std::string("/") + folder) != std::string::npos)
      return true;
  if (path.find(".mlpackage/") != std::string::npos) return true;
  return ends_with_any(path, {".bin", ".bin.index.json", ".pt", ".pth", ".ckpt", ".h5", ".msgpack",
                              ".ot", ".onnx", ".onnx_data", ".tflite", ".mlmodel"});
}

std::vector<HubFile> list_repo_files(const std::string& repo_id, const HubOptions& options,
                                     std::string* commit) {
  Context cx = make_context(repo_id, options);
  std::string sha;
  std::vector<HubFile> files = list_files(cx, &sha);
  if (commit) *commit = sha;
  return files;
}

PullResult pull_repo(const std::string& repo_id, const fs::path& dest, const HubOptions& options) {
  Context cx = make_context(repo_id, options);
  PullResult result{repo_id, options.repo_type, options.revision, "", {}, {}, 0, 0, 0};
  std::vector<HubFile> listed = list_files(cx, &result.commit);
  const bool has_safetensors =
      std::any_of(listed.begin(), listed.end(),
                  [](const HubFile& f) { return f.path.ends_with(".safetensors"); });
  const bool leave_foreign = options.repo_type == "model" && options.include.empty() &&
                             !options.all_formats && has_safetensors;
  const size_t n_listed = listed.size();
  for (HubFile& f : listed) {
    if (!selected(f.path, options)) continue;
    if (leave_foreign && is_foreign_weights_file(f.path))
      result.left_out.push_back(std::move(f));
    else
      result.files.push_back(std::move(f));
  }
  auto by_path = [](const HubFile& a, const HubFile& b) { return a.path < b.path; };
  std::sort(result.files.begin(), result.files.end(), by_path);
  std::sort(result.left_out.begin(), result.left_out.end(), by_path);
  if (result.files.empty())
    fail("{} at revision '{}' has no file matching the include/exclude patterns ({} files listed)",
         repo_words(cx), cx.revision, n_listed);

  std::error_code ec;
  fs::create_directories(dest, ec);
  if (ec) fail("{}: cannot create folder: {}", dest.string(), ec.message());

  Totals totals;
  totals.files_total = int(result.files.size());
  for (const HubFile& f : result.files) totals.bytes_total += std::max<int64_t>(f.size, 0);
  report(cx, {DownloadProgress::Event::listed, "", 0, -1, 0, totals.bytes_total, 0,
              totals.files_total, result.commit});

  std::map<std::string, HubFile> previous = previous_pull(dest);
  for (HubFile& f : result.files) {
    bool skip = already_there(dest, f, previous);
    if (skip) {
      ++result.skipped;
    } else {
      FileDownload(cx, result.commit, f, dest, totals).run();
      ++result.downloaded;
    }
    ++totals.files_done;
    totals.bytes_done += std::max<int64_t>(f.size, 0);
    report(cx, {skip ? DownloadProgress::Event::skipped : DownloadProgress::Event::finished, f.path,
                f.size, f.size, totals.bytes_done, totals.bytes_total, totals.files_done,
                totals.files_total, ""});
  }
  result.bytes_downloaded = totals.bytes_downloaded;

  json files = json::array();
  for (const HubFile& f : result.files) {
    json e = {{"path", f.path}, {"size", f.size}};
    if (!f.sha256.empty()) e["sha256"] = f.sha256;
    if (!f.blob_id.empty()) e["blob_id"] = f.blob_id;
    files.push_back(e);
  }
  json record = {
      {"repo", repo_id},         {"repo_type", options.repo_type}, {"revision", options.revision},
      {"commit", result.commit}, {"endpoint", cx.endpoint},        {"files", files}};
  if (!result.left_out.empty()) {
    json left = json::array();
    for (const HubFile& f : result.left_out) left.push_back(f.path);
    record["left_out"] = left;
  }
  write_file_atomic(dest / ".ilm-pull.json", record.dump(2) + "\n");
  return result;
}

}  // namespace ilm
