#include "ilm/core/shape.h"

#include "ilm/core/error.h"

namespace ilm {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(const std::vector<int64_t>& dims) {
  ILM_CHECK(dims.size() <= size_t(kMaxDims), "shape has {} dimensions; at most {} are supported",
            dims.size(), kMaxDims);
  for (size_t i = 0; i < dims.size(); ++i) {
    ILM_CHECK(dims[i] >= 0, "shape dimension {} is negative ({})", i, dims[i]);
    dims_[i] = dims[i];
  }
  ndim_ = int(dims.size());
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= dims_[size_t(i)];
  return n;
}

std::string Shape::to_string() const {
  std::string s = "[";
  for (int i = 0; i < ndim_; ++i) s += (i ? ", " : "") + std::to_string(dims_[size_t(i)]);
  return s + "]";
}

bool Shape::operator==(const Shape& o) const {
  if (ndim_ != o.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (dims_[size_t(i)] != o.dims_[size_t(i)]) return false;
  return true;
}

}  // namespace ilm
