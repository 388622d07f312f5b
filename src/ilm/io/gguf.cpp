// GGUF writer and reader (layout in gguf.h, user view in docs/gguf.md).
#include "ilm/io/gguf.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <numeric>

#include <fmt/ranges.h>

#include "ilm/core/dtype.h"
#include "ilm/io/file.h"
#include "ilm/kernels/cpu/q8_0.h"

namespace fs = std::filesystem;

namespace ilm {

static_assert(std::endian::native == std::endian::little,
              "GGUF is little-endian; ilm reads and writes it as is");

namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr uint32_t kWriteVersion = 3;
constexpr uint32_t kMaxDims = 4;  // GGML_MAX_DIMS

constexpr std::string_view kTypeNames[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                           "bool", "string", "array", "u64", "i64", "f64"};
constexpr uint32_t kTypeCount = 13;

// Bytes of one scalar of a type; 0 for string and array (variable).
constexpr size_t kScalarBytes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

struct GgmlTypeLayout {
  uint32_t code;
  std::string_view name;
  int64_t block;  // values per block
  size_t bytes;   // bytes per block
};

// ggml's types with their block layouts (ggml.c type traits), so that files holding any of them
// open and validate; numbers ggml retired (4, 5, 31-33) are absent.
constexpr GgmlTypeLayout kGgmlTypes[] = {
    {0, "F32", 1, 4},         {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},      {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},      {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},  {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},  {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},         {25, "I16", 1, 2},
    {26, "I32", 1, 4},        {27, "I64", 1, 8},        {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},   {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},
};

const GgmlTypeLayout* find_ggml_type(uint32_t code) {
  for (const GgmlTypeLayout& t : kGgmlTypes)
    if (t.code == code) return &t;
  return nullptr;
}

uint64_t align_up(uint64_t x, uint64_t alignment) {
  return (x + alignment - 1) / alignment * alignment;
}

// ---- serialization ----------------------------------------------------------------------------

template <typename T>
void put(std::string& out, T x) {
  out.append(reinterpret_cast<const char*>(&x), sizeof(T));
}

void put_string(std::string& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.append(s);
}

template <typename T>
void put_items(std::string& out, const std::vector<T>& items) {
  for (const T& x : items) {
    if constexpr (std::is_same_v<T, std::string>)
      put_string(out, x);
    else if constexpr (std::is_same_v<T, bool>)
      put<uint8_t>(out, x ? 1 : 0);
    else
      put<T>(out, x);
  }
}

void put_value(std::string& out, const GgufValue& v) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          put_string(out, x);
        } else if constexpr (std::is_same_v<T, bool>) {
          put<uint8_t>(out, x ? 1 : 0);
        } else if constexpr (std::is_same_v<T, GgufArray>) {
          put<uint32_t>(out, uint32_t(x.index()));
          std::visit(
              [&](const auto& items) {
                using V = std::decay_t<decltype(items)>;
                if constexpr (!std::is_same_v<V, std::monostate>) {
                  put<uint64_t>(out, items.size());
                  put_items(out, items);
                }
              },
              x);
        } else {
          put<T>(out, x);
        }
      },
      v.storage());
}

// ---- parsing ----------------------------------------------------------------------------------

// Reads the header with a bounds check before every access; errors name the file, the offset
// and what was being read.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size, const fs::path& file)
      : data_(data), size_(size), file_(file) {}

  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  void need(size_t n, std::string_view what) const {
    if (left() < n)
      fail("{}: truncated: {} needs {} bytes at offset {}, the file has {} bytes", file_.string(),
           what, n, pos_, size_);
  }
  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T x;
    std::memcpy(&x, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return x;
  }
  std::string read_string(std::string_view what) {
    const uint64_t n = read<uint64_t>(what);
    if (n > left())
      fail("{}: {} has length {} at offset {}, but only {} bytes are left in the file",
           file_.string(), what, n, pos_ - 8, left());
    std::string s(reinterpret_cast<const char*>(data_ + pos_), size_t(n));
    pos_ += size_t(n);
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const fs::path& file_;
};

