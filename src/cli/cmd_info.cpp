// ilm info PATH [--json]: what a run folder, Hugging Face folder, .gguf or .safetensors holds.
#include <fmt/core.h>

#include "cli/commands.h"
#include "ilm/infer/model_info.h"

namespace ilm::cli {

void add_info(CLI::App& app) {
  struct Args {
    std::string path;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "info", "Describe a model: run folder, Hugging Face folder, .gguf, .safetensors");
  cmd->add_option("path", a->path,
                  "run folder, Hugging Face model folder, .gguf or .safetensors file")
      ->required();
  cmd->add_flag("--json", a->json, "print the facts as one JSON object");
  cmd->callback([a] {
    nlohmann::json info = model_info(a->path);
    if (a->json)
      fmt::print("{}\n", info.dump(2));
    else
      fmt::print("{}", format_model_info(info));
  });
}

}  // namespace ilm::cli
