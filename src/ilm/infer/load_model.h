// What `--model PATH` names, loaded for inference: a run folder of `ilm train`, a Hugging Face
// model folder (the Transformer of its recipe), or a GGUF file (load_gguf_model). `ilm generate`, `ilm info` and `ilm convert` share it.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ilm/infer/generate.h"
#include "ilm/models/transformer.h"
#include "ilm/tokenizer/tokenizer.h"
#include "ilm/train/config.h"

namespace ilm {

enum class ModelFormat {
  run,          // a run folder, one of its checkpoint folders, or config.yaml + model.safetensors
  hf,           // config.json + model.safetensors (or sharded with model.safetensors.index.json)
  gguf,         // a .gguf file
  safetensors,  // a bare .safetensors file (info only)
};
std::string_view model_format_name(ModelFormat format);  // "run", "hf", "gguf", "safetensors"

// Which format `path` is, from what is there, without reading weights. Throws naming the
// path when it does not exist or is none of them.
ModelFormat detect_model_format(const std::filesystem::path& path);

// A model ready for inference with its tokenizer.
struct LoadedModel {
  ModelFormat format = ModelFormat::run;
  std::unique_ptr<Transformer> transformer;
  std::unique_ptr<Tokenizer> tokenizer;      // null when the folder has none
  std::filesystem::path weights;             // the file (run) or folder (hf) the weights came from
  nlohmann::json hf_config;                  // config.json of a Hugging Face folder
  std::vector<std::string> notes;            // GGUF: e.g. why there is no tokenizer

  // Next-token logits with a cache over whichever model this is; the LoadedModel must outlive
  // it. Throws for models without a causal LM head (BERT).
  std::unique_ptr<CausalLM> causal_lm();
};

// Run folders: their latest checkpoint (a GPT-2 built from the run's config.yaml, or for a
// model.init run the Hugging Face folder it is), with the run's tokenizer.json; a checkpoint
// folder; or a folder holding config.yaml, tokenizer.json and model.safetensors. Hugging Face
// folders: load_hf_folder (errors list missing, unexpected and mis-shaped weights). A .gguf file:
// load_gguf_model (the Transformer of its architecture, the tokenizer of tokenizer.ggml.*). `storage` applies to the Transformer of Hugging Face folders and
// model.init runs: mapped keeps f32 weights and bf16/f16 matrices as read-only views of the
// files (for generation and serving; no gradients), owned (the default) copies them (convert,
// anything that writes). Runs trained from scratch (GPT-2) map as GPT-2 folders do: all but the
// Conv1D-transposed matrices.
LoadedModel load_model(const std::filesystem::path& path,
                       ParamStorage storage = ParamStorage::owned);

// The weights file of a run folder or checkpoint folder, and the folder holding config.yaml
// and tokenizer.json. Throws naming the path.
struct RunFiles {
  std::filesystem::path weights, root;
  // Runs of a Hugging Face family (model.init): the checkpoint folder is a Hugging Face folder
  // (config.json beside the weights) that describes the model; empty for runs from scratch,
  // whose model is the run config's GPT-2 (their checkpoints are Hugging Face folders too,
  // except those written before the Transformer, which have no config.json).
  std::filesystem::path hf_checkpoint;
};
RunFiles find_run_files(const std::filesystem::path& path);

// The GPT-2 of a run from scratch, from its config.yaml (`cfg`, vocab_size filled in), with the
// weights of `weights` (model.safetensors of a checkpoint, in either checkpoint format).
// `storage` as for load_model. Throws naming the file and every mismatched tensor.
std::unique_ptr<Transformer> load_run_gpt2(const RunConfig& cfg,
                                           const std::filesystem::path& weights,
                                           ParamStorage storage = ParamStorage::owned);

}  // namespace ilm
