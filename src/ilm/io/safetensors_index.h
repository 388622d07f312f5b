// Sharded safetensors checkpoints, as Hugging Face's save_pretrained writes them: a folder of
// model-00001-of-0000N.safetensors files plus model.safetensors.index.json,
//
//   {"metadata": {"total_size": <bytes of tensor data>}, "weight_map": {tensor: shard file}}
//
// or a single model.safetensors when everything fits in one shard. SafetensorsIndex reads
// either as one set of tensors; write_safetensors_sharded writes them.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ilm/io/safetensors.h"

namespace ilm {

inline constexpr const char* kSafetensorsIndexName = "model.safetensors.index.json";
inline constexpr const char* kSafetensorsSingleName = "model.safetensors";

class SafetensorsIndex {
 public:
  // `path` is a folder (its model.safetensors, else its model.safetensors.index.json, the order
  // transformers looks in), an index .json file, or a single .safetensors file. Every shard is
  // opened and validated up front; errors name the index and the tensor: a shard the index names
  // that does not exist, a tensor the index maps to a shard that lacks it, a tensor stored in a
  // shard the index does not map it to, or found in two shards.
  static SafetensorsIndex open(const std::filesystem::path& path);
  static SafetensorsIndex of(SafetensorsFile file);

  // Shards in file-name order (model-00001-of-... first), tensors within a shard in data order.
  const std::vector<std::string>& names() const { return names_; }
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  const TensorInfo& info(const std::string& name) const { return file_of(name).info(name); }
  const SafetensorsFile& file_of(const std::string& name) const;  // throws naming the tensor
  const std::vector<SafetensorsFile>& shards() const { return shards_; }

  Tensor get(const std::string& name) const { return file_of(name).get(name); }
  Tensor get(const std::string& name, DType dtype, const Shape* expect_shape = nullptr) const {
    return file_of(name).get(name, dtype, expect_shape);
  }
  Tensor load(const std::string& name, DType want) const { return file_of(name).load(name, want); }
  Tensor view_f32(const std::string& name) const { return file_of(name).view_f32(name); }
  std::span<const uint8_t> bytes(const std::string& name) const {
    return file_of(name).bytes(name);
  }
  SafetensorsEntry entry(const std::string& name) const { return file_of(name).entry(name); }
  std::vector<SafetensorsEntry> entries() const;  // all, in names() order

  // The first shard's __metadata__ (save_pretrained writes the same map into every shard).
  const std::map<std::string, std::string>& metadata() const { return shards_.front().metadata(); }
  // The index's metadata.total_size; for a single file, its tensor bytes.
  uint64_t total_size() const { return total_size_; }
  // The index file, or the single file when there is no index.
  const std::filesystem::path& path() const { return path_; }

 private:
  SafetensorsIndex() = default;
  std::filesystem::path path_;
  std::vector<SafetensorsFile> shards_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, size_t> where_;  // tensor -> shard
  uint64_t total_size_ = 0;
};

// The files save_pretrained would write for these shards: model.safetensors for one,
// model-00001-of-0000N.safetensors (5 digits each) for N > 1.
std::string safetensors_shard_name(size_t index, size_t count);

// Writes `entries` into `folder` as save_pretrained does: tensors in the order given fill a shard
// until the next one would pass max_shard_bytes (a tensor larger than that gets a shard of its
// own); one shard is model.safetensors with no index, several are model-0000i-of-0000N
// .safetensors plus model.safetensors.index.json (2-space indented, keys sorted, total_size the
// sum of tensor bytes). `metadata` goes into every shard. Each file is written atomically, the
// index last; stale shards and index of an earlier save with another shard count are removed.
// Returns the files written.
std::vector<std::filesystem::path> write_safetensors_sharded(
    const std::filesystem::path& folder, const std::vector<SafetensorsEntry>& entries,
    uint64_t max_shard_bytes, const std::map<std::string, std::string>& metadata = {});
std::vector<std::filesystem::path> write_safetensors_sharded(
    const std::filesystem::path& folder, const std::vector<std::pair<std::string, Tensor>>& tensors,
    uint64_t max_shard_bytes, const std::map<std::string, std::string>& metadata = {});

}  // namespace ilm
