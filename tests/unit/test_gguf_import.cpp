// Reading GGUF models: every family fixture exported by gguf_export and read back gives the
// same model (F32 bit for bit, F16 and Q8_0 within their rounding), tokenizers read back
// encode as the originals, and what ilm cannot run is refused by name.
#include "ilm/io/gguf_import.h"

#include <gtest/gtest.h>

#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <tuple>

#include "ilm/infer/generate.h"
#include "ilm/infer/load_model.h"
#include "ilm/io/file.h"
#include "ilm/io/gguf_arch.h"
#include "ilm/io/gguf_export.h"
#include "ilm/kernels/rope.h"
#include "ilm/models/recipes.h"
#include "ilm/tokenizer/bpe_trainer.h"
#include "ilm/tokenizer/sentencepiece.h"
#include "ilm/tokenizer/tiktoken.h"
#include "ilm/tokenizer/wordpiece.h"
#include "test_util.h"

namespace fs = std::filesystem;
using ilm::GgmlType;
using ilm::test::error_of;
using ilm::test::TempDir;

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

const std::vector<int32_t> kPrompt = {3, 17, 5, 42, 8, 11};

// The logits of every position of kPrompt, fed one token at a time.
std::vector<std::vector<float>> logits_of(const ilm::Transformer& model) {
  std::unique_ptr<ilm::CausalLM> lm = ilm::causal_lm_of(model);
  std::vector<std::vector<float>> out;
  for (int32_t id : kPrompt) {
    std::vector<float> l(static_cast<size_t>(lm->vocab_size()));
    lm->feed(&id, 1, l.data());
    out.push_back(std::move(l));
  }
  return out;
}

// Greedy continuation of kPrompt.
std::vector<int32_t> greedy(const ilm::Transformer& model, int n) {
  std::unique_ptr<ilm::CausalLM> lm = ilm::causal_lm_of(model);
  std::vector<float> l(static_cast<size_t>(lm->vocab_size()));
  lm->feed(kPrompt.data(), int(kPrompt.size()), l.data());
  std::vector<int32_t> ids;
  for (int i = 0; i < n; ++i) {
    int32_t next = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
    ids.push_back(next);
    if (i + 1 < n) lm->feed(&next, 1, l.data());
  }
  return ids;
}

float max_diff(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  float m = 0;
  for (size_t p = 0; p < a.size(); ++p)
    for (size_t i = 0; i < a[p].size(); ++i) m = std::max(m, std::fabs(a[p][i] - b[p][i]));
  return m;
}

bool causal(const ilm::TransformerConfig& c) {
  return c.head == ilm::HeadKind::causal_lm && c.causal;
}

fs::path export_fixture(const ilm::Transformer& model, const fs::path& out, GgmlType type) {
  ilm::GgufExportOptions o;
  o.matrix_type = type;
  o.allow_no_tokenizer = true;
  ilm::export_transformer_gguf(model, nullptr, out, o);
  return out;
}

}  // namespace

