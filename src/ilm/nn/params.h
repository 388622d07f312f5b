// ParamStore: every parameter of a model in one contiguous buffer, and every
// gradient in another. One buffer makes zeroing, clipping by global norm, the
// optimizer step and checkpointing single passes over memory allocated once.
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
  int64_t offset;    // in floats, into the value and gradient buffers
  Var var;           // value and persistent gradient, for use in ops
};

class ParamStore {
 public:
  // Declares a parameter; call finalize() once all are declared.
  void declare(const std::string& name, Shape shape, bool decay);
  void finalize();  // allocates values (zeroed) and gradients

  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  const Param& get(const std::string& name) const;  // error names a missing parameter
  bool has(const std::string& name) const { return index_.count(name) > 0; }
  const Var& var(const std::string& name) const { return get(name).var; }
  Var var_or_null(const std::string& name) const { return has(name) ? get(name).var : Var{}; }

  int64_t numel() const { return numel_; }
  float* values() const { return values_.f32(); }
  float* grads() const { return grads_.f32(); }
  void zero_grad() const { grads_.zero_(); }

 private:
  std::vector<Param> params_;
  std::unordered_map<std::string, size_t> index_;
  Tensor values_, grads_;
  int64_t numel_ = 0;
  bool finalized_ = false;
};

}  // namespace ilm
