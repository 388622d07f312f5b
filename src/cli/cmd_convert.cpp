// ilm convert PATH --to hf|gguf --out DEST [--shard-size 2GB] [--type f16]
#include <fmt/core.h>

#include "cli/commands.h"
#include "ilm/core/threads.h"
#include "ilm/infer/convert_model.h"

namespace ilm::cli {

void add_convert(CLI::App& app) {
  struct Args {
    std::string path, to, out, shard_size = "5GB", type = "f16";
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Convert a run or Hugging Face folder to a Hugging Face folder or GGUF");
  cmd->add_option("path", a->path, "run folder or Hugging Face model folder")->required();
  cmd->add_option("--to", a->to, "hf (a folder transformers loads) or gguf (a file llama.cpp runs)")
      ->required()
      ->check(CLI::IsMember({"hf", "gguf"}));
  cmd->add_option("-o,--out", a->out, "the folder (hf) or file (gguf) to write")->required();
  cmd->add_option("--shard-size", a->shard_size, "hf: largest safetensors shard (2GB, 500MB, 1GiB)")
      ->capture_default_str();
  cmd->add_option("--type", a->type, "gguf: type of the matrices: f32, f16 or q8_0")
      ->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all)");
  cmd->callback([a] {
    set_num_threads(a->threads);
    ConvertReport rep = a->to == "hf"
                            ? convert_to_hf(a->path, a->out, parse_byte_size(a->shard_size))
                            : convert_to_gguf(a->path, a->out, parse_gguf_matrix_type(a->type));
    for (const std::string& n : rep.notes) fmt::print(stderr, "note: {}\n", n);
    fmt::print("wrote {}\n", a->out);
  });
}

}  // namespace ilm::cli
