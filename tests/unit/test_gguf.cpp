// GGUF: the Q8_0 blocks, the exact bytes of a small file, round trips of every metadata type and
// tensor type, and every corrupt or truncated header refused with a message naming the problem.
#include "ilm/io/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "ilm/core/dtype.h"
#include "ilm/io/file.h"
#include "ilm/kernels/cpu/q8_0.h"
#include "test_util.h"

namespace fs = std::filesystem;
using ilm::GgmlType;
using ilm::GgufFile;
using ilm::GgufType;
using ilm::GgufValue;
using ilm::GgufWriter;
using ilm::test::error_of;
using ilm::test::TempDir;

namespace {

// Little-endian bytes built by hand, to state a file's layout in the test itself.
struct Bytes {
  std::string s;
  Bytes& u8(uint8_t x) { return raw(&x, 1); }
  Bytes& u32(uint32_t x) { return raw(&x, 4); }
  Bytes& u64(uint64_t x) { return raw(&x, 8); }
  Bytes& f32(float x) { return raw(&x, 4); }
  Bytes& str(std::string_view x) {
    u64(x.size());
    s.append(x);
    return *this;
  }
  Bytes& text(std::string_view x) {
    s.append(x);
    return *this;
  }
  Bytes& pad_to(size_t alignment) {
    s.resize((s.size() + alignment - 1) / alignment * alignment, '\0');
    return *this;
  }
  Bytes& raw(const void* p, size_t n) {
    s.append(static_cast<const char*>(p), n);
    return *this;
  }
};

// A GGUF v3 header start: magic, version, counts.
Bytes header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
  Bytes b;
  b.text("GGUF").u32(version).u64(tensors).u64(kvs);
  return b;
}

// One tensor info: name, dims (ggml order, innermost first), type, offset.
Bytes& tensor_info(Bytes& b, std::string_view name, std::vector<uint64_t> ne, uint32_t type,
                   uint64_t offset) {
  b.str(name).u32(uint32_t(ne.size()));
  for (uint64_t d : ne) b.u64(d);
  return b.u32(type).u64(offset);
}

std::string open_error(const TempDir& dir, const std::string& bytes) {
  const fs::path p = dir.path / "bad.gguf";
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;  // no fsync: many small files
  return error_of([&] { GgufFile::open(p); });
}

std::vector<float> random_values(size_t n, float scale, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

uint16_t f16_bits(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}

}  // namespace

// ---- Q8_0 --------------------------------------------------------------------------------------

TEST(Q8_0, KnownBlocks) {
  // max|x| = 127: d = 1 exactly (f16 0x3C00), q = x rounded half away from zero.
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = -127.0f;
  x[2] = 0.5f;
  x[3] = -0.5f;
  x[4] = 2.5f;
  x[5] = 1.49f;
  x[6] = -3.7f;
  std::vector<uint8_t> q(ilm::cpu::kQ8_0BlockBytes);
  ilm::cpu::q8_0_quantize(q.data(), x.data(), 32);
  EXPECT_EQ(f16_bits(q.data()), 0x3C00);
  const int8_t expect[7] = {127, -127, 1, -1, 3, 1, -4};
  for (int i = 0; i < 7; ++i) EXPECT_EQ(int8_t(q[size_t(2 + i)]), expect[i]) << i;
  for (int i = 7; i < 32; ++i) EXPECT_EQ(q[size_t(2 + i)], 0) << i;

  // max|x| = 254: d = 2 (0x4000); 3 / 2 = 1.5 rounds to 2, so 3 comes back as 4.
  std::vector<float> y(32, 3.0f);
  y[31] = -254.0f;
  ilm::cpu::q8_0_quantize(q.data(), y.data(), 32);
  EXPECT_EQ(f16_bits(q.data()), 0x4000);
  EXPECT_EQ(int8_t(q[2]), 2);
  EXPECT_EQ(int8_t(q[33]), -127);
  std::vector<float> back(32);
  ilm::cpu::q8_0_dequantize(back.data(), q.data(), 32);
  EXPECT_EQ(back[0], 4.0f);
  EXPECT_EQ(back[31], -254.0f);

  // All zeros: scale 0, quants 0, and back to exact zeros.
  std::vector<float> z(64, 0.0f);
  std::vector<uint8_t> qz(2 * ilm::cpu::kQ8_0BlockBytes, 0xff);
  ilm::cpu::q8_0_quantize(qz.data(), z.data(), 64);
  for (uint8_t b : qz) EXPECT_EQ(b, 0);
}

