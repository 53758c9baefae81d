#pragma once
// Tensor: owning, contiguous, row-major. Bytes live in a std::string so that the onnx module can
// swap them with protobuf's raw_data without a copy (a 537 MB model must not be held twice).
#include <Eigen/Core>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "mcompress/tensor/dtype.h"

namespace mcompress {

using Shape = std::vector<int64_t>;

// Element count of a shape; throws a bad-input error (naming `what`) for negative dims or overflow.
int64_t checked_numel(const Shape& shape, std::string_view what);
std::string shape_string(const Shape& shape);  // "[2x3x4]"

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor.
  Tensor(DType dtype, Shape shape);
  // Takes ownership of `bytes`; they must be exactly storage_bytes(dtype, numel).
  static Tensor from_bytes(DType dtype, Shape shape, std::string bytes);
  static Tensor from_strings(Shape shape, std::vector<std::string> strings);
  template <typename T>
  static Tensor from_values(DType dtype, Shape shape, std::span<const T> values) {
    Tensor t(dtype, std::move(shape));
    assert(static_cast<size_t>(t.numel()) == values.size() && sizeof(T) * 8 == static_cast<size_t>(dtype_info(dtype).bits));
    if (!values.empty()) std::memcpy(t.bytes_.data(), values.data(), values.size_bytes());
    return t;
  }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const { return numel_; }
  // Bytes of storage (0 for strings: see strings()).
  int64_t nbytes() const { return static_cast<int64_t>(bytes_.size()); }
  bool empty() const { return dtype_ == DType::undefined; }

  // Same elements, another shape (element counts must match).
  void reshape(Shape shape);

  std::string& storage() { return bytes_; }
  const std::string& storage() const { return bytes_; }
  std::vector<std::string>& strings() { return strings_; }
  const std::vector<std::string>& strings() const { return strings_; }

  template <typename T>
  T* data() {
    assert(sizeof(T) * 8 == static_cast<size_t>(dtype_info(dtype_).bits) && "element size mismatch");
    return reinterpret_cast<T*>(bytes_.data());
  }
  template <typename T>
  const T* data() const {
    assert(sizeof(T) * 8 == static_cast<size_t>(dtype_info(dtype_).bits) && "element size mismatch");
    return reinterpret_cast<const T*>(bytes_.data());
  }

  // Eigen views over the storage (no copy). matrix() views the tensor as rows x (numel/rows).
  template <typename T>
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, 1>> vector() {
    return {data<T>(), numel_};
  }
  template <typename T>
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> matrix(int64_t rows) {
    assert(rows > 0 && numel_ % rows == 0);
    return {data<T>(), rows, numel_ / rows};
  }

  bool operator==(const Tensor& other) const {
    return dtype_ == other.dtype_ && shape_ == other.shape_ && bytes_ == other.bytes_ && strings_ == other.strings_;
  }

 private:
  DType dtype_ = DType::undefined;
  Shape shape_;
  int64_t numel_ = 0;
  std::string bytes_;
  std::vector<std::string> strings_;
};

// Packed 4-bit access: element i of an i4/u4 tensor (low nibble first, as ONNX packs them).
int8_t get_int4(const Tensor& t, int64_t i);
uint8_t get_uint4(const Tensor& t, int64_t i);
void set_nibble(Tensor& t, int64_t i, uint8_t nibble);

// Element i as double, for any numeric dtype (f16/bf16 included). Slow path for reports and tests.
double element_as_double(const Tensor& t, int64_t i);

}  // namespace mcompress
