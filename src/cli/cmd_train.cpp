// ilm train --config FILE [--init HF_FOLDER] [--set key=value]... | --resume RUN_DIR [--set ...]
#include <fmt/core.h>

#include "cli/commands.h"
#include "ilm/train/config.h"
#include "ilm/train/signals.h"
#include "ilm/train/trainer.h"

namespace ilm::cli {

void add_train(CLI::App& app) {
  struct Args {
    std::string config, resume, init;
    std::vector<std::string> sets;
    bool help_config = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("train", "Train a GPT from a YAML config (or continue a Hugging Face model), or resume a run");
  cmd->add_option("-c,--config", args->config, "YAML config (see configs/)");
  cmd->add_option("--init", args->init,
                  "a Hugging Face model folder to continue training (same as --set model.init=DIR)");
  cmd->add_option("--resume", args->resume, "run folder to continue from its latest checkpoint");
  cmd->add_option("--set", args->sets, "override a config key: --set train.max_steps=2000")
      ->type_name("KEY=VALUE");
  cmd->add_flag("--help-config", args->help_config, "list every config key with its default");
  cmd->callback([args] {
    if (args->help_config) {
      fmt::print("{}", run_config_help());
      return;
    }
    if (args->config.empty() == args->resume.empty())
      throw Error("give either --config FILE for a new run or --resume RUN_DIR");
    if (!args->init.empty()) {
      if (!args->resume.empty())
        throw Error("--init starts a new run from a model folder; a resumed run keeps its own model");
      args->sets.push_back("model.init=" + args->init);
    }
    install_stop_signals();
    TrainResult r = args->resume.empty()
                        ? train_new(load_run_config(args->config, args->sets))
                        : train_resume(args->resume, args->sets);
    fmt::print("run: {}\nsteps: {}\ntrain loss: {:.4f}\n", r.run_dir.string(), r.step, r.last_loss);
    if (r.val_loss) fmt::print("val loss: {:.4f}\n", *r.val_loss);
    if (r.interrupted) exit_code = 128 + stop_signal();
  });
}

}  // namespace ilm::cli
