#include "ilm/data/inspect.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "ilm/core/error.h"
#include "ilm/data/example_set.h"
#include "ilm/data/shard.h"
#include "ilm/io/file.h"
#include "ilm/io/sha256.h"
#include "ilm/tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ilm {
namespace {

// A sample for a terminal: control characters and newlines shown, never raw.
std::string printable(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(ch));
    } else {
      out += ch;
    }
  }
  return out;
}

std::string decode_sample(const Tokenizer* tok, const std::vector<int32_t>& ids) {
  if (!tok) {
    std::string s;
    for (int32_t id : ids) s += fmt::format("{} ", id);
    return s;
  }
  // A sample cut at a token boundary may end inside a UTF-8 sequence: show what is whole.
  std::string text = tok->decode(ids);
  size_t end = text.size();
  while (end > 0 && end + 4 > text.size()) {
    Utf8Scan sc = scan_utf8(text, end - 1);
    if (sc.status != Utf8Status::incomplete) break;
    --end;
  }
  return printable(text.substr(0, end));
}

void inspect_shard(std::string& out, const fs::path& path, const Tokenizer* tok,
                   std::optional<int32_t> sep, const InspectOptions& o) {
  TokenShard shard = TokenShard::open(path);
  out += fmt::format("{}: token shard version {} ({} tokens), {} tokens, vocabulary {}\n",
                     path.filename().string(), shard.version(), shard.version() == 1 ? "uint16" : "uint32",
                     shard.size(), shard.vocab_size());
  if (tok && shard.vocab_size() > 0 && shard.vocab_size() != tok->vocab_size()) {
    out += fmt::format("  warning: tokenizer.json has vocabulary {}, the shard {}\n",
                       tok->vocab_size(), shard.vocab_size());
  }
  // Samples: the first documents, split at the separator.
  int64_t pos = 0;
  for (int s = 0; s < o.samples && pos < shard.size(); ++s) {
    std::vector<int32_t> ids;
    if (sep && shard.at(pos) == *sep) ++pos;
    while (pos < shard.size() && static_cast<int>(ids.size()) < o.sample_tokens) {
      const int32_t t = shard.at(pos);
      if (sep && t == *sep) break;
      ids.push_back(t);
      ++pos;
    }
    const bool cut = pos < shard.size() && !(sep && shard.at(pos) == *sep);
    out += fmt::format("  sample {}: {}{}\n", s + 1, decode_sample(tok, ids), cut ? " ..." : "");
    while (pos < shard.size() && !(sep && shard.at(pos) == *sep)) ++pos;  // to the next document
  }
}

void inspect_examples(std::string& out, const fs::path& path, const Tokenizer* tok,
                      const std::vector<std::string>& labels, const InspectOptions& o) {
  ExampleSet set = ExampleSet::open(path);
  out += fmt::format("{}: {} example set, {} examples, {} tokens, vocabulary {}{}\n",
                     path.filename().string(),
                     set.kind() == ExampleKind::chat ? "chat" : "classification", set.size(),
                     set.total_tokens(), set.vocab_size(),
                     set.num_labels() > 0 ? fmt::format(", {} labels", set.num_labels()) : "");
  for (int64_t i = 0; i < std::min<int64_t>(o.samples, set.size()); ++i) {
    std::vector<int32_t> ids = set.ids(i);
    if (static_cast<int>(ids.size()) > o.sample_tokens) ids.resize(static_cast<size_t>(o.sample_tokens));
    std::string line;
    if (set.kind() == ExampleKind::chat) {
      // The tokens the loss applies to are shown between [[ and ]].
      std::vector<uint8_t> mask = set.loss_mask(i);
      size_t a = 0;
      while (a < ids.size()) {
        size_t b = a;
        while (b < ids.size() && mask[b] == mask[a]) ++b;
        std::string part = decode_sample(tok, std::vector<int32_t>(ids.begin() + static_cast<std::ptrdiff_t>(a),
                                                                    ids.begin() + static_cast<std::ptrdiff_t>(b)));
        line += mask[a] ? "[[" + part + "]]" : part;
        a = b;
      }
    } else {
      const int32_t label = set.label(i);
      line = fmt::format("label {}{}: {}", label,
                         label >= 0 && static_cast<size_t>(label) < labels.size()
                             ? " (" + labels[static_cast<size_t>(label)] + ")" : "",
                         decode_sample(tok, ids));
    }
    out += fmt::format("  example {} ({} tokens): {}{}\n", i + 1, set.length(i), line,
                       set.length(i) > o.sample_tokens ? " ..." : "");
  }
}

}  // namespace

std::string inspect_data(const fs::path& path, const InspectOptions& o) {
  if (!fs::exists(path)) fail("{}: no such file or folder", path.string());
  const fs::path dir = fs::is_directory(path) ? path : path.parent_path();
  std::string out;
  std::unique_ptr<Tokenizer> tok;
  if (fs::exists(dir / "tokenizer.json")) tok = load_tokenizer(dir / "tokenizer.json");
  json manifest;
  if (fs::exists(dir / "manifest.json")) {
    try {
      manifest = json::parse(read_file(dir / "manifest.json"));
    } catch (const json::exception& e) {
      fail("{}: not valid JSON: {}", (dir / "manifest.json").string(), e.what());
    }
  }
  std::optional<int32_t> sep;
  std::vector<std::string> labels;
  if (!manifest.is_null()) {
    out += fmt::format("{}: {} data, {}\n", dir.string(), manifest.value("task", "?"),
                       manifest.value("complete", false) ? "complete" : "INCOMPLETE (interrupted; run prepare again to resume)");
    if (manifest.contains("tokenizer")) {
      const json& t = manifest["tokenizer"];
      out += fmt::format("  tokenizer: {}, vocabulary {}\n", t.value("kind", "?"), t.value("vocab_size", 0));
      if (t.contains("separator")) sep = t["separator"].get<int32_t>();
    }
    if (manifest.contains("splits")) {
      for (const auto& [name, s] : manifest["splits"].items()) {
        out += fmt::format("  {}: {} documents, {} tokens, {} files\n", name, s.value("documents", 0),
                           s.value("tokens", 0), s["files"].size());
        if (o.verify) {
          for (const auto& f : s["files"]) {
            const fs::path p = dir / f.at("file").get<std::string>();
            const std::string want = f.at("sha256").get<std::string>();
            const std::string got = sha256_file(p);
            if (got != want) fail("{}: sha256 {} does not match the manifest's {}", p.string(), got, want);
          }
          out += fmt::format("  {}: sha256 of every file matches the manifest\n", name);
        }
      }
    }
    if (fs::exists(dir / "label_map.json")) {
      json lm = json::parse(read_file(dir / "label_map.json"));
      labels = lm.at("labels").get<std::vector<std::string>>();
    }
  } else if (tok && tok->eot_id()) {
    sep = tok->eot_id();
  }
  std::vector<fs::path> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path)) {
      const std::string ext = e.path().extension().string();
      if (e.is_regular_file() && (ext == ".bin" || ext == ".examples")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) fail("{}: no token shards (*.bin) or example sets (*.examples) in this folder", path.string());
  } else {
    files.push_back(path);
  }
  for (const fs::path& f : files) {
    if (f.extension() == ".examples") {
      inspect_examples(out, f, tok.get(), labels, o);
    } else {
      inspect_shard(out, f, tok.get(), sep, o);
    }
  }
  return out;
}

}  // namespace ilm
