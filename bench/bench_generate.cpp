// Greedy generation speed of a Hugging Face model folder: loads it with load_hf_folder (mapped), then
// (after one untimed warm-up run) times, best of --runs, a prefill of the prompt and
// --new-tokens greedy decode steps through Transformer::forward_cached.
//   build/bench/bench_generate FOLDER [--prompt-tokens 32] [--new-tokens 64] [--threads N]
//                              [--runs 3]
// The prompt is fixed: id i = (1 + 7919 i) mod V (bench/generate_compare.py uses the same ids).
// One step picks the argmax of the current logits (lowest id on ties) and feeds it, so
// tokens_per_s = new_tokens / decode time; prefill_ms is the prompt's forward alone.
// Prints one JSON line: {folder, arch, params, threads, prompt_tokens, new_tokens, prefill_ms,
// decode_ms, tokens_per_s, new_ids}.
//
//   build/bench/bench_generate --bf16-vs-f32 [DIR] [--rounds 5] [other options as above]
// f32 against bf16 weights: writes a ~125M LLaMA (12 layers, 768, 12 heads, SwiGLU 2048, vocab
// 32000, untied; 134.1M) with random weights rounded to bf16 values, once as f32 and once as
// bf16 (the same numbers), into DIR (default $TMPDIR or /tmp; removed after), loads both mapped
// (the f32 one as views of its file, the bf16 one as bf16 views), then alternates f32, bf16
// for --rounds rounds, each the best of --runs. Prints each round's tokens/s and bf16/f32
// ratio, then one JSON line with the medians and whether both gave the same ids.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ilm/core/error.h"
#include "ilm/core/memory.h"
#include "ilm/core/threads.h"
#include "ilm/io/file.h"
#include "ilm/io/safetensors.h"
#include "ilm/models/recipes.h"
#include "ilm/models/transformer.h"

using namespace ilm;

namespace {

struct Options {
  std::string folder;
  int prompt_tokens = 32, new_tokens = 64, threads = 0, runs = 3, rounds = 5;
  bool bf16_vs_f32 = false;
};

int int_arg(int argc, char** argv, int& i) {
  ILM_CHECK(i + 1 < argc, "{} needs a value", argv[i]);
  char* end = nullptr;
  long v = std::strtol(argv[++i], &end, 10);
  ILM_CHECK(end && *end == '\0' && v >= 0 && v <= 1000000, "{} expects a count, got '{}'",
            argv[i - 1], argv[i]);
  return static_cast<int>(v);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--prompt-tokens") o.prompt_tokens = int_arg(argc, argv, i);
    else if (a == "--new-tokens") o.new_tokens = int_arg(argc, argv, i);
    else if (a == "--threads") o.threads = int_arg(argc, argv, i);
    else if (a == "--runs") o.runs = int_arg(argc, argv, i);
    else if (a == "--rounds") o.rounds = int_arg(argc, argv, i);
    else if (a == "--bf16-vs-f32") o.bf16_vs_f32 = true;
    else if (!a.empty() && a[0] == '-') fail("unknown option {}", a);
    else if (o.folder.empty()) o.folder = a;
    else fail("one folder expected, got '{}' and '{}'", o.folder, a);
  }
  if (o.bf16_vs_f32 && o.folder.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    o.folder = tmp ? tmp : "/tmp";
  }
  ILM_CHECK(!o.folder.empty(),
            "usage: bench_generate FOLDER [--prompt-tokens 32] [--new-tokens 64] [--threads N] "
            "[--runs 3]");
  ILM_CHECK(o.prompt_tokens >= 1 && o.new_tokens >= 1 && o.runs >= 1 && o.rounds >= 1,
            "--prompt-tokens, --new-tokens, --runs and --rounds must be >= 1");
  return o;
}

struct RunResult {
  double prefill_ms = 0, decode_ms = 0;
  std::vector<int32_t> new_ids;
};

