// Pools over 1-3 spatial dims: MaxPool (with optional Indices), AveragePool, LpPool and their
// Global forms. One task per (image, channel) plane; inside a plane each output row is built
// tap by tap over the run of output columns whose input column is in range, so the loops stay
// free of per-element bounds checks.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "nn_kernels.h"

namespace mcompress::exec {
namespace {

constexpr double kPoolPlaneWork = 1 << 16;  // window taps per parallel chunk

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct PoolGeometry {
  Extent3 in, out, kernel, stride, dilation, pad, pad_end;
  // Per kernel column: the output columns [first, last) whose tap lands inside the input.
  std::vector<int64_t> kw_first, kw_last;
  int64_t in_pixels() const { return in.d * in.h * in.w; }
  int64_t out_pixels() const { return out.d * out.h * out.w; }
};

// Output positions [first, last) whose tap lands inside [0, extent).
void valid_range(int64_t extent, int64_t out, int64_t stride, int64_t offset, int64_t& first, int64_t& last) {
  first = offset >= 0 ? 0 : ceil_div(-offset, stride);
  last = extent - offset <= 0 ? 0 : ceil_div(extent - offset, stride);
  first = std::min(first, out);
  last = std::clamp(last, first, out);
}

// Taps of the window at output position o that fall in [lo, hi) along one dim.
int64_t taps_within(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t dilation, int64_t lo, int64_t hi) {
  int64_t count = 0;
  for (int64_t k = 0; k < kernel; ++k) {
    int64_t i = o * stride - pad + k * dilation;
    count += i >= lo && i < hi;
  }
  return count;
}

const Tensor& pool_input(const OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.rank() < 3) ctx.fail("input must be [N, C, spatial...], got " + shape_string(x.shape()));
  if (x.rank() > 5) ctx.unsupported("more than 3 spatial dimensions");
  return x;
}

struct PoolSetup {
  Window win;
  PoolGeometry g;
  Shape out_shape;
  int64_t planes;
};

PoolSetup setup_pool(const OpContext& ctx, const Tensor& x) {
  std::vector<int64_t> kernel = ctx.attr_ints("kernel_shape");
  if (kernel.empty()) ctx.fail("kernel_shape is required");
  PoolSetup s;
  s.win = window_geometry(ctx, x.shape(), kernel, ctx.attr_int("ceil_mode", 0) != 0);
  s.g = {to_extent3(s.win.in, 1),        to_extent3(s.win.out, 1),       to_extent3(s.win.kernel, 1),
         to_extent3(s.win.strides, 1),   to_extent3(s.win.dilations, 1), to_extent3(s.win.pad_begin, 0),
         to_extent3(s.win.pad_end, 0),   {},                             {}};
  s.out_shape = {x.shape()[0], x.shape()[1]};
  s.out_shape.insert(s.out_shape.end(), s.win.out.begin(), s.win.out.end());
  s.planes = x.shape()[0] * x.shape()[1];
  PoolGeometry& g = s.g;
  g.kw_first.resize(g.kernel.w);
  g.kw_last.resize(g.kernel.w);
  for (int64_t kw = 0; kw < g.kernel.w; ++kw)
    valid_range(g.in.w, g.out.w, g.stride.w, kw * g.dilation.w - g.pad.w, g.kw_first[kw], g.kw_last[kw]);
  return s;
}

// Calls row(y_row, x_row, kw_offset, ow_first, ow_last) for every (output row, in-range tap row,
// kernel column) of one plane, in a fixed order.
template <typename F>
void for_each_tap_row(const PoolGeometry& g, F&& row) {
  for (int64_t od = 0; od < g.out.d; ++od) {
    for (int64_t oh = 0; oh < g.out.h; ++oh) {
      int64_t out_row = (od * g.out.h + oh) * g.out.w;
      for (int64_t kd = 0; kd < g.kernel.d; ++kd) {
        int64_t id = od * g.stride.d - g.pad.d + kd * g.dilation.d;
        if (id < 0 || id >= g.in.d) continue;
        for (int64_t kh = 0; kh < g.kernel.h; ++kh) {
          int64_t ih = oh * g.stride.h - g.pad.h + kh * g.dilation.h;
          if (ih < 0 || ih >= g.in.h) continue;
          int64_t in_row = (id * g.in.h + ih) * g.in.w;
          for (int64_t kw = 0; kw < g.kernel.w; ++kw)
            row(out_row, in_row + kw * g.dilation.w - g.pad.w, g.kw_first[kw], g.kw_last[kw]);
        }
      }
    }
  }
}

// 2x2 windows at stride 2 without padding over 2-D planes (the common downsampling pool).
bool is_plain_2x2(const PoolGeometry& g) {
  bool two = g.kernel.h == 2 && g.kernel.w == 2 && g.stride.h == 2 && g.stride.w == 2;
  bool plain = g.dilation.h == 1 && g.dilation.w == 1 && g.pad.h == 0 && g.pad.w == 0;
  return two && plain && g.kernel.d == 1 && g.in.d == 1 && g.out.h * 2 <= g.in.h && g.out.w * 2 <= g.in.w;
}

// max_pool_typed's general loop for 2x2/2 windows, in straight-line form the compiler vectorises:
// the same comparisons in the same order (rows first, then columns from the lowest value, each
// the std::max of the general loop), so the same result, NaNs included.
template <typename T>
void max_pool_2x2_plane(const T* x, const PoolGeometry& g, T* y) {
  auto larger = [](T a, T b) { return a < b ? b : a; };  // std::max
  for (int64_t oh = 0; oh < g.out.h; ++oh) {
    const T* r0 = x + 2 * oh * g.in.w;
    const T* r1 = r0 + g.in.w;
    T* yr = y + oh * g.out.w;
    for (int64_t ow = 0; ow < g.out.w; ++ow) {
      T left = larger(r0[2 * ow], r1[2 * ow]);
      T right = larger(r0[2 * ow + 1], r1[2 * ow + 1]);
      yr[ow] = larger(larger(std::numeric_limits<T>::lowest(), left), right);
    }
  }
}

template <typename T>
void max_pool_typed(OpContext& ctx, const Tensor& x) {
  PoolSetup s = setup_pool(ctx, x);
  const PoolGeometry& g = s.g;
  Tensor out(x.dtype(), s.out_shape);
  const T* px = x.data<T>();
  T* py = out.data<T>();
  int64_t in_plane = g.in_pixels();
  int64_t out_plane = g.out_pixels();
  double work = static_cast<double>(out_plane) * s.win.kernel.size();
  for (int64_t k : s.win.kernel) work *= static_cast<double>(k);
  int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kPoolPlaneWork / std::max(work, 1.0)));

  if (!ctx.has_output(1) && is_plain_2x2(g)) {
    ctx.pool().parallel_for(s.planes, grain, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane)
        max_pool_2x2_plane(px + plane * in_plane, g, py + plane * out_plane);
    });
    ctx.out(0) = std::move(out);
    return;
  }
  if (!ctx.has_output(1)) {
    // Per output row: the maximum over the window's input rows first (contiguous, vectorised
    // by Eigen), then the strided pass over kernel columns once instead of once per row.
    using Row = Eigen::Array<T, Eigen::Dynamic, 1>;
    ctx.pool().parallel_for(s.planes, grain, [&](int64_t begin, int64_t end) {
      Row rows_max(g.in.w);
      for (int64_t plane = begin; plane < end; ++plane) {
        const T* xp = px + plane * in_plane;
        T* yp = py + plane * out_plane;
        for (int64_t od = 0; od < g.out.d; ++od) {
          for (int64_t oh = 0; oh < g.out.h; ++oh) {
            T* y = yp + (od * g.out.h + oh) * g.out.w;
            std::fill(y, y + g.out.w, std::numeric_limits<T>::lowest());
            bool any = false;
            for (int64_t kd = 0; kd < g.kernel.d; ++kd) {
              int64_t id = od * g.stride.d - g.pad.d + kd * g.dilation.d;
              if (id < 0 || id >= g.in.d) continue;
              for (int64_t kh = 0; kh < g.kernel.h; ++kh) {
                int64_t ih = oh * g.stride.h - g.pad.h + kh * g.dilation.h;
                if (ih < 0 || ih >= g.in.h) continue;
                Eigen::Map<const Row> in_row(xp + (id * g.in.h + ih) * g.in.w, g.in.w);
                if (any) rows_max = rows_max.max(in_row);
                else rows_max = in_row;
                any = true;
              }
            }
            if (!any) continue;
            for (int64_t kw = 0; kw < g.kernel.w; ++kw) {
              const T* xr = rows_max.data() + kw * g.dilation.w - g.pad.w;
              for (int64_t ow = g.kw_first[kw]; ow < g.kw_last[kw]; ++ow) y[ow] = std::max(y[ow], xr[ow * g.stride.w]);
            }
          }
        }
      }
    });
    ctx.out(0) = std::move(out);
    return;
  }

  // With Indices: the flat input index of each maximum (first one wins), row-major over
  // N, C and the spatial dims, or column-major over the spatial dims with storage_order=1.
  bool column_major = ctx.attr_int("storage_order", 0) != 0;
  Tensor indices(DType::i64, s.out_shape);
  int64_t* pi = indices.data<int64_t>();
  ctx.pool().parallel_for(s.planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      const T* xp = px + plane * in_plane;
      T* yp = py + plane * out_plane;
      int64_t* ip = pi + plane * out_plane;
      for (int64_t od = 0; od < g.out.d; ++od)
        for (int64_t oh = 0; oh < g.out.h; ++oh)
          for (int64_t ow = 0; ow < g.out.w; ++ow) {
            T best = std::numeric_limits<T>::lowest();
            int64_t best_index = -1;
            for (int64_t kd = 0; kd < g.kernel.d; ++kd) {
              int64_t id = od * g.stride.d - g.pad.d + kd * g.dilation.d;
              if (id < 0 || id >= g.in.d) continue;
              for (int64_t kh = 0; kh < g.kernel.h; ++kh) {
                int64_t ih = oh * g.stride.h - g.pad.h + kh * g.dilation.h;
                if (ih < 0 || ih >= g.in.h) continue;
                for (int64_t kw = 0; kw < g.kernel.w; ++kw) {
                  int64_t iw = ow * g.stride.w - g.pad.w + kw * g.dilation.w;
                  if (iw < 0 || iw >= g.in.w) continue;
                  T v = xp[(id * g.in.h + ih) * g.in.w + iw];
                  if (best_index >= 0 && !(v > best)) continue;
                  best = v;
                  best_index = column_major ? (iw * g.in.h + ih) * g.in.d + id : (id * g.in.h + ih) * g.in.w + iw;
                }
              }
            }
            int64_t o = (od * g.out.h + oh) * g.out.w + ow;
            yp[o] = best;
            ip[o] = best_index < 0 ? -1 : plane * in_plane + best_index;
          }
    }
  });
  ctx.out(0) = std::move(out);
  ctx.out(1) = std::move(indices);
}