GgufType read_type(Cursor& c, std::string_view what, const fs::path& file) {
  const uint32_t t = c.read<uint32_t>(what);
  if (t >= kTypeCount)
    fail("{}: {} has value type {} at offset {} (GGUF types are 0 to 12)", file.string(), what, t,
         c.pos() - 4);
  return GgufType(t);
}

template <typename T>
T read_scalar(Cursor& c, std::string_view what, const fs::path& file) {
  if constexpr (std::is_same_v<T, bool>) {
    const uint8_t b = c.read<uint8_t>(what);
    if (b > 1)
      fail("{}: {} is a bool of byte value {} at offset {} (expected 0 or 1)", file.string(), what,
           b, c.pos() - 1);
    return b == 1;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return c.read_string(what);
  } else {
    return c.read<T>(what);
  }
}

// A scalar or string value of type t (index t of GgufValue::Storage).
template <size_t I = 0>
GgufValue read_scalar_of(GgufType t, Cursor& c, std::string_view what, const fs::path& file) {
  if constexpr (I < kTypeCount) {
    if (size_t(t) == I) {
      using T = std::variant_alternative_t<I, GgufValue::Storage>;
      if constexpr (std::is_same_v<T, GgufArray>)
        return {};
      else
        return GgufValue(read_scalar<T>(c, what, file));
    }
    return read_scalar_of<I + 1>(t, c, what, file);
  } else {
    return {};
  }
}

template <size_t I = 0>
GgufArray read_items_of(GgufType t, uint64_t n, Cursor& c, std::string_view what,
                        const fs::path& file) {
  if constexpr (I < kTypeCount) {
    if (size_t(t) == I) {
      using V = std::variant_alternative_t<I, GgufArray>;
      if constexpr (std::is_same_v<V, std::monostate>) {
        return {};
      } else {
        V items;
        items.reserve(size_t(n));
        for (uint64_t i = 0; i < n; ++i)
          items.push_back(read_scalar<typename V::value_type>(c, what, file));
        return items;
      }
    }
    return read_items_of<I + 1>(t, n, c, what, file);
  } else {
    return {};
  }
}

GgufValue read_value(GgufType t, Cursor& c, std::string_view what, const fs::path& file) {
  if (t != GgufType::array) return read_scalar_of(t, c, what, file);
  const GgufType elem = read_type(c, fmt::format("{} element type", what), file);
  if (elem == GgufType::array)
    fail("{}: {} is an array of arrays, which ilm does not read", file.string(), what);
  const uint64_t n = c.read<uint64_t>(fmt::format("{} length", what));
  // Each element takes at least this many bytes: refuse a count the file cannot hold before
  // reserving memory for it.
  const size_t min_bytes = elem == GgufType::string ? 8 : kScalarBytes[size_t(elem)];
  if (n > c.left() / min_bytes)
    fail("{}: {} claims {} elements of {} at offset {}, but only {} bytes are left in the file",
         file.string(), what, n, gguf_type_name(elem), c.pos() - 8, c.left());
  return GgufValue(read_items_of(elem, n, c, what, file));
}

std::string shape_string(const std::vector<int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

}  // namespace

// ---- names and layouts -------------------------------------------------------------------------

std::string_view gguf_type_name(GgufType t) {
  return uint32_t(t) < kTypeCount ? kTypeNames[uint32_t(t)] : std::string_view("unknown");
}

std::string ggml_type_name(uint32_t type) {
  const GgmlTypeLayout* t = find_ggml_type(type);
  return t ? std::string(t->name) : fmt::format("type {}", type);
}

std::pair<int64_t, size_t> ggml_block_layout(uint32_t type) {
  const GgmlTypeLayout* t = find_ggml_type(type);
  return t ? std::pair{t->block, t->bytes} : std::pair<int64_t, size_t>{0, 0};
}

