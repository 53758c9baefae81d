// Normalisations (BatchNormalization in inference mode, InstanceNormalization,
// LayerNormalization, GroupNormalization) and Softmax / LogSoftmax / Hardmax. Statistics are
// accumulated in double, each row by one task in a fixed order.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "nn_kernels.h"

namespace mcompress::exec {
namespace {

constexpr double kRowGrainWork = 1 << 15;  // elements per parallel chunk of row-wise work

int64_t row_grain(int64_t row_length) {
  return std::max<int64_t>(1, static_cast<int64_t>(kRowGrainWork / std::max<double>(row_length, 1)));
}

void require_f32(const OpContext& ctx, const Tensor& t, const char* what) {
  if (t.dtype() != DType::f32)
    ctx.unsupported(std::string(what) + " of type " + std::string(dtype_name(t.dtype())) + " (float32 only)");
}

// ---- BatchNormalization ---------------------------------------------------------------------

void batch_normalization_impl(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor& bias = ctx.in(2);
  const Tensor& mean = ctx.in(3);
  const Tensor& var = ctx.in(4);
  if (ctx.attr_int("training_mode", 0) != 0) ctx.unsupported("training_mode=1 (only inference is supported)");
  if (ctx.opset() < 7 && ctx.attr_int("is_test", 0) == 0) ctx.unsupported("is_test=0 (only inference is supported)");
  for (const Tensor* t : {&x, &scale, &bias, &mean, &var}) require_f32(ctx, *t, "input");
  if (x.rank() < 2) ctx.fail("input must be [N, C, ...], got " + shape_string(x.shape()));
  int64_t batch = x.shape()[0];
  int64_t channels = x.shape()[1];
  // Before opset 9, spatial=0 gives every (channel, position) its own statistics.
  int64_t per_channel = product(x.shape(), 2, x.shape().size());
  int64_t stats = ctx.opset() < 9 && ctx.attr_int("spatial", 1) == 0 ? channels * per_channel : channels;
  for (const Tensor* t : {&scale, &bias, &mean, &var})
    if (t->numel() != stats) ctx.fail("scale, B, mean and var must have " + std::to_string(stats) + " values");
  int64_t run = stats == channels ? per_channel : 1;  // elements sharing one set of statistics

  std::vector<float> a(stats), b(stats);
  for (int64_t c = 0; c < stats; ++c) {
    float inv_std = 1.f / std::sqrt(var.data<float>()[c] + ctx.attr_float("epsilon", 1e-5f));
    a[c] = scale.data<float>()[c] * inv_std;
    b[c] = bias.data<float>()[c] - mean.data<float>()[c] * a[c];
  }
  Tensor out(DType::f32, x.shape());
  const float* px = x.data<float>();
  float* py = out.data<float>();
  int64_t rows = batch * stats;
  ctx.pool().parallel_for(rows, row_grain(run), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t c = r % stats;
      const float* xr = px + r * run;
      float* yr = py + r * run;
      for (int64_t i = 0; i < run; ++i) yr[i] = xr[i] * a[c] + b[c];
    }
  });
  ctx.out(0) = std::move(out);
  // Older opsets may list the running statistics as outputs; in inference they pass through.
  if (ctx.has_output(1)) ctx.out(1) = mean;
  if (ctx.has_output(2)) ctx.out(2) = var;
  if (ctx.has_output(3) || ctx.has_output(4)) ctx.unsupported("saved mean/var outputs (training only)");
}

// ---- per-row normalisation shared by Instance/Layer/GroupNormalization ----------------------

struct RowStats {
  double mean, inv_std;
};

// Sum of f(x[i]) in double: 8 interleaved partial sums (one vector of doubles once vectorised),
// combined in a fixed order.
template <typename F>
double lane_sum(const float* x, int64_t n, F f) {
  constexpr int64_t kLanes = 8;
  double part[kLanes] = {};
  int64_t body = n / kLanes * kLanes;
  for (int64_t i = 0; i < body; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) part[l] += f(static_cast<double>(x[i + l]));
  for (int64_t i = body; i < n; ++i) part[i - body] += f(static_cast<double>(x[i]));
  return ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
}

RowStats row_stats(const float* x, int64_t n, double epsilon) {
  if (n == 0) return {0.0, 1.0 / std::sqrt(epsilon)};
  double mean = lane_sum(x, n, [](double v) { return v; }) / static_cast<double>(n);
  double var = lane_sum(x, n, [mean](double v) { return (v - mean) * (v - mean); }) / static_cast<double>(n);
  return {mean, 1.0 / std::sqrt(var + epsilon)};
}

}  // namespace

void batch_normalization(OpContext& ctx) { batch_normalization_impl(ctx); }

