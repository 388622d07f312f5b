// ilm bench train --preset gpt2-124m --batch 4 --seq 256
#include <fmt/core.h>

#include "cli/commands.h"
#include "ilm/train/bench.h"

namespace ilm::cli {

void add_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto json = std::make_shared<bool>(false);
  CLI::App* bench = app.add_subcommand("bench", "Measure speed");
  bench->require_subcommand(1);
  CLI::App* cmd = bench->add_subcommand("train", "Time training steps of a preset model on random tokens");
  cmd->add_option("--preset", o->preset, "gpt2-124m or shakespeare-char")->capture_default_str();
  cmd->add_option("-b,--batch", o->batch, "batch size B")->capture_default_str();
  cmd->add_option("-s,--seq", o->seq, "sequence length T")->capture_default_str();
  cmd->add_option("--steps", o->steps, "timed steps")->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "untimed steps first")->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0 = all)");
  cmd->add_flag("--json", *json, "print one JSON line");
  cmd->callback([o, json] {
    BenchResult r = bench_train(*o);
    if (*json) {
      fmt::print(
          "{{\"preset\": \"{}\", \"batch\": {}, \"seq\": {}, \"ms_per_step\": {:.1f}, \"tokens_per_s\": "
          "{:.1f}, \"gflops\": {:.1f}, \"sgemm_peak_gflops\": {:.1f}, \"peak_fraction\": {:.3f}, "
          "\"peak_rss_mib\": {:.0f}, \"forward_backward_ms\": {:.1f}, \"optimizer_ms\": {:.1f}}}\n",
          o->preset, o->batch, o->seq, r.ms_per_step, r.tokens_per_s, r.gflops, r.sgemm_peak_gflops,
          r.peak_fraction, r.peak_rss_mib, r.forward_backward_ms, r.optimizer_ms);
      return;
    }
    fmt::print("preset {} ({} parameters), B={} T={}\n", o->preset, r.model.num_params(), o->batch, o->seq);
    fmt::print("  {:.1f} ms/step (forward+backward {:.1f} ms, optimizer {:.1f} ms)\n", r.ms_per_step,
               r.forward_backward_ms, r.optimizer_ms);
    fmt::print("  {:.0f} tokens/s, {:.1f} GFLOP/s = {:.0f}% of measured sgemm peak {:.1f} GFLOP/s\n",
               r.tokens_per_s, r.gflops, 100.0 * r.peak_fraction, r.sgemm_peak_gflops);
    fmt::print("  peak RSS {:.0f} MiB\n", r.peak_rss_mib);
  });
}

}  // namespace ilm::cli
