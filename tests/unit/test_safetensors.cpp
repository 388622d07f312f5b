#include "ilm/io/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "ilm/core/error.h"
#include "ilm/io/file.h"

namespace fs = std::filesystem;
using ilm::DType;
using ilm::SafetensorsFile;
using ilm::Shape;
using ilm::Tensor;

namespace {

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("ilm_test_safetensors_" + std::to_string(getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

std::string u64_le(uint64_t n) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &n, 8);
  return s;
}

// A file as a foreign writer may lay it out: no padding unless the header text carries it.
void write_raw(const fs::path& path, const std::string& header, const std::string& data) {
  ilm::write_file_atomic(path, u64_le(header.size()) + header + data);
}

template <typename T>
std::string bytes_of(std::initializer_list<T> values) {
  std::string s(values.size() * sizeof(T), '\0');
  std::memcpy(s.data(), std::data(values), s.size());
  return s;
}

template <typename T>
Tensor make(Shape shape, std::initializer_list<T> values, DType dtype) {
  Tensor t = Tensor::zeros(shape, dtype);
  EXPECT_EQ(size_t(t.numel()), values.size());
  std::memcpy(t.raw(), std::data(values), t.nbytes());
  return t;
}

std::string raw_bytes(const Tensor& t) {
  return t.nbytes() ? std::string(static_cast<const char*>(t.raw()), t.nbytes()) : std::string();
}

// Runs `fn`, which must throw ilm::Error, and returns the message.
template <typename F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const ilm::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ilm::Error thrown";
  return "";
}

// True when `p` lies inside a mapping of `file` in this process (/proc/self/maps).
bool inside_mapping_of(const void* p, const fs::path& file) {
  std::ifstream maps("/proc/self/maps");
  const std::string want = fs::canonical(file).string();
  const auto addr = reinterpret_cast<uintptr_t>(p);
  for (std::string line; std::getline(maps, line);) {
    if (line.size() < want.size() || line.compare(line.size() - want.size(), want.size(), want))
      continue;
    uintptr_t lo = 0, hi = 0;
    char dash;
    std::istringstream(line) >> std::hex >> lo >> dash >> hi;
    if (lo <= addr && addr < hi) return true;
  }
  return false;
}

TEST_F(Safetensors, RoundTripsEveryDTypeInOrder) {
  std::vector<std::pair<std::string, Tensor>> in = {
      {"f32", make<float>({2, 3}, {1, -2, 3.5f, 0, 1e-8f, -7}, DType::f32)},
      {"bf16", make<uint16_t>({3}, {0x3f80, 0xc020, 0x0001}, DType::bf16)},
      {"f16", make<uint16_t>({1, 3}, {0x3c00, 0x7bff, 0x8001}, DType::f16)},
      {"i32", make<int32_t>({2, 2}, {-2147483647 - 1, -1, 0, 2147483647}, DType::i32)},
      {"u8", make<uint8_t>({3}, {0, 128, 255}, DType::u8)},
      {"u16", make<uint16_t>({2}, {1, 65535}, DType::u16)},
      {"u32", make<uint32_t>({1}, {4294967295u}, DType::u32)},
      {"scalar", make<float>({}, {3.25f}, DType::f32)},
      {"empty", Tensor::zeros({0}, DType::f32)},
      {"empty2d", Tensor::zeros({4, 0}, DType::bf16)},
  };
  const fs::path path = dir_ / "all.safetensors";
  ilm::save_safetensors(path, in);

  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.path(), path);
  EXPECT_TRUE(f.metadata().empty());
  ASSERT_EQ(f.tensors().size(), in.size());
  size_t offset = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const auto& [name, t] = in[i];
    SCOPED_TRACE(name);
    const ilm::TensorInfo& info = f.tensors()[i];
    // Empty tensors share an offset with their neighbour; sorting may put them either side.
    if (t.numel() > 0) {
      EXPECT_EQ(info.name, name);
    }
    ASSERT_TRUE(f.has(name));
    EXPECT_EQ(f.info(name).begin, offset);
    EXPECT_EQ(f.info(name).end, offset + t.nbytes());
    EXPECT_EQ(f.info(name).file_dtype, ilm::dtype_name(t.dtype()));
    offset += t.nbytes();
    Tensor got = f.get(name);
    EXPECT_EQ(got.dtype(), t.dtype());
    EXPECT_EQ(got.shape(), t.shape());
    EXPECT_EQ(raw_bytes(got), raw_bytes(t));
  }
  EXPECT_EQ(f.get("scalar").shape().ndim(), 0);
  EXPECT_EQ(f.get("scalar").f32()[0], 3.25f);
  EXPECT_EQ(f.get("empty").numel(), 0);
  EXPECT_FALSE(f.has("missing"));
}

