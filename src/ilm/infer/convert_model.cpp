#include "ilm/infer/convert_model.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "ilm/core/error.h"
#include "ilm/infer/load_model.h"
#include "ilm/io/file.h"
#include "ilm/io/gguf_arch.h"
#include "ilm/io/gguf_export.h"
#include "ilm/io/safetensors_index.h"
#include "ilm/models/recipes.h"
#include "ilm/tokenizer/registry.h"
#include "ilm/tokenizer/tiktoken.h"
#include "ilm/train/checkpoint.h"
#include "ilm/train/config.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ilm {

uint64_t parse_byte_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  std::string unit = text.substr(i);
  for (char& ch : unit) ch = char(std::toupper(static_cast<unsigned char>(ch)));
  double n = 0;
  try {
    size_t used = 0;
    n = std::stod(text.substr(0, i), &used);
    if (used != i) throw std::invalid_argument("");
  } catch (const std::exception&) {
    fail("size '{}': expected a number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB)", text);
  }
  double scale = 0;
  if (unit.empty() || unit == "B")
    scale = 1;
  else if (unit == "KB")
    scale = 1e3;
  else if (unit == "MB")
    scale = 1e6;
  else if (unit == "GB")
    scale = 1e9;
  else if (unit == "KIB")
    scale = 1024.0;
  else if (unit == "MIB")
    scale = 1024.0 * 1024;
  else if (unit == "GIB")
    scale = 1024.0 * 1024 * 1024;
  else
    fail("size '{}': unknown unit '{}' (B, KB, MB, GB, KiB, MiB, GiB)", text, text.substr(i));
  ILM_CHECK(n * scale >= 1, "size '{}' must be at least one byte", text);
  return uint64_t(n * scale);
}

GgmlType parse_gguf_matrix_type(const std::string& text) {
  if (text == "f32") return GgmlType::f32;
  if (text == "f16") return GgmlType::f16;
  if (text == "q8_0") return GgmlType::q8_0;
  fail("GGUF type '{}' is not supported: f32, f16 or q8_0", text);
}

namespace {

// Builds `out` in a sibling folder and renames it into place; the sibling is removed on failure.
class StagedFolder {
 public:
  explicit StagedFolder(const fs::path& out) : out_(out) {
    if (fs::exists(out_) && !(fs::is_directory(out_) && fs::is_empty(out_)))
      fail("{}: already exists and is not an empty folder; remove it or choose another --out",
           out_.string());
    const fs::path parent = out_.has_parent_path() ? out_.parent_path() : fs::path(".");
    fs::create_directories(parent);
    tmp_ = parent / fmt::format(".{}.tmp-{}", out_.filename().string(), getpid());
    fs::remove_all(tmp_);
    fs::create_directories(tmp_);
  }
  ~StagedFolder() {
    std::error_code ec;
    if (!done_) fs::remove_all(tmp_, ec);
  }
  const fs::path& path() const { return tmp_; }
  void commit() {
    if (fs::exists(out_)) fs::remove(out_);  // an empty folder
    fs::rename(tmp_, out_);
    done_ = true;
  }