void instance_normalization(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor& bias = ctx.in(2);
  for (const Tensor* t : {&x, &scale, &bias}) require_f32(ctx, *t, "input");
  if (x.rank() < 3) ctx.fail("input must be [N, C, spatial...], got " + shape_string(x.shape()));
  int64_t channels = x.shape()[1];
  if (scale.numel() != channels || bias.numel() != channels) ctx.fail("scale and B must have one value per channel");
  double epsilon = ctx.attr_float("epsilon", 1e-5f);
  int64_t plane = product(x.shape(), 2, x.shape().size());
  Tensor out(DType::f32, x.shape());
  const float* px = x.data<float>();
  float* py = out.data<float>();
  ctx.pool().parallel_for(x.shape()[0] * channels, row_grain(plane), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      int64_t c = r % channels;
      RowStats s = row_stats(px + r * plane, plane, epsilon);
      auto a = static_cast<float>(scale.data<float>()[c] * s.inv_std);
      auto b = static_cast<float>(bias.data<float>()[c] - s.mean * scale.data<float>()[c] * s.inv_std);
      for (int64_t i = 0; i < plane; ++i) py[r * plane + i] = px[r * plane + i] * a + b;
    }
  });
  ctx.out(0) = std::move(out);
}

void layer_normalization(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor* bias = ctx.input(2);
  require_f32(ctx, x, "input");
  require_f32(ctx, scale, "scale");
  if (bias) require_f32(ctx, *bias, "B");
  if (x.rank() == 0) ctx.fail("input must have rank >= 1");
  int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", -1), x.rank());
  double epsilon = ctx.attr_float("epsilon", 1e-5f);
  int64_t rows = product(x.shape(), 0, axis);
  int64_t cols = product(x.shape(), axis, x.shape().size());
  Shape norm_shape(x.shape().begin() + axis, x.shape().end());
  // Scale and B broadcast (unidirectionally) to the normalised shape.
  auto expand = [&](const Tensor& t, const char* what) {
    if (t.numel() == cols && cols > 0) return std::vector<float>(t.data<float>(), t.data<float>() + cols);
    if (t.rank() > static_cast<int64_t>(norm_shape.size()) ||
        broadcast_shapes(ctx, {&t.shape(), &norm_shape}) != norm_shape)
      ctx.fail(std::string(what) + " of shape " + shape_string(t.shape()) + " does not broadcast to " +
               shape_string(norm_shape));
    std::vector<float> v(static_cast<size_t>(cols));
    std::array<std::vector<int64_t>, 1> strides = {broadcast_strides(t.shape(), norm_shape)};
    for_each_broadcast<1>(norm_shape, strides,
                          [&](int64_t i, const std::array<int64_t, 1>& o) { v[i] = t.data<float>()[o[0]]; });
    return v;
  };
  std::vector<float> gamma = expand(scale, "scale");
  std::vector<float> beta = bias ? expand(*bias, "B") : std::vector<float>(static_cast<size_t>(cols), 0.f);

  Tensor out(DType::f32, x.shape());
  Shape stat_shape = x.shape();
  std::fill(stat_shape.begin() + axis, stat_shape.end(), 1);
  Tensor mean_out(DType::f32, stat_shape);
  Tensor inv_std_out(DType::f32, stat_shape);
  const float* px = x.data<float>();
  float* py = out.data<float>();
  ctx.pool().parallel_for(rows, row_grain(cols), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = px + r * cols;
      float* yr = py + r * cols;
      RowStats s = row_stats(xr, cols, epsilon);
      auto mean = static_cast<float>(s.mean);
      auto inv_std = static_cast<float>(s.inv_std);
      for (int64_t i = 0; i < cols; ++i) yr[i] = (xr[i] - mean) * inv_std * gamma[i] + beta[i];
      mean_out.data<float>()[r] = mean;
      inv_std_out.data<float>()[r] = inv_std;
    }
  });
  ctx.out(0) = std::move(out);
  if (ctx.has_output(1)) ctx.out(1) = std::move(mean_out);
  if (ctx.has_output(2)) ctx.out(2) = std::move(inv_std_out);
}

