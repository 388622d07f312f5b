// Training a model (a GPT-2 from scratch, or a Hugging Face model to continue) from a RunConfig
// into a run folder:
//
//   runs/NAME/config.yaml      the config as resolved (every key)
//   runs/NAME/tokenizer.json   the tokenizer the data was made with
//   runs/NAME/data/            train.bin and val.bin when the config names a text file
//   runs/NAME/metrics.jsonl    one JSON object per step and per evaluation
//   runs/NAME/checkpoints/     see checkpoint.h
//
// On CPU, a resumed run continues the loss sequence of an uninterrupted one bit for
// bit at the same thread count.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ilm/train/config.h"

namespace ilm {

struct TrainResult {
  std::filesystem::path run_dir;
  int64_t step = 0;               // optimizer steps done
  double last_loss = 0.0;         // training loss of the last step
  std::optional<double> val_loss; // the last validation loss
  bool interrupted = false;       // stopped by SIGINT/SIGTERM after checkpointing
  double tokens_per_s = 0.0;
};

// A new run: fails when runs/NAME already holds a run (resume it or pick another name).
TrainResult train_new(const RunConfig& cfg);
// Continues runs/NAME from its latest checkpoint. `sets` may change only max_steps and
// the logging/eval/checkpoint intervals; other differences are errors listing the keys.
TrainResult train_resume(const std::filesystem::path& run_dir, const std::vector<std::string>& sets);

// The validation loss of a run's latest checkpoint (mean over `batches` batches).
double evaluate_run(const std::filesystem::path& run_dir, int batches);

}  // namespace ilm
