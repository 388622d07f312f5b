#include "ilm/train/checkpoint.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <optional>

#include "ilm/io/file.h"
#include "ilm/io/safetensors.h"
#include "ilm/io/safetensors_index.h"

namespace fs = std::filesystem;

namespace ilm {

namespace {

// The moment of our parameter `name` in a checkpoint of ilm's former GPT: its name there and
// the rows of it that are ours (q, k and v are thirds of the fused c_attn), or nullopt for a
// name GPT did not have.
struct LegacyMoment {
  std::string name;
  int part = -1;  // 0, 1, 2: q, k, v of c_attn; -1: the whole tensor
};
std::optional<LegacyMoment> legacy_gpt_moment(const std::string& name) {
  static const std::pair<const char*, const char*> kPlain[] = {{"embed.weight", "wte.weight"},
                                                               {"pos_embed.weight", "wpe.weight"},
                                                               {"norm.weight", "ln_f.weight"},
                                                               {"norm.bias", "ln_f.bias"}};
  for (const auto& [ours, gpt] : kPlain)
    if (name == ours) return LegacyMoment{gpt};
  if (name.rfind("layers.", 0) != 0) return std::nullopt;
  const size_t dot = name.find('.', 7);
  if (dot == std::string::npos) return std::nullopt;
  const std::string layer = name.substr(7, dot - 7), rest = name.substr(dot + 1);
  static const std::pair<const char*, const char*> kLayer[] = {
      {"attn_norm.", "ln_1."},     {"attn.o.", "attn.c_proj."},  {"mlp_norm.", "ln_2."},
      {"mlp.up.", "mlp.c_fc."},    {"mlp.down.", "mlp.c_proj."}, {"attn.q.", "attn.c_attn."},
      {"attn.k.", "attn.c_attn."}, {"attn.v.", "attn.c_attn."}};
  for (int i = 0; i < 8; ++i) {
    const std::string prefix = kLayer[i].first;
    if (rest.rfind(prefix, 0) != 0) continue;
    LegacyMoment m{"h." + layer + "." + kLayer[i].second + rest.substr(prefix.size())};
    if (i >= 5) m.part = i - 5;
    return m;
  }
  return std::nullopt;
}

// Reads the moment `key` ("m" or "v") of parameter p into dst, from our name or GPT's.
void read_moment(const SafetensorsFile& st, const char* key, const Param& p, bool legacy,
                 float* dst) {
  if (!legacy) {
    Tensor t = st.get(fmt::format("{}.{}", key, p.name), DType::f32, &p.shape);
    std::memcpy(dst, t.f32(), t.nbytes());
    return;
  }
  std::optional<LegacyMoment> m = legacy_gpt_moment(p.name);
  ILM_CHECK(m, "parameter {} has no moment in a GPT checkpoint", p.name);
  if (m->part < 0) {
    Tensor t = st.get(fmt::format("{}.{}", key, m->name), DType::f32, &p.shape);
    std::memcpy(dst, t.f32(), t.nbytes());
    return;
  }
  // c_attn (3C, C) or (3C): q, k, v are its thirds, in our (out, in) layout.
  Shape fused = p.shape;
  std::vector<int64_t> dims = fused.to_vector();
  dims[0] *= 3;
  Tensor t = st.get(fmt::format("{}.{}", key, m->name), DType::f32, nullptr);
  ILM_CHECK(t.shape().to_vector() == dims, "{}.{}: expected shape {}, found {}", key, m->name,
            Shape(dims).to_string(), t.shape().to_string());
  std::memcpy(dst, t.f32() + m->part * p.shape.numel(), size_t(p.shape.numel()) * 4);
}

std::string step_dir_name(int64_t step) { return fmt::format("step_{:08d}", step); }

}  // namespace

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
      const bool legacy = st.has("m.wte.weight") && !st.has("m.embed.weight");
      for (const Param& p : model.params().params()) {
        read_moment(st, "m", p, legacy, opt->m().f32() + p.offset);
        read_moment(st, "v", p, legacy, opt->v().f32() + p.offset);
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
