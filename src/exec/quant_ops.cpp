// Quantization ops: QuantizeLinear / DequantizeLinear (per-tensor, per-axis and opset-21 blocked;
// 4-, 8-, 16-bit integers, int32 to dequantize), DynamicQuantizeLinear, MatMulInteger,
// ConvInteger, QLinearMatMul, QLinearConv, and com.microsoft MatMulNBits (ONNX Runtime's
// block-quantized weight-only MatMul).
//
// Integer products are exact: operands have their zero points subtracted and run through a float
// GEMM in K-chunks short enough that every partial sum is an exactly representable integer, the
// chunks adding up in int32 (see gemm_exact_int), so neither the tiling nor the thread count can
// change a result. Requantization follows ONNX Runtime: multiplier = (scale_a * scale_b) / scale_y
// in float, round half to even, add the zero point, saturate.
#include <algorithm>
#include <cmath>
#include <limits>

#include "quant_kernels.h"

namespace mcompress::exec {
namespace quant {

// Element loops run in fixed-width blocks over restrict-qualified pointers: that is what GCC's -O2
// vectorizer (cheap cost model: known trip count, no aliasing checks) takes, ~6x faster here.
constexpr int64_t kSimdBlock = 64;

// dst[k] = saturate_round(x[k] / scale, zero_point) over a run. Divides (not a reciprocal
// multiply), as ONNX Runtime does.
template <typename Q>
void quantize_run(const float* __restrict x, Q* __restrict dst, int64_t n, float scale, float zero_point,
                  Saturation sat) {
  int64_t k = 0;
  for (; k + kSimdBlock <= n; k += kSimdBlock)
    for (int64_t j = 0; j < kSimdBlock; ++j)
      dst[k + j] = static_cast<Q>(saturate_round(x[k + j] / scale, zero_point, sat));
  for (; k < n; ++k) dst[k] = static_cast<Q>(saturate_round(x[k] / scale, zero_point, sat));
}

// out[k] = (x[k] - zero_point) * scale over a run; Wide holds x minus the zero point exactly.
template <typename Wide, typename T>
void dequantize_run(const T* __restrict x, float* __restrict out, int64_t n, Wide zero_point, float scale) {
  int64_t k = 0;
  for (; k + kSimdBlock <= n; k += kSimdBlock)
    for (int64_t j = 0; j < kSimdBlock; ++j)
      out[k + j] = static_cast<float>(static_cast<Wide>(x[k + j]) - zero_point) * scale;
  for (; k < n; ++k) out[k] = static_cast<float>(static_cast<Wide>(x[k]) - zero_point) * scale;
}

// ---- scale / zero-point layout -----------------------------------------------------------

// Where each element's scale and zero point sit: one for the tensor, one per index along `axis`,
// or (opset 21) one per `block` consecutive indices along `axis`. The tensor is viewed as
// [outer, axis_dim, inner].
struct ParamLayout {
  enum class Kind { per_tensor, per_axis, blocked };
  Kind kind = Kind::per_tensor;
  int64_t outer = 1, axis_dim = 1, inner = 1;
  int64_t block = 0;
  int64_t param_axis_dim = 1;  // the scale's extent along axis (blocked)
};

ParamLayout param_layout(const OpContext& ctx, const Shape& x, const Tensor& scale, const Tensor* zero_point) {
  if (zero_point && zero_point->numel() != scale.numel())
    ctx.fail("zero point has shape " + shape_string(zero_point->shape()) + " but scale has shape " +
             shape_string(scale.shape()));
  ParamLayout l;
  int64_t numel = 1;
  for (int64_t d : x) numel *= d;
  if (scale.numel() == 1 && scale.rank() <= 1) {
    l.inner = numel;
    return l;
  }
  int64_t rank = static_cast<int64_t>(x.size());
  if (rank == 0) ctx.fail("a scalar input needs a scalar scale, got " + shape_string(scale.shape()));
  int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", 1), rank);
  for (int64_t d = 0; d < axis; ++d) l.outer *= x[d];
  l.axis_dim = x[axis];
  for (int64_t d = axis + 1; d < rank; ++d) l.inner *= x[d];
  int64_t block = ctx.opset() >= 21 ? ctx.attr_int("block_size", 0) : 0;
  if (block < 0) ctx.fail("block_size must not be negative, got " + std::to_string(block));
  if (block == 0) {
    if (scale.rank() != 1 || scale.numel() != l.axis_dim)
      ctx.fail("scale has shape " + shape_string(scale.shape()) + "; per-axis quantization along axis " +
               std::to_string(axis) + " of " + shape_string(x) + " expects [" + std::to_string(l.axis_dim) + "]");
    l.kind = ParamLayout::Kind::per_axis;
    return l;
  }
  Shape expected = x;
  expected[axis] = (x[axis] + block - 1) / block;
  if (scale.shape() != expected)
    ctx.fail("scale has shape " + shape_string(scale.shape()) + "; blocked quantization of " + shape_string(x) +
             " along axis " + std::to_string(axis) + " with block_size " + std::to_string(block) + " expects " +
             shape_string(expected));
  l.kind = ParamLayout::Kind::blocked;
  l.block = block;
  l.param_axis_dim = expected[axis];
  return l;
}

// Calls f(i0, n, p0, step) over runs of elements: elements i0 .. i0+n-1 take the scale and zero
// point at p0 + k*step (step 0: one pair for the whole run). Runs are spread over the pool.
template <typename F>
void for_each_param_run(ThreadPool& pool, const ParamLayout& l, F&& f) {
  if (l.kind == ParamLayout::Kind::per_tensor) {
    pool.parallel_for(l.inner, kElementGrain,
                      [&](int64_t begin, int64_t end) { f(begin, end - begin, int64_t{0}, int64_t{0}); });
    return;
  }
  int64_t rows = l.outer * l.axis_dim;
  int64_t grain = std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, l.inner));
  pool.parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      if (l.kind == ParamLayout::Kind::per_axis) {
        f(r * l.inner, l.inner, r % l.axis_dim, int64_t{0});
        continue;
      }
      int64_t o = r / l.axis_dim, a = r % l.axis_dim;
      f(r * l.inner, l.inner, (o * l.param_axis_dim + a / l.block) * l.inner, int64_t{1});
    }
  });
}

