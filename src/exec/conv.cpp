// Conv and ConvTranspose over 1-3 spatial dims (1-D and 2-D run the 3-D loops with leading
// extents of 1), plus the window geometry the pools share.
//
// Conv: per (image, group, block of output pixels) the input patches are unrolled into a
// [Cin/g * kernel] x [pixels] matrix (im2col) and multiplied by the group's weights with one
// sgemm, which adds the bias and applies a fused Relu as it stores; 1x1 stride-1 convolutions
// multiply the input in place, and other stride-1 2-D/1-D ones read shifted windows of a padded
// copy of the input instead of unrolling it (conv_shifted). Depthwise convolutions (one input
// channel per group) skip the GEMM: a direct loop over kernel taps is faster for them.
// ConvTranspose: per (image, group, block of output channels) GEMM W^T x X into columns, then
// col2im scatter-adds the columns into the output.
#include <algorithm>
#include <cstring>

#include "nn_kernels.h"
#include "sgemm.h"

namespace mcompress::exec {
namespace {

// Unrolled-patch buffer per task (floats): ~1 MB keeps it and the weights in L2.
constexpr int64_t kColBufferFloats = 1 << 18;
// Multiply-adds per parallel chunk.
constexpr double kConvTaskWork = 1 << 20;
// Tasks wanted before a single image is split further (pixel blocks / channel blocks).
constexpr int64_t kMinConvTasks = 8;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::vector<int64_t> ints_or(const OpContext& ctx, std::string_view name, size_t size, int64_t fill) {
  std::vector<int64_t> v = ctx.attr_ints(name);
  if (v.empty()) return std::vector<int64_t>(size, fill);
  if (v.size() != size)
    ctx.fail(std::string(name) + " has " + std::to_string(v.size()) + " values, expected " + std::to_string(size));
  return v;
}

// Kernel extents from the weights' shape, checked against kernel_shape when that is given.
std::vector<int64_t> weight_kernel(const OpContext& ctx, const Tensor& w, size_t spatial) {
  if (w.rank() != static_cast<int64_t>(spatial) + 2)
    ctx.fail("weights of shape " + shape_string(w.shape()) + " do not match the input's rank");
  std::vector<int64_t> kernel(w.shape().begin() + 2, w.shape().end());
  std::vector<int64_t> attr = ctx.attr_ints("kernel_shape");
  if (!attr.empty() && attr != kernel) ctx.fail("kernel_shape does not match the weights' shape");
  return kernel;
}

void check_spatial_rank(const OpContext& ctx, const Tensor& x) {
  if (x.rank() < 3) ctx.fail("input must be [N, C, spatial...], got " + shape_string(x.shape()));
  if (x.rank() > 5) ctx.unsupported("more than 3 spatial dimensions");
}

// Per-pixel geometry of a Conv in 3-D form.
struct ConvGeometry {
  Extent3 in, out, kernel, stride, dilation, pad;
  int64_t in_pixels() const { return in.d * in.h * in.w; }
  int64_t out_pixels() const { return out.d * out.h * out.w; }
  int64_t taps() const { return kernel.d * kernel.h * kernel.w; }
  // The zero-padded input plane conv_shifted reads (stride 1): the output plus the dilated kernel.
  int64_t padded_h() const { return out.h + (kernel.h - 1) * dilation.h; }
  int64_t padded_w() const { return out.w + (kernel.w - 1) * dilation.w; }
};

ConvGeometry to_geometry(const Window& win) {
  return {to_extent3(win.in, 1),        to_extent3(win.out, 1),       to_extent3(win.kernel, 1),
          to_extent3(win.strides, 1),   to_extent3(win.dilations, 1), to_extent3(win.pad_begin, 0)};
}

// Output columns [first, last) whose input column ow*stride - pad + tap stays inside [0, extent).
void valid_range(int64_t extent, int64_t out, int64_t stride, int64_t offset, int64_t& first, int64_t& last) {
  // offset = tap * dilation - pad; need 0 <= o*stride + offset < extent.
  first = offset >= 0 ? 0 : ceil_div(-offset, stride);
  last = extent - offset <= 0 ? 0 : ceil_div(extent - offset, stride);
  first = std::min(first, out);
  last = std::clamp(last, first, out);
}

// A run of output pixels within one output row: the unit im2col copies.
struct RowSegment {
  int64_t od, oh, ow0, len;
};

// The output-row pieces of pixels [p0, p1), computed once per block so the copy loops below
// need no divisions.
std::vector<RowSegment> row_segments(const ConvGeometry& g, int64_t p0, int64_t p1) {
  std::vector<RowSegment> segs;
  int64_t ow0 = p0 % g.out.w;
  int64_t oh = (p0 / g.out.w) % g.out.h;
  int64_t od = p0 / (g.out.w * g.out.h);
  for (int64_t p = p0; p < p1;) {
    int64_t len = std::min(g.out.w - ow0, p1 - p);
    segs.push_back({od, oh, ow0, len});
    p += len;
    ow0 = 0;
    if (++oh == g.out.h) oh = 0, ++od;
  }
  return segs;
}

// Unrolls output pixels [p0, p1) of one group's input channels into col (row stride p1 - p0):
// row (c, kd, kh, kw) holds the input value each output pixel sees through that tap (0 in the
// padding).
void im2col(const float* x, int64_t channels, const ConvGeometry& g, const std::vector<RowSegment>& segs,
            int64_t cols, float* col) {
  int64_t plane = g.in_pixels();
  std::vector<int64_t> ow_first(g.kernel.w), ow_last(g.kernel.w);
  for (int64_t kw = 0; kw < g.kernel.w; ++kw)
    valid_range(g.in.w, g.out.w, g.stride.w, kw * g.dilation.w - g.pad.w, ow_first[kw], ow_last[kw]);
  float* dst_row = col;
  for (int64_t c = 0; c < channels; ++c) {
    const float* xc = x + c * plane;
    for (int64_t kd = 0; kd < g.kernel.d; ++kd) {
      for (int64_t kh = 0; kh < g.kernel.h; ++kh) {
        for (int64_t kw = 0; kw < g.kernel.w; ++kw, dst_row += cols) {
          int64_t w_offset = kw * g.dilation.w - g.pad.w;
          float* dst = dst_row;
          for (const RowSegment& seg : segs) {
            int64_t id = seg.od * g.stride.d - g.pad.d + kd * g.dilation.d;
            int64_t ih = seg.oh * g.stride.h - g.pad.h + kh * g.dilation.h;
            int64_t end = seg.ow0 + seg.len;
            if (id < 0 || id >= g.in.d || ih < 0 || ih >= g.in.h) {
              std::fill(dst, dst + seg.len, 0.f);
              dst += seg.len;
              continue;
            }
            const float* src = xc + (id * g.in.h + ih) * g.in.w + w_offset;
            int64_t a = std::clamp(ow_first[kw], seg.ow0, end);
            int64_t b = std::clamp(ow_last[kw], a, end);
            float* d = dst - seg.ow0;  // indexed by ow
            for (int64_t ow = seg.ow0; ow < a; ++ow) d[ow] = 0.f;
            if (g.stride.w == 1) {
              std::memcpy(d + a, src + a, sizeof(float) * (b - a));
            } else {
              for (int64_t ow = a; ow < b; ++ow) d[ow] = src[ow * g.stride.w];
            }
            for (int64_t ow = b; ow < end; ++ow) d[ow] = 0.f;
            dst += seg.len;
          }
        }
      }
    }
  }
}

// y[pixels] += w * x shifted by one kernel tap, for one input/output channel pair.
void accumulate_tap(const float* x, float w, const ConvGeometry& g, int64_t kd, int64_t kh, int64_t kw, float* y) {
  int64_t w_offset = kw * g.dilation.w - g.pad.w;
  int64_t ow_first, ow_last;
  valid_range(g.in.w, g.out.w, g.stride.w, w_offset, ow_first, ow_last);
  for (int64_t od = 0; od < g.out.d; ++od) {
    int64_t id = od * g.stride.d - g.pad.d + kd * g.dilation.d;
    if (id < 0 || id >= g.in.d) continue;
    for (int64_t oh = 0; oh < g.out.h; ++oh) {
      int64_t ih = oh * g.stride.h - g.pad.h + kh * g.dilation.h;
      if (ih < 0 || ih >= g.in.h) continue;
      const float* src = x + (id * g.in.h + ih) * g.in.w + w_offset;
      float* dst = y + (od * g.out.h + oh) * g.out.w;
      if (g.stride.w == 1) {
        for (int64_t ow = ow_first; ow < ow_last; ++ow) dst[ow] += w * src[ow];
      } else {
        for (int64_t ow = ow_first; ow < ow_last; ++ow) dst[ow] += w * src[ow * g.stride.w];
      }
    }
  }
}

// Stride-1 convolutions over 1 or 2 spatial dims whose padded group input and wide output fit
// the buffers, with enough images x groups to go round the pool, skip im2col: see conv_shifted.
// Only with the native sgemm: without it sgemm_rows gathers B (depth x wide pixels) into a heap
// buffer that no limit here bounds.
bool fits_shifted_windows(const ConvGeometry& g, int64_t in_per_group, int64_t out_per_group, int64_t tasks) {
  if (!sgemm_is_native()) return false;
  if (g.stride.d != 1 || g.stride.h != 1 || g.stride.w != 1 || g.kernel.d != 1 || g.in.d != 1 || g.out.d != 1)
    return false;
  if (tasks < kMinConvTasks) return false;
  int64_t wp = g.padded_w();
  return in_per_group * g.padded_h() * wp <= kColBufferFloats && out_per_group * g.out.h * wp <= kColBufferFloats;
}

bool is_pointwise(const ConvGeometry& g) {
  return g.taps() == 1 && g.stride.d == 1 && g.stride.h == 1 && g.stride.w == 1 && g.pad.d == 0 && g.pad.h == 0 &&
         g.pad.w == 0 && g.in.d == g.out.d && g.in.h == g.out.h && g.in.w == g.out.w;
}

std::vector<float>& scratch() {
  thread_local std::vector<float> buffer;
  return buffer;
}

void check_float(const OpContext& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != DType::f32)
    ctx.unsupported(std::string(what) + " of type " + std::string(dtype_name(t.dtype())) + " (float32 only)");
}

// Conv of one image's group without im2col (stride 1): the input is copied once into a zero-padded
// plane per channel, hp x wp. The output pixel (oh, ow) then sees, through tap (c, kh, kw), the
// padded value at c*hp*wp + kh*dh*wp + kw*dw + (oh*wp + ow): each patch row is the padded input
// shifted by a constant, so sgemm_rows reads it in place. The product runs over the "wide" pixels
// oh*wp + ow (ow up to wp, the extra columns being discarded), and the valid ones are copied out.
// Same products summed in the same order as the im2col path: the same bits.
void conv_shifted(const float* x, int64_t channels, const ConvGeometry& g, const float* w, int64_t out_channels,
                  const SgemmEpilogue& epilogue, float* y) {
  int64_t hp = g.padded_h(), wp = g.padded_w();
  int64_t wide = (g.out.h - 1) * wp + g.out.w;
  int64_t depth = channels * g.taps();
  thread_local std::vector<float> padded, product;
  thread_local std::vector<const float*> rows;
  padded.resize(static_cast<size_t>(channels * hp * wp));
  product.resize(static_cast<size_t>(out_channels * wide));
  rows.resize(static_cast<size_t>(depth));
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t r = 0; r < hp; ++r) {
      float* dst = padded.data() + (c * hp + r) * wp;
      int64_t ih = r - g.pad.h;
      std::fill(dst, dst + wp, 0.f);
      if (ih < 0 || ih >= g.in.h) continue;
      int64_t count = std::min(g.in.w, wp - g.pad.w);  // the end padding may cut the row short
      if (count > 0) std::copy_n(x + (c * g.in.h + ih) * g.in.w, count, dst + g.pad.w);
    }
  }
  for (int64_t c = 0, t = 0; c < channels; ++c)
    for (int64_t kh = 0; kh < g.kernel.h; ++kh)
      for (int64_t kw = 0; kw < g.kernel.w; ++kw, ++t)
        rows[t] = padded.data() + c * hp * wp + kh * g.dilation.h * wp + kw * g.dilation.w;
  sgemm_rows(out_channels, wide, depth, w, depth, rows.data(), product.data(), wide, epilogue);
  int64_t out_pixels = g.out_pixels();
  for (int64_t oc = 0; oc < out_channels; ++oc)
    for (int64_t oh = 0; oh < g.out.h; ++oh)
      std::copy_n(product.data() + oc * wide + oh * wp, g.out.w, y + oc * out_pixels + oh * g.out.w);
}

}  // namespace

