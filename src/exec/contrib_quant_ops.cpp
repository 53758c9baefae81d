// ONNX Runtime's com.microsoft QOperator ops, as `mcompress quantize --format qoperator` and ONNX
// Runtime's quantizer emit them:
//   MatMulIntegerToFloat  Y = (A - a_zp) @ (B - b_zp) * a_scale * b_scale (+ bias), float
//   QGemm                 Y = alpha * a_scale * b_scale * ((A - a_zp) @ (B - b_zp) + C), float
//                         without y_scale, else quantized with y_scale / y_zero_point
//   DynamicQuantizeMatMul A quantized to uint8 as DynamicQuantizeLinear does, then as
//                         MatMulIntegerToFloat
//   QLinearAdd / QLinearMul  element-wise with broadcasting, per-tensor scales and zero points
//   QLinearSigmoid / QLinearLeakyRelu  through a table of the 256 input codes
//   QLinearGlobalAveragePool  NCHW or (channels_last) NHWC
//   QLinearConcat  each input requantized to the output's scale and zero point
//   QLinearAveragePool  exact integer window sums, scaled once (NCHW only)
// B's scale and zero point may be per column ([N]); A's are per tensor. The integer products are
// the exact ones of quant_ops.cpp (quant::matmul_int32); requantization multiplies in float and
// rounds half to even, as ONNX Runtime does.
#include <algorithm>
#include <array>
#include <cmath>

#include "nn_kernels.h"
#include "quant_kernels.h"

namespace mcompress::exec {
namespace {

using namespace quant;

// An 8-bit [rows, cols] matrix transposed (QGemm's transA / transB).
Tensor transpose_8bit(const OpContext& ctx, const Tensor& t, const char* name) {
  check_8bit(ctx, t, name);
  if (t.rank() != 2) ctx.fail(std::string(name) + " must be 2-D, got " + shape_string(t.shape()));
  int64_t rows = t.shape()[0], cols = t.shape()[1];
  Tensor out(t.dtype(), {cols, rows});
  const auto* src = reinterpret_cast<const uint8_t*>(t.storage().data());
  auto* dst = reinterpret_cast<uint8_t*>(out.storage().data());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
  return out;
}

// Scale per output column: one value for all, or one per column of B ([N]).
struct ColumnScales {
  FloatValues values;
  bool per_column = false;
  float operator[](int64_t n) const { return values.data[per_column ? n : 0]; }
};

ColumnScales column_scales(const OpContext& ctx, const Tensor& scale, int64_t N, const char* name) {
  if (scale.numel() != 1 && scale.numel() != N)
    ctx.fail(std::string(name) + " must be a scalar or have one value per column of B (" + std::to_string(N) +
             "), got " + shape_string(scale.shape()));
  return {float_values(ctx, scale), scale.numel() != 1};
}

// Y = acc * (a_scale * b_scale[n]) (+ bias[n]) in float, typed like the scales.
void emit_float_product(OpContext& ctx, const Tensor& acc, float a_scale, const ColumnScales& b_scale,
                        const Tensor* bias, DType out_dtype) {
  int64_t N = acc.rank() == 0 ? 1 : acc.shape().back();
  FloatValues b;
  if (bias) {
    if (bias->numel() != N) ctx.fail("bias must have one value per column of B (" + std::to_string(N) + ")");
    b = float_values(ctx, *bias);
  }
  Tensor out(DType::f32, acc.shape());
  const int32_t* pa = acc.data<int32_t>();
  float* po = out.data<float>();
  ctx.pool().parallel_for(acc.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      int64_t n = i % N;
      po[i] = static_cast<float>(pa[i]) * (a_scale * b_scale[n]) + (b.data ? b.data[n] : 0.f);
    }
  });
  ctx.out(0) = convert_float(ctx, std::move(out), out_dtype);
}

// ---- MatMulIntegerToFloat / DynamicQuantizeMatMul -----------------------------------------