// Divisors of AveragePool per output position, separable over the three dims.
std::vector<float> average_divisors(const PoolGeometry& g, bool include_pad) {
  auto counts = [&](int64_t out, int64_t in, int64_t stride, int64_t pad, int64_t pad_end, int64_t kernel,
                    int64_t dilation) {
    std::vector<int64_t> c(out);
    int64_t lo = include_pad ? -pad : 0;
    int64_t hi = include_pad ? in + pad_end : in;
    for (int64_t o = 0; o < out; ++o) c[o] = taps_within(o, stride, pad, kernel, dilation, lo, hi);
    return c;
  };
  auto cd = counts(g.out.d, g.in.d, g.stride.d, g.pad.d, g.pad_end.d, g.kernel.d, g.dilation.d);
  auto ch = counts(g.out.h, g.in.h, g.stride.h, g.pad.h, g.pad_end.h, g.kernel.h, g.dilation.h);
  auto cw = counts(g.out.w, g.in.w, g.stride.w, g.pad.w, g.pad_end.w, g.kernel.w, g.dilation.w);
  std::vector<float> div(static_cast<size_t>(g.out_pixels()));
  size_t i = 0;
  for (int64_t d : cd)
    for (int64_t h : ch)
      for (int64_t w : cw) div[i++] = static_cast<float>(d * h * w);
  return div;
}