TEST_F(Safetensors, MetadataRoundTrips) {
  const fs::path path = dir_ / "meta.safetensors";
  std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"note", "ilm \"quoted\" é"}, {"", ""}};
  ilm::save_safetensors(path, {{"w", make<float>({1}, {1}, DType::f32)}}, meta);
  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.metadata(), meta);
  EXPECT_EQ(f.tensors().size(), 1u);  // __metadata__ is not a tensor

  // A null __metadata__ (written by some tools) reads as none.
  write_raw(dir_ / "null.safetensors", R"({"__metadata__":null})", "");
  EXPECT_TRUE(SafetensorsFile::open(dir_ / "null.safetensors").metadata().empty());
}

TEST_F(Safetensors, HeaderIsPaddedSoDataStartsAligned) {
  // Names of every length mod 8 exercise every amount of padding.
  for (int len = 1; len <= 9; ++len) {
    SCOPED_TRACE(len);
    const fs::path path = dir_ / ("pad" + std::to_string(len) + ".safetensors");
    ilm::save_safetensors(path,
                          {{std::string(size_t(len), 'x'), make<float>({1}, {2}, DType::f32)}});
    std::string bytes = ilm::read_file(path);
    uint64_t n;
    std::memcpy(&n, bytes.data(), 8);
    EXPECT_EQ((8 + n) % 8, 0u);
    EXPECT_EQ(bytes.size(), 8 + n + 4);
    std::string header = bytes.substr(8, n);
    EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}'));  // only spaces after the JSON
    EXPECT_LT(n - header.rfind('}') - 1, 8u);
  }
}

TEST_F(Safetensors, AlignedGetIsAZeroCopyViewOfTheMap) {
  const fs::path path = dir_ / "view.safetensors";
  // h keeps w at a 4-byte offset: the writer adds no padding between tensors.
  ilm::save_safetensors(path, {{"h", make<uint16_t>({2}, {0x3c00, 0}, DType::f16)},
                               {"w", make<float>({4}, {1, 2, 3, 4}, DType::f32)}});
  Tensor w;
  {
    SafetensorsFile f = SafetensorsFile::open(path);
    w = f.get("w");
    EXPECT_TRUE(inside_mapping_of(w.raw(), path));
    EXPECT_EQ(f.get("w").raw(), w.raw());
    // Asking for the stored dtype explicitly is the same view.
    EXPECT_EQ(f.get("w", DType::f32).raw(), w.raw());
  }
  // The view keeps the map alive after the SafetensorsFile is gone.
  EXPECT_TRUE(inside_mapping_of(w.raw(), path));
  EXPECT_EQ(w.f32()[3], 4.0f);
}

TEST_F(Safetensors, UnalignedDataFromAForeignWriterIsCopied) {
  // The header is padded so the data section starts 8-aligned (a map starts page aligned);
  // a 1-byte tensor first then puts w one byte past a 4-byte boundary.
  std::string layout = R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                       R"("w":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  layout.append((8 - (8 + layout.size()) % 8) % 8, ' ');
  const fs::path path = dir_ / "foreign.safetensors";
  write_raw(path, layout, std::string(1, '\x07') + bytes_of<float>({1.5f, -2}));
  SafetensorsFile f = SafetensorsFile::open(path);
  Tensor w = f.get("w");
  EXPECT_FALSE(inside_mapping_of(w.raw(), path));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.raw()) % alignof(float), 0u);
  EXPECT_EQ(w.f32()[0], 1.5f);
  EXPECT_EQ(w.f32()[1], -2.0f);
  Tensor b = f.get("b");
  EXPECT_TRUE(inside_mapping_of(b.raw(), path));  // bytes are always aligned
  EXPECT_EQ(b.data<uint8_t>()[0], 7);
}