// F32: the weights come back bit for bit (the export's layout changes undone), so the logits
// and greedy tokens are those of the original, from owned and from mapped weights.
TEST(GgufImport, F32RoundTripsEveryFamily) {
  const std::vector<std::string> names = family_names();
  ASSERT_GE(names.size(), 10u);
  TempDir tmp;
  int compared = 0;
  for (const std::string& family : names) {
    SCOPED_TRACE(family);
    ilm::HfModel hf = ilm::load_hf_folder(family_fixtures() / family);
    const ilm::TransformerConfig& c = hf.model->config();
    if (c.position == ilm::PositionKind::alibi) continue;  // not exportable (falcon-rw)
    const fs::path path = export_fixture(*hf.model, tmp.path / (family + ".gguf"), GgmlType::f32);
    ilm::GgufModel g = ilm::load_gguf_model(path);
    ASSERT_TRUE(g.model);
    EXPECT_FALSE(g.tokenizer);
    EXPECT_EQ(g.model->config().n_layer, c.n_layer);
    EXPECT_EQ(g.model->config().vocab_size, c.vocab_size);
    EXPECT_EQ(g.model->config().kv_heads(), c.kv_heads());
    std::map<std::string, ilm::Tensor> back;
    for (auto& [name, t] : ilm::hf_state_dict(*g.model)) back[name] = t;
    for (const auto& [name, t] : ilm::hf_state_dict(*hf.model)) {
      if (c.arch == "bert" && !back.count(name)) continue;  // heads llama.cpp's bert lacks
      SCOPED_TRACE(name);
      ASSERT_TRUE(back.count(name));
      ASSERT_EQ(back[name].numel(), t.numel());
      EXPECT_TRUE(std::equal(t.f32(), t.f32() + t.numel(), back[name].f32()));
    }
    if (!causal(c)) continue;
    // GGUF has no sliding window (the export notes it): past it, the logits differ.
    if (c.sliding_window > 0 && c.sliding_window < int(kPrompt.size()) + 2) continue;
    const auto want = logits_of(*hf.model);
    // LLaMA-3 scaling is solved back from rope_freqs.weight: its frequencies within 1e-5.
    const float bound = c.rope.scaling == "llama3" ? 1e-4f : 1e-6f;
    if (c.rope.scaling == "llama3") {
      EXPECT_EQ(g.model->config().rope.scaling, "llama3");
    }
    EXPECT_LE(max_diff(want, logits_of(*g.model)), bound);
    ilm::GgufModel mapped = ilm::load_gguf_model(path, ilm::ParamStorage::mapped);
    EXPECT_LE(max_diff(want, logits_of(*mapped.model)), bound);
    EXPECT_EQ(greedy(*hf.model, 2), greedy(*mapped.model, 2));
    ++compared;
  }
  EXPECT_GE(compared, 7);
}