TEST(Q8_0, RoundTripWithinHalfAScale) {
  for (float scale : {1e-2f, 0.3f, 1.0f, 50.0f, 1e4f}) {
    const int64_t n = 32 * 64;
    std::vector<float> x = random_values(size_t(n), scale, 7);
    x[5] = 0.0f;
    std::vector<uint8_t> q(size_t(n / 32) * ilm::cpu::kQ8_0BlockBytes);
    ilm::cpu::q8_0_quantize(q.data(), x.data(), n);
    std::vector<float> back(static_cast<size_t>(n));
    ilm::cpu::q8_0_dequantize(back.data(), q.data(), n);
    for (int64_t b = 0; b < n / 32; ++b) {
      const float d = ilm::f16_to_f32(f16_bits(q.data() + b * 34));
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[size_t(b * 32 + i)]));
      EXPECT_NEAR(d, amax / 127.0f, amax / 127.0f * 1e-3f);  // d is max|x|/127 in f16
      for (int i = 0; i < 32; ++i) {
        const size_t k = size_t(b * 32 + i);
        EXPECT_LE(std::fabs(x[k] - back[k]), d / 2 * (1 + 1e-5f))
            << "scale " << scale << " at " << k;
      }
    }
  }
}

TEST(Q8_0, RangeCheck) {
  std::vector<float> x(32, 1.0f);
  EXPECT_EQ(ilm::cpu::q8_0_check_range(x.data(), 32), -1);
  x[9] = NAN;
  EXPECT_EQ(ilm::cpu::q8_0_check_range(x.data(), 32), 9);
  x[9] = 1.0f;
  x[3] = -1e7f;
  EXPECT_EQ(ilm::cpu::q8_0_check_range(x.data(), 32), 3);
}

// ---- writer: exact bytes
// ---------------------------------------------------------------------------

TEST(Gguf, WritesTheExactLayout) {
  TempDir dir;
  GgufWriter w;
  w.add_kv("a", uint8_t{7});
  const float values[2] = {1.0f, 2.0f};
  w.add_tensor("t", {1, 2}, GgmlType::f32, values);  // ilm shape (1, 2): ggml ne = [2, 1]
  w.write(dir.path / "x.gguf");

  Bytes b = header(1, 1);
  b.str("a").u32(0).u8(7);
  tensor_info(b, "t", {2, 1}, 0, 0);
  b.pad_to(32);
  EXPECT_EQ(b.s.size(), 96u);
  b.f32(1.0f).f32(2.0f).pad_to(32);
  EXPECT_EQ(ilm::read_file(dir.path / "x.gguf"), b.s);
}

TEST(Gguf, TensorsAreLaidOutAligned) {
  TempDir dir;
  GgufWriter w;
  w.add_kv("general.alignment", uint32_t{64});
  std::vector<float> a(3, 1.0f), c(32, 2.0f);
  w.add_tensor("a", {3}, GgmlType::f32, a.data());    // 12 bytes, padded to 64
  w.add_tensor("c", {32}, GgmlType::q8_0, c.data());  // 34 bytes at 64
  w.add_tensor("e", {3}, GgmlType::f16, a.data());    // 6 bytes at 128
  w.write(dir.path / "x.gguf");
  GgufFile f = GgufFile::open(dir.path / "x.gguf");
  EXPECT_EQ(f.alignment(), 64u);
  EXPECT_EQ(f.data_offset() % 64, 0u);
  EXPECT_EQ(f.tensor("a").offset, 0u);
  EXPECT_EQ(f.tensor("c").offset, 64u);
  EXPECT_EQ(f.tensor("c").bytes, 34u);
  EXPECT_EQ(f.tensor("e").offset, 128u);
  EXPECT_EQ(fs::file_size(dir.path / "x.gguf"), f.data_offset() + 192);
}