TEST_F(Safetensors, ConvertsBetweenFloatTypes) {
  const fs::path path = dir_ / "conv.safetensors";
  // bf16: 1.0, -2.5, 0.15625, 3.0e38-ish; all exact in f32.
  ilm::save_safetensors(
      path, {{"bf", make<uint16_t>({2, 2}, {0x3f80, 0xc020, 0x3e20, 0x7f61}, DType::bf16)},
             {"f", make<float>({5}, {1.0f, -2.0f, 65504.0f, 0.1f, 1e6f}, DType::f32)},
             {"h", make<uint16_t>({2}, {0x3555, 0x0001}, DType::f16)}});
  SafetensorsFile f = SafetensorsFile::open(path);

  Tensor bf = f.get("bf", DType::f32);
  EXPECT_EQ(bf.dtype(), DType::f32);
  EXPECT_EQ(bf.shape(), Shape({2, 2}));
  EXPECT_EQ(bf.f32()[0], 1.0f);
  EXPECT_EQ(bf.f32()[1], -2.5f);
  EXPECT_EQ(bf.f32()[2], 0.15625f);
  EXPECT_EQ(bf.f32()[3], ilm::bf16_to_f32(0x7f61));

  Tensor h = f.get("f", DType::f16);
  const auto* hb = static_cast<const uint16_t*>(h.raw());
  EXPECT_EQ(hb[0], 0x3c00);
  EXPECT_EQ(hb[1], 0xc000);
  EXPECT_EQ(hb[2], 0x7bff);
  EXPECT_EQ(hb[3], 0x2e66);  // 0.1 rounded to nearest
  EXPECT_EQ(hb[4], 0x7c00);  // overflow to +inf

  Tensor b = f.get("f", DType::bf16);
  EXPECT_EQ(static_cast<const uint16_t*>(b.raw())[3], 0x3dcd);  // 0.1 in bf16

  Tensor hf = f.get("h", DType::f32);
  EXPECT_FLOAT_EQ(hf.f32()[0], 0.333251953125f);
  EXPECT_EQ(hf.f32()[1], std::ldexp(1.0f, -24));  // smallest f16 subnormal
}

