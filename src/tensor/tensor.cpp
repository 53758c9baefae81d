#include "mcompress/tensor/tensor.h"

#include <complex>
#include <limits>

#include "mcompress/support/error.h"

namespace mcompress {

int64_t checked_numel(const Shape& shape, std::string_view what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw_bad_input("{}: negative dimension {} in shape {}", what, d, shape_string(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw_bad_input("{}: shape {} has more elements than fit in 64 bits", what, shape_string(shape));
    n *= d;
  }
  return n;
}

std::string shape_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(std::move(shape)) {
  numel_ = checked_numel(shape_, "tensor");
  if (dtype_ == DType::string) {
    strings_.resize(static_cast<size_t>(numel_));
    return;
  }
  auto bytes = storage_bytes(dtype_, numel_);
  if (!bytes) throw_bad_input("tensor of shape {} is too large", shape_string(shape_));
  bytes_.resize(static_cast<size_t>(*bytes));
}

Tensor Tensor::from_bytes(DType dtype, Shape shape, std::string bytes) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = checked_numel(t.shape_, "tensor");
  auto expected = storage_bytes(dtype, t.numel_);
  if (!expected || *expected != static_cast<int64_t>(bytes.size()))
    throw_bad_input("tensor of shape {} {} needs {} bytes, got {}", dtype_name(dtype), shape_string(t.shape_),
                    expected.value_or(-1), bytes.size());
  t.bytes_ = std::move(bytes);
  return t;
}

Tensor Tensor::from_strings(Shape shape, std::vector<std::string> strings) {
  Tensor t;
  t.dtype_ = DType::string;
  t.shape_ = std::move(shape);
  t.numel_ = checked_numel(t.shape_, "tensor");
  if (t.numel_ != static_cast<int64_t>(strings.size()))
    throw_bad_input("string tensor of shape {} needs {} strings, got {}", shape_string(t.shape_), t.numel_,
                    strings.size());
  t.strings_ = std::move(strings);
  return t;
}

void Tensor::reshape(Shape shape) {
  int64_t n = checked_numel(shape, "reshape");
  if (n != numel_)
    throw_bad_input("cannot reshape {} elements to {}", numel_, shape_string(shape));
  shape_ = std::move(shape);
}

int8_t get_int4(const Tensor& t, int64_t i) {
  uint8_t byte = static_cast<uint8_t>(t.storage()[static_cast<size_t>(i / 2)]);
  uint8_t nibble = (i % 2 == 0) ? (byte & 0x0F) : (byte >> 4);
  return static_cast<int8_t>(nibble >= 8 ? static_cast<int>(nibble) - 16 : nibble);
}

uint8_t get_uint4(const Tensor& t, int64_t i) {
  uint8_t byte = static_cast<uint8_t>(t.storage()[static_cast<size_t>(i / 2)]);
  return (i % 2 == 0) ? (byte & 0x0F) : (byte >> 4);
}

void set_nibble(Tensor& t, int64_t i, uint8_t nibble) {
  auto& byte = reinterpret_cast<uint8_t&>(t.storage()[static_cast<size_t>(i / 2)]);
  nibble &= 0x0F;
  byte = (i % 2 == 0) ? static_cast<uint8_t>((byte & 0xF0) | nibble) : static_cast<uint8_t>((byte & 0x0F) | (nibble << 4));
}

double element_as_double(const Tensor& t, int64_t i) {
  assert(i >= 0 && i < t.numel());
  const char* p = t.storage().data();
  auto load = [&](auto tag) {
    decltype(tag) v;
    std::memcpy(&v, p + i * static_cast<int64_t>(sizeof(v)), sizeof(v));
    return v;
  };
  switch (t.dtype()) {
    case DType::f32: return load(float{});
    case DType::f64: return load(double{});
    case DType::f16: return static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(load(uint16_t{})));
    case DType::bf16: return static_cast<float>(Eigen::numext::bit_cast<Eigen::bfloat16>(load(uint16_t{})));
    case DType::i8: return load(int8_t{});
    case DType::u8: return load(uint8_t{});
    case DType::i16: return load(int16_t{});
    case DType::u16: return load(uint16_t{});
    case DType::i32: return load(int32_t{});
    case DType::u32: return load(uint32_t{});
    case DType::i64: return static_cast<double>(load(int64_t{}));
    case DType::u64: return static_cast<double>(load(uint64_t{}));
    case DType::boolean: return load(uint8_t{}) != 0;
    case DType::i4: return get_int4(t, i);
    case DType::u4: return get_uint4(t, i);
    default: throw_unsupported("element of {} tensor cannot be read as a number", dtype_name(t.dtype()));
  }
}

}  // namespace mcompress
