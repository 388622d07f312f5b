// Each subcommand registers itself on the app; its callback parses nothing more
// and calls libilm. Callbacks return the process exit code through `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace ilm::cli {

extern int exit_code;

void add_train(CLI::App& app);
void add_generate(CLI::App& app);
void add_pull(CLI::App& app);
void add_bench(CLI::App& app);
void add_tokenizer(CLI::App& app);
void add_data(CLI::App& app);
void add_info(CLI::App& app);
void add_convert(CLI::App& app);
void add_data_label(CLI::App& data);  // `label` under `data`

}  // namespace ilm::cli