// inputs: A, B, a_scale, b_scale, a_zero_point?, b_zero_point?, bias?
void matmul_integer_to_float(OpContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  Tensor acc = matmul_int32(ctx, a, ctx.input(4), b, ctx.input(5));
  int64_t N = b.rank() == 1 ? 1 : b.shape().back();
  float a_scale = scalar_scale(ctx, ctx.in(2), "a_scale");
  emit_float_product(ctx, acc, a_scale, column_scales(ctx, ctx.in(3), N, "b_scale"), ctx.input(6),
                     ctx.in(2).dtype());
}

// inputs: A (float), B, b_scale, b_zero_point?, bias?. A is quantized to uint8 over its whole
// range widened to include 0, as DynamicQuantizeLinear does.
void dynamic_quantize_matmul(OpContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  DynamicQuantized qa = dynamic_quantize_u8(ctx, a);
  Tensor a_zp = Tensor::from_values<uint8_t>(DType::u8, {}, std::span<const uint8_t>(&qa.zero_point, 1));
  Tensor acc = matmul_int32(ctx, qa.q, &a_zp, b, ctx.input(3));
  int64_t N = b.rank() == 1 ? 1 : b.shape().back();
  emit_float_product(ctx, acc, qa.scale, column_scales(ctx, ctx.in(2), N, "b_scale"), ctx.input(4), DType::f32);
}

// ---- QGemm ----------------------------------------------------------------------------------

// inputs: A, a_scale, a_zero_point, B, b_scale, b_zero_point, C?, y_scale?, y_zero_point?
// attributes: transA, transB, alpha. C is int32, broadcast to [M, N], in the product's scale.
void qgemm(OpContext& ctx) {
  const Tensor& a_in = ctx.in(0);
  const Tensor& b_in = ctx.in(3);
  Tensor a = ctx.attr_int("transA", 0) ? transpose_8bit(ctx, a_in, "A") : Tensor();
  Tensor b = ctx.attr_int("transB", 0) ? transpose_8bit(ctx, b_in, "B") : Tensor();
  const Tensor& A = ctx.attr_int("transA", 0) ? a : a_in;
  const Tensor& B = ctx.attr_int("transB", 0) ? b : b_in;
  if (A.rank() != 2 || B.rank() != 2)
    ctx.fail("A and B must be 2-D, got " + shape_string(A.shape()) + " and " + shape_string(B.shape()));
  Tensor acc = matmul_int32(ctx, A, ctx.input(2), B, ctx.input(5));
  int64_t M = acc.shape()[0], N = acc.shape()[1];
  if (const Tensor* c = ctx.input(6)) {
    if (c->dtype() != DType::i32) ctx.fail("C must be int32, got " + std::string(dtype_name(c->dtype())));
    Shape mn = {M, N};
    if (broadcast_shapes(ctx, {&c->shape(), &mn}) != mn)
      ctx.fail("C of shape " + shape_string(c->shape()) + " does not broadcast to " + shape_string(mn));
    std::array<std::vector<int64_t>, 1> strides = {broadcast_strides(c->shape(), mn)};
    const int32_t* pc = c->data<int32_t>();
    int32_t* pa = acc.data<int32_t>();
    for_each_broadcast<1>(mn, strides, [&](int64_t i, const std::array<int64_t, 1>& o) { pa[i] += pc[o[0]]; });
  }
  float alpha = ctx.attr_float("alpha", 1.f);
  float a_scale = scalar_scale(ctx, ctx.in(1), "a_scale");
  ColumnScales b_scale = column_scales(ctx, ctx.in(4), N, "b_scale");
  const Tensor* y_scale_t = ctx.input(7);
  if (!y_scale_t) {
    FloatValues scaled;
    scaled.converted.resize(static_cast<size_t>(b_scale.per_column ? N : 1));
    for (size_t n = 0; n < scaled.converted.size(); ++n)
      scaled.converted[n] = alpha * b_scale[static_cast<int64_t>(n)];
    scaled.data = scaled.converted.data();
    emit_float_product(ctx, acc, a_scale, {std::move(scaled), b_scale.per_column}, nullptr, DType::f32);
    return;
  }
  float y_scale = scalar_scale(ctx, *y_scale_t, "y_scale");
  const Tensor* y_zp = ctx.input(8);
  DType out_dtype = qlinear_output_dtype(y_zp);
  Saturation sat = output_range(ctx, out_dtype);
  auto zero_point = static_cast<float>(scalar_zero_point(ctx, y_zp));
  std::vector<float> multiplier(static_cast<size_t>(N));
  for (int64_t n = 0; n < N; ++n) multiplier[static_cast<size_t>(n)] = alpha * a_scale * b_scale[n] / y_scale;
  const int32_t* pa = acc.data<int32_t>();
  ctx.out(0) = make_quantized(ctx, out_dtype, acc.shape(), [&](auto* dst) {
    using Q = std::remove_pointer_t<decltype(dst)>;
    for (int64_t i = 0; i < acc.numel(); ++i)
      dst[i] = static_cast<Q>(
          saturate_round(static_cast<float>(pa[i]) * multiplier[static_cast<size_t>(i % N)], zero_point, sat));
  });
}