 private:
  fs::path out_, tmp_;
  bool done_ = false;
};

void write_json(const fs::path& p, const json& j) {
  write_file_atomic(p, j.dump(2) + "\n");
}

ConvertReport hf_to_hf(const fs::path& in, const fs::path& out, uint64_t max_shard_bytes);

// The run's tokenizer in a form transformers reads where there is one: a Hugging Face
// tokenizer.json as it is; GPT-2's encoding as GPT-2's own files (vocab.json, merges.txt,
// tokenizer_config.json, special_tokens_map.json); anything else in ilm's format, with a note.
void write_hf_tokenizer(const Tokenizer& tok, const fs::path& dir, int context,
                        ConvertReport& rep) {
  if (tok.kind() == "hf") {
    save_tokenizer(tok, dir / "tokenizer.json");
    return;
  }
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(&tok);
  if (bpe && (bpe->encoding() == "gpt2" || bpe->encoding() == "r50k_base")) {
    const ByteLevelBpeVocab v = byte_level_bpe_vocab(tok);
    json vocab = json::object();
    for (size_t id = 0; id < v.tokens.size(); ++id)
      if (v.types[id] != int32_t(GgufTokenType::unused)) vocab[v.tokens[id]] = id;
    write_file_atomic(dir / "vocab.json", vocab.dump() + "\n");
    std::string merges = "#version: 0.2\n";
    for (const std::string& m : v.merges) merges += m + "\n";
    write_file_atomic(dir / "merges.txt", merges);
    const std::string eot = "<|endoftext|>";
    json special = {{"bos_token", eot}, {"eos_token", eot}, {"unk_token", eot}};
    write_json(dir / "special_tokens_map.json", special);
    json cfg = special;
    cfg["tokenizer_class"] = "GPT2Tokenizer";
    cfg["model_max_length"] = context;
    cfg["add_prefix_space"] = false;
    write_json(dir / "tokenizer_config.json", cfg);
    return;
  }
  save_tokenizer(tok, dir / "tokenizer.json");
  rep.notes.push_back(fmt::format(
      "the run's tokenizer is ilm's '{}' kind: tokenizer.json is written in ilm's format, which "
      "ilm reads but Hugging Face transformers does not (give the model a tokenizer of its own "
      "there)",
      tok.kind()));
}

ConvertReport run_to_hf(const fs::path& in, const fs::path& out, uint64_t max_shard_bytes) {
  ConvertReport rep;
  RunFiles files = find_run_files(in);
  if (!files.hf_checkpoint.empty()) {  // a model.init run: its checkpoint is already a HF folder
    ConvertReport r = hf_to_hf(files.hf_checkpoint, out, max_shard_bytes);
    if (!fs::exists(out / "tokenizer.json") && fs::exists(files.root / "tokenizer.json")) {
      fs::copy_file(files.root / "tokenizer.json", out / "tokenizer.json");
      r.files.push_back(out / "tokenizer.json");
      if (load_tokenizer(out / "tokenizer.json")->kind() != "hf")
        r.notes.push_back(
            "the run's tokenizer.json is in ilm's format, which ilm reads but Hugging Face "
            "transformers does not");
    }
    return r;
  }
  RunConfig cfg = load_run_config(files.root / "config.yaml", {});
  ILM_CHECK(fs::exists(files.root / "tokenizer.json"), "{}: no tokenizer.json",
            files.root.string());
  std::unique_ptr<Tokenizer> tok = load_tokenizer(files.root / "tokenizer.json");
  if (cfg.model.vocab_size == 0) cfg.model.vocab_size = tok->vocab_size();
  const Gpt2Spec& m = cfg.model;
  std::unique_ptr<Transformer> loaded = load_run_gpt2(cfg, files.weights);
  const Transformer& model = *loaded;
  if (!m.bias)
    rep.notes.push_back(
        "the run has no biases (model.bias: false); Hugging Face GPT-2 always has them: written as "
        "zeros, which computes the same (config.json says \"bias\": false for ilm)");

  StagedFolder stage(out);
  json config = hf_config_from(model.config());
  if (auto eot = tok->eot_id()) {
    config["bos_token_id"] = *eot;
    config["eos_token_id"] = *eot;
  }
  config["torch_dtype"] = "float32";
  write_safetensors_sharded(stage.path(), hf_state_dict(model), max_shard_bytes,
                            {{"format", "pt"}});
  write_json(stage.path() / "config.json", config);
  json gen = {{"_from_model_config", true}};
  if (config.contains("bos_token_id")) gen["bos_token_id"] = config["bos_token_id"];
  if (config.contains("eos_token_id")) gen["eos_token_id"] = config["eos_token_id"];
  write_json(stage.path() / "generation_config.json", gen);
  write_hf_tokenizer(*tok, stage.path(), m.block_size, rep);
  stage.commit();
  for (const auto& e : fs::directory_iterator(out)) rep.files.push_back(e.path());
  return rep;
}

// The files of a Hugging Face folder besides the weights that travel with it unchanged.
const char* const kHfSideFiles[] = {"config.json",
                                    "generation_config.json",
                                    "tokenizer.json",
                                    "tokenizer.model",
                                    "tokenizer_config.json",
                                    "special_tokens_map.json",
                                    "added_tokens.json",
                                    "vocab.json",
                                    "merges.txt",
                                    "vocab.txt"};

ConvertReport hf_to_hf(const fs::path& in, const fs::path& out, uint64_t max_shard_bytes) {
  ConvertReport rep;
  (void)load_hf_folder(in);  // every weight present, none extra, shapes right
  SafetensorsIndex st = SafetensorsIndex::open(in);
  StagedFolder stage(out);
  write_safetensors_sharded(stage.path(), st.entries(), max_shard_bytes, st.metadata());
  for (const char* name : kHfSideFiles)
    if (fs::exists(in / name)) fs::copy_file(in / name, stage.path() / name);
  stage.commit();
  for (const auto& e : fs::directory_iterator(out)) rep.files.push_back(e.path());
  return rep;
}

}  // namespace

