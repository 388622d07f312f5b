// safetensors: the weight format of the Hugging Face ecosystem.
//
//   [u64 little-endian N][N bytes of UTF-8 JSON header][data section]
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]}, offsets
// relative to the start of the data section, plus an optional "__metadata__" object of
// string -> string. Data is row-major little-endian. docs/formats.md lists what ilm accepts.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ilm/core/dtype.h"
#include "ilm/core/shape.h"
#include "ilm/core/tensor.h"

namespace ilm {

class MappedFile;

struct TensorInfo {
  std::string name;
  // The dtype get(name) returns. Equal to the stored dtype except for the types ilm has no
  // DType for, which load widened: I64, I8, I16 -> I32 and U64 -> U32 (range checked on
  // load), BOOL -> U8, F64 and F8_* -> F32.
  DType dtype = DType::f32;
  Shape shape;
  size_t begin = 0, end = 0;  // byte range within the data section
  std::string file_dtype;     // as the header names it: "BF16", "I64", ...
};

// Bytes per element of a dtype as the header spells it ("F32", "I64", "BOOL", ...); throws
// naming the dtype and the known ones when there is no such dtype.
size_t safetensors_dtype_size(std::string_view dtype);

// One tensor as stored: the header's dtype spelling, the shape and the little-endian bytes.
// The writer takes these, and a reader hands them back (bytes inside its map), so a tensor of
// any dtype, also one ilm has no DType for (I64, F64, BOOL, ...), copies across unchanged.
struct SafetensorsEntry {
  std::string name;
  std::string dtype;
  Shape shape;
  std::span<const uint8_t> bytes;
  std::shared_ptr<const void> keep_alive;  // owns `bytes` (a Tensor's buffer, a file's map)

  static SafetensorsEntry of(std::string name, const Tensor& t);
};

// Writes one safetensors file: declare tensors with add(), then write() computes the header
// from the declarations and streams each tensor's bytes from where they lie (no staging copy),
// atomically (AtomicWriter): a failed write leaves the previous file, or none, and no
// temporary. Tensors are stored in the order added, back to back; the header is compact JSON,
// "__metadata__" first, then per tensor dtype, shape, data_offsets, padded with spaces so the
// data section starts 8-byte aligned: a file Hugging Face's writer produced, read and written
// again in its data order, comes out byte-identical.
class SafetensorsWriter {
 public:
  explicit SafetensorsWriter(std::filesystem::path path);

  // Names must be unique, non-empty and not "__metadata__"; a raw entry's dtype must be known
  // and its byte count match its shape. Errors name the file and the tensor.
  void add(std::string name, const Tensor& t);
  void add(SafetensorsEntry entry);
  void set_metadata(std::map<std::string, std::string> metadata) {
    metadata_ = std::move(metadata);
  }

  uint64_t data_bytes() const { return data_bytes_; }
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  // The header bytes write() puts after the 8-byte length, padding included.
  std::string header() const;
  void write() const;

 private:
  std::filesystem::path path_;
  std::vector<SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
  uint64_t data_bytes_ = 0;
};

// SafetensorsWriter in one call, tensors in the order given.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<SafetensorsEntry>& entries,
                      const std::map<std::string, std::string>& metadata = {});

class SafetensorsFile {
 public:
  // Maps the file and validates the whole header up front (offsets, sizes, overlaps), so that
  // get() fails later only on a requested conversion, never on a malformed file.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // by data offset
  std::vector<std::string> names() const;                              // by data offset
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  // Throws naming the tensor and the file when there is no such tensor.
  const TensorInfo& info(const std::string& name) const;

  // The tensor in info(name).dtype. When the stored dtype is that dtype and the bytes are
  // aligned for it, a zero-copy view of the map (it keeps the map alive). The map is read-only:
  // writing through such a view faults, so clone() a tensor you mean to modify. Otherwise (a
  // foreign writer that did not align, or a widened dtype) a converted copy.
  Tensor get(const std::string& name) const;
  // The tensor as `dtype`: among F32/BF16/F16 any direction (rounding to nearest even);
  // integer sources to any DType (integer targets range checked); floats never to integers.
  // With `expect_shape`, a different stored shape is an error naming both shapes.
  Tensor get(const std::string& name, DType dtype, const Shape* expect_shape = nullptr) const;

  // The tensor as `want` (F32/BF16/F16 convert both ways), with the same rules as get().
  Tensor load(const std::string& name, DType want) const { return get(name, want); }
  // A stored F32 tensor as a zero-copy, read-only view of the map (copied only when a foreign
  // writer left it unaligned). Any other stored dtype is an error naming the tensor: use load().
  Tensor view_f32(const std::string& name) const;
  // The stored bytes, inside the map (valid while this file or an entry of it lives).
  std::span<const uint8_t> bytes(const std::string& name) const;
  // The tensor as stored, for writing it elsewhere unchanged; keeps the map alive.
  SafetensorsEntry entry(const std::string& name) const;

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return path_; }
  const std::shared_ptr<MappedFile>& map() const { return map_; }

 private:
  SafetensorsFile() = default;
  const uint8_t* bytes_of(const TensorInfo& t) const;

  std::filesystem::path path_;
  std::shared_ptr<MappedFile> map_;
  size_t data_start_ = 0;  // 8 + N
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace ilm
