// Shape and data-movement ops: Reshape and its relatives, Transpose, Concat/Split, Slice,
// Gather*, Expand/Tile/Pad, Shape/Size, constants, Range, Dropout (inference), Resize/Upsample,
// Trilu, CumSum, NonZero, Scatter*, OneHot, EyeLike.
//
// Data movement works on raw bytes (the element width comes from the dtype table) so that every
// fixed-width type — float, int64, bool, int8, float16 ... — moves through the same code; only
// ops that compute (Resize's interpolation, CumSum, scatter reductions, Range) dispatch on type.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "kernels.h"
#include "mcompress/ir/weights.h"

namespace mcompress::exec {
namespace {

// ---- byte-level helpers ------------------------------------------------------------------


Shape row_major_strides(const Shape& s) {
  Shape strides(s.size(), 1);
  for (size_t i = s.size(); i-- > 1;) strides[i - 1] = strides[i] * s[i];
  return strides;
}

// Sizes and element counts computed from input data (pads, repeats, resize scales, Expand's
// shape) stay below this, so the arithmetic on them cannot overflow; no real tensor comes close.
constexpr int64_t kMaxDim = int64_t{1} << 40;

// Output shapes computed from input data (Expand, Tile, Pad, ConstantOfShape...) are checked
// here so that the error names the node.
void check_shape(const OpContext& ctx, const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) ctx.fail("output shape " + shape_string(shape) + " has a negative dimension");
    if (d != 0 && n > kMaxDim / d) ctx.fail("output shape " + shape_string(shape) + " is too large");
    n *= d;
  }
}

// normalize_axis for axes that index a dim: a scalar has none (normalize_axis lets axis 0 through
// for rank 0).
int64_t axis_in(const OpContext& ctx, int64_t axis, int64_t rank) {
  if (rank == 0) ctx.fail("axis " + std::to_string(axis) + " given for a scalar");
  return normalize_axis(ctx, axis, rank);
}

// Input 0's elements under another shape (strings and packed 4-bit types too); no copy when the
// executor hands the input over.
Tensor with_shape(OpContext& ctx, Shape shape) {
  Tensor t = ctx.take_input(0);
  t.reshape(std::move(shape));
  return t;
}

template <int W>
struct Bytes {
  char b[W];
};

// n elements of W bytes, read `stride` elements apart, written contiguously.
template <int W>
void copy_run(const char* src, int64_t stride, int64_t n, char* dst) {
  auto* d = reinterpret_cast<Bytes<W>*>(dst);
  for (int64_t i = 0; i < n; ++i) std::memcpy(d + i, src + i * stride * W, W);
}

void copy_strided_run(const char* src, int64_t stride, int64_t n, int64_t width, char* dst) {
  if (stride == 1) {
    std::memcpy(dst, src, static_cast<size_t>(n * width));
    return;
  }
  switch (width) {
    case 1: copy_run<1>(src, stride, n, dst); return;
    case 2: copy_run<2>(src, stride, n, dst); return;
    case 4: copy_run<4>(src, stride, n, dst); return;
    case 8: copy_run<8>(src, stride, n, dst); return;
    case 16: copy_run<16>(src, stride, n, dst); return;
    default:
      for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * width, src + i * stride * width, static_cast<size_t>(width));
  }
}

// dst[i] = src[offset + Σ index_d · strides_d] over every index of `shape`, elements of `width`
// bytes, dst contiguous. Transpose, Slice, Expand and Tile are all this one walk.
void strided_copy(const OpContext& ctx, const char* src, int64_t offset, const Shape& shape_in,
                  const std::vector<int64_t>& strides_in, int64_t width, char* dst) {
  // Drop unit dims and merge dims that are contiguous in the source, so inner runs are long.
  Shape shape;
  std::vector<int64_t> strides;
  for (size_t d = 0; d < shape_in.size(); ++d) {
    if (shape_in[d] == 0) return;
    if (shape_in[d] == 1) continue;
    if (!shape.empty() && strides.back() == strides_in[d] * shape_in[d]) {
      shape.back() *= shape_in[d];
      strides.back() = strides_in[d];
      continue;
    }
    shape.push_back(shape_in[d]);
    strides.push_back(strides_in[d]);
  }
  src += offset * width;
  if (shape.empty()) {
    std::memcpy(dst, src, static_cast<size_t>(width));
    return;
  }
  size_t rank = shape.size();
  int64_t inner = shape.back();
  int64_t inner_stride = strides.back();
  int64_t rows = product(shape, 0, rank - 1);
  int64_t grain = std::max<int64_t>(1, kElementGrain / inner);
  ctx.pool().parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
    // Source offset of row `begin`, then advance it row by row like an odometer.
    std::vector<int64_t> counter(rank - 1, 0);
    int64_t at = 0;
    for (size_t d = rank - 1, rest = static_cast<size_t>(begin); d-- > 0;) {
      counter[d] = static_cast<int64_t>(rest) % shape[d];
      rest /= static_cast<size_t>(shape[d]);
      at += counter[d] * strides[d];
    }
    for (int64_t row = begin; row < end; ++row) {
      copy_strided_run(src + at * width, inner_stride, inner, width, dst + row * inner * width);
      for (size_t d = rank - 1; d-- > 0;) {
        at += strides[d];
        if (++counter[d] < shape[d]) break;
        at -= strides[d] * shape[d];
        counter[d] = 0;
      }
    }
  });
}

// dst[i] = src[index[i]] for n elements of W bytes (nearest Resize, Pad rows).
template <int W>
void gather_run(const char* src, const int64_t* index, int64_t n, char* dst) {
  auto* d = reinterpret_cast<Bytes<W>*>(dst);
  for (int64_t i = 0; i < n; ++i) std::memcpy(d + i, src + index[i] * W, W);
}

void copy_indexed(const char* src, const int64_t* index, int64_t n, int64_t width, char* dst) {
  switch (width) {
    case 1: gather_run<1>(src, index, n, dst); return;
    case 2: gather_run<2>(src, index, n, dst); return;
    case 4: gather_run<4>(src, index, n, dst); return;
    case 8: gather_run<8>(src, index, n, dst); return;
    default:
      for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * width, src + index[i] * width, static_cast<size_t>(width));
  }
}

// Converts a double into T without undefined behaviour for NaN or out-of-range values.
template <typename T>
T saturate_cast(double v) {
  if constexpr (std::is_integral_v<T>) {
    if (std::isnan(v)) return 0;
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  } else {
    return static_cast<T>(v);
  }
}

// Integer sums and products wrap (two's complement) instead of overflowing into undefined
// behaviour; ONNX Runtime's integer kernels wrap in practice too.
template <typename T>
T wrapping_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
  else return a + b;
}

template <typename T>
T wrapping_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  else return a * b;
}

// The bytes of one element of `dtype` holding v (Pad's value attribute, EyeLike's one...).
std::string scalar_bytes(const OpContext& ctx, DType dtype, double v) {
  Tensor t(dtype, {});
  switch (dtype) {
    case DType::boolean: t.data<uint8_t>()[0] = v != 0; break;
    case DType::f16:
      t.data<uint16_t>()[0] = Eigen::numext::bit_cast<uint16_t>(Eigen::half(static_cast<float>(v)));
      break;
    case DType::bf16:
      t.data<uint16_t>()[0] = Eigen::numext::bit_cast<uint16_t>(Eigen::bfloat16(static_cast<float>(v)));
      break;
    default:
      dispatch_numeric(ctx, dtype, [&](auto tag) {
        using T = decltype(tag);
        t.data<T>()[0] = saturate_cast<T>(v);
      });
  }
  return t.storage();
}

// Writes n copies of `value` (one element's bytes) from dst.
void fill_bytes(char* dst, int64_t n, const std::string& value) {
  if (std::all_of(value.begin(), value.end(), [](char c) { return c == 0; })) {
    std::memset(dst, 0, static_cast<size_t>(n) * value.size());
    return;
  }
  for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * static_cast<int64_t>(value.size()), value.data(), value.size());
}

// Axes as attribute before `input_from_opset`, as optional input `input` from then on.
std::vector<int64_t> axes_arg(const OpContext& ctx, int64_t input_from_opset, size_t input) {
  if (ctx.opset() < input_from_opset) return ctx.attr_ints("axes");
  const Tensor* t = ctx.input(input);
  if (!t) return {};
  return to_int64s(ctx, *t);
}

// First element of a scalar input (Range, CumSum's axis, Trilu's k...).
int64_t scalar_int(const OpContext& ctx, const Tensor& t, const char* what) {
  if (t.numel() != 1) ctx.fail(std::string(what) + " must hold one value, got shape " + shape_string(t.shape()));
  return to_int64s(ctx, t)[0];
}

bool truthy(const Tensor& t) {
  if (t.numel() < 1) return false;
  return element_as_double(t, 0) != 0;
}

// ---- Reshape, Flatten, Squeeze, Unsqueeze -------------------------------------------------

