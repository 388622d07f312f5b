// Measuring training speed: ms per step, tokens/s, achieved GFLOP/s, and the
// fraction of this machine's sgemm peak, measured in the same invocation.
#pragma once

#include <string>

#include "ilm/models/recipes.h"
#include "ilm/models/transformer.h"

namespace ilm {

struct BenchOptions {
  std::string preset = "gpt2-124m";  // gpt2-124m | shakespeare-char
  int batch = 4;
  int seq = 256;
  int steps = 5;
  int warmup = 1;
  int threads = 0;
};

struct BenchResult {
  TransformerConfig model;  // gpt2_config of the preset
  double ms_per_step = 0, tokens_per_s = 0, gflops = 0;
  double sgemm_peak_gflops = 0;
  double peak_fraction = 0;
  double peak_rss_mib = 0;
  double forward_backward_ms = 0, optimizer_ms = 0;
};

// The model shape a preset names; throws listing the presets on an unknown name.
Gpt2Spec preset_config(const std::string& name);
// GFLOP/s of a large square sgemm (n x n x n, best of several) on the current threads.
double measure_sgemm_gflops(int n = 2048, int repeats = 5);
BenchResult bench_train(const BenchOptions& opt);

}  // namespace ilm