// ---- round trip
// ------------------------------------------------------------------------------------

TEST(Gguf, RoundTripsEveryMetadataType) {
  TempDir dir;
  std::vector<std::pair<std::string, GgufValue>> kvs = {
      {"u8", uint8_t{200}},
      {"i8", int8_t{-100}},
      {"u16", uint16_t{60000}},
      {"i16", int16_t{-30000}},
      {"u32", uint32_t{4000000000u}},
      {"i32", int32_t{-2000000000}},
      {"f32", 0.1f},
      {"bool.true", true},
      {"bool.false", false},
      {"string", "héllo\nwörld"},
      {"string.empty", ""},
      {"u64", uint64_t{18000000000000000000ull}},
      {"i64", int64_t{-9000000000000000000ll}},
      {"f64", 0.1},
      {"arr.u8", std::vector<uint8_t>{0, 255}},
      {"arr.i8", std::vector<int8_t>{-128, 127}},
      {"arr.u16", std::vector<uint16_t>{1, 65535}},
      {"arr.i16", std::vector<int16_t>{-1, 2}},
      {"arr.u32", std::vector<uint32_t>{3, 4}},
      {"arr.i32", std::vector<int32_t>{1, 2, 3, 6}},
      {"arr.f32", std::vector<float>{-0.5f, 1e-30f, 3e30f}},
      {"arr.bool", std::vector<bool>{true, false, true}},
      {"arr.string", std::vector<std::string>{"Ġthe", "", "a b"}},
      {"arr.u64", std::vector<uint64_t>{1ull << 60}},
      {"arr.i64", std::vector<int64_t>{-(1ll << 60)}},
      {"arr.f64", std::vector<double>{1e300, -2.5}},
      {"arr.empty", std::vector<int32_t>{}},
  };
  GgufWriter w;
  for (const auto& [k, v] : kvs) w.add_kv(k, v);
  w.write(dir.path / "kv.gguf");
  GgufFile f = GgufFile::open(dir.path / "kv.gguf");
  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.kvs().size(), kvs.size());
  for (size_t i = 0; i < kvs.size(); ++i) {
    EXPECT_EQ(f.kvs()[i].first, kvs[i].first);
    EXPECT_TRUE(f.kvs()[i].second == kvs[i].second)
        << kvs[i].first << ": " << f.kvs()[i].second.describe();
  }
  EXPECT_EQ(f.kv("u32").type(), GgufType::u32);
  EXPECT_EQ(f.kv("arr.string").array_type(), GgufType::string);
  EXPECT_EQ(f.kv("arr.string").array_size(), 3u);
  EXPECT_EQ(f.kv_as<std::vector<std::string>>("arr.string")[0], "Ġthe");
  EXPECT_EQ(f.kv("u8").to_u64(), 200u);
  EXPECT_EQ(f.kv("i32").to_i64(), -2000000000);
  EXPECT_DOUBLE_EQ(f.kv("f32").to_f64(), double(0.1f));
  EXPECT_EQ(f.kv("string").str(), "héllo\nwörld");
  EXPECT_TRUE(f.tensors().empty());
}

