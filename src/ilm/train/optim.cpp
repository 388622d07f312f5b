#include "ilm/train/optim.h"

#include <cmath>

#include "ilm/kernels/cpu/kernels.h"

namespace ilm {

AdamW::AdamW(ParamStore& params, AdamWOptions options)
    : params_(params), opt_(options), m_(Tensor::zeros({params.numel()})),
      v_(Tensor::zeros({params.numel()})) {
  params.require_owned("AdamW");
}

void AdamW::step(double lr, float grad_scale) {
  ++step_;
  for (const Param& p : params_.params()) {
    int64_t n = p.shape.numel();
    cpu::adamw_update(params_.values() + p.offset, params_.grads() + p.offset, m_.f32() + p.offset,
                      v_.f32() + p.offset, n, float(lr), float(opt_.beta1), float(opt_.beta2),
                      float(opt_.eps), p.decay ? float(opt_.weight_decay) : 0.0f, step_, grad_scale);
  }
}

double learning_rate_at(int64_t step, const TrainConfig& t) {
  if (step < t.warmup_steps) return t.lr * double(step + 1) / double(t.warmup_steps + 1);
  if (step > t.lr_decay_steps || t.lr_decay_steps <= t.warmup_steps) return t.min_lr;
  double ratio = double(step - t.warmup_steps) / double(t.lr_decay_steps - t.warmup_steps);
  double coeff = 0.5 * (1.0 + std::cos(M_PI * ratio));
  return t.min_lr + coeff * (t.lr - t.min_lr);
}

double grad_global_norm(const ParamStore& params) {
  params.require_owned("the gradient norm");
  return std::sqrt(cpu::sum_squares(params.grads(), params.numel()));
}

float clip_factor(double norm, double max_norm) {
  if (max_norm <= 0.0) return 1.0f;
  double f = max_norm / (norm + 1e-6);
  return f < 1.0 ? float(f) : 1.0f;
}

}  // namespace ilm
