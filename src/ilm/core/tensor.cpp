#include "ilm/core/tensor.h"

#include <cstring>

namespace ilm {

Tensor::Tensor(std::shared_ptr<Buffer> buffer, size_t byte_offset, Shape shape, DType dtype)
    : buffer_(std::move(buffer)), offset_(byte_offset), shape_(shape), dtype_(dtype) {}

Tensor Tensor::zeros(Shape shape, DType dtype) {
  auto buf = std::make_shared<Buffer>(size_t(shape.numel()) * dtype_size(dtype));
  return Tensor(std::move(buf), 0, shape, dtype);
}

Tensor Tensor::in_arena(Arena& arena, Shape shape, DType dtype) {
  size_t bytes = size_t(shape.numel()) * dtype_size(dtype);
  return wrap(arena.alloc(bytes), shape, dtype);
}

Tensor Tensor::wrap(void* data, Shape shape, DType dtype, std::shared_ptr<void> keep_alive) {
  size_t bytes = size_t(shape.numel()) * dtype_size(dtype);
  return Tensor(std::make_shared<Buffer>(data, bytes, std::move(keep_alive)), 0, shape, dtype);
}

Tensor Tensor::view(Shape shape) const {
  ILM_CHECK(shape.numel() == numel(), "cannot view a tensor of shape {} as {}", shape_.to_string(),
            shape.to_string());
  return Tensor(buffer_, offset_, shape, dtype_);
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  ILM_CHECK(shape_.ndim() >= 1 && 0 <= begin && begin <= end && end <= shape_[0],
            "slice [{}, {}) is out of range for shape {}", begin, end, shape_.to_string());
  std::vector<int64_t> dims = shape_.to_vector();
  int64_t row = numel() / (dims[0] ? dims[0] : 1);
  dims[0] = end - begin;
  return Tensor(buffer_, offset_ + size_t(begin * row) * dtype_size(dtype_), Shape(dims), dtype_);
}

Tensor Tensor::clone() const {
  Tensor t = zeros(shape_, dtype_);
  std::memcpy(t.raw(), raw(), nbytes());
  return t;
}

void Tensor::zero_() const { std::memset(raw(), 0, nbytes()); }

void Tensor::copy_from(const Tensor& src) const {
  ILM_CHECK(src.shape() == shape_ && src.dtype() == dtype_,
            "copy from {} {} into {} {}", dtype_name(src.dtype()), src.shape().to_string(),
            dtype_name(dtype_), shape_.to_string());
  std::memcpy(raw(), src.raw(), nbytes());
}

}  // namespace ilm
