#include "ilm/io/safetensors_index.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "ilm/core/error.h"
#include "ilm/io/file.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ilm {

namespace {

uint64_t data_bytes_of(const SafetensorsFile& f) {
  uint64_t n = 0;
  for (const TensorInfo& t : f.tensors()) n += t.end - t.begin;
  return n;
}

}  // namespace

SafetensorsIndex SafetensorsIndex::of(SafetensorsFile file) {
  SafetensorsIndex x;
  x.path_ = file.path();
  x.total_size_ = data_bytes_of(file);
  x.names_ = file.names();
  for (const std::string& n : x.names_) x.where_.emplace(n, 0);
  x.shards_.push_back(std::move(file));
  return x;
}

SafetensorsIndex SafetensorsIndex::open(const fs::path& path) {
  if (fs::is_directory(path)) {
    // As transformers looks: the single file first, then the index.
    if (fs::exists(path / kSafetensorsSingleName))
      return of(SafetensorsFile::open(path / kSafetensorsSingleName));
    if (fs::exists(path / kSafetensorsIndexName)) return open(path / kSafetensorsIndexName);
    fail("{}: no {} and no {} in this folder", path.string(), kSafetensorsIndexName,
         kSafetensorsSingleName);
  }
  if (path.extension() == ".json") {
    const std::string file = path.string();
    json j;
    try {
      j = json::parse(read_file(path));
    } catch (const json::exception& e) {
      fail("{}: not valid JSON: {}", file, e.what());
    }
    if (!j.is_object())
      fail("{}: a JSON {}, expected an object with \"weight_map\"", file, j.type_name());
    auto wm = j.find("weight_map");
    if (wm == j.end() || !wm->is_object())
      fail("{}: missing \"weight_map\" object (tensor name -> shard file)", file);
    SafetensorsIndex x;
    x.path_ = path;
    std::map<std::string, size_t> shard_of_file;  // shard file name -> index in shards_
    std::map<std::string, std::string> mapped;    // tensor -> shard file (sorted, as stored)
    for (const auto& [tensor, shard] : wm->items()) {
      if (!shard.is_string())
        fail("{}: weight_map entry '{}' is {}, expected a shard file name", file, tensor,
             shard.dump());
      const std::string& name = shard.get_ref<const std::string&>();
      if (name.empty() || fs::path(name).is_absolute() || name.find("..") != std::string::npos ||
          name.find('/') != std::string::npos)
        fail("{}: tensor '{}' maps to '{}', expected a file name beside the index", file, tensor,
             name);
      mapped.emplace(tensor, name);
      if (shard_of_file.emplace(name, 0).second) {
        const fs::path shard_path = path.parent_path() / name;
        if (!fs::exists(shard_path))
          fail("{}: tensor '{}' maps to shard '{}', which does not exist ({})", file, tensor, name,
               shard_path.string());
      }
    }
    // Shards in file-name order: model-00001-of-... first.
    for (auto& [name, index] : shard_of_file) {
      index = x.shards_.size();
      x.shards_.push_back(SafetensorsFile::open(path.parent_path() / name));
    }
    if (x.shards_.empty()) fail("{}: weight_map is empty", file);
    // Every tensor of every shard: where the index says, and in one shard only.
    for (size_t s = 0; s < x.shards_.size(); ++s) {
      const SafetensorsFile& f = x.shards_[s];
      for (const TensorInfo& t : f.tensors()) {
        auto [it, fresh] = x.where_.emplace(t.name, s);
        if (!fresh)
          fail("{}: tensor '{}' is in two shards, {} and {}", file, t.name,
               x.shards_[it->second].path().filename().string(), f.path().filename().string());
        auto m = mapped.find(t.name);
        if (m == mapped.end())
          fail("{}: tensor '{}' is in shard {} but not in the weight_map", file, t.name,
               f.path().filename().string());
        if (shard_of_file.at(m->second) != s)
          fail("{}: tensor '{}' is in shard {}, but the weight_map says {}", file, t.name,
               f.path().filename().string(), m->second);
        x.names_.push_back(t.name);
      }
    }
    for (const auto& [tensor, shard] : mapped)
      if (!x.where_.count(tensor))
        fail("{}: tensor '{}' maps to shard {}, which does not hold it", file, tensor, shard);
    x.total_size_ = 0;
    auto meta = j.find("metadata");
    if (meta != j.end() && meta->is_object() && meta->contains("total_size") &&
        (*meta)["total_size"].is_number_unsigned()) {
      x.total_size_ = (*meta)["total_size"].get<uint64_t>();
    } else {
      for (const SafetensorsFile& f : x.shards_) x.total_size_ += data_bytes_of(f);
    }
    return x;
  }
  return of(SafetensorsFile::open(path));
}

