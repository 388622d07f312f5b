// What `--model PATH` names, loaded for inference: a run folder of `ilm train` (ilm's GPT), a
// Hugging Face model folder (the Transformer of its recipe), or a GGUF file (read for
// `ilm info` only). `ilm generate`, `ilm info` and `ilm convert` share it.
#pragma once

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "ilm/infer/generate.h"
#include "ilm/models/gpt.h"
#include "ilm/models/transformer.h"
#include "ilm/tokenizer/tokenizer.h"

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
  std::unique_ptr<GPT> model;                // run folders
  std::unique_ptr<Transformer> transformer;  // Hugging Face folders
  std::unique_ptr<Tokenizer> tokenizer;      // null when the folder has none
  std::filesystem::path weights;             // the file (run) or folder (hf) the weights came from
  nlohmann::json hf_config;                  // config.json of a Hugging Face folder

  // Next-token logits with a cache over whichever model this is; the LoadedModel must outlive
  // it. Throws for a GGUF file and for models without a causal LM head (BERT).
  std::unique_ptr<CausalLM> causal_lm();
};

// Run folders: their latest checkpoint (ilm's GPT, or the Transformer of a model.init run,
// whose checkpoints are Hugging Face folders), with the run's tokenizer.json; a checkpoint
// folder; or a folder holding config.yaml, tokenizer.json and model.safetensors. Hugging Face
// folders: load_hf_folder (errors list missing, unexpected and mis-shaped weights). A .gguf file:
// validated, nothing loaded. `storage` applies to the Transformer of Hugging Face folders and
// model.init runs: mapped keeps f32 weights and bf16/f16 matrices as read-only views of the
// files (for generation and serving; no gradients), owned (the default) copies them (convert, anything that writes).
// Run folders of ilm's GPT are always owned.
LoadedModel load_model(const std::filesystem::path& path,
                       ParamStorage storage = ParamStorage::owned);

// The weights file of a run folder or checkpoint folder, and the folder holding config.yaml
// and tokenizer.json. Throws naming the path.
struct RunFiles {
  std::filesystem::path weights, root;
  // Runs of a Hugging Face family (model.init): the checkpoint folder is a Hugging Face folder
  // (config.json beside the weights); empty for ilm's GPT.
  std::filesystem::path hf_checkpoint;
};
RunFiles find_run_files(const std::filesystem::path& path);

}  // namespace ilm