void group_normalization(OpContext& ctx) {
  const Tensor& x = ctx.in(0);
  const Tensor& scale = ctx.in(1);
  const Tensor& bias = ctx.in(2);
  for (const Tensor* t : {&x, &scale, &bias}) require_f32(ctx, *t, "input");
  if (x.rank() < 3) ctx.fail("input must be [N, C, spatial...], got " + shape_string(x.shape()));
  int64_t channels = x.shape()[1];
  int64_t groups = ctx.attr_int("num_groups", 0);
  if (groups <= 0 || channels % groups != 0) ctx.fail("num_groups must divide the channels");
  // Opset 18 scales per group; opset 21 per channel.
  int64_t per = scale.numel() == channels ? 1 : channels / groups;
  if (scale.numel() * per != channels || bias.numel() != scale.numel())
    ctx.fail("scale and B must have one value per channel (or per group before opset 21)");
  double epsilon = ctx.attr_float("epsilon", 1e-5f);
  int64_t plane = product(x.shape(), 2, x.shape().size());
  int64_t group_size = channels / groups * plane;
  Tensor out(DType::f32, x.shape());
  const float* px = x.data<float>();
  float* py = out.data<float>();
  ctx.pool().parallel_for(x.shape()[0] * groups, row_grain(group_size), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      RowStats s = row_stats(px + r * group_size, group_size, epsilon);
      int64_t first_channel = (r % groups) * (channels / groups);
      for (int64_t c = 0; c < channels / groups; ++c) {
        int64_t k = (first_channel + c) / per;
        auto a = static_cast<float>(scale.data<float>()[k] * s.inv_std);
        auto b = static_cast<float>(bias.data<float>()[k] - s.mean * scale.data<float>()[k] * s.inv_std);
        const float* xc = px + r * group_size + c * plane;
        float* yc = py + r * group_size + c * plane;
        for (int64_t i = 0; i < plane; ++i) yc[i] = xc[i] * a + b;
      }
    }
  });
  ctx.out(0) = std::move(out);
}

// ---- Softmax family -------------------------------------------------------------------------

namespace {

enum class SoftmaxKind { softmax, log_softmax, hardmax };

// Before opset 13 the input is coerced to 2-D at `axis` (default 1): the softmax runs over all
// trailing dims together. From 13 it runs along the single axis (default -1).
void softmax_family(OpContext& ctx, SoftmaxKind kind) {
  const Tensor& x = ctx.in(0);
  require_f32(ctx, x, "input");
  bool coerce = ctx.opset() < 13;
  int64_t rank = std::max<int64_t>(x.rank(), 1);
  int64_t axis = normalize_axis(ctx, ctx.attr_int("axis", coerce ? 1 : -1), rank);
  const Shape& s = x.shape();
  int64_t outer = product(s, 0, static_cast<size_t>(std::min<int64_t>(axis, x.rank())));
  int64_t len = coerce ? product(s, axis, s.size()) : (x.rank() == 0 ? 1 : s[axis]);
  int64_t inner = coerce ? 1 : product(s, axis + 1, s.size());
  Tensor out(DType::f32, x.shape());
  if (x.numel() == 0) {
    ctx.out(0) = std::move(out);
    return;
  }
  const float* px = x.data<float>();
  float* py = out.data<float>();
  // One task per (outer, inner) line along the axis; lines with inner > 1 are strided. Each line
  // is copied into an aligned Eigen array so the vectorised max / exp / sum run the same way
  // (same packet split, same summation order) whichever thread or buffer address.
  ctx.pool().parallel_for(outer * inner, row_grain(len), [&](int64_t begin, int64_t end) {
    Eigen::ArrayXf line(len);
    for (int64_t l = begin; l < end; ++l) {
      const float* xl = px + (l / inner) * len * inner + (l % inner);
      float* yl = py + (l / inner) * len * inner + (l % inner);
      for (int64_t i = 0; i < len; ++i) line[i] = xl[i * inner];
      if (kind == SoftmaxKind::hardmax) {
        // First maximum; a row with NaN has none and gives all zeros, as ORT does.
        bool has_nan = line.isNaN().any();
        int64_t arg = 0;
        for (int64_t i = 1; i < len; ++i)
          if (line[i] > line[arg]) arg = i;
        for (int64_t i = 0; i < len; ++i) yl[i * inner] = i == arg && !has_nan ? 1.f : 0.f;
        continue;
      }
      line -= line.maxCoeff();
      float sum = kind == SoftmaxKind::log_softmax ? line.exp().sum() : (line = line.exp()).sum();
      if (std::isnan(sum)) {
        // A NaN, a +inf (inf - inf) or a row of -inf leaves nothing to normalise: the row is
        // NaN, as ORT gives.
        for (int64_t i = 0; i < len; ++i) yl[i * inner] = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      if (kind == SoftmaxKind::log_softmax) {
        float log_sum = std::log(sum);
        for (int64_t i = 0; i < len; ++i) yl[i * inner] = line[i] - log_sum;
        continue;
      }
      float inv = 1.f / sum;
      if (inner == 1) {
        Eigen::Map<Eigen::ArrayXf>(yl, len) = line * inv;
        continue;
      }
      for (int64_t i = 0; i < len; ++i) yl[i * inner] = line[i] * inv;
    }
  });
  ctx.out(0) = std::move(out);
}

}  // namespace

void softmax(OpContext& ctx) { softmax_family(ctx, SoftmaxKind::softmax); }
void log_softmax(OpContext& ctx) { softmax_family(ctx, SoftmaxKind::log_softmax); }
void hardmax(OpContext& ctx) { softmax_family(ctx, SoftmaxKind::hardmax); }

}  // namespace mcompress::exec