size_t ggml_tensor_bytes(uint32_t type, const std::vector<int64_t>& shape) {
  const auto [block, block_bytes] = ggml_block_layout(type);
  ILM_CHECK(block > 0, "unknown ggml type {}", type);
  const int64_t inner = shape.empty() ? 1 : shape.back();
  ILM_CHECK(inner % block == 0,
            "{} stores blocks of {} values, but the innermost dimension of shape {} is {}",
            ggml_type_name(type), block, shape_string(shape), inner);
  uint64_t blocks = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const uint64_t d = uint64_t(i + 1 == shape.size() ? inner / block : shape[i]);
    ILM_CHECK(d == 0 || blocks <= std::numeric_limits<uint64_t>::max() / d / block_bytes,
              "shape {} is too large", shape_string(shape));
    blocks *= d;
  }
  return size_t(blocks * block_bytes);
}

uint32_t gguf_file_type_of(GgmlType type) {
  switch (type) {
    case GgmlType::f32:
      return 0;
    case GgmlType::f16:
      return 1;
    case GgmlType::q8_0:
      return 7;
    case GgmlType::bf16:
      return 32;
  }
  fail("no llama.cpp file type for ggml type {}", uint32_t(type));
}

int64_t GgufTensorInfo::numel() const {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, std::multiplies<>());
}

// ---- values -------------------------------------------------------------------------------------

namespace gguf_detail {
void wrong_type(const GgufValue& v, std::string_view wanted) {
  fail("expected {}, found {}", wanted, v.describe());
}
}  // namespace gguf_detail

GgufType GgufValue::array_type() const {
  const GgufArray* a = std::get_if<GgufArray>(&v_);
  ILM_CHECK(a, "expected an array, found {}", describe());
  return GgufType(a->index());
}

size_t GgufValue::array_size() const {
  const GgufArray* a = std::get_if<GgufArray>(&v_);
  ILM_CHECK(a, "expected an array, found {}", describe());
  return std::visit(
      [](const auto& items) -> size_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(items)>, std::monostate>)
          return 0;
        else
          return items.size();
      },
      *a);
}

uint64_t GgufValue::to_u64() const {
  return std::visit(
      [&](const auto& x) -> uint64_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_signed_v<T>)
            ILM_CHECK(x >= 0, "expected a non-negative integer, found {}", describe());
          return uint64_t(x);
        } else {
          fail("expected an integer, found {}", describe());
        }
      },
      v_);
}

int64_t GgufValue::to_i64() const {
  if (type() == GgufType::u64)
    ILM_CHECK(get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max()),
              "expected an integer that fits i64, found {}", describe());
  return std::visit(
      [&](const auto& x) -> int64_t {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>)
          return int64_t(x);
        else
          fail("expected an integer, found {}", describe());
      },
      v_);
}

double GgufValue::to_f64() const {
  return std::visit(
      [&](const auto& x) -> double {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
          return double(x);
        else
          fail("expected a number, found {}", describe());
      },
      v_);
}

std::string GgufValue::describe() const {
  return std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          const std::string shown = x.size() > 60 ? x.substr(0, 60) + "..." : x;
          return fmt::format("string \"{}\"", shown);
        } else if constexpr (std::is_same_v<T, GgufArray>) {
          return fmt::format("array of {} {}", array_size(), gguf_type_name(array_type()));
        } else if constexpr (std::is_same_v<T, bool>) {
          return x ? "bool true" : "bool false";
        } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) {
          return fmt::format("{} {}", gguf_type_name(type()), int(x));
        } else {
          return fmt::format("{} {}", gguf_type_name(type()), x);
        }
      },
      v_);
}

// ---- writer -------------------------------------------------------------------------------------

