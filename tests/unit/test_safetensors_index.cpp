// Safetensors beyond single-file basics: stored entries of every dtype, zero-copy f32 views,
// float conversions against known bit patterns, a file laid out by Hugging Face's rules
// (tests/reference/safetensors_hf_layout.py), sharded checkpoints and their index, truncated
// files, and the expect loader.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ilm/core/error.h"
#include "ilm/io/expect_tensors.h"
#include "ilm/io/file.h"
#include "ilm/io/safetensors.h"
#include "ilm/io/safetensors_index.h"
#include "test_util.h"

namespace fs = std::filesystem;
using ilm::DType;
using ilm::SafetensorsEntry;
using ilm::SafetensorsFile;
using ilm::SafetensorsIndex;
using ilm::Shape;
using ilm::Tensor;
using ilm::test::error_of;
using ilm::test::TempDir;

namespace {

template <typename T>
Tensor make(Shape shape, std::vector<T> values, DType dtype) {
  Tensor t = Tensor::zeros(shape, dtype);
  EXPECT_EQ(size_t(t.numel()), values.size());
  if (t.nbytes()) std::memcpy(t.raw(), values.data(), t.nbytes());
  return t;
}

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  std::vector<T> v(static_cast<size_t>(t.numel()));
  if (t.nbytes()) std::memcpy(v.data(), t.raw(), t.nbytes());
  return v;
}

