#include "ilm/train/config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <functional>
#include <map>
#include <variant>

#include "ilm/core/error.h"
#include "ilm/io/file.h"
#include "ilm/io/json_config.h"

namespace ilm {

namespace {

using FieldPtr = std::variant<int*, int64_t*, double*, float*, bool*, std::string*>;

struct Field {
  const char* key;
  const char* help;
  std::function<FieldPtr(RunConfig&)> ptr;
};

#define ILM_FIELD(key, member, help) \
  Field { key, help, [](RunConfig& c) -> FieldPtr { return &c.member; } }

// Every option, its place and its help, in one list.
const std::vector<Field>& fields() {
  static const std::vector<Field> f = {
      ILM_FIELD("model.n_layer", model.n_layer, "number of Transformer blocks"),
      ILM_FIELD("model.n_head", model.n_head, "attention heads per block (must divide n_embd)"),
      ILM_FIELD("model.n_embd", model.n_embd, "embedding width C"),
      ILM_FIELD("model.block_size", model.block_size, "context length T in tokens"),
      ILM_FIELD("model.vocab_size", model.vocab_size, "vocabulary size; 0 takes the tokenizer's"),
      ILM_FIELD("model.bias", model.bias, "biases in Linear layers and LayerNorms"),
      ILM_FIELD("model.dropout", model.dropout, "dropout probability during training"),
      ILM_FIELD("model.activation", model.activation, "MLP activation: gelu_tanh (GPT-2) or gelu (exact, erf)"),
      ILM_FIELD("model.init", init, "a Hugging Face model folder (GPT-2, LLaMA, Mistral, Falcon) to continue training; its config.json sets the architecture"),
      ILM_FIELD("data.text", data.text, "a UTF-8 text file to train on (path relative to the working folder)"),
      ILM_FIELD("data.tokenizer", data.tokenizer, "tokenizer for data.text: char (built from the text), byte, a BPE encoding (gpt2, cl100k_base, ...) or a tokenizer.json"),
      ILM_FIELD("data.val_fraction", data.val_fraction, "fraction of data.text (its end) held out for validation"),
      ILM_FIELD("data.train_shards", data.train_shards, "token shards to train on: a file, folder or glob"),
      ILM_FIELD("data.val_shards", data.val_shards, "token shards for validation"),
      ILM_FIELD("data.tokenizer_file", data.tokenizer_file, "tokenizer.json that produced the shards"),
      ILM_FIELD("train.batch_size", train.batch_size, "sequences per micro-batch B"),
      ILM_FIELD("train.grad_accum", train.grad_accum, "micro-batches per optimizer step"),
      ILM_FIELD("train.max_steps", train.max_steps, "optimizer steps to run"),
      ILM_FIELD("train.lr", train.lr, "peak learning rate"),
      ILM_FIELD("train.min_lr", train.min_lr, "learning rate at the end of cosine decay"),
      ILM_FIELD("train.warmup_steps", train.warmup_steps, "linear warmup steps"),
      ILM_FIELD("train.lr_decay_steps", train.lr_decay_steps, "step at which cosine decay reaches min_lr"),
      ILM_FIELD("train.beta1", train.beta1, "AdamW beta1"),
      ILM_FIELD("train.beta2", train.beta2, "AdamW beta2"),
      ILM_FIELD("train.eps", train.eps, "AdamW epsilon"),
      ILM_FIELD("train.weight_decay", train.weight_decay, "decoupled weight decay (2-D weights only)"),
      ILM_FIELD("train.grad_clip", train.grad_clip, "clip gradients to this global norm; 0 disables"),
      ILM_FIELD("train.eval_interval", train.eval_interval, "steps between validation losses"),
      ILM_FIELD("train.eval_batches", train.eval_batches, "batches averaged for a validation loss"),
      ILM_FIELD("train.checkpoint_interval", train.checkpoint_interval, "steps between checkpoints"),
      ILM_FIELD("train.keep_checkpoints", train.keep_checkpoints, "checkpoints kept (oldest removed)"),
      ILM_FIELD("train.log_interval", train.log_interval, "steps between log lines when not on a terminal"),
      ILM_FIELD("train.seed", train.seed, "seed for initialization, data order and dropout"),
      ILM_FIELD("train.threads", train.threads, "CPU threads; 0 uses all cores"),
      ILM_FIELD("run.name", run.name, "run folder name under run.dir"),
      ILM_FIELD("run.dir", run.dir, "folder holding runs"),
  };
  return f;
}

// Keys that may change when a run resumes; changing anything else would make the
// continued run a different run.
bool resumable_change(const std::string& key) {
  return key == "train.max_steps" || key == "train.log_interval" ||
         key == "train.eval_interval" || key == "train.checkpoint_interval" ||
         key == "train.keep_checkpoints" || key == "train.eval_batches";
}

const Field* find_field(const std::string& key) {
  for (const Field& f : fields())
    if (key == f.key) return &f;
  return nullptr;
}

std::string suggestion(const std::string& key) {
  std::vector<std::string> known;
  for (const Field& f : fields()) known.emplace_back(f.key);
  return did_you_mean(key, known);
}

std::string value_to_string(const FieldPtr& p) {
  return std::visit(
      [](auto* v) -> std::string {
        using T = std::remove_pointer_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return *v;
        } else if constexpr (std::is_same_v<T, bool>) {
          return *v ? "true" : "false";
        } else if constexpr (std::is_floating_point_v<T>) {
          return fmt::format("{}", *v);
        } else {
          return std::to_string(*v);
        }
      },
      p);
}

// Sets one field from a YAML scalar; `where` names the file or "--set" for errors.
void set_field(RunConfig& cfg, const Field& f, const YAML::Node& node, const std::string& where) {
  if (!node.IsScalar())
    fail("{}: key '{}' must be a single value, not a {}", where, f.key,
         node.IsMap() ? "mapping" : node.IsSequence() ? "list" : "null");
  const std::string text = node.Scalar();
  FieldPtr p = f.ptr(cfg);
  auto bad = [&](const char* expected) {
    fail("{}: key '{}' must be {}, got '{}'", where, f.key, expected, text);
  };
  std::visit(
      [&](auto* v) {
        using T = std::remove_pointer_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          *v = text;
        } else if constexpr (std::is_same_v<T, bool>) {
          bool b;
          if (!YAML::convert<bool>::decode(node, b)) bad("true or false");
          *v = b;
        } else if constexpr (std::is_floating_point_v<T>) {
          size_t used = 0;
          double d = 0;
          try {
            d = std::stod(text, &used);
          } catch (...) {
            bad("a number");
          }
          if (used != text.size() || !std::isfinite(d)) bad("a finite number");
          *v = T(d);
        } else {
          size_t used = 0;
          long long i = 0;
          try {
            i = std::stoll(text, &used);
          } catch (...) {
            bad("an integer");
          }
          if (used != text.size()) bad("an integer");
          if constexpr (std::is_same_v<T, int>) {
            if (i < INT32_MIN || i > INT32_MAX) bad("a 32-bit integer");
          }
          *v = T(i);
        }
      },
      p);
}