FloatValues float_values(const OpContext& ctx, const Tensor& t) {
  FloatValues v;
  if (t.dtype() == DType::f32) {
    v.data = t.data<float>();
    return v;
  }
  if (t.dtype() != DType::f16 && t.dtype() != DType::bf16 && t.dtype() != DType::f64)
    ctx.fail("expects a float tensor, got " + std::string(dtype_name(t.dtype())));
  v.converted = to_floats(t);
  v.data = v.converted.data();
  return v;
}

Tensor convert_float(const OpContext& ctx, Tensor t, DType dtype) {
  if (dtype == DType::f32) return t;
  if (!is_half(dtype)) ctx.unsupported("output type " + std::string(dtype_name(dtype)) + " is not supported");
  return float_to_half(t, dtype, ctx.pool());
}

// ---- QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear ---------------------------

// The output type: the zero point's, else (opset 21) `output_dtype`, else uint8.
DType quantize_output_dtype(const OpContext& ctx, const Tensor* zero_point) {
  int64_t attr = ctx.opset() >= 21 ? ctx.attr_int("output_dtype", 0) : 0;
  if (zero_point) {
    if (attr != 0 && attr != static_cast<int64_t>(zero_point->dtype()))
      ctx.fail("output_dtype " + std::to_string(attr) + " differs from the zero point's type " +
               std::string(dtype_name(zero_point->dtype())));
    return zero_point->dtype();
  }
  return attr == 0 ? DType::u8 : static_cast<DType>(attr);
}

void quantize_linear(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* zero_point = ctx.input(2);
  DType out_dtype = quantize_output_dtype(ctx, zero_point);
  Saturation sat = output_range(ctx, out_dtype);
  ParamLayout layout = param_layout(ctx, x.shape(), scale, zero_point);
  FloatValues xs = float_values(ctx, x);
  FloatValues scales = float_values(ctx, scale);
  std::vector<float> zero_points(static_cast<size_t>(scale.numel()), 0.f);
  if (zero_point) {
    std::vector<int32_t> z = widen(ctx, *zero_point);
    std::copy(z.begin(), z.end(), zero_points.begin());
  }
  const float* px = xs.data;
  ctx.out(0) = make_quantized(ctx, out_dtype, x.shape(), [&](auto* dst) {
    using Q = std::remove_pointer_t<decltype(dst)>;
    for_each_param_run(ctx.pool(), layout, [&](int64_t i0, int64_t n, int64_t p0, int64_t step) {
      if (step == 0) {
        quantize_run(px + i0, dst + i0, n, scales.data[p0], zero_points[static_cast<size_t>(p0)], sat);
        return;
      }
      for (int64_t k = 0; k < n; ++k)
        dst[i0 + k] = static_cast<Q>(
            saturate_round(px[i0 + k] / scales.data[p0 + k], zero_points[static_cast<size_t>(p0 + k)], sat));
    });
  });
}

void dequantize_linear(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* zero_point = ctx.input(2);
  if (zero_point && zero_point->dtype() != x.dtype())
    ctx.fail("zero point type " + std::string(dtype_name(zero_point->dtype())) + " differs from input type " +
             std::string(dtype_name(x.dtype())));
  ParamLayout layout = param_layout(ctx, x.shape(), scale, zero_point);
  FloatValues scales = float_values(ctx, scale);
  std::vector<int32_t> zero_points = zero_point ? widen(ctx, *zero_point) : std::vector<int32_t>(scale.numel(), 0);
  Tensor out(DType::f32, x.shape());
  float* po = out.data<float>();
  visit_quantized(ctx, x, [&](const auto* px) {
    // int64 for int32 inputs: minus the zero point they may leave int32's range.
    using Wide = std::conditional_t<sizeof(*px) < 4, int32_t, int64_t>;
    for_each_param_run(ctx.pool(), layout, [&](int64_t i0, int64_t n, int64_t p0, int64_t step) {
      if (step == 0) {
        dequantize_run<Wide>(px + i0, po + i0, n, static_cast<Wide>(zero_points[static_cast<size_t>(p0)]),
                             scales.data[p0]);
        return;
      }
      for (int64_t k = 0; k < n; ++k)
        po[i0 + k] = static_cast<float>(static_cast<Wide>(px[i0 + k]) - zero_points[static_cast<size_t>(p0 + k)]) *
                     scales.data[p0 + k];
    });
  });
  ctx.out(0) = convert_float(ctx, std::move(out), scale.dtype());
}