// ---- per-tensor element-wise ops ------------------------------------------------------------

// A per-tensor (scale, zero point) pair from inputs `scale_at` and `scale_at + 1` (zero point
// optional: 0 of `dtype`).
struct TensorQuant {
  float scale = 1.f;
  int32_t zero_point = 0;
  DType dtype = DType::u8;
};

TensorQuant tensor_quant(const OpContext& ctx, size_t scale_at, DType dtype, const char* name) {
  const Tensor* zp = ctx.input(scale_at + 1);
  if (zp && zp->dtype() != dtype)
    ctx.fail(std::string(name) + " zero point type " + std::string(dtype_name(zp->dtype())) + " differs from " +
             std::string(dtype_name(dtype)));
  return {scalar_scale(ctx, ctx.in(scale_at), name), scalar_zero_point(ctx, zp), dtype};
}

// Y[i] = saturate(round(f(x_a, x_b)) + y_zero_point), x the inputs' codes minus their zero points.
template <typename F>
void qlinear_binary(OpContext& ctx, F&& f) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(3);
  check_8bit(ctx, a, "A");
  check_8bit(ctx, b, "B");
  TensorQuant qa = tensor_quant(ctx, 1, a.dtype(), "A_scale");
  TensorQuant qb = tensor_quant(ctx, 4, b.dtype(), "B_scale");
  TensorQuant qc = tensor_quant(ctx, 6, a.dtype(), "C_scale");
  Shape out_shape = broadcast_shapes(ctx, {&a.shape(), &b.shape()});
  std::array<std::vector<int64_t>, 2> strides = {broadcast_strides(a.shape(), out_shape),
                                                 broadcast_strides(b.shape(), out_shape)};
  std::vector<int32_t> va = widen(ctx, a), vb = widen(ctx, b);
  Saturation sat = output_range(ctx, a.dtype());
  auto zc = static_cast<float>(qc.zero_point);
  ctx.out(0) = make_quantized(ctx, a.dtype(), out_shape, [&](auto* dst) {
    using Q = std::remove_pointer_t<decltype(dst)>;
    for_each_broadcast<2>(out_shape, strides, [&](int64_t i, const std::array<int64_t, 2>& o) {
      auto xa = static_cast<float>(va[static_cast<size_t>(o[0])] - qa.zero_point);
      auto xb = static_cast<float>(vb[static_cast<size_t>(o[1])] - qb.zero_point);
      dst[i] = static_cast<Q>(saturate_round(f(xa, xb, qa.scale, qb.scale, qc.scale), zc, sat));
    });
  });
}

// inputs: A, A_scale, A_zero_point?, B, B_scale, B_zero_point?, C_scale, C_zero_point?
void qlinear_add(OpContext& ctx) {
  qlinear_binary(ctx, [](float xa, float xb, float sa, float sb, float sc) { return sa / sc * xa + sb / sc * xb; });
}

