#include "ilm/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ilm/core/error.h"
#include "ilm/io/file.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ilm {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; ilm reads and writes it as is");

namespace {

// Hugging Face's reader refuses headers past 100 MB: a larger length is a wrong file, and
// parsing it would cost more memory than any real header needs.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

enum class Stored : uint8_t {
  f32,
  bf16,
  f16,
  i32,
  u16,
  u32,
  u8,
  boolean,
  i8,
  i16,
  i64,
  u64,
  f64,
  f8_e5m2,
  f8_e4m3,
  f8_e8m0
};

struct StoredType {
  std::string_view name;
  Stored code;
  size_t size;
  DType loads_as;
  bool floating;
  bool same_bytes;  // the stored bytes are already `loads_as`: a view is possible
};

constexpr StoredType kStoredTypes[] = {
    {"F32", Stored::f32, 4, DType::f32, true, true},
    {"BF16", Stored::bf16, 2, DType::bf16, true, true},
    {"F16", Stored::f16, 2, DType::f16, true, true},
    {"I32", Stored::i32, 4, DType::i32, false, true},
    {"U16", Stored::u16, 2, DType::u16, false, true},
    {"U32", Stored::u32, 4, DType::u32, false, true},
    {"U8", Stored::u8, 1, DType::u8, false, true},
    {"BOOL", Stored::boolean, 1, DType::u8, false, true},
    {"I8", Stored::i8, 1, DType::i32, false, false},
    {"I16", Stored::i16, 2, DType::i32, false, false},
    {"I64", Stored::i64, 8, DType::i32, false, false},
    {"U64", Stored::u64, 8, DType::u32, false, false},
    {"F64", Stored::f64, 8, DType::f32, true, false},
    {"F8_E5M2", Stored::f8_e5m2, 1, DType::f32, true, false},
    {"F8_E4M3", Stored::f8_e4m3, 1, DType::f32, true, false},
    {"F8_E8M0", Stored::f8_e8m0, 1, DType::f32, true, false},
};

const StoredType* find_stored_type(std::string_view name) {
  for (const StoredType& t : kStoredTypes)
    if (t.name == name) return &t;
  return nullptr;
}

std::string stored_type_names() {
  std::string s;
  for (const StoredType& t : kStoredTypes) s += (s.empty() ? "" : ", ") + std::string(t.name);
  return s;
}

// OCP FP8 E4M3 ("fn" variant): bias 7, no infinities, S.1111.111 is NaN.
float f8_e4m3_to_f32(uint8_t b) {
  int exp = (b >> 3) & 0xf, mant = b & 0x7;
  if (exp == 15 && mant == 7) return std::numeric_limits<float>::quiet_NaN();
  float v = exp == 0 ? std::ldexp(float(mant), -9) : std::ldexp(float(8 + mant), exp - 10);
  return (b & 0x80) ? -v : v;
}

// E8M0 is a bare power-of-two scale (MX formats): 2^(b - 127), 0xff is NaN.
float f8_e8m0_to_f32(uint8_t b) {
  if (b == 0xff) return std::numeric_limits<float>::quiet_NaN();
  return std::ldexp(1.0f, int(b) - 127);
}

// Calls sink(i, value) for the n elements at `src` (which may be unaligned), with value a
// float/double for floating sources and an int64_t/uint64_t for integer ones. A sink that
// throws must run with kParallel false: an exception may not leave an OpenMP region.
template <bool kParallel, typename T, typename Decode, typename Sink>
void each(const uint8_t* src, int64_t n, Decode decode, Sink& sink) {
  auto body = [&](int64_t i) {
    T x;
    std::memcpy(&x, src + size_t(i) * sizeof(T), sizeof(T));
    sink(i, decode(x));
  };
  if constexpr (kParallel) {
#pragma omp parallel for schedule(static) if (n > (int64_t(1) << 16))
    for (int64_t i = 0; i < n; ++i) body(i);
  } else {
    for (int64_t i = 0; i < n; ++i) body(i);
  }
}

template <bool kParallel, typename Sink>
void decode(Stored code, const uint8_t* src, int64_t n, Sink&& sink) {
  auto i64 = [](auto x) { return int64_t(x); };
  switch (code) {
    case Stored::f32:
      return each<kParallel, float>(
          src, n, [](float x) { return x; }, sink);
    case Stored::bf16:
      return each<kParallel, uint16_t>(src, n, bf16_to_f32, sink);
    case Stored::f16:
      return each<kParallel, uint16_t>(src, n, f16_to_f32, sink);
    case Stored::f64:
      return each<kParallel, double>(
          src, n, [](double x) { return x; }, sink);
    case Stored::f8_e5m2:  // the high byte of an IEEE half
      return each<kParallel, uint8_t>(
          src, n, [](uint8_t x) { return f16_to_f32(uint16_t(x << 8)); }, sink);
    case Stored::f8_e4m3:
      return each<kParallel, uint8_t>(src, n, f8_e4m3_to_f32, sink);
    case Stored::f8_e8m0:
      return each<kParallel, uint8_t>(src, n, f8_e8m0_to_f32, sink);
    case Stored::i32:
      return each<kParallel, int32_t>(src, n, i64, sink);
    case Stored::u16:
      return each<kParallel, uint16_t>(src, n, i64, sink);
    case Stored::u32:
      return each<kParallel, uint32_t>(src, n, i64, sink);
    case Stored::u8:
    case Stored::boolean:
      return each<kParallel, uint8_t>(src, n, i64, sink);
    case Stored::i8:
      return each<kParallel, int8_t>(src, n, i64, sink);
    case Stored::i16:
      return each<kParallel, int16_t>(src, n, i64, sink);
    case Stored::i64:
      return each<kParallel, int64_t>(src, n, i64, sink);
    case Stored::u64:
      return each<kParallel, uint64_t>(
          src, n, [](uint64_t x) { return x; }, sink);
  }
}

template <typename Int>
void convert_to_int(const std::string& file, const TensorInfo& t, const StoredType& st,
                    const uint8_t* src, const Tensor& out) {
  if (st.floating)
    fail("{}: tensor '{}' is {}; ilm does not convert floating-point tensors to {}", file, t.name,
         st.name, dtype_name(out.dtype()));
  Int* o = static_cast<Int*>(out.raw());
  decode<false>(st.code, src, out.numel(), [&](int64_t i, auto v) {
    if constexpr (std::is_integral_v<decltype(v)>) {
      if (!std::in_range<Int>(v))
        fail("{}: tensor '{}': element {} of {} is {}, which does not fit {}", file, t.name, i,
             st.name, v, dtype_name(out.dtype()));
      o[i] = Int(v);
    }
  });
}

// nlohmann's parse errors quote the bytes they stopped at, which may be binary or broken UTF-8;
// escaped, the message stays printable and safe to embed in JSON replies and logs.
std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += char(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

// One entry of the header: every field checked against the data section of `data_size` bytes.
TensorInfo parse_entry(const std::string& file, const std::string& name, const json& entry,
                       uint64_t data_size) {
  if (!entry.is_object())
    fail("{}: tensor '{}': entry is {}, expected an object with dtype, shape and data_offsets",
         file, name, entry.type_name());
  auto field = [&](const char* key) -> const json& {
    auto it = entry.find(key);
    if (it == entry.end()) fail("{}: tensor '{}': missing \"{}\"", file, name, key);
    return *it;
  };

  const json& dtype = field("dtype");
  if (!dtype.is_string())
    fail("{}: tensor '{}': \"dtype\" is {}, expected a string", file, name, dtype.type_name());
  const StoredType* st = find_stored_type(dtype.get_ref<const std::string&>());
  if (!st)
    fail("{}: tensor '{}': unknown dtype '{}' (expected one of {})", file, name,
         dtype.get_ref<const std::string&>(), stored_type_names());

  const json& shape = field("shape");
  if (!shape.is_array())
    fail("{}: tensor '{}': \"shape\" is {}, expected an array of integers", file, name,
         shape.type_name());
  if (shape.size() > size_t(Shape::kMaxDims))
    fail("{}: tensor '{}': shape has {} dimensions; ilm supports at most {}", file, name,
         shape.size(), Shape::kMaxDims);
  std::vector<int64_t> dims;
  uint64_t bytes = st->size;
  bool overflow = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    const json& d = shape[i];
    if (!d.is_number_integer())
      fail("{}: tensor '{}': shape dimension {} is {}, expected a non-negative integer", file, name,
           i, d.dump());
    if (!d.is_number_unsigned())
      fail("{}: tensor '{}': shape dimension {} is negative ({})", file, name, i, d.dump());
    uint64_t v = d.get<uint64_t>();
    if (v > uint64_t(std::numeric_limits<int64_t>::max()))
      fail("{}: tensor '{}': shape dimension {} is too large ({})", file, name, i, v);
    dims.push_back(int64_t(v));
    overflow = overflow || __builtin_mul_overflow(bytes, v, &bytes);
  }
  if (overflow) bytes = std::numeric_limits<uint64_t>::max();  // a size no data section has

  const json& offsets = field("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    fail("{}: tensor '{}': \"data_offsets\" is {}, expected [begin, end] as non-negative integers",
         file, name, offsets.dump());
  uint64_t begin = offsets[0].get<uint64_t>(), end = offsets[1].get<uint64_t>();
  if (begin > end)
    fail("{}: tensor '{}': data_offsets [{}, {}] begin after end", file, name, begin, end);
  if (end > data_size)
    fail(
        "{}: tensor '{}': data_offsets [{}, {}] end past the {}-byte data section "
        "(truncated file?)",
        file, name, begin, end, data_size);
  Shape s(dims);
  if (end - begin != bytes)
    fail("{}: tensor '{}': data_offsets [{}, {}] hold {} bytes, but {} {} needs {}", file, name,
         begin, end, end - begin, st->name, s.to_string(),
         overflow ? std::string("more than 2^64") : std::to_string(bytes));
  return TensorInfo{name, st->loads_as, s, size_t(begin), size_t(end), std::string(st->name)};
}

}  // namespace

