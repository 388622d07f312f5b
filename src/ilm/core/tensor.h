// Tensor: a contiguous row-major array of one DType over a shared Buffer.
// Copying a Tensor copies the handle, not the data (like torch.Tensor).
#pragma once

#include <memory>

#include "ilm/core/dtype.h"
#include "ilm/core/error.h"
#include "ilm/core/memory.h"
#include "ilm/core/shape.h"

namespace ilm {

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Buffer> buffer, size_t byte_offset, Shape shape, DType dtype);

  // New zero-filled tensor with its own buffer.
  static Tensor zeros(Shape shape, DType dtype = DType::f32);
  // New uninitialized tensor in `arena`; valid until the arena is reset.
  static Tensor in_arena(Arena& arena, Shape shape, DType dtype = DType::f32);
  // A tensor over memory someone else owns (keep_alive holds it).
  static Tensor wrap(void* data, Shape shape, DType dtype, std::shared_ptr<void> keep_alive = {});

  bool defined() const { return buffer_ != nullptr; }
  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  int64_t numel() const { return shape_.numel(); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }

  void* raw() const { return static_cast<char*>(buffer_->data()) + offset_; }
  template <typename T>
  T* data() const {
    ILM_CHECK(dtype_ == dtype_of<T>(), "tensor holds {}, not {}", dtype_name(dtype_),
              dtype_name(dtype_of<T>()));
    return static_cast<T*>(raw());
  }
  float* f32() const { return data<float>(); }

  // Same data, another shape with the same number of elements.
  Tensor view(Shape shape) const;
  // Rows [begin, end) of the first dimension, sharing data.
  Tensor slice(int64_t begin, int64_t end) const;
  // A new tensor with its own buffer and a copy of the data.
  Tensor clone() const;
  void zero_() const;
  void copy_from(const Tensor& src) const;  // same shape and dtype

 private:
  std::shared_ptr<Buffer> buffer_;
  size_t offset_ = 0;
  Shape shape_;
  DType dtype_ = DType::f32;
};

}  // namespace ilm