void GgufWriter::add_kv(std::string key, GgufValue value) {
  ILM_CHECK(!key.empty(), "GGUF metadata keys must not be empty");
  ILM_CHECK(!kv_index_.count(key), "GGUF metadata key {} is set twice", key);
  if (value.type() == GgufType::array)
    ILM_CHECK(value.array_type() != GgufType::array,
              "GGUF key {}: arrays of arrays are not written", key);
  if (key == "general.alignment") {
    ILM_CHECK(value.type() == GgufType::u32, "GGUF key general.alignment must be a u32, not {}",
              value.describe());
    const uint32_t a = value.get<uint32_t>();
    ILM_CHECK(a > 0 && std::has_single_bit(a),
              "GGUF key general.alignment must be a power of two, not {}", a);
    alignment_ = a;
  }
  kv_index_.emplace(key, kvs_.size());
  kvs_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::add_tensor(std::string name, std::vector<int64_t> shape, GgmlType type,
                            const float* data, std::shared_ptr<const void> keep_alive) {
  ILM_CHECK(!name.empty(), "GGUF tensor names must not be empty");
  ILM_CHECK(name.size() <= kGgufMaxTensorName,
            "GGUF tensor name {} has {} bytes; llama.cpp reads at most {}", name, name.size(),
            kGgufMaxTensorName);
  ILM_CHECK(!tensor_index_.count(name), "GGUF tensor {} is added twice", name);
  ILM_CHECK(type == GgmlType::f32 || type == GgmlType::f16 || type == GgmlType::q8_0,
            "GGUF tensor {}: ilm writes F32, F16 and Q8_0, not {}", name,
            ggml_type_name(uint32_t(type)));
  ILM_CHECK(!shape.empty() && shape.size() <= kMaxDims,
            "GGUF tensor {}: shape {} has {} dimensions; ggml takes 1 to {}", name,
            shape_string(shape), shape.size(), kMaxDims);
  for (int64_t d : shape)
    ILM_CHECK(d >= 1, "GGUF tensor {}: shape {} has a dimension below 1", name,
              shape_string(shape));
  if (type == GgmlType::q8_0)
    ILM_CHECK(shape.back() % cpu::kQ8_0BlockSize == 0,
              "GGUF tensor {}: Q8_0 needs the innermost dimension to be a multiple of {}, "
              "but shape {} ends in {} (store it as F16 or F32)",
              name, cpu::kQ8_0BlockSize, shape_string(shape), shape.back());
  ILM_CHECK(data, "GGUF tensor {}: no data", name);
  uint64_t bytes;
  try {
    bytes = ggml_tensor_bytes(uint32_t(type), shape);
  } catch (const Error& e) {
    throw e.with_context(fmt::format("GGUF tensor {}", name));
  }
  tensor_index_.emplace(name, tensors_.size());
  tensors_.push_back({std::move(name), std::move(shape), type, data, std::move(keep_alive), bytes});
}

void GgufWriter::add_tensor(std::string name, const Tensor& t, GgmlType type) {
  ILM_CHECK(t.defined() && t.dtype() == DType::f32,
            "GGUF tensor {}: the source must be f32, not {}", name,
            t.defined() ? dtype_name(t.dtype()) : "undefined");
  // The tensor shares its storage: holding a copy keeps the data alive until write().
  auto keep = std::make_shared<Tensor>(t);
  add_tensor(std::move(name), t.shape().to_vector(), type, t.f32(), keep);
}

void GgufWriter::write(const fs::path& path) const {
  std::string header;
  header.append(kMagic, 4);
  put<uint32_t>(header, kWriteVersion);
  put<uint64_t>(header, tensors_.size());
  put<uint64_t>(header, kvs_.size());
  for (const auto& [key, value] : kvs_) {
    put_string(header, key);
    put<uint32_t>(header, uint32_t(value.type()));
    put_value(header, value);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    put_string(header, t.name);
    put<uint32_t>(header, uint32_t(t.shape.size()));
    for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) put<uint64_t>(header, uint64_t(*d));
    put<uint32_t>(header, uint32_t(t.type));
    put<uint64_t>(header, offset);
    offset = align_up(offset + t.bytes, alignment_);
  }
  header.resize(size_t(align_up(header.size(), alignment_)), '\0');

  AtomicWriter out(path);
  out.write(header);
  // Converted a chunk at a time (a multiple of the Q8_0 block), so memory stays small.
  constexpr int64_t kChunk = int64_t(cpu::kQ8_0BlockSize) * 4096;
  std::vector<uint8_t> buffer;
  const std::string zeros(alignment_, '\0');
  for (const PendingTensor& t : tensors_) {
    const int64_t n =
        std::accumulate(t.shape.begin(), t.shape.end(), int64_t{1}, std::multiplies<>());
    for (int64_t begin = 0; begin < n; begin += kChunk) {
      const int64_t count = std::min(kChunk, n - begin);
      const float* src = t.data + begin;
      switch (t.type) {
        case GgmlType::f32:
          out.write(src, size_t(count) * 4);
          break;
        case GgmlType::f16: {
          buffer.resize(size_t(count) * 2);
          for (int64_t i = 0; i < count; ++i) {
            const uint16_t h = f32_to_f16(src[i]);
            std::memcpy(buffer.data() + 2 * i, &h, 2);
          }
          out.write(buffer.data(), buffer.size());
          break;
        }
        case GgmlType::q8_0: {
          const int64_t bad = cpu::q8_0_check_range(src, count);
          if (bad >= 0) {
            const int64_t at = begin + bad;
            fail(
                "{}: GGUF tensor {}: element {} (row {}, column {}) is {}, which Q8_0 cannot "
                "hold (finite, below {}); store it as F16 or F32",
                path.string(), t.name, at, at / t.shape.back(), at % t.shape.back(), src[bad],
                65504.0 * 127.0);
          }
          buffer.resize(size_t(count / cpu::kQ8_0BlockSize) * cpu::kQ8_0BlockBytes);
          cpu::q8_0_quantize(buffer.data(), src, count);
          out.write(buffer.data(), buffer.size());
          break;
        }
        default:
          fail("GGUF tensor {}: cannot write {}", t.name, ggml_type_name(uint32_t(t.type)));
      }
    }
    const uint64_t pad = align_up(t.bytes, alignment_) - t.bytes;
    out.write(zeros.data(), size_t(pad));
  }
  out.commit();
}

