#include "ilm/infer/generate.h"

#include <chrono>
#include <vector>

#include "ilm/tokenizer/stream_decoder.h"
#include "ilm/train/checkpoint.h"
#include "ilm/train/config.h"

namespace fs = std::filesystem;

namespace ilm {

LoadedModel load_model(const fs::path& path) {
  ILM_CHECK(fs::exists(path), "{}: no such run, checkpoint or model folder", path.string());
  fs::path weights, root = path;
  if (fs::exists(path / "model.safetensors")) {
    weights = path / "model.safetensors";
    // A checkpoint folder: the run folder is two levels up.
    if (!fs::exists(path / "config.yaml") && path.parent_path().filename() == "checkpoints")
      root = path.parent_path().parent_path();
  } else {
    fs::path ckpt = latest_checkpoint(path);
    ILM_CHECK(!ckpt.empty(), "{}: has no checkpoint and no model.safetensors", path.string());
    weights = ckpt / "model.safetensors";
  }
  ILM_CHECK(fs::exists(root / "config.yaml"), "{}: no config.yaml beside the weights", root.string());
  RunConfig cfg = load_run_config(root / "config.yaml", {});
  LoadedModel m;
  ILM_CHECK(fs::exists(root / "tokenizer.json"), "{}: no tokenizer.json", root.string());
  m.tokenizer = load_tokenizer(root / "tokenizer.json");
  if (cfg.model.vocab_size == 0) cfg.model.vocab_size = m.tokenizer->vocab_size();
  m.model = std::make_unique<GPT>(cfg.model);
  load_gpt2_safetensors(weights, *m.model);
  m.weights = weights;
  return m;
}

GenerateStats generate(GPT& model, const Tokenizer& tok, std::string_view prompt,
                       const GenerateOptions& opt, const std::function<void(std::string_view)>& on_text) {
  validate(opt.sampling);
  ILM_CHECK(opt.max_tokens >= 0, "max tokens must be >= 0, got {}", opt.max_tokens);
  using Clock = std::chrono::steady_clock;
  const int V = model.config().vocab_size, block = model.config().block_size;
  std::vector<int32_t> ids = tok.encode(prompt);
  if (ids.empty()) {
    // Nothing to condition on: start from end-of-text as GPT-2 does, or a newline.
    if (auto eot = tok.eot_id()) {
      ids.push_back(*eot);
    } else {
      auto nl = tok.encode("\n");
      ILM_CHECK(!nl.empty(), "the prompt is empty and the tokenizer cannot encode a newline");
      ids.push_back(nl[0]);
    }
  }
  for (int32_t id : ids)
    ILM_CHECK(id < V, "prompt token {} is outside the model's vocabulary of {}", id, V);
  GenerateStats st;
  st.prompt_tokens = int(ids.size());
  KVCache cache = model.make_cache();
  Arena scratch;
  std::vector<float> logits(static_cast<size_t>(V));
  Rng rng(opt.seed);
  StreamDecoder decoder(tok);

  auto feed = [&](const int32_t* p, int n) {
    scratch.reset();
    model.forward_cached(cache, p, n, logits.data(), scratch);
  };
  auto t0 = Clock::now();
  {
    int n = int(ids.size()), start = n > block ? n - block : 0;
    feed(ids.data() + start, n - start);
  }
  st.prefill_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  auto t1 = Clock::now();
  for (int i = 0; i < opt.max_tokens; ++i) {
    int32_t next = sample_token(logits.data(), V, opt.sampling, rng);
    ++st.generated_tokens;
    if (opt.stop_at_eot && tok.eot_id() && next == *tok.eot_id()) break;
    ids.push_back(next);
    std::string piece = decoder.push(next);
    if (!piece.empty()) on_text(piece);
    if (i + 1 == opt.max_tokens) break;
    if (cache.length >= block) {  // full: keep the latest half of the context
      cache.length = 0;
      int keep = block / 2;
      feed(ids.data() + ids.size() - size_t(keep), keep);
    } else {
      feed(&next, 1);
    }
  }
  std::string rest = decoder.flush();
  if (!rest.empty()) on_text(rest);
  st.decode_ms = std::chrono::duration<double, std::milli>(Clock::now() - t1).count();
  return st;
}

}  // namespace ilm
