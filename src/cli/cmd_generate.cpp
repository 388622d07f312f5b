// ilm generate --model RUN_OR_FOLDER --prompt TEXT [sampling options]
#include <fmt/core.h>

#include <cstdio>

#include "cli/commands.h"
#include "ilm/core/threads.h"
#include "ilm/infer/generate.h"

namespace ilm::cli {

void add_generate(CLI::App& app) {
  struct Args {
    std::string model, prompt;
    GenerateOptions opt;
    int threads = 0;
    bool stats = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("generate", "Generate text from a trained model, streamed");
  cmd->add_option("-m,--model", a->model, "run folder, checkpoint folder or model folder")->required();
  cmd->add_option("-p,--prompt", a->prompt, "text to continue (may be empty)");
  cmd->add_option("-n,--max-tokens", a->opt.max_tokens, "tokens to generate")->capture_default_str();
  cmd->add_option("-t,--temperature", a->opt.sampling.temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-k", a->opt.sampling.top_k, "keep the k likeliest tokens (0 = all)")
      ->capture_default_str();
  cmd->add_option("--top-p", a->opt.sampling.top_p, "keep the smallest set with this probability mass")
      ->capture_default_str();
  cmd->add_option("--seed", a->opt.seed, "sampling seed")->capture_default_str();
  cmd->add_option("--threads", a->threads, "CPU threads (0 = all)");
  cmd->add_flag("--stats", a->stats, "print tokens/s to stderr at the end");
  cmd->callback([a] {
    set_num_threads(a->threads);
    LoadedModel m = load_model(a->model);
    m.tokenizer->encode(a->prompt);  // an unencodable prompt fails before anything is printed
    std::fwrite(a->prompt.data(), 1, a->prompt.size(), stdout);
    GenerateStats st = generate(*m.model, *m.tokenizer, a->prompt, a->opt, [](std::string_view s) {
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
    });
    fmt::print("\n");
    if (a->stats)
      fmt::print(stderr, "prompt {} tokens in {:.1f} ms; generated {} tokens at {:.1f} tokens/s\n",
                 st.prompt_tokens, st.prefill_ms, st.generated_tokens,
                 st.generated_tokens / (st.decode_ms / 1000.0 + 1e-9));
  });
}

}  // namespace ilm::cli