// ---- reader -------------------------------------------------------------------------------------

GgufFile GgufFile::open(const fs::path& path) {
  GgufFile f;
  f.path_ = path;
  f.map_ = MappedFile::open(path);
  const std::string file = path.string();
  Cursor c(f.map_->data(), f.map_->size(), path);

  c.need(4, "the magic \"GGUF\"");
  if (std::memcmp(f.map_->data(), kMagic, 4) != 0) {
    std::string seen;
    for (int i = 0; i < 4; ++i) seen += fmt::format("{:02x}", f.map_->data()[i]);
    fail("{}: not a GGUF file (starts with bytes {}, expected \"GGUF\")", file, seen);
  }
  c.read<uint32_t>("magic");
  f.version_ = c.read<uint32_t>("the version");
  if (f.version_ != 2 && f.version_ != 3) {
    if (__builtin_bswap32(f.version_) == 2 || __builtin_bswap32(f.version_) == 3)
      fail("{}: a big-endian GGUF file (version {} byte-swapped); ilm reads little-endian only",
           file, __builtin_bswap32(f.version_));
    fail("{}: GGUF version {} is not supported (ilm reads versions 2 and 3)", file, f.version_);
  }
  const uint64_t tensor_count = c.read<uint64_t>("the tensor count");
  const uint64_t kv_count = c.read<uint64_t>("the metadata count");
  // The smallest possible entries: key (8 + 1) + type 4 + 1-byte value; name 8 + 1 + n_dims 4
  // + one dim 8 + type 4 + offset 8.
  if (kv_count > c.left() / 14)
    fail("{}: the header claims {} metadata entries, more than the {} bytes left can hold", file,
         kv_count, c.left());
  if (tensor_count > c.left() / 33)
    fail("{}: the header claims {} tensors, more than the {} bytes left can hold", file,
         tensor_count, c.left());

  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key = c.read_string(fmt::format("metadata key {}", i));
    if (key.empty()) fail("{}: metadata key {} is empty", file, i);
    if (f.kv_index_.count(key)) fail("{}: metadata key {} appears twice", file, key);
    const std::string what = fmt::format("key {}", key);
    const GgufType type = read_type(c, what, path);
    GgufValue value = read_value(type, c, what, path);
    f.kv_index_.emplace(key, f.kvs_.size());
    f.kvs_.emplace_back(std::move(key), std::move(value));
  }
  if (f.has_kv("general.alignment")) {
    const GgufValue& a = f.kv("general.alignment");
    if (a.type() != GgufType::u32)
      fail("{}: key general.alignment is {}, expected a u32", file, a.describe());
    if (a.get<uint32_t>() == 0 || !std::has_single_bit(a.get<uint32_t>()))
      fail("{}: key general.alignment is {}, expected a power of two", file, a.get<uint32_t>());
    f.alignment_ = a.get<uint32_t>();
  }

  for (uint64_t i = 0; i < tensor_count; ++i) {
    GgufTensorInfo t;
    t.name = c.read_string(fmt::format("the name of tensor {}", i));
    if (t.name.empty()) fail("{}: tensor {} has an empty name", file, i);
    if (f.tensor_index_.count(t.name)) fail("{}: tensor {} appears twice", file, t.name);
    const std::string what = fmt::format("tensor {}", t.name);
    const uint32_t n_dims = c.read<uint32_t>(what + " dimension count");
    if (n_dims < 1 || n_dims > kMaxDims)
      fail("{}: {} has {} dimensions (ggml takes 1 to {})", file, what, n_dims, kMaxDims);
    t.shape.resize(n_dims);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = c.read<uint64_t>(what + " dimensions");
      if (ne > uint64_t(std::numeric_limits<int64_t>::max()) ||
          (ne != 0 && numel > uint64_t(std::numeric_limits<int64_t>::max()) / ne))
        fail("{}: {} has dimension {} of size {}: the element count overflows", file, what, d, ne);
      numel *= ne;
      t.shape[n_dims - 1 - d] = int64_t(ne);  // the file's ne is innermost first
    }
    t.type = c.read<uint32_t>(what + " type");
    if (!find_ggml_type(t.type))
      fail("{}: {} has ggml type {}, which ilm does not know", file, what, t.type);
    try {
      t.bytes = ggml_tensor_bytes(t.type, t.shape);
    } catch (const Error& e) {
      throw e.with_context(fmt::format("{}: {}", file, what));
    }
    t.offset = c.read<uint64_t>(what + " offset");
    if (t.offset % f.alignment_ != 0)
      fail("{}: {} starts at data offset {}, not a multiple of the alignment {}", file, what,
           t.offset, f.alignment_);
    f.tensor_index_.emplace(t.name, f.tensors_.size());
    f.tensors_.push_back(std::move(t));
  }

  f.data_start_ = align_up(c.pos(), f.alignment_);
  const uint64_t file_size = f.map_->size();
  const uint64_t data_size = file_size > f.data_start_ ? file_size - f.data_start_ : 0;
  for (const GgufTensorInfo& t : f.tensors_)
    if (t.offset > data_size || t.bytes > data_size - t.offset)
      fail(
          "{}: tensor {} ({} {}, {} bytes at data offset {}) runs past the end of the file: the "
          "data section holds {} bytes (truncated?)",
          file, t.name, ggml_type_name(t.type), shape_string(t.shape), t.bytes, t.offset,
          data_size);
  std::vector<const GgufTensorInfo*> by_offset;
  for (const GgufTensorInfo& t : f.tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo& a = *by_offset[i - 1];
    const GgufTensorInfo& b = *by_offset[i];
    if (a.offset + a.bytes > b.offset)
      fail("{}: tensors {} (bytes {} to {}) and {} (from {}) overlap", file, a.name, a.offset,
           a.offset + a.bytes, b.name, b.offset);
  }
  return f;
}