void reshape(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  // Reshape-1..4 took the shape as an attribute.
  std::vector<int64_t> requested = ctx.opset() < 5 ? ctx.attr_ints("shape") : to_int64s(ctx, ctx.in(1));
  bool allow_zero = ctx.attr_int("allowzero", 0) != 0;
  Shape shape(requested.size());
  int64_t infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < requested.size(); ++i) {
    int64_t d = requested[i];
    if (d == 0 && !allow_zero) {
      if (i >= x.shape().size()) ctx.fail("shape dim " + std::to_string(i) + " is 0 but the input has rank " + std::to_string(x.rank()));
      d = x.shape()[i];
    }
    if (d == -1) {
      if (infer >= 0) ctx.fail("shape has more than one -1");
      infer = static_cast<int64_t>(i);
      shape[i] = 1;
      continue;
    }
    if (d < -1) ctx.fail("shape has a negative dimension " + std::to_string(d));
    shape[i] = d;
    if (d != 0 && known > std::numeric_limits<int64_t>::max() / d) ctx.fail("shape is too large");
    known *= d;
  }
  if (infer >= 0) {
    if (known == 0) {
      if (x.numel() != 0) ctx.fail("cannot infer -1 next to a zero dimension");
      shape[infer] = 0;
    } else {
      if (x.numel() % known != 0)
        ctx.fail("cannot reshape " + shape_string(x.shape()) + " with -1 into " + std::to_string(known) + "-element blocks");
      shape[infer] = x.numel() / known;
    }
  } else if (known != x.numel()) {
    ctx.fail("cannot reshape " + shape_string(x.shape()) + " into " + shape_string(shape));
  }
  ctx.out(0) = with_shape(ctx, std::move(shape));
}

void flatten(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t rank = x.rank();
  int64_t axis = ctx.attr_int("axis", 1);
  if (axis < -rank || axis > rank) ctx.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  if (axis < 0) axis += rank;
  int64_t rows = product(x.shape(), 0, static_cast<size_t>(axis));
  int64_t cols = product(x.shape(), static_cast<size_t>(axis), x.shape().size());
  ctx.out(0) = with_shape(ctx, {rows, cols});
}

void squeeze(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> axes = axes_arg(ctx, 13, 1);
  int64_t rank = x.rank();
  std::vector<bool> drop(static_cast<size_t>(rank), false);
  if (axes.empty()) {
    for (int64_t d = 0; d < rank; ++d) drop[static_cast<size_t>(d)] = x.shape()[static_cast<size_t>(d)] == 1;
  }
  for (int64_t a : axes) {
    int64_t d = axis_in(ctx, a, rank);
    if (x.shape()[static_cast<size_t>(d)] != 1)
      ctx.fail("cannot squeeze axis " + std::to_string(a) + " of shape " + shape_string(x.shape()) + ": it is not 1");
    drop[static_cast<size_t>(d)] = true;
  }
  Shape shape;
  for (int64_t d = 0; d < rank; ++d)
    if (!drop[static_cast<size_t>(d)]) shape.push_back(x.shape()[static_cast<size_t>(d)]);
  ctx.out(0) = with_shape(ctx, std::move(shape));
}

void unsqueeze(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> axes = axes_arg(ctx, 13, 1);
  if (axes.empty()) ctx.fail("needs axes");
  int64_t rank = x.rank() + static_cast<int64_t>(axes.size());
  std::vector<bool> inserted(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    int64_t d = axis_in(ctx, a, rank);
    if (inserted[static_cast<size_t>(d)]) ctx.fail("axis " + std::to_string(a) + " is repeated");
    inserted[static_cast<size_t>(d)] = true;
  }
  Shape shape;
  size_t next = 0;
  for (int64_t d = 0; d < rank; ++d) shape.push_back(inserted[static_cast<size_t>(d)] ? 1 : x.shape()[next++]);
  ctx.out(0) = with_shape(ctx, std::move(shape));
}

// ---- Transpose, Concat, Split --------------------------------------------------------------

void transpose(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t rank = x.rank();
  std::vector<int64_t> perm = ctx.attr_ints("perm");
  if (perm.empty()) {
    perm.resize(static_cast<size_t>(rank));
    for (int64_t i = 0; i < rank; ++i) perm[static_cast<size_t>(i)] = rank - 1 - i;
  }
  if (static_cast<int64_t>(perm.size()) != rank) ctx.fail("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(rank));
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t& p : perm) {
    p = axis_in(ctx, p, rank);
    if (seen[static_cast<size_t>(p)]) ctx.fail("perm repeats axis " + std::to_string(p));
    seen[static_cast<size_t>(p)] = true;
  }
  Shape in_strides = row_major_strides(x.shape());
  Shape shape(static_cast<size_t>(rank));
  std::vector<int64_t> strides(static_cast<size_t>(rank));
  for (size_t i = 0; i < perm.size(); ++i) {
    shape[i] = x.shape()[static_cast<size_t>(perm[i])];
    strides[i] = in_strides[static_cast<size_t>(perm[i])];
  }
  if (x.dtype() == DType::string) {
    Tensor out(DType::string, shape);
    std::vector<int64_t> counter(shape.size(), 0);
    for (int64_t i = 0; i < out.numel(); ++i) {
      int64_t at = 0;
      for (size_t d = 0; d < shape.size(); ++d) at += counter[d] * strides[d];
      out.strings()[static_cast<size_t>(i)] = x.strings()[static_cast<size_t>(at)];
      for (size_t d = shape.size(); d-- > 0;) {
        if (++counter[d] < shape[d]) break;
        counter[d] = 0;
      }
    }
    ctx.out(0) = std::move(out);
    return;
  }
  int64_t width = element_width(ctx, x.dtype());
  Tensor out(x.dtype(), shape);
  strided_copy(ctx, x.storage().data(), 0, shape, strides, width, out.storage().data());
  ctx.out(0) = std::move(out);
}

void concat(OpContext& ctx) {
  const Tensor& first = ctx.in(0);
  int64_t rank = first.rank();
  if (rank == 0) ctx.fail("cannot concatenate scalars");
  int64_t axis = axis_in(ctx, ctx.attr_int("axis", 0), rank);
  int64_t width = element_width(ctx, first.dtype());
  Shape shape = first.shape();
  shape[static_cast<size_t>(axis)] = 0;
  for (size_t k = 0; k < ctx.num_inputs(); ++k) {
    const Tensor& t = ctx.in(k);
    if (t.dtype() != first.dtype()) ctx.fail("inputs have different types");
    if (t.rank() != rank) ctx.fail("input " + std::to_string(k) + " has shape " + shape_string(t.shape()) + ", expected rank " + std::to_string(rank));
    for (int64_t d = 0; d < rank; ++d)
      if (d != axis && t.shape()[static_cast<size_t>(d)] != first.shape()[static_cast<size_t>(d)])
        ctx.fail("input shapes " + shape_string(first.shape()) + " and " + shape_string(t.shape()) + " differ off the axis");
    shape[static_cast<size_t>(axis)] += t.shape()[static_cast<size_t>(axis)];
  }
  Tensor out(first.dtype(), shape);
  int64_t outer = product(shape, 0, static_cast<size_t>(axis));
  int64_t inner_bytes = product(shape, static_cast<size_t>(axis) + 1, shape.size()) * width;
  int64_t out_row = shape[static_cast<size_t>(axis)] * inner_bytes;
  char* po = out.storage().data();
  ctx.pool().parallel_for(outer, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, out_row)), [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      char* dst = po + o * out_row;
      for (size_t k = 0; k < ctx.num_inputs(); ++k) {
        const Tensor& t = ctx.in(k);
        int64_t chunk = t.shape()[static_cast<size_t>(axis)] * inner_bytes;
        std::memcpy(dst, t.storage().data() + o * chunk, static_cast<size_t>(chunk));
        dst += chunk;
      }
    }
  });
  ctx.out(0) = std::move(out);
}

void split(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t rank = x.rank();
  int64_t axis = axis_in(ctx, ctx.attr_int("axis", 0), rank);
  int64_t dim = x.shape()[static_cast<size_t>(axis)];
  int64_t parts = static_cast<int64_t>(ctx.num_outputs());
  std::vector<int64_t> sizes = ctx.opset() < 13 ? ctx.attr_ints("split") : std::vector<int64_t>{};
  if (ctx.opset() >= 13)
    if (const Tensor* s = ctx.input(1)) sizes = to_int64s(ctx, *s);
  if (sizes.empty()) {
    // Equal parts; num_outputs (opset 18) lets the last part be smaller.
    if (ctx.has_attr("num_outputs")) parts = ctx.attr_int("num_outputs", parts);
    if (parts != static_cast<int64_t>(ctx.num_outputs())) ctx.fail("num_outputs does not match the node's outputs");
    if (parts <= 0) ctx.fail("needs at least one output");
    int64_t chunk = (dim + parts - 1) / parts;
    if (!ctx.has_attr("num_outputs") && dim % parts != 0)
      ctx.fail("cannot split dimension " + std::to_string(dim) + " into " + std::to_string(parts) + " equal parts");
    for (int64_t k = 0; k < parts; ++k) sizes.push_back(std::clamp<int64_t>(dim - k * chunk, 0, chunk));
  }
  if (static_cast<int64_t>(sizes.size()) != parts)
    ctx.fail("split has " + std::to_string(sizes.size()) + " sizes for " + std::to_string(parts) + " outputs");
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0 || s > dim) ctx.fail("split size " + std::to_string(s) + " does not fit a dimension of " + std::to_string(dim));
    total += s;
  }
  if (total != dim) ctx.fail("split sizes add up to " + std::to_string(total) + ", the axis has " + std::to_string(dim));
  int64_t width = element_width(ctx, x.dtype());
  int64_t outer = product(x.shape(), 0, static_cast<size_t>(axis));
  int64_t inner_bytes = product(x.shape(), static_cast<size_t>(axis) + 1, x.shape().size()) * width;
  int64_t start = 0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    int64_t chunk = sizes[k] * inner_bytes;
    if (ctx.has_output(k)) {
      Shape shape = x.shape();
      shape[static_cast<size_t>(axis)] = sizes[k];
      Tensor out(x.dtype(), shape);
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(out.storage().data() + o * chunk, x.storage().data() + o * dim * inner_bytes + start * inner_bytes,
                    static_cast<size_t>(chunk));
      ctx.out(k) = std::move(out);
    }
    start += sizes[k];
  }
}

