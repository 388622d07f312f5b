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

void ParamStore::finalize(ParamStorage storage) {
  ILM_CHECK(!finalized_, "[params] finalize() called twice");
  finalized_ = true;
  storage_ = storage;
  if (storage == ParamStorage::mapped) {
    // Values come later (set_value); no gradients: nothing on a tape accumulates into them.
    for (Param& p : params_) p.var = make_var(Tensor{});
    return;
  }
  values_ = Tensor::zeros({numel_});
  grads_ = Tensor::zeros({numel_});
  for (Param& p : params_) {
    float* v = values_.f32() + p.offset;
    float* g = grads_.f32() + p.offset;
    p.var = make_var(Tensor::wrap(v, p.shape, DType::f32), Tensor::wrap(g, p.shape, DType::f32));
  }
}

void ParamStore::set_value(const std::string& name, Tensor value) {
  ILM_CHECK(finalized_ && mapped(),
            "[params] set_value('{}') is for a store finalized mapped (inference loads); an "
            "owned store is written in place",
            name);
  const Param& p = get(name);
  // Matrices may stay half precision (a bf16 or f16 file's bytes); the inference kernels
  // widen them as they go (kernels/cpu/half_weights.h). Vectors are f32.
  const bool half_ok = p.shape.ndim() == 2 && value.defined() &&
                       (value.dtype() == DType::bf16 || value.dtype() == DType::f16);
  ILM_CHECK(value.defined() && (value.dtype() == DType::f32 || half_ok) && value.shape() == p.shape,
            "[params] '{}' is {} {}, given {} {}", name,
            p.shape.ndim() == 2 ? "F32, BF16 or F16" : "F32", p.shape.to_string(),
            value.defined() ? dtype_name(value.dtype()) : "nothing",
            value.defined() ? value.shape().to_string() : "");
  p.var->value = std::move(value);
}

void ParamStore::require_owned(const char* what) const {
  if (mapped())
    fail(
        "[params] {} needs the model's contiguous parameter and gradient buffers, but this model "
        "was loaded for inference (mapped, read-only weights, no gradients); load it for "
        "training instead",
        what);
}

float* ParamStore::values() const {
  require_owned("values()");
  return values_.f32();
}

float* ParamStore::grads() const {
  require_owned("grads()");
  return grads_.f32();
}

void ParamStore::zero_grad() const {
  require_owned("zero_grad()");
  grads_.zero_();
}

const Param& ParamStore::get(const std::string& name) const {
  auto it = index_.find(name);
  ILM_CHECK(it != index_.end(), "[params] no parameter named '{}'", name);
  return params_[it->second];
}

}  // namespace ilm
