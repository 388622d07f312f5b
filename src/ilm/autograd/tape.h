// The tape: ops append a backward closure as they run forward; backward()
// walks the closures in reverse. Ops are coarse (matmul+bias, layernorm,
// attention, ...), so the bookkeeping costs microseconds against milliseconds
// of math. Activations and their gradients live in the tape's Arena, which is
// reset (not freed) between steps, so a training loop reuses the same pages.
#pragma once

#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "ilm/core/memory.h"
#include "ilm/core/tensor.h"

namespace ilm {

// A value on the tape and, when something needs it, its gradient.
struct VarData {
  Tensor value;
  Tensor grad;  // allocated (zeroed) on first use in backward; persistent for parameters
  bool requires_grad = false;
};
using Var = std::shared_ptr<VarData>;

// A leaf that is not on any tape: a parameter (with its persistent gradient) or a constant.
Var make_var(Tensor value, Tensor grad = {});

class Tape {
 public:
  Tape() = default;
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  // While disabled (NoGrad), ops neither record nor keep what only backward needs.
  bool grad_enabled() const { return grad_enabled_; }
  void set_grad_enabled(bool on) { grad_enabled_ = on; }

  // Uninitialized activation memory, valid until clear().
  Tensor alloc(Shape shape, DType dtype = DType::f32) {
    return Tensor::in_arena(arena_, shape, dtype);
  }
  // The output of an op: requires grad when recording and any input does.
  Var output(Tensor value, std::initializer_list<const Var*> inputs);
  // Registers the backward of the op that produced `out`; skipped in backward
  // when nothing downstream gave `out` a gradient.
  void record(const char* op, const Var& out, std::function<void()> backward);

  // The gradient of v, allocated zero-filled on first use: from the pool of gradients
  // already consumed in this backward pass when one of the same size is free, else
  // from the arena.
  const Tensor& grad(const Var& v);

  // Seeds d(loss) = seed (loss must hold one element) and runs every recorded backward
  // in reverse order. Parameter gradients accumulate (+=) across calls, which is
  // gradient accumulation; call clear() before the next forward.
  // Once an op's backward has run, nothing reads its output's gradient again, so that
  // memory goes back to a pool and serves a later gradient of the same size: the
  // activation gradients of a 12-layer model then take about one layer's worth.
  // Intermediate outputs therefore have no gradient after backward; leaves keep theirs.
  void backward(const Var& loss, float seed = 1.0f);
  // The same from any output: d(out) = dout (same shape), e.g. for a vector-Jacobian product.
  void backward(const Var& out, const Tensor& dout);

  // Forgets the records and every activation; keeps the arena's memory.
  void clear();

  size_t num_records() const { return records_.size(); }
  Arena& arena() { return arena_; }

 private:
  struct Record {
    const char* op;
    Var out;
    std::function<void()> backward;
  };
  void release_grad(const Var& v);
  // Every recorded backward, newest first, recycling each consumed output gradient.
  void run_records();

  Arena arena_;
  std::vector<Record> records_;
  std::unordered_map<size_t, std::vector<Tensor>> free_grads_;  // by size in bytes
  bool grad_enabled_ = true;
};

// Disables recording for its lifetime (inference, evaluation).
class NoGrad {
 public:
  explicit NoGrad(Tape& tape) : tape_(tape), prev_(tape.grad_enabled()) {
    tape.set_grad_enabled(false);
  }
  ~NoGrad() { tape_.set_grad_enabled(prev_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  Tape& tape_;
  bool prev_;
};

}  // namespace ilm