void qlinear_mul(OpContext& ctx) {
  qlinear_binary(ctx, [](float xa, float xb, float sa, float sb, float sc) { return xa * xb * (sa * sb / sc); });
}

// Output code of each of the 256 input codes of `dtype`: quantize(f(dequantize(code))).
using CodeTable = std::array<int32_t, 256>;

template <typename F>
CodeTable code_table(const OpContext& ctx, DType dtype, const TensorQuant& qx, const TensorQuant& qy, F&& f) {
  Saturation sat = output_range(ctx, dtype);
  int32_t lo = quant_type(ctx, dtype).lo;
  CodeTable table{};
  for (int32_t code = lo; code < lo + 256; ++code) {
    float v = f(static_cast<float>(code - qx.zero_point) * qx.scale);
    table[static_cast<size_t>(code - lo)] = saturate_round(v / qy.scale, static_cast<float>(qy.zero_point), sat);
  }
  return table;
}

// inputs: X, X_scale, X_zero_point?, Y_scale, Y_zero_point?. Every output code is looked up in
// the code table of f.
template <typename F>
void qlinear_unary(OpContext& ctx, F&& f) {
  const Tensor& x = ctx.in(0);
  check_8bit(ctx, x, "X");
  TensorQuant qx = tensor_quant(ctx, 1, x.dtype(), "X_scale");
  TensorQuant qy = tensor_quant(ctx, 3, x.dtype(), "Y_scale");
  CodeTable table = code_table(ctx, x.dtype(), qx, qy, f);
  int32_t lo = quant_type(ctx, x.dtype()).lo;
  std::vector<int32_t> codes = widen(ctx, x);
  ctx.out(0) = make_quantized(ctx, x.dtype(), x.shape(), [&](auto* dst) {
    using Q = std::remove_pointer_t<decltype(dst)>;
    for (size_t i = 0; i < codes.size(); ++i) dst[i] = static_cast<Q>(table[static_cast<size_t>(codes[i] - lo)]);
  });
}

void qlinear_sigmoid(OpContext& ctx) {
  qlinear_unary(ctx, [](float v) { return 1.f / (1.f + std::exp(-v)); });
}

void qlinear_leaky_relu(OpContext& ctx) {
  float alpha = ctx.attr_float("alpha", 0.01f);
  qlinear_unary(ctx, [alpha](float v) { return v >= 0 ? v : alpha * v; });
}

// inputs: X, x_scale, x_zero_point, y_scale, y_zero_point. Y [N, C, 1, ...] (or [N, 1, ..., C] with
// channels_last) = quantize(mean of dequantized X over the spatial dimensions): the integer sum
// minus size * x_zero_point, times x_scale / size / y_scale (ONNX Runtime's order).
void qlinear_global_average_pool(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  check_8bit(ctx, x, "X");
  if (x.rank() < 3) ctx.fail("X must be [N, C, spatial...], got " + shape_string(x.shape()));
  bool channels_last = ctx.attr_int("channels_last", 0) != 0;
  TensorQuant qx = tensor_quant(ctx, 1, x.dtype(), "x_scale");
  TensorQuant qy = tensor_quant(ctx, 3, x.dtype(), "y_scale");
  int64_t N = x.shape()[0];
  int64_t C = channels_last ? x.shape().back() : x.shape()[1];
  int64_t size = x.numel() / std::max<int64_t>(1, N * C);
  Shape out_shape(x.shape().size(), 1);
  out_shape[0] = N;
  out_shape[channels_last ? out_shape.size() - 1 : 1] = C;
  std::vector<int32_t> codes = widen(ctx, x);
  Saturation sat = output_range(ctx, x.dtype());
  float multiplier = qx.scale / static_cast<float>(size) / qy.scale;
  ctx.out(0) = make_quantized(ctx, x.dtype(), out_shape, [&](auto* dst) {
    using Q = std::remove_pointer_t<decltype(dst)>;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) {
        int64_t sum = 0;
        for (int64_t s = 0; s < size; ++s)
          sum += codes[static_cast<size_t>(channels_last ? (n * size + s) * C + c : (n * C + c) * size + s)];
        sum -= size * qx.zero_point;
        dst[n * C + c] = static_cast<Q>(
            saturate_round(static_cast<float>(sum) * multiplier, static_cast<float>(qy.zero_point), sat));
      }
  });
}

