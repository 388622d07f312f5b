// ilm data label: label JSONL records with keyboard shortcuts on a page served on 127.0.0.1.
#include <fmt/core.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "ilm/core/error.h"
#include "ilm/data/label_server.h"
#include "ilm/train/signals.h"

namespace ilm::cli {

namespace {

// "a, b,c" -> {"a", "b", "c"}; empty names are kept so that LabelServer can refuse them.
std::vector<std::string> split_labels(const std::string& list) {
  std::vector<std::string> names;
  if (list.find_first_not_of(' ') == std::string::npos) return names;
  size_t start = 0;
  while (true) {
    size_t comma = list.find(',', start);
    std::string name = list.substr(start, comma == std::string::npos ? comma : comma - start);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    names.push_back(name);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return names;
}

}  // namespace

void add_data_label(CLI::App& data) {
  struct Args {
    std::string input, output, labels, text_field = "text", final_path;
    int port = 0;
    bool exit_when_done = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* cmd = data.add_subcommand(
      "label", "Label JSONL records in a browser page on 127.0.0.1 (keys 1..9, s skip, u undo)");
  cmd->add_option("-i,--input", a->input, "the records to label (JSONL)")->required();
  cmd->add_option("-l,--labels", a->labels, "the label names, comma-separated (1 to 9)")
      ->required();
  cmd->add_option("-o,--out", a->output,
                  "labels are appended here (JSONL; resumes from what it holds)")
      ->required();
  cmd->add_option("--text-field", a->text_field, "the record field shown as text")
      ->capture_default_str();
  cmd->add_option("--port", a->port, "the port on 127.0.0.1 (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_flag("--exit-when-done", a->exit_when_done, "exit once every record is labeled");
  cmd->add_option(
      "--final", a->final_path,
      "on exit, also write the final labels here: one line per record, last label wins");
  cmd->callback([a] {
    LabelOptions options;
    options.input = a->input;
    options.output = a->output;
    options.labels = split_labels(a->labels);
    options.text_field = a->text_field;
    options.port = a->port;
    LabelServer server(options);
    server.start();
    for (const auto& w : server.warnings()) fmt::print(stderr, "warning: {}\n", w);
    LabelProgress p = server.progress();
    fmt::print("labeling {}: {} records, {} labeled, {} to go", a->input, p.total, p.labeled,
               p.remaining);
    if (p.problems) fmt::print(" ({} lines are not records, skipped)", p.problems);
    fmt::print("\nopen {} in a browser; Ctrl-C stops\n", server.url());
    std::fflush(stdout);

    install_stop_signals();
    while (!stop_requested() && !(a->exit_when_done && server.all_labeled()))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    server.stop();  // the label being written, if any, is written first

    p = server.progress();
    fmt::print("labeled {}, remaining {}: {}\n", p.labeled, p.remaining, a->output);
    if (!a->final_path.empty()) {
      size_t n = collapse_labels(a->output, a->final_path);
      fmt::print("wrote {} labeled records to {}\n", n, a->final_path);
    }
    exit_code = 0;
  });
}

}  // namespace ilm::cli
