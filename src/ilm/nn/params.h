// ParamStore: every parameter of a model in one contiguous buffer, and every
// gradient in another. One buffer makes zeroing, clipping by global norm, the
// optimizer step and checkpointing single passes over memory allocated once.
//
// For inference a store can instead be finalized `mapped`: no buffers at all, and each
// parameter's value is set one by one, as a read-only view into a weights file's memory map
// or a tensor of its own (for weights that needed a transpose or a dtype conversion). Such a
// store has no gradients and no contiguous values; values()/grads() then throw. Its matrices
// may be bf16 or f16 (a half-precision file used as stored): read them through the typed
// kernels (kernels/cpu/half_weights.h), not f32().
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "ilm/autograd/tape.h"
#include "ilm/core/tensor.h"

namespace ilm {

struct Param {
  std::string name;  // Hugging Face style, e.g. "h.0.attn.c_attn.weight"
  Shape shape;       // our layout: Linear weights are (out, in) like torch.nn.Linear
  bool decay;        // weight decay applies (2-D weights and embeddings)
  int64_t offset;    // in floats, into the value and gradient buffers (owned stores only)
  Var var;           // value and persistent gradient, for use in ops
};

// owned: one value buffer and one gradient buffer (training, init, anything that writes).
// mapped: per-parameter values set with set_value(), no gradients (inference loads).
enum class ParamStorage { owned, mapped };

class ParamStore {
 public:
  // Declares a parameter; call finalize() once all are declared.
  void declare(const std::string& name, Shape shape, bool decay);
  // owned: allocates values (zeroed) and gradients. mapped: allocates nothing; every value
  // stays undefined until set_value().
  void finalize(ParamStorage storage = ParamStorage::owned);
  // Mapped stores only: `value` (the parameter's shape; f32, or bf16/f16 for a 2-D parameter)
  // becomes the parameter's value, shared, not copied. Throws naming the parameter and both
  // shapes and dtypes.
  void set_value(const std::string& name, Tensor value);

  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  const Param& get(const std::string& name) const;  // error names a missing parameter
  bool has(const std::string& name) const { return index_.count(name) > 0; }
  const Var& var(const std::string& name) const { return get(name).var; }
  Var var_or_null(const std::string& name) const { return has(name) ? get(name).var : Var{}; }

  ParamStorage storage() const { return storage_; }
  bool mapped() const { return storage_ == ParamStorage::mapped; }
  // Throws, naming `what` (e.g. "AdamW"), when the store is mapped: `what` needs the owned
  // contiguous buffers (values, gradients) of a model loaded for training.
  void require_owned(const char* what) const;

  int64_t numel() const { return numel_; }  // floats in the (owned) buffers, padding included
  float* values() const;                    // the owned buffers; throw when mapped
  float* grads() const;
  void zero_grad() const;

 private:
  std::vector<Param> params_;
  std::unordered_map<std::string, size_t> index_;
  Tensor values_, grads_;
  int64_t numel_ = 0;
  bool finalized_ = false;
  ParamStorage storage_ = ParamStorage::owned;
};

}  // namespace ilm