Extent3 to_extent3(const std::vector<int64_t>& v, int64_t fill) {
  int64_t e[3] = {fill, fill, fill};
  size_t n = std::min<size_t>(v.size(), 3);
  for (size_t i = 0; i < n; ++i) e[3 - n + i] = v[v.size() - n + i];
  return {e[0], e[1], e[2]};
}

Window window_geometry(const OpContext& ctx, const Shape& x_shape, std::vector<int64_t> kernel, bool ceil_mode) {
  size_t r = x_shape.size() - 2;
  if (kernel.size() != r) ctx.fail("kernel has " + std::to_string(kernel.size()) + " dims, input has " + std::to_string(r) + " spatial dims");
  Window win;
  win.in.assign(x_shape.begin() + 2, x_shape.end());
  win.kernel = std::move(kernel);
  win.strides = ints_or(ctx, "strides", r, 1);
  win.dilations = ints_or(ctx, "dilations", r, 1);
  std::vector<int64_t> pads = ints_or(ctx, "pads", 2 * r, 0);
  win.pad_begin.assign(pads.begin(), pads.begin() + r);
  win.pad_end.assign(pads.begin() + r, pads.end());
  win.out.resize(r);
  std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  for (size_t d = 0; d < r; ++d) {
    if (win.kernel[d] <= 0 || win.strides[d] <= 0 || win.dilations[d] <= 0)
      ctx.fail("kernel, strides and dilations must be positive");
    if (win.pad_begin[d] < 0 || win.pad_end[d] < 0) ctx.fail("pads must not be negative");
    int64_t in = win.in[d];
    int64_t s = win.strides[d];
    int64_t ek = win.effective_kernel(d);
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      win.out[d] = ceil_div(in, s);
      int64_t total = std::max<int64_t>(0, (win.out[d] - 1) * s + ek - in);
      // SAME_UPPER puts the odd pixel of padding at the end, SAME_LOWER at the beginning.
      win.pad_begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      win.pad_end[d] = total - win.pad_begin[d];
      continue;
    }
    if (auto_pad == "VALID") {
      win.pad_begin[d] = win.pad_end[d] = 0;
    } else if (auto_pad != "NOTSET" && !auto_pad.empty()) {
      ctx.fail("unknown auto_pad '" + auto_pad + "'");
    }
    int64_t span = in + win.pad_begin[d] + win.pad_end[d] - ek;
    if (span < 0) ctx.fail("the kernel is larger than the padded input " + shape_string(x_shape));
    win.out[d] = (ceil_mode ? ceil_div(span, s) : span / s) + 1;
    // A last window that would start inside the end padding is dropped (as ORT and PyTorch do).
    if (ceil_mode && (win.out[d] - 1) * s >= in + win.pad_begin[d]) --win.out[d];
  }
  return win;
}