// ---- Slice -----------------------------------------------------------------------------

void slice(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t rank = x.rank();
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset() < 10) {
    starts = ctx.attr_ints("starts");
    ends = ctx.attr_ints("ends");
    axes = ctx.attr_ints("axes");
  } else {
    starts = to_int64s(ctx, ctx.in(1));
    ends = to_int64s(ctx, ctx.in(2));
    if (const Tensor* a = ctx.input(3)) axes = to_int64s(ctx, *a);
    if (const Tensor* s = ctx.input(4)) steps = to_int64s(ctx, *s);
  }
  if (starts.size() != ends.size()) ctx.fail("starts and ends have different lengths");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size()) ctx.fail("starts, ends, axes and steps have different lengths");

  Shape shape = x.shape();
  Shape in_strides = row_major_strides(x.shape());
  std::vector<int64_t> strides = in_strides;
  int64_t offset = 0;
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (size_t i = 0; i < starts.size(); ++i) {
    size_t axis = static_cast<size_t>(axis_in(ctx, axes[i], rank));
    if (seen[axis]) ctx.fail("axis " + std::to_string(axes[i]) + " is repeated");
    seen[axis] = true;
    int64_t dim = x.shape()[axis];
    int64_t step = steps[i];
    if (step == 0) ctx.fail("steps must not be 0");
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t count;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      count = end > start ? (end - start + step - 1) / step : 0;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      count = start > end ? (start - end + (-step) - 1) / (-step) : 0;
    }
    shape[axis] = count;
    if (count > 0) offset += start * in_strides[axis];
    strides[axis] = in_strides[axis] * step;
  }
  if (x.dtype() == DType::string) ctx.unsupported("Slice on strings is not supported");
  int64_t width = element_width(ctx, x.dtype());
  Tensor out(x.dtype(), shape);
  if (out.numel() > 0) strided_copy(ctx, x.storage().data(), offset, shape, strides, width, out.storage().data());
  ctx.out(0) = std::move(out);
}

// ---- Gather, GatherElements ----------------------------------------------------------------

// Index values normalized into [0, dim); negative ones count from the end.
std::vector<int64_t> checked_indices(const OpContext& ctx, const Tensor& indices, int64_t dim) {
  std::vector<int64_t> idx = to_int64s(ctx, indices);
  for (int64_t& i : idx) {
    if (i < -dim || i >= dim) ctx.fail("index " + std::to_string(i) + " is out of range for a dimension of " + std::to_string(dim));
    if (i < 0) i += dim;
  }
  return idx;
}

void gather(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  int64_t rank = x.rank();
  if (rank == 0) ctx.fail("cannot gather from a scalar");
  size_t axis = static_cast<size_t>(axis_in(ctx, ctx.attr_int("axis", 0), rank));
  int64_t dim = x.shape()[axis];
  std::vector<int64_t> idx = checked_indices(ctx, indices, dim);
  Shape shape(x.shape().begin(), x.shape().begin() + static_cast<int64_t>(axis));
  shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
  shape.insert(shape.end(), x.shape().begin() + static_cast<int64_t>(axis) + 1, x.shape().end());
  int64_t outer = product(x.shape(), 0, axis);
  int64_t n = static_cast<int64_t>(idx.size());
  if (x.dtype() == DType::string) {
    int64_t inner = product(x.shape(), axis + 1, x.shape().size());
    Tensor out(DType::string, shape);
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < n; ++j)
        for (int64_t k = 0; k < inner; ++k)
          out.strings()[static_cast<size_t>((o * n + j) * inner + k)] = x.strings()[static_cast<size_t>((o * dim + idx[static_cast<size_t>(j)]) * inner + k)];
    ctx.out(0) = std::move(out);
    return;
  }
  int64_t width = element_width(ctx, x.dtype());
  int64_t inner_bytes = product(x.shape(), axis + 1, x.shape().size()) * width;
  Tensor out(x.dtype(), shape);
  const char* px = x.storage().data();
  char* po = out.storage().data();
  ctx.pool().parallel_for(outer * n, std::max<int64_t>(1, kElementGrain / std::max<int64_t>(1, inner_bytes)), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t o = r / n, j = r % n;
      std::memcpy(po + r * inner_bytes, px + (o * dim + idx[static_cast<size_t>(j)]) * inner_bytes, static_cast<size_t>(inner_bytes));
    }
  });
  ctx.out(0) = std::move(out);
}

// Calls f(out_linear, src_linear) for GatherElements/ScatterElements: the element at `index` of
// the indices tensor maps to the data element with the same index, except along `axis`.
template <typename F>
void for_each_element_index(const OpContext& ctx, const Shape& data_shape, const Tensor& indices, size_t axis, F&& f) {
  const Shape& ishape = indices.shape();
  if (ishape.size() != data_shape.size()) ctx.fail("indices and data have different ranks");
  for (size_t d = 0; d < ishape.size(); ++d)
    if (d != axis && ishape[d] > data_shape[d]) ctx.fail("indices shape " + shape_string(ishape) + " exceeds data shape " + shape_string(data_shape));
  std::vector<int64_t> idx = checked_indices(ctx, indices, data_shape[axis]);
  Shape strides = row_major_strides(data_shape);
  std::vector<int64_t> counter(ishape.size(), 0);
  for (int64_t i = 0; i < indices.numel(); ++i) {
    int64_t at = 0;
    for (size_t d = 0; d < ishape.size(); ++d) at += (d == axis ? idx[static_cast<size_t>(i)] : counter[d]) * strides[d];
    f(i, at);
    for (size_t d = ishape.size(); d-- > 0;) {
      if (++counter[d] < ishape[d]) break;
      counter[d] = 0;
    }
  }
}

void gather_elements(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  if (x.rank() == 0) ctx.fail("cannot gather from a scalar");
  size_t axis = static_cast<size_t>(axis_in(ctx, ctx.attr_int("axis", 0), x.rank()));
  int64_t width = element_width(ctx, x.dtype());
  Tensor out(x.dtype(), indices.shape());
  const char* px = x.storage().data();
  char* po = out.storage().data();
  for_each_element_index(ctx, x.shape(), indices, axis, [&](int64_t i, int64_t at) {
    std::memcpy(po + i * width, px + at * width, static_cast<size_t>(width));
  });
  ctx.out(0) = std::move(out);
}

// ---- Shape, Size, Expand, Tile -------------------------------------------------------------