// LLaMA-3.1's own scaling (theta 500000, heads of 64: many frequencies on the ramp) is solved
// back from rope_freqs.weight to the same frequencies.
TEST(GgufImport, Llama31RopeFreqs) {
  TempDir tmp;
  nlohmann::json j =
      nlohmann::json::parse(ilm::read_file(family_fixtures() / "llama3" / "config.json"));
  j["hidden_size"] = 128;
  j["num_attention_heads"] = 2;
  j["num_key_value_heads"] = 1;
  j["rope_theta"] = 500000.0;
  j["max_position_embeddings"] = 131072;
  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  ilm::Transformer model(ilm::config_from_hf(j, "llama3.1"));
  model.init_weights(2);
  const fs::path p = export_fixture(model, tmp.path / "l31.gguf", GgmlType::f32);
  ilm::GgufModel g = ilm::load_gguf_model(p);
  const ilm::RopeConfig& got = g.model->config().rope;
  EXPECT_EQ(got.scaling, "llama3");
  EXPECT_EQ(got.factor, 8.0f);
  const std::vector<float> want = ilm::rope_inv_freq(model.config().rope, 64, 0);
  const std::vector<float> back = ilm::rope_inv_freq(got, 64, 0);
  ASSERT_EQ(want.size(), back.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(back[i], want[i], 1e-5 * want[i]) << i;
}

// F16 within its rounding; Q8_0 within a loose bound with mostly the same argmax. Both
// storages: mapped keeps the F16 matrices as stored.
TEST(GgufImport, F16AndQ8_0WithinBounds) {
  TempDir tmp;
  for (const std::string family : {"llama2_gqa_bf16", "gpt2", "falcon_new_arch"}) {
    SCOPED_TRACE(family);
    ilm::HfModel hf = ilm::load_hf_folder(family_fixtures() / family);
    const auto want = logits_of(*hf.model);
    float scale = 0;
    for (const auto& p : want)
      for (float x : p) scale = std::max(scale, std::fabs(x));
    const fs::path f16 =
        export_fixture(*hf.model, tmp.path / (family + ".f16.gguf"), GgmlType::f16);
    for (auto storage : {ilm::ParamStorage::owned, ilm::ParamStorage::mapped}) {
      ilm::GgufModel g = ilm::load_gguf_model(f16, storage);
      EXPECT_LE(max_diff(want, logits_of(*g.model)), 0.01f * scale + 1e-3f);
    }
    const fs::path q8 = export_fixture(*hf.model, tmp.path / (family + ".q8.gguf"), GgmlType::q8_0);
    ilm::GgufModel g = ilm::load_gguf_model(q8, ilm::ParamStorage::mapped);
    const auto got = logits_of(*g.model);
    EXPECT_LE(max_diff(want, got), 0.1f * scale + 1e-2f);
    int same = 0;
    for (size_t p = 0; p < want.size(); ++p)
      same += std::max_element(want[p].begin(), want[p].end()) - want[p].begin() ==
              std::max_element(got[p].begin(), got[p].end()) - got[p].begin();
    EXPECT_GE(same, int(want.size()) - 2);
  }
}

namespace {

const std::vector<std::string> kTexts = {
    "Hello world, the theme of the thesis.", "Caf\xC3\xA9 na\xC3\xAFve \xC3\xA0 la cr\xC3\xA8me",
    "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 "
    "\xD8\xA8\xD8\xA7\xD9\x84\xD8\xB9\xD8\xA7\xD9\x84\xD9\x85",
    "emoji \xF0\x9F\x98\x80\xF0\x9F\x9A\x80 ok", "  spaces\tand\nlines  "};

// Exports a model of `family` shaped for `tok` with it, and reads the tokenizer back.
std::unique_ptr<ilm::Tokenizer> round_trip(const std::string& family, const ilm::Tokenizer& tok,
                                           const fs::path& out) {
  nlohmann::json j =
      nlohmann::json::parse(ilm::read_file(family_fixtures() / family / "config.json"));
  j["vocab_size"] = tok.vocab_size();
  ilm::Transformer model(ilm::config_from_hf(j, family));
  model.init_weights(1);
  ilm::export_transformer_gguf(model, &tok, out);
  ilm::GgufModel g = ilm::load_gguf_model(out);
  EXPECT_TRUE(g.tokenizer) << (g.notes.empty() ? "" : g.notes[0]);
  return std::move(g.tokenizer);
}

void expect_same_ids(const ilm::Tokenizer& want, const ilm::Tokenizer& got) {
  for (const std::string& text : kTexts) {
    SCOPED_TRACE(text);
    EXPECT_EQ(want.encode(text), got.encode(text));
  }
}

}  // namespace

TEST(GgufImport, ByteLevelBpeTokenizer) {
  TempDir tmp;
  auto ranks = std::make_shared<ilm::BpeRanks>();
  for (int b = 0; b < 256; ++b) ranks->add(std::string(1, char(b)), b);
  ranks->add("th", 256);
  ranks->add("the", 257);
  ranks->add(" t", 258);
  ranks->finalize();
  ilm::BpeTokenizer tok("gpt2", ranks, "gpt2",
                        std::map<std::string, int32_t>{{"<|endoftext|>", 259}});
  auto back = round_trip("gpt2", tok, tmp.path / "bpe.gguf");
  ASSERT_TRUE(back);
  expect_same_ids(tok, *back);
  ilm::EncodeOptions allow;
  allow.special = ilm::SpecialTokens::allow;
  EXPECT_EQ(back->encode("the<|endoftext|>", allow), (std::vector<int32_t>{257, 259}));
}

// Llama 3's files set add_bos_token: the prompt the model sees starts with BOS.
TEST(GgufImport, ByteLevelBpeAddBosToken) {
  TempDir tmp;
  ilm::GgufWriter w;
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(ilm::byte_level_spelling(std::string(1, char(b))));
  tokens.push_back("<|begin_of_text|>");
  std::vector<int32_t> types(tokens.size(), 1);
  types.back() = int32_t(ilm::GgufTokenType::control);
  w.add_kv("tokenizer.ggml.model", "gpt2");
  w.add_kv("tokenizer.ggml.pre", "llama-bpe");
  w.add_kv("tokenizer.ggml.tokens", tokens);
  w.add_kv("tokenizer.ggml.token_type", types);
  w.add_kv("tokenizer.ggml.merges", std::vector<std::string>{});
  w.add_kv("tokenizer.ggml.bos_token_id", uint32_t{256});
  w.add_kv("tokenizer.ggml.add_bos_token", true);
  w.write(tmp.path / "bos.gguf");
  auto tok = ilm::gguf_tokenizer(ilm::GgufFile::open(tmp.path / "bos.gguf"));
  ASSERT_TRUE(tok);
  EXPECT_EQ(tok->encode("Hi"), (std::vector<int32_t>{'H', 'i'}));
  EXPECT_EQ(ilm::prompt_ids(*tok, "Hi", true), (std::vector<int32_t>{256, 'H', 'i'}));
}

TEST(GgufImport, SentencePieceTokenizer) {
  TempDir tmp;
  const fs::path corpus = tmp.path / "corpus.txt";
  {
    std::ofstream f(corpus);
    for (int i = 0; i < 40; ++i)
      f << "Call me Ishmael. Some years ago the whale swam in the sea and the ship sailed.\n"
        << "The sea of whales, the ships of the sea, and a sailor " << i << ".\n";
  }
  auto status = sentencepiece::SentencePieceTrainer::Train(fmt::format(
      "--input={} --model_prefix={} --model_type=bpe --vocab_size=300 --byte_fallback=true "
      "--add_dummy_prefix=true --normalization_rule_name=identity "
      "--remove_extra_whitespaces=false --num_threads=1 --minloglevel=2",
      corpus.string(), (tmp.path / "spm").string()));
  ASSERT_TRUE(status.ok()) << status.ToString();
  auto sp = ilm::SentencePieceTokenizer::from_file(tmp.path / "spm.model");
  auto back = round_trip("llama", *sp, tmp.path / "spm.gguf");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kind(), "sentencepiece");
  expect_same_ids(*sp, *back);
  EXPECT_EQ(back->decode(sp->encode("the whale")), "the whale");
  const auto* back_sp = dynamic_cast<const ilm::SentencePieceTokenizer*>(back.get());
  ASSERT_TRUE(back_sp);
  EXPECT_EQ(back_sp->bos_id(), sp->bos_id());
  EXPECT_EQ(back_sp->eot_id(), sp->eot_id());
  EXPECT_EQ(back_sp->unk_id(), sp->unk_id());
}