void conv(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* bias = ctx.input(2);
  check_spatial_rank(ctx, x);
  check_float(ctx, x, "input");
  check_float(ctx, w, "weights");
  size_t spatial = x.rank() - 2;
  Window win = window_geometry(ctx, x.shape(), weight_kernel(ctx, w, spatial), false);
  int64_t batch = x.shape()[0];
  int64_t channels = x.shape()[1];
  int64_t out_channels = w.shape()[0];
  int64_t group = ctx.attr_int("group", 1);
  if (group <= 0 || channels % group != 0 || out_channels % group != 0)
    ctx.fail("group " + std::to_string(group) + " does not divide the channels");
  int64_t in_per_group = channels / group;
  int64_t out_per_group = out_channels / group;
  if (w.shape()[1] != in_per_group)
    ctx.fail("weights " + shape_string(w.shape()) + " do not match " + std::to_string(channels) + " input channels in " +
             std::to_string(group) + " groups");
  if (bias) {
    check_float(ctx, *bias, "bias");
    if (bias->numel() != out_channels) ctx.fail("bias must have one value per output channel");
  }

  Shape out_shape{batch, out_channels};
  out_shape.insert(out_shape.end(), win.out.begin(), win.out.end());
  Tensor out(DType::f32, out_shape);
  ConvGeometry g = to_geometry(win);
  int64_t in_pixels = g.in_pixels();
  int64_t out_pixels = g.out_pixels();
  int64_t depth = in_per_group * g.taps();  // GEMM inner dimension
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pb = bias ? bias->data<float>() : nullptr;
  float* py = out.data<float>();
  bool relu = ctx.fused_relu();
  if (out.numel() == 0) {
    ctx.out(0) = std::move(out);
    return;
  }

  if (in_per_group == 1 && group > 1) {
    // Depthwise: one task per output plane, taps accumulated in a fixed order.
    double work = static_cast<double>(out_pixels) * g.taps();
    int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kConvTaskWork / std::max(work, 1.0)));
    ctx.pool().parallel_for(batch * out_channels, grain, [&](int64_t begin, int64_t end) {
      for (int64_t plane = begin; plane < end; ++plane) {
        int64_t n = plane / out_channels;
        int64_t oc = plane % out_channels;
        int64_t ic = oc / out_per_group;
        float* y = py + plane * out_pixels;
        std::fill(y, y + out_pixels, pb ? pb[oc] : 0.f);
        const float* xc = px + (n * channels + ic) * in_pixels;
        const float* wc = pw + oc * g.taps();
        for (int64_t kd = 0, t = 0; kd < g.kernel.d; ++kd)
          for (int64_t kh = 0; kh < g.kernel.h; ++kh)
            for (int64_t kw = 0; kw < g.kernel.w; ++kw, ++t) accumulate_tap(xc, wc[t], g, kd, kh, kw, y);
        if (relu)
          for (int64_t p = 0; p < out_pixels; ++p) y[p] = std::max(y[p], 0.f);
      }
    });
    ctx.out(0) = std::move(out);
    return;
  }

  bool pointwise = is_pointwise(g);
  if (!pointwise && fits_shifted_windows(g, in_per_group, out_per_group, batch * group)) {
    double work = static_cast<double>(out_per_group) * out_pixels * std::max<int64_t>(depth, 1);
    int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kConvTaskWork / work));
    ctx.pool().parallel_for(batch * group, grain, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        int64_t n = task / group;
        int64_t gi = task % group;
        SgemmEpilogue epilogue{pb ? pb + gi * out_per_group : nullptr, nullptr, false, relu};
        conv_shifted(px + (n * channels + gi * in_per_group) * in_pixels, in_per_group, g,
                     pw + gi * out_per_group * depth, out_per_group, epilogue,
                     py + (n * out_channels + gi * out_per_group) * out_pixels);
      }
    });
    ctx.out(0) = std::move(out);
    return;
  }

  // Pixel blocks: bounded by the patch buffer, and smaller when there are few images x groups.
  int64_t block = out_pixels;
  if (!pointwise) block = std::min(block, std::max<int64_t>(16, kColBufferFloats / std::max<int64_t>(depth, 1)));
  if (batch * group < kMinConvTasks)
    block = std::min(block, std::max<int64_t>(64, ceil_div(out_pixels * batch * group, kMinConvTasks)));
  int64_t blocks = ceil_div(out_pixels, block);
  double task_work = static_cast<double>(out_per_group) * block * std::max<int64_t>(depth, 1);
  int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kConvTaskWork / task_work));
  ctx.pool().parallel_for(batch * group * blocks, grain, [&](int64_t begin, int64_t end) {
    std::vector<float>& col = scratch();
    for (int64_t task = begin; task < end; ++task) {
      int64_t n = task / (group * blocks);
      int64_t gi = (task / blocks) % group;
      int64_t p0 = (task % blocks) * block;
      int64_t p1 = std::min(out_pixels, p0 + block);
      const float* xg = px + (n * channels + gi * in_per_group) * in_pixels;
      GemmOperand patches{xg + p0, in_pixels, false};
      if (!pointwise) {
        col.resize(static_cast<size_t>(depth * (p1 - p0)));
        im2col(xg, in_per_group, g, row_segments(g, p0, p1), p1 - p0, col.data());
        patches = {col.data(), p1 - p0, false};
      }
      float* y = py + (n * out_channels + gi * out_per_group) * out_pixels + p0;
      SgemmEpilogue epilogue{pb ? pb + gi * out_per_group : nullptr, nullptr, false, relu};
      sgemm(out_per_group, p1 - p0, depth, pw + gi * out_per_group * depth, depth, patches.data, patches.ld, y,
            out_pixels, epilogue);
    }
  });
  ctx.out(0) = std::move(out);
}