void shape_op(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t rank = x.rank();
  int64_t start = ctx.attr_int("start", 0);
  int64_t end = ctx.attr_int("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  std::vector<int64_t> dims;
  for (int64_t d = start; d < end; ++d) dims.push_back(x.shape()[static_cast<size_t>(d)]);
  ctx.out(0) = Tensor::from_values<int64_t>(DType::i64, {static_cast<int64_t>(dims.size())}, dims);
}

void size_op(OpContext& ctx) {
  int64_t n = ctx.in(0).numel();
  ctx.out(0) = Tensor::from_values<int64_t>(DType::i64, {}, std::span<const int64_t>(&n, 1));
}

void expand(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  Shape requested = to_int64s(ctx, ctx.in(1));
  check_shape(ctx, requested);
  Shape shape = broadcast_shapes(ctx, {&x.shape(), &requested});
  check_shape(ctx, shape);
  int64_t width = element_width(ctx, x.dtype());
  Tensor out(x.dtype(), shape);
  if (out.numel() > 0)
    strided_copy(ctx, x.storage().data(), 0, shape, broadcast_strides(x.shape(), shape), width, out.storage().data());
  ctx.out(0) = std::move(out);
}

void tile(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<int64_t> repeats = to_int64s(ctx, ctx.in(1));
  if (static_cast<int64_t>(repeats.size()) != x.rank())
    ctx.fail("repeats has " + std::to_string(repeats.size()) + " entries for rank " + std::to_string(x.rank()));
  // The output [r0*d0, r1*d1, ...] is, in row-major order, the walk [r0, d0, r1, d1, ...] with
  // stride 0 along each repeat: one strided copy.
  Shape in_strides = row_major_strides(x.shape());
  Shape shape, walk;
  std::vector<int64_t> strides;
  for (size_t d = 0; d < repeats.size(); ++d) {
    if (repeats[d] < 0 || repeats[d] > kMaxDim) ctx.fail("repeats must be in [0, 2^40]");
    if (x.shape()[d] != 0 && repeats[d] > kMaxDim / x.shape()[d]) ctx.fail("tiled shape is too large");
    shape.push_back(repeats[d] * x.shape()[d]);
    walk.insert(walk.end(), {repeats[d], x.shape()[d]});
    strides.insert(strides.end(), {0, in_strides[d]});
  }
  check_shape(ctx, shape);
  int64_t width = element_width(ctx, x.dtype());
  Tensor out(x.dtype(), shape);
  if (out.numel() > 0) strided_copy(ctx, x.storage().data(), 0, walk, strides, width, out.storage().data());
  ctx.out(0) = std::move(out);
}

// ---- Pad ----------------------------------------------------------------------------------

enum class PadMode { constant, reflect, edge, wrap };

constexpr std::pair<std::string_view, PadMode> kPadModes[] = {
    {"constant", PadMode::constant}, {"reflect", PadMode::reflect}, {"edge", PadMode::edge}, {"wrap", PadMode::wrap}};

// Source index along one dim for output position o, or -1 for the constant.
int64_t pad_source(PadMode mode, int64_t o, int64_t begin, int64_t dim) {
  int64_t i = o - begin;
  if (i >= 0 && i < dim) return i;
  switch (mode) {
    case PadMode::constant: return -1;
    case PadMode::edge: return std::clamp<int64_t>(i, 0, dim - 1);
    case PadMode::wrap: return ((i % dim) + dim) % dim;
    case PadMode::reflect: {
      if (dim == 1) return 0;
      int64_t period = 2 * (dim - 1);
      int64_t j = ((i % period) + period) % period;
      return j < dim ? j : period - j;
    }
  }
  return -1;
}

void pad(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  int64_t rank = x.rank();
  std::string mode_name = ctx.attr_string("mode", "constant");
  auto known = std::find_if(std::begin(kPadModes), std::end(kPadModes), [&](const auto& m) { return m.first == mode_name; });
  if (known == std::end(kPadModes)) ctx.unsupported("pad mode '" + mode_name + "' is not supported");
  PadMode mode = known->second;
  int64_t width = element_width(ctx, x.dtype());

  std::vector<int64_t> pads;
  std::string value = std::string(static_cast<size_t>(width), '\0');
  std::vector<int64_t> axes;
  if (ctx.opset() < 11) {
    pads = ctx.attr_ints(ctx.has_attr("pads") ? "pads" : "paddings");
    value = scalar_bytes(ctx, x.dtype(), ctx.attr_float("value", 0.f));
  } else {
    pads = to_int64s(ctx, ctx.in(1));
    if (const Tensor* v = ctx.input(2); v && v->numel() > 0) {
      if (v->dtype() != x.dtype()) ctx.fail("constant_value has a different type from the data");
      value = v->storage().substr(0, static_cast<size_t>(width));
    }
    if (const Tensor* a = ctx.input(3)) axes = to_int64s(ctx, *a);
  }
  if (axes.empty())
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  if (pads.size() != 2 * axes.size())
    ctx.fail("pads has " + std::to_string(pads.size()) + " entries, expected " + std::to_string(2 * axes.size()));
  std::vector<int64_t> begin(static_cast<size_t>(rank), 0), end(static_cast<size_t>(rank), 0);
  for (int64_t p : pads)
    if (p > kMaxDim || p < -kMaxDim) ctx.fail("pad " + std::to_string(p) + " is out of range");
  for (size_t i = 0; i < axes.size(); ++i) {
    size_t d = static_cast<size_t>(axis_in(ctx, axes[i], rank));
    begin[d] = pads[i];
    end[d] = pads[i + axes.size()];
  }
  Shape shape(static_cast<size_t>(rank));
  for (size_t d = 0; d < shape.size(); ++d) {
    shape[d] = x.shape()[d] + begin[d] + end[d];
    if (shape[d] < 0) ctx.fail("pads remove more than dimension " + std::to_string(d) + " holds");
    if (shape[d] > 0 && x.shape()[d] == 0 && mode != PadMode::constant)
      ctx.fail("cannot " + mode_name + "-pad an empty dimension");
  }
  check_shape(ctx, shape);
  Tensor out(x.dtype(), shape);
  if (out.numel() == 0) {
    ctx.out(0) = std::move(out);
    return;
  }
  // Source index per output position, per dim; -1 = constant.
  std::vector<std::vector<int64_t>> source(static_cast<size_t>(rank));
  for (size_t d = 0; d < source.size(); ++d) {
    source[d].resize(static_cast<size_t>(shape[d]));
    for (int64_t o = 0; o < shape[d]; ++o) source[d][static_cast<size_t>(o)] = pad_source(mode, o, begin[d], x.shape()[d]);
  }
  Shape in_strides = row_major_strides(x.shape());
  const char* px = x.storage().data();
  char* po = out.storage().data();
  if (rank == 0) {
    std::memcpy(po, px, static_cast<size_t>(width));
    ctx.out(0) = std::move(out);
    return;
  }
  size_t last = static_cast<size_t>(rank - 1);
  int64_t inner = shape[last];
  int64_t rows = out.numel() / inner;
  ctx.pool().parallel_for(rows, std::max<int64_t>(1, kElementGrain / inner), [&](int64_t row_begin, int64_t row_end) {
    for (int64_t row = row_begin; row < row_end; ++row) {
      char* dst = po + row * inner * width;
      int64_t at = 0;
      bool constant_row = false;
      for (size_t d = last, rest = static_cast<size_t>(row); d-- > 0;) {
        int64_t o = static_cast<int64_t>(rest) % shape[d];
        rest /= static_cast<size_t>(shape[d]);
        int64_t s = source[d][static_cast<size_t>(o)];
        if (s < 0) constant_row = true;
        at += s * in_strides[d];
      }
      if (constant_row) {
        fill_bytes(dst, inner, value);
        continue;
      }
      // The last dim: constant runs at both ends, gathered (mostly contiguous) source between.
      const std::vector<int64_t>& src = source[last];
      int64_t lead = 0, tail = inner;
      while (lead < inner && src[static_cast<size_t>(lead)] < 0) ++lead;
      while (tail > lead && src[static_cast<size_t>(tail - 1)] < 0) --tail;
      fill_bytes(dst, lead, value);
      copy_indexed(px + at * width, src.data() + lead, tail - lead, width, dst + lead * width);
      fill_bytes(dst + tail * width, inner - tail, value);
    }
  });
  ctx.out(0) = std::move(out);
}

// ---- constants -----------------------------------------------------------------------------

void constant_of_shape(OpContext& ctx) {
  Shape shape = to_int64s(ctx, ctx.in(0));
  check_shape(ctx, shape);
  const ir::Attribute* v = ctx.node().attr("value");
  if (!v) {
    ctx.out(0) = Tensor(DType::f32, shape);
    return;
  }
  const Tensor& value = v->t.tensor;
  if (value.numel() != 1) ctx.fail("value must hold one element");
  int64_t width = element_width(ctx, value.dtype());
  Tensor out(value.dtype(), shape);
  fill_bytes(out.storage().data(), out.numel(), value.storage().substr(0, static_cast<size_t>(width)));
  ctx.out(0) = std::move(out);
}

void constant(OpContext& ctx) {
  for (const ir::Attribute& a : ctx.node().attributes) {
    if (a.name == "value") {
      ctx.out(0) = a.t.tensor;
      return;
    }
    if (a.name == "sparse_value") {
      if (!a.sparse) ctx.fail("sparse_value is empty");
      ctx.out(0) = ir::densify(*a.sparse);
      return;
    }
    if (a.name == "value_float") {
      ctx.out(0) = Tensor::from_values<float>(DType::f32, {}, std::span<const float>(&a.f, 1));
      return;
    }
    if (a.name == "value_floats") {
      ctx.out(0) = Tensor::from_values<float>(DType::f32, {static_cast<int64_t>(a.floats.size())}, a.floats);
      return;
    }
    if (a.name == "value_int") {
      ctx.out(0) = Tensor::from_values<int64_t>(DType::i64, {}, std::span<const int64_t>(&a.i, 1));
      return;
    }
    if (a.name == "value_ints") {
      ctx.out(0) = Tensor::from_values<int64_t>(DType::i64, {static_cast<int64_t>(a.ints.size())}, a.ints);
      return;
    }
    if (a.name == "value_string") {
      ctx.out(0) = Tensor::from_strings({}, {a.s});
      return;
    }
    if (a.name == "value_strings") {
      ctx.out(0) = Tensor::from_strings({static_cast<int64_t>(a.strings.size())}, a.strings);
      return;
    }
  }
  ctx.fail("has no value attribute");
}

void range(OpContext& ctx) {
  const Tensor& start = ctx.in(0);
  const Tensor& limit = ctx.in(1);
  const Tensor& delta = ctx.in(2);
  if (start.dtype() != limit.dtype() || start.dtype() != delta.dtype()) ctx.fail("start, limit and delta have different types");
  if (start.numel() != 1 || limit.numel() != 1 || delta.numel() != 1) ctx.fail("start, limit and delta must be scalars");
  dispatch_numeric(ctx, start.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T s = start.data<T>()[0], l = limit.data<T>()[0], d = delta.data<T>()[0];
    if (d == T(0)) ctx.fail("delta must not be 0");
    int64_t n;
    if constexpr (std::is_integral_v<T>) {
      // Exact ceil((l - s) / d) without overflow.
      __int128 diff = static_cast<__int128>(l) - static_cast<__int128>(s);
      __int128 step = static_cast<__int128>(d);
      __int128 q = diff / step;
      if (q * step != diff && ((diff > 0) == (step > 0))) ++q;
      n = q > 0 ? static_cast<int64_t>(std::min<__int128>(q, kMaxDim + 1)) : 0;
    } else {
      double q = std::ceil((static_cast<double>(l) - static_cast<double>(s)) / static_cast<double>(d));
      if (std::isnan(q)) ctx.fail("start, limit and delta give no element count");
      n = q > 0 ? static_cast<int64_t>(std::min(q, static_cast<double>(kMaxDim + 1))) : 0;
    }
    if (n > kMaxDim) ctx.fail("range has too many elements");
    Tensor out(start.dtype(), {n});
    T* po = out.data<T>();
    // Repeated addition, as ONNX's function body and ONNX Runtime compute it.
    T v = s;
    for (int64_t i = 0; i < n; ++i) {
      po[i] = v;
      v = wrapping_add(v, d);
    }
    ctx.out(0) = std::move(out);
  });
}

