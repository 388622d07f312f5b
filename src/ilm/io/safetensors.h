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
#include <string>
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

// Writes atomically (AtomicWriter): a failed save leaves no file and no temporary behind.
// Tensors are stored in the order given, back to back; the header is padded with spaces so
// that the data section starts 8-byte aligned, as the Hugging Face writer does. Names must be
// unique, non-empty and not "__metadata__"; the error names the offending one.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

class SafetensorsFile {
 public:
  // Maps the file and validates the whole header up front (offsets, sizes, overlaps), so that
  // get() fails later only on a requested conversion, never on a malformed file.
  static SafetensorsFile open(const std::filesystem::path& path);

  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // by data offset
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

  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::filesystem::path& path() const { return path_; }

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