void apply_node(RunConfig& cfg, const YAML::Node& node, const std::string& prefix,
                const std::string& where) {
  if (!node.IsMap()) fail("{}: '{}' must be a mapping of keys", where, prefix.empty() ? "<top>" : prefix);
  for (const auto& kv : node) {
    std::string key = prefix.empty() ? kv.first.as<std::string>() : prefix + "." + kv.first.as<std::string>();
    if (const Field* f = find_field(key)) {
      set_field(cfg, *f, kv.second, where);
    } else if (kv.second.IsMap() && prefix.empty()) {
      bool known_section = false;
      for (const Field& f2 : fields())
        if (std::string(f2.key).rfind(key + ".", 0) == 0) known_section = true;
      if (!known_section) fail("{}: unknown section '{}' (sections: model, data, train, run)", where, key);
      apply_node(cfg, kv.second, key, where);
    } else {
      fail("{}: unknown key '{}'{}", where, key, suggestion(key));
    }
  }
}

}  // namespace

void apply_overrides(RunConfig& cfg, const std::vector<std::string>& sets) {
  for (const std::string& s : sets) {
    size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) fail("--set '{}': expected key=value", s);
    std::string key = s.substr(0, eq), value = s.substr(eq + 1);
    const Field* f = find_field(key);
    if (!f) fail("--set: unknown key '{}'{}", key, suggestion(key));
    YAML::Node node;
    try {
      node = value.empty() ? YAML::Node(std::string()) : YAML::Load(value);
    } catch (const YAML::Exception& e) {
      fail("--set {}: cannot parse value '{}'", key, value);
    }
    if (node.IsNull()) node = YAML::Node(value);
    set_field(cfg, *f, node, "--set");
  }
}

RunConfig load_run_config(const std::filesystem::path& path, const std::vector<std::string>& sets) {
  RunConfig cfg;
  if (!path.empty()) {
    std::string text = read_file(path);
    YAML::Node root;
    try {
      root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      fail("{}: invalid YAML at line {}, column {}: {}", path.string(), e.mark.line + 1,
           e.mark.column + 1, e.msg);
    }
    if (!root.IsNull()) apply_node(cfg, root, "", path.string());
  }
  apply_overrides(cfg, sets);
  cfg.validate();
  return cfg;
}