DynamicQuantized dynamic_quantize_u8(OpContext& ctx, const Tensor& x) {
  if (x.dtype() != DType::f32)
    ctx.unsupported("input type " + std::string(dtype_name(x.dtype())) + " is not supported");
  const float* px = x.data<float>();
  int64_t n = x.numel();
  // Min/max per fixed chunk, then combined: exact, so the chunking cannot change the result.
  int64_t chunks = (n + kElementGrain - 1) / kElementGrain;
  std::vector<float> mins(static_cast<size_t>(chunks), 0.f), maxs(static_cast<size_t>(chunks), 0.f);
  ctx.pool().parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
    float lo = 0.f, hi = 0.f;
    for (int64_t i = begin; i < end; ++i) {
      lo = std::min(lo, px[i]);
      hi = std::max(hi, px[i]);
    }
    mins[static_cast<size_t>(begin / kElementGrain)] = lo;
    maxs[static_cast<size_t>(begin / kElementGrain)] = hi;
  });
  float lo = 0.f, hi = 0.f;
  for (int64_t c = 0; c < chunks; ++c) {
    lo = std::min(lo, mins[static_cast<size_t>(c)]);
    hi = std::max(hi, maxs[static_cast<size_t>(c)]);
  }
  Saturation sat = output_range(ctx, DType::u8);
  DynamicQuantized r;
  r.scale = hi == lo ? 1.f : (hi - lo) / 255.f;
  r.zero_point = static_cast<uint8_t>(std::nearbyint(std::clamp(0.f - lo / r.scale, 0.f, 255.f)));
  r.q = make_quantized(ctx, DType::u8, x.shape(), [&](auto* dst) {
    ctx.pool().parallel_for(n, kElementGrain, [&](int64_t begin, int64_t end) {
      quantize_run(px + begin, dst + begin, end - begin, r.scale, static_cast<float>(r.zero_point), sat);
    });
  });
  return r;
}

void dynamic_quantize_linear(OpContext& ctx) {
  DynamicQuantized r = dynamic_quantize_u8(ctx, ctx.in(0));
  ctx.out(0) = std::move(r.q);
  if (ctx.has_output(1)) ctx.out(1) = Tensor::from_values<float>(DType::f32, {}, std::span<const float>(&r.scale, 1));
  if (ctx.has_output(2))
    ctx.out(2) = Tensor::from_values<uint8_t>(DType::u8, {}, std::span<const uint8_t>(&r.zero_point, 1));
}

// ---- GEMM on tiles -------------------------------------------------------------------------

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;

// Output tiles handed to the pool; each is one Eigen product over the full K, so the tiling (a
// function of the shapes only) fixes how every element is summed.
constexpr int64_t kTileRows = 64;
constexpr int64_t kTileCols = 256;

// Calls f(batch, r0, c0, rows, cols) for every output tile of `batches` [M, N] products.
template <typename F>
void for_each_tile(ThreadPool& pool, int64_t batches, int64_t M, int64_t N, F&& f) {
  int64_t row_tiles = (M + kTileRows - 1) / kTileRows;
  int64_t col_tiles = (N + kTileCols - 1) / kTileCols;
  pool.parallel_for(batches * row_tiles * col_tiles, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      int64_t r0 = (t / col_tiles) % row_tiles * kTileRows;
      int64_t c0 = t % col_tiles * kTileCols;
      f(t / (row_tiles * col_tiles), r0, c0, std::min(kTileRows, M - r0), std::min(kTileCols, N - c0));
    }
  });
}

// C[b] = A[b] * B[b] for each batch b: row-major A [M,K] at a + a_offsets[b], B [K,N] at
// b + b_offsets[b], C [M,N] at c + b*M*N.
void gemm_f32(ThreadPool& pool, const float* a, const float* b, float* c, int64_t M, int64_t K, int64_t N,
              const std::vector<int64_t>& a_offsets, const std::vector<int64_t>& b_offsets) {
  for_each_tile(pool, static_cast<int64_t>(a_offsets.size()), M, N,
                [&](int64_t batch, int64_t r0, int64_t c0, int64_t rows, int64_t cols) {
                  Eigen::Map<RowMajor<float>, Eigen::Unaligned, Stride> mc(c + batch * M * N + r0 * N + c0, rows, cols,
                                                                           Stride(N));
                  if (K == 0) {
                    mc.setZero();
                    return;
                  }
                  Eigen::Map<const RowMajor<float>> ma(a + a_offsets[static_cast<size_t>(batch)] + r0 * K, rows, K);
                  Eigen::Map<const RowMajor<float>, Eigen::Unaligned, Stride> mb(
                      b + b_offsets[static_cast<size_t>(batch)] + c0, K, cols, Stride(N));
                  mc.noalias() = ma * mb;
                });
}

