#include "mcompress/tensor/dtype.h"

#include <array>
#include <cassert>
#include <limits>

namespace mcompress {
namespace {

constexpr std::array<DTypeInfo, 24> kTable = {{
    {DType::undefined, "undefined", 0, false},
    {DType::f32, "float32", 32, true},
    {DType::u8, "uint8", 8, false},
    {DType::i8, "int8", 8, false},
    {DType::u16, "uint16", 16, false},
    {DType::i16, "int16", 16, false},
    {DType::i32, "int32", 32, false},
    {DType::i64, "int64", 64, false},
    {DType::string, "string", 0, false},
    {DType::boolean, "bool", 8, false},
    {DType::f16, "float16", 16, true},
    {DType::f64, "float64", 64, true},
    {DType::u32, "uint32", 32, false},
    {DType::u64, "uint64", 64, false},
    {DType::c64, "complex64", 64, true},
    {DType::c128, "complex128", 128, true},
    {DType::bf16, "bfloat16", 16, true},
    {DType::f8e4m3fn, "float8e4m3fn", 8, true},
    {DType::f8e4m3fnuz, "float8e4m3fnuz", 8, true},
    {DType::f8e5m2, "float8e5m2", 8, true},
    {DType::f8e5m2fnuz, "float8e5m2fnuz", 8, true},
    {DType::u4, "uint4", 4, false},
    {DType::i4, "int4", 4, false},
    {DType::f4e2m1, "float4e2m1", 4, true},
}};

}  // namespace

const DTypeInfo* dtype_info(int32_t code) {
  if (code <= 0 || code >= static_cast<int32_t>(kTable.size())) return nullptr;
  assert(static_cast<int32_t>(kTable[code].dtype) == code && "table rows follow the ONNX codes");
  return &kTable[code];
}

const DTypeInfo& dtype_info(DType dtype) {
  const DTypeInfo* info = dtype_info(static_cast<int32_t>(dtype));
  return info ? *info : kTable[0];
}

std::string_view dtype_name(DType dtype) { return dtype_info(dtype).name; }

bool is_known_dtype(int32_t code) { return dtype_info(code) != nullptr; }

std::optional<int64_t> storage_bytes(DType dtype, int64_t numel) {
  if (numel < 0) return std::nullopt;
  int bits = dtype_info(dtype).bits;
  if (bits == 0) return 0;
  if (numel > std::numeric_limits<int64_t>::max() / bits) return std::nullopt;
  return (numel * bits + 7) / 8;
}

}  // namespace mcompress