TEST(Gguf, RoundTripsTensors) {
  TempDir dir;
  const std::vector<float> a = random_values(2 * 3 * 5 * 7, 1.0f, 1);
  const std::vector<float> h = random_values(3 * 33, 10.0f, 2);
  const std::vector<float> q = random_values(4 * 96, 0.05f, 3);
  GgufWriter w;
  w.add_kv("general.architecture", "gpt2");
  w.add_tensor("four_d", {2, 3, 5, 7}, GgmlType::f32, a.data());
  w.add_tensor("half", {3, 33}, GgmlType::f16, h.data());
  ilm::Tensor qt = ilm::Tensor::zeros(ilm::Shape{4, 96});
  std::memcpy(qt.f32(), q.data(), q.size() * 4);
  w.add_tensor("blk.0.attn_qkv.weight", qt, GgmlType::q8_0);
  w.write(dir.path / "t.gguf");

  GgufFile f = GgufFile::open(dir.path / "t.gguf");
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(f.tensors()[0].name, "four_d");
  EXPECT_EQ(f.tensor("four_d").shape, (std::vector<int64_t>{2, 3, 5, 7}));
  EXPECT_EQ(f.tensor("four_d").type, 0u);
  EXPECT_EQ(f.read_f32("four_d"), a);  // exact

  EXPECT_EQ(f.tensor("half").shape, (std::vector<int64_t>{3, 33}));
  EXPECT_EQ(f.tensor("half").type, 1u);
  const std::vector<float> hb = f.read_f32("half");
  for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(hb[i], ilm::f16_to_f32(ilm::f32_to_f16(h[i])));

  const ilm::GgufTensorInfo& qi = f.tensor("blk.0.attn_qkv.weight");
  EXPECT_EQ(qi.shape, (std::vector<int64_t>{4, 96}));
  EXPECT_EQ(qi.type, 8u);
  EXPECT_EQ(qi.bytes, 4u * 3 * 34);
  const std::vector<float> qb = f.read_f32(qi);
  const auto raw = f.raw(qi);
  for (size_t i = 0; i < q.size(); ++i) {
    const float d = ilm::f16_to_f32(f16_bits(raw.data() + (i / 32) * 34));
    EXPECT_LE(std::fabs(q[i] - qb[i]), d / 2 * (1 + 1e-5f)) << i;
  }
}

TEST(Gguf, ReadsVersion2) {
  TempDir dir;
  Bytes b = header(0, 1, 2);
  b.str("general.name").u32(8).str("x");
  const fs::path p = dir.path / "v2.gguf";
  ilm::write_file_atomic(p, b.s);
  GgufFile f = GgufFile::open(p);
  EXPECT_EQ(f.version(), 2u);
  EXPECT_EQ(f.kv("general.name").str(), "x");
}

// ---- writer refusals
// ----------------------------------------------------------------------------------

