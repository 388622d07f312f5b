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
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ilm/core/error.h"
#include "ilm/core/memory.h"
#include "ilm/core/threads.h"
#include "ilm/models/recipes.h"
#include "ilm/models/transformer.h"

using namespace ilm;

namespace {

struct Options {
  std::string folder;
  int prompt_tokens = 32, new_tokens = 64, threads = 0, runs = 3;
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
    else if (!a.empty() && a[0] == '-') fail("unknown option {}", a);
    else if (o.folder.empty()) o.folder = a;
    else fail("one folder expected, got '{}' and '{}'", o.folder, a);
  }
  ILM_CHECK(!o.folder.empty(),
            "usage: bench_generate FOLDER [--prompt-tokens 32] [--new-tokens 64] [--threads N] "
            "[--runs 3]");
  ILM_CHECK(o.prompt_tokens >= 1 && o.new_tokens >= 1 && o.runs >= 1,
            "--prompt-tokens, --new-tokens and --runs must be >= 1");
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

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    set_num_threads(o.threads);
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