size_t safetensors_dtype_size(std::string_view dtype) {
  const StoredType* st = find_stored_type(dtype);
  if (!st) fail("unknown safetensors dtype '{}' (expected one of {})", dtype, stored_type_names());
  return st->size;
}

SafetensorsEntry SafetensorsEntry::of(std::string name, const Tensor& t) {
  SafetensorsEntry e{std::move(name), std::string(dtype_name(t.dtype())), t.shape(), {}, {}};
  if (!t.defined()) return e;  // the writer refuses it, naming the tensor
  e.bytes = {static_cast<const uint8_t*>(t.raw()), t.nbytes()};
  e.keep_alive = std::make_shared<Tensor>(t);  // a handle keeps the tensor's buffer alive
  return e;
}

SafetensorsWriter::SafetensorsWriter(fs::path path) : path_(std::move(path)) {}

void SafetensorsWriter::add(std::string name, const Tensor& t) {
  if (!t.defined()) fail("{}: tensor '{}' is undefined (holds no data)", path_.string(), name);
  add(SafetensorsEntry::of(std::move(name), t));
}

void SafetensorsWriter::add(SafetensorsEntry e) {
  const std::string file = path_.string();
  if (e.name.empty()) fail("{}: tensor #{} has an empty name", file, entries_.size());
  if (e.name == "__metadata__")
    fail("{}: tensor #{} is named '__metadata__', which the format reserves", file,
         entries_.size());
  for (const SafetensorsEntry& other : entries_)
    if (other.name == e.name) fail("{}: duplicate tensor name '{}'", file, e.name);
  const StoredType* st = find_stored_type(e.dtype);
  if (!st)
    fail("{}: tensor '{}': unknown dtype '{}' (expected one of {})", file, e.name, e.dtype,
         stored_type_names());
  const uint64_t want = uint64_t(e.shape.numel()) * st->size;
  if (e.bytes.size() != want)
    fail("{}: tensor '{}': {} bytes given, but {} {} needs {}", file, e.name, e.bytes.size(),
         e.dtype, e.shape.to_string(), want);
  data_bytes_ += want;
  entries_.push_back(std::move(e));
}