TEST_F(Safetensors, WidensTypesIlmHasNoDTypeFor) {
  const fs::path path = dir_ / "wide.safetensors";
  const std::string layout = R"({"i64":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},)"
                             R"("big":{"dtype":"I64","shape":[1],"data_offsets":[24,32]},)"
                             R"("f64":{"dtype":"F64","shape":[2],"data_offsets":[32,48]},)"
                             R"("mask":{"dtype":"BOOL","shape":[2],"data_offsets":[48,50]},)"
                             R"("i8":{"dtype":"I8","shape":[2],"data_offsets":[50,52]},)"
                             R"("u64":{"dtype":"U64","shape":[1],"data_offsets":[52,60]}})";
  std::string data = bytes_of<int64_t>({-5, 0, 1023}) + bytes_of<int64_t>({int64_t(1) << 40}) +
                     bytes_of<double>({0.5, -1e300}) + std::string("\x01\x00", 2) +
                     bytes_of<int8_t>({-128, 127}) + bytes_of<uint64_t>({4000000000u});
  write_raw(path, layout, data);
  SafetensorsFile f = SafetensorsFile::open(path);

  EXPECT_EQ(f.info("i64").dtype, DType::i32);
  EXPECT_EQ(f.info("i64").file_dtype, "I64");
  Tensor i = f.get("i64");
  EXPECT_EQ(i.dtype(), DType::i32);
  EXPECT_EQ(i.data<int32_t>()[0], -5);
  EXPECT_EQ(i.data<int32_t>()[2], 1023);
  EXPECT_EQ(f.get("i64", DType::f32).f32()[2], 1023.0f);
  std::string e = error_of([&] { f.get("big"); });
  EXPECT_NE(e.find("wide.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("'big'"), std::string::npos) << e;
  EXPECT_NE(e.find("1099511627776"), std::string::npos) << e;

  Tensor d = f.get("f64");
  EXPECT_EQ(d.dtype(), DType::f32);
  EXPECT_EQ(d.f32()[0], 0.5f);
  EXPECT_TRUE(std::isinf(d.f32()[1]) && d.f32()[1] < 0);
  EXPECT_EQ(f.get("mask").dtype(), DType::u8);
  EXPECT_EQ(f.get("mask").data<uint8_t>()[0], 1);
  EXPECT_EQ(f.get("i8").data<int32_t>()[0], -128);
  EXPECT_NE(error_of([&] { f.get("i8", DType::u8); }).find("-128"), std::string::npos);
  EXPECT_EQ(f.get("u64").dtype(), DType::u32);
  EXPECT_EQ(f.get("u64").data<uint32_t>()[0], 4000000000u);
}

TEST_F(Safetensors, Fp8DecodesToF32) {
  const fs::path path = dir_ / "fp8.safetensors";
  const std::string layout = R"({"e4m3":{"dtype":"F8_E4M3","shape":[6],"data_offsets":[0,6]},)"
                             R"("e5m2":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[6,7]},)"
                             R"("e8m0":{"dtype":"F8_E8M0","shape":[2],"data_offsets":[7,9]}})";
  write_raw(path, layout, std::string("\x38\x40\xc0\x7e\x01\x7f\x3c\x7f\x80", 9));
  SafetensorsFile f = SafetensorsFile::open(path);
  Tensor a = f.get("e4m3");
  EXPECT_EQ(a.f32()[0], 1.0f);
  EXPECT_EQ(a.f32()[1], 2.0f);
  EXPECT_EQ(a.f32()[2], -2.0f);
  EXPECT_EQ(a.f32()[3], 448.0f);  // the largest E4M3 value
  EXPECT_EQ(a.f32()[4], std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(a.f32()[5]));
  EXPECT_EQ(f.get("e5m2").f32()[0], 1.0f);
  EXPECT_EQ(f.get("e8m0").f32()[0], 1.0f);
  EXPECT_EQ(f.get("e8m0").f32()[1], 2.0f);
}

TEST_F(Safetensors, RefusedConversionsNameTheTensor) {
  const fs::path path = dir_ / "refuse.safetensors";
  ilm::save_safetensors(path, {{"w", make<float>({1}, {1.5f}, DType::f32)},
                               {"ids", make<int32_t>({2}, {-1, 300}, DType::i32)}});
  SafetensorsFile f = SafetensorsFile::open(path);
  std::string e = error_of([&] { f.get("w", DType::i32); });
  EXPECT_NE(e.find("refuse.safetensors: tensor 'w' is F32"), std::string::npos) << e;
  e = error_of([&] { f.get("ids", DType::u8); });
  EXPECT_NE(e.find("refuse.safetensors: tensor 'ids'"), std::string::npos) << e;
  EXPECT_NE(e.find("-1"), std::string::npos) << e;
  // In range, an integer narrowing works.
  ilm::save_safetensors(path, {{"ids", make<int32_t>({2}, {0, 255}, DType::i32)}});
  EXPECT_EQ(SafetensorsFile::open(path).get("ids", DType::u8).data<uint8_t>()[1], 255);
}

TEST_F(Safetensors, ExpectedShapeMismatchNamesBothShapes) {
  const fs::path path = dir_ / "model.safetensors";
  ilm::save_safetensors(path, {{"h.0.attn.c_attn.weight", Tensor::zeros({2, 6}, DType::bf16)}});
  SafetensorsFile f = SafetensorsFile::open(path);
  Shape want{2, 2};
  EXPECT_EQ(error_of([&] { f.get("h.0.attn.c_attn.weight", DType::f32, &want); }),
            path.string() + ": tensor 'h.0.attn.c_attn.weight' has shape [2, 6], expected [2, 2]");
  Shape right{2, 6};
  EXPECT_EQ(f.get("h.0.attn.c_attn.weight", DType::f32, &right).shape(), right);
  std::string e = error_of([&] { f.get("h.1.mlp"); });
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_NE(e.find("'h.1.mlp'"), std::string::npos) << e;
  EXPECT_NE(error_of([&] { f.info("nope"); }).find("'nope'"), std::string::npos);
}

TEST_F(Safetensors, TensorsAreListedInDataOrder) {
  const fs::path path = dir_ / "order.safetensors";
  // std::map order would be a, b, c; the data says c, a, b.
  write_raw(path,
            R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
            R"("c":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
            bytes_of<float>({3, 1, 2}));
  SafetensorsFile f = SafetensorsFile::open(path);
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].name, "c");
  EXPECT_EQ(f.tensors()[1].name, "a");
  EXPECT_EQ(f.tensors()[2].name, "b");
  EXPECT_EQ(f.get("b").f32()[0], 2.0f);
}

