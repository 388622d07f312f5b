// Checkpoints of a run folder:
//
//   runs/NAME/checkpoints/step_00000500/model.safetensors      weights: Hugging Face names
//                                      /config.json            and layout of the model's
//                                                              family, a Hugging Face folder
//                                                              (GPT2LMHeadModel from scratch)
//                                      /optimizer.safetensors  AdamW moments ("m.<name>",
//                                                              "v.<name>", our parameter names)
//                                      /state.json             step, data position, RNG states, threads
//   runs/NAME/checkpoints/latest                               the name of the newest complete one
//
// A checkpoint is written into a temporary folder and renamed into place, and
// `latest` is replaced atomically after it, so a kill at any moment leaves the
// previous checkpoint intact.
//
// Checkpoints of runs from before the Transformer (ilm's GPT) have no config.json, GPT-2
// weight names without "transformer.", and moments under GPT's parameter names
// ("m.h.0.attn.c_attn.weight", q/k/v fused): they load, the moments split onto ours.
#pragma once

#include <filesystem>
#include <string>

#include "ilm/core/rng.h"
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

void save_checkpoint(const std::filesystem::path& run_dir, const TrainModel& model, const AdamW& opt,
                     const TrainState& state, int keep);
// The newest complete checkpoint folder, or an empty path when there is none.
std::filesystem::path latest_checkpoint(const std::filesystem::path& run_dir);
// Loads weights, and the optimizer and state when given.
void load_checkpoint(const std::filesystem::path& ckpt_dir, TrainModel& model, AdamW* opt,
                     TrainState* state);

}  // namespace ilm