// Integer operands held as floats multiply and add exactly in a float GEMM while no partial sum
// can pass 2^24; Eigen's float GEMM is many times faster than its int32 one. K is cut into chunks
// short enough for that bound (from the operands' largest magnitudes) and the chunks' exact results
// add up in int32, so the result is the exact integer product whatever the chunking.
constexpr double kFloatExactLimit = 16777216.0;  // 2^24

int64_t exact_chunk(int64_t K, float a_max, float b_max) {
  double per_term = static_cast<double>(a_max) * b_max;
  int64_t whole = std::max<int64_t>(K, 1);
  if (per_term == 0) return whole;
  return std::clamp<int64_t>(static_cast<int64_t>(kFloatExactLimit / per_term), 1, whole);
}

float max_magnitude(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::abs(x));
  return m;
}

// C[b] = A[b] * B[b] as exact int32, A and B integer-valued floats (see gemm_f32 for the layout).
void gemm_exact_int(ThreadPool& pool, const float* a, const float* b, int32_t* c, int64_t M, int64_t K, int64_t N,
                    const std::vector<int64_t>& a_offsets, const std::vector<int64_t>& b_offsets, float a_max,
                    float b_max) {
  int64_t chunk = exact_chunk(K, a_max, b_max);
  for_each_tile(pool, static_cast<int64_t>(a_offsets.size()), M, N,
                [&](int64_t batch, int64_t r0, int64_t c0, int64_t rows, int64_t cols) {
                  Eigen::Map<RowMajor<int32_t>, Eigen::Unaligned, Stride> mc(c + batch * M * N + r0 * N + c0, rows,
                                                                             cols, Stride(N));
                  mc.setZero();
                  RowMajor<float> part(rows, cols);
                  for (int64_t k0 = 0; k0 < K; k0 += chunk) {
                    int64_t depth = std::min(chunk, K - k0);
                    Eigen::Map<const RowMajor<float>, Eigen::Unaligned, Stride> ma(
                        a + a_offsets[static_cast<size_t>(batch)] + r0 * K + k0, rows, depth, Stride(K));
                    Eigen::Map<const RowMajor<float>, Eigen::Unaligned, Stride> mb(
                        b + b_offsets[static_cast<size_t>(batch)] + k0 * N + c0, depth, cols, Stride(N));
                    part.noalias() = ma * mb;
                    mc += part.cast<int32_t>();
                  }
                });
}

MatMulShape matmul_shape(const OpContext& ctx, const Shape& a, const Shape& b) {
  if (a.empty() || b.empty()) ctx.fail("matmul inputs must have rank >= 1");
  Shape a2 = a.size() == 1 ? Shape{1, a[0]} : a;
  Shape b2 = b.size() == 1 ? Shape{b[0], 1} : b;
  MatMulShape s;
  s.M = a2[a2.size() - 2];
  s.K = a2.back();
  s.N = b2.back();
  if (b2[b2.size() - 2] != s.K) ctx.fail("inner dimensions differ: A " + shape_string(a) + ", B " + shape_string(b));
  Shape a_batch(a2.begin(), a2.end() - 2), b_batch(b2.begin(), b2.end() - 2);
  Shape batch = broadcast_shapes(ctx, {&a_batch, &b_batch});
  int64_t batches = 1;
  for (int64_t d : batch) batches *= d;
  s.a_offsets.resize(static_cast<size_t>(batches));
  s.b_offsets.resize(static_cast<size_t>(batches));
  std::array<std::vector<int64_t>, 2> strides = {broadcast_strides(a_batch, batch), broadcast_strides(b_batch, batch)};
  for_each_broadcast<2>(batch, strides, [&](int64_t i, const std::array<int64_t, 2>& o) {
    s.a_offsets[static_cast<size_t>(i)] = o[0] * s.M * s.K;
    s.b_offsets[static_cast<size_t>(i)] = o[1] * s.K * s.N;
  });
  s.out = batch;
  if (a.size() > 1) s.out.push_back(s.M);
  if (b.size() > 1) s.out.push_back(s.N);
  return s;
}

