// GGUF: the single-file model format of llama.cpp / ggml (docs/gguf.md).
//
//   "GGUF" u32 version (3; 2 is read too) u64 tensor_count u64 kv_count
//   kv_count x { string key, u32 value type, value }
//   tensor_count x { string name, u32 n_dims, u64 ne[n_dims] (innermost first), u32 ggml type,
//                    u64 offset (from the start of the data section, a multiple of alignment) }
//   padding to `alignment` (general.alignment, 32 when absent), then the data section.
//
// All little-endian; a string is u64 byte length + bytes (no terminator); an array is
// u32 element type + u64 count + elements. ilm shapes are outermost first, ggml's ne innermost
// first: ilm shape (OC, C) is ne = [C, OC]. The writer and reader convert, so callers only see
// ilm order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "ilm/core/error.h"
#include "ilm/core/tensor.h"

namespace ilm {

class MappedFile;

// Metadata value types; the numbers are the file's.
enum class GgufType : uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12
};
std::string_view gguf_type_name(GgufType t);  // "u32", "string", ...

// The elements of an array value: a vector of one scalar or string type. The alternative's
// index is the element's GgufType (arrays of arrays are not supported: llama.cpp writes none).
using GgufArray =
    std::variant<std::vector<uint8_t>, std::vector<int8_t>, std::vector<uint16_t>,
                 std::vector<int16_t>, std::vector<uint32_t>, std::vector<int32_t>,
                 std::vector<float>, std::vector<bool>, std::vector<std::string>, std::monostate,
                 std::vector<uint64_t>, std::vector<int64_t>, std::vector<double>>;

template <typename T, typename Variant>
struct gguf_is_alternative;
template <typename T, typename... Ts>
struct gguf_is_alternative<T, std::variant<Ts...>>
    : std::bool_constant<(std::is_same_v<T, Ts> || ...)> {};

// One metadata value. The alternative's index is its GgufType.
class GgufValue {
 public:
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool,
                               std::string, GgufArray, uint64_t, int64_t, double>;

  GgufValue() : v_(uint32_t{0}) {}
  // From exactly one of Storage's types (no silent conversions between number types).
  template <typename T>
  requires gguf_is_alternative<std::decay_t<T>, Storage>::value GgufValue(T&& x)
      : v_(std::forward<T>(x)) {}  // NOLINT: implicit on purpose
  GgufValue(const char* s) : v_(std::string(s)) {}
  GgufValue(std::string_view s) : v_(std::string(s)) {}
  // An array from a vector of one of GgufArray's element types.
  template <typename T>
  GgufValue(std::vector<T> items) : v_(GgufArray(std::move(items))) {}

  GgufType type() const { return GgufType(v_.index()); }
  // The element type of an array; throws for a scalar.
  GgufType array_type() const;
  size_t array_size() const;

  // The value as exactly T (a scalar type, std::string or std::vector<element>); throws
  // naming both types otherwise.
  template <typename T>
  const T& get() const;
  // Any integer type, range checked; bool is not an integer here.
  uint64_t to_u64() const;
  int64_t to_i64() const;
  // f32 or f64 (or an integer, converted).
  double to_f64() const;
  const std::string& str() const { return get<std::string>(); }

  // "u32 50257", "string \"gpt2\"", "array of 50257 string": for messages and `ilm info`.
  std::string describe() const;

  const Storage& storage() const { return v_; }
  bool operator==(const GgufValue& o) const { return v_ == o.v_; }

 private:
  Storage v_;
};

// ggml tensor types (the numbers are ggml's). The writer stores f32, f16 and q8_0; the reader
// opens files with any type listed in ggml_type_name's table and converts f32, f16, bf16 and
// q8_0 to f32.
enum class GgmlType : uint32_t { f32 = 0, f16 = 1, q8_0 = 8, bf16 = 30 };
// "F32", "Q4_K", ...; "type 31" for a number ggml does not (or no longer) define.
std::string ggml_type_name(uint32_t type);
// Values per block (1 for plain types) and bytes per block; 0, 0 for an unknown type.
std::pair<int64_t, size_t> ggml_block_layout(uint32_t type);
// Bytes of a tensor of `shape` (ilm order) stored as `type`; throws when the innermost
// dimension is not a multiple of the block size.
size_t ggml_tensor_bytes(uint32_t type, const std::vector<int64_t>& shape);

// llama.cpp's general.file_type for a file whose matrices are all `type` (0 all F32,
// 1 mostly F16, 7 mostly Q8_0, 32 mostly BF16).
uint32_t gguf_file_type_of(GgmlType type);

constexpr uint32_t kGgufDefaultAlignment = 32;
// ggml's tensor names are char[64] with the terminator: llama.cpp refuses longer ones.
constexpr size_t kGgufMaxTensorName = 63;

// Collects metadata and tensors, then writes a GGUF v3 file in one pass: header, then each
// tensor converted from f32 to its stored type in chunks, so the file is never all in memory.
// The write is atomic (AtomicWriter): a failure leaves no file and no temporary behind.
class GgufWriter {
 public:
  // In the order added. A second add of the same key is an error naming it. "general.alignment"
  // must be a u32 power of two; it sets the alignment the file is laid out with.
  void add_kv(std::string key, GgufValue value);
  // shape in ilm order (outermost first, 1 to 4 dimensions, each >= 1); data holds numel f32
  // values and must stay valid until write() returns (keep_alive may own it). Refuses (naming
  // the tensor) a duplicate or too long name, a bad shape, and for q8_0 an innermost dimension
  // that is not a multiple of 32.
  void add_tensor(std::string name, std::vector<int64_t> shape, GgmlType type, const float* data,
                  std::shared_ptr<const void> keep_alive = {});
  // A contiguous f32 tensor (the writer keeps a reference to its storage).
  void add_tensor(std::string name, const Tensor& t, GgmlType type);

