#include "ilm/train/trainer.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <fstream>

#include "ilm/core/threads.h"
#include "ilm/data/loader.h"
#include "ilm/data/text_dataset.h"
#include "ilm/io/file.h"
#include "ilm/models/recipes.h"
#include "ilm/tokenizer/registry.h"
#include "ilm/tokenizer/tokenizer.h"
#include "ilm/train/checkpoint.h"
#include "ilm/train/progress.h"
#include "ilm/train/signals.h"
#include "ilm/train/train_model.h"

namespace fs = std::filesystem;

namespace ilm {

namespace {

using Clock = std::chrono::steady_clock;

struct Data {
  std::unique_ptr<TokenLoader> train, val;
};

Data open_data(const RunConfig& cfg, const fs::path& run_dir, uint64_t seed) {
  Data d;
  const int B = cfg.train.batch_size, T = cfg.model.block_size;
  std::vector<fs::path> train_paths, val_paths;
  if (!cfg.data.text.empty()) {
    train_paths = {run_dir / "data" / "train.bin"};
    if (cfg.data.val_fraction > 0) val_paths = {run_dir / "data" / "val.bin"};
  } else {
    train_paths = expand_shard_paths(cfg.data.train_shards);
    if (!cfg.data.val_shards.empty()) val_paths = expand_shard_paths(cfg.data.val_shards);
  }
  try {
    d.train = std::make_unique<TokenLoader>(train_paths, B, T, seed);
  } catch (const Error& e) {
    throw e.with_context("training data");
  }
  if (!val_paths.empty()) {
    try {
      d.val = std::make_unique<TokenLoader>(val_paths, B, T, seed ^ 0x5EEDull);
    } catch (const Error& e) {
      throw e.with_context("validation data");
    }
  }
  return d;
}

// Mean loss over `batches` batches from the loader's start, so every evaluation
// sees the same batches and losses compare across steps; the loader's position
// is restored afterwards.
double validation_loss(TrainModel& model, Tape& tape, TokenLoader& loader, int batches) {
  const int B = loader.B(), T = loader.T();
  LoaderState saved = loader.state();
  loader.set_state({saved.seed, 0});
  Tensor x = Tensor::zeros({B, T}, DType::i32), y = Tensor::zeros({B, T}, DType::i32);
  NoGrad ng(tape);
  Rng unused(0);
  double sum = 0.0;
  for (int i = 0; i < batches; ++i) {
    loader.next_batch(x.data<int32_t>(), y.data<int32_t>());
    tape.clear();
    sum += cross_entropy(tape, model.forward(tape, x, false, unused), y)->value.f32()[0];
  }
  tape.clear();
  loader.set_state(saved);
  return sum / batches;
}

class Run {
 public:
  Run(RunConfig cfg, fs::path dir) : cfg_(std::move(cfg)), dir_(std::move(dir)) {}

  TrainResult go(bool resume);

 private:
  void append_metrics(const nlohmann::json& j);
  void truncate_metrics_after(int64_t step);

  RunConfig cfg_;
  fs::path dir_;
  std::unique_ptr<std::ofstream> metrics_;
};

void Run::append_metrics(const nlohmann::json& j) {
  if (!metrics_) metrics_ = std::make_unique<std::ofstream>(dir_ / "metrics.jsonl", std::ios::app);
  // One write per line, flushed: a kill leaves at most one partial last line, which
  // resume drops.
  *metrics_ << j.dump() + "\n" << std::flush;
}

void Run::truncate_metrics_after(int64_t step) {
  fs::path p = dir_ / "metrics.jsonl";
  if (!fs::exists(p)) return;
  std::string text = read_file(p), kept;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) break;  // a partial last line
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    try {
      auto j = nlohmann::json::parse(line);
      if (j.value("step", int64_t(0)) <= step) kept += line + "\n";
    } catch (...) {
    }
  }
  write_file_atomic(p, kept);
}