int32_t argmax(const std::vector<float>& v) {
  return static_cast<int32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

RunResult run_once(const Transformer& model, const std::vector<int32_t>& prompt, int new_tokens) {
  using Clock = std::chrono::steady_clock;
  const int V = model.config().vocab_size;
  TransformerKVCache cache = model.make_cache(int(prompt.size()) + new_tokens);
  Arena scratch;
  std::vector<float> logits(static_cast<size_t>(V));
  RunResult r;
  auto t0 = Clock::now();
  model.forward_cached(cache, prompt.data(), int(prompt.size()), logits.data(), scratch);
  auto t1 = Clock::now();
  for (int i = 0; i < new_tokens; ++i) {
    int32_t next = argmax(logits);
    r.new_ids.push_back(next);
    scratch.reset();
    model.forward_cached(cache, &next, 1, logits.data(), scratch);
  }
  auto t2 = Clock::now();
  r.prefill_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  r.decode_ms = std::chrono::duration<double, std::milli>(t2 - t1).count();
  return r;
}

std::vector<int32_t> fixed_prompt(int n, int vocab) {
  std::vector<int32_t> prompt;
  for (int i = 0; i < n; ++i)
    prompt.push_back(static_cast<int32_t>((1 + int64_t(7919) * i) % vocab));
  return prompt;
}

RunResult best_of(const Transformer& model, const std::vector<int32_t>& prompt, const Options& o) {
  RunResult best;
  best.prefill_ms = best.decode_ms = 1e300;
  for (int i = 0; i < o.runs; ++i) {
    RunResult r = run_once(model, prompt, o.new_tokens);
    best.prefill_ms = std::min(best.prefill_ms, r.prefill_ms);
    best.decode_ms = std::min(best.decode_ms, r.decode_ms);
    best.new_ids = r.new_ids;
  }
  return best;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int bf16_vs_f32(const Options& o) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(o.folder) / ("ilm_bench_bf16_" + std::to_string(getpid()));
  struct Remove {
    fs::path p;
    ~Remove() { fs::remove_all(p); }
  } remove{dir};
  TransformerConfig c;
  c.arch = "llama";
  c.n_layer = 12, c.n_head = 12, c.n_kv_head = 12, c.n_embd = 768, c.intermediate = 2048;
  c.vocab_size = 32000, c.max_positions = 2048;
  c.norm = NormKind::rmsnorm, c.position = PositionKind::rope, c.mlp = MlpKind::swiglu;
  c.qkv_bias = c.attn_out_bias = c.mlp_bias = c.norm_bias = false;
  c.tie_embeddings = false;
  {
    Transformer m(c);
    m.init_weights(1);
    for (const Param& p : m.params().params()) {  // bf16 values, so both files hold the same
      float* v = p.var->value.f32();
      for (int64_t i = 0; i < p.shape.numel(); ++i) v[i] = bf16_to_f32(f32_to_bf16(v[i]));
    }
    save_hf_folder(m, nullptr, dir / "f32");
    save_hf_folder(m, nullptr, dir / "bf16", int64_t(5) << 30, DType::bf16);
  }
  HfModel f32 = load_hf_folder(dir / "f32", ParamStorage::mapped);
  HfModel bf16 = load_hf_folder(dir / "bf16", ParamStorage::mapped);
  ILM_CHECK(bf16.model->params().get("layers.0.mlp.up.weight").var->value.dtype() == DType::bf16,
            "the bf16 folder did not load as bf16 views");
  const std::vector<int32_t> prompt = fixed_prompt(o.prompt_tokens, c.vocab_size);
  run_once(*f32.model, prompt, o.new_tokens);  // warm-up both
  run_once(*bf16.model, prompt, o.new_tokens);
  std::vector<double> tf, tb, ratios, pf, pb;
  bool same_ids = true;
  for (int r = 0; r < o.rounds; ++r) {
    const RunResult a = best_of(*f32.model, prompt, o);
    const RunResult b = best_of(*bf16.model, prompt, o);
    same_ids = same_ids && a.new_ids == b.new_ids;
    tf.push_back(o.new_tokens / (a.decode_ms / 1000.0));
    tb.push_back(o.new_tokens / (b.decode_ms / 1000.0));
    ratios.push_back(tb.back() / tf.back());
    pf.push_back(a.prefill_ms);
    pb.push_back(b.prefill_ms);
    std::printf(
        "round %d: f32 %.1f tok/s  bf16 %.1f tok/s  bf16/f32 %.2fx  prefill %.0f / %.0f ms\n", r + 1,
        tf.back(), tb.back(), ratios.back(), a.prefill_ms, b.prefill_ms);
  }
  nlohmann::json out = {
      {"arch", c.arch},
      {"params", c.num_params()},
      {"threads", num_threads()},
      {"prompt_tokens", o.prompt_tokens},
      {"new_tokens", o.new_tokens},
      {"rounds", o.rounds},
      {"f32_tokens_per_s", median(tf)},
      {"bf16_tokens_per_s", median(tb)},
      {"ratio_per_round", ratios},
      {"ratio_median", median(ratios)},
      {"f32_prefill_ms", median(pf)},
      {"bf16_prefill_ms", median(pb)},
      {"same_ids", same_ids},
  };
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    set_num_threads(o.threads);
    if (o.bf16_vs_f32) return bf16_vs_f32(o);
    HfModel hf = load_hf_folder(o.folder, ParamStorage::mapped);  // as ilm generate loads it
    const Transformer& model = *hf.model;
    const TransformerConfig& c = model.config();
    std::vector<int32_t> prompt;
    for (int i = 0; i < o.prompt_tokens; ++i)
      prompt.push_back(static_cast<int32_t>((1 + int64_t(7919) * i) % c.vocab_size));

    run_once(model, prompt, o.new_tokens);  // warm-up: page in the weights, grow the arena
    RunResult best;
    best.prefill_ms = best.decode_ms = 1e300;
    for (int i = 0; i < o.runs; ++i) {
      RunResult r = run_once(model, prompt, o.new_tokens);
      best.prefill_ms = std::min(best.prefill_ms, r.prefill_ms);
      best.decode_ms = std::min(best.decode_ms, r.decode_ms);
      best.new_ids = r.new_ids;
    }
    nlohmann::json out = {
        {"folder", o.folder},
        {"arch", c.arch},
        {"params", c.num_params()},
        {"threads", num_threads()},
        {"prompt_tokens", o.prompt_tokens},
        {"new_tokens", o.new_tokens},
        {"prefill_ms", best.prefill_ms},
        {"decode_ms", best.decode_ms},
        {"tokens_per_s", o.new_tokens / (best.decode_ms / 1000.0)},
        {"new_ids", best.new_ids},
    };
    std::printf("%s\n", out.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_generate: %s\n", e.what());
    return 1;
  }
}
