// ilm data stats | prepare | inspect (and label, in cmd_data_label.cpp)
#include <fmt/core.h>

#include <cmath>
#include <filesystem>

#include "cli/commands.h"
#include "ilm/data/inspect.h"
#include "ilm/data/prepare.h"
#include "ilm/train/progress.h"

namespace ilm::cli {
namespace {

// The flags `data stats` and `data prepare` share; each set one is applied over the config.
struct DataArgs {
  std::string config;
  std::vector<std::string> sets, inputs, labels;
  std::string tokenizer, out, format, text_field, text_unit, label_field, task, dedup, on_error;
  double val_fraction = -1;
  int64_t min_chars = -1, shard_tokens = -1, seed = -1;
  int threads = -1;
};

void add_data_flags(CLI::App* cmd, DataArgs& a, bool prepare) {
  cmd->add_option("-c,--config", a.config, "a data config (YAML; keys in docs/data.md)");
  cmd->add_option("-i,--input", a.inputs, "input files, folders or globs (quote globs)");
  cmd->add_option("-t,--tokenizer", a.tokenizer,
                  "gpt2, cl100k_base, byte, a tokenizer.json or .model, a model folder");
  cmd->add_option("-o,--out", a.out, prepare ? "output folder" : "folder for report.md and report.html (default data-report)");
  cmd->add_option("--format", a.format, "auto, text, jsonl, csv or tsv (auto: by extension)");
  cmd->add_option("--text-field", a.text_field, "JSONL key or CSV/TSV column of the text (default text)");
  cmd->add_option("--text-unit", a.text_unit, "plain text: file, paragraph or line per document");
  cmd->add_option("--label-field", a.label_field, "JSONL key or column of a label");
  cmd->add_option("--dedup", a.dedup, "exact, near, exact,near or none");
  cmd->add_option("--min-chars", a.min_chars, "drop documents shorter than this (code points)");
  cmd->add_option("--on-error", a.on_error, "bad records: skip (and report) or fail");
  cmd->add_option("--threads", a.threads, "threads; 0 uses all cores");
  if (prepare) {
    cmd->add_option("--task", a.task, "pretrain (token shards), chat or classify (example sets)");
    cmd->add_option("--labels", a.labels, "classify: label names in id order (a,b,c)")->delimiter(',');
    cmd->add_option("--val-fraction", a.val_fraction, "fraction of documents held out (default 0.005)");
    cmd->add_option("--shard-tokens", a.shard_tokens, "tokens per shard (default 100000000)");
    cmd->add_option("--seed", a.seed, "seed of the train/validation split");
  }
  cmd->add_option("--set", a.sets, "override a config key: --set clean.strip_html=true");
}

PrepareConfig data_config(const DataArgs& a, bool stats) {
  // Applied in order: the command's defaults, then the flags, then --set.
  std::vector<std::string> sets;
  if (stats) {
    // A report on the data as it is: no cleaning changes the text unless asked for.
    sets = {"clean.nfc=false", "clean.strip_control=false", "clean.normalize_whitespace=false",
            "dedup.near=true"};
  }
  auto set = [&](const char* key, const std::string& v) {
    if (!v.empty()) sets.push_back(fmt::format("{}={}", key, v));
  };
  set("format", a.format);
  set("text_unit", a.text_unit);
  set("task", a.task);
  set("on_error", a.on_error);
  if (a.min_chars >= 0) set("clean.min_chars", std::to_string(a.min_chars));
  if (a.val_fraction >= 0) set("val_fraction", fmt::format("{}", a.val_fraction));
  if (a.shard_tokens >= 0) set("shard_tokens", std::to_string(a.shard_tokens));
  if (a.seed >= 0) set("seed", std::to_string(a.seed));
  if (a.threads >= 0) set("threads", std::to_string(a.threads));
  if (!a.dedup.empty()) {
    const bool none = a.dedup == "none";
    const bool exact = a.dedup.find("exact") != std::string::npos;
    const bool near = a.dedup.find("near") != std::string::npos;
    if (!none && !exact && !near) fail("--dedup '{}': expected exact, near, exact,near or none", a.dedup);
    set("dedup.exact", exact ? "true" : "false");
    set("dedup.near", near ? "true" : "false");
  }
  sets.insert(sets.end(), a.sets.begin(), a.sets.end());
  PrepareConfig c = load_prepare_config(a.config, sets);
  // Strings are set as they are (a path may hold characters YAML would read otherwise).
  if (!a.inputs.empty()) c.inputs = a.inputs;
  if (!a.labels.empty()) c.labels = a.labels;
  if (!a.tokenizer.empty()) c.tokenizer = a.tokenizer;
  if (!a.out.empty()) c.out = a.out;
  if (!a.text_field.empty()) c.reader.text_field = a.text_field;
  if (!a.label_field.empty()) c.reader.label_field = a.label_field;
  if (stats && c.out.empty()) c.out = "data-report";
  return c;
}

PrepareProgress progress_bar(std::unique_ptr<Progress>& bar) {
  return [&bar](int64_t done, int64_t total, const PrepareResult& r) {
    const int64_t mb = (total + 999'999) / 1'000'000;
    if (!bar) bar = std::make_unique<Progress>(std::max<int64_t>(mb, 1), 0, "MB", stderr, 1);
    static auto t0 = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar->update(std::min<int64_t>(done / 1'000'000, mb),
                fmt::format("{} docs kept of {}", r.documents_kept, r.documents_in),
                s > 0 ? static_cast<double>(done) / 1e6 / s : 0.0, "MB/s");
  };
}

void print_problems(const PrepareResult& r) {
  if (r.read.problems.empty()) return;
  fmt::print("problems (skipped records):");
  for (const auto& [kind, n] : r.read.problems) fmt::print(" {} {};", kind, n);
  fmt::print("\n");
  for (const auto& p : r.read.first_problems) fmt::print("  {}\n", problem_text(p));
}

void print_stage_rates(const PrepareResult& r) {
  const double mb = static_cast<double>(r.read.bytes) / 1e6;
  std::string line;
  for (const char* stage : {"read", "clean", "dedup", "tokenize", "write"}) {
    auto it = r.stage_seconds.find(stage);
    if (it == r.stage_seconds.end() || it->second <= 0) continue;
    line += fmt::format(" {} {:.1f} MB/s;", stage, mb / it->second);
  }
  fmt::print("{:.1f} MB in {:.1f} s ({:.1f} MB/s), peak memory {} MiB; per stage:{}\n", mb, r.seconds,
             r.seconds > 0 ? mb / r.seconds : 0.0, r.peak_rss_bytes >> 20, line);
}

}  // namespace

void add_data(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "Prepare data: stats, prepare, inspect, label");
  data->require_subcommand(1);