// inputs: Y_scale, Y_zero_point, then (X, X_scale, X_zero_point) per input; attribute axis. Each
// input is requantized to Y's scale and zero point through its code table, then concatenated.
void qlinear_concat(OpContext& ctx) {
  if (ctx.num_inputs() < 5 || (ctx.num_inputs() - 2) % 3 != 0)
    ctx.fail("expects Y_scale, Y_zero_point and (X, X_scale, X_zero_point) triples, got " +
             std::to_string(ctx.num_inputs()) + " inputs");
  const Tensor& y_zp = ctx.in(1);
  check_8bit(ctx, y_zp, "Y_zero_point");  // the code tables hold 256 codes
  DType dtype = y_zp.dtype();
  TensorQuant qy = tensor_quant(ctx, 0, dtype, "Y_scale");
  size_t count = (ctx.num_inputs() - 2) / 3;
  const Tensor& first = ctx.in(2);
  int64_t rank = first.rank();
  if (rank == 0) ctx.fail("cannot concatenate scalars");
  int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 0), rank);
  Shape out_shape = first.shape();
  out_shape[axis] = 0;
  std::vector<std::vector<int32_t>> parts(count);
  int32_t lo = quant_type(ctx, dtype).lo;
  for (size_t i = 0; i < count; ++i) {
    const Tensor& x = ctx.in(2 + 3 * i);
    if (x.dtype() != dtype)
      ctx.fail("input " + std::to_string(i) + " has type " + std::string(dtype_name(x.dtype())) + ", Y has " +
               std::string(dtype_name(dtype)));
    Shape expect = out_shape;
    expect[axis] = x.rank() == rank ? x.shape()[axis] : -1;
    if (x.shape() != expect)
      ctx.fail("input " + std::to_string(i) + " has shape " + shape_string(x.shape()) +
               ", which differs from the first input's outside axis " + std::to_string(axis));
    out_shape[axis] += x.shape()[axis];
    TensorQuant qx = tensor_quant(ctx, 3 + 3 * i, dtype, "X_scale");
    CodeTable table = code_table(ctx, dtype, qx, qy, [](float v) { return v; });
    parts[i] = widen(ctx, x);
    for (int32_t& code : parts[i]) code = table[static_cast<size_t>(code - lo)];
  }
  int64_t outer = product(out_shape, 0, static_cast<size_t>(axis));
  int64_t inner = product(out_shape, static_cast<size_t>(axis) + 1, out_shape.size());
  ctx.out(0) = make_quantized(ctx, dtype, out_shape, [&](auto* dst) {
    using Q = std::remove_pointer_t<decltype(dst)>;
    int64_t at = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (size_t i = 0; i < count; ++i) {
        int64_t run = ctx.in(2 + 3 * i).shape()[axis] * inner;
        for (int64_t k = 0; k < run; ++k) dst[at++] = static_cast<Q>(parts[i][static_cast<size_t>(o * run + k)]);
      }
  });
}