std::string str(std::span<const uint8_t> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

const fs::path kHfLayout =
    fs::path(ILM_SOURCE_DIR) / "tests/reference/golden/hf_layout.safetensors";

void expect_has(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "'" << part << "' not in:\n" << text;
}

// The known answers of tests/reference/safetensors_hf_layout.py.
TEST(SafetensorsHfLayout, ReadsEveryDTypeWithKnownValues) {
  SafetensorsFile f = SafetensorsFile::open(kHfLayout);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  // The Rust writer's order: widest dtype first, then by name; the reader lists data order.
  EXPECT_EQ(f.names(), (std::vector<std::string>{"i64", "f64", "empty", "f32", "i32", "bf16", "f16",
                                                 "i16", "i8", "u8", "bool"}));
  EXPECT_EQ(values_of<float>(f.load("f64", DType::f32)), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_EQ(values_of<float>(f.view_f32("f32")), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(f.info("f32").shape, Shape({2, 3}));
  EXPECT_EQ(values_of<float>(f.load("f16", DType::f32)), (std::vector<float>{1, -0.5f, 65504}));
  EXPECT_EQ(values_of<float>(f.load("bf16", DType::f32)),
            (std::vector<float>{1, -2.5f, 0.15625f, 65280}));
  // bf16 raw bits as torch stores them.
  EXPECT_EQ(values_of<uint16_t>(f.get("bf16")),
            (std::vector<uint16_t>{0x3f80, 0xc020, 0x3e20, 0x477f}));
  EXPECT_EQ(values_of<int32_t>(f.get("i32")), (std::vector<int32_t>{-1, 0, 2147483647}));
  EXPECT_EQ(values_of<int32_t>(f.get("i16")), (std::vector<int32_t>{-32768, 7}));
  EXPECT_EQ(values_of<int32_t>(f.get("i8")), (std::vector<int32_t>{-128, 0, 127}));
  EXPECT_EQ(values_of<uint8_t>(f.get("u8")), (std::vector<uint8_t>{0, 128, 255}));
  EXPECT_EQ(values_of<uint8_t>(f.get("bool")), (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(f.get("empty").shape(), Shape({0, 4}));
  // 2^40 does not fit i32: refused naming the tensor and element.
  expect_has(error_of([&] { f.get("i64"); }), "tensor 'i64': element 1");
  int64_t i64[2];
  std::memcpy(i64, f.bytes("i64").data(), 16);
  EXPECT_EQ(i64[0], -3);
  EXPECT_EQ(i64[1], int64_t(1) << 40);
  expect_has(error_of([&] { f.view_f32("bf16"); }), "tensor 'bf16' is stored as BF16");
}

TEST(SafetensorsHfLayout, RewritingInDataOrderIsByteIdentical) {
  TempDir dir;
  SafetensorsFile f = SafetensorsFile::open(kHfLayout);
  std::vector<SafetensorsEntry> entries;
  for (const std::string& n : f.names()) entries.push_back(f.entry(n));
  const fs::path out = dir.path / "again.safetensors";
  ilm::save_safetensors(out, entries, f.metadata());
  EXPECT_EQ(ilm::read_file(out), ilm::read_file(kHfLayout));

  // And write -> read -> write of that copy is stable too (the entries keep the map alive
  // beyond the file object).
  {
    SafetensorsIndex again = SafetensorsIndex::open(out);
    entries = again.entries();
  }
  const fs::path third = dir.path / "third.safetensors";
  ilm::save_safetensors(third, entries, {{"format", "pt"}});
  EXPECT_EQ(ilm::read_file(third), ilm::read_file(kHfLayout));
}

TEST(SafetensorsEntries, EveryDTypeRoundTripsItsBytes) {
  TempDir dir;
  SafetensorsFile ref = SafetensorsFile::open(kHfLayout);
  // ilm's own dtypes from Tensors, the rest as stored entries.
  Tensor f32 = make<float>({2, 2}, {1, -2, 3.5f, 1e-30f}, DType::f32);
  Tensor bf16 = make<uint16_t>({3}, {0x3f80, 0xc020, 0x7f80}, DType::bf16);
  Tensor f16 = make<uint16_t>({3}, {0x3c00, 0xc000, 0x7bff}, DType::f16);
  Tensor i32 = make<int32_t>({2}, {-7, 1 << 30}, DType::i32);
  Tensor u16 = make<uint16_t>({2}, {0, 65535}, DType::u16);
  Tensor u32 = make<uint32_t>({1}, {4000000000u}, DType::u32);
  Tensor u8 = make<uint8_t>({3}, {0, 1, 255}, DType::u8);
  ilm::SafetensorsWriter w(dir.path / "all.safetensors");
  w.add("f32", f32);
  w.add("bf16", bf16);
  w.add("f16", f16);
  w.add("i32", i32);
  w.add("u16", u16);
  w.add("u32", u32);
  w.add("u8", u8);
  for (const char* n : {"f64", "i64", "i16", "i8", "bool"}) w.add(ref.entry(n));
  w.set_metadata({{"k", "v"}});
  w.write();

  SafetensorsFile f = SafetensorsFile::open(dir.path / "all.safetensors");
  EXPECT_EQ(f.metadata().at("k"), "v");
  for (const auto& [name, t] : std::vector<std::pair<std::string, Tensor>>{{"f32", f32},
                                                                           {"bf16", bf16},
                                                                           {"f16", f16},
                                                                           {"i32", i32},
                                                                           {"u16", u16},
                                                                           {"u32", u32},
                                                                           {"u8", u8}}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(f.info(name).shape, t.shape());
    EXPECT_EQ(f.info(name).file_dtype, ilm::dtype_name(t.dtype()));
    EXPECT_EQ(str(f.bytes(name)), std::string(static_cast<const char*>(t.raw()), t.nbytes()));
  }
  for (const char* n : {"f64", "i64", "i16", "i8", "bool"}) {
    SCOPED_TRACE(n);
    EXPECT_EQ(f.info(n).file_dtype, ref.info(n).file_dtype);
    EXPECT_EQ(f.info(n).shape, ref.info(n).shape);
    EXPECT_EQ(str(f.bytes(n)), str(ref.bytes(n)));
  }

  // write -> read -> write: byte-identical.
  std::vector<SafetensorsEntry> entries;
  for (const std::string& n : f.names()) entries.push_back(f.entry(n));
  ilm::save_safetensors(dir.path / "again.safetensors", entries, f.metadata());
  EXPECT_EQ(ilm::read_file(dir.path / "again.safetensors"),
            ilm::read_file(dir.path / "all.safetensors"));
}

TEST(SafetensorsEntries, WriterRefusesBadEntriesNamingThem) {
  TempDir dir;
  const fs::path p = dir.path / "bad.safetensors";
  uint8_t bytes[6] = {};
  ilm::SafetensorsWriter w(p);
  expect_has(error_of([&] {
               w.add({"w", "F32", Shape({2}), {bytes, 6}, {}});
             }),
             "tensor 'w': 6 bytes given, but F32 [2] needs 8");
  expect_has(error_of([&] {
               w.add({"q", "Q4", Shape({2}), {bytes, 2}, {}});
             }),
             "tensor 'q': unknown dtype 'Q4'");
  w.add({"ok", "I16", Shape({3}), {bytes, 6}, {}});
  expect_has(error_of([&] {
               w.add({"ok", "U8", Shape({1}), {bytes, 1}, {}});
             }),
             "duplicate tensor name 'ok'");
  EXPECT_EQ(w.data_bytes(), 6u);
  EXPECT_FALSE(fs::exists(p));
  expect_has(error_of([] { ilm::safetensors_dtype_size("X9"); }), "unknown safetensors dtype 'X9'");
  EXPECT_EQ(ilm::safetensors_dtype_size("BF16"), 2u);
  EXPECT_EQ(ilm::safetensors_dtype_size("I64"), 8u);
}

TEST(SafetensorsViews, F32ViewIsZeroCopyInsideTheMap) {
  TempDir dir;
  const fs::path p = dir.path / "w.safetensors";
  ilm::save_safetensors(p, {{"a", make<float>({3}, {1, 2, 3}, DType::f32)},
                            {"b", make<float>({2, 2}, {4, 5, 6, 7}, DType::f32)}});
  Tensor b;
  const uint8_t* lo;
  size_t size;
  {
    SafetensorsFile f = SafetensorsFile::open(p);
    lo = f.map()->data();
    size = f.map()->size();
    b = f.view_f32("b");
    EXPECT_EQ(static_cast<const void*>(f.bytes("b").data()), b.raw());
  }
  // The file object is gone; the view keeps the map alive.
  const auto* ptr = static_cast<const uint8_t*>(b.raw());
  EXPECT_GE(ptr, lo);
  EXPECT_LE(ptr + b.nbytes(), lo + size);
  EXPECT_EQ(values_of<float>(b), (std::vector<float>{4, 5, 6, 7}));
}

TEST(SafetensorsViews, FloatConversionsOnLoadMatchKnownBits) {
  TempDir dir;
  const fs::path p = dir.path / "c.safetensors";
  // f32 values whose bf16/f16 roundings are known: 1 + 2^-8 is a tie (to even: 1.0),
  // 1 + 3*2^-8 a tie rounding up, 65520 rounds up to bf16 65536 and overflows f16 to
  // infinity, 2^-24 is f16's smallest subnormal.
  const std::vector<float> x = {1.0f, 1.00390625f, 1.01171875f, -2.0f, 65520.0f, 5.9604645e-8f};
  ilm::save_safetensors(p, {{"x", make<float>({6}, x, DType::f32)},
                            {"h", make<uint16_t>({3}, {0x3c00, 0xc000, 0x7bff}, DType::f16)},
                            {"b", make<uint16_t>({3}, {0x3f80, 0xc020, 0x477f}, DType::bf16)}});
  SafetensorsFile f = SafetensorsFile::open(p);
  EXPECT_EQ(values_of<uint16_t>(f.load("x", DType::bf16)),
            (std::vector<uint16_t>{0x3f80, 0x3f80, 0x3f82, 0xc000, 0x4780, 0x3380}));
  EXPECT_EQ(values_of<uint16_t>(f.load("x", DType::f16)),
            (std::vector<uint16_t>{0x3c00, 0x3c04, 0x3c0c, 0xc000, 0x7c00, 0x0001}));
  EXPECT_EQ(values_of<float>(f.load("h", DType::f32)), (std::vector<float>{1, -2, 65504}));
  EXPECT_EQ(values_of<float>(f.load("b", DType::f32)), (std::vector<float>{1, -2.5f, 65280}));
  EXPECT_EQ(values_of<uint16_t>(f.load("b", DType::f16)),
            (std::vector<uint16_t>{0x3c00, 0xc100, 0x7bf8}));
  EXPECT_EQ(values_of<uint16_t>(f.load("h", DType::bf16)),
            (std::vector<uint16_t>{0x3f80, 0xc000, 0x4780}));
}

// Every prefix of a valid file is refused, and once the header is whole the error names the
// tensor whose data is cut.
TEST(SafetensorsViews, EveryTruncationIsRefused) {
  TempDir dir;
  const fs::path p = dir.path / "full.safetensors";
  ilm::save_safetensors(p, {{"first", make<float>({2}, {1, 2}, DType::f32)},
                            {"second", make<float>({3}, {3, 4, 5}, DType::f32)}});
  const std::string full = ilm::read_file(p);
  uint64_t n;
  std::memcpy(&n, full.data(), 8);
  const fs::path cut = dir.path / "cut.safetensors";
  for (size_t len = 0; len < full.size(); ++len) {
    SCOPED_TRACE(len);
    ilm::write_file_atomic(cut, full.substr(0, len));
    std::string e = error_of([&] { SafetensorsFile::open(cut); });
    EXPECT_EQ(e.rfind(cut.string() + ": ", 0), 0u) << e;
    if (len >= 8 + n) expect_has(e, len < 8 + n + 8 ? "tensor '" : "tensor 'second'");
  }
}

std::vector<std::pair<std::string, Tensor>> five_tensors() {
  return {{"emb", make<float>({4}, {1, 2, 3, 4}, DType::f32)},              // 16 bytes
          {"l0.w", make<float>({2}, {5, 6}, DType::f32)},                   // 8
          {"big", make<float>({8}, {0, 1, 2, 3, 4, 5, 6, 7}, DType::f32)},  // 32: over the limit
          {"l1.w", make<uint16_t>({4}, {1, 2, 3, 4}, DType::bf16)},         // 8
          {"head", make<float>({1}, {9}, DType::f32)}};                     // 4
}

TEST(SafetensorsShards, ShardsLikeSavePretrainedAndReadsBack) {
  TempDir dir;
  auto written = ilm::write_safetensors_sharded(dir.path, five_tensors(), 24, {{"format", "pt"}});
  // Greedy in order: big alone, appended at once, before the shard being filled; then
  // [emb, l0.w] = 24 closes when l1.w would pass 24; [l1.w, head] = 12.
  ASSERT_EQ(written.size(), 4u);
  EXPECT_EQ(written[0].filename(), "model-00001-of-00003.safetensors");
  EXPECT_EQ(written[2].filename(), "model-00003-of-00003.safetensors");
  EXPECT_EQ(written[3].filename(), "model.safetensors.index.json");
  EXPECT_EQ(ilm::read_file(dir.path / "model.safetensors.index.json"),
            "{\n"
            "  \"metadata\": {\n"
            "    \"total_size\": 68\n"
            "  },\n"
            "  \"weight_map\": {\n"
            "    \"big\": \"model-00001-of-00003.safetensors\",\n"
            "    \"emb\": \"model-00002-of-00003.safetensors\",\n"
            "    \"head\": \"model-00003-of-00003.safetensors\",\n"
            "    \"l0.w\": \"model-00002-of-00003.safetensors\",\n"
            "    \"l1.w\": \"model-00003-of-00003.safetensors\"\n"
            "  }\n"
            "}\n");
  EXPECT_EQ(SafetensorsFile::open(dir.path / "model-00001-of-00003.safetensors").names(),
            std::vector<std::string>{"big"});

  SafetensorsIndex x = SafetensorsIndex::open(dir.path);
  EXPECT_EQ(x.names(), (std::vector<std::string>{"big", "emb", "l0.w", "l1.w", "head"}));
  EXPECT_EQ(x.shards().size(), 3u);
  EXPECT_EQ(x.total_size(), 68u);
  EXPECT_EQ(x.metadata().at("format"), "pt");
  for (const auto& [name, t] : five_tensors()) {
    SCOPED_TRACE(name);
    EXPECT_EQ(str(x.bytes(name)), std::string(static_cast<const char*>(t.raw()), t.nbytes()));
  }
  EXPECT_EQ(values_of<float>(x.view_f32("head")), std::vector<float>{9});
  EXPECT_EQ(values_of<float>(x.load("l1.w", DType::f32)).size(), 4u);
  expect_has(error_of([&] { x.info("nope"); }), "no tensor 'nope'");

  // Folder -> folder with the same limit is byte-identical, file by file.
  TempDir again;
  std::vector<SafetensorsEntry> entries;
  for (const auto& [name, t] : five_tensors()) entries.push_back(x.entry(name));
  ilm::write_safetensors_sharded(again.path, entries, 24, x.metadata());
  for (const auto& f : written)
    EXPECT_EQ(ilm::read_file(again.path / f.filename()), ilm::read_file(f)) << f;

  // Saved again into the same folder as one file: the shards and index go.
  ilm::write_safetensors_sharded(dir.path, five_tensors(), 1 << 20);
  EXPECT_TRUE(fs::exists(dir.path / "model.safetensors"));
  EXPECT_FALSE(fs::exists(dir.path / "model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(dir.path / "model-00001-of-00003.safetensors"));
  EXPECT_EQ(SafetensorsIndex::open(dir.path).names().size(), 5u);
  EXPECT_EQ(SafetensorsIndex::open(dir.path).total_size(), 68u);
}

TEST(SafetensorsShards, IndexErrorsNameTheTensor) {
  TempDir dir;
  ilm::write_safetensors_sharded(dir.path, five_tensors(), 24);
  const fs::path index = dir.path / "model.safetensors.index.json";
  const nlohmann::json good = nlohmann::json::parse(ilm::read_file(index));
  auto with = [&](auto edit) {
    nlohmann::json j = good;
    edit(j);
    ilm::write_file_atomic(index, j.dump(2));
    return error_of([&] { SafetensorsIndex::open(dir.path); });
  };
  std::string e =
      with([](auto& j) { j["weight_map"]["emb"] = "model-00009-of-00009.safetensors"; });
  expect_has(e, index.string() +
                    ": tensor 'emb' maps to shard 'model-00009-of-00009.safetensors', "
                    "which does not exist");
  e = with([](auto& j) { j["weight_map"]["ghost"] = "model-00001-of-00003.safetensors"; });
  expect_has(
      e, "tensor 'ghost' maps to shard model-00001-of-00003.safetensors, which does not hold it");
  e = with([](auto& j) { j["weight_map"].erase("head"); });
  expect_has(
      e, "tensor 'head' is in shard model-00003-of-00003.safetensors but not in the weight_map");
  e = with([](auto& j) { j["weight_map"]["head"] = "model-00001-of-00003.safetensors"; });
  expect_has(e,
             "tensor 'head' is in shard model-00003-of-00003.safetensors, but the weight_map says "
             "model-00001-of-00003.safetensors");
  e = with([](auto& j) { j["weight_map"]["emb"] = "../x.safetensors"; });
  expect_has(e, "tensor 'emb' maps to '../x.safetensors', expected a file name beside the index");
  e = with([](auto& j) { j.erase("weight_map"); });
  expect_has(e, "missing \"weight_map\"");
  ilm::write_file_atomic(index, "{\"weight_map\": ");
  expect_has(error_of([&] { SafetensorsIndex::open(dir.path); }),
             index.string() + ": not valid JSON");

  // The same tensor in two shards.
  ilm::write_file_atomic(index, good.dump(2));
  ilm::save_safetensors(dir.path / "model-00003-of-00003.safetensors",
                        {{"l1.w", five_tensors()[3].second},
                         {"head", five_tensors()[4].second},
                         {"emb", five_tensors()[0].second}});
  expect_has(error_of([&] { SafetensorsIndex::open(dir.path); }),
             "tensor 'emb' is in two shards, model-00002-of-00003.safetensors and "
             "model-00003-of-00003.safetensors");

  // A bad shard reports the shard file and its tensor.
  ilm::write_file_atomic(index, good.dump(2));
  ilm::write_file_atomic(dir.path / "model-00001-of-00003.safetensors", std::string(4, 'x'));
  expect_has(error_of([&] { SafetensorsIndex::open(dir.path); }),
             "model-00001-of-00003.safetensors: not a safetensors file");

  TempDir empty;
  expect_has(error_of([&] { SafetensorsIndex::open(empty.path); }),
             "no model.safetensors.index.json and no model.safetensors");
}

TEST(ExpectTensors, NameMatchesShellPatterns) {
  EXPECT_TRUE(ilm::name_matches("*.attn.bias", "h.0.attn.bias"));
  EXPECT_FALSE(ilm::name_matches("*.attn.bias", "h.0.attn.c_attn.bias"));
  EXPECT_TRUE(ilm::name_matches("h.?.attn.*", "h.3.attn.masked_bias"));
  EXPECT_FALSE(ilm::name_matches("h.?.attn.*", "h.11.attn.bias"));
  EXPECT_TRUE(ilm::name_matches("*", ""));
  EXPECT_TRUE(ilm::name_matches("a*b*c", "axxbyyc"));
  EXPECT_FALSE(ilm::name_matches("a*b*c", "axxbyy"));
}

TEST(ExpectTensors, LoadsWhatMatchesAndListsEveryProblem) {
  TempDir dir;
  ilm::save_safetensors(dir.path / "model.safetensors",
                        {{"wte", make<float>({2, 2}, {1, 2, 3, 4}, DType::f32)},
                         {"h.0.w", make<uint16_t>({2}, {0x3f80, 0xc000}, DType::bf16)},
                         {"h.0.attn.bias", make<uint8_t>({1}, {1}, DType::u8)},
                         {"h.0.attn.masked_bias", make<float>({1}, {0}, DType::f32)}});
  SafetensorsIndex x = SafetensorsIndex::open(dir.path);
  ilm::ExpectOptions opt;
  opt.ignore = {"*.attn.bias", "*.attn.masked_bias"};
  auto got = ilm::load_expected(
      x, {{"wte", Shape({2, 2}), DType::f32}, {"h.0.w", Shape({2}), DType::f32}}, opt);
  EXPECT_EQ(values_of<float>(got.at("wte")), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(values_of<float>(got.at("h.0.w")), (std::vector<float>{1, -2}));  // converted

  opt.convert_floats = false;
  opt.ignore = {"*.attn.bias"};
  std::string e = error_of([&] {
    ilm::load_expected(x,
                       {{"wte", Shape({2, 3}), DType::f32},
                        {"h.0.w", Shape({2}), DType::f32},
                        {"h.1.w", Shape({2}), DType::bf16},
                        {"h.0.attn.bias", Shape({1}), DType::f32}},
                       opt);
  });
  expect_has(e, (dir.path / "model.safetensors").string() + ": 5 problems loading weights: ");
  expect_has(e, "shape mismatch: 'wte' expected [2, 3], found [2, 2]");
  expect_has(e, "dtype mismatch: 'h.0.w' expected F32, found BF16");
  expect_has(e, "missing: 'h.1.w' (expected BF16 [2])");
  expect_has(e, "dtype mismatch: 'h.0.attn.bias' expected F32, found U8");
  expect_has(e, "unexpected: 'h.0.attn.masked_bias' (F32 [1])");
  EXPECT_EQ(e.find('\n'), std::string::npos) << "one line";

  // A wholly wrong checkpoint: the first 20 problems, then a count.
  std::vector<ilm::ExpectedTensor> many;
  for (int i = 0; i < 30; ++i)
    many.push_back({std::string("w").append(std::to_string(i)), Shape({1}), DType::f32});
  e = error_of([&] { ilm::load_expected(x, many, opt); });
  expect_has(e, ": 33 problems loading weights: missing: 'w0' (expected F32 [1]); ");
  expect_has(e, "missing: 'w19' (expected F32 [1]); and 13 more");
}

}  // namespace