std::string SafetensorsWriter::header() const {
  // Key order as Hugging Face writes it: __metadata__ first, then per tensor dtype, shape,
  // data_offsets. Readers do not depend on it; it keeps our files byte-comparable to theirs.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    auto& m = header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata_) m[k] = v;
  }
  uint64_t offset = 0;
  for (const SafetensorsEntry& e : entries_) {
    auto& j = header[e.name];
    j["dtype"] = e.dtype;
    j["shape"] = e.shape.to_vector();
    j["data_offsets"] = {offset, offset + e.bytes.size()};
    offset += e.bytes.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail("{}: a tensor name or metadata string is not valid UTF-8: {}", path_.string(), e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts at 8 + N, a multiple of 8
  return text;
}

void SafetensorsWriter::write() const {
  const std::string text = header();
  AtomicWriter w(path_);
  uint64_t n = text.size();
  w.write(&n, 8);
  w.write(text);
  for (const SafetensorsEntry& e : entries_)
    if (!e.bytes.empty()) w.write(e.bytes.data(), e.bytes.size());
  w.commit();
}

void save_safetensors(const fs::path& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter w(path);
  for (const auto& [name, t] : tensors) w.add(name, t);
  w.set_metadata(metadata);
  w.write();
}

void save_safetensors(const fs::path& path, const std::vector<SafetensorsEntry>& entries,
                      const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter w(path);
  for (const SafetensorsEntry& e : entries) w.add(e);
  w.set_metadata(metadata);
  w.write();
}

SafetensorsFile SafetensorsFile::open(const fs::path& path) {
  SafetensorsFile f;
  f.path_ = path;
  f.map_ = MappedFile::open(path);
  const std::string file = path.string();
  const uint64_t size = f.map_->size();
  if (size < 8)
    fail("{}: not a safetensors file: {} bytes, too short for the 8-byte header length", file,
         size);
  uint64_t n;
  std::memcpy(&n, f.map_->data(), 8);
  if (n > kMaxHeaderBytes)
    fail("{}: header length {} is over the {}-byte limit (not a safetensors file?)", file, n,
         kMaxHeaderBytes);
  if (n > size - 8)
    fail("{}: header length {} is past the end of the {}-byte file (truncated file?)", file, n,
         size);
  f.data_start_ = size_t(8 + n);
  const uint64_t data_size = size - 8 - n;

  // nlohmann keeps the last of repeated keys; a header that names a tensor twice is ambiguous.
  std::string duplicate;
  std::set<std::string> keys;
  auto on_event = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && duplicate.empty() &&
        !keys.insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  const char* text = reinterpret_cast<const char*>(f.map_->data() + 8);
  json header;
  try {
    header = json::parse(text, text + n, on_event);
  } catch (const json::exception& e) {
    fail("{}: header is not valid JSON: {}", file, printable(e.what()));
  }
  if (!header.is_object())
    fail("{}: header is a JSON {}, expected an object of tensors", file, header.type_name());
  if (!duplicate.empty()) fail("{}: header names '{}' twice", file, duplicate);

  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;
      if (!value.is_object())
        fail("{}: __metadata__ is {}, expected an object of strings", file, value.type_name());
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string())
          fail("{}: __metadata__ value of '{}' is {}, expected a string", file, mk, mv.dump());
        f.metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    f.tensors_.push_back(parse_entry(file, key, value, data_size));
  }

  // File order. The header is a std::map, so equal ranges (empty tensors) sort by name.
  std::stable_sort(f.tensors_.begin(), f.tensors_.end(), [](const auto& a, const auto& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  const TensorInfo* reach = nullptr;  // the non-empty tensor reaching furthest so far
  for (const TensorInfo& t : f.tensors_) {
    if (t.begin == t.end) continue;
    if (reach && t.begin < reach->end)
      fail("{}: tensors '{}' [{}, {}) and '{}' [{}, {}) overlap", file, reach->name, reach->begin,
           reach->end, t.name, t.begin, t.end);
    if (!reach || t.end > reach->end) reach = &t;
  }
  for (size_t i = 0; i < f.tensors_.size(); ++i) f.index_.emplace(f.tensors_[i].name, i);
  return f;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end())
    fail("{}: no tensor '{}' (the file has {} tensors)", path_.string(), name, tensors_.size());
  return tensors_[it->second];
}