// Values of t minus the zero point, as floats (exact: 8-bit operands only): a scalar zero point,
// or one that broadcasts to t's shape. A 1-D zero point is per row of A ([M] → [M,1]) or per
// column of B ([N] → [1,N]). `shape` is the shape t is viewed as (t's own, or a reshape of it).
std::vector<float> widen_centered(const OpContext& ctx, const Tensor& t, const Shape& shape, const Tensor* zero_point,
                                  bool per_row) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  visit_quantized(ctx, t, [&](const auto* p) {
    for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = static_cast<float>(p[i]);
  });
  if (!zero_point) return v;
  if (zero_point->dtype() != t.dtype())
    ctx.fail("zero point type " + std::string(dtype_name(zero_point->dtype())) + " differs from input type " +
             std::string(dtype_name(t.dtype())));
  std::vector<int32_t> zp = widen(ctx, *zero_point);
  if (zp.size() == 1) {
    for (float& x : v) x -= static_cast<float>(zp[0]);
    return v;
  }
  Shape zshape = zero_point->shape();
  if (zshape.size() == 1) zshape = per_row ? Shape{zshape[0], 1} : Shape{1, zshape[0]};
  Shape joint = broadcast_shapes(ctx, {&shape, &zshape});
  if (joint != shape)
    ctx.fail("zero point of shape " + shape_string(zero_point->shape()) + " does not fit input " + shape_string(shape));
  std::array<std::vector<int64_t>, 1> strides = {broadcast_strides(zshape, shape)};
  for_each_broadcast<1>(shape, strides, [&](int64_t i, const std::array<int64_t, 1>& o) {
    v[static_cast<size_t>(i)] -= static_cast<float>(zp[static_cast<size_t>(o[0])]);
  });
  return v;
}

void check_8bit(const OpContext& ctx, const Tensor& t, const char* name) {
  if (t.dtype() != DType::u8 && t.dtype() != DType::i8)
    ctx.unsupported(std::string(name) + " of type " + std::string(dtype_name(t.dtype())) +
                    " is not supported (int8/uint8)");
}

// int32 (A - a_zero_point) @ (B - b_zero_point).
Tensor matmul_int32(OpContext& ctx, const Tensor& a, const Tensor* a_zero_point, const Tensor& b,
                    const Tensor* b_zero_point) {
  check_8bit(ctx, a, "A");
  check_8bit(ctx, b, "B");
  MatMulShape s = matmul_shape(ctx, a.shape(), b.shape());
  std::vector<float> wa = widen_centered(ctx, a, a.shape(), a_zero_point, true);
  std::vector<float> wb = widen_centered(ctx, b, b.shape(), b_zero_point, false);
  Tensor out(DType::i32, s.out);
  gemm_exact_int(ctx.pool(), wa.data(), wb.data(), out.data<int32_t>(), s.M, s.K, s.N, s.a_offsets, s.b_offsets,
                 max_magnitude(wa), max_magnitude(wb));
  return out;
}

void matmul_integer(OpContext& ctx) {
  ctx.out(0) = matmul_int32(ctx, ctx.in(0), ctx.input(2), ctx.in(1), ctx.input(3));
}

// ---- integer convolution -----------------------------------------------------------------

struct ConvGeometry {
  int64_t batch = 0, in_channels = 0, out_channels = 0, group = 1;
  Shape in, kernel, out;  // spatial
  std::vector<int64_t> strides, dilations, pad_begin;
  int64_t in_size = 1, kernel_size = 1, out_size = 1;
};

ConvGeometry conv_geometry(const OpContext& ctx, const Shape& x, const Shape& w) {
  if (x.size() < 3 || w.size() != x.size())
    ctx.fail("expects X [N,C,spatial...] and W of the same rank, got " + shape_string(x) + " and " + shape_string(w));
  ConvGeometry g;
  size_t nd = x.size() - 2;
  g.batch = x[0];
  g.in_channels = x[1];
  g.out_channels = w[0];
  g.group = ctx.attr_int("group", 1);
  if (g.group <= 0 || g.in_channels % g.group != 0 || g.out_channels % g.group != 0 || w[1] != g.in_channels / g.group)
    ctx.fail("group " + std::to_string(g.group) + " does not fit X " + shape_string(x) + " and W " + shape_string(w));
  g.in.assign(x.begin() + 2, x.end());
  g.kernel.assign(w.begin() + 2, w.end());
  if (auto ks = ctx.attr_ints("kernel_shape"); !ks.empty() && ks != g.kernel)
    ctx.fail("kernel_shape differs from W's spatial shape " + shape_string(w));
  g.strides = ctx.attr_ints("strides");
  g.dilations = ctx.attr_ints("dilations");
  std::vector<int64_t> pads = ctx.attr_ints("pads");
  if (g.strides.empty()) g.strides.assign(nd, 1);
  if (g.dilations.empty()) g.dilations.assign(nd, 1);
  if (pads.empty()) pads.assign(2 * nd, 0);
  if (g.strides.size() != nd || g.dilations.size() != nd || pads.size() != 2 * nd)
    ctx.fail("strides, dilations or pads do not match " + std::to_string(nd) + " spatial dimensions");
  std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  g.pad_begin.assign(nd, 0);
  g.out.assign(nd, 0);
  for (size_t d = 0; d < nd; ++d) {
    if (g.strides[d] <= 0 || g.dilations[d] <= 0) ctx.fail("strides and dilations must be positive");
    int64_t extent = g.dilations[d] * (g.kernel[d] - 1) + 1;
    int64_t begin = pads[d], end = pads[d + nd];
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      int64_t out = (g.in[d] + g.strides[d] - 1) / g.strides[d];
      int64_t total = std::max<int64_t>(0, (out - 1) * g.strides[d] + extent - g.in[d]);
      begin = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      end = total - begin;
    } else if (auto_pad == "VALID") {
      begin = end = 0;
    } else if (auto_pad != "NOTSET") {
      ctx.fail("unknown auto_pad '" + auto_pad + "'");
    }
    g.pad_begin[d] = begin;
    int64_t span = g.in[d] + begin + end - extent;
    if (span < 0) ctx.fail("kernel is larger than the padded input " + shape_string(x));
    g.out[d] = span / g.strides[d] + 1;
    g.in_size *= g.in[d];
    g.kernel_size *= g.kernel[d];
    g.out_size *= g.out[d];
  }
  return g;
}