// The bytes Python's `safetensors.torch.save_file({"a": torch.tensor([1., 2.])})` writes:
// compact JSON (54 bytes) padded with 2 spaces to N = 56, then the little-endian floats.
TEST_F(Safetensors, MatchesTheHuggingFaceLayoutByteForByte) {
  std::string expected = std::string("\x38\0\0\0\0\0\0\0", 8) +
                         R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})" + "  " +
                         std::string("\x00\x00\x80\x3f\x00\x00\x00\x40", 8);
  ASSERT_EQ(expected.size(), 8u + 56 + 8);

  const fs::path theirs = dir_ / "python.safetensors";
  ilm::write_file_atomic(theirs, expected);
  SafetensorsFile f = SafetensorsFile::open(theirs);
  ASSERT_EQ(f.tensors().size(), 1u);
  EXPECT_EQ(f.info("a").shape, Shape({2}));
  EXPECT_EQ(f.get("a").f32()[0], 1.0f);
  EXPECT_EQ(f.get("a").f32()[1], 2.0f);

  const fs::path ours = dir_ / "ours.safetensors";
  ilm::save_safetensors(ours, {{"a", make<float>({2}, {1, 2}, DType::f32)}});
  EXPECT_EQ(ilm::read_file(ours), expected);

  // With metadata, the header still parses to exactly what was saved.
  ilm::save_safetensors(ours, {{"a", make<float>({2}, {1, 2}, DType::f32)}}, {{"format", "pt"}});
  std::string bytes = ilm::read_file(ours);
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  nlohmann::json header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(header,
            nlohmann::json::parse(R"({"__metadata__":{"format":"pt"},)"
                                  R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"));
  EXPECT_EQ(bytes.substr(8 + n), bytes_of<float>({1, 2}));
}

TEST_F(Safetensors, FailedSaveLeavesNoFileBehind) {
  const fs::path path = dir_ / "bad.safetensors";
  Tensor t = make<float>({1}, {1}, DType::f32);
  std::string e = error_of([&] { ilm::save_safetensors(path, {{"a", t}, {"b", t}, {"a", t}}); });
  EXPECT_NE(e.find(path.string()), std::string::npos) << e;
  EXPECT_NE(e.find("duplicate tensor name 'a'"), std::string::npos) << e;
  EXPECT_TRUE(fs::is_empty(dir_)) << "no output and no temporary file";

  e = error_of([&] { ilm::save_safetensors(path, {{"", t}}); });
  EXPECT_NE(e.find("empty name"), std::string::npos) << e;
  e = error_of([&] { ilm::save_safetensors(path, {{"__metadata__", t}}); });
  EXPECT_NE(e.find("reserves"), std::string::npos) << e;
  e = error_of([&] { ilm::save_safetensors(path, {{"u", Tensor()}}); });
  EXPECT_NE(e.find("'u'"), std::string::npos) << e;
  e = error_of([&] { ilm::save_safetensors(path, {{"a", t}}, {{"k", "\xff"}}); });
  EXPECT_NE(e.find("UTF-8"), std::string::npos) << e;
  EXPECT_TRUE(fs::is_empty(dir_));

  // A failed save over an existing file keeps the old one.
  ilm::save_safetensors(path, {{"old", t}});
  const std::string before = ilm::read_file(path);
  EXPECT_THROW(ilm::save_safetensors(path, {{"x", t}, {"x", t}}), ilm::Error);
  EXPECT_EQ(ilm::read_file(path), before);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

struct Malformed {
  const char* file;    // also the test's name in failures
  std::string bytes;   // the whole file
  const char* expect;  // a part of the message besides the file name
};

std::string with_header(const std::string& header, const std::string& data = "") {
  return u64_le(header.size()) + header + data;
}

std::string entry(const std::string& name, const std::string& body) {
  return "{\"" + name + "\":" + body + "}";
}

TEST_F(Safetensors, MalformedFilesNameTheFileAndTheTensor) {
  const std::string f32_2 = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  const std::string eight(8, '\0');
  const std::vector<Malformed> cases = {
      {"empty.st", "", "too short"},
      {"short.st", std::string("\x05\0\0\0\0", 5), "too short"},
      {"absurd.st", u64_le(uint64_t(1) << 40) + "{}", "limit"},
      {"long.st", u64_le(100) + "{}", "past the end"},
      {"json.st", with_header(R"({"w": {"dtype": )"), "not valid JSON"},
      {"utf8.st", with_header("{\"w\xff\":{}}"), "\\xff"},  // quoted, printable
      {"array.st", with_header("[1, 2]"), "expected an object"},
      {"entry.st", with_header(entry("w", "3")), "tensor 'w': entry is number"},
      {"nodtype.st", with_header(entry("w", R"({"shape":[2],"data_offsets":[0,8]})"), eight),
       "tensor 'w': missing \"dtype\""},
      {"noshape.st", with_header(entry("w", R"({"dtype":"F32","data_offsets":[0,8]})"), eight),
       "tensor 'w': missing \"shape\""},
      {"nooffsets.st", with_header(entry("w", R"({"dtype":"F32","shape":[2]})"), eight),
       "tensor 'w': missing \"data_offsets\""},
      {"dtypetype.st",
       with_header(entry("w", R"({"dtype":5,"shape":[2],"data_offsets":[0,8]})"), eight),
       "tensor 'w': \"dtype\" is number"},
      {"shapetype.st",
       with_header(entry("w", R"({"dtype":"F32","shape":"2","data_offsets":[0,8]})"), eight),
       "tensor 'w': \"shape\" is string"},
      {"dimtype.st",
       with_header(entry("w", R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"), eight),
       "tensor 'w': shape dimension 0 is 2.0"},
      {"offsettype.st",
       with_header(entry("w", R"({"dtype":"F32","shape":[2],"data_offsets":[0,"8"]})"), eight),
       "tensor 'w': \"data_offsets\" is [0,\"8\"]"},
      {"offsetcount.st",
       with_header(entry("w", R"({"dtype":"F32","shape":[2],"data_offsets":[8]})"), eight),
       "tensor 'w': \"data_offsets\""},
      {"dtype.st",
       with_header(entry("w", R"({"dtype":"Q7","shape":[2],"data_offsets":[0,8]})"), eight),
       "tensor 'w': unknown dtype 'Q7'"},
      {"negative.st",
       with_header(entry("w", R"({"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]})"), eight),
       "tensor 'w': shape dimension 1 is negative (-1)"},
      {"ndim.st",
       with_header(entry("w", R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],)"
                              R"("data_offsets":[0,8]})"),
                   eight),
       "tensor 'w': shape has 9 dimensions"},
      {"hugedim.st",
       with_header(entry("w", R"({"dtype":"F32","shape":[4294967296,4294967296],)"
                              R"("data_offsets":[0,8]})"),
                   eight),
       "tensor 'w': data_offsets [0, 8] hold 8 bytes, but F32 [4294967296, 4294967296] needs "
       "more than 2^64"},
      {"backwards.st",
       with_header(entry("w", R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"), eight),
       "tensor 'w': data_offsets [8, 4] begin after end"},
      {"truncated.st", with_header(entry("w", f32_2), std::string(4, '\0')),
       "tensor 'w': data_offsets [0, 8] end past the 4-byte data section (truncated"},
      {"size.st",
       with_header(entry("w", R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), eight),
       "tensor 'w': data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12"},
      {"overlap.st",
       with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   std::string(12, '\0')),
       "tensors 'a' [0, 8) and 'b' [4, 12) overlap"},
      {"contained.st",
       with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                   R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                   R"("c":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                   std::string(16, '\0')),
       "tensors 'a' [0, 16) and 'b' [4, 8) overlap"},
      {"duplicate.st",
       with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                   R"("w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                   eight),
       "names 'w' twice"},
      {"metavalue.st", with_header(R"({"__metadata__":{"format":"pt","step":3}})"),
       "__metadata__ value of 'step' is 3, expected a string"},
      {"metatype.st", with_header(R"({"__metadata__":["pt"]})"), "__metadata__ is array"},
  };
  for (const Malformed& c : cases) {
    SCOPED_TRACE(c.file);
    const fs::path path = dir_ / c.file;
    ilm::write_file_atomic(path, c.bytes);
    std::string e = error_of([&] { SafetensorsFile::open(path); });
    EXPECT_EQ(e.rfind(path.string() + ": ", 0), 0u) << e;
    EXPECT_NE(e.find(c.expect), std::string::npos) << e;
  }
}

TEST_F(Safetensors, ToleratesWhatForeignWritersDo) {
  // Empty tensors may sit anywhere, even on another tensor's range; gaps and trailing bytes
  // are not an error; unknown fields in an entry are ignored.
  const fs::path path = dir_ / "loose.safetensors";
  write_raw(path,
            R"(  {"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1},)"
            R"("e":{"dtype":"BF16","shape":[0,3],"data_offsets":[2,2]},)"
            R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}   )",
            bytes_of<float>({1, 0, 2, 9}));
  SafetensorsFile f = SafetensorsFile::open(path);
  EXPECT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.get("b").f32()[0], 2.0f);
  EXPECT_EQ(f.get("e").shape(), Shape({0, 3}));
  EXPECT_EQ(f.get("e", DType::f32).numel(), 0);
}

}  // namespace