bool GgufFile::has_kv(std::string_view key) const {
  return kv_index_.find(key) != kv_index_.end();
}

const GgufValue& GgufFile::kv(std::string_view key) const {
  auto it = kv_index_.find(key);
  if (it == kv_index_.end()) fail("{}: no metadata key {}", path_.string(), key);
  return kvs_[it->second].second;
}

bool GgufFile::has_tensor(std::string_view name) const {
  return tensor_index_.find(name) != tensor_index_.end();
}

const GgufTensorInfo& GgufFile::tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  if (it == tensor_index_.end()) fail("{}: no tensor {}", path_.string(), name);
  return tensors_[it->second];
}

std::span<const uint8_t> GgufFile::raw(const GgufTensorInfo& t) const {
  return {map_->data() + data_start_ + t.offset, size_t(t.bytes)};
}

std::vector<float> GgufFile::read_f32(const GgufTensorInfo& t) const {
  const int64_t n = t.numel();
  std::vector<float> out(static_cast<size_t>(n));
  const uint8_t* src = raw(t).data();
  switch (t.type) {
    case uint32_t(GgmlType::f32):
      std::memcpy(out.data(), src, size_t(n) * 4);
      break;
    case uint32_t(GgmlType::f16):
    case uint32_t(GgmlType::bf16):
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[size_t(i)] = t.type == uint32_t(GgmlType::f16) ? f16_to_f32(h) : bf16_to_f32(h);
      }
      break;
    case uint32_t(GgmlType::q8_0):
      cpu::q8_0_dequantize(out.data(), src, n);
      break;
    default:
      fail("{}: tensor {} is {}; ilm converts F32, F16, BF16 and Q8_0 to f32", path_.string(),
           t.name, ggml_type_name(t.type));
  }
  return out;
}