// Columns for one batch item and group: row (c, kernel offset) holds the input value under that
// kernel tap for every output position, 0 where it falls in the padding (the input is already
// centred on its zero point, so padding with the zero point reads as 0).
void im2col(ThreadPool& pool, const float* x, const ConvGeometry& g, int64_t channels, float* cols) {
  size_t nd = g.in.size();
  size_t last = nd - 1;
  int64_t rows = channels * g.kernel_size;
  int64_t grain = std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, g.out_size));
  pool.parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> tap(nd), pos(nd);
    for (int64_t r = begin; r < end; ++r) {
      int64_t c = r / g.kernel_size;
      for (int64_t k = r % g.kernel_size, d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {
        tap[d] = k % g.kernel[d];
        k /= g.kernel[d];
      }
      const float* xc = x + c * g.in_size;
      float* dst = cols + r * g.out_size;
      std::fill(pos.begin(), pos.end(), 0);
      int64_t width = g.out[last];
      for (int64_t p = 0; p < g.out_size; p += width) {
        bool inside = true;
        int64_t offset = 0;
        for (size_t d = 0; d < last; ++d) {
          int64_t at = pos[d] * g.strides[d] - g.pad_begin[d] + tap[d] * g.dilations[d];
          inside = inside && at >= 0 && at < g.in[d];
          offset = offset * g.in[d] + at;
        }
        offset *= g.in[last];
        int64_t at0 = tap[last] * g.dilations[last] - g.pad_begin[last];
        for (int64_t ow = 0; ow < width; ++ow) {
          int64_t at = at0 + ow * g.strides[last];
          dst[p + ow] = inside && at >= 0 && at < g.in[last] ? xc[offset + at] : 0;
        }
        for (size_t d = last; d-- > 0;) {
          if (++pos[d] < g.out[d]) break;
          pos[d] = 0;
        }
      }
    }
  });
}

// int32 convolution of (X - x_zero_point) with (W - w_zero_point): output [N, M, out...].
Tensor conv_int32(OpContext& ctx, const Tensor& x, const Tensor* x_zero_point, const Tensor& w,
                  const Tensor* w_zero_point) {
  check_8bit(ctx, x, "X");
  check_8bit(ctx, w, "W");
  ConvGeometry g = conv_geometry(ctx, x.shape(), w.shape());
  if (x_zero_point && x_zero_point->numel() != 1)
    ctx.fail("x zero point must be a scalar, got " + shape_string(x_zero_point->shape()));
  if (w_zero_point && w_zero_point->numel() != 1 && w_zero_point->numel() != g.out_channels)
    ctx.fail("w zero point must be a scalar or have " + std::to_string(g.out_channels) + " values, got " +
             shape_string(w_zero_point->shape()));
  std::vector<float> xw = widen_centered(ctx, x, x.shape(), x_zero_point, true);
  // W [M, C/group, k...] viewed as [M, rest]: a per-channel zero point is per row.
  std::vector<float> ww =
      widen_centered(ctx, w, {g.out_channels, w.numel() / std::max<int64_t>(1, g.out_channels)}, w_zero_point, true);
  Shape out_shape = {g.batch, g.out_channels};
  out_shape.insert(out_shape.end(), g.out.begin(), g.out.end());
  Tensor out(DType::i32, out_shape);
  int64_t cg = g.in_channels / g.group, mg = g.out_channels / g.group;
  int64_t depth = cg * g.kernel_size;
  bool pointwise = g.kernel_size == 1 && g.in_size == g.out_size &&
                   std::all_of(g.strides.begin(), g.strides.end(), [](int64_t s) { return s == 1; }) &&
                   std::all_of(g.pad_begin.begin(), g.pad_begin.end(), [](int64_t p) { return p == 0; });
  std::vector<float> cols(pointwise ? 0 : static_cast<size_t>(depth * g.out_size));
  float x_max = max_magnitude(xw), w_max = max_magnitude(ww);
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t grp = 0; grp < g.group; ++grp) {
      const float* xg = xw.data() + (n * g.in_channels + grp * cg) * g.in_size;
      const float* b = xg;
      if (!pointwise) {
        im2col(ctx.pool(), xg, g, cg, cols.data());
        b = cols.data();
      }
      int32_t* y = out.data<int32_t>() + (n * g.out_channels + grp * mg) * g.out_size;
      gemm_exact_int(ctx.pool(), ww.data() + grp * mg * depth, b, y, mg, depth, g.out_size, {0}, {0}, w_max, x_max);
    }
  }
  return out;
}

void conv_integer(OpContext& ctx) { ctx.out(0) = conv_int32(ctx, ctx.in(0), ctx.input(2), ctx.in(1), ctx.input(3)); }