TrainResult Run::go(bool resume) {
  const TrainConfig& t = cfg_.train;
  set_num_threads(t.threads);
  const int threads = num_threads();

  std::unique_ptr<Tokenizer> tok;
  fs::path tok_path = dir_ / "tokenizer.json";
  if (!resume) {
    fs::create_directories(dir_);
    if (!cfg_.data.text.empty()) {
      prepare_text_dataset(cfg_.data.text, cfg_.data.tokenizer, cfg_.data.val_fraction, dir_ / "data");
      fs::copy_file(dir_ / "data" / "tokenizer.json", tok_path, fs::copy_options::overwrite_existing);
    } else if (!cfg_.data.tokenizer_file.empty()) {
      write_file_atomic(tok_path, read_file(cfg_.data.tokenizer_file));
    }
  }
  // A model to continue from: its folder may bring the tokenizer too.
  std::unique_ptr<TrainModel> model;
  if (!cfg_.init.empty()) {
    const fs::path from = resume ? latest_checkpoint(dir_) : fs::path(cfg_.init);
    ILM_CHECK(!from.empty(), "{}: no checkpoint to resume from", dir_.string());
    model = load_transformer_train_model(from, cfg_.model.dropout, !resume);
    if (!resume && !fs::exists(tok_path)) {
      try {
        save_tokenizer(*resolve_tokenizer(cfg_.init), tok_path);
      } catch (const Error&) {
        // a folder of weights only: the data's tokenizer (data.tokenizer_file) must do
      }
    }
    cfg_.model.vocab_size = model->vocab_size();  // the folder's, whatever model.* says
    const TransformerConfig& tc = as_transformer(*model).config();
    if (tc.position == PositionKind::learned && cfg_.model.block_size > tc.max_positions)
      fail("model.block_size {} exceeds the {} positions of {}", cfg_.model.block_size, tc.max_positions,
           cfg_.init);
  }
  if (fs::exists(tok_path)) tok = load_tokenizer(tok_path);
  if (cfg_.model.vocab_size == 0) {
    ILM_CHECK(tok, "model.vocab_size is 0 (take the tokenizer's) but there is no tokenizer: set "
                   "data.tokenizer_file or model.vocab_size");
    cfg_.model.vocab_size = tok->vocab_size();
  } else if (tok) {
    ILM_CHECK(cfg_.model.vocab_size >= tok->vocab_size(),
              "model.vocab_size {} is smaller than the tokenizer's {}", cfg_.model.vocab_size,
              tok->vocab_size());
  }
  if (!resume) write_file_atomic(dir_ / "config.yaml", run_config_to_yaml(cfg_));

  if (!model) model = make_transformer_train_model(gpt2_config(cfg_.model));
  AdamW opt(model->params(), {t.beta1, t.beta2, t.eps, t.weight_decay});
  TrainState state;
  state.data_rng = Rng(uint64_t(t.seed));
  state.dropout_rng = Rng(uint64_t(t.seed) ^ 0xD50Bull);
  state.threads = threads;
  if (resume) {
    fs::path ckpt = latest_checkpoint(dir_);
    ILM_CHECK(!ckpt.empty(), "{}: no checkpoint to resume from", dir_.string());
    load_checkpoint(ckpt, *model, &opt, &state);
    if (state.threads != threads)
      fmt::print(stderr, "warning: the run used {} threads and now runs on {}: losses will differ "
                         "from an uninterrupted run in the last bits\n", state.threads, threads);
    truncate_metrics_after(state.step);
  } else if (cfg_.init.empty()) {
    model->init_weights(uint64_t(t.seed));
  }

  Data data = open_data(cfg_, dir_, uint64_t(t.seed));
  if (data.train->vocab_size() > cfg_.model.vocab_size)
    fail("training data declares vocab size {}, larger than model.vocab_size {}",
         data.train->vocab_size(), cfg_.model.vocab_size);
  data.train->set_state({state.data_rng.seed, state.data_rng.counter});

  const int B = t.batch_size, T = cfg_.model.block_size;
  Tensor x = Tensor::zeros({B, T}, DType::i32), y = Tensor::zeros({B, T}, DType::i32);
  Tape tape;
  TrainResult res;
  res.run_dir = dir_;
  res.step = state.step;

  fmt::print(stderr, "run {}: {} parameters, {} training tokens, {} threads{}\n", dir_.string(),
             model->num_params(), data.train->total_tokens(), threads,
             resume ? fmt::format(", resuming at step {}", state.step) : "");
  Progress progress(t.max_steps, state.step, "step", stderr, t.log_interval);
  const double tokens_per_step = double(B) * T * t.grad_accum;
  auto checkpoint = [&] {
    auto ls = data.train->state();
    state.data_rng = Rng(ls.seed);
    state.data_rng.counter = ls.counter;
    save_checkpoint(dir_, *model, opt, state, t.keep_checkpoints);
  };
  auto evaluate = [&] {
    if (!data.val) return;
    double v = validation_loss(*model, tape, *data.val, t.eval_batches);
    res.val_loss = v;
    append_metrics({{"step", state.step}, {"val_loss", v}});
    progress.message(fmt::format("step {}: val loss {:.4f}", state.step, v));
  };

  if (!resume && state.step == 0) evaluate();
  double ema_rate = 0.0;
  while (state.step < t.max_steps) {
    auto t0 = Clock::now();
    double lr = learning_rate_at(state.step, t);
    model->params().zero_grad();
    double loss_sum = 0.0;
    for (int micro = 0; micro < t.grad_accum; ++micro) {
      data.train->next_batch(x.data<int32_t>(), y.data<int32_t>());
      tape.clear();
      Var logits = model->forward(tape, x, true, state.dropout_rng);
      Var loss = cross_entropy(tape, logits, y, -1, /*logits_are_private=*/true);
      loss_sum += loss->value.f32()[0];
      tape.backward(loss, 1.0f / float(t.grad_accum));
    }
    tape.clear();
    double norm = grad_global_norm(model->params());
    if (!std::isfinite(norm))
      fail("step {}: the gradient norm is {} (loss {}): training diverged; lower train.lr", state.step + 1,
           norm, loss_sum / t.grad_accum);
    opt.step(lr, clip_factor(norm, t.grad_clip));
    ++state.step;
    state.tokens_seen += int64_t(tokens_per_step);
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    double rate = tokens_per_step / (ms / 1000.0);
    ema_rate = ema_rate == 0.0 ? rate : 0.9 * ema_rate + 0.1 * rate;
    res.last_loss = loss_sum / t.grad_accum;
    res.tokens_per_s = ema_rate;
    append_metrics({{"step", state.step}, {"loss", res.last_loss}, {"lr", lr}, {"grad_norm", norm},
                    {"ms", ms}, {"tokens_per_s", rate}});
    progress.update(state.step, fmt::format("loss {:.4f} | lr {:.2e}", res.last_loss, lr), ema_rate,
                    "tok/s");
    bool last = state.step == t.max_steps;
    if (state.step % t.eval_interval == 0 || last) evaluate();
    if (stop_requested()) {
      checkpoint();
      progress.message(fmt::format("stopped by signal {} at step {}; checkpoint saved: resume with "
                                   "`ilm train --resume {}`", stop_signal(), state.step, dir_.string()));
      res.interrupted = true;
      break;
    }
    if (state.step % t.checkpoint_interval == 0 || last) checkpoint();
  }
  if (state.step == 0 || latest_checkpoint(dir_).empty()) checkpoint();
  progress.finish();
  res.step = state.step;
  return res;
}

}  // namespace