// inputs: X, x_scale, x_zero_point?, y_scale, y_zero_point?; AveragePool's attributes. The
// output shape is AveragePool's (window_geometry: auto_pad, ceil_mode). Each window's codes minus
// the zero point are summed exactly and scaled by x_scale / count / y_scale. Averages often land on
// a rounding tie (every value is a multiple of x_scale), where ONNX Runtime's float arithmetic can
// fall on either side: a few outputs in a hundred differ from ORT's by one quantization step.
void qlinear_average_pool(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  check_8bit(ctx, x, "X");
  if (ctx.attr_int("channels_last", 0) != 0) ctx.unsupported("channels_last is not supported");
  if (x.rank() < 3) ctx.fail("input must be [N, C, spatial...], got " + shape_string(x.shape()));
  if (x.rank() > 5) ctx.unsupported("more than 3 spatial dimensions");
  std::vector<int64_t> kernel = ctx.attr_ints("kernel_shape");
  if (kernel.empty()) ctx.fail("kernel_shape is required");
  TensorQuant qx = tensor_quant(ctx, 1, x.dtype(), "x_scale");
  TensorQuant qy = tensor_quant(ctx, 3, x.dtype(), "y_scale");
  std::vector<int32_t> codes = widen(ctx, x);
  Window win = window_geometry(ctx, x.shape(), std::move(kernel), ctx.attr_int("ceil_mode", 0) != 0);
  size_t nd = win.rank();
  Shape out = {x.shape()[0], x.shape()[1]};
  out.insert(out.end(), win.out.begin(), win.out.end());
  bool include_pad = ctx.attr_int("count_include_pad", 0) != 0;
  int64_t in_size = product(win.in, 0, nd), out_size = product(win.out, 0, nd);
  int64_t window = product(win.kernel, 0, nd);
  Saturation sat = output_range(ctx, x.dtype());
  ctx.out(0) = make_quantized(ctx, x.dtype(), out, [&](auto* dst) {
    using Q = std::remove_pointer_t<decltype(dst)>;
    // Per dim, the window's first input index and its in-range taps [lo, hi).
    std::vector<int64_t> start(nd), lo(nd), hi(nd), tap(nd);
    for (int64_t plane = 0; plane < out[0] * out[1]; ++plane)
      for (int64_t o = 0; o < out_size; ++o) {
        int64_t count = 1;
        for (int64_t rest = o, d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {
          int64_t at = rest % win.out[d] * win.strides[d] - win.pad_begin[d], dil = win.dilations[d];
          rest /= win.out[d];
          start[d] = at;
          lo[d] = at >= 0 ? 0 : (-at + dil - 1) / dil;
          hi[d] = std::min(win.kernel[d], (win.in[d] - at + dil - 1) / dil);
          count *= std::max<int64_t>(0, hi[d] - lo[d]);
        }
        int64_t sum = 0;
        if (count > 0) {
          tap = lo;
          while (true) {
            int64_t offset = 0;
            for (size_t d = 0; d < nd; ++d) offset = offset * win.in[d] + start[d] + tap[d] * win.dilations[d];
            sum += codes[static_cast<size_t>(plane * in_size + offset)] - qx.zero_point;
            size_t d = nd;
            while (d-- > 0 && ++tap[d] == hi[d]) tap[d] = lo[d];
            if (d == static_cast<size_t>(-1)) break;
          }
        }
        auto divisor = static_cast<float>(include_pad ? window : std::max<int64_t>(count, 1));
        float v = static_cast<float>(sum) * (qx.scale / divisor / qy.scale);
        dst[plane * out_size + o] = static_cast<Q>(saturate_round(v, static_cast<float>(qy.zero_point), sat));
      }
  });
}

}  // namespace

std::span<const OpDef> contrib_quant_ops() {
  static constexpr OpDef kOps[] = {
      {"com.microsoft", "MatMulIntegerToFloat", matmul_integer_to_float},
      {"com.microsoft", "DynamicQuantizeMatMul", dynamic_quantize_matmul},
      {"com.microsoft", "QGemm", qgemm},
      {"com.microsoft", "QLinearAdd", qlinear_add},
      {"com.microsoft", "QLinearMul", qlinear_mul},
      {"com.microsoft", "QLinearSigmoid", qlinear_sigmoid},
      {"com.microsoft", "QLinearLeakyRelu", qlinear_leaky_relu},
      {"com.microsoft", "QLinearGlobalAveragePool", qlinear_global_average_pool},
      {"com.microsoft", "QLinearConcat", qlinear_concat},
      {"com.microsoft", "QLinearAveragePool", qlinear_average_pool},
  };
  return kOps;
}

}  // namespace mcompress::exec
