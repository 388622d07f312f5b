// Mapped loading (ParamStorage::mapped): for every family fixture the mapped model computes
// exactly what the copied one does; f32 weights in our layout are views into the file's map and
// the others (transposes, gathered q/k/v) are not; what needs the training buffers throws;
// files whose tensors are not aligned load; and a mapped load costs no anonymous memory.
// Half-precision files (the bf16 fixture, and bf16/f16 copies of every fixture written here):
// matrices stay bf16/f16 views of the map, vectors become f32, and the mapped model computes
// what the copied (widened to f32) one does up to summation order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ilm/io/file.h"
#include "ilm/io/safetensors_index.h"
#include "ilm/kernels/cpu/half_weights.h"
#include "ilm/models/recipes.h"
#include "ilm/train/optim.h"
#include "test_util.h"

namespace ilm {
namespace {

namespace fs = std::filesystem;
using test::error_of;
using test::TempDir;

fs::path fixtures() {
  return fs::path(ILM_SOURCE_DIR) / "tests/reference/golden/families";
}

// Whether `param`'s value lies inside one of the maps the load kept.
bool in_map(const HfModel& hf, const std::string& param) {
  const Tensor& v = hf.model->params().get(param).var->value;
  const auto* p = static_cast<const uint8_t*>(v.raw());
  for (const auto& m : hf.weight_maps)
    if (p >= m->data() && p + v.nbytes() <= m->data() + m->size()) return true;
  return false;
}

bool bit_equal(const float* a, const float* b, int64_t n) {
  return std::memcmp(a, b, size_t(n) * sizeof(float)) == 0;
}

// a and b bit for bit (rel 0), or max |a - b| <= rel * max |a| (summation order).
bool close(const float* a, const float* b, int64_t n, double rel) {
  if (rel == 0) return bit_equal(a, b, n);
  double scale = 0, diff = 0;
  for (int64_t i = 0; i < n; ++i) {
    scale = std::max(scale, double(std::fabs(a[i])));
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
  }
  return diff <= rel * scale;
}

// A parameter's value as f32 (bf16/f16 matrices widened).
std::vector<float> widened(const Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  cpu::widen_to_f32(out.data(), t.raw(), t.dtype(), t.numel());
  return out;
}

bool has_half_weights(const HfModel& hf) {
  for (const Param& p : hf.model->params().params())
    if (p.var->value.dtype() != DType::f32) return true;
  return false;
}

// The mapped model against the copied one: the same bits out of forward (or the encoder's
// hidden states) and, for causal LMs, the same greedy tokens and logits through the KV cache.
// rel > 0 (half-precision weights, other kernels): the same up to rel (see close()).
void expect_same_outputs(const fs::path& dir, const HfModel& copied, const HfModel& mapped,
                         double rel = 0) {
  SafetensorsFile g = SafetensorsFile::open(dir / "golden.safetensors");
  Tensor ids = g.get("input_ids", DType::i32);
  Tensor mask, types;
  TransformerInputs in;
  if (g.has("attention_mask"))
    mask = g.get("attention_mask", DType::i32), in.attention_mask = &mask;
  if (g.has("token_type_ids")) types = g.get("token_type_ids", DType::i32), in.token_types = &types;
  Transformer& a = *copied.model;
  Transformer& b = *mapped.model;
  Rng rng(0);
  Tape ta, tb;
  NoGrad na(ta), nb(tb);
  Var ha = a.hidden(ta, ids, false, rng, in), hb = b.hidden(tb, ids, false, rng, in);
  ASSERT_EQ(ha->value.shape(), hb->value.shape());
  EXPECT_TRUE(close(ha->value.f32(), hb->value.f32(), ha->value.numel(), rel)) << "hidden";
  if (a.config().head == HeadKind::none) return;
  Var la = a.forward(ta, ids, false, rng, in), lb = b.forward(tb, ids, false, rng, in);
  ASSERT_EQ(la->value.shape(), lb->value.shape());
  EXPECT_TRUE(close(la->value.f32(), lb->value.f32(), la->value.numel(), rel)) << "logits";

  if (a.config().head != HeadKind::causal_lm) return;
  const int V = a.config().vocab_size, P = int(ids.shape()[1]), N = 6;
  TransformerKVCache ca = a.make_cache(P + N), cb = b.make_cache(P + N);
  Arena sa, sb;
  std::vector<float> oa(static_cast<size_t>(V)), ob(static_cast<size_t>(V));
  std::vector<int32_t> prompt(ids.data<int32_t>(), ids.data<int32_t>() + P);
  a.forward_cached(ca, prompt.data(), P, oa.data(), sa);
  b.forward_cached(cb, prompt.data(), P, ob.data(), sb);
  for (int i = 0; i < N; ++i) {
    ASSERT_TRUE(close(oa.data(), ob.data(), V, rel)) << "step " << i;
    const int32_t next = int32_t(std::max_element(oa.begin(), oa.end()) - oa.begin());
    ASSERT_EQ(next, int32_t(std::max_element(ob.begin(), ob.end()) - ob.begin())) << "token " << i;
    sa.reset(), sb.reset();
    a.forward_cached(ca, &next, 1, oa.data(), sa);
    b.forward_cached(cb, &next, 1, ob.data(), sb);
  }
}

class MappedFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(MappedFamily, GivesTheBitsOfTheCopiedModel) {
  const fs::path dir = fixtures() / GetParam();
  HfModel copied = load_hf_folder(dir);
  HfModel mapped = load_hf_folder(dir, ParamStorage::mapped);
  EXPECT_FALSE(copied.model->params().mapped());
  EXPECT_TRUE(copied.weight_maps.empty());
  ASSERT_TRUE(mapped.model->params().mapped());
  ASSERT_EQ(mapped.weight_maps.size(), 1u);
  // Every parameter holds the same values either way (half-precision ones widened).
  for (const Param& p : copied.model->params().params()) {
    const Tensor& v = mapped.model->params().get(p.name).var->value;
    ASSERT_EQ(v.shape(), p.shape) << p.name;
    EXPECT_TRUE(bit_equal(widened(v).data(), p.var->value.f32(), p.shape.numel())) << p.name;
    EXPECT_FALSE(mapped.model->params().get(p.name).var->requires_grad) << p.name;
  }
  expect_same_outputs(dir, copied, mapped, has_half_weights(mapped) ? 1e-5 : 0);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, MappedFamily,
                         ::testing::Values("gpt2", "gpt2_legacy", "llama", "llama2_gqa_bf16",
                                           "llama_dynamic_bias_tied", "llama3", "mistral_window",
                                           "falcon_mqa", "falcon_new_arch", "bert",
                                           "bert_mlm_legacy", "bert_cls", "falcon_rw", "llama_yarn"));

TEST(MappedLoad, F32WeightsInOurLayoutAreViewsOfTheFile) {
  HfModel llama = load_hf_folder(fixtures() / "llama", ParamStorage::mapped);
  for (const Param& p : llama.model->params().params())
    EXPECT_TRUE(in_map(llama, p.name)) << p.name;

  // Falcon-7B's [q | k | v]: each part is a row block of the fused matrix, so a view too.
  HfModel mqa = load_hf_folder(fixtures() / "falcon_mqa", ParamStorage::mapped);
  for (const Param& p : mqa.model->params().params()) EXPECT_TRUE(in_map(mqa, p.name)) << p.name;
}

TEST(MappedLoad, WeightsThatNeedWorkGetTheirOwnMemory) {
  // GPT-2's Conv1D weights are transposed; its fused bias is a [q | k | v] row block (a view).
  HfModel gpt2 = load_hf_folder(fixtures() / "gpt2", ParamStorage::mapped);
  for (const char* name :
       {"layers.0.attn.q.weight", "layers.0.attn.k.weight", "layers.0.attn.v.weight",
        "layers.0.attn.o.weight", "layers.1.mlp.up.weight", "layers.1.mlp.down.weight"})
    EXPECT_FALSE(in_map(gpt2, name)) << name;
  for (const char* name :
       {"embed.weight", "pos_embed.weight", "layers.0.attn_norm.weight", "layers.0.attn.q.bias",
        "layers.0.attn.v.bias", "layers.0.mlp.up.bias", "norm.bias"})
    EXPECT_TRUE(in_map(gpt2, name)) << name;

  // bf16 matrices stay bf16 views of the file; vectors (norm gains) become f32 copies.
  HfModel bf16 = load_hf_folder(fixtures() / "llama2_gqa_bf16", ParamStorage::mapped);
  for (const Param& p : bf16.model->params().params()) {
    const bool matrix = p.shape.ndim() == 2;
    EXPECT_EQ(in_map(bf16, p.name), matrix) << p.name;
    EXPECT_EQ(p.var->value.dtype(), matrix ? DType::bf16 : DType::f32) << p.name;
  }

  // Falcon's new architecture groups q/k/v per kv head: gathered, so copies; the rest are views.
  HfModel grouped = load_hf_folder(fixtures() / "falcon_new_arch", ParamStorage::mapped);
  EXPECT_FALSE(in_map(grouped, "layers.0.attn.q.weight"));
  EXPECT_FALSE(in_map(grouped, "layers.0.attn.k.weight"));
  EXPECT_TRUE(in_map(grouped, "layers.0.attn.o.weight"));
  EXPECT_TRUE(in_map(grouped, "embed.weight"));
}

TEST(MappedLoad, TheModelKeepsTheMapAlive) {
  std::unique_ptr<Transformer> model;
  const float* embed = nullptr;
  {
    HfModel hf = load_hf_folder(fixtures() / "llama", ParamStorage::mapped);
    embed = hf.model->params().get("embed.weight").var->value.f32();
    model = std::move(hf.model);
  }  // the HfModel, its SafetensorsIndex and weight_maps are gone
  EXPECT_EQ(model->params().get("embed.weight").var->value.f32(), embed);
  HfModel copied = load_hf_folder(fixtures() / "llama");
  const Param& p = copied.model->params().get("embed.weight");
  EXPECT_TRUE(bit_equal(embed, p.var->value.f32(), p.shape.numel()));  // still readable
}

TEST(MappedLoad, TrainingBuffersAreAClearError) {
  HfModel hf = load_hf_folder(fixtures() / "llama", ParamStorage::mapped);
  ParamStore& ps = hf.model->params();
  const std::string why = "loaded for inference (mapped";
  EXPECT_NE(error_of([&] { ps.values(); }).find(why), std::string::npos);
  EXPECT_NE(error_of([&] { ps.grads(); }).find(why), std::string::npos);
  EXPECT_NE(error_of([&] { ps.zero_grad(); }).find(why), std::string::npos);
  std::string e = error_of([&] { AdamW opt(ps, AdamWOptions{}); });
  EXPECT_NE(e.find("AdamW"), std::string::npos) << e;
  EXPECT_NE(e.find(why), std::string::npos) << e;
  e = error_of([&] { grad_global_norm(ps); });
  EXPECT_NE(e.find("gradient norm"), std::string::npos) << e;
  e = error_of([&] { hf.model->init_weights(1); });
  EXPECT_NE(e.find("init_weights"), std::string::npos) << e;
  e = error_of([&] { ps.set_value("embed.weight", Tensor::zeros({2, 2})); });
  EXPECT_NE(e.find("embed.weight"), std::string::npos) << e;
  // An owned store is written in place, not through set_value.
  HfModel owned = load_hf_folder(fixtures() / "llama");
  e = error_of([&] { owned.model->params().set_value("norm.weight", Tensor::zeros({1})); });
  EXPECT_NE(e.find("owned store"), std::string::npos) << e;
  EXPECT_NO_THROW(AdamW(owned.model->params(), AdamWOptions{}));
}

// `src`'s model.safetensors rewritten by hand so that the data section starts `shift` bytes
// past an 8-byte boundary (the header padded with spaces to get there), as a foreign writer
// might: every tensor is then misaligned by `shift`.
void write_shifted_copy(const fs::path& src, const fs::path& dst, size_t shift) {
  fs::create_directories(dst);
  fs::copy_file(src / "config.json", dst / "config.json");
  SafetensorsIndex in = SafetensorsIndex::open(src);
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  std::string data;
  for (const SafetensorsEntry& e : in.entries()) {
    header[e.name] = {{"dtype", e.dtype},
                      {"shape", e.shape.to_vector()},
                      {"data_offsets", {data.size(), data.size() + e.bytes.size()}}};
    data.append(reinterpret_cast<const char*>(e.bytes.data()), e.bytes.size());
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != shift) h += ' ';
  const uint64_t n = h.size();
  std::string file(reinterpret_cast<const char*>(&n), 8);
  file += h + data;
  write_file_atomic(dst / "model.safetensors", file);
}

TEST(MappedLoad, MisalignedTensorsLoadAndGiveTheSameLogits) {
  TempDir tmp;
  const fs::path src = fixtures() / "llama";
  HfModel reference = load_hf_folder(src);
  // shift 4: every f32 is 4-byte aligned but none 8-byte aligned: still views.
  // shift 2 and 1: not even 4-byte aligned: each tensor is copied (SafetensorsFile::get).
  for (size_t shift : {4u, 2u, 1u}) {
    SCOPED_TRACE(shift);
    const fs::path dst = tmp.path / ("shift" + std::to_string(shift));
    write_shifted_copy(src, dst, shift);
    HfModel mapped = load_hf_folder(dst, ParamStorage::mapped);
    HfModel copied = load_hf_folder(dst);
    for (const Param& p : mapped.model->params().params()) {
      const auto addr = reinterpret_cast<uintptr_t>(p.var->value.raw());
      if (shift == 4) {
        EXPECT_TRUE(in_map(mapped, p.name)) << p.name;
        EXPECT_EQ(addr % 8, 4u) << p.name;
      } else {
        EXPECT_FALSE(in_map(mapped, p.name)) << p.name;
        EXPECT_EQ(addr % 4, 0u) << p.name;
      }
    }
    expect_same_outputs(fixtures() / "llama", reference, mapped);
    expect_same_outputs(fixtures() / "llama", reference, copied);
  }
}

TEST(MappedLoad, ShardedFoldersMapEveryShard) {
  TempDir tmp;
  const fs::path src = fixtures() / "llama";
  fs::copy_file(src / "config.json", tmp.path / "config.json");
  write_safetensors_sharded(tmp.path, SafetensorsIndex::open(src).entries(), 16 * 1024);
  ASSERT_TRUE(fs::exists(tmp.path / kSafetensorsIndexName));
  HfModel mapped = load_hf_folder(tmp.path, ParamStorage::mapped);
  EXPECT_GT(mapped.weight_maps.size(), 2u);
  for (const Param& p : mapped.model->params().params())
    EXPECT_TRUE(in_map(mapped, p.name)) << p.name;
  expect_same_outputs(src, load_hf_folder(src), mapped);
}

// This process's anonymous resident memory (RssAnon), in bytes.
int64_t rss_anon() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::stoll(line.substr(8)) * 1024;  // "... kB"
  return -1;
}

TEST(MappedLoad, CostsNoAnonymousMemory) {
  if (rss_anon() < 0) GTEST_SKIP() << "no RssAnon in /proc/self/status";
  TempDir tmp;
  int64_t weight_bytes = 0;
  {  // ~67 MB of f32 LLaMA weights
    TransformerConfig c;
    c.arch = "llama";
    c.n_layer = 4, c.n_head = 8, c.n_kv_head = 8, c.n_embd = 512, c.intermediate = 1376;
    c.vocab_size = 4096, c.max_positions = 256;
    c.norm = NormKind::rmsnorm, c.position = PositionKind::rope, c.mlp = MlpKind::swiglu;
    c.qkv_bias = c.attn_out_bias = c.mlp_bias = c.norm_bias = false;
    c.tie_embeddings = false;
    Transformer m(c);
    m.init_weights(7);
    save_hf_folder(m, nullptr, tmp.path);
    weight_bytes = c.num_params() * int64_t(sizeof(float));
  }
  ASSERT_GT(weight_bytes, 60'000'000);
  {
    const int64_t before = rss_anon();
    HfModel hf = load_hf_folder(tmp.path, ParamStorage::mapped);
    const int64_t grown = rss_anon() - before;
    EXPECT_LT(grown, weight_bytes / 2) << "mapped load grew RssAnon by " << grown;
  }
  {
    const int64_t before = rss_anon();
    HfModel hf = load_hf_folder(tmp.path);
    const int64_t grown = rss_anon() - before;
    // The copy fills a buffer of the weights' size (the gradient buffer is never touched).
    EXPECT_GE(grown, weight_bytes * 9 / 10) << "copy load grew RssAnon by " << grown;
  }
}

// `src`'s weights with every f32 tensor rounded to `half` (bf16 or f16), written to `dst` with
// its config.json: the copied load widens them back exactly, so both loads hold the same values.
void write_half_copy(const fs::path& src, const fs::path& dst, DType half) {
  fs::create_directories(dst);
  fs::copy_file(src / "config.json", dst / "config.json");
  SafetensorsIndex in = SafetensorsIndex::open(src);
  std::vector<SafetensorsEntry> out;
  for (const std::string& name : in.names())
    out.push_back(in.info(name).dtype == DType::f32 ? SafetensorsEntry::of(name, in.get(name, half))
                                                    : in.entry(name));
  save_safetensors(dst / "model.safetensors", out);
}

class HalfFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(HalfFamily, MatricesStayHalfAndComputeWhatTheWidenedCopyDoes) {
  const fs::path dir = fixtures() / GetParam();
  TempDir tmp;
  for (DType half : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(half));
    const fs::path dst = tmp.path / std::string(dtype_name(half));
    write_half_copy(dir, dst, half);
    HfModel copied = load_hf_folder(dst);
    HfModel mapped = load_hf_folder(dst, ParamStorage::mapped);
    const TransformerConfig& c = mapped.model->config();
    for (const Param& p : mapped.model->params().params()) {
      const Tensor& v = p.var->value;
      const bool matrix = p.shape.ndim() == 2;
      EXPECT_EQ(v.dtype(), matrix ? half : DType::f32) << p.name;
      // Views, except GPT-2's transposed Conv1D weights and gathered q/k/v rows (Falcon's
      // grouped and interleaved layouts): those are copies, still half precision.
      const bool transposed = c.arch == "gpt2" && p.name.rfind("layers.", 0) == 0;
      const bool gathered = (c.fused_qkv == "grouped" || c.fused_qkv == "interleaved") &&
                            p.name.find(".attn.") != std::string::npos &&
                            p.name.find(".attn.o.") == std::string::npos;
      if (matrix) {
        EXPECT_EQ(in_map(mapped, p.name), !transposed && !gathered) << p.name;
      }
      const Param& q = copied.model->params().get(p.name);
      EXPECT_TRUE(bit_equal(widened(v).data(), q.var->value.f32(), p.shape.numel())) << p.name;
    }
    expect_same_outputs(dir, copied, mapped, 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HalfFamily,
                         ::testing::Values("gpt2", "gpt2_legacy", "llama",
                                           "llama_dynamic_bias_tied", "llama3", "mistral_window",
                                           "falcon_mqa", "falcon_new_arch", "bert",
                                           "bert_mlm_legacy", "bert_cls", "falcon_rw",
                                           "llama_yarn"));

TEST(MappedLoad, HalfWeightsRefuseGradientsAndWeightWriters) {
  HfModel hf = load_hf_folder(fixtures() / "llama2_gqa_bf16", ParamStorage::mapped);
  const ParamStore& ps = hf.model->params();
  const Var& w = ps.var("layers.0.attn.q.weight");
  const int64_t C = w->value.shape()[1];
  // An input that takes a gradient: backward would need the bf16 weight.
  Tape tape;
  Var x = make_var(Tensor::zeros({2, C}), Tensor::zeros({2, C}));
  std::string e = error_of([&] { linear(tape, x, w, Var{}); });
  EXPECT_NE(e.find("BF16"), std::string::npos) << e;
  EXPECT_NE(e.find("NoGrad"), std::string::npos) << e;
  {  // the same without recording is fine
    NoGrad ng(tape);
    EXPECT_NO_THROW(linear(tape, x, w, Var{}));
  }
  e = error_of([&] { hf_state_dict(*hf.model); });
  EXPECT_NE(e.find("loaded owned"), std::string::npos) << e;
  TempDir tmp;
  e = error_of([&] { save_hf_folder(*hf.model, nullptr, tmp.path / "out"); });
  EXPECT_NE(e.find("loaded owned"), std::string::npos) << e;
}

TEST(MappedLoad, Bf16WeightsStayHalfTheSizeInMemory) {
  if (rss_anon() < 0) GTEST_SKIP() << "no RssAnon in /proc/self/status";
  TempDir tmp;
  int64_t bf16_bytes = 0;
  {  // ~67 MB of bf16 LLaMA weights (134 MB widened to f32)
    TransformerConfig c;
    c.arch = "llama";
    c.n_layer = 8, c.n_head = 8, c.n_kv_head = 8, c.n_embd = 512, c.intermediate = 1376;
    c.vocab_size = 8192, c.max_positions = 256;
    c.norm = NormKind::rmsnorm, c.position = PositionKind::rope, c.mlp = MlpKind::swiglu;
    c.qkv_bias = c.attn_out_bias = c.mlp_bias = c.norm_bias = false;
    c.tie_embeddings = false;
    Transformer m(c);
    m.init_weights(7);
    save_hf_folder(m, nullptr, tmp.path, int64_t(5) << 30, DType::bf16);
    bf16_bytes = c.num_params() * 2;
  }
  ASSERT_GT(bf16_bytes, 60'000'000);
  const int64_t before = rss_anon();
  HfModel hf = load_hf_folder(tmp.path, ParamStorage::mapped);
  // Decoding touches every weight but allocates only activations and the cache.
  TransformerKVCache cache = hf.model->make_cache(16);
  Arena scratch;
  std::vector<float> logits(8192);
  const int32_t ids[3] = {1, 2, 3};
  hf.model->forward_cached(cache, ids, 3, logits.data(), scratch);
  const int64_t grown = rss_anon() - before;
  // Widened to f32 the weights alone would take 2 * bf16_bytes.
  EXPECT_LT(grown, bf16_bytes / 4) << "mapped bf16 load and decode grew RssAnon by " << grown;
  EXPECT_EQ(hf.model->params().get("layers.3.mlp.down.weight").var->value.dtype(), DType::bf16);
}

}  // namespace
}  // namespace ilm
