// Shape: the sizes of a contiguous row-major tensor, at most 8 dimensions.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace ilm {

class Shape {
 public:
  static constexpr int kMaxDims = 8;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);

  int ndim() const { return ndim_; }
  int64_t operator[](int i) const { return dims_[size_t(i < 0 ? i + ndim_ : i)]; }
  int64_t numel() const;
  // The last dimension, and the product of all the others (rows of a 2-D view).
  int64_t last() const { return ndim_ ? dims_[size_t(ndim_ - 1)] : 1; }
  int64_t rows() const { return ndim_ ? numel() / last() : 1; }
  std::vector<int64_t> to_vector() const { return {dims_.begin(), dims_.begin() + ndim_}; }
  std::string to_string() const;  // "[4, 256, 768]"

  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

}  // namespace ilm
