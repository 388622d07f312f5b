#include "ilm/train/train_model.h"

#include "ilm/core/error.h"
#include "ilm/io/file.h"
#include "ilm/io/safetensors_index.h"
#include "ilm/models/recipes.h"
#include "ilm/train/checkpoint.h"

namespace fs = std::filesystem;

namespace ilm {
namespace {

class TransformerTrainModel : public TrainModel {
 public:
  explicit TransformerTrainModel(const TransformerConfig& c) : m_(c) {
    ILM_CHECK(c.head == HeadKind::causal_lm,
              "[{}] training needs a causal LM head; this model's head is for another task", c.arch);
  }

  Var forward(Tape& tape, const Tensor& ids, bool training, Rng& rng) override {
    return m_.forward(tape, ids, training, rng);
  }
  ParamStore& params() override { return m_.params(); }
  int64_t num_params() const override { return m_.config().num_params(); }
  int vocab_size() const override { return m_.config().vocab_size; }
  void init_weights(uint64_t seed) override { m_.init_weights(seed); }
  void save_weights(const fs::path& dir) const override {
    save_safetensors(dir / "model.safetensors", hf_state_dict(m_), {{"format", "pt"}});
    write_file_atomic(dir / "config.json", hf_config_from(m_.config()).dump(2) + "\n");
  }
  void load_weights(const fs::path& dir) override {
    const SafetensorsIndex w = SafetensorsIndex::open(dir);
    try {
      load_hf_weights(m_, w.names(), [&](const std::string& n) -> std::optional<Tensor> {
        if (!w.has(n)) return std::nullopt;
        return w.get(n, DType::f32);
      });
    } catch (const Error& e) {
      throw e.with_context(dir.string());
    }
  }
  Transformer& model() { return m_; }

 private:
  Transformer m_;
};

}  // namespace

std::unique_ptr<TrainModel> make_transformer_train_model(const TransformerConfig& config) {
  return std::make_unique<TransformerTrainModel>(config);
}

std::unique_ptr<TrainModel> load_transformer_train_model(const fs::path& folder, float dropout,
                                                         bool with_weights) {
  const fs::path cfg = folder / "config.json";
  if (!fs::exists(cfg)) fail("{}: no config.json: not a Hugging Face model folder", folder.string());
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(cfg));
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not valid JSON: {}", cfg.string(), e.what());
  }
  TransformerConfig c = config_from_hf(j, cfg.string());
  c.dropout = dropout;
  auto m = std::make_unique<TransformerTrainModel>(c);
  if (with_weights) m->load_weights(folder);
  return m;
}

Transformer& as_transformer(TrainModel& model) {
  return static_cast<TransformerTrainModel&>(model).model();
}

const Transformer& as_transformer(const TrainModel& model) {
  return as_transformer(const_cast<TrainModel&>(model));
}

}  // namespace ilm
