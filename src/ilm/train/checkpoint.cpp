#include "ilm/train/checkpoint.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>

#include "ilm/io/file.h"
#include "ilm/io/expect_tensors.h"
#include "ilm/io/safetensors.h"
#include "ilm/io/safetensors_index.h"

namespace fs = std::filesystem;

namespace ilm {

namespace {

Shape hf_shape(const Param& p) {
  if (gpt2_is_conv1d_weight(p.name)) return Shape({p.shape[1], p.shape[0]});
  return p.shape;
}

// (R,C) -> (C,R)
void transpose(float* dst, const float* src, int64_t R, int64_t C) {
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c)
    for (int64_t r = 0; r < R; ++r) dst[c * R + r] = src[r * C + c];
}

std::string step_dir_name(int64_t step) { return fmt::format("step_{:08d}", step); }

}  // namespace

void save_gpt2_safetensors(const fs::path& file, const GPT& model) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (const Param& p : model.params().params()) {
    if (gpt2_is_conv1d_weight(p.name)) {
      Tensor t = Tensor::zeros(hf_shape(p));
      transpose(t.f32(), p.var->value.f32(), p.shape[0], p.shape[1]);
      tensors.emplace_back(p.name, t);
    } else {
      tensors.emplace_back(p.name, p.var->value);
    }
  }
  const GPTConfig& c = model.config();
  save_safetensors(file, tensors,
                   {{"format", "pt"},
                    {"ilm.architecture", "gpt2"},
                    {"n_layer", std::to_string(c.n_layer)},
                    {"n_head", std::to_string(c.n_head)},
                    {"n_embd", std::to_string(c.n_embd)},
                    {"block_size", std::to_string(c.block_size)},
                    {"vocab_size", std::to_string(c.vocab_size)},
                    {"bias", c.bias ? "true" : "false"},
                    {"activation", c.activation}});
}

void load_gpt2_safetensors(const fs::path& file, GPT& model) {
  SafetensorsIndex st = SafetensorsIndex::open(file);
  std::string prefix;
  // Hugging Face's GPT2LMHeadModel names its weights "transformer.<ilm name>".
  if (!st.has("wte.weight"))
    for (const std::string& n : st.names())
      if (n.rfind("transformer.", 0) == 0) prefix = "transformer.";
  std::vector<ExpectedTensor> expected;
  for (const Param& p : model.params().params())
    expected.push_back({prefix + p.name, hf_shape(p), DType::f32});
  // GPT-2's causal-mask buffers, and the LM head tied to wte.
  ExpectOptions options;
  options.ignore = {"*attn.bias", "*attn.masked_bias", "lm_head.weight"};
  std::map<std::string, Tensor> loaded;
  try {
    loaded = load_expected(st, expected, options);
  } catch (const Error& e) {
    fail("{} (the model: n_layer={}, bias={})", e.what(), model.config().n_layer,
         model.config().bias);
  }
  for (Param& p : model.params().params()) {
    const Tensor& t = loaded.at(prefix + p.name);
    if (gpt2_is_conv1d_weight(p.name)) {
      Shape want = hf_shape(p);
      transpose(p.var->value.f32(), t.f32(), want[0], want[1]);
    } else {
      std::memcpy(p.var->value.f32(), t.f32(), t.nbytes());
    }
  }
}

void save_checkpoint(const fs::path& run_dir, GPT& model, const AdamW& opt, const TrainState& state,
                     int keep) {
  save_checkpoint(run_dir, *train_model_of(model), opt, state, keep);
}

void load_checkpoint(const fs::path& dir, GPT& model, AdamW* opt, TrainState* state) {
  load_checkpoint(dir, *train_model_of(model), opt, state);
}