namespace {

// Scatter-adds one block of columns (rows: output channel x tap, cols: input pixels [p0, p1))
// into the output planes of those channels.
void col2im(const float* col, int64_t channels, const ConvGeometry& g, int64_t p0, int64_t p1, float* y) {
  int64_t cols = p1 - p0;
  int64_t out_plane = g.out_pixels();
  int64_t row = 0;
  for (int64_t c = 0; c < channels; ++c) {
    float* yc = y + c * out_plane;
    for (int64_t kd = 0; kd < g.kernel.d; ++kd) {
      for (int64_t kh = 0; kh < g.kernel.h; ++kh) {
        for (int64_t kw = 0; kw < g.kernel.w; ++kw, ++row) {
          const float* src = col + row * cols;
          for (int64_t p = p0; p < p1; ++p, ++src) {
            int64_t iw = p % g.in.w;
            int64_t ih = (p / g.in.w) % g.in.h;
            int64_t id = p / (g.in.w * g.in.h);
            int64_t od = id * g.stride.d - g.pad.d + kd * g.dilation.d;
            int64_t oh = ih * g.stride.h - g.pad.h + kh * g.dilation.h;
            int64_t ow = iw * g.stride.w - g.pad.w + kw * g.dilation.w;
            if (od < 0 || od >= g.out.d || oh < 0 || oh >= g.out.h || ow < 0 || ow >= g.out.w) continue;
            yc[(od * g.out.h + oh) * g.out.w + ow] += *src;
          }
        }
      }
    }
  }
}

}  // namespace

