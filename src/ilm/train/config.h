// RunConfig: everything a training run is made of, read from YAML with
// `--set key=value` overrides. Every option is declared once, in config.cpp,
// with its type, default and help text; unknown keys and wrong types are errors
// that name the file and key.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ilm/models/recipes.h"

namespace ilm {

struct DataConfig {
  std::string text;            // a UTF-8 text file, tokenized into the run folder
  std::string tokenizer = "char";  // for `text`: "char" (built from the text) or "byte"
  double val_fraction = 0.1;   // the last part of `text` is validation
  std::string train_shards;    // or token shards: a file, a folder or a glob
  std::string val_shards;
  std::string tokenizer_file;  // tokenizer.json that goes with the shards
};

struct TrainConfig {
  int batch_size = 12;
  int grad_accum = 1;
  int64_t max_steps = 2000;
  double lr = 1e-3;
  double min_lr = 1e-4;
  int64_t warmup_steps = 100;
  int64_t lr_decay_steps = 2000;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.1;
  double grad_clip = 1.0;
  int64_t eval_interval = 250;
  int eval_batches = 200;
  int64_t checkpoint_interval = 500;
  int keep_checkpoints = 2;
  int64_t log_interval = 10;
  int64_t seed = 1337;
  int threads = 0;  // 0: all cores
};

struct RunSection {
  std::string name = "run";
  std::string dir = "runs";
};

struct RunConfig {
  Gpt2Spec model;  // from scratch: the GPT-2 gpt2_config(model) builds
  // model.init: a Hugging Face model folder to continue training (any family ilm reads);
  // its config.json gives the architecture, and model.* other than block_size and dropout
  // do not apply.
  std::string init;
  DataConfig data;
  TrainConfig train;
  RunSection run;

  // Throws naming the key of the first impossible value.
  void validate() const;
};

// Reads `path` (may be empty: defaults only), then applies each "key=value" of `sets`.
// Errors name the file (or "--set") and the key.
RunConfig load_run_config(const std::filesystem::path& path, const std::vector<std::string>& sets);
// Applies overrides to an existing config.
void apply_overrides(RunConfig& cfg, const std::vector<std::string>& sets);
// The resolved config as YAML, every key present, with help comments.
std::string run_config_to_yaml(const RunConfig& cfg);
// Keys that differ between a and b and may not change when a run resumes
// ("train.lr: 0.001 -> 0.002"); max_steps and the logging intervals may.
std::vector<std::string> run_config_diff(const RunConfig& a, const RunConfig& b);
// Every key with its help text, for `ilm train --help-config`.
std::string run_config_help();

}  // namespace ilm