TEST(GgufImport, WordPieceTokenizer) {
  TempDir tmp;
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "play", "##ing",
                                    "hello", "world", "the",   "##s",   "caf",    "##e",  ","};
  while (vocab.size() < 60) vocab.push_back(fmt::format("w{}", vocab.size()));
  ilm::WordPieceTokenizer wp(vocab, {}, "test vocab");
  auto back = round_trip("bert", wp, tmp.path / "bert.gguf");
  ASSERT_TRUE(back);
  expect_same_ids(wp, *back);
  EXPECT_EQ(back->encode("Playing hello, world"), wp.encode("Playing hello, world"));
}

// ---- refusals ----------------------------------------------------------------------------------

namespace {

// Overwrites the ggml type of tensor `name` in the tensor table of a GGUF file.
void set_tensor_type(const fs::path& path, const std::string& name, uint32_t type) {
  std::string bytes = ilm::read_file(path);
  std::string key(8, '\0');
  uint64_t n = name.size();
  std::memcpy(key.data(), &n, 8);
  key += name;
  const size_t at = bytes.find(key);
  ASSERT_NE(at, std::string::npos);
  size_t p = at + key.size();
  uint32_t dims;
  std::memcpy(&dims, bytes.data() + p, 4);
  p += 4 + 8 * dims;
  std::memcpy(bytes.data() + p, &type, 4);
  ilm::write_file_atomic(path, bytes);
}

}  // namespace

