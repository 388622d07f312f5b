// Checkpoints of a run folder:
//
//   runs/NAME/checkpoints/step_00000500/model.safetensors      weights, Hugging Face GPT-2 names and layout
//                                      /config.json            (models from model.init: the checkpoint is
//                                                               a Hugging Face folder of their family)
//                                      /optimizer.safetensors  AdamW moments ("m.<name>", "v.<name>")
//                                      /state.json             step, data position, RNG states, threads
//   runs/NAME/checkpoints/latest                               the name of the newest complete one
//
// A checkpoint is written into a temporary folder and renamed into place, and
// `latest` is replaced atomically after it, so a kill at any moment leaves the
// previous checkpoint intact.
#pragma once

#include <filesystem>
#include <string>

#include "ilm/core/rng.h"
#include "ilm/models/gpt.h"
#include "ilm/train/optim.h"
#include "ilm/train/train_model.h"

namespace ilm {

struct TrainState {
  int64_t step = 0;  // optimizer steps done
  Rng data_rng;      // the training loader's state
  Rng dropout_rng;
  int threads = 0;
  int64_t tokens_seen = 0;
};

// Weights alone, as Hugging Face GPT-2 stores them (Conv1D weights transposed to (in, out)).
void save_gpt2_safetensors(const std::filesystem::path& file, const GPT& model);
// Reads weights saved by save_gpt2_safetensors or by Hugging Face (with or without the
// "transformer." prefix; the attn.bias/attn.masked_bias buffers and a tied lm_head.weight
// are accepted and ignored; BF16/F16 weights convert to f32). `file` may also be a folder
// holding model.safetensors or a sharded model.safetensors.index.json. Missing, unexpected or
// mis-shaped tensors are all listed in one error naming each (load_expected).
void load_gpt2_safetensors(const std::filesystem::path& file, GPT& model);

void save_checkpoint(const std::filesystem::path& run_dir, const TrainModel& model, const AdamW& opt,
                     const TrainState& state, int keep);
void save_checkpoint(const std::filesystem::path& run_dir, GPT& model, const AdamW& opt,
                     const TrainState& state, int keep);
// The newest complete checkpoint folder, or an empty path when there is none.
std::filesystem::path latest_checkpoint(const std::filesystem::path& run_dir);
// Loads weights, and the optimizer and state when given.
void load_checkpoint(const std::filesystem::path& ckpt_dir, TrainModel& model, AdamW* opt,
                     TrainState* state);
void load_checkpoint(const std::filesystem::path& ckpt_dir, GPT& model, AdamW* opt,
                     TrainState* state);

}  // namespace ilm