void conv_transpose(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& w = ctx.in(1);
  const Tensor* bias = ctx.input(2);
  check_spatial_rank(ctx, x);
  check_float(ctx, x, "input");
  check_float(ctx, w, "weights");
  size_t r = x.rank() - 2;
  std::vector<int64_t> kernel = weight_kernel(ctx, w, r);
  int64_t batch = x.shape()[0];
  int64_t channels = x.shape()[1];
  int64_t group = ctx.attr_int("group", 1);
  if (group <= 0 || channels % group != 0 || w.shape()[0] != channels)
    ctx.fail("weights " + shape_string(w.shape()) + " do not match " + std::to_string(channels) +
             " input channels in " + std::to_string(group) + " groups");
  int64_t in_per_group = channels / group;
  int64_t out_per_group = w.shape()[1];
  int64_t out_channels = out_per_group * group;
  if (bias) {
    check_float(ctx, *bias, "bias");
    if (bias->numel() != out_channels) ctx.fail("bias must have one value per output channel");
  }

  Window win;
  win.in.assign(x.shape().begin() + 2, x.shape().end());
  win.kernel = kernel;
  win.strides = ints_or(ctx, "strides", r, 1);
  win.dilations = ints_or(ctx, "dilations", r, 1);
  std::vector<int64_t> pads = ints_or(ctx, "pads", 2 * r, 0);
  win.pad_begin.assign(pads.begin(), pads.begin() + r);
  win.pad_end.assign(pads.begin() + r, pads.end());
  std::vector<int64_t> output_padding = ints_or(ctx, "output_padding", r, 0);
  std::vector<int64_t> output_shape = ctx.attr_ints("output_shape");
  if (output_shape.size() == r + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
  if (!output_shape.empty() && output_shape.size() != r) ctx.fail("output_shape does not match the spatial rank");
  std::string auto_pad = ctx.attr_string("auto_pad", "NOTSET");
  bool same = auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER";
  win.out.resize(r);
  for (size_t d = 0; d < r; ++d) {
    if (win.kernel[d] <= 0 || win.strides[d] <= 0 || win.dilations[d] <= 0)
      ctx.fail("kernel, strides and dilations must be positive");
    if (auto_pad == "VALID") win.pad_begin[d] = win.pad_end[d] = 0;
    int64_t full = win.strides[d] * (win.in[d] - 1) + output_padding[d] + win.effective_kernel(d);
    if (!output_shape.empty() || same) {
      int64_t target = !output_shape.empty() ? output_shape[d] : win.in[d] * win.strides[d];
      int64_t total = std::max<int64_t>(0, full - target);
      // SAME_UPPER puts the odd pixel of padding at the end; SAME_LOWER and an explicit
      // output_shape put it at the start (ONNX's rule, and ORT's).
      win.pad_begin[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      win.pad_end[d] = total - win.pad_begin[d];
      win.out[d] = target;
    } else {
      win.out[d] = full - win.pad_begin[d] - win.pad_end[d];
    }
    if (win.out[d] < 0 || win.pad_begin[d] < 0 || win.pad_end[d] < 0) ctx.fail("pads or output_shape do not fit");
  }

  Shape out_shape{batch, out_channels};
  out_shape.insert(out_shape.end(), win.out.begin(), win.out.end());
  Tensor out(DType::f32, out_shape);
  ConvGeometry g = to_geometry(win);
  int64_t in_pixels = g.in_pixels();
  int64_t out_pixels = g.out_pixels();
  int64_t taps = g.taps();
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pb = bias ? bias->data<float>() : nullptr;
  float* py = out.data<float>();
  if (out.numel() == 0) {
    ctx.out(0) = std::move(out);
    return;
  }

  // Channel blocks write disjoint output planes, so they may run in parallel; the pixel blocks
  // inside one task overlap in the output and run in order.
  int64_t channel_block = out_per_group;
  if (batch * group < kMinConvTasks)
    channel_block = std::max<int64_t>(1, ceil_div(out_per_group, ceil_div(kMinConvTasks, batch * group)));
  int64_t channel_blocks = ceil_div(out_per_group, channel_block);
  int64_t pixel_block = std::max<int64_t>(16, kColBufferFloats / std::max<int64_t>(channel_block * taps, 1));
  double task_work = static_cast<double>(channel_block) * taps * in_pixels * std::max<int64_t>(in_per_group, 1);
  int64_t grain = std::max<int64_t>(1, static_cast<int64_t>(kConvTaskWork / std::max(task_work, 1.0)));
  int64_t w_cols = out_per_group * taps;  // row stride of one input channel's weights
  ctx.pool().parallel_for(batch * group * channel_blocks, grain, [&](int64_t begin, int64_t end) {
    std::vector<float>& col = scratch();
    for (int64_t task = begin; task < end; ++task) {
      int64_t n = task / (group * channel_blocks);
      int64_t gi = (task / channel_blocks) % group;
      int64_t c0 = (task % channel_blocks) * channel_block;
      int64_t c1 = std::min(out_per_group, c0 + channel_block);
      float* y = py + (n * out_channels + gi * out_per_group + c0) * out_pixels;
      for (int64_t c = c0; c < c1; ++c)
        std::fill(y + (c - c0) * out_pixels, y + (c - c0 + 1) * out_pixels, pb ? pb[gi * out_per_group + c] : 0.f);
      const float* xg = px + (n * channels + gi * in_per_group) * in_pixels;
      // Rows (c, tap) of W_g^T for channels [c0, c1): W_g is [in_per_group x out_per_group*taps].
      GemmOperand wt{pw + gi * in_per_group * w_cols + c0 * taps, w_cols, true};
      for (int64_t p0 = 0; p0 < in_pixels; p0 += pixel_block) {
        int64_t p1 = std::min(in_pixels, p0 + pixel_block);
        col.resize(static_cast<size_t>((c1 - c0) * taps * (p1 - p0)));
        gemm_f32((c1 - c0) * taps, p1 - p0, in_per_group, 1.f, wt, {xg + p0, in_pixels, false}, col.data(), p1 - p0,
                 false);
        col2im(col.data(), c1 - c0, g, p0, p1, y);
      }
    }
  });
  ctx.out(0) = std::move(out);
}

}  // namespace mcompress::exec