void RunConfig::validate() const {
  Gpt2Spec m = model;
  if (m.vocab_size == 0) m.vocab_size = 1;  // filled in from the tokenizer later
  ILM_CHECK(model.vocab_size >= 0, "model.vocab_size must be 0 (from the tokenizer) or positive, got {}",
            model.vocab_size);
  m.validate();
  ILM_CHECK(!data.tokenizer.empty(),
            "data.tokenizer must name a tokenizer: char, byte, a BPE encoding or a tokenizer.json");
  ILM_CHECK(!data.text.empty() || !data.train_shards.empty(),
            "no training data: set data.text (a text file) or data.train_shards");
  ILM_CHECK(data.text.empty() || data.train_shards.empty(),
            "set either data.text or data.train_shards, not both");
  ILM_CHECK(data.val_fraction >= 0.0 && data.val_fraction < 1.0,
            "data.val_fraction must be in [0, 1), got {}", data.val_fraction);
  ILM_CHECK(train.batch_size >= 1, "train.batch_size must be at least 1, got {}", train.batch_size);
  ILM_CHECK(train.grad_accum >= 1, "train.grad_accum must be at least 1, got {}", train.grad_accum);
  ILM_CHECK(train.max_steps >= 0, "train.max_steps must be at least 0, got {}", train.max_steps);
  ILM_CHECK(train.lr > 0, "train.lr must be positive, got {}", train.lr);
  ILM_CHECK(train.min_lr >= 0 && train.min_lr <= train.lr,
            "train.min_lr must be in [0, train.lr], got {}", train.min_lr);
  ILM_CHECK(train.warmup_steps >= 0, "train.warmup_steps must be at least 0, got {}", train.warmup_steps);
  ILM_CHECK(train.beta1 >= 0 && train.beta1 < 1, "train.beta1 must be in [0, 1), got {}", train.beta1);
  ILM_CHECK(train.beta2 >= 0 && train.beta2 < 1, "train.beta2 must be in [0, 1), got {}", train.beta2);
  ILM_CHECK(train.eps > 0, "train.eps must be positive, got {}", train.eps);
  ILM_CHECK(train.weight_decay >= 0, "train.weight_decay must be at least 0, got {}", train.weight_decay);
  ILM_CHECK(train.grad_clip >= 0, "train.grad_clip must be at least 0, got {}", train.grad_clip);
  ILM_CHECK(train.eval_interval >= 1, "train.eval_interval must be at least 1, got {}", train.eval_interval);
  ILM_CHECK(train.eval_batches >= 1, "train.eval_batches must be at least 1, got {}", train.eval_batches);
  ILM_CHECK(train.checkpoint_interval >= 1, "train.checkpoint_interval must be at least 1, got {}",
            train.checkpoint_interval);
  ILM_CHECK(train.keep_checkpoints >= 1, "train.keep_checkpoints must be at least 1, got {}",
            train.keep_checkpoints);
  ILM_CHECK(train.log_interval >= 1, "train.log_interval must be at least 1, got {}", train.log_interval);
  ILM_CHECK(train.threads >= 0, "train.threads must be at least 0, got {}", train.threads);
  ILM_CHECK(!run.name.empty() && run.name.find('/') == std::string::npos && run.name != "." &&
                run.name != "..",
            "run.name must be a plain folder name, got '{}'", run.name);
}

std::string run_config_to_yaml(const RunConfig& cfg_in) {
  RunConfig cfg = cfg_in;
  std::string out, section;
  for (const Field& f : fields()) {
    std::string key = f.key;
    std::string sec = key.substr(0, key.find('.'));
    if (sec != section) {
      out += sec + ":\n";
      section = sec;
    }
    FieldPtr p = f.ptr(cfg);
    std::string v = value_to_string(p);
    if (std::holds_alternative<std::string*>(p)) {
      YAML::Emitter e;
      e << YAML::DoubleQuoted << v;
      v = e.c_str();
    }
    out += fmt::format("  {}: {}  # {}\n", key.substr(sec.size() + 1), v, f.help);
  }
  return out;
}

std::vector<std::string> run_config_diff(const RunConfig& a_in, const RunConfig& b_in) {
  RunConfig a = a_in, b = b_in;
  std::vector<std::string> out;
  for (const Field& f : fields()) {
    std::string va = value_to_string(f.ptr(a)), vb = value_to_string(f.ptr(b));
    if (va != vb && !resumable_change(f.key)) out.push_back(fmt::format("{}: {} -> {}", f.key, va, vb));
  }
  return out;
}

std::string run_config_help() {
  RunConfig defaults;
  std::string out;
  for (const Field& f : fields())
    out += fmt::format("  {:<28} {} (default: {})\n", f.key, f.help, value_to_string(f.ptr(defaults)));
  return out;
}

}  // namespace ilm