// ---- QLinearMatMul / QLinearConv ---------------------------------------------------------

float scalar_scale(const OpContext& ctx, const Tensor& t, const char* name) {
  if (t.numel() != 1) ctx.fail(std::string(name) + " must be a scalar, got " + shape_string(t.shape()));
  return float_values(ctx, t).data[0];
}

DType qlinear_output_dtype(const Tensor* y_zero_point) { return y_zero_point ? y_zero_point->dtype() : DType::u8; }

int32_t scalar_zero_point(const OpContext& ctx, const Tensor* t) {
  if (!t) return 0;
  if (t->numel() != 1) ctx.fail("output zero point must be a scalar, got " + shape_string(t->shape()));
  return widen(ctx, *t)[0];
}

// a: a_scale per tensor or per row of A ([M]); b: per tensor or per column of B ([N]).
void qlinear_matmul(OpContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(3);
  Tensor acc = matmul_int32(ctx, a, ctx.input(2), b, ctx.input(5));
  MatMulShape s = matmul_shape(ctx, a.shape(), b.shape());
  FloatValues a_scale = float_values(ctx, ctx.in(1));
  FloatValues b_scale = float_values(ctx, ctx.in(4));
  int64_t a_scales = ctx.in(1).numel(), b_scales = ctx.in(4).numel();
  if (a_scales != 1 && a_scales != s.M) ctx.fail("a_scale must be a scalar or have one value per row of A");
  if (b_scales != 1 && b_scales != s.N) ctx.fail("b_scale must be a scalar or have one value per column of B");
  float y_scale = scalar_scale(ctx, ctx.in(6), "y_scale");
  const Tensor* y_zp = ctx.input(7);
  DType out_dtype = qlinear_output_dtype(y_zp);
  Saturation sat = output_range(ctx, out_dtype);
  auto zero_point = static_cast<float>(scalar_zero_point(ctx, y_zp));
  const int32_t* pa = acc.data<int32_t>();
  int64_t mn = s.M * s.N;
  ctx.out(0) = make_quantized(ctx, out_dtype, acc.shape(), [&](auto* dst) {
    using Q = std::remove_pointer_t<decltype(dst)>;
    ctx.pool().parallel_for(acc.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        int64_t row = i % mn / s.N, col = i % s.N;
        float multiplier = a_scale.data[a_scales == 1 ? 0 : row] * b_scale.data[b_scales == 1 ? 0 : col] / y_scale;
        dst[i] = static_cast<Q>(saturate_round(static_cast<float>(pa[i]) * multiplier, zero_point, sat));
      }
    });
  });
}

void qlinear_conv(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(3);
  Tensor acc = conv_int32(ctx, x, ctx.input(2), w, ctx.input(5));
  int64_t channels = w.shape()[0];
  int64_t spatial = acc.numel() / std::max<int64_t>(1, acc.shape()[0] * channels);
  float x_scale = scalar_scale(ctx, ctx.in(1), "x_scale");
  FloatValues w_scale = float_values(ctx, ctx.in(4));
  int64_t w_scales = ctx.in(4).numel();
  if (w_scales != 1 && w_scales != channels) ctx.fail("w_scale must be a scalar or have one value per output channel");
  float y_scale = scalar_scale(ctx, ctx.in(6), "y_scale");
  const Tensor* y_zp = ctx.input(7);
  DType out_dtype = qlinear_output_dtype(y_zp);
  Saturation sat = output_range(ctx, out_dtype);
  auto zero_point = static_cast<float>(scalar_zero_point(ctx, y_zp));
  const Tensor* bias = ctx.input(8);
  if (bias && (bias->dtype() != DType::i32 || bias->numel() != channels))
    ctx.fail("bias must be int32 with one value per output channel");
  const int32_t* pb = bias ? bias->data<int32_t>() : nullptr;
  const int32_t* pa = acc.data<int32_t>();
  ctx.out(0) = make_quantized(ctx, out_dtype, acc.shape(), [&](auto* dst) {
    using Q = std::remove_pointer_t<decltype(dst)>;
    ctx.pool().parallel_for(acc.numel(), kElementGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        int64_t m = i / spatial % channels;
        int32_t v = pa[i] + (pb ? pb[m] : 0);
        float multiplier = x_scale * w_scale.data[w_scales == 1 ? 0 : m] / y_scale;
        dst[i] = static_cast<Q>(saturate_round(static_cast<float>(v) * multiplier, zero_point, sat));
      }
    });
  });
}

// ---- com.microsoft MatMulNBits -----------------------------------------------------------

