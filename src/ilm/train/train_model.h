// TrainModel: what the trainer needs of a model, so that one training loop trains ilm's own
// GPT and any family loaded from a Hugging Face folder (`model.init`): a forward to logits,
// the parameters, and its weights saved to and loaded from a checkpoint folder.
#pragma once

#include <filesystem>
#include <memory>

#include "ilm/models/gpt.h"
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
  // dir/model.safetensors (GPT: Hugging Face GPT-2 names; Transformer: its family's names,
  // with dir/config.json, so that a checkpoint folder is a Hugging Face model folder).
  virtual void save_weights(const std::filesystem::path& dir) const = 0;
  // Throws naming the file and every mismatched tensor.
  virtual void load_weights(const std::filesystem::path& dir) = 0;
};

// Wraps a GPT the caller keeps alive.
std::unique_ptr<TrainModel> train_model_of(GPT& model);
std::unique_ptr<TrainModel> make_gpt_train_model(const GPTConfig& config);
// A Transformer of `config` with fresh (zero) weights.
std::unique_ptr<TrainModel> make_transformer_train_model(const TransformerConfig& config);
// The Transformer a Hugging Face folder describes (config.json), with its weights when
// `with_weights`; dropout set for training.
std::unique_ptr<TrainModel> load_transformer_train_model(const std::filesystem::path& folder,
                                                         float dropout, bool with_weights);
// The Transformer inside, or null for a GPT.
const Transformer* as_transformer(const TrainModel& model);

}  // namespace ilm
