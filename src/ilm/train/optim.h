// AdamW with GPT-2's recipe: decoupled weight decay on 2-D weights only, the
// learning-rate schedule nanoGPT uses, and clipping by global gradient norm.
#pragma once

#include "ilm/nn/params.h"
#include "ilm/train/config.h"

namespace ilm {

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, weight_decay = 0.1;
};

class AdamW {
 public:
  AdamW(ParamStore& params, AdamWOptions options);

  // One update with learning rate `lr`; gradients are multiplied by grad_scale first
  // (the clipping factor), which saves a pass over them.
  void step(double lr, float grad_scale = 1.0f);

  int64_t steps() const { return step_; }
  void set_steps(int64_t s) { step_ = s; }
  const Tensor& m() const { return m_; }  // first moments, laid out like ParamStore::values()
  const Tensor& v() const { return v_; }

 private:
  ParamStore& params_;
  AdamWOptions opt_;
  Tensor m_, v_;
  int64_t step_ = 0;
};

// Linear warmup to train.lr over warmup_steps, then cosine decay to min_lr at
// lr_decay_steps, then min_lr (nanoGPT's get_lr).
double learning_rate_at(int64_t step, const TrainConfig& t);

// Global L2 norm of all gradients, and the factor that clips it to max_norm
// (1 when max_norm is 0 or the norm is below it), as torch.nn.utils.clip_grad_norm_.
double grad_global_norm(const ParamStore& params);
float clip_factor(double norm, double max_norm);

}  // namespace ilm
