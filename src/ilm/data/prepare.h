// prepare_dataset: raw files -> cleaned, deduplicated, split, tokenized data, as one
// streaming pipeline (docs/data.md):
//
//   read -> clean -> dedup (exact, near) -> split (seeded, by document) -> tokenize -> pack
//
// Pretraining data is packed into llm.c-format token shards (train_000000.bin, ...) with
// the separator token before each document; chat and classification data become example
// sets (train.examples, val.examples). Beside them: tokenizer.json, manifest.json (counts,
// shards, sha256) and the report (report.md, report.html). A killed run resumes: finished
// shards are kept and their documents are not tokenized again. `collect_data_stats` runs
// the same stages without writing shards, for `ilm data stats`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ilm/data/clean.h"
#include "ilm/data/dedup.h"
#include "ilm/data/reader.h"
#include "ilm/data/supervised.h"

namespace ilm {

enum class DataTask { pretrain, chat, classify };

struct DedupConfig {
  bool exact = true;
  bool near = false;
  MinHashConfig minhash;
};

struct PrepareConfig {
  std::vector<std::string> inputs;  // files, folders, globs
  ReaderOptions reader;
  CleanConfig clean;
  DedupConfig dedup;
  std::string tokenizer;            // what resolve_tokenizer takes; "" = none (stats only)
  DataTask task = DataTask::pretrain;
  std::string separator;            // pretrain: token spelling put before each document; "" = end-of-text
  double val_fraction = 0.005;
  uint64_t seed = 1337;
  int64_t shard_tokens = 100'000'000;
  int threads = 0;                  // 0: all cores
  int64_t batch_bytes = 8 << 20;    // text read before each parallel step
  std::filesystem::path out;
  bool report = true;               // write report.md and report.html into `out`
  ChatExampleOptions chat;
  std::vector<std::string> labels;  // classify: label names in id order
  ClassificationOptions classify;

  // Throws naming the key of the first impossible value.
  void validate() const;
};

// Reads a data config (YAML; keys in docs/data.md) and applies "key=value" overrides
// (from flags or --set). `path` may be empty: defaults and overrides only. Unknown keys
// and wrong types are errors that name the file and key.
PrepareConfig load_prepare_config(const std::filesystem::path& path,
                                  const std::vector<std::string>& overrides);
// The resolved config as JSON (kept in manifest.json; a resumed run must match it).
nlohmann::json prepare_config_to_json(const PrepareConfig& config);

struct SplitResult {
  int64_t documents = 0, tokens = 0;
  std::vector<std::filesystem::path> files;  // shards or the example set
};

struct PrepareResult {
  ReadStats read;
  int64_t documents_in = 0, documents_kept = 0;
  SplitResult train, val;
  int64_t shards_reused = 0;        // finished by an earlier, interrupted run
  bool already_complete = false;    // the output was complete already: nothing done
  // Wall seconds spent in each stage ("read", "clean", "dedup", "tokenize", "write"), for bench/.
  std::map<std::string, double> stage_seconds;
  double seconds = 0;
  int64_t peak_rss_bytes = 0;
  std::filesystem::path report_md, report_html;
};

// Called every batch with the bytes read so far and the total; for progress bars.
using PrepareProgress = std::function<void(int64_t bytes_done, int64_t bytes_total,
                                           const PrepareResult& so_far)>;

// Runs the pipeline into config.out. When config.out holds a complete output of the same
// config, returns already_complete; of a different config, throws listing the keys that
// differ (remove the folder or choose another); an interrupted one is resumed.
PrepareResult prepare_dataset(const PrepareConfig& config, const PrepareProgress& progress = {});

// The same stages without tokenizing unless config.tokenizer is set, and without shards:
// writes report.md and report.html into config.out. Dedup here counts duplicates.
PrepareResult collect_data_stats(const PrepareConfig& config, const PrepareProgress& progress = {});

// Peak resident memory of this process so far (getrusage), for reports and bench/.
int64_t peak_rss_bytes();

}  // namespace ilm