enum class SumKind { plain, lp };

// Sum (or sum of |x|^p) over each window; finish(sum, position) gives the output.
template <typename Finish>
void window_sums(OpContext& ctx, const Tensor& x, SumKind kind, float p, Finish finish) {
  if (x.dtype() != DType::f32) ctx.unsupported("data type " + std::string(dtype_name(x.dtype())) + " (float32 only)");
  PoolSetup s = setup_pool(ctx, x);
  const PoolGeometry& g = s.g;
  Tensor out(DType::f32, s.out_shape);
  const float* px = x.data<float>();
  float* py = out.data<float>();
  int64_t in_plane = g.in_pixels();
  int64_t out_plane = g.out_pixels();
  double work = static_cast<double>(out_plane);
  for (int64_t k : s.win.kernel) work *= static_cast<double>(k);
  int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kPoolPlaneWork / std::max(work, 1.0)));
  ctx.pool().parallel_for(s.planes, grain, [&](int64_t begin, int64_t end) {
    std::vector<float> abs_pow;
    for (int64_t plane = begin; plane < end; ++plane) {
      const float* xp = px + plane * in_plane;
      if (kind == SumKind::lp) {
        abs_pow.resize(static_cast<size_t>(in_plane));
        for (int64_t i = 0; i < in_plane; ++i) {
          float a = std::abs(xp[i]);
          abs_pow[i] = p == 2.f ? a * a : p == 1.f ? a : std::pow(a, p);
        }
        xp = abs_pow.data();
      }
      float* yp = py + plane * out_plane;
      std::fill(yp, yp + out_plane, 0.f);
      for_each_tap_row(g, [&](int64_t out_row, int64_t in_offset, int64_t first, int64_t last) {
        float* y = yp + out_row;
        const float* xr = xp + in_offset;
        for (int64_t ow = first; ow < last; ++ow) y[ow] += xr[ow * g.stride.w];
      });
      for (int64_t i = 0; i < out_plane; ++i) yp[i] = finish(yp[i], i);
    }
  });
  ctx.out(0) = std::move(out);
}