// Y = A @ dequant(B)^T (+ bias). B is [N, n_blocks, blob] uint8: the weights of column n, block j,
// packed `bits` at a time, low bits first. Each (n, j) has a scale and a zero point (packed the
// same way per column, or float; 2^(bits-1) when absent). g_idx, when given, names the block of
// each k instead of k / block_size. accuracy_level only lets ONNX Runtime compute in lower
// precision; this kernel always computes in float32.
void matmul_nbits(OpContext& ctx) {
  const Tensor& a = ctx.in(0);
  const Tensor& b = ctx.in(1);
  const Tensor& scales = ctx.in(2);
  const Tensor* zero_points = ctx.input(3);
  const Tensor* g_idx = ctx.input(4);
  const Tensor* bias = ctx.input(5);
  int64_t K = ctx.attr_int("K", 0), N = ctx.attr_int("N", 0);
  int64_t bits = ctx.attr_int("bits", 4), block = ctx.attr_int("block_size", 0);
  if (K <= 0 || N <= 0 || block <= 0) ctx.fail("attributes K, N and block_size must be positive");
  if (bits != 2 && bits != 4 && bits != 8)
    ctx.unsupported("bits " + std::to_string(bits) + " is not supported (2, 4, 8)");
  if (block * bits % 8 != 0) ctx.fail("block_size * bits must fill whole bytes");
  if (a.dtype() != DType::f32) ctx.unsupported("A of type " + std::string(dtype_name(a.dtype())) + " is not supported");
  if (a.rank() < 1 || a.shape().back() != K)
    ctx.fail("A " + shape_string(a.shape()) + " must end in K = " + std::to_string(K));
  int64_t n_blocks = (K + block - 1) / block, blob = block * bits / 8;
  if (b.dtype() != DType::u8 || b.numel() != N * n_blocks * blob)
    ctx.fail("B must be uint8 [N, n_blocks, blob] = [" + std::to_string(N) + "," + std::to_string(n_blocks) + "," +
             std::to_string(blob) + "], got " + shape_string(b.shape()));
  if (scales.numel() != N * n_blocks) ctx.fail("scales must have N * n_blocks values");
  FloatValues scale = float_values(ctx, scales);
  int64_t zp_bytes = (n_blocks * bits + 7) / 8;  // packed zero points per column
  FloatValues zp_float;
  if (zero_points) {
    if (zero_points->dtype() == DType::u8) {
      if (zero_points->numel() != N * zp_bytes)
        ctx.fail("packed zero points must have N * ceil(n_blocks * bits / 8) bytes");
    } else {
      zp_float = float_values(ctx, *zero_points);
      if (zero_points->numel() != N * n_blocks) ctx.fail("float zero points must have N * n_blocks values");
    }
  }
  std::vector<int64_t> groups;
  if (g_idx) {
    groups = to_int64s(ctx, *g_idx);
    if (static_cast<int64_t>(groups.size()) != K) ctx.fail("g_idx must have K values");
    for (int64_t j : groups)
      if (j < 0 || j >= n_blocks) ctx.fail("g_idx value " + std::to_string(j) + " is out of range");
  }
  if (bias && (bias->dtype() != DType::f32 || bias->numel() != N)) ctx.fail("bias must be float32 with N values");
  const auto* pb = b.data<uint8_t>();
  const uint8_t* pz = zero_points && zero_points->dtype() == DType::u8 ? zero_points->data<uint8_t>() : nullptr;
  auto mask = static_cast<uint8_t>((1 << bits) - 1);
  float default_zp = static_cast<float>(1 << (bits - 1));
  // Dequantized weights, transposed to [K, N] for a plain row-major GEMM.
  std::vector<float> wt(static_cast<size_t>(K * N));
  ctx.pool().parallel_for(N, std::max<int64_t>(1, kElementGrain / K), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t k = 0; k < K; ++k) {
        int64_t stored = k / block, within = k % block;
        int64_t bit = within * bits;
        uint8_t code = (pb[(n * n_blocks + stored) * blob + bit / 8] >> (bit % 8)) & mask;
        int64_t j = g_idx ? groups[static_cast<size_t>(k)] : stored;
        float zp = default_zp;
        if (pz)
          zp = static_cast<float>((pz[n * zp_bytes + j * bits / 8] >> (j * bits % 8)) & mask);
        else if (zp_float.data)
          zp = zp_float.data[n * n_blocks + j];
        wt[static_cast<size_t>(k * N + n)] = (static_cast<float>(code) - zp) * scale.data[n * n_blocks + j];
      }
    }
  });
  Shape out_shape = a.shape();
  out_shape.back() = N;
  Tensor out(DType::f32, out_shape);
  int64_t M = a.numel() / K;
  gemm_f32(ctx.pool(), a.data<float>(), wt.data(), out.data<float>(), M, K, N, {0}, {0});
  if (bias) {
    const float* pbias = bias->data<float>();
    float* po = out.data<float>();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) po[m * N + n] += pbias[n];
  }
  ctx.out(0) = std::move(out);
}

constexpr OpDef kOps[] = {
    {"", "QuantizeLinear", quantize_linear},
    {"", "DequantizeLinear", dequantize_linear},
    {"", "DynamicQuantizeLinear", dynamic_quantize_linear},
    {"", "MatMulInteger", matmul_integer},
    {"", "ConvInteger", conv_integer},
    {"", "QLinearMatMul", qlinear_matmul},
    {"", "QLinearConv", qlinear_conv},
    {"com.microsoft", "MatMulNBits", matmul_nbits},
};

}  // namespace quant

std::span<const OpDef> quant_ops() { return quant::kOps; }

}  // namespace mcompress::exec
