// ilm data: the data subcommands (each in its own cmd_data_*.cpp).
#include "cli/commands.h"

namespace ilm::cli {

void add_data(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Prepare data: stats, prepare, inspect, label");
  data->require_subcommand(1);
  add_data_label(*data);
}

}  // namespace ilm::cli