std::string gguf_summary(const GgufFile& file, size_t array_items) {
  std::string out =
      fmt::format("{}: GGUF v{}, alignment {}, {} keys, {} tensors\n", file.path().string(),
                  file.version(), file.alignment(), file.kvs().size(), file.tensors().size());
  for (const auto& [key, value] : file.kvs()) {
    std::string shown = value.describe();
    if (value.type() == GgufType::array && value.array_size() > 0) {
      std::vector<std::string> items;
      std::visit(
          [&](const auto& xs) {
            using V = std::decay_t<decltype(xs)>;
            if constexpr (!std::is_same_v<V, std::monostate>) {
              for (size_t i = 0; i < xs.size() && i < array_items; ++i) {
                if constexpr (std::is_same_v<V, std::vector<std::string>>)
                  items.push_back(fmt::format("\"{}\"", xs[i]));
                else if constexpr (std::is_same_v<V, std::vector<bool>>)
                  items.push_back(xs[i] ? "true" : "false");
                else if constexpr (std::is_same_v<V, std::vector<int8_t>> ||
                                   std::is_same_v<V, std::vector<uint8_t>>)
                  items.push_back(std::to_string(int(xs[i])));
                else
                  items.push_back(fmt::format("{}", xs[i]));
              }
            }
          },
          std::get<GgufArray>(value.storage()));
      shown += fmt::format(": [{}{}]", fmt::join(items, ", "),
                           value.array_size() > array_items ? ", ..." : "");
    }
    out += fmt::format("  {} = {}\n", key, shown);
  }
  for (const GgufTensorInfo& t : file.tensors())
    out += fmt::format("  {} {} {} at {} ({} bytes)\n", t.name, ggml_type_name(t.type),
                       shape_string(t.shape), t.offset, t.bytes);
  return out;
}

}  // namespace ilm