TrainResult train_new(const RunConfig& cfg) {
  cfg.validate();
  fs::path dir = fs::path(cfg.run.dir) / cfg.run.name;
  if (fs::exists(dir / "config.yaml") || fs::exists(dir / "checkpoints"))
    fail("{} already holds a run: resume it with `ilm train --resume {}` or set run.name to another name",
         dir.string(), dir.string());
  bool existed = fs::exists(dir), parent_existed = fs::exists(dir.parent_path());
  try {
    return Run(cfg, dir).go(false);
  } catch (...) {
    // A run that failed before its first checkpoint (bad data, bad sizes) leaves
    // nothing behind, so the same command works once the input is fixed.
    if (!existed && latest_checkpoint(dir).empty()) {
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (!parent_existed) fs::remove(dir.parent_path(), ec);  // only if empty
    }
    throw;
  }
}

TrainResult train_resume(const fs::path& run_dir, const std::vector<std::string>& sets) {
  fs::path cfg_path = run_dir / "config.yaml";
  ILM_CHECK(fs::exists(cfg_path), "{}: not a run folder (no config.yaml)", run_dir.string());
  RunConfig saved = load_run_config(cfg_path, {});
  RunConfig wanted = saved;
  apply_overrides(wanted, sets);
  wanted.validate();
  auto diff = run_config_diff(saved, wanted);
  if (!diff.empty()) {
    std::string list;
    for (auto& d : diff) list += "\n  " + d;
    fail("{}: cannot resume into a changed config; these keys differ from the run's:{}\nonly "
         "train.max_steps and the interval settings may change on resume",
         cfg_path.string(), list);
  }
  if (!sets.empty()) write_file_atomic(cfg_path, run_config_to_yaml(wanted));
  return Run(wanted, run_dir).go(true);
}

double evaluate_run(const fs::path& run_dir, int batches) {
  RunConfig cfg = load_run_config(run_dir / "config.yaml", {});
  set_num_threads(cfg.train.threads);
  fs::path ckpt = latest_checkpoint(run_dir);
  ILM_CHECK(!ckpt.empty(), "{}: no checkpoint", run_dir.string());
  std::unique_ptr<TrainModel> model = cfg.init.empty()
                                          ? make_transformer_train_model(gpt2_config(cfg.model))
                                          : load_transformer_train_model(ckpt, 0.0f, false);
  load_checkpoint(ckpt, *model, nullptr, nullptr);
  Data data = open_data(cfg, run_dir, uint64_t(cfg.train.seed));
  ILM_CHECK(data.val != nullptr, "{}: the run has no validation data", run_dir.string());
  Tape tape;
  return validation_loss(*model, tape, *data.val, batches);
}

}  // namespace ilm