float lp_root(float sum, float p) {
  if (p == 2.f) return std::sqrt(sum);
  if (p == 1.f) return sum;
  return std::pow(sum, 1.f / p);
}

// Global pools: one reduction per plane, written as [N, C, 1, ...].
template <typename T, typename F>
void global_pool(OpContext& ctx, const Tensor& x, F reduce_plane) {
  if (x.rank() < 3) ctx.fail("input must be [N, C, spatial...], got " + shape_string(x.shape()));
  Shape out_shape = x.shape();
  std::fill(out_shape.begin() + 2, out_shape.end(), 1);
  Tensor out(x.dtype(), out_shape);
  int64_t planes = x.shape()[0] * x.shape()[1];
  int64_t plane = planes == 0 ? 0 : x.numel() / planes;
  const T* px = x.data<T>();
  T* py = out.data<T>();
  int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kPoolPlaneWork / std::max<double>(plane, 1)));
  ctx.pool().parallel_for(planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) py[i] = reduce_plane(px + i * plane, plane);
  });
  ctx.out(0) = std::move(out);
}

}  // namespace

void max_pool(OpContext& ctx) {
  const Tensor& x = pool_input(ctx);
  switch (x.dtype()) {
    case DType::f32: return max_pool_typed<float>(ctx, x);
    case DType::f64: return max_pool_typed<double>(ctx, x);
    case DType::i8: return max_pool_typed<int8_t>(ctx, x);
    case DType::u8: return max_pool_typed<uint8_t>(ctx, x);
    default: ctx.unsupported("data type " + std::string(dtype_name(x.dtype())));
  }
}

void average_pool(OpContext& ctx) {
  const Tensor& x = pool_input(ctx);
  PoolSetup s = setup_pool(ctx, x);
  std::vector<float> divisors = average_divisors(s.g, ctx.attr_int("count_include_pad", 0) != 0);
  window_sums(ctx, x, SumKind::plain, 1.f, [&](float sum, int64_t i) { return sum / divisors[i]; });
}

void lp_pool(OpContext& ctx) {
  const Tensor& x = pool_input(ctx);
  auto p = static_cast<float>(ctx.attr_int("p", 2));
  window_sums(ctx, x, SumKind::lp, p, [p](float sum, int64_t) { return lp_root(sum, p); });
}

void global_average_pool(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DType::f32) ctx.unsupported("data type " + std::string(dtype_name(x.dtype())) + " (float32 only)");
  global_pool<float>(ctx, x, [](const float* v, int64_t n) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += v[i];
    return static_cast<float>(sum / static_cast<double>(n));
  });
}

void global_max_pool(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DType::f32) ctx.unsupported("data type " + std::string(dtype_name(x.dtype())) + " (float32 only)");
  global_pool<float>(ctx, x, [](const float* v, int64_t n) {
    float best = std::numeric_limits<float>::lowest();
    for (int64_t i = 0; i < n; ++i) best = std::max(best, v[i]);
    return best;
  });
}

void global_lp_pool(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  if (x.dtype() != DType::f32) ctx.unsupported("data type " + std::string(dtype_name(x.dtype())) + " (float32 only)");
  auto p = static_cast<float>(ctx.attr_int("p", 2));
  global_pool<float>(ctx, x, [p](const float* v, int64_t n) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::pow(std::abs(static_cast<double>(v[i])), p);
    return static_cast<float>(std::pow(sum, 1.0 / p));
  });
}

}  // namespace mcompress::exec
