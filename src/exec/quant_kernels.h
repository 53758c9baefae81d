#pragma once
// Private helpers shared by the quantized kernels (quant_ops.cpp: the ONNX ops and MatMulNBits;
// contrib_quant_ops.cpp: ONNX Runtime's com.microsoft QOperator ops): quantized element types,
// saturation and rounding, and the exact integer matrix product.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels.h"

namespace mcompress::exec::quant {

// ---- quantized element types -------------------------------------------------------------

// Saturation range of each quantized dtype; a dtype missing here is not a quantized type we handle
// (float8 types included: they would need the `saturate` attribute and their own rounding).
struct QuantType {
  DType dtype;
  int32_t lo;
  int32_t hi;
};

constexpr QuantType kQuantTypes[] = {
    {DType::u8, 0, 255},
    {DType::i8, -128, 127},
    {DType::u16, 0, 65535},
    {DType::i16, -32768, 32767},
    {DType::u4, 0, 15},
    {DType::i4, -8, 7},
    {DType::i32, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()},
};

inline const QuantType& quant_type(const OpContext& ctx, DType dtype) {
  for (const QuantType& q : kQuantTypes)
    if (q.dtype == dtype) return q;
  ctx.unsupported("quantized type " + std::string(dtype_name(dtype)) + " is not supported");
}

// Calls f(T{}) with T the C++ type of a quantized dtype stored one element per value (8, 16 and
// 32 bits; 4-bit types are packed and each caller handles them itself); other dtypes fail naming
// the node.
template <typename F>
void dispatch_quantized(const OpContext& ctx, DType dtype, F&& f) {
  switch (dtype) {
    case DType::u8: f(uint8_t{}); return;
    case DType::i8: f(int8_t{}); return;
    case DType::u16: f(uint16_t{}); return;
    case DType::i16: f(int16_t{}); return;
    case DType::i32: f(int32_t{}); return;
    default: ctx.unsupported("quantized type " + std::string(dtype_name(dtype)) + " is not supported");
  }
}

// Calls f(p) with p a typed pointer to the tensor's integer values; 4-bit types are unpacked
// first (into int8_t / uint8_t) so every caller sees one element per value.
template <typename F>
void visit_quantized(const OpContext& ctx, const Tensor& t, F&& f) {
  if (t.dtype() == DType::u4) {
    std::vector<uint8_t> v(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = get_uint4(t, i);
    f(static_cast<const uint8_t*>(v.data()));
    return;
  }
  if (t.dtype() == DType::i4) {
    std::vector<int8_t> v(static_cast<size_t>(t.numel()));
    for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = get_int4(t, i);
    f(static_cast<const int8_t*>(v.data()));
    return;
  }
  dispatch_quantized(ctx, t.dtype(), [&](auto zero) { f(t.data<decltype(zero)>()); });
}

inline std::vector<int32_t> widen(const OpContext& ctx, const Tensor& t) {
  std::vector<int32_t> v(static_cast<size_t>(t.numel()));
  visit_quantized(ctx, t, [&](const auto* p) {
    for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = static_cast<int32_t>(p[i]);
  });
  return v;
}

// A quantized tensor of `dtype` whose elements `fill(dst)` writes, already saturated to the
// dtype's range; 4-bit types are filled unpacked (one int8_t per value), then packed low nibble
// first.
template <typename F>
Tensor make_quantized(const OpContext& ctx, DType dtype, const Shape& shape, F&& fill) {
  Tensor out(dtype, shape);
  if (dtype == DType::u4 || dtype == DType::i4) {
    std::vector<int8_t> v(static_cast<size_t>(out.numel()));
    fill(v.data());
    auto* bytes = reinterpret_cast<uint8_t*>(out.storage().data());
    for (int64_t i = 0; i < out.numel(); ++i) {
      auto nibble = static_cast<uint8_t>(v[static_cast<size_t>(i)] & 0x0F);
      bytes[i / 2] = static_cast<uint8_t>(i % 2 == 0 ? nibble : bytes[i / 2] | (nibble << 4));
    }
    return out;
  }
  dispatch_quantized(ctx, dtype, [&](auto zero) { fill(out.data<decltype(zero)>()); });
  return out;
}

// The range of a quantized output type as floats; int32 is an input-only type (its range is not
// exact in float, and no op here produces it by rounding).
struct Saturation {
  float lo, hi;
};

inline Saturation output_range(const OpContext& ctx, DType dtype) {
  const QuantType& q = quant_type(ctx, dtype);
  if (dtype == DType::i32) ctx.unsupported("int32 is not supported as a quantized output type");
  return {static_cast<float>(q.lo), static_cast<float>(q.hi)};
}

// round-half-to-even(v) + zero_point, saturated. Exact in float: the zero point and the bounds are
// small integers, and a rounded value too large for exact addition saturates anyway. NaN goes to
// the bottom of the range, as in ONNX Runtime (and a NaN cast to an integer would be undefined).
inline int32_t saturate_round(float v, float zero_point, Saturation sat) {
  float r = std::nearbyint(v) + zero_point;
  return static_cast<int32_t>(std::min(sat.hi, std::max(sat.lo, r)));
}

// Float values of a float tensor: f32 in place, f16/bf16/f64 converted.
struct FloatValues {
  std::vector<float> converted;
  const float* data = nullptr;
};

FloatValues float_values(const OpContext& ctx, const Tensor& t);

// A float32 tensor converted to `dtype` (f32, f16, bf16).
Tensor convert_float(const OpContext& ctx, Tensor t, DType dtype);

// numpy.matmul shapes: 1-D operands get a dimension prepended (A) or appended (B) that the output
// drops; batch dimensions broadcast.
struct MatMulShape {
  int64_t M = 1, K = 1, N = 1;
  Shape out;
  std::vector<int64_t> a_offsets, b_offsets;  // per output batch, element offset of its matrices
};

MatMulShape matmul_shape(const OpContext& ctx, const Shape& a, const Shape& b);

// Refuses (unsupported) a tensor that is not int8/uint8, naming it.
void check_8bit(const OpContext& ctx, const Tensor& t, const char* name);

// Exact int32 (A - a_zero_point) @ (B - b_zero_point), numpy.matmul shapes; 8-bit operands. A 1-D
// zero point is per row of A ([M]) or per column of B ([N]).
Tensor matmul_int32(OpContext& ctx, const Tensor& a, const Tensor* a_zero_point, const Tensor& b,
                    const Tensor* b_zero_point);

// The single value of a one-element scale tensor; fails naming `name` otherwise.
float scalar_scale(const OpContext& ctx, const Tensor& t, const char* name);

// The value of a one-element zero point (0 when absent).
int32_t scalar_zero_point(const OpContext& ctx, const Tensor* t);

// DynamicQuantizeLinear's uint8 quantization of a float32 tensor: the range widened to include 0,
// as the spec and ONNX Runtime do; an all-zero input gets scale 1 (ONNX Runtime's choice) instead
// of dividing by zero.
struct DynamicQuantized {
  Tensor q;
  float scale = 1.f;
  uint8_t zero_point = 0;
};

DynamicQuantized dynamic_quantize_u8(OpContext& ctx, const Tensor& x);

// A QLinear op's output type: its zero point's, uint8 without one.
DType qlinear_output_dtype(const Tensor* y_zero_point);

}  // namespace mcompress::exec::quant
