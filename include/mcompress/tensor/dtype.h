#pragma once
// Element types. The numeric values are ONNX's TensorProto.DataType codes, so the onnx module
// converts without a table; everything else about a type is a row in dtype.cpp's table.
#include <cstdint>
#include <optional>
#include <string_view>

namespace mcompress {

enum class DType : int32_t {
  undefined = 0,
  f32 = 1,
  u8 = 2,
  i8 = 3,
  u16 = 4,
  i16 = 5,
  i32 = 6,
  i64 = 7,
  string = 8,
  boolean = 9,
  f16 = 10,
  f64 = 11,
  u32 = 12,
  u64 = 13,
  c64 = 14,
  c128 = 15,
  bf16 = 16,
  f8e4m3fn = 17,
  f8e4m3fnuz = 18,
  f8e5m2 = 19,
  f8e5m2fnuz = 20,
  u4 = 21,
  i4 = 22,
  f4e2m1 = 23,
};

struct DTypeInfo {
  DType dtype;
  std::string_view name;  // lower case, as the JSON report spells it: float32, int8, ...
  int bits;               // per element; 0 for string
  bool is_float;          // floating point (incl. complex): counts as a parameter
};

// Row for a dtype; nullptr for a code that is not a known ONNX type.
const DTypeInfo* dtype_info(int32_t code);
const DTypeInfo& dtype_info(DType dtype);
std::string_view dtype_name(DType dtype);
bool is_known_dtype(int32_t code);

// Bytes needed for numel elements (packed sub-byte types round up). nullopt on overflow.
std::optional<int64_t> storage_bytes(DType dtype, int64_t numel);

}  // namespace mcompress