const SafetensorsFile& SafetensorsIndex::file_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end())
    fail("{}: no tensor '{}' (the checkpoint has {} tensors in {} file{})", path_.string(), name,
         names_.size(), shards_.size(), shards_.size() == 1 ? "" : "s");
  return shards_[it->second];
}

std::vector<SafetensorsEntry> SafetensorsIndex::entries() const {
  std::vector<SafetensorsEntry> out;
  out.reserve(names_.size());
  for (const std::string& n : names_) out.push_back(entry(n));
  return out;
}

std::string safetensors_shard_name(size_t index, size_t count) {
  if (count == 1) return kSafetensorsSingleName;
  return fmt::format("model-{:05d}-of-{:05d}.safetensors", index + 1, count);
}

std::vector<fs::path> write_safetensors_sharded(
    const fs::path& folder, const std::vector<SafetensorsEntry>& entries, uint64_t max_shard_bytes,
    const std::map<std::string, std::string>& metadata) {
  ILM_CHECK(max_shard_bytes > 0, "{}: max_shard_bytes must be positive", folder.string());
  // Greedy, in the order given, as huggingface_hub's split_torch_state_dict_into_shards does:
  // a tensor over the limit becomes a shard of its own at once (before the shard being
  // filled), the others fill the current shard until the next would pass the limit.
  std::vector<std::vector<size_t>> shards;
  std::vector<size_t> current;
  uint64_t current_bytes = 0;
  std::set<std::string> seen;
  for (size_t i = 0; i < entries.size(); ++i) {
    const uint64_t n = entries[i].bytes.size();
    if (!seen.insert(entries[i].name).second)
      fail("{}: duplicate tensor name '{}'", folder.string(), entries[i].name);
    if (n > max_shard_bytes) {
      shards.push_back({i});
      continue;
    }
    if (current_bytes + n > max_shard_bytes) {
      shards.push_back(std::move(current));
      current.clear();
      current_bytes = 0;
    }
    current.push_back(i);
    current_bytes += n;
  }
  if (!current.empty()) shards.push_back(std::move(current));
  if (shards.empty()) shards.emplace_back();  // no tensors: an empty model.safetensors

  // Every shard's writer first, so a bad name or size fails before any file is written.
  std::vector<SafetensorsWriter> writers;
  json weight_map = json::object();
  uint64_t total = 0;
  for (size_t s = 0; s < shards.size(); ++s) {
    const std::string name = safetensors_shard_name(s, shards.size());
    SafetensorsWriter& w = writers.emplace_back(folder / name);
    w.set_metadata(metadata);
    for (size_t i : shards[s]) {
      w.add(entries[i]);
      weight_map[entries[i].name] = name;
      total += entries[i].bytes.size();
    }
    w.header();  // validates names and metadata as UTF-8
  }
  fs::create_directories(folder);
  std::vector<fs::path> written;
  for (const SafetensorsWriter& w : writers) {
    w.write();
    written.push_back(folder / safetensors_shard_name(written.size(), writers.size()));
  }
  const fs::path index = folder / kSafetensorsIndexName;
  if (shards.size() > 1) {
    // json sorts keys as Python's sort_keys does (byte order of UTF-8 = code point order).
    json j = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_file_atomic(index, j.dump(2) + "\n");
    written.push_back(index);
  }
  // What an earlier save with another shard count left: it would contradict the new files.
  static const std::regex kShard(R"(model-\d{5}-of-\d{5}\.safetensors)");
  std::set<fs::path> keep(written.begin(), written.end());
  for (const auto& e : fs::directory_iterator(folder)) {
    const std::string n = e.path().filename().string();
    const bool ours =
        std::regex_match(n, kShard) || n == kSafetensorsIndexName || n == kSafetensorsSingleName;
    if (ours && !keep.count(e.path())) fs::remove(e.path());
  }
  return written;
}

std::vector<fs::path> write_safetensors_sharded(
    const fs::path& folder, const std::vector<std::pair<std::string, Tensor>>& tensors,
    uint64_t max_shard_bytes, const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsEntry> entries;
  entries.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) fail("{}: tensor '{}' is undefined (holds no data)", folder.string(), name);
    entries.push_back(SafetensorsEntry::of(name, t));
  }
  return write_safetensors_sharded(folder, entries, max_shard_bytes, metadata);
}

}  // namespace ilm
