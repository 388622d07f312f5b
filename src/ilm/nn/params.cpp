#include "ilm/nn/params.h"

namespace ilm {

void ParamStore::declare(const std::string& name, Shape shape, bool decay) {
  ILM_CHECK(!finalized_, "[params] cannot declare '{}' after finalize()", name);
  ILM_CHECK(!index_.count(name), "[params] parameter '{}' declared twice", name);
  index_[name] = params_.size();
  // Keep every parameter 64-byte aligned inside the buffer.
  params_.push_back({name, shape, decay, numel_, nullptr});
  numel_ += (shape.numel() + 15) / 16 * 16;
}

void ParamStore::finalize() {
  ILM_CHECK(!finalized_, "[params] finalize() called twice");
  finalized_ = true;
  values_ = Tensor::zeros({numel_});
  grads_ = Tensor::zeros({numel_});
  for (Param& p : params_) {
    float* v = values_.f32() + p.offset;
    float* g = grads_.f32() + p.offset;
    p.var = make_var(Tensor::wrap(v, p.shape, DType::f32), Tensor::wrap(g, p.shape, DType::f32));
  }
}

const Param& ParamStore::get(const std::string& name) const {
  auto it = index_.find(name);
  ILM_CHECK(it != index_.end(), "[params] no parameter named '{}'", name);
  return params_[it->second];
}

}  // namespace ilm