// Inference only: the output is the input. From opset 12 the mask says every element was kept
// (all true); before, ONNX Runtime gives an all-zero mask and we follow it.
void dropout(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (ctx.opset() >= 12) {
    const Tensor* training = ctx.input(2);
    const Tensor* ratio = ctx.input(1);
    double r = ratio && ratio->numel() > 0 ? element_as_double(*ratio, 0) : 0.5;
    if (training && truthy(*training) && r != 0) ctx.unsupported("Dropout in training mode is not supported");
  }
  ctx.out(0) = x;
  if (!ctx.has_output(1)) return;
  // Dropout-7..9 typed the mask like the data; from 10 it is bool.
  DType mask_type = ctx.opset() < 10 ? x.dtype() : DType::boolean;
  Tensor mask(mask_type, x.shape());
  if (ctx.opset() >= 12) fill_bytes(mask.storage().data(), mask.numel(), scalar_bytes(ctx, mask_type, 1.0));
  ctx.out(1) = std::move(mask);
}

// ---- Resize / Upsample ---------------------------------------------------------------------

enum class ResizeMode { nearest, linear, cubic };

struct ResizeConfig {
  ResizeMode mode = ResizeMode::nearest;
  std::string coordinates = "half_pixel";
  std::string nearest_mode = "round_prefer_floor";  // "simple": Upsample and Resize-10
  float cubic_a = -0.75f;
  bool exclude_outside = false;
  bool antialias = false;
  float extrapolation = 0.f;
  std::vector<float> scales;  // per dim
  std::vector<float> roi;     // starts then ends, per dim; tf_crop_and_resize only
  Shape out_shape;
};

// Where output coordinate x falls in the input, along one dim (float arithmetic, as ONNX Runtime
// computes it: nearest's rounding depends on it).
float original_coordinate(const ResizeConfig& c, size_t dim, float x, int64_t len_in, int64_t len_out) {
  float scale = c.scales[dim];
  const std::string& m = c.coordinates;
  // ONNX Runtime leaves unscaled dims alone whatever the mode: tf_half_pixel_for_nn does not
  // shift them by half a pixel, and tf_crop_and_resize does not crop them to the roi.
  if (scale == 1.f) return x;
  if (m == "half_pixel") return (x + 0.5f) / scale - 0.5f;
  if (m == "asymmetric") return x / scale;
  if (m == "pytorch_half_pixel") return len_out > 1 ? (x + 0.5f) / scale - 0.5f : 0.f;
  if (m == "tf_half_pixel_for_nn") return (x + 0.5f) / scale;
  if (m == "align_corners")
    return len_out == 1 ? 0.f : x * static_cast<float>(len_in - 1) / static_cast<float>(len_out - 1);
  if (m == "half_pixel_symmetric") {
    float adjustment = static_cast<float>(len_out) / (scale * static_cast<float>(len_in));
    float center = static_cast<float>(len_in) / 2.f;
    float offset = center * (1.f - adjustment);
    return offset + (x + 0.5f) / scale - 0.5f;
  }
  // tf_crop_and_resize
  float start = c.roi[dim], end = c.roi[dim + c.scales.size()];
  float span = static_cast<float>(len_in - 1);
  if (len_out > 1) return start * span + x * (end - start) * span / static_cast<float>(len_out - 1);
  return 0.5f * (start + end) * span;
}

int64_t nearest_index(const std::string& mode, float x, float scale) {
  float f = std::floor(x);
  if (mode == "floor") return static_cast<int64_t>(f);
  if (mode == "ceil") return static_cast<int64_t>(std::ceil(x));
  if (mode == "simple") return scale < 1.f ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(f);
  if (x == f + 0.5f) return static_cast<int64_t>(mode == "round_prefer_ceil" ? f + 1 : f);
  return static_cast<int64_t>(std::round(x));
}

// Linear and cubic kernels at distance t (in input pixels, already scaled for antialias).
double linear_kernel(double t) { return std::max(0.0, 1.0 - std::abs(t)); }
double cubic_kernel(double t, double a) {
  t = std::abs(t);
  if (t <= 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

// Interpolation taps along one dim: for each output coordinate, `count` (source index, weight)
// pairs, or `outside` (tf_crop_and_resize's extrapolation).
struct Taps {
  int64_t count = 1;
  std::vector<int64_t> index;
  std::vector<double> weight;
  std::vector<uint8_t> outside;
};

// Coordinates far outside the input give the same taps as ones just outside (indices clamp to the
// edge, excluded taps stay excluded); bounding them keeps the integer conversions defined.
float bounded(float x, int64_t len_in, int64_t margin) {
  if (std::isnan(x)) return 0.f;
  return std::clamp(x, -static_cast<float>(margin), static_cast<float>(len_in + margin));
}

Taps resize_taps(const ResizeConfig& c, size_t dim, int64_t len_in, int64_t len_out) {
  Taps taps;
  taps.outside.assign(static_cast<size_t>(len_out), 0);
  float scale = c.scales[dim];
  bool crop = c.coordinates == "tf_crop_and_resize";
  if (c.mode == ResizeMode::nearest) {
    taps.count = 1;
    for (int64_t o = 0; o < len_out; ++o) {
      float x = original_coordinate(c, dim, static_cast<float>(o), len_in, len_out);
      if (crop && !(x >= 0 && x <= static_cast<float>(len_in - 1))) taps.outside[static_cast<size_t>(o)] = 1;
      x = bounded(x, len_in, 2);
      taps.index.push_back(std::clamp<int64_t>(nearest_index(c.nearest_mode, x, scale), 0, len_in - 1));
      taps.weight.push_back(1.0);
    }
    return taps;
  }
  // The kernel stretches by 1/scale when antialiasing a downscale.
  double support_scale = c.antialias ? std::min(1.0, static_cast<double>(scale)) : 1.0;
  double radius = c.mode == ResizeMode::linear ? 1.0 : 2.0;
  // A non-empty output keeps scale >= 1/len_in, so the window never reaches this cap; it only
  // bounds the tap count for degenerate inputs.
  double window = std::min(radius / support_scale, static_cast<double>(2 * len_in + 4));
  int64_t first = static_cast<int64_t>(std::floor(-window)) + 1;
  int64_t last = 1 - first;  // inclusive
  taps.count = last - first + 1;
  for (int64_t o = 0; o < len_out; ++o) {
    float x = original_coordinate(c, dim, static_cast<float>(o), len_in, len_out);
    if (crop && !(x >= 0 && x <= static_cast<float>(len_in - 1))) taps.outside[static_cast<size_t>(o)] = 1;
    x = bounded(x, len_in, taps.count + 2);
    if (c.mode == ResizeMode::linear && !c.antialias) x = std::clamp(x, 0.f, static_cast<float>(len_in - 1));
    double base = std::floor(static_cast<double>(x));
    double ratio = static_cast<double>(x) - base;
    double sum = 0;
    size_t at = taps.weight.size();
    for (int64_t i = first; i <= last; ++i) {
      double t = (static_cast<double>(i) - ratio) * support_scale;
      double w = c.mode == ResizeMode::linear ? linear_kernel(t) : cubic_kernel(t, c.cubic_a);
      int64_t src = static_cast<int64_t>(base) + i;
      if (c.exclude_outside && (src < 0 || src >= len_in)) w = 0;
      taps.index.push_back(std::clamp<int64_t>(src, 0, len_in - 1));
      taps.weight.push_back(w);
      sum += w;
    }
    if (sum != 0)
      for (size_t k = at; k < taps.weight.size(); ++k) taps.weight[k] /= sum;
  }
  // Dims where every coordinate has a single tap of weight 1 (unscaled N and C) collapse to one
  // tap, so 4-D images cost 4 taps (linear) or 16 (cubic) per output, not 16 or 256.
  bool single = true;
  std::vector<int64_t> one_index;
  for (int64_t o = 0; o < len_out && single; ++o) {
    int64_t nonzero = 0, idx = 0;
    for (int64_t k = 0; k < taps.count; ++k) {
      size_t j = static_cast<size_t>(o * taps.count + k);
      if (taps.weight[j] == 0) continue;
      ++nonzero;
      idx = taps.index[j];
      if (taps.weight[j] != 1.0) nonzero = 2;
    }
    single = nonzero == 1;
    one_index.push_back(idx);
  }
  if (single) {
    taps.count = 1;
    taps.index = std::move(one_index);
    taps.weight.assign(static_cast<size_t>(len_out), 1.0);
  }
  return taps;
}

// Bilinear resize of the last two dims of a 2-D or [N,C,H,W] float32 tensor, in ONNX Runtime's
// float arithmetic to the bit: per output coordinate, the source clamped to the input, its two
// neighbours and distances d1, d2 (0.5 each where the neighbours coincide), then
// dx2*dy2*X11 + dx1*dy2*X21 + dx2*dy1*X12 + dx1*dy1*X22 summed left to right, no fused
// multiply-add (CMakeLists.txt builds this file with -ffp-contract=off). A model that quantizes
// after its upsampling (dynamic int8 U-Nets) turns any last-bit difference into a quantization
// step that later layers compound.
struct BilinearAxis {
  std::vector<int64_t> lo, hi;
  std::vector<float> d_lo, d_hi;  // distance to lo (weights hi) and to hi (weights lo)
};

BilinearAxis bilinear_axis(const ResizeConfig& c, size_t dim, int64_t len_in, int64_t len_out) {
  BilinearAxis a;
  for (int64_t o = 0; o < len_out; ++o) {
    float x = original_coordinate(c, dim, static_cast<float>(o), len_in, len_out);
    x = std::max(0.0f, std::min(x, static_cast<float>(len_in - 1)));  // NaN → 0, as ORT's order gives
    int64_t lo = std::min(static_cast<int64_t>(x), len_in - 1);
    int64_t hi = std::min(lo + 1, len_in - 1);
    float d_lo = std::fabs(x - static_cast<float>(lo)), d_hi = std::fabs(x - static_cast<float>(hi));
    if (lo == hi) d_lo = d_hi = 0.5f;
    a.lo.push_back(lo);
    a.hi.push_back(hi);
    a.d_lo.push_back(d_lo);
    a.d_hi.push_back(d_hi);
  }
  return a;
}

bool ort_bilinear_applies(const ResizeConfig& c, const Tensor& x) {
  size_t rank = x.shape().size();
  bool planes = rank == 2 || (rank == 4 && c.scales[0] == 1.f && c.scales[1] == 1.f);
  return planes && x.dtype() == DType::f32 && c.mode == ResizeMode::linear && !c.antialias &&
         c.coordinates != "tf_crop_and_resize";
}

void resize_bilinear_ort(const OpContext& ctx, const ResizeConfig& c, const Tensor& x, Tensor& out) {
  size_t rank = x.shape().size();
  int64_t h_in = x.shape()[rank - 2], w_in = x.shape()[rank - 1];
  int64_t h_out = c.out_shape[rank - 2], w_out = c.out_shape[rank - 1];
  BilinearAxis ay = bilinear_axis(c, rank - 2, h_in, h_out);
  BilinearAxis ax = bilinear_axis(c, rank - 1, w_in, w_out);
  const float* px = x.data<float>();
  float* po = out.data<float>();
  ctx.pool().parallel_for(out.numel() / (h_out * w_out), 1, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const float* src = px + plane * h_in * w_in;
      float* dst = po + plane * h_out * w_out;
      for (int64_t y = 0; y < h_out; ++y) {
        const float* r1 = src + ay.lo[static_cast<size_t>(y)] * w_in;
        const float* r2 = src + ay.hi[static_cast<size_t>(y)] * w_in;
        float dy1 = ay.d_lo[static_cast<size_t>(y)], dy2 = ay.d_hi[static_cast<size_t>(y)];
        for (int64_t o = 0; o < w_out; ++o) {
          auto k = static_cast<size_t>(o);
          float dx1 = ax.d_lo[k], dx2 = ax.d_hi[k];
          int64_t x1 = ax.lo[k], x2 = ax.hi[k];
          dst[y * w_out + o] = dx2 * dy2 * r1[x1] + dx1 * dy2 * r1[x2] + dx2 * dy1 * r2[x1] + dx1 * dy1 * r2[x2];
        }
      }
    }
  });
}

