#include "ilm/infer/model_info.h"

#include <fmt/core.h>

#include <map>

#include "ilm/core/error.h"
#include "ilm/infer/load_model.h"
#include "ilm/io/file.h"
#include "ilm/io/gguf.h"
#include "ilm/io/gguf_import.h"
#include "ilm/io/safetensors_index.h"
#include "ilm/models/recipes.h"
#include "ilm/tokenizer/registry.h"
#include "ilm/train/checkpoint.h"
#include "ilm/train/config.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ilm {

namespace {

// A float as the short decimal it was written as (1e-06, not 9.99999997e-07).
double decimal(float v) {
  return std::stod(fmt::format("{}", v));
}

const char* norm_name(NormKind n) {
  return n == NormKind::rmsnorm ? "rmsnorm" : "layernorm";
}
const char* mlp_name(MlpKind m) {
  switch (m) {
    case MlpKind::gelu:
      return "gelu";
    case MlpKind::gelu_tanh:
      return "gelu_tanh";
    case MlpKind::swiglu:
      return "swiglu";
  }
  return "?";
}
const char* wiring_name(Wiring w) {
  switch (w) {
    case Wiring::pre_norm:
      return "pre_norm";
    case Wiring::parallel:
      return "parallel";
    case Wiring::post_norm:
      return "post_norm";
  }
  return "?";
}
const char* head_name(HeadKind h) {
  switch (h) {
    case HeadKind::causal_lm:
      return "causal_lm";
    case HeadKind::masked_lm:
      return "masked_lm";
    case HeadKind::classification:
      return "classification";
    case HeadKind::none:
      return "none";
  }
  return "?";
}

// dtype -> tensor count, total bytes, shards and tensor count of a set of safetensors files.
json weights_info(const SafetensorsIndex& st) {
  std::map<std::string, int64_t> dtypes;
  uint64_t bytes = 0;
  for (const std::string& name : st.names()) {
    const TensorInfo& t = st.info(name);
    ++dtypes[t.file_dtype];
    bytes += t.end - t.begin;
  }
  return {{"tensors", st.names().size()},
          {"dtypes", dtypes},
          {"bytes", bytes},
          {"shards", st.shards().size()},
          {"file", st.path().filename().string()}};
}

json tokenizer_info(const fs::path& folder) {
  try {
    std::unique_ptr<Tokenizer> tok = resolve_tokenizer(folder.string());
    json j = {{"kind", tok->kind()}, {"vocab_size", tok->vocab_size()}};
    if (auto eot = tok->eot_id()) j["eot_id"] = *eot;
    return j;
  } catch (const Error&) {
    return nullptr;
  }
}

json hf_info(const fs::path& folder) {
  const fs::path cfg_path = folder / "config.json";
  json cfg;
  try {
    cfg = json::parse(read_file(cfg_path));
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", cfg_path.string(), e.what());
  }
  const TransformerConfig c = config_from_hf(cfg, cfg_path.string());
  json j = {{"format", "hf"}, {"path", folder.string()}};
  j["architecture"] = cfg.contains("architectures") && cfg["architectures"].is_array() &&
                              !cfg["architectures"].empty()
                          ? cfg["architectures"][0]
                          : json(nullptr);
  j["recipe"] = c.arch;
  j["layers"] = c.n_layer;
  j["heads"] = c.n_head;
  j["kv_heads"] = c.kv_heads();
  j["head_dim"] = c.hs();
  j["width"] = c.n_embd;
  j["mlp_width"] = c.mlp_width();
  j["mlp"] = mlp_name(c.mlp);
  j["vocab_size"] = c.vocab_size;
  j["context_length"] = c.max_positions;
  json pos = {{"kind", c.position == PositionKind::rope    ? "rope"
                       : c.position == PositionKind::alibi ? "alibi"
                                                           : "learned"}};
  if (c.position == PositionKind::rope) {
    pos["theta"] = decimal(c.rope.theta);
    pos["rotary_dim"] = c.rope.rotary_dim > 0 ? c.rope.rotary_dim : c.hs();
    pos["scaling"] = c.rope.scaling.empty() ? "none" : c.rope.scaling;
    if (!c.rope.scaling.empty() && c.rope.scaling != "none" && c.rope.scaling != "default")
      pos["factor"] = decimal(c.rope.factor);
    if (c.rope.scaling == "yarn") {
      pos["original_context_length"] = c.rope.original_max_positions;
      pos["attention_factor"] = decimal(rope_attention_factor(c.rope));
    }
  }
  j["positions"] = pos;
  if (c.sliding_window > 0) j["sliding_window"] = c.sliding_window;
  j["norm"] = {{"kind", norm_name(c.norm)}, {"eps", decimal(c.norm_eps)}};
  j["wiring"] = wiring_name(c.wiring);
  j["tied_embeddings"] = c.tie_embeddings;
  j["head"] = head_name(c.head);
  j["parameters"] = c.num_params();
  j["weights"] = weights_info(SafetensorsIndex::open(folder));
  j["tokenizer"] = tokenizer_info(folder);
  return j;
}

json run_info(const fs::path& path) {
  RunFiles files = find_run_files(path);
  json j = {{"format", "run"}, {"path", path.string()}};
  if (!files.hf_checkpoint.empty()) {  // a model.init run: its checkpoint is a Hugging Face folder
    j = hf_info(files.hf_checkpoint);
    j["format"] = "run";
    j["path"] = path.string();
  }
  j["tokenizer"] = tokenizer_info(files.root);
  j["checkpoint"] = files.weights.parent_path().string();
  const fs::path state = files.weights.parent_path() / "state.json";
  if (fs::exists(state)) {
    try {
      json s = json::parse(read_file(state));
      if (s.contains("step")) j["step"] = s["step"];
      if (s.contains("tokens_seen")) j["tokens_seen"] = s["tokens_seen"];
    } catch (const json::exception& e) {
      fail("{}: not valid JSON: {}", state.string(), e.what());
    }
  }
  if (!files.hf_checkpoint.empty()) return j;
  RunConfig cfg = load_run_config(files.root / "config.yaml", {});
  if (cfg.model.vocab_size == 0 && j["tokenizer"].is_object())
    cfg.model.vocab_size = j["tokenizer"]["vocab_size"].get<int>();
  const Gpt2Spec& m = cfg.model;
  j["architecture"] = "gpt2";
  j["layers"] = m.n_layer;
  j["heads"] = m.n_head;
  j["width"] = m.n_embd;
  j["context_length"] = m.block_size;
  j["vocab_size"] = m.vocab_size;
  j["bias"] = m.bias;
  j["activation"] = m.activation;
  j["parameters"] = gpt2_config(m).num_params();
  j["weights"] = weights_info(SafetensorsIndex::open(files.weights));
  return j;
}

json gguf_info(const fs::path& path) {
  GgufFile f = GgufFile::open(path);
  json j = {{"format", "gguf"},
            {"path", path.string()},
            {"version", f.version()},
            {"tensors", f.tensors().size()}};
  if (f.has_kv("general.architecture"))
    j["architecture"] = f.kv_as<std::string>("general.architecture");
  // The Hugging Face config ilm loads it as, or why it does not load.
  try {
    j["config"] = gguf_hf_config(f);
  } catch (const Error& e) {
    j["config_error"] = e.what();
  }
  j["summary"] = gguf_summary(f);
  return j;
}

json safetensors_info(const fs::path& path) {
  SafetensorsFile f = SafetensorsFile::open(path);
  json tensors = json::array();
  uint64_t bytes = 0;
  for (const TensorInfo& t : f.tensors()) {
    tensors.push_back({{"name", t.name}, {"dtype", t.file_dtype}, {"shape", t.shape.to_vector()}});
    bytes += t.end - t.begin;
  }
  return {{"format", "safetensors"},
          {"path", path.string()},
          {"bytes", bytes},
          {"metadata", f.metadata()},
          {"tensors", tensors}};
}

// 1234567 -> "1,234,567"
std::string grouped(int64_t n) {
  std::string s = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string human_bytes(uint64_t b) {
  if (b >= (uint64_t(1) << 30))
    return fmt::format("{:.2f} GiB", double(b) / double(uint64_t(1) << 30));
  if (b >= (uint64_t(1) << 20)) return fmt::format("{:.2f} MiB", double(b) / double(1 << 20));
  if (b >= 1024) return fmt::format("{:.1f} KiB", double(b) / 1024.0);
  return fmt::format("{} B", b);
}

std::string scalar(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string tokenizer_line(const json& t) {
  if (!t.is_object()) return "none";
  std::string s =
      fmt::format("{}, vocab {}", t["kind"].get<std::string>(), t["vocab_size"].get<int>());
  if (t.contains("eot_id")) s += fmt::format(", end of text {}", t["eot_id"].get<int>());
  return s;
}

std::string weights_line(const json& w) {
  std::string dtypes;
  for (const auto& [k, v] : w["dtypes"].items())
    dtypes += fmt::format("{}{} ({})", dtypes.empty() ? "" : ", ", k, v.get<int64_t>());
  return fmt::format("{} tensors, {}, {} in {} shard{}", w["tensors"].get<int64_t>(), dtypes,
                     human_bytes(w["bytes"].get<uint64_t>()), w["shards"].get<int64_t>(),
                     w["shards"].get<int64_t>() == 1 ? "" : "s");
}

}  // namespace

json model_info(const fs::path& path) {
  switch (detect_model_format(path)) {
    case ModelFormat::hf:
      return hf_info(path);
    case ModelFormat::run:
      return run_info(path);
    case ModelFormat::gguf:
      return gguf_info(path);
    case ModelFormat::safetensors:
      return safetensors_info(path);
  }
  return nullptr;
}

std::string format_model_info(const json& j) {
  std::string out;
  auto line = [&](const std::string& key, const std::string& value) {
    out += fmt::format("{:<16}{}\n", key + ":", value);
  };
  const std::string format = j.at("format").get<std::string>();
  line("path", j["path"].get<std::string>());
  if (format == "gguf") {
    line("format", fmt::format("GGUF v{}", j["version"].get<int>()));
    if (j.contains("architecture")) line("architecture", j["architecture"].get<std::string>());
    if (j.contains("config")) line("loads as", j["config"].dump());
    if (j.contains("config_error")) line("loads as", "not loadable: " + j["config_error"].get<std::string>());
    out += j["summary"].get<std::string>();
    return out;
  }
  if (format == "safetensors") {
    line("format", "safetensors");
    line("tensors",
         fmt::format("{}, {}", j["tensors"].size(), human_bytes(j["bytes"].get<uint64_t>())));
    for (const auto& t : j["tensors"])
      out += fmt::format("  {:<48} {:<5} {}\n", t["name"].get<std::string>(),
                         t["dtype"].get<std::string>(), t["shape"].dump());
    return out;
  }
  if (format == "run" && !j.contains("recipe")) {
    line("format", "ilm run folder");
    line("architecture", "gpt2 (ilm train)");
    line("layers", scalar(j["layers"]));
    line("heads", scalar(j["heads"]));
    line("width", scalar(j["width"]));
    line("context", scalar(j["context_length"]));
    line("vocab", scalar(j["vocab_size"]));
    line("activation", j["activation"].get<std::string>());
    line("bias", j["bias"].get<bool>() ? "yes" : "no");
    line("parameters", grouped(j["parameters"].get<int64_t>()));
    line("checkpoint", j["checkpoint"].get<std::string>());
    if (j.contains("step")) line("step", scalar(j["step"]));
    line("weights", weights_line(j["weights"]));
    line("tokenizer", tokenizer_line(j["tokenizer"]));
    return out;
  }
  line("format", format == "run" ? "ilm run folder (model.init)" : "Hugging Face folder");
  line("architecture", j["architecture"].is_null() ? "-" : scalar(j["architecture"]));
  line("recipe", j["recipe"].get<std::string>());
  line("layers", scalar(j["layers"]));
  line("heads", fmt::format("{} (kv heads {}, head dim {})", scalar(j["heads"]),
                            scalar(j["kv_heads"]), scalar(j["head_dim"])));
  line("width", scalar(j["width"]));
  line("mlp", fmt::format("{}, width {}", j["mlp"].get<std::string>(), scalar(j["mlp_width"])));
  line("vocab", scalar(j["vocab_size"]));
  line("context", scalar(j["context_length"]));
  const json& pos = j["positions"];
  std::string p = pos["kind"].get<std::string>();
  if (p == "rope") {
    p += fmt::format(", theta {}, rotary dim {}, scaling {}", pos["theta"].get<double>(),
                     scalar(pos["rotary_dim"]), pos["scaling"].get<std::string>());
    if (pos.contains("factor")) p += fmt::format(" x{}", pos["factor"].get<double>());
    if (pos.contains("attention_factor"))
      p += fmt::format(" (original context {}, attention factor {})",
                       scalar(pos["original_context_length"]),
                       pos["attention_factor"].get<double>());
  } else if (p == "alibi") {
    p += " (linear key biases per head)";
  }
  line("positions", p);
  if (j.contains("sliding_window")) line("window", scalar(j["sliding_window"]));
  line("norm", fmt::format("{}, eps {}", j["norm"]["kind"].get<std::string>(),
                           j["norm"]["eps"].get<double>()));
  line("wiring", j["wiring"].get<std::string>());
  line("head", fmt::format("{}{}", j["head"].get<std::string>(),
                           j["tied_embeddings"].get<bool>() ? " (tied to the embeddings)" : ""));
  line("parameters", grouped(j["parameters"].get<int64_t>()));
  line("weights", weights_line(j["weights"]));
  if (j.contains("checkpoint")) line("checkpoint", j["checkpoint"].get<std::string>());
  if (j.contains("step")) line("step", scalar(j["step"]));
  line("tokenizer", tokenizer_line(j["tokenizer"]));
  return out;
}

}  // namespace ilm
