#include "ilm/autograd/tape.h"

#include <cstring>

namespace ilm {

Var make_var(Tensor value, Tensor grad) {
  auto v = std::make_shared<VarData>();
  v->value = std::move(value);
  v->requires_grad = grad.defined();
  v->grad = std::move(grad);
  return v;
}

Var Tape::output(Tensor value, std::initializer_list<const Var*> inputs) {
  auto v = std::make_shared<VarData>();
  v->value = std::move(value);
  if (grad_enabled_)
    for (const Var* in : inputs)
      if (in && *in && (*in)->requires_grad) v->requires_grad = true;
  return v;
}

void Tape::record(const char* op, const Var& out, std::function<void()> backward) {
  if (!grad_enabled_ || !out->requires_grad) return;
  records_.push_back({op, out, std::move(backward)});
}

const Tensor& Tape::grad(const Var& v) {
  if (!v->grad.defined()) {
    auto it = free_grads_.find(v->value.nbytes());
    if (it != free_grads_.end() && !it->second.empty()) {
      v->grad = it->second.back().view(v->value.shape());
      it->second.pop_back();
    } else {
      v->grad = alloc(v->value.shape(), v->value.dtype());
    }
    v->grad.zero_();
  }
  return v->grad;
}

void Tape::release_grad(const Var& v) {
  // Only gradients this tape allocated: not a leaf's (parameters own theirs), not one
  // that aliases the value (the in-place cross-entropy gradient).
  if (!v->grad.defined() || v->grad.raw() == v->value.raw()) return;
  free_grads_[v->grad.nbytes()].push_back(v->grad);
  v->grad = Tensor();
}

void Tape::backward(const Var& loss, float seed) {
  ILM_CHECK(loss->value.numel() == 1, "[backward] the loss must hold one value, not shape {}",
            loss->value.shape().to_string());
  ILM_CHECK(loss->requires_grad, "[backward] the loss does not depend on anything that needs a gradient");
  grad(loss).f32()[0] += seed;
  run_records();
}

void Tape::backward(const Var& out, const Tensor& dout) {
  ILM_CHECK(out->value.shape() == dout.shape(), "[backward] gradient shape {} differs from output {}",
            dout.shape().to_string(), out->value.shape().to_string());
  ILM_CHECK(out->requires_grad, "[backward] the output does not depend on anything that needs a gradient");
  const Tensor& g = grad(out);
  for (int64_t i = 0; i < g.numel(); ++i) g.f32()[i] += dout.f32()[i];
  run_records();
}

void Tape::run_records() {
  for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
    if (!it->out->grad.defined()) continue;  // nothing downstream needed this op
    it->backward();
    release_grad(it->out);
  }
}

void Tape::clear() {
  records_.clear();
  free_grads_.clear();
  arena_.reset();
}

}  // namespace ilm