template <typename T>
void resize_interpolate(const OpContext& ctx, const ResizeConfig& c, const Tensor& x, const std::vector<Taps>& taps,
                        Tensor& out) {
  const Shape& shape = c.out_shape;
  size_t rank = shape.size();
  Shape in_strides = row_major_strides(x.shape());
  const T* px = x.data<T>();
  T* po = out.data<T>();
  size_t last = rank - 1;
  int64_t inner = shape[last];
  int64_t rows = out.numel() / inner;
  const Taps& lt = taps[last];
  bool any_outside = c.coordinates == "tf_crop_and_resize";
  int64_t k_last = lt.count;
  ctx.pool().parallel_for(rows, std::max<int64_t>(1, kElementGrain / inner / 4), [&](int64_t row_begin, int64_t row_end) {
    std::vector<int64_t> coord(rank, 0);
    std::vector<std::pair<int64_t, double>> combos, next;  // outer dims' (offset, weight) products
    for (int64_t row = row_begin; row < row_end; ++row) {
      bool outside = false;
      for (size_t d = last, rest = static_cast<size_t>(row); d-- > 0;) {
        coord[d] = static_cast<int64_t>(rest) % shape[d];
        rest /= static_cast<size_t>(shape[d]);
        if (taps[d].outside[static_cast<size_t>(coord[d])]) outside = true;
      }
      T* dst = po + row * inner;
      if (outside) {
        std::fill(dst, dst + inner, static_cast<T>(c.extrapolation));
        continue;
      }
      combos.assign(1, {0, 1.0});
      for (size_t d = 0; d < last; ++d) {
        const Taps& t = taps[d];
        next.clear();
        for (const auto& [off, w] : combos)
          for (int64_t k = 0; k < t.count; ++k) {
            size_t j = static_cast<size_t>(coord[d] * t.count + k);
            if (t.weight[j] == 0) continue;
            next.emplace_back(off + t.index[j] * in_strides[d], w * t.weight[j]);
          }
        combos.swap(next);
      }
      if (!any_outside && k_last == 2 && combos.size() == 2) {
        // Bilinear, the common case: two source rows, two taps each.
        const T* r0 = px + combos[0].first;
        const T* r1 = px + combos[1].first;
        double w0 = combos[0].second, w1 = combos[1].second;
        const int64_t* li = lt.index.data();
        const double* lw = lt.weight.data();
        for (int64_t o = 0; o < inner; ++o) {
          int64_t i0 = li[2 * o], i1 = li[2 * o + 1];
          double a = lw[2 * o], b = lw[2 * o + 1];
          double top = a * static_cast<double>(r0[i0]) + b * static_cast<double>(r0[i1]);
          double bottom = a * static_cast<double>(r1[i0]) + b * static_cast<double>(r1[i1]);
          dst[o] = static_cast<T>(w0 * top + w1 * bottom);
        }
        continue;
      }
      for (int64_t o = 0; o < inner; ++o) {
        if (any_outside && lt.outside[static_cast<size_t>(o)]) {
          dst[o] = static_cast<T>(c.extrapolation);
          continue;
        }
        const int64_t* li = lt.index.data() + o * k_last;
        const double* lw = lt.weight.data() + o * k_last;
        double acc = 0;
        for (const auto& [off, w] : combos) {
          const T* src = px + off;
          double sum = 0;
          for (int64_t k = 0; k < k_last; ++k) sum += lw[k] * static_cast<double>(src[li[k]]);
          acc += w * sum;
        }
        dst[o] = static_cast<T>(acc);
      }
    }
  });
}

