#include "ilm/train/bench.h"

#include <sys/resource.h>

#include <chrono>
#include <vector>

#include "ilm/core/threads.h"
#include "ilm/kernels/cpu/kernels.h"
#include "ilm/train/optim.h"

namespace ilm {

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}
}  // namespace

Gpt2Spec preset_config(const std::string& name) {
  Gpt2Spec c;
  if (name == "gpt2-124m") {
    c.n_layer = 12, c.n_head = 12, c.n_embd = 768, c.block_size = 1024, c.vocab_size = 50257;
    c.bias = true;
  } else if (name == "shakespeare-char") {
    c.n_layer = 4, c.n_head = 4, c.n_embd = 128, c.block_size = 64, c.vocab_size = 65;
    c.bias = false;
  } else {
    fail("unknown preset '{}' (presets: gpt2-124m, shakespeare-char)", name);
  }
  return c;
}

double measure_sgemm_gflops(int n, int repeats) {
  std::vector<float> a(size_t(n) * n, 0.5f), b(size_t(n) * n, 0.25f), c(size_t(n) * n);
  cpu::sgemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);  // warm up
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    auto t = Clock::now();
    cpu::sgemm(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    best = std::min(best, ms_since(t));
  }
  return 2.0 * double(n) * n * n / (best * 1e6);
}

BenchResult bench_train(const BenchOptions& o) {
  ILM_CHECK(o.batch >= 1 && o.seq >= 1 && o.steps >= 1 && o.warmup >= 0,
            "bench: batch, seq and steps must be >= 1 and warmup >= 0");
  set_num_threads(o.threads);
  BenchResult r;
  r.model = gpt2_config(preset_config(o.preset));
  ILM_CHECK(o.seq <= r.model.max_positions, "bench: --seq {} exceeds the preset's block size {}",
            o.seq, r.model.max_positions);
  r.sgemm_peak_gflops = measure_sgemm_gflops();

  Transformer model(r.model);
  model.init_weights(1);
  AdamW opt(model.params(), {0.9, 0.95, 1e-8, 0.1});
  Tape tape;
  Rng rng(7), drop(8);
  Tensor x = Tensor::zeros({o.batch, o.seq}, DType::i32), y = Tensor::zeros({o.batch, o.seq}, DType::i32);
  double fb = 0, op = 0, total = 0;
  for (int s = 0; s < o.warmup + o.steps; ++s) {
    for (int64_t i = 0; i < x.numel(); ++i) {
      x.data<int32_t>()[i] = int32_t(rng.below(uint64_t(r.model.vocab_size)));
      y.data<int32_t>()[i] = int32_t(rng.below(uint64_t(r.model.vocab_size)));
    }
    auto t0 = Clock::now();
    model.params().zero_grad();
    tape.clear();
    Var loss = cross_entropy(tape, model.forward(tape, x, true, drop), y, -1, true);
    tape.backward(loss);
    double t_fb = ms_since(t0);
    auto t1 = Clock::now();
    opt.step(6e-4, clip_factor(grad_global_norm(model.params()), 1.0));
    double t_op = ms_since(t1);
    if (s >= o.warmup) {
      fb += t_fb, op += t_op, total += ms_since(t0);
    }
  }
  r.ms_per_step = total / o.steps;
  r.forward_backward_ms = fb / o.steps;
  r.optimizer_ms = op / o.steps;
  double tokens = double(o.batch) * o.seq;
  r.tokens_per_s = tokens / (r.ms_per_step / 1000.0);
  r.gflops = r.model.flops_per_token(o.seq) * tokens / (r.ms_per_step * 1e6);
  r.peak_fraction = r.gflops / r.sgemm_peak_gflops;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  r.peak_rss_mib = double(ru.ru_maxrss) / 1024.0;
  return r;
}

}  // namespace ilm
