// `ilm info PATH`: what a model is, read without loading its weights. A Hugging Face folder:
// architecture, recipe, sizes, positions, norm, parameter count, the weights' dtypes, bytes and
// shards, and the tokenizer; a run folder: its model config, step, parameters and tokenizer; a
// .gguf: its keys and tensors; a .safetensors: its tensors.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

namespace ilm {

// The facts as JSON ({"format": "hf" | "run" | "gguf" | "safetensors", "path": ..., ...};
// docs/info.md lists the fields). Throws naming the path or file on bad input.
nlohmann::json model_info(const std::filesystem::path& path);
// The same facts as readable lines ("parameters: 1,234,567").
std::string format_model_info(const nlohmann::json& info);

}  // namespace ilm