void resize_with(OpContext& ctx, ResizeConfig& c) {
  const Tensor& x = ctx.in(0);
  size_t rank = x.shape().size();
  if (rank == 0) ctx.fail("cannot resize a scalar");
  static constexpr const char* kCoordinates[] = {"half_pixel", "asymmetric", "pytorch_half_pixel", "tf_half_pixel_for_nn",
                                                 "align_corners", "half_pixel_symmetric", "tf_crop_and_resize"};
  if (std::find(std::begin(kCoordinates), std::end(kCoordinates), c.coordinates) == std::end(kCoordinates))
    ctx.unsupported("coordinate_transformation_mode '" + c.coordinates + "' is not supported");
  static constexpr const char* kNearest[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple"};
  if (std::find(std::begin(kNearest), std::end(kNearest), c.nearest_mode) == std::end(kNearest))
    ctx.unsupported("nearest_mode '" + c.nearest_mode + "' is not supported");
  if (c.coordinates == "tf_crop_and_resize" && c.roi.size() != 2 * rank) ctx.fail("tf_crop_and_resize needs an roi of 2 x rank values");
  for (size_t d = 0; d < rank; ++d)
    if (!(c.scales[d] > 0)) ctx.fail("scales must be positive");
  check_shape(ctx, c.out_shape);
  for (size_t d = 0; d < rank; ++d)
    if (c.out_shape[d] > 0 && x.shape()[d] == 0) ctx.fail("cannot resize an empty dimension to a non-empty one");

  Tensor out(x.dtype(), c.out_shape);
  if (out.numel() == 0) {
    ctx.out(0) = std::move(out);
    return;
  }
  if (ort_bilinear_applies(c, x)) {
    resize_bilinear_ort(ctx, c, x, out);
    ctx.out(0) = std::move(out);
    return;
  }
  std::vector<Taps> taps;
  for (size_t d = 0; d < rank; ++d) taps.push_back(resize_taps(c, d, x.shape()[d], c.out_shape[d]));

  if (c.mode == ResizeMode::nearest && c.coordinates != "tf_crop_and_resize") {
    // A gather of whole elements: any dtype.
    int64_t width = element_width(ctx, x.dtype());
    Shape in_strides = row_major_strides(x.shape());
    const char* px = x.storage().data();
    char* po = out.storage().data();
    size_t last = rank - 1;
    int64_t inner = c.out_shape[last];
    int64_t rows = out.numel() / inner;
    int64_t row_bytes = inner * width;
    ctx.pool().parallel_for(rows, std::max<int64_t>(1, kElementGrain / inner), [&](int64_t row_begin, int64_t row_end) {
      int64_t previous = -1;
      for (int64_t row = row_begin; row < row_end; ++row) {
        int64_t at = 0;
        for (size_t d = last, rest = static_cast<size_t>(row); d-- > 0;) {
          int64_t o = static_cast<int64_t>(rest) % c.out_shape[d];
          rest /= static_cast<size_t>(c.out_shape[d]);
          at += taps[d].index[static_cast<size_t>(o)] * in_strides[d];
        }
        char* dst = po + row * row_bytes;
        // Upsampling repeats whole rows: copy the row just written instead of gathering again.
        if (at == previous) {
          std::memcpy(dst, dst - row_bytes, static_cast<size_t>(row_bytes));
          continue;
        }
        copy_indexed(px + at * width, taps[last].index.data(), inner, width, dst);
        previous = at;
      }
    });
    ctx.out(0) = std::move(out);
    return;
  }
  switch (x.dtype()) {
    case DType::f32: resize_interpolate<float>(ctx, c, x, taps, out); break;
    case DType::f64: resize_interpolate<double>(ctx, c, x, taps, out); break;
    default: ctx.unsupported("Resize of " + std::string(dtype_name(x.dtype())) + " is only supported with mode nearest");
  }
  ctx.out(0) = std::move(out);
}

ResizeMode resize_mode(const OpContext& ctx) {
  std::string mode = ctx.attr_string("mode", "nearest");
  if (mode == "nearest") return ResizeMode::nearest;
  if (mode == "linear" || mode == "bilinear") return ResizeMode::linear;
  if (mode == "cubic") return ResizeMode::cubic;
  ctx.unsupported("mode '" + mode + "' is not supported");
}

// Output sizes from scales, truncating like ONNX Runtime (float product, then toward zero).
Shape scaled_shape(const OpContext& ctx, const Shape& in, const std::vector<float>& scales) {
  Shape out(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    float size = scales[d] * static_cast<float>(in[d]);
    if (!(scales[d] > 0) || !(size < static_cast<float>(kMaxDim))) ctx.fail("scale " + std::to_string(scales[d]) + " is out of range");
    out[d] = static_cast<int64_t>(size);
  }
  return out;
}

void upsample(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  ResizeConfig c;
  c.mode = resize_mode(ctx);
  if (c.mode == ResizeMode::cubic) ctx.unsupported("Upsample has no cubic mode");
  c.coordinates = "asymmetric";
  c.nearest_mode = "simple";
  c.scales = ctx.opset() < 9 ? ctx.attr_floats("scales") : to_floats(ctx.in(1));
  if (c.scales.size() != x.shape().size())
    ctx.fail("scales has " + std::to_string(c.scales.size()) + " entries for rank " + std::to_string(x.rank()));
  c.out_shape = scaled_shape(ctx, x.shape(), c.scales);
  resize_with(ctx, c);
}

void resize(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  size_t rank = x.shape().size();
  ResizeConfig c;
  c.mode = resize_mode(ctx);
  if (ctx.opset() < 11) {
    // Resize-10 is Upsample with a new name.
    if (c.mode == ResizeMode::cubic) ctx.unsupported("Resize-10 has no cubic mode");
    c.coordinates = "asymmetric";
    c.nearest_mode = "simple";
    c.scales = to_floats(ctx.in(1));
    if (c.scales.size() != rank) ctx.fail("scales has " + std::to_string(c.scales.size()) + " entries for rank " + std::to_string(rank));
    c.out_shape = scaled_shape(ctx, x.shape(), c.scales);
    resize_with(ctx, c);
    return;
  }
  c.coordinates = ctx.attr_string("coordinate_transformation_mode", "half_pixel");
  c.nearest_mode = ctx.attr_string("nearest_mode", "round_prefer_floor");
  c.cubic_a = ctx.attr_float("cubic_coeff_a", -0.75f);
  c.exclude_outside = ctx.attr_int("exclude_outside", 0) != 0;
  c.extrapolation = ctx.attr_float("extrapolation_value", 0.f);
  c.antialias = ctx.attr_int("antialias", 0) != 0;
  std::string policy = ctx.attr_string("keep_aspect_ratio_policy", "stretch");

  // axes (opset 18) name the dims that scales/sizes cover; the others keep their size.
  std::vector<int64_t> axes = ctx.attr_ints("axes");
  if (axes.empty())
    for (size_t d = 0; d < rank; ++d) axes.push_back(static_cast<int64_t>(d));
  for (int64_t& a : axes) a = axis_in(ctx, a, static_cast<int64_t>(rank));

  const Tensor* roi = ctx.input(1);
  const Tensor* scales = ctx.input(2);
  const Tensor* sizes = ctx.input(3);
  if (scales && scales->numel() == 0) scales = nullptr;
  if (sizes && sizes->numel() == 0) sizes = nullptr;
  if (scales && sizes) ctx.fail("give scales or sizes, not both");
  if (!scales && !sizes) ctx.fail("needs scales or sizes");

  if (roi && roi->numel() > 0) {
    std::vector<float> given = to_floats(*roi);
    if (given.size() != 2 * axes.size()) ctx.fail("roi has " + std::to_string(given.size()) + " values, expected " + std::to_string(2 * axes.size()));
    c.roi.assign(2 * rank, 0.f);
    for (size_t d = 0; d < rank; ++d) c.roi[rank + d] = 1.f;
    for (size_t i = 0; i < axes.size(); ++i) {
      c.roi[static_cast<size_t>(axes[i])] = given[i];
      c.roi[rank + static_cast<size_t>(axes[i])] = given[axes.size() + i];
    }
  } else if (c.coordinates == "tf_crop_and_resize") {
    c.roi.assign(2 * rank, 0.f);
    for (size_t d = 0; d < rank; ++d) c.roi[rank + d] = 1.f;
  }

  c.scales.assign(rank, 1.f);
  c.out_shape = x.shape();
  if (scales) {
    std::vector<float> given = to_floats(*scales);
    if (given.size() != axes.size()) ctx.fail("scales has " + std::to_string(given.size()) + " entries for " + std::to_string(axes.size()) + " axes");
    for (size_t i = 0; i < axes.size(); ++i) c.scales[static_cast<size_t>(axes[i])] = given[i];
    c.out_shape = scaled_shape(ctx, x.shape(), c.scales);
  } else {
    std::vector<int64_t> given = to_int64s(ctx, *sizes);
    if (given.size() != axes.size()) ctx.fail("sizes has " + std::to_string(given.size()) + " entries for " + std::to_string(axes.size()) + " axes");
    if (policy == "stretch") {
      for (size_t i = 0; i < axes.size(); ++i) {
        size_t d = static_cast<size_t>(axes[i]);
        if (given[i] < 0 || given[i] > kMaxDim) ctx.fail("sizes must be in [0, 2^40]");
        c.out_shape[d] = given[i];
        c.scales[d] = static_cast<float>(given[i]) / static_cast<float>(x.shape()[d]);
      }
    } else if (policy == "not_larger" || policy == "not_smaller") {
      float s = policy == "not_larger" ? std::numeric_limits<float>::max() : 0.f;
      for (size_t i = 0; i < axes.size(); ++i) {
        float r = static_cast<float>(given[i]) / static_cast<float>(x.shape()[static_cast<size_t>(axes[i])]);
        s = policy == "not_larger" ? std::min(s, r) : std::max(s, r);
      }
      for (int64_t a : axes) {
        size_t d = static_cast<size_t>(a);
        float size = std::round(s * static_cast<float>(x.shape()[d]));
        if (!(size >= 0 && size < static_cast<float>(kMaxDim))) ctx.fail("sizes give an out-of-range scale");
        c.scales[d] = s;
        c.out_shape[d] = static_cast<int64_t>(size);
      }
    } else {
      ctx.unsupported("keep_aspect_ratio_policy '" + policy + "' is not supported");
    }
  }
  resize_with(ctx, c);
}

// ---- Trilu, CumSum, NonZero ----------------------------------------------------------------

void trilu(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() < 2) ctx.fail("needs a tensor of rank 2 or more");
  bool upper = ctx.attr_int("upper", 1) != 0;
  int64_t k = 0;
  if (const Tensor* kt = ctx.input(1)) k = scalar_int(ctx, *kt, "k");
  int64_t rows = x.shape()[x.shape().size() - 2];
  int64_t cols = x.shape().back();
  k = std::clamp<int64_t>(k, -rows - 1, cols + 1);  // beyond this every k behaves the same
  int64_t width = element_width(ctx, x.dtype());
  Tensor out = x;
  char* po = out.storage().data();
  int64_t batches = rows * cols == 0 ? 0 : x.numel() / (rows * cols);
  for (int64_t b = 0; b < batches; ++b) {
    for (int64_t i = 0; i < rows; ++i) {
      char* row = po + (b * rows + i) * cols * width;
      // Upper keeps j >= i + k; lower keeps j <= i + k.
      int64_t zero_begin = upper ? 0 : std::clamp<int64_t>(i + k + 1, 0, cols);
      int64_t zero_end = upper ? std::clamp<int64_t>(i + k, 0, cols) : cols;
      if (zero_end > zero_begin) std::memset(row + zero_begin * width, 0, static_cast<size_t>((zero_end - zero_begin) * width));
    }
  }
  ctx.out(0) = std::move(out);
}

void cumsum(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() == 0) ctx.fail("needs a tensor of rank 1 or more");
  size_t axis = static_cast<size_t>(axis_in(ctx, scalar_int(ctx, ctx.in(1), "axis"), x.rank()));
  bool exclusive = ctx.attr_int("exclusive", 0) != 0;
  bool reverse = ctx.attr_int("reverse", 0) != 0;
  int64_t outer = product(x.shape(), 0, axis);
  int64_t dim = x.shape()[axis];
  int64_t inner = product(x.shape(), axis + 1, x.shape().size());
  dispatch_numeric(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    Tensor out(x.dtype(), x.shape());
    const T* px = x.data<T>();
    T* po = out.data<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        T acc = T(0);
        for (int64_t s = 0; s < dim; ++s) {
          int64_t j = reverse ? dim - 1 - s : s;
          int64_t at = (o * dim + j) * inner + i;
          if (exclusive) {
            po[at] = acc;
            acc = wrapping_add(acc, px[at]);
          } else {
            acc = wrapping_add(acc, px[at]);
            po[at] = acc;
          }
        }
      }
    }
    ctx.out(0) = std::move(out);
  });
}

// Whether element i is non-zero (NaN counts as non-zero, -0.0 as zero).
std::vector<uint8_t> nonzero_flags(const OpContext& ctx, const Tensor& x) {
  std::vector<uint8_t> flags(static_cast<size_t>(x.numel()));
  if (x.dtype() == DType::boolean) {
    for (int64_t i = 0; i < x.numel(); ++i) flags[static_cast<size_t>(i)] = x.data<uint8_t>()[i] != 0;
    return flags;
  }
  if (x.dtype() == DType::f16 || x.dtype() == DType::bf16) {
    for (int64_t i = 0; i < x.numel(); ++i) flags[static_cast<size_t>(i)] = element_as_double(x, i) != 0;
    return flags;
  }
  dispatch_numeric(ctx, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (int64_t i = 0; i < x.numel(); ++i) flags[static_cast<size_t>(i)] = x.data<T>()[i] != T(0);
  });
  return flags;
}