  auto sa = std::make_shared<DataArgs>();
  CLI::App* stats = data->add_subcommand("stats", "Report on a corpus: counts, lengths, scripts, duplicates (report.md, report.html)");
  add_data_flags(stats, *sa, false);
  stats->callback([sa] {
    std::unique_ptr<Progress> bar;
    PrepareResult r = collect_data_stats(data_config(*sa, true), progress_bar(bar));
    if (bar) bar->finish();
    fmt::print("{} documents from {} files; exact duplicates {}, near duplicates counted in the report\n",
               r.documents_kept, r.read.files, r.documents_in - r.documents_kept);
    print_problems(r);
    print_stage_rates(r);
    fmt::print("report: {} and {}\n", r.report_md.string(), r.report_html.string());
  });

  auto pa = std::make_shared<DataArgs>();
  CLI::App* prep = data->add_subcommand("prepare", "Clean, deduplicate, split, tokenize and pack into shards");
  add_data_flags(prep, *pa, true);
  prep->callback([pa] {
    PrepareConfig c = data_config(*pa, false);
    std::unique_ptr<Progress> bar;
    PrepareResult r = prepare_dataset(c, progress_bar(bar));
    if (bar) bar->finish();
    if (r.already_complete) {
      fmt::print("{} is already prepared with this config; nothing to do\n", c.out.string());
      return;
    }
    fmt::print("{} documents read, {} kept\n", r.documents_in, r.documents_kept);
    fmt::print("train: {} documents, {} tokens in {} files\n", r.train.documents, r.train.tokens, r.train.files.size());
    fmt::print("val:   {} documents, {} tokens in {} files\n", r.val.documents, r.val.tokens, r.val.files.size());
    if (r.shards_reused > 0) fmt::print("resumed: {} shards kept from the interrupted run\n", r.shards_reused);
    if (c.val_fraction > 0 && r.val.documents == 0)
      fmt::print("warning: the validation split is empty; raise --val-fraction\n");
    print_problems(r);
    print_stage_rates(r);
    if (!r.report_md.empty()) fmt::print("report: {} and {}\n", r.report_md.string(), r.report_html.string());
  });

  struct InspectArgs {
    std::string path;
    InspectOptions options;
  };
  auto ia = std::make_shared<InspectArgs>();
  CLI::App* insp = data->add_subcommand("inspect", "Shard headers, token counts and decoded samples");
  insp->add_option("path", ia->path, "a prepared folder, a shard (.bin) or an example set (.examples)")->required();
  insp->add_option("--samples", ia->options.samples, "documents decoded per file (default 2)");
  insp->add_option("--tokens", ia->options.sample_tokens, "tokens shown per sample (default 64)");
  insp->add_flag("--verify", ia->options.verify, "check every file's sha256 against manifest.json");
  insp->callback([ia] { fmt::print("{}", inspect_data(ia->path, ia->options)); });

  add_data_label(*data);
}

}  // namespace ilm::cli