const uint8_t* SafetensorsFile::bytes_of(const TensorInfo& t) const {
  return map_->data() + data_start_ + t.begin;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const TensorInfo& t : tensors_) out.push_back(t.name);
  return out;
}

std::span<const uint8_t> SafetensorsFile::bytes(const std::string& name) const {
  const TensorInfo& t = info(name);
  return {bytes_of(t), t.end - t.begin};
}

SafetensorsEntry SafetensorsFile::entry(const std::string& name) const {
  const TensorInfo& t = info(name);
  return {t.name, t.file_dtype, t.shape, bytes(name), map_};
}

Tensor SafetensorsFile::view_f32(const std::string& name) const {
  const TensorInfo& t = info(name);
  if (t.file_dtype != "F32")
    fail(
        "{}: tensor '{}' is stored as {}, not F32, so it cannot be viewed as f32; load it "
        "converted instead",
        path_.string(), name, t.file_dtype);
  return get(name, DType::f32);
}

Tensor SafetensorsFile::get(const std::string& name) const {
  const TensorInfo& t = info(name);
  return get(name, t.dtype);
}

Tensor SafetensorsFile::get(const std::string& name, DType dtype, const Shape* expect_shape) const {
  const std::string file = path_.string();
  const TensorInfo& t = info(name);
  if (expect_shape && t.shape != *expect_shape)
    fail("{}: tensor '{}' has shape {}, expected {}", file, name, t.shape.to_string(),
         expect_shape->to_string());
  const StoredType& st = *find_stored_type(t.file_dtype);
  const uint8_t* src = bytes_of(t);
  const int64_t n = t.shape.numel();

  if (st.same_bytes && st.loads_as == dtype) {
    if (n > 0 && reinterpret_cast<uintptr_t>(src) % st.size == 0)
      return Tensor::wrap(const_cast<uint8_t*>(src), t.shape, dtype, map_);
    Tensor out = Tensor::zeros(t.shape, dtype);  // unaligned: a foreign writer did not pad
    if (n > 0) std::memcpy(out.raw(), src, out.nbytes());
    return out;
  }

  Tensor out = Tensor::zeros(t.shape, dtype);
  switch (dtype) {
    case DType::f32: {
      float* o = out.f32();
      decode<true>(st.code, src, n, [o](int64_t i, auto v) { o[i] = float(v); });
      break;
    }
    case DType::bf16: {
      uint16_t* o = static_cast<uint16_t*>(out.raw());
      decode<true>(st.code, src, n, [o](int64_t i, auto v) { o[i] = f32_to_bf16(float(v)); });
      break;
    }
    case DType::f16: {
      uint16_t* o = static_cast<uint16_t*>(out.raw());
      decode<true>(st.code, src, n, [o](int64_t i, auto v) { o[i] = f32_to_f16(float(v)); });
      break;
    }
    case DType::i32:
      convert_to_int<int32_t>(file, t, st, src, out);
      break;
    case DType::u16:
      convert_to_int<uint16_t>(file, t, st, src, out);
      break;
    case DType::u32:
      convert_to_int<uint32_t>(file, t, st, src, out);
      break;
    case DType::u8:
      convert_to_int<uint8_t>(file, t, st, src, out);
      break;
  }
  return out;
}

}  // namespace ilm
