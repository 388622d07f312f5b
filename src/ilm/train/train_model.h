// TrainModel: what the trainer needs of a model: a forward to logits, the parameters, and its
// weights saved to and loaded from a checkpoint folder. Every model is a Transformer: a GPT-2
// from scratch (gpt2_config of the run's model.*) or any family loaded from a Hugging Face
// folder (`model.init`).
#pragma once

#include <filesystem>
#include <memory>

#include "ilm/models/transformer.h"

namespace ilm {

class TrainModel {
 public:
  virtual ~TrainModel() = default;
  // ids (B,T) -> logits (B,T,V).
  virtual Var forward(Tape& tape, const Tensor& ids, bool training, Rng& rng) = 0;
  virtual ParamStore& params() = 0;
  const ParamStore& params() const { return const_cast<TrainModel*>(this)->params(); }
  virtual int64_t num_params() const = 0;
  virtual int vocab_size() const = 0;
  virtual void init_weights(uint64_t seed) = 0;
  // dir/model.safetensors in its family's Hugging Face names, with dir/config.json, so that a
  // checkpoint folder is a Hugging Face model folder.
  virtual void save_weights(const std::filesystem::path& dir) const = 0;
  // Reads dir/model.safetensors (or its shards) into the model as it is built; dir/config.json
  // is not read, so checkpoints of runs from before config.json (GPT-2 names without the
  // "transformer." prefix) load too. Throws naming the folder and every mismatched tensor.
  virtual void load_weights(const std::filesystem::path& dir) = 0;
};

// A Transformer of `config` with fresh (zero) weights.
std::unique_ptr<TrainModel> make_transformer_train_model(const TransformerConfig& config);
// The Transformer a Hugging Face folder describes (config.json), with its weights when
// `with_weights`; dropout set for training.
std::unique_ptr<TrainModel> load_transformer_train_model(const std::filesystem::path& folder,
                                                         float dropout, bool with_weights);
// The Transformer inside.
const Transformer& as_transformer(const TrainModel& model);
Transformer& as_transformer(TrainModel& model);

}  // namespace ilm
