// ilm: the command-line program. Each subcommand lives in its own file and only
// parses arguments and calls libilm.
#include <fmt/core.h>

#include "cli/commands.h"
#include "ilm/core/error.h"

namespace ilm::cli {
int exit_code = 0;
}

int main(int argc, char** argv) {
  CLI::App app{"ilm: learn, train, fine-tune, evaluate and serve language models"};
  app.set_version_flag("--version", ILM_VERSION);
  app.require_subcommand(1);
  ilm::cli::add_train(app);
  ilm::cli::add_generate(app);
  ilm::cli::add_pull(app);
  ilm::cli::add_bench(app);
  ilm::cli::add_tokenizer(app);
  ilm::cli::add_data(app);
  ilm::cli::add_info(app);
  ilm::cli::add_convert(app);
  if (argc == 1) {  // no subcommand: show what there is
    fmt::print("{}", app.help());
    return 1;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ilm::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return ilm::cli::exit_code;
}