ConvertReport convert_to_hf(const fs::path& in, const fs::path& out, uint64_t max_shard_bytes) {
  switch (detect_model_format(in)) {
    case ModelFormat::run:
      return run_to_hf(in, out, max_shard_bytes);
    case ModelFormat::hf:
      return hf_to_hf(in, out, max_shard_bytes);
    case ModelFormat::gguf: {  // owned f32 weights, layouts undone, tokenizer.json when read
      LoadedModel m = load_model(in);
      save_hf_folder(*m.transformer, m.tokenizer.get(), out, int64_t(max_shard_bytes));
      ConvertReport rep;
      rep.notes = m.notes;
      for (const auto& e : fs::directory_iterator(out)) rep.files.push_back(e.path());
      return rep;
    }
    default:
      fail("{}: converting to a Hugging Face folder takes a run folder, a Hugging Face folder or a .gguf file",
           in.string());
  }
}

ConvertReport convert_to_gguf(const fs::path& in, const fs::path& out, GgmlType matrix_type) {
  ConvertReport rep;
  GgufExportOptions opt;
  opt.matrix_type = matrix_type;
  const ModelFormat format = detect_model_format(in);
  GgufExportReport r;
  fs::path hf_folder = format == ModelFormat::hf ? in : fs::path();
  std::unique_ptr<Tokenizer> run_tokenizer;
  if (format == ModelFormat::run) {
    RunFiles files = find_run_files(in);
    hf_folder = files.hf_checkpoint;  // a model.init run: its checkpoint is a HF folder
    if (!hf_folder.empty() && fs::exists(files.root / "tokenizer.json"))
      run_tokenizer = load_tokenizer(files.root / "tokenizer.json");
  }
  if (format == ModelFormat::run && hf_folder.empty()) {
    LoadedModel m = load_model(in);
    r = export_transformer_gguf(*m.transformer, m.tokenizer.get(), out, opt);
  } else if (!hf_folder.empty()) {
    // Any family: the Transformer the folder describes, with its tokenizer.
    HfModel hf = load_hf_folder(hf_folder);
    std::unique_ptr<Tokenizer> tok = run_tokenizer ? std::move(run_tokenizer) : std::move(hf.tokenizer);
    if (!tok) fail("{}: GGUF needs the model's tokenizer, and the folder has none", in.string());
    r = export_transformer_gguf(*hf.model, tok.get(), out, opt);
  } else {
    fail("{}: converting to GGUF takes a run folder or a Hugging Face model folder", in.string());
  }
  rep.notes = r.notes;
  rep.files.push_back(out);
  return rep;
}

}  // namespace ilm
