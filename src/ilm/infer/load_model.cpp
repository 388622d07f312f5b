#include "ilm/infer/load_model.h"

#include "ilm/core/error.h"
#include "ilm/io/gguf.h"
#include "ilm/io/gguf_import.h"
#include "ilm/io/safetensors_index.h"
#include "ilm/models/recipes.h"
#include "ilm/train/checkpoint.h"
#include "ilm/train/config.h"

namespace fs = std::filesystem;

namespace ilm {

std::string_view model_format_name(ModelFormat format) {
  switch (format) {
    case ModelFormat::run:
      return "run";
    case ModelFormat::hf:
      return "hf";
    case ModelFormat::gguf:
      return "gguf";
    case ModelFormat::safetensors:
      return "safetensors";
  }
  return "?";
}

ModelFormat detect_model_format(const fs::path& path) {
  ILM_CHECK(fs::exists(path), "{}: no such run folder, model folder or file", path.string());
  if (!fs::is_directory(path)) {
    if (path.extension() == ".gguf") return ModelFormat::gguf;
    if (path.extension() == ".safetensors") return ModelFormat::safetensors;
    fail(
        "{}: not a model: expected a run folder, a Hugging Face folder (config.json), a .gguf or "
        "a .safetensors file",
        path.string());
  }
  if (fs::exists(path / "config.json")) return ModelFormat::hf;
  if (fs::exists(path / "config.yaml") || fs::exists(path / "checkpoints") ||
      fs::exists(path / "model.safetensors"))
    return ModelFormat::run;
  fail(
      "{}: not a model folder: no config.json (Hugging Face), config.yaml or checkpoints/ (ilm "
      "run)",
      path.string());
}

RunFiles find_run_files(const fs::path& path) {
  RunFiles r;
  r.root = path;
  if (fs::exists(path / "model.safetensors")) {
    r.weights = path / "model.safetensors";
    // A checkpoint folder: the run folder is two levels up.
    if (!fs::exists(path / "config.yaml") && path.parent_path().filename() == "checkpoints")
      r.root = path.parent_path().parent_path();
  } else {
    fs::path ckpt = latest_checkpoint(path);
    ILM_CHECK(!ckpt.empty(), "{}: has no checkpoint and no model.safetensors", path.string());
    r.weights = ckpt / "model.safetensors";
  }
  ILM_CHECK(fs::exists(r.root / "config.yaml"), "{}: no config.yaml beside the weights",
            r.root.string());
  if (fs::exists(r.weights.parent_path() / "config.json") &&
      !load_run_config(r.root / "config.yaml", {}).init.empty())
    r.hf_checkpoint = r.weights.parent_path();
  return r;
}

LoadedModel load_model(const fs::path& path, ParamStorage storage) {
  LoadedModel m;
  m.format = detect_model_format(path);
  switch (m.format) {
    case ModelFormat::run: {
      RunFiles files = find_run_files(path);
      if (!files.hf_checkpoint.empty()) {  // a model.init run: a Transformer
        HfModel hf = load_hf_folder(files.hf_checkpoint, storage);
        m.transformer = std::move(hf.model);
        m.hf_config = std::move(hf.config_json);
        m.tokenizer = fs::exists(files.root / "tokenizer.json")
                          ? load_tokenizer(files.root / "tokenizer.json")
                          : std::move(hf.tokenizer);
        m.weights = files.hf_checkpoint;
        return m;
      }
      RunConfig cfg = load_run_config(files.root / "config.yaml", {});
      ILM_CHECK(fs::exists(files.root / "tokenizer.json"), "{}: no tokenizer.json",
                files.root.string());
      m.tokenizer = load_tokenizer(files.root / "tokenizer.json");
      if (cfg.model.vocab_size == 0) cfg.model.vocab_size = m.tokenizer->vocab_size();
      m.transformer = load_run_gpt2(cfg, files.weights, storage);
      m.weights = files.weights;
      return m;
    }
    case ModelFormat::hf: {
      HfModel hf = load_hf_folder(path, storage);
      m.transformer = std::move(hf.model);
      m.tokenizer = std::move(hf.tokenizer);
      // A checkpoint folder of a model.init run: the tokenizer is the run's.
      const fs::path run = path.parent_path().parent_path();
      if (!m.tokenizer && path.parent_path().filename() == "checkpoints" &&
          fs::exists(run / "tokenizer.json"))
        m.tokenizer = load_tokenizer(run / "tokenizer.json");
      m.hf_config = std::move(hf.config_json);
      m.weights = path;
      return m;
    }
    case ModelFormat::gguf: {
      GgufModel g = load_gguf_model(path, storage);
      m.transformer = std::move(g.model);
      m.tokenizer = std::move(g.tokenizer);
      m.hf_config = std::move(g.hf_config);
      m.notes = std::move(g.notes);
      m.weights = path;
      return m;
    }
    case ModelFormat::safetensors:
      fail("{}: a bare safetensors file has no config: give its run or model folder",
           path.string());
  }
  return m;
}

std::unique_ptr<CausalLM> LoadedModel::causal_lm() {
  if (transformer) {
    try {
      return causal_lm_of(*transformer);
    } catch (const Error& e) {
      throw e.with_context(weights.string());
    }
  }
  fail("{}: no model loaded", weights.string());
}

std::unique_ptr<Transformer> load_run_gpt2(const RunConfig& cfg, const fs::path& weights,
                                           ParamStorage storage) {
  auto model = std::make_unique<Transformer>(gpt2_config(cfg.model), storage);
  const SafetensorsIndex st = SafetensorsIndex::open(weights);
  try {
    load_hf_weights(*model, st.names(), [&](const std::string& name) -> std::optional<Tensor> {
      if (!st.has(name)) return std::nullopt;
      return st.get(name, DType::f32);
    });
  } catch (const Error& e) {
    throw e.with_context(weights.string());
  }
  return model;
}

}  // namespace ilm
