// ilm: the command-line program. Each subcommand lives in its own file and only
// parses arguments and calls libilm.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "ilm/core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"ilm: learn, train, fine-tune, evaluate and serve language models"};
  app.set_version_flag("--version", ILM_VERSION);
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ilm::Error& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 1;
  }
  return 0;
}