TEST(Gguf, WriterRefusesBadTensors) {
  GgufWriter w;
  std::vector<float> x(64 * 2, 0.5f);
  std::string e = error_of([&] { w.add_tensor("odd.weight", {2, 33}, GgmlType::q8_0, x.data()); });
  EXPECT_NE(e.find("odd.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("multiple of 32"), std::string::npos) << e;
  w.add_tensor("ok", {2, 64}, GgmlType::q8_0, x.data());
  e = error_of([&] { w.add_tensor("ok", {2, 64}, GgmlType::f32, x.data()); });
  EXPECT_NE(e.find("ok is added twice"), std::string::npos) << e;
  e = error_of([&] { w.add_tensor(std::string(64, 'n'), {2}, GgmlType::f32, x.data()); });
  EXPECT_NE(e.find("at most 63"), std::string::npos) << e;
  e = error_of([&] { w.add_tensor("five", {1, 1, 1, 1, 2}, GgmlType::f32, x.data()); });
  EXPECT_NE(e.find("five"), std::string::npos) << e;
  e = error_of([&] { w.add_tensor("zero", {0, 2}, GgmlType::f32, x.data()); });
  EXPECT_NE(e.find("zero"), std::string::npos) << e;
  e = error_of([&] { w.add_tensor("q4", {32}, GgmlType(2), x.data()); });
  EXPECT_NE(e.find("Q4_0"), std::string::npos) << e;
  e = error_of([&] { w.add_kv("general.alignment", uint32_t{48}); });
  EXPECT_NE(e.find("power of two"), std::string::npos) << e;
  w.add_kv("k", 1.0f);
  e = error_of([&] { w.add_kv("k", 2.0f); });
  EXPECT_NE(e.find("k is set twice"), std::string::npos) << e;
}

TEST(Gguf, FailedWriteLeavesNothing) {
  TempDir dir;
  GgufWriter w;
  std::vector<float> x(64, 0.5f);
  x[40] = INFINITY;
  w.add_tensor("fine", {64}, GgmlType::f32, x.data());
  w.add_tensor("blk.3.ffn_up.weight", {2, 32}, GgmlType::q8_0, x.data());
  const std::string e = error_of([&] { w.write(dir.path / "out.gguf"); });
  EXPECT_NE(e.find("blk.3.ffn_up.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("row 1, column 8"), std::string::npos) << e;
  EXPECT_TRUE(fs::is_empty(dir.path)) << "a failed write left files behind";
}

// ---- reader refusals
// ----------------------------------------------------------------------------------

TEST(Gguf, RejectsEveryTruncation) {
  TempDir dir;
  GgufWriter w;
  w.add_kv("general.architecture", "llama");
  w.add_kv("tokenizer.ggml.tokens", std::vector<std::string>{"a", "bc"});
  w.add_kv("tokenizer.ggml.scores", std::vector<float>{0.0f, -1.0f});
  std::vector<float> x(64, 0.25f);
  w.add_tensor("token_embd.weight", {2, 32}, GgmlType::q8_0, x.data());
  w.add_tensor("output_norm.weight", {5}, GgmlType::f32, x.data());
  w.write(dir.path / "good.gguf");
  const std::string good = ilm::read_file(dir.path / "good.gguf");
  GgufFile f = GgufFile::open(dir.path / "good.gguf");
  const ilm::GgufTensorInfo& last = f.tensor("output_norm.weight");
  const size_t needed = size_t(f.data_offset() + last.offset + last.bytes);
  ASSERT_LT(needed, good.size());
  for (size_t n = 0; n < needed; ++n) {
    const std::string e = open_error(dir, good.substr(0, n));
    EXPECT_NE(e.find("bad.gguf"), std::string::npos) << n << ": " << e;
    const bool says_why = e.find("truncated") != std::string::npos ||
                          e.find("left") != std::string::npos ||
                          e.find("past the end") != std::string::npos;
    EXPECT_TRUE(says_why) << n << ": " << e;
  }
  // The padding after the last tensor is not needed to read it.
  EXPECT_NO_THROW(GgufFile::open(dir.path / "good.gguf"));
}

TEST(Gguf, RejectsCorruptHeaders) {
  TempDir dir;
  auto expect = [&](const std::string& bytes, std::initializer_list<std::string_view> parts) {
    const std::string e = open_error(dir, bytes);
    for (std::string_view p : parts) EXPECT_NE(e.find(p), std::string::npos) << p << " in: " << e;
  };
  expect("", {"truncated", "magic"});
  expect("GGML\x03\0\0\0", {"not a GGUF file", "47474d4c"});
  expect(header(0, 0, 1).s, {"version 1 is not supported"});
  {
    Bytes b;
    b.text("GGUF").raw("\0\0\0\3", 4).u64(0).u64(0);
    expect(b.s, {"big-endian"});
  }
  expect(header(0, 1ull << 40).s + std::string(64, '\0'), {"metadata entries"});
  expect(header(1ull << 40, 0).s + std::string(64, '\0'), {"tensors, more than"});
  {
    Bytes b = header(0, 1);
    b.u64(1ull << 50).text("key").text(std::string(16, '\0'));
    expect(b.s, {"metadata key 0 has length 1125899906842624"});
  }
  {
    Bytes b = header(0, 1);
    b.str("x.y").u32(13).u32(0);
    expect(b.s, {"key x.y", "value type 13"});
  }
  {
    Bytes b = header(0, 1);
    b.str("s").u32(8).u64(100).text("short");
    expect(b.s, {"key s has length 100"});
  }
  {
    Bytes b = header(0, 1);
    b.str("arr").u32(9).u32(9).u64(1);
    expect(b.s, {"key arr", "array of arrays"});
  }
  {
    Bytes b = header(0, 1);
    b.str("arr").u32(9).u32(5).u64(1ull << 40).u32(1);
    expect(b.s, {"key arr claims 1099511627776 elements of i32"});
  }
  {
    Bytes b = header(0, 1);
    b.str("flag").u32(7).u8(2);
    expect(b.s, {"key flag", "expected 0 or 1"});
  }
  {
    Bytes b = header(0, 2);
    b.str("k").u32(4).u32(1).str("k").u32(4).u32(2);
    expect(b.s, {"metadata key k appears twice"});
  }
  {
    Bytes b = header(0, 1);
    b.str("general.alignment").u32(4).u32(24);
    expect(b.s, {"general.alignment", "power of two"});
  }
  {
    Bytes b = header(0, 1);
    b.str("general.alignment").u32(10).u64(32);
    expect(b.s, {"general.alignment", "expected a u32"});
  }
  // Tensor infos. A valid data section follows each, so only the named fault remains.
  auto with_data = [](Bytes b, size_t data_bytes) {
    b.pad_to(32);
    b.s.append(data_bytes, '\0');
    return b.s;
  };
  {
    Bytes b = header(1, 0);
    tensor_info(b, "w", {1, 1, 1, 1, 1}, 0, 0);
    expect(with_data(b, 32), {"tensor w has 5 dimensions"});
  }
  {
    Bytes b = header(1, 0);
    tensor_info(b, "w", {4}, 99, 0);
    expect(with_data(b, 32), {"tensor w has ggml type 99"});
  }
  {
    Bytes b = header(1, 0);
    tensor_info(b, "blk.0.attn_q.weight", {33, 2}, 8, 0);
    expect(with_data(b, 256), {"blk.0.attn_q.weight", "Q8_0 stores blocks of 32", "is 33"});
  }
  {
    Bytes b = header(1, 0);
    tensor_info(b, "w", {1ull << 40, 1ull << 40}, 0, 0);
    expect(with_data(b, 32), {"tensor w", "overflows"});
  }
  {
    Bytes b = header(1, 0);
    tensor_info(b, "w", {4}, 0, 16);
    expect(with_data(b, 64), {"tensor w starts at data offset 16", "alignment 32"});
  }
  {
    Bytes b = header(1, 0);
    tensor_info(b, "w", {16}, 0, 32);
    expect(with_data(b, 64), {"tensor w", "runs past the end of the file"});
  }
  {
    Bytes b = header(2, 0);
    tensor_info(b, "a", {16}, 0, 0);
    tensor_info(b, "b", {4}, 0, 32);
    expect(with_data(b, 128), {"tensors a (bytes 0 to 64) and b (from 32) overlap"});
  }
  {
    Bytes b = header(2, 0);
    tensor_info(b, "a", {4}, 0, 0);
    tensor_info(b, "a", {4}, 0, 32);
    expect(with_data(b, 64), {"tensor a appears twice"});
  }
  {
    Bytes b = header(1, 0);
    tensor_info(b, "", {4}, 0, 0);
    expect(with_data(b, 64), {"tensor 0 has an empty name"});
  }
}

TEST(Gguf, AccessorsNameWhatIsMissingOrWrong) {
  TempDir dir;
  GgufWriter w;
  w.add_kv("general.name", "tiny");
  w.add_kv("neg", int32_t{-1});
  std::vector<float> x(32, 1.0f);
  w.add_tensor("t", {32}, GgmlType::f32, x.data());
  w.write(dir.path / "a.gguf");
  GgufFile f = GgufFile::open(dir.path / "a.gguf");
  std::string e = error_of([&] { f.kv("general.nope"); });
  EXPECT_NE(e.find("no metadata key general.nope"), std::string::npos) << e;
  e = error_of([&] { f.kv_as<uint32_t>("general.name"); });
  EXPECT_NE(e.find("key general.name: expected u32, found string \"tiny\""), std::string::npos)
      << e;
  e = error_of([&] { f.kv("neg").to_u64(); });
  EXPECT_NE(e.find("non-negative"), std::string::npos) << e;
  e = error_of([&] { f.tensor("u"); });
  EXPECT_NE(e.find("no tensor u"), std::string::npos) << e;
  EXPECT_TRUE(f.has_tensor("t"));
  EXPECT_FALSE(f.has_kv("x"));
}

// Random damage to the header never crashes the reader: each file either opens (and every
// tensor then reads) or is refused with an ilm::Error naming the file.
TEST(Gguf, SurvivesRandomHeaderDamage) {
  TempDir dir;
  GgufWriter w;
  w.add_kv("general.architecture", "gpt2");
  w.add_kv("tokenizer.ggml.tokens", std::vector<std::string>{"a", "bc", "def"});
  w.add_kv("flags", std::vector<bool>{true, false});
  std::vector<float> x(64, 0.5f);
  w.add_tensor("q", {2, 32}, GgmlType::q8_0, x.data());
  w.add_tensor("h", {3, 5}, GgmlType::f16, x.data());
  w.add_tensor("f", {7}, GgmlType::f32, x.data());
  w.write(dir.path / "good.gguf");
  const std::string good = ilm::read_file(dir.path / "good.gguf");
  const size_t header_bytes = size_t(GgufFile::open(dir.path / "good.gguf").data_offset());
  std::mt19937 rng(11);
  int opened = 0, refused = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string bad = good;
    const int hits = 1 + int(rng() % 3);
    for (int k = 0; k < hits; ++k) bad[rng() % header_bytes] = char(rng() % 256);
    const fs::path p = dir.path / "bad.gguf";
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bad;
    try {
      GgufFile f = GgufFile::open(p);
      for (const ilm::GgufTensorInfo& t : f.tensors()) {
        try {
          f.read_f32(t);
        } catch (const ilm::Error&) {  // a type ilm does not convert
        }
      }
      ++opened;
    } catch (const ilm::Error& e) {
      ASSERT_NE(std::string(e.what()).find("bad.gguf"), std::string::npos) << e.what();
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(opened, 0);  // damage to string contents or values is not detectable
}

TEST(Gguf, SummaryListsKeysAndTensors) {
  TempDir dir;
  GgufWriter w;
  w.add_kv("general.architecture", "gpt2");
  w.add_kv("tokenizer.ggml.tokens", std::vector<std::string>{"a", "b", "c", "d", "e", "f"});
  w.add_kv("small", std::vector<int8_t>{-1, 2});
  std::vector<float> x(64, 1.0f);
  w.add_tensor("blk.0.ffn_up.weight", {2, 32}, GgmlType::q8_0, x.data());
  w.write(dir.path / "s.gguf");
  const std::string s = ilm::gguf_summary(GgufFile::open(dir.path / "s.gguf"));
  EXPECT_NE(s.find("GGUF v3, alignment 32, 3 keys, 1 tensors"), std::string::npos) << s;
  EXPECT_NE(s.find("  general.architecture = string \"gpt2\"\n"), std::string::npos) << s;
  EXPECT_NE(
      s.find("  tokenizer.ggml.tokens = array of 6 string: [\"a\", \"b\", \"c\", \"d\", ...]\n"),
      std::string::npos)
      << s;
  EXPECT_NE(s.find("  small = array of 2 i8: [-1, 2]\n"), std::string::npos) << s;
  EXPECT_NE(s.find("  blk.0.ffn_up.weight Q8_0 [2, 32] at 0 (68 bytes)\n"), std::string::npos) << s;
}