void nonzero(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  std::vector<uint8_t> flags = nonzero_flags(ctx, x);
  // A scalar counts as a one-element vector, as in ONNX Runtime.
  Shape shape = x.rank() == 0 ? Shape{1} : x.shape();
  int64_t rank = static_cast<int64_t>(shape.size());
  int64_t count = std::count(flags.begin(), flags.end(), uint8_t{1});
  Tensor out(DType::i64, {rank, count});
  int64_t* po = out.data<int64_t>();
  std::vector<int64_t> counter(shape.size(), 0);
  int64_t k = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (flags[static_cast<size_t>(i)]) {
      for (int64_t d = 0; d < rank; ++d) po[d * count + k] = counter[static_cast<size_t>(d)];
      ++k;
    }
    for (size_t d = shape.size(); d-- > 0;) {
      if (++counter[d] < shape[d]) break;
      counter[d] = 0;
    }
  }
  ctx.out(0) = std::move(out);
}

// ---- ScatterND, ScatterElements, OneHot, EyeLike -------------------------------------------

enum class Reduction { none, add, mul, max, min };

Reduction reduction_attr(const OpContext& ctx) {
  std::string r = ctx.attr_string("reduction", "none");
  if (r == "none") return Reduction::none;
  if (r == "add") return Reduction::add;
  if (r == "mul") return Reduction::mul;
  if (r == "max") return Reduction::max;
  if (r == "min") return Reduction::min;
  ctx.unsupported("reduction '" + r + "' is not supported");
}

// Combines `n` updates elements into data elements: with no reduction, bytes are copied (any
// dtype); otherwise values are combined in the element type.
struct Scatterer {
  const OpContext& ctx;
  Reduction reduction;
  Tensor& out;
  const Tensor& updates;
  int64_t width;

  void apply(int64_t dst, int64_t src, int64_t n) {
    if (reduction == Reduction::none) {
      std::memcpy(out.storage().data() + dst * width, updates.storage().data() + src * width, static_cast<size_t>(n * width));
      return;
    }
    if (out.dtype() == DType::boolean) ctx.unsupported("scatter reductions on bool are not supported");
    dispatch_numeric(ctx, out.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* po = out.data<T>() + dst;
      const T* pu = updates.data<T>() + src;
      for (int64_t i = 0; i < n; ++i) {
        switch (reduction) {
          case Reduction::add: po[i] = wrapping_add(po[i], pu[i]); break;
          case Reduction::mul: po[i] = wrapping_mul(po[i], pu[i]); break;
          case Reduction::max: po[i] = std::max(po[i], pu[i]); break;
          case Reduction::min: po[i] = std::min(po[i], pu[i]); break;
          case Reduction::none: break;
        }
      }
    });
  }
};

void scatter_nd(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  const Tensor& updates = ctx.in(2);
  if (updates.dtype() != x.dtype()) ctx.fail("updates and data have different types");
  if (indices.rank() == 0) ctx.fail("indices must have rank 1 or more");
  int64_t k = indices.shape().back();
  if (k > x.rank()) ctx.fail("index tuples of " + std::to_string(k) + " exceed the data rank " + std::to_string(x.rank()));
  Shape expected(indices.shape().begin(), indices.shape().end() - 1);
  expected.insert(expected.end(), x.shape().begin() + k, x.shape().end());
  if (updates.shape() != expected)
    ctx.fail("updates has shape " + shape_string(updates.shape()) + ", expected " + shape_string(expected));
  int64_t width = element_width(ctx, x.dtype());
  std::vector<int64_t> idx = to_int64s(ctx, indices);
  Shape strides = row_major_strides(x.shape());
  int64_t slice = product(x.shape(), static_cast<size_t>(k), x.shape().size());
  int64_t tuples = product(indices.shape(), 0, indices.shape().size() - 1);
  Tensor out = x;
  Scatterer s{ctx, reduction_attr(ctx), out, updates, width};
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t at = 0;
    for (int64_t j = 0; j < k; ++j) {
      int64_t dim = x.shape()[static_cast<size_t>(j)];
      int64_t i = idx[static_cast<size_t>(t * k + j)];
      if (i < -dim || i >= dim) ctx.fail("index " + std::to_string(i) + " is out of range for a dimension of " + std::to_string(dim));
      if (i < 0) i += dim;
      at += i * strides[static_cast<size_t>(j)];
    }
    s.apply(at, t * slice, slice);
  }
  ctx.out(0) = std::move(out);
}

void scatter_elements(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& indices = ctx.in(1);
  const Tensor& updates = ctx.in(2);
  if (updates.dtype() != x.dtype()) ctx.fail("updates and data have different types");
  if (updates.shape() != indices.shape()) ctx.fail("updates and indices have different shapes");
  if (x.rank() == 0) ctx.fail("cannot scatter into a scalar");
  size_t axis = static_cast<size_t>(axis_in(ctx, ctx.attr_int("axis", 0), x.rank()));
  int64_t width = element_width(ctx, x.dtype());
  Tensor out = x;
  Scatterer s{ctx, reduction_attr(ctx), out, updates, width};
  for_each_element_index(ctx, x.shape(), indices, axis, [&](int64_t i, int64_t at) { s.apply(at, i, 1); });
  ctx.out(0) = std::move(out);
}

void one_hot(OpContext& ctx) {
  const Tensor& indices = ctx.in(0);
  const Tensor& depth_t = ctx.in(1);
  const Tensor& values = ctx.in(2);
  if (depth_t.numel() != 1) ctx.fail("depth must hold one value");
  if (values.numel() != 2) ctx.fail("values must hold [off, on]");
  double depth_value = element_as_double(depth_t, 0);
  if (!(depth_value >= 1) || depth_value > 1e12) ctx.fail("depth must be positive");
  int64_t depth = static_cast<int64_t>(depth_value);
  int64_t rank = indices.rank() + 1;
  size_t axis = static_cast<size_t>(axis_in(ctx, ctx.attr_int("axis", -1), rank));
  int64_t width = element_width(ctx, values.dtype());
  Shape shape = indices.shape();
  shape.insert(shape.begin() + static_cast<int64_t>(axis), depth);
  check_shape(ctx, shape);
  Tensor out(values.dtype(), shape);
  std::string off = values.storage().substr(0, static_cast<size_t>(width));
  fill_bytes(out.storage().data(), out.numel(), off);
  int64_t outer = product(indices.shape(), 0, axis);
  int64_t inner = product(indices.shape(), axis, indices.shape().size());
  const char* on = values.storage().data() + width;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      double v = element_as_double(indices, o * inner + i);
      if (std::isnan(v)) continue;
      int64_t j = static_cast<int64_t>(std::clamp(v, -2.0 * static_cast<double>(depth), 2.0 * static_cast<double>(depth)));
      if (j < 0) j += depth;
      if (j < 0 || j >= depth) continue;  // out-of-range indices give an all-off row
      std::memcpy(out.storage().data() + ((o * depth + j) * inner + i) * width, on, static_cast<size_t>(width));
    }
  }
  ctx.out(0) = std::move(out);
}

void eye_like(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() != 2) ctx.fail("needs a 2-D input, got shape " + shape_string(x.shape()));
  DType dtype = ctx.has_attr("dtype") ? static_cast<DType>(ctx.attr_int("dtype", 1)) : x.dtype();
  if (!is_known_dtype(static_cast<int32_t>(dtype))) ctx.fail("dtype is not a known type");
  int64_t k = ctx.attr_int("k", 0);
  int64_t width = element_width(ctx, dtype);
  Tensor out(dtype, x.shape());
  std::string one = scalar_bytes(ctx, dtype, 1.0);
  int64_t rows = x.shape()[0], cols = x.shape()[1];
  for (int64_t i = 0; i < rows; ++i) {
    if (k > cols || k < -rows) break;
    int64_t j = i + k;
    if (j >= 0 && j < cols) std::memcpy(out.storage().data() + (i * cols + j) * width, one.data(), static_cast<size_t>(width));
  }
  ctx.out(0) = std::move(out);
}

constexpr OpDef kOps[] = {
    {"", "Reshape", reshape, true},
    {"", "Flatten", flatten, true},
    {"", "Squeeze", squeeze, true},
    {"", "Unsqueeze", unsqueeze, true},
    {"", "Transpose", transpose, true},
    {"", "Concat", concat, true},
    {"", "Split", split, true},
    {"", "Slice", slice, true},
    {"", "Gather", gather, true},
    {"", "GatherElements", gather_elements, true},
    {"", "Shape", shape_op, true},
    {"", "Size", size_op, true},
    {"", "Expand", expand, true},
    {"", "Tile", tile, true},
    {"", "Pad", pad, true},
    {"", "ConstantOfShape", constant_of_shape, true},
    {"", "Constant", constant, true},
    {"", "Range", range},
    {"", "Dropout", dropout, true},
    {"", "Resize", resize},
    {"", "Upsample", upsample},
    {"", "Trilu", trilu, true},
    {"", "CumSum", cumsum},
    {"", "NonZero", nonzero},
    {"", "ScatterND", scatter_nd},
    {"", "ScatterElements", scatter_elements},
    {"", "Scatter", scatter_elements},
    {"", "OneHot", one_hot, true},
    {"", "EyeLike", eye_like, true},
};

}  // namespace

std::span<const OpDef> shape_ops() { return kOps; }

}  // namespace mcompress::exec