TEST(GgufImport, Refusals) {
  TempDir tmp;
  {  // an architecture without a recipe
    ilm::GgufWriter w;
    w.add_kv("general.architecture", "mamba");
    std::vector<float> x(4, 1.0f);
    w.add_tensor("token_embd.weight", {2, 2}, GgmlType::f32, x.data());
    w.write(tmp.path / "mamba.gguf");
    const std::string e = error_of([&] { ilm::load_gguf_model(tmp.path / "mamba.gguf"); });
    EXPECT_NE(e.find("\"mamba\""), std::string::npos) << e;
    EXPECT_NE(e.find("gpt2, llama"), std::string::npos) << e;
  }
  for (const auto& [model, pre, want] :
       {std::tuple{"gpt2", "falcon", "\"falcon\" is not read (supported: gpt-2, llama-bpe"},
        std::tuple{"rwkv", "", "\"rwkv\" is not read (supported: gpt2, llama, bert)"}}) {
    ilm::GgufWriter w;  // tokenizers ilm does not build
    w.add_kv("tokenizer.ggml.model", model);
    if (*pre) w.add_kv("tokenizer.ggml.pre", pre);
    w.add_kv("tokenizer.ggml.tokens", std::vector<std::string>{"a", "b"});
    w.add_kv("tokenizer.ggml.merges", std::vector<std::string>{});
    w.write(tmp.path / "tok.gguf");
    const std::string e =
        error_of([&] { ilm::gguf_tokenizer(ilm::GgufFile::open(tmp.path / "tok.gguf")); });
    EXPECT_NE(e.find(want), std::string::npos) << e;
  }
  ilm::HfModel hf = ilm::load_hf_folder(family_fixtures() / "llama");
  {  // a quantization ilm does not read: Q8_0 relabelled Q4_0 (smaller, so still in the file)
    const fs::path p = export_fixture(*hf.model, tmp.path / "q.gguf", GgmlType::q8_0);
    set_tensor_type(p, "blk.1.ffn_up.weight", 2);
    const std::string e = error_of([&] { ilm::load_gguf_model(p); });
    EXPECT_NE(e.find("blk.1.ffn_up.weight"), std::string::npos) << e;
    EXPECT_NE(e.find("Q4_0"), std::string::npos) << e;
    EXPECT_NE(e.find("F32, F16, BF16 and Q8_0"), std::string::npos) << e;
  }
  {  // a truncated file: the tensors past the end are named
    const fs::path p = export_fixture(*hf.model, tmp.path / "t.gguf", GgmlType::f32);
    std::string bytes = ilm::read_file(p);
    bytes.resize(bytes.size() - 100);
    ilm::write_file_atomic(p, bytes);
    const std::string e = error_of([&] { ilm::load_gguf_model(p); });
    EXPECT_NE(e.find(".weight"), std::string::npos) << e;
  }
}

// load_model reads a .gguf as the Transformer with its tokenizer.
TEST(GgufImport, LoadModel) {
  TempDir tmp;
  ilm::HfModel hf = ilm::load_hf_folder(family_fixtures() / "gpt2");
  const fs::path p = export_fixture(*hf.model, tmp.path / "m.gguf", GgmlType::f32);
  ilm::LoadedModel m = ilm::load_model(p, ilm::ParamStorage::mapped);
  EXPECT_EQ(m.format, ilm::ModelFormat::gguf);
  ASSERT_TRUE(m.transformer);
  EXPECT_FALSE(m.tokenizer);
  EXPECT_FALSE(m.notes.empty());
  EXPECT_EQ(greedy(*hf.model, 4), greedy(*m.transformer, 4));
}