void save_checkpoint(const fs::path& run_dir, const TrainModel& model, const AdamW& opt,
                     const TrainState& state, int keep) {
  model.params().require_owned("saving a checkpoint");
  fs::path root = run_dir / "checkpoints";
  fs::create_directories(root);
  std::string name = step_dir_name(state.step);
  fs::path tmp = root / (".tmp-" + name);
  fs::remove_all(tmp);
  fs::create_directories(tmp);

  model.save_weights(tmp);
  std::vector<std::pair<std::string, Tensor>> moments;
  for (const Param& p : model.params().params()) {
    moments.emplace_back("m." + p.name, Tensor::wrap(opt.m().f32() + p.offset, p.shape, DType::f32));
    moments.emplace_back("v." + p.name, Tensor::wrap(opt.v().f32() + p.offset, p.shape, DType::f32));
  }
  save_safetensors(tmp / "optimizer.safetensors", moments,
                   {{"adamw_steps", std::to_string(opt.steps())}});
  nlohmann::json j = {
      {"step", state.step},
      {"adamw_steps", opt.steps()},
      {"data_rng", {{"seed", state.data_rng.seed}, {"counter", state.data_rng.counter}}},
      {"dropout_rng", {{"seed", state.dropout_rng.seed}, {"counter", state.dropout_rng.counter}}},
      {"threads", state.threads},
      {"tokens_seen", state.tokens_seen},
  };
  write_file_atomic(tmp / "state.json", j.dump(2) + "\n");
  fsync_dir(tmp);

  fs::path final_dir = root / name;
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  fsync_dir(root);
  write_file_atomic(root / "latest", name + "\n");

  // Keep the newest `keep` checkpoints.
  std::vector<fs::path> all;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && e.path().filename().string().rfind("step_", 0) == 0) all.push_back(e.path());
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + size_t(keep) < all.size(); ++i)
    if (all[i] != final_dir) fs::remove_all(all[i]);
}

fs::path latest_checkpoint(const fs::path& run_dir) {
  fs::path latest = run_dir / "checkpoints" / "latest";
  if (!fs::exists(latest)) return {};
  std::string name = read_file(latest);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  fs::path dir = run_dir / "checkpoints" / name;
  ILM_CHECK(!name.empty() && fs::is_directory(dir), "{}: names checkpoint '{}', which does not exist",
            latest.string(), name);
  return dir;
}

void load_checkpoint(const fs::path& dir, TrainModel& model, AdamW* opt, TrainState* state) {
  model.params().require_owned("loading a checkpoint");
  try {
    model.load_weights(dir);
    if (opt) {
      SafetensorsFile st = SafetensorsFile::open(dir / "optimizer.safetensors");
      for (const Param& p : model.params().params()) {
        Tensor m = st.get("m." + p.name, DType::f32, &p.shape);
        Tensor v = st.get("v." + p.name, DType::f32, &p.shape);
        std::memcpy(opt->m().f32() + p.offset, m.f32(), m.nbytes());
        std::memcpy(opt->v().f32() + p.offset, v.f32(), v.nbytes());
      }
    }
    if (state || opt) {
      fs::path sp = dir / "state.json";
      nlohmann::json j;
      try {
        j = nlohmann::json::parse(read_file(sp));
        if (opt) opt->set_steps(j.at("adamw_steps").get<int64_t>());
        if (state) {
          state->step = j.at("step").get<int64_t>();
          state->data_rng.seed = j.at("data_rng").at("seed").get<uint64_t>();
          state->data_rng.counter = j.at("data_rng").at("counter").get<uint64_t>();
          state->dropout_rng.seed = j.at("dropout_rng").at("seed").get<uint64_t>();
          state->dropout_rng.counter = j.at("dropout_rng").at("counter").get<uint64_t>();
          state->threads = j.at("threads").get<int>();
          state->tokens_seen = j.at("tokens_seen").get<int64_t>();
        }
      } catch (const nlohmann::json::exception& e) {
        fail("{}: {}", sp.string(), e.what());
      }
    }
  } catch (const Error& e) {
    throw e.with_context("loading checkpoint " + dir.string());
  }
}

}  // namespace ilm