  // Values that q8_0 cannot hold (not finite, or over 65504 * 127) fail here, naming the tensor
  // and the element.
  void write(const std::filesystem::path& path) const;

  uint32_t alignment() const { return alignment_; }
  size_t tensor_count() const { return tensors_.size(); }

 private:
  struct PendingTensor {
    std::string name;
    std::vector<int64_t> shape;
    GgmlType type;
    const float* data;
    std::shared_ptr<const void> keep_alive;
    uint64_t bytes;  // stored size; offsets are laid out in write()
  };
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::vector<PendingTensor> tensors_;
  std::unordered_map<std::string, size_t> kv_index_, tensor_index_;
  uint32_t alignment_ = kGgufDefaultAlignment;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // ilm order: outermost first (the file's ne reversed)
  uint32_t type = 0;           // a ggml type number (GgmlType for the common ones)
  uint64_t offset = 0;         // within the data section
  uint64_t bytes = 0;
  int64_t numel() const;
};

class GgufFile {
 public:
  // Maps the file and validates everything up front: magic, version (2 or 3), counts against
  // the file size, string lengths, value and tensor types, shapes, offsets (aligned, inside the
  // file, not overlapping). Errors name the file, then the key or tensor, and what is wrong.
  static GgufFile open(const std::filesystem::path& path);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_start_; }  // where the data section starts

  const std::vector<std::pair<std::string, GgufValue>>& kvs() const { return kvs_; }  // file order
  bool has_kv(std::string_view key) const;
  // Throws naming the key and the file when absent.
  const GgufValue& kv(std::string_view key) const;
  // The value as T, an error naming the key, the file and both types otherwise.
  template <typename T>
  const T& kv_as(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }  // file order
  bool has_tensor(std::string_view name) const;
  const GgufTensorInfo& tensor(std::string_view name) const;
  // The stored bytes of a tensor (a view of the map, alive as long as this GgufFile).
  std::span<const uint8_t> raw(const GgufTensorInfo& t) const;
  // The values as f32: f32 copied, f16 / bf16 widened, q8_0 dequantized. Other types are an
  // error naming the tensor and its type.
  std::vector<float> read_f32(const GgufTensorInfo& t) const;
  std::vector<float> read_f32(std::string_view name) const { return read_f32(tensor(name)); }

  const std::filesystem::path& path() const { return path_; }

 private:
  GgufFile() = default;
  std::filesystem::path path_;
  std::shared_ptr<MappedFile> map_;
  uint32_t version_ = 0, alignment_ = kGgufDefaultAlignment;
  uint64_t data_start_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> kv_index_, tensor_index_;
};

// A readable listing for `ilm info`: version, alignment, each key with its value (arrays as
// their type, length and first few items), each tensor with type, shape (ilm order) and offset.
std::string gguf_summary(const GgufFile& file, size_t array_items = 4);

// ---- templates ------------------------------------------------------------------------------

namespace gguf_detail {
[[noreturn]] void wrong_type(const GgufValue& v, std::string_view wanted);
template <typename T>
constexpr std::string_view wanted_name() {
  if constexpr (std::is_same_v<T, uint8_t>)
    return "u8";
  else if constexpr (std::is_same_v<T, int8_t>)
    return "i8";
  else if constexpr (std::is_same_v<T, uint16_t>)
    return "u16";
  else if constexpr (std::is_same_v<T, int16_t>)
    return "i16";
  else if constexpr (std::is_same_v<T, uint32_t>)
    return "u32";
  else if constexpr (std::is_same_v<T, int32_t>)
    return "i32";
  else if constexpr (std::is_same_v<T, float>)
    return "f32";
  else if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_same_v<T, std::string>)
    return "string";
  else if constexpr (std::is_same_v<T, uint64_t>)
    return "u64";
  else if constexpr (std::is_same_v<T, int64_t>)
    return "i64";
  else if constexpr (std::is_same_v<T, double>)
    return "f64";
  else if constexpr (std::is_same_v<T, std::vector<std::string>>)
    return "array of string";
  else if constexpr (std::is_same_v<T, std::vector<int32_t>>)
    return "array of i32";
  else if constexpr (std::is_same_v<T, std::vector<float>>)
    return "array of f32";
  else
    return "array";
}
}  // namespace gguf_detail

template <typename T>
const T& GgufValue::get() const {
  if constexpr (std::is_constructible_v<GgufArray, T> && !std::is_same_v<T, std::monostate>) {
    if (const GgufArray* a = std::get_if<GgufArray>(&v_))
      if (const T* items = std::get_if<T>(a)) return *items;
  } else {
    if (const T* x = std::get_if<T>(&v_)) return *x;
  }
  gguf_detail::wrong_type(*this, gguf_detail::wanted_name<T>());
}

template <typename T>
const T& GgufFile::kv_as(std::string_view key) const {
  try {
    return kv(key).get<T>();
  } catch (const Error& e) {
    throw e.with_context(fmt::format("{}: key {}", path_.string(), key));
  }
}

}  // namespace ilm
