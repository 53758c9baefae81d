// Kernel tests for the nn ops. The fast kernels (Conv, ConvTranspose, MatMul, Gemm, pools) are
// compared with the scalar `_ref` implementations below on random shapes covering groups,
// strides, dilations and padding, and must give byte-identical results for 1 and 3 threads.
// The other ops are checked against values worked out by hand or by numpy.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <cstring>

#include "exec/sgemm.h"  // private to the exec module
#include "mcompress/support/error.h"
#include "support/op_runner.h"

namespace mcompress::test {
namespace {

// Float tolerance of a fast kernel against its scalar reference: both sum the same products,
// in a different order.
constexpr float kRefRtol = 1e-4f;
constexpr float kRefAtol = 1e-5f;

ir::Node node_with(const std::string& op, size_t inputs, size_t outputs, std::vector<ir::Attribute> attrs) {
  ir::Node n = make_node(op, inputs, outputs);
  n.attributes = std::move(attrs);
  return n;
}

Tensor random_floats(Shape shape, std::mt19937& rng) {
  Tensor t(DType::f32, std::move(shape));
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

// `depth`: products summed per output; float rounding grows with it.
void expect_near_ref(const Tensor& actual, const Tensor& expected, const std::string& what, int64_t depth = 1) {
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  float atol = kRefAtol * static_cast<float>(std::max<int64_t>(1, depth / 64));
  int reported = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    float e = expected.data<float>()[i];
    float a = actual.data<float>()[i];
    if (std::abs(a - e) <= atol + kRefRtol * std::abs(e)) continue;
    if (reported++ < 5) ADD_FAILURE() << what << "[" << i << "]: expected " << e << ", got " << a;
  }
}

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// ---- scalar references --------------------------------------------------------------------

struct WindowParams {
  std::vector<int64_t> kernel, strides, dilations, pads;  // pads: begins then ends
  bool ceil_mode = false;
};

std::vector<ir::Attribute> window_attrs(const WindowParams& p, bool with_kernel) {
  std::vector<ir::Attribute> a = {attr_ints("strides", p.strides), attr_ints("dilations", p.dilations),
                                  attr_ints("pads", p.pads)};
  if (with_kernel) a.push_back(attr_ints("kernel_shape", p.kernel));
  if (p.ceil_mode) a.push_back(attr_int("ceil_mode", 1));
  return a;
}

// Spatial shape padded to 3 dims with leading 1s.
std::array<int64_t, 3> pad3(const std::vector<int64_t>& v, int64_t fill) {
  std::array<int64_t, 3> r = {fill, fill, fill};
  for (size_t i = 0; i < v.size(); ++i) r[3 - v.size() + i] = v[i];
  return r;
}

std::vector<int64_t> window_out(const std::vector<int64_t>& in, const WindowParams& p) {
  size_t r = in.size();
  std::vector<int64_t> out(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t ek = (p.kernel[d] - 1) * p.dilations[d] + 1;
    int64_t span = in[d] + p.pads[d] + p.pads[d + r] - ek;
    out[d] = (p.ceil_mode ? (span + p.strides[d] - 1) / p.strides[d] : span / p.strides[d]) + 1;
    if (p.ceil_mode && (out[d] - 1) * p.strides[d] >= in[d] + p.pads[d]) --out[d];
  }
  return out;
}

Tensor conv_ref(const Tensor& x, const Tensor& w, const Tensor* b, int64_t group, const WindowParams& p) {
  int64_t n_batch = x.shape()[0], c_in = x.shape()[1], m = w.shape()[0];
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  std::vector<int64_t> out = window_out(in, p);
  Shape out_shape{n_batch, m};
  out_shape.insert(out_shape.end(), out.begin(), out.end());
  Tensor y(DType::f32, out_shape);
  size_t r = in.size();
  auto I = pad3(in, 1), O = pad3(out, 1), K = pad3(p.kernel, 1), S = pad3(p.strides, 1), D = pad3(p.dilations, 1);
  auto P = pad3(std::vector<int64_t>(p.pads.begin(), p.pads.begin() + r), 0);
  int64_t cg = c_in / group, mg = m / group;
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t oc = 0; oc < m; ++oc)
      for (int64_t od = 0; od < O[0]; ++od)
        for (int64_t oh = 0; oh < O[1]; ++oh)
          for (int64_t ow = 0; ow < O[2]; ++ow) {
            double acc = b ? b->data<float>()[oc] : 0.0;
            for (int64_t ic = 0; ic < cg; ++ic)
              for (int64_t kd = 0; kd < K[0]; ++kd)
                for (int64_t kh = 0; kh < K[1]; ++kh)
                  for (int64_t kw = 0; kw < K[2]; ++kw) {
                    int64_t id = od * S[0] - P[0] + kd * D[0], ih = oh * S[1] - P[1] + kh * D[1],
                            iw = ow * S[2] - P[2] + kw * D[2];
                    if (id < 0 || id >= I[0] || ih < 0 || ih >= I[1] || iw < 0 || iw >= I[2]) continue;
                    int64_t c = (oc / mg) * cg + ic;
                    acc += double(x.data<float>()[(((n * c_in + c) * I[0] + id) * I[1] + ih) * I[2] + iw]) *
                           w.data<float>()[(((oc * cg + ic) * K[0] + kd) * K[1] + kh) * K[2] + kw];
                  }
            y.data<float>()[(((n * m + oc) * O[0] + od) * O[1] + oh) * O[2] + ow] = static_cast<float>(acc);
          }
  return y;
}

// ConvTranspose by its definition: every input pixel scatters its kernel-weighted value.
Tensor conv_transpose_ref(const Tensor& x, const Tensor& w, const Tensor* b, int64_t group, const WindowParams& p,
                          const std::vector<int64_t>& output_padding) {
  int64_t n_batch = x.shape()[0], c_in = x.shape()[1], mg = w.shape()[1], m = mg * group, cg = c_in / group;
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  size_t r = in.size();
  std::vector<int64_t> out(r);
  for (size_t d = 0; d < r; ++d)
    out[d] = p.strides[d] * (in[d] - 1) + output_padding[d] + (p.kernel[d] - 1) * p.dilations[d] + 1 - p.pads[d] -
             p.pads[d + r];
  Shape out_shape{n_batch, m};
  out_shape.insert(out_shape.end(), out.begin(), out.end());
  std::vector<double> acc(static_cast<size_t>(numel_of(out_shape)), 0.0);
  auto I = pad3(in, 1), O = pad3(out, 1), K = pad3(p.kernel, 1), S = pad3(p.strides, 1), D = pad3(p.dilations, 1);
  auto P = pad3(std::vector<int64_t>(p.pads.begin(), p.pads.begin() + r), 0);
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t c = 0; c < c_in; ++c)
      for (int64_t id = 0; id < I[0]; ++id)
        for (int64_t ih = 0; ih < I[1]; ++ih)
          for (int64_t iw = 0; iw < I[2]; ++iw) {
            float v = x.data<float>()[(((n * c_in + c) * I[0] + id) * I[1] + ih) * I[2] + iw];
            for (int64_t oc = 0; oc < mg; ++oc)
              for (int64_t kd = 0; kd < K[0]; ++kd)
                for (int64_t kh = 0; kh < K[1]; ++kh)
                  for (int64_t kw = 0; kw < K[2]; ++kw) {
                    int64_t od = id * S[0] - P[0] + kd * D[0], oh = ih * S[1] - P[1] + kh * D[1],
                            ow = iw * S[2] - P[2] + kw * D[2];
                    if (od < 0 || od >= O[0] || oh < 0 || oh >= O[1] || ow < 0 || ow >= O[2]) continue;
                    int64_t o = (c / cg) * mg + oc;
                    acc[(((n * m + o) * O[0] + od) * O[1] + oh) * O[2] + ow] +=
                        double(v) * w.data<float>()[(((c * mg + oc) * K[0] + kd) * K[1] + kh) * K[2] + kw];
                  }
          }
  Tensor y(DType::f32, out_shape);
  int64_t plane = numel_of(out_shape) / std::max<int64_t>(n_batch * m, 1);
  for (int64_t i = 0; i < y.numel(); ++i)
    y.data<float>()[i] = static_cast<float>(acc[i] + (b ? b->data<float>()[(i / plane) % m] : 0.0));
  return y;
}

// Numpy matmul: batch dims broadcast, 1-D operands promoted and their dim removed.
Tensor matmul_ref(const Tensor& a, const Tensor& b) {
  Shape as = a.shape(), bs = b.shape();
  bool av = as.size() == 1, bv = bs.size() == 1;
  if (av) as.insert(as.begin(), 1);
  if (bv) bs.push_back(1);
  int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  size_t rank = std::max(as.size(), bs.size());
  while (as.size() < rank) as.insert(as.begin(), 1);
  while (bs.size() < rank) bs.insert(bs.begin(), 1);
  Shape batch(rank - 2);
  for (size_t d = 0; d + 2 < rank; ++d) batch[d] = std::max(as[d], bs[d]);
  Shape out_shape = batch;
  if (!av) out_shape.push_back(m);
  if (!bv) out_shape.push_back(n);
  Tensor y(DType::f32, out_shape);
  int64_t batches = numel_of(batch);
  for (int64_t bi = 0; bi < batches; ++bi) {
    int64_t ao = 0, bo = 0, rem = bi, a_stride = 1, b_stride = 1;
    for (size_t d = rank - 2; d-- > 0;) {
      int64_t idx = rem % batch[d];
      rem /= batch[d];
      ao += (as[d] == 1 ? 0 : idx) * a_stride;
      bo += (bs[d] == 1 ? 0 : idx) * b_stride;
      a_stride *= as[d];
      b_stride *= bs[d];
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t t = 0; t < k; ++t)
          acc += double(a.data<float>()[ao * m * k + i * k + t]) * b.data<float>()[bo * k * n + t * n + j];
        y.data<float>()[(bi * m + i) * n + j] = static_cast<float>(acc);
      }
  }
  return y;
}

enum class PoolRef { max, average_excluding_pad, average_including_pad };

Tensor pool_ref(const Tensor& x, const WindowParams& p, PoolRef kind) {
  std::vector<int64_t> in(x.shape().begin() + 2, x.shape().end());
  std::vector<int64_t> out = window_out(in, p);
  size_t r = in.size();
  Shape out_shape{x.shape()[0], x.shape()[1]};
  out_shape.insert(out_shape.end(), out.begin(), out.end());
  Tensor y(DType::f32, out_shape);
  auto I = pad3(in, 1), O = pad3(out, 1), K = pad3(p.kernel, 1), S = pad3(p.strides, 1), D = pad3(p.dilations, 1);
  auto P = pad3(std::vector<int64_t>(p.pads.begin(), p.pads.begin() + r), 0);
  auto E = pad3(std::vector<int64_t>(p.pads.begin() + r, p.pads.end()), 0);
  int64_t planes = x.shape()[0] * x.shape()[1];
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t od = 0; od < O[0]; ++od)
      for (int64_t oh = 0; oh < O[1]; ++oh)
        for (int64_t ow = 0; ow < O[2]; ++ow) {
          double sum = 0, best = -std::numeric_limits<double>::infinity();
          int64_t count = 0, padded_count = 0;
          for (int64_t kd = 0; kd < K[0]; ++kd)
            for (int64_t kh = 0; kh < K[1]; ++kh)
              for (int64_t kw = 0; kw < K[2]; ++kw) {
                int64_t id = od * S[0] - P[0] + kd * D[0], ih = oh * S[1] - P[1] + kh * D[1],
                        iw = ow * S[2] - P[2] + kw * D[2];
                bool in_padded = id < I[0] + E[0] && ih < I[1] + E[1] && iw < I[2] + E[2];
                padded_count += in_padded;
                if (id < 0 || id >= I[0] || ih < 0 || ih >= I[1] || iw < 0 || iw >= I[2]) continue;
                float v = x.data<float>()[((pl * I[0] + id) * I[1] + ih) * I[2] + iw];
                sum += v;
                best = std::max(best, double(v));
                ++count;
              }
          float v = kind == PoolRef::max                     ? static_cast<float>(best)
                    : kind == PoolRef::average_excluding_pad ? static_cast<float>(sum / count)
                                                             : static_cast<float>(sum / padded_count);
          y.data<float>()[((pl * O[0] + od) * O[1] + oh) * O[2] + ow] = v;
        }
  return y;
}

// Runs the op with 1 and 3 threads; the results must be byte-identical. Returns the first.
std::vector<Tensor> run_deterministic(const ir::Node& node, const std::vector<const Tensor*>& inputs,
                                      int64_t opset = 17) {
  std::vector<Tensor> one = run_op(node, inputs, opset, 1);
  std::vector<Tensor> three = run_op(node, inputs, opset, 3);
  EXPECT_EQ(one.size(), three.size());
  for (size_t i = 0; i < one.size() && i < three.size(); ++i)
    EXPECT_TRUE(one[i] == three[i]) << node.op_type << " output " << i << " differs between 1 and 3 threads";
  return one;
}

// ---- Conv ---------------------------------------------------------------------------------

struct ConvCase {
  int64_t n, c, m, group;
  std::vector<int64_t> in;
  WindowParams p;
  bool bias;
};

std::string describe(const ConvCase& c) {
  std::string s = "n" + std::to_string(c.n) + " c" + std::to_string(c.c) + " m" + std::to_string(c.m) + " g" +
                  std::to_string(c.group) + " in" + shape_string(c.in) + " k" + shape_string(c.p.kernel) + " s" +
                  shape_string(c.p.strides) + " d" + shape_string(c.p.dilations) + " p" + shape_string(c.p.pads);
  return s;
}

ConvCase random_conv_case(std::mt19937& rng, size_t rank) {
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  ConvCase c;
  c.group = std::vector<int64_t>{1, 1, 2, 3}[pick(0, 3)];
  c.c = c.group * pick(1, 4);
  c.m = c.group * pick(1, 5);
  if (pick(0, 4) == 0) {  // depthwise, sometimes with a channel multiplier
    c.group = c.c = pick(2, 6);
    c.m = c.c * pick(1, 2);
  }
  c.n = pick(1, 3);
  c.bias = pick(0, 1) == 1;
  for (size_t d = 0; d < rank; ++d) {
    int64_t k = pick(1, 4), dil = pick(1, 2), s = pick(1, 3);
    int64_t ek = (k - 1) * dil + 1;
    int64_t pb = pick(0, k - 1), pe = pick(0, k - 1);
    c.in.push_back(std::max<int64_t>(ek - pb - pe, 0) + pick(0, rank == 3 ? 5 : 12));
    c.p.kernel.push_back(k);
    c.p.dilations.push_back(dil);
    c.p.strides.push_back(s);
    c.p.pads.push_back(pb);
    c.p.pads.push_back(pe);
  }
  // pads are stored begins then ends.
  std::vector<int64_t> pads(2 * rank);
  for (size_t d = 0; d < rank; ++d) pads[d] = c.p.pads[2 * d], pads[d + rank] = c.p.pads[2 * d + 1];
  c.p.pads = pads;
  return c;
}

TEST(NnConv, MatchesReferenceOnRandomShapes) {
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 90; ++trial) {
    size_t rank = 1 + trial % 3;
    ConvCase c = random_conv_case(rng, rank);
    Shape xs{c.n, c.c};
    xs.insert(xs.end(), c.in.begin(), c.in.end());
    Shape ws{c.m, c.c / c.group};
    ws.insert(ws.end(), c.p.kernel.begin(), c.p.kernel.end());
    Tensor x = random_floats(xs, rng), w = random_floats(ws, rng), b = random_floats({c.m}, rng);
    auto attrs = window_attrs(c.p, trial % 2 == 0);
    attrs.push_back(attr_int("group", c.group));
    ir::Node node = node_with("Conv", c.bias ? 3 : 2, 1, attrs);
    std::vector<const Tensor*> inputs = {&x, &w};
    if (c.bias) inputs.push_back(&b);
    auto y = run_deterministic(node, inputs);
    expect_near_ref(y[0], conv_ref(x, w, c.bias ? &b : nullptr, c.group, c.p), describe(c));
  }
}

struct ConvShapeCase {
  Shape x, w;
  WindowParams p;
  int64_t group;
};

// Conv with bias on random values of each shape against conv_ref.
void expect_conv_cases_match_reference(const std::vector<ConvShapeCase>& cases, std::mt19937& rng) {
  for (const ConvShapeCase& c : cases) {
    Tensor x = random_floats(c.x, rng), w = random_floats(c.w, rng), b = random_floats({c.w[0]}, rng);
    auto attrs = window_attrs(c.p, true);
    attrs.push_back(attr_int("group", c.group));
    auto y = run_deterministic(node_with("Conv", 3, 1, attrs), {&x, &w, &b});
    expect_near_ref(y[0], conv_ref(x, w, &b, c.group, c.p), shape_string(c.x) + " * " + shape_string(c.w));
  }
}

TEST(NnConv, LargeShapesSplitIntoBlocksMatchReference) {
  // Batch 1 with many pixels splits each image into pixel blocks; 1x1 convs skip im2col.
  std::mt19937 rng(7);
  expect_conv_cases_match_reference(
      {
          {{1, 8, 70, 90}, {16, 8, 3, 3}, {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}}, 1},
          {{1, 16, 40, 40}, {24, 16, 1, 1}, {{1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}}, 1},
          {{2, 12, 33, 31}, {12, 4, 3, 3}, {{3, 3}, {2, 2}, {1, 2}, {1, 0, 2, 1}}, 3},
          {{1, 64, 20, 20}, {64, 64, 3, 3}, {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}}, 1},
      },
      rng);
}

TEST(NnConv, StrideOneShiftedWindowsMatchReference) {
  // Stride 1 with 8+ images x groups reads shifted windows of a padded input (no im2col):
  // asymmetric and oversized pads, dilation, groups, 1-D, a kernel as wide as the padded input.
  std::mt19937 rng(9);
  expect_conv_cases_match_reference(
      {
          {{8, 3, 9, 11}, {5, 3, 3, 3}, {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}}, 1},
          {{4, 4, 7, 6}, {6, 2, 3, 2}, {{3, 2}, {1, 1}, {2, 1}, {2, 0, 1, 3}}, 2},
          {{9, 2, 5}, {17, 2, 4}, {{4}, {1}, {2}, {3, 2}}, 1},
          {{8, 1, 4, 4}, {9, 1, 3, 6}, {{3, 6}, {1, 1}, {1, 1}, {0, 1, 1, 1}}, 1},
      },
      rng);
}

TEST(NnConv, AutoPadMatchesExplicitPads) {
  std::mt19937 rng(3);
  Tensor x = random_floats({1, 2, 7, 8}, rng);
  Tensor w = random_floats({3, 2, 3, 2}, rng);
  auto run = [&](std::vector<ir::Attribute> attrs) { return run_op(node_with("Conv", 2, 1, attrs), {&x, &w})[0]; };
  // Stride 2: out = ceil(7/2)=4, ceil(8/2)=4; total pad = 3*2+3-7 = 2 (h), 3*2+2-8 = 0 (w).
  Tensor upper = run({attr_string("auto_pad", "SAME_UPPER"), attr_ints("strides", {2, 2})});
  Tensor explicit_upper = run({attr_ints("pads", {1, 0, 1, 0}), attr_ints("strides", {2, 2})});
  EXPECT_EQ(upper.shape(), (Shape{1, 3, 4, 4}));
  EXPECT_TRUE(upper == explicit_upper);
  // Stride 1, kernel 2 along w: one pixel of padding, at the end (UPPER) or the start (LOWER).
  Tensor lower = run({attr_string("auto_pad", "SAME_LOWER")});
  Tensor explicit_lower = run({attr_ints("pads", {1, 1, 1, 0})});
  EXPECT_EQ(lower.shape(), (Shape{1, 3, 7, 8}));
  EXPECT_TRUE(lower == explicit_lower);
  Tensor valid = run({attr_string("auto_pad", "VALID"), attr_ints("pads", {1, 1, 1, 1})});
  EXPECT_EQ(valid.shape(), (Shape{1, 3, 5, 7}));
}

TEST(NnConv, RejectsMismatchedShapes) {
  Tensor x(DType::f32, {1, 4, 5, 5});
  Tensor w(DType::f32, {6, 3, 3, 3});
  EXPECT_THROW(run_op(make_node("Conv", 2, 1), {&x, &w}), Error);
  ir::Node grouped = node_with("Conv", 2, 1, {attr_int("group", 3)});
  EXPECT_THROW(run_op(grouped, {&x, &w}), Error);
  Tensor big_kernel(DType::f32, {6, 4, 7, 7});
  EXPECT_THROW(run_op(make_node("Conv", 2, 1), {&x, &big_kernel}), Error);
  ir::Node wrong_kernel = node_with("Conv", 2, 1, {attr_ints("kernel_shape", {2, 2})});
  Tensor w4(DType::f32, {6, 4, 3, 3});
  EXPECT_THROW(run_op(wrong_kernel, {&x, &w4}), Error);
}

// ---- ConvTranspose ------------------------------------------------------------------------

TEST(NnConvTranspose, MatchesReferenceOnRandomShapes) {
  std::mt19937 rng(99);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  for (int trial = 0; trial < 45; ++trial) {
    size_t rank = 1 + trial % 3;
    int64_t group = pick(1, 2), n = pick(1, 2);
    int64_t c = group * pick(1, 3), mg = pick(1, 3);
    WindowParams p;
    std::vector<int64_t> in, output_padding;
    for (size_t d = 0; d < rank; ++d) {
      p.kernel.push_back(pick(1, 3));
      p.strides.push_back(pick(1, 3));
      p.dilations.push_back(pick(1, 2));
      in.push_back(pick(1, rank == 3 ? 4 : 7));
      output_padding.push_back(pick(0, std::min(p.strides[d], p.dilations[d]) - 1));
    }
    for (size_t d = 0; d < 2 * rank; ++d) p.pads.push_back(pick(0, p.kernel[d % rank] - 1));
    for (size_t d = 0; d < rank; ++d) {
      // Keep at least one output pixel: pads may trim all but one.
      int64_t full = p.strides[d] * (in[d] - 1) + output_padding[d] + (p.kernel[d] - 1) * p.dilations[d] + 1;
      while (p.pads[d] + p.pads[d + rank] >= full) (p.pads[d] > 0 ? p.pads[d] : p.pads[d + rank])--;
    }
    Shape xs{n, c};
    xs.insert(xs.end(), in.begin(), in.end());
    Shape ws{c, mg};
    ws.insert(ws.end(), p.kernel.begin(), p.kernel.end());
    Tensor x = random_floats(xs, rng), w = random_floats(ws, rng), b = random_floats({mg * group}, rng);
    auto attrs = window_attrs(p, trial % 2 == 1);
    attrs.push_back(attr_int("group", group));
    attrs.push_back(attr_ints("output_padding", output_padding));
    auto y = run_deterministic(node_with("ConvTranspose", 3, 1, attrs), {&x, &w, &b});
    expect_near_ref(y[0], conv_transpose_ref(x, w, &b, group, p, output_padding),
                    "trial " + std::to_string(trial) + " x" + shape_string(xs) + " w" + shape_string(ws));
  }
}

TEST(NnConvTranspose, OutputShapeDerivesPads) {
  std::mt19937 rng(5);
  Tensor x = random_floats({1, 1, 3, 3}, rng);
  Tensor w = random_floats({1, 2, 3, 3}, rng);
  // The full output would be 2*(3-1)+3 = 7; output_shape 6 trims one pixel, at the start
  // (SAME_LOWER's side); SAME_UPPER (output 3*2 = 6) trims it at the end.
  ir::Node shaped = node_with("ConvTranspose", 2, 1, {attr_ints("strides", {2, 2}), attr_ints("output_shape", {6, 6})});
  Tensor y = run_op(shaped, {&x, &w})[0];
  EXPECT_EQ(y.shape(), (Shape{1, 2, 6, 6}));
  WindowParams trim_start{{3, 3}, {2, 2}, {1, 1}, {1, 1, 0, 0}};
  expect_near_ref(y, conv_transpose_ref(x, w, nullptr, 1, trim_start, {0, 0}), "output_shape");
  ir::Node same = node_with("ConvTranspose", 2, 1, {attr_ints("strides", {2, 2}), attr_string("auto_pad", "SAME_UPPER")});
  Tensor upper = run_op(same, {&x, &w})[0];
  WindowParams trim_end{{3, 3}, {2, 2}, {1, 1}, {0, 0, 1, 1}};
  expect_near_ref(upper, conv_transpose_ref(x, w, nullptr, 1, trim_end, {0, 0}), "SAME_UPPER");
}

// ---- MatMul / Gemm ------------------------------------------------------------------------

TEST(NnMatMul, MatchesReferenceWithBroadcastAndVectors) {
  std::mt19937 rng(11);
  std::vector<std::pair<Shape, Shape>> cases = {
      {{3, 4}, {4, 5}},           {{2, 3, 4}, {4, 5}},         {{4}, {4, 5}},
      {{3, 4}, {4}},              {{4}, {4}},                  {{2, 1, 3, 4}, {1, 5, 4, 2}},
      {{5, 3, 4}, {5, 4, 6}},     {{3, 4}, {7, 4, 2}},         {{2, 3, 0}, {0, 4}},
      {{1, 4}, {2, 3, 4, 5}},     {{4}, {2, 4, 3}},            {{2, 2, 3, 4}, {4}},
      {{300, 70}, {70, 90}},      {{50, 100, 128}, {128, 96}}, {{17, 50, 32}, {17, 32, 50}},
      {{64, 2000}, {2000, 48}},
  };
  for (const auto& [as, bs] : cases) {
    Tensor a = random_floats(as, rng), b = random_floats(bs, rng);
    auto y = run_deterministic(make_node("MatMul", 2, 1), {&a, &b});
    expect_near_ref(y[0], matmul_ref(a, b), shape_string(as) + " x " + shape_string(bs), as.back());
  }
  Tensor a = random_floats({2, 3}, rng), bad = random_floats({4, 2}, rng);
  EXPECT_THROW(run_op(make_node("MatMul", 2, 1), {&a, &bad}), Error);
  Tensor a3 = random_floats({2, 3, 4}, rng), b3 = random_floats({3, 4, 2}, rng);
  EXPECT_THROW(run_op(make_node("MatMul", 2, 1), {&a3, &b3}), Error);
}

// The GEMM under Conv and MatMul against its scalar twin: row counts around the 8-row tile and the
// 96-row block, column counts around the 16-wide vector and the 48-wide tile, k from 0, padded
// leading dimensions, every epilogue. Both sum the same FMAs in the same order: identical bits.
TEST(NnSgemm, MatchesScalarTwinOnAwkwardShapes) {
  std::mt19937 rng(21);
  std::vector<int64_t> rows = {1, 3, 7, 8, 9, 17, 64, 97, 200};
  std::vector<int64_t> cols = {1, 5, 15, 16, 17, 33, 47, 48, 49, 95, 130};
  std::vector<int64_t> depths = {0, 1, 2, 9, 31, 288};
  int trial = 0;
  for (int64_t m : rows) {
    for (int64_t n : cols) {
      int64_t k = depths[trial % depths.size()];
      int64_t lda = k + trial % 3, ldb = n + trial % 5, ldc = n + trial % 2;
      Tensor a = random_floats({m, std::max<int64_t>(lda, 1)}, rng);
      Tensor b = random_floats({std::max<int64_t>(k, 1), ldb}, rng);
      Tensor row_bias = random_floats({m}, rng), col_bias = random_floats({n}, rng);
      Tensor c = random_floats({m, ldc}, rng);
      exec::SgemmEpilogue ep;
      ep.row_bias = trial % 2 ? row_bias.data<float>() : nullptr;
      ep.col_bias = trial % 3 == 0 ? col_bias.data<float>() : nullptr;
      ep.accumulate = trial % 4 == 1;
      ep.relu = trial % 5 < 2;
      Tensor fast = c, ref = c;
      exec::sgemm(m, n, k, a.data<float>(), lda, b.data<float>(), ldb, fast.data<float>(), ldc, ep);
      exec::sgemm_ref(m, n, k, a.data<float>(), lda, b.data<float>(), ldb, ref.data<float>(), ldc, ep);
      std::string what = std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
      if (exec::sgemm_is_native()) EXPECT_TRUE(fast == ref) << what;
      else expect_near_ref(fast, ref, what, k);
      ++trial;
    }
  }
}

TEST(NnSgemm, RowPointersMatchTheDenseProduct) {
  // sgemm_rows with B's rows scattered (reversed, overlapping) equals sgemm_ref on B gathered.
  std::mt19937 rng(22);
  for (auto [m, n, k] : std::vector<std::array<int64_t, 3>>{{5, 37, 12}, {16, 100, 27}, {9, 48, 1}}) {
    Tensor a = random_floats({m, k}, rng), pool = random_floats({k + n}, rng), bias = random_floats({m}, rng);
    std::vector<const float*> rows(static_cast<size_t>(k));
    Tensor dense(DType::f32, {k, n});
    for (int64_t t = 0; t < k; ++t) {
      rows[t] = pool.data<float>() + (k - 1 - t);
      std::copy_n(rows[t], n, dense.data<float>() + t * n);
    }
    exec::SgemmEpilogue ep{bias.data<float>(), nullptr, false, true};
    Tensor fast(DType::f32, {m, n}), ref(DType::f32, {m, n});
    exec::sgemm_rows(m, n, k, a.data<float>(), k, rows.data(), fast.data<float>(), n, ep);
    exec::sgemm_ref(m, n, k, a.data<float>(), k, dense.data<float>(), n, ref.data<float>(), n, ep);
    std::string what = std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
    if (exec::sgemm_is_native()) EXPECT_TRUE(fast == ref) << what;
    else expect_near_ref(fast, ref, what, k);
  }
}

TEST(NnMatMul, IntegerOperands) {
  Tensor a = int64s({2, 2}, {1, 2, 3, 4});
  Tensor b = int64s({2, 2}, {5, 6, 7, 8});
  EXPECT_EQ(values_i64(run_op(make_node("MatMul", 2, 1), {&a, &b})[0]), (std::vector<int64_t>{19, 22, 43, 50}));
}

Tensor transpose2(const Tensor& t) {
  Tensor r(DType::f32, {t.shape()[1], t.shape()[0]});
  for (int64_t i = 0; i < t.shape()[0]; ++i)
    for (int64_t j = 0; j < t.shape()[1]; ++j) r.data<float>()[j * t.shape()[0] + i] = t.data<float>()[i * t.shape()[1] + j];
  return r;
}

TEST(NnGemm, AllAttributesAndBiasShapes) {
  std::mt19937 rng(21);
  const int64_t m = 37, k = 300, n = 129;
  Tensor a = random_floats({m, k}, rng), b = random_floats({k, n}, rng);
  Tensor at = transpose2(a), bt = transpose2(b);
  Tensor product = matmul_ref(a, b);
  std::vector<Shape> c_shapes = {{m, n}, {n}, {1, n}, {m, 1}, {1}, {}};
  for (int variant = 0; variant < 4; ++variant) {
    bool ta = variant & 1, tb = variant & 2;
    for (const Shape& cs : c_shapes) {
      Tensor c = random_floats(cs, rng);
      ir::Node node = node_with("Gemm", 3, 1,
                                {attr_int("transA", ta), attr_int("transB", tb), attr_float("alpha", 0.5f),
                                 attr_float("beta", -2.f)});
      auto y = run_deterministic(node, {ta ? &at : &a, tb ? &bt : &b, &c});
      Tensor expected(DType::f32, {m, n});
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          int64_t ci = cs.size() == 2 ? (cs[0] == 1 ? 0 : i) * cs[1] + (cs[1] == 1 ? 0 : j)
                                      : (cs.empty() || cs[0] == 1 ? 0 : j);
          expected.data<float>()[i * n + j] = 0.5f * product.data<float>()[i * n + j] - 2.f * c.data<float>()[ci];
        }
      expect_near_ref(y[0], expected, "variant " + std::to_string(variant) + " C" + shape_string(cs), k);
    }
  }
  // C omitted: alpha * A * B.
  auto y = run_op(node_with("Gemm", 2, 1, {attr_float("alpha", 2.f)}), {&a, &b})[0];
  for (int64_t i = 0; i < product.numel(); ++i) product.data<float>()[i] *= 2.f;
  expect_near_ref(y, product, "no C", k);
  Tensor bad_c = random_floats({2, n}, rng);
  EXPECT_THROW(run_op(make_node("Gemm", 3, 1), {&a, &b, &bad_c}), Error);
}

TEST(NnEinsum, ContractionsDiagonalsAndEllipsis) {
  std::mt19937 rng(41);
  auto einsum = [](const std::string& eq, std::vector<const Tensor*> in) {
    return run_deterministic(node_with("Einsum", in.size(), 1, {attr_string("equation", eq)}), in, 12)[0];
  };
  Tensor a = random_floats({2, 3, 4}, rng), b = random_floats({2, 4, 5}, rng);
  expect_near_ref(einsum("bij,bjk->bik", {&a, &b}), matmul_ref(a, b), "batch matmul", 4);
  // Implicit output: labels seen once, sorted (i, k); the ellipsis broadcasts.
  Tensor m = random_floats({3, 4}, rng), n = random_floats({4, 5}, rng);
  expect_near_ref(einsum("ij,jk", {&m, &n}), matmul_ref(m, n), "implicit", 4);
  expect_near_ref(einsum("...ij,...jk->...ik", {&a, &b}), matmul_ref(a, b), "ellipsis", 4);
  Tensor sq = floats({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(values_f32(einsum("ii->i", {&sq})), (std::vector<float>{1, 4}));
  EXPECT_EQ(values_f32(einsum("ii", {&sq})), (std::vector<float>{5}));
  EXPECT_EQ(values_f32(einsum("ij->ji", {&sq})), (std::vector<float>{1, 3, 2, 4}));
  EXPECT_EQ(values_f32(einsum("ij->", {&sq})), (std::vector<float>{10}));
  Tensor v = floats({2}, {1, 2});
  EXPECT_EQ(values_f32(einsum("i,i", {&v, &v})), (std::vector<float>{5}));
  EXPECT_EQ(values_f32(einsum("i,j->ij", {&v, &v})), (std::vector<float>{1, 2, 2, 4}));
  EXPECT_THROW(einsum("ij,jk->ik", {&m, &m}), Error);
}

// ---- pools --------------------------------------------------------------------------------

TEST(NnPool, MaxAndAverageMatchReferenceOnRandomShapes) {
  std::mt19937 rng(31);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  for (int trial = 0; trial < 90; ++trial) {
    size_t rank = 1 + trial % 3;
    WindowParams p;
    Shape xs{pick(1, 2), pick(1, 3)};
    for (size_t d = 0; d < rank; ++d) {
      p.kernel.push_back(pick(1, 3));
      p.strides.push_back(pick(1, 3));
      p.dilations.push_back(trial % 5 == 0 ? 1 : pick(1, 2));
      xs.push_back((p.kernel[d] - 1) * p.dilations[d] + 1 + pick(0, rank == 3 ? 4 : 9));
    }
    for (size_t d = 0; d < 2 * rank; ++d) p.pads.push_back(pick(0, p.kernel[d % rank] - 1));
    p.ceil_mode = trial % 4 == 1;
    Tensor x = random_floats(xs, rng);
    std::string what = "trial " + std::to_string(trial) + " x" + shape_string(xs);
    auto y = run_deterministic(node_with("MaxPool", 1, 1, window_attrs(p, true)), {&x});
    expect_near_ref(y[0], pool_ref(x, p, PoolRef::max), "max " + what);
    auto avg = run_deterministic(node_with("AveragePool", 1, 1, window_attrs(p, true)), {&x}, 19);
    expect_near_ref(avg[0], pool_ref(x, p, PoolRef::average_excluding_pad), "avg " + what);
    auto attrs = window_attrs(p, true);
    attrs.push_back(attr_int("count_include_pad", 1));
    auto avg_incl = run_deterministic(node_with("AveragePool", 1, 1, attrs), {&x}, 19);
    expect_near_ref(avg_incl[0], pool_ref(x, p, PoolRef::average_including_pad), "avg incl " + what);
  }
}

TEST(NnPool, Plain2x2MaxPoolMatchesReference) {
  // 2x2 windows at stride 2 without pads take a straight-line path: odd extents (the last row
  // and column dropped), ceil_mode on even extents, and the same values whether or not Indices
  // (which takes the general path) is asked for.
  std::mt19937 rng(32);
  for (Shape xs : {Shape{2, 3, 7, 9}, Shape{1, 5, 8, 6}, Shape{3, 1, 2, 2}, Shape{1, 2, 5, 33}}) {
    WindowParams p{{2, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}};
    p.ceil_mode = xs[2] % 2 == 0 && xs[3] % 2 == 0;
    Tensor x = random_floats(xs, rng);
    auto y = run_deterministic(node_with("MaxPool", 1, 1, window_attrs(p, true)), {&x});
    expect_near_ref(y[0], pool_ref(x, p, PoolRef::max), "max " + shape_string(xs));
    auto with_indices = run_op(node_with("MaxPool", 1, 2, window_attrs(p, true)), {&x});
    EXPECT_TRUE(y[0] == with_indices[0]) << shape_string(xs);
  }
}

TEST(NnPool, MaxPoolIndicesInBothStorageOrders) {
  // 1x1x2x3 input; a 2x2 window with stride 1 → 1x2 output.
  Tensor x = floats({1, 1, 2, 3}, {1, 9, 2, 8, 3, 7});
  ir::Node row = node_with("MaxPool", 1, 2, {attr_ints("kernel_shape", {2, 2})});
  auto r = run_op(row, {&x});
  EXPECT_EQ(values_f32(r[0]), (std::vector<float>{9, 9}));
  EXPECT_EQ(values_i64(r[1]), (std::vector<int64_t>{1, 1}));
  ir::Node col = node_with("MaxPool", 1, 2, {attr_ints("kernel_shape", {2, 2}), attr_int("storage_order", 1)});
  // Column-major: (h=0, w=1) → 1*2 + 0 = 2.
  EXPECT_EQ(values_i64(run_op(col, {&x})[1]), (std::vector<int64_t>{2, 2}));
  // The channel offset is included.
  Tensor x2 = floats({1, 2, 1, 2}, {1, 2, 4, 3});
  ir::Node k12 = node_with("MaxPool", 1, 2, {attr_ints("kernel_shape", {1, 2})});
  EXPECT_EQ(values_i64(run_op(k12, {&x2})[1]), (std::vector<int64_t>{1, 2}));
}

TEST(NnPool, SamePaddingAndCeilMode) {
  Tensor x(DType::f32, {1, 1, 5, 5});
  for (int i = 0; i < 25; ++i) x.data<float>()[i] = static_cast<float>(i + 1);
  ir::Node upper =
      node_with("AveragePool", 1, 1, {attr_ints("kernel_shape", {2, 2}), attr_string("auto_pad", "SAME_UPPER")});
  Tensor yu = run_op(upper, {&x})[0];
  EXPECT_EQ(yu.shape(), (Shape{1, 1, 5, 5}));
  EXPECT_FLOAT_EQ(yu.data<float>()[0], (1 + 2 + 6 + 7) / 4.f);
  EXPECT_FLOAT_EQ(yu.data<float>()[24], 25.f);  // the padded column and row do not count
  ir::Node lower =
      node_with("AveragePool", 1, 1, {attr_ints("kernel_shape", {2, 2}), attr_string("auto_pad", "SAME_LOWER")});
  Tensor yl = run_op(lower, {&x})[0];
  EXPECT_FLOAT_EQ(yl.data<float>()[0], 1.f);
  ir::Node ceil = node_with("MaxPool", 1, 1,
                            {attr_ints("kernel_shape", {3, 3}), attr_ints("strides", {2, 2}), attr_int("ceil_mode", 1)});
  Tensor yc = run_op(ceil, {&x})[0];
  EXPECT_EQ(yc.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(values_f32(yc), (std::vector<float>{13, 15, 23, 25}));
  ir::Node ceil4 = node_with("MaxPool", 1, 1,
                             {attr_ints("kernel_shape", {2, 2}), attr_ints("strides", {2, 2}), attr_int("ceil_mode", 1)});
  EXPECT_EQ(run_op(ceil4, {&x})[0].shape(), (Shape{1, 1, 3, 3}));
}

TEST(NnPool, GlobalPoolsAndLpPool) {
  Tensor x = floats({1, 2, 2, 2}, {1, 2, 3, 4, -1, -5, 2, 0});
  Tensor avg = run_op(make_node("GlobalAveragePool", 1, 1), {&x})[0];
  EXPECT_EQ(avg.shape(), (Shape{1, 2, 1, 1}));
  EXPECT_EQ(values_f32(avg), (std::vector<float>{2.5f, -1.f}));
  EXPECT_EQ(values_f32(run_op(make_node("GlobalMaxPool", 1, 1), {&x})[0]), (std::vector<float>{4, 2}));
  auto lp = values_f32(run_op(make_node("GlobalLpPool", 1, 1), {&x})[0]);
  EXPECT_NEAR(lp[0], std::sqrt(30.f), 1e-5);
  ir::Node lp_pool = node_with("LpPool", 1, 1, {attr_ints("kernel_shape", {1, 2}), attr_int("p", 1)});
  EXPECT_EQ(values_f32(run_op(lp_pool, {&x})[0]), (std::vector<float>{3, 7, 6, 2}));
}

TEST(NnPool, MaxPoolUint8) {
  Tensor x(DType::u8, {1, 1, 1, 4});
  uint8_t v[] = {3, 250, 7, 1};
  std::memcpy(x.data<uint8_t>(), v, 4);
  Tensor y = run_op(node_with("MaxPool", 1, 1, {attr_ints("kernel_shape", {1, 2}), attr_ints("strides", {1, 2})}), {&x})[0];
  EXPECT_EQ(y.dtype(), DType::u8);
  EXPECT_EQ(y.data<uint8_t>()[0], 250);
  EXPECT_EQ(y.data<uint8_t>()[1], 7);
}

// ---- normalisations -----------------------------------------------------------------------

TEST(NnNorm, BatchNormalizationInference) {
  Tensor x = floats({1, 2, 1, 2}, {1, 2, 3, 4});
  Tensor scale = floats({2}, {1, 2}), bias = floats({2}, {0, 1}), mean = floats({2}, {1, 3}), var = floats({2}, {4, 1});
  ir::Node bn = node_with("BatchNormalization", 5, 1, {attr_float("epsilon", 0.f)});
  EXPECT_EQ(values_f32(run_op(bn, {&x, &scale, &bias, &mean, &var})[0]), (std::vector<float>{0, 0.5f, 1, 3}));
  ir::Node training = node_with("BatchNormalization", 5, 1, {attr_int("training_mode", 1)});
  EXPECT_THROW(run_op(training, {&x, &scale, &bias, &mean, &var}), Error);
}

TEST(NnNorm, InstanceAndGroupNormalization) {
  Tensor x = floats({1, 2, 2}, {1, 3, 10, 20});
  Tensor scale = floats({2}, {1, 2}), bias = floats({2}, {0, 1});
  auto y = values_f32(run_op(node_with("InstanceNormalization", 3, 1, {attr_float("epsilon", 0.f)}),
                             {&x, &scale, &bias})[0]);
  std::vector<float> expected = {-1, 1, -1, 3};
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(y[i], expected[i], 1e-6) << i;
  // Two groups of one channel each: the same as instance normalisation.
  ir::Node gn = node_with("GroupNormalization", 3, 1, {attr_int("num_groups", 2), attr_float("epsilon", 0.f)});
  EXPECT_EQ(values_f32(run_op(gn, {&x, &scale, &bias}, 21)[0]), y);
}

TEST(NnNorm, LayerNormalizationWithStatistics) {
  Tensor x = floats({2, 2, 2}, {1, 2, 3, 4, 0, 0, 0, 8});
  Tensor scale = floats({2, 2}, {1, 1, 1, 2}), bias = floats({2, 2}, {0, 0, 0, 1});
  ir::Node ln = node_with("LayerNormalization", 3, 3, {attr_int("axis", 1), attr_float("epsilon", 0.f)});
  auto out = run_op(ln, {&x, &scale, &bias});
  auto y = values_f32(out[0]);
  float s = 1 / std::sqrt(1.25f);
  std::vector<float> expected = {-1.5f * s, -0.5f * s, 0.5f * s, 1.5f * s * 2 + 1, -1 / std::sqrt(3.f),
                                 -1 / std::sqrt(3.f), -1 / std::sqrt(3.f), std::sqrt(3.f) * 2 + 1};
  for (size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], expected[i], 1e-5) << i;
  EXPECT_EQ(out[1].shape(), (Shape{2, 1, 1}));
  EXPECT_EQ(values_f32(out[1]), (std::vector<float>{2.5f, 2.f}));
  EXPECT_NEAR(values_f32(out[2])[0], s, 1e-6);
  // Scale broadcast from the last axis only.
  Tensor scale1 = floats({2}, {2, 2});
  auto y2 = values_f32(run_op(node_with("LayerNormalization", 2, 1, {attr_int("axis", 1)}), {&x, &scale1})[0]);
  EXPECT_NEAR(y2[0], -3 * s, 1e-4);
}

// ---- softmax ------------------------------------------------------------------------------

TEST(NnSoftmax, AxisSemanticsChangeAtOpset13) {
  Tensor x = floats({2, 2}, {0, 1, 2, 3});
  // Opset 13: along the last axis.
  auto y13 = values_f32(run_op(make_node("Softmax", 1, 1), {&x}, 13)[0]);
  float e = 1 / (1 + std::exp(1.f));
  EXPECT_NEAR(y13[0], e, 1e-7);
  EXPECT_NEAR(y13[3], 1 - e, 1e-7);
  // Opset 11, axis 0: the whole tensor is one row.
  auto y11 = values_f32(run_op(node_with("Softmax", 1, 1, {attr_int("axis", 0)}), {&x}, 11)[0]);
  float total = 1 + std::exp(1.f) + std::exp(2.f) + std::exp(3.f);
  EXPECT_NEAR(y11[3], std::exp(3.f) / total, 1e-7);
  // Opset 13, axis 0: along the columns.
  auto y13a0 = values_f32(run_op(node_with("Softmax", 1, 1, {attr_int("axis", 0)}), {&x}, 13)[0]);
  EXPECT_NEAR(y13a0[0], 1 / (1 + std::exp(2.f)), 1e-7);
  auto ls = values_f32(run_op(make_node("LogSoftmax", 1, 1), {&x}, 13)[0]);
  EXPECT_NEAR(ls[0], std::log(e), 1e-6);
  auto hm = values_f32(run_op(make_node("Hardmax", 1, 1), {&x}, 13)[0]);
  EXPECT_EQ(hm, (std::vector<float>{0, 1, 0, 1}));
}

TEST(NnSoftmax, ExpMatchesLibmOverTheRange) {
  // The softmax uses Eigen's vectorised exp; compare a long row against double precision.
  Tensor x(DType::f32, {1, 2000});
  for (int i = 0; i < 2000; ++i) x.data<float>()[i] = -90.f + 0.045f * i;
  auto y = values_f32(run_deterministic(make_node("Softmax", 1, 1), {&x}, 13)[0]);
  // x - max is rounded to float first, as in any float softmax.
  auto shifted = [&](int i) { return double(x.data<float>()[i] - x.data<float>()[1999]); };
  double sum = 0;
  for (int i = 0; i < 2000; ++i) sum += std::exp(shifted(i));
  for (int i = 0; i < 2000; ++i) {
    double expected = std::exp(shifted(i)) / sum;
    EXPECT_NEAR(y[i], expected, 1e-6 * expected + 1e-30) << i;
  }
}

// ---- reductions ---------------------------------------------------------------------------

TEST(NnReduce, AxesAttributeBeforeAndInputAfter) {
  Tensor x = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  ir::Node attr_node = node_with("ReduceSum", 1, 1, {attr_ints("axes", {1}), attr_int("keepdims", 0)});
  Tensor y = run_op(attr_node, {&x}, 11)[0];
  EXPECT_EQ(y.shape(), (Shape{2}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{6, 15}));
  Tensor axes = int64s({1}, {0});
  Tensor y13 = run_op(make_node("ReduceSum", 2, 1), {&x, &axes}, 13)[0];
  EXPECT_EQ(y13.shape(), (Shape{1, 3}));
  EXPECT_EQ(values_f32(y13), (std::vector<float>{5, 7, 9}));
  // ReduceMean reads axes from the attribute until opset 18.
  ir::Node mean = node_with("ReduceMean", 1, 1, {attr_ints("axes", {-1})});
  EXPECT_EQ(values_f32(run_op(mean, {&x}, 17)[0]), (std::vector<float>{2, 5}));
  EXPECT_EQ(values_f32(run_op(make_node("ReduceMean", 2, 1), {&x, &axes}, 18)[0]), (std::vector<float>{2.5f, 3.5f, 4.5f}));
  // No axes: everything, or nothing with noop_with_empty_axes.
  EXPECT_EQ(values_f32(run_op(make_node("ReduceMax", 1, 1), {&x}, 18)[0]), (std::vector<float>{6}));
  ir::Node noop = node_with("ReduceSum", 2, 1, {attr_int("noop_with_empty_axes", 1)});
  Tensor empty_axes = int64s({0}, {});
  EXPECT_TRUE(run_op(noop, {&x, &empty_axes}, 13)[0] == x);
  // A no-op reduction still applies the element-wise part.
  ir::Node noop_sq = node_with("ReduceSumSquare", 1, 1, {attr_int("noop_with_empty_axes", 1)});
  EXPECT_EQ(values_f32(run_op(noop_sq, {&x}, 18)[0]), (std::vector<float>{1, 4, 9, 16, 25, 36}));
  // Empty reductions: sum 0, mean 0 (as ORT), max -inf.
  Tensor empty(DType::f32, {2, 0});
  Tensor axis1 = int64s({1}, {1});
  EXPECT_EQ(values_f32(run_op(make_node("ReduceSum", 2, 1), {&empty, &axis1}, 13)[0]), (std::vector<float>{0, 0}));
  EXPECT_EQ(values_f32(run_op(make_node("ReduceMean", 2, 1), {&empty, &axis1}, 18)[0]), (std::vector<float>{0, 0}));
  EXPECT_EQ(values_f32(run_op(make_node("ReduceMax", 2, 1), {&empty, &axis1}, 18)[0])[0],
            -std::numeric_limits<float>::infinity());
  Tensor twice = int64s({2}, {1, -1});
  EXPECT_THROW(run_op(make_node("ReduceSum", 2, 1), {&x, &twice}, 13), Error);
}

TEST(NnReduce, AllKindsOnInterleavedAxes) {
  // [2, 3, 2] reduced over axes 0 and 2: the kept axis sits between reduced ones.
  std::vector<float> v = {1, -2, 3, 4, -5, 6, 7, 8, 9, -10, 11, 12};
  Tensor x = floats({2, 3, 2}, v);
  auto reduce = [&](const std::string& op) {
    ir::Node n = node_with(op, 1, 1, {attr_ints("axes", {0, 2}), attr_int("keepdims", 0)});
    return values_f32(run_deterministic(n, {&x}, 11)[0]);
  };
  // Groups per kept index j: {x[0,j,0], x[0,j,1], x[1,j,0], x[1,j,1]}.
  std::vector<std::vector<float>> groups = {{1, -2, 7, 8}, {3, 4, 9, -10}, {-5, 6, 11, 12}};
  auto expect_each = [&](const std::string& op, auto f) {
    auto y = reduce(op);
    ASSERT_EQ(y.size(), 3u) << op;
    for (size_t j = 0; j < 3; ++j) EXPECT_NEAR(y[j], f(groups[j]), 1e-4 * std::abs(f(groups[j]))) << op << " " << j;
  };
  expect_each("ReduceSum", [](auto g) { return g[0] + g[1] + g[2] + g[3]; });
  expect_each("ReduceMean", [](auto g) { return (g[0] + g[1] + g[2] + g[3]) / 4; });
  expect_each("ReduceProd", [](auto g) { return g[0] * g[1] * g[2] * g[3]; });
  expect_each("ReduceMax", [](auto g) { return std::max({g[0], g[1], g[2], g[3]}); });
  expect_each("ReduceMin", [](auto g) { return std::min({g[0], g[1], g[2], g[3]}); });
  expect_each("ReduceL1", [](auto g) { return std::abs(g[0]) + std::abs(g[1]) + std::abs(g[2]) + std::abs(g[3]); });
  auto sq = [](auto g) { return g[0] * g[0] + g[1] * g[1] + g[2] * g[2] + g[3] * g[3]; };
  expect_each("ReduceSumSquare", sq);
  expect_each("ReduceL2", [&](auto g) { return std::sqrt(sq(g)); });
  expect_each("ReduceLogSumExp", [](auto g) {
    return std::log(std::exp(g[0]) + std::exp(g[1]) + std::exp(g[2]) + std::exp(g[3]));
  });
  Tensor pos = floats({2, 2}, {1, 2, 3, 4});
  EXPECT_NEAR(values_f32(run_op(make_node("ReduceLogSum", 1, 1), {&pos}, 13)[0])[0], std::log(10.f), 1e-6);
}

TEST(NnReduce, LogSumExpOfLargeValuesAndIntegers) {
  Tensor x = floats({2}, {1000, 1000});
  EXPECT_NEAR(values_f32(run_op(make_node("ReduceLogSumExp", 1, 1), {&x}, 13)[0])[0], 1000 + std::log(2.f), 1e-3);
  Tensor i = int64s({2, 2}, {1, 2, 3, 4});
  ir::Node sum = node_with("ReduceSum", 1, 1, {attr_int("keepdims", 0)});
  EXPECT_EQ(values_i64(run_op(sum, {&i}, 11)[0]), (std::vector<int64_t>{10}));
  ir::Node mean = node_with("ReduceMean", 1, 1, {attr_ints("axes", {1})});
  EXPECT_EQ(values_i64(run_op(mean, {&i}, 11)[0]), (std::vector<int64_t>{1, 3}));
}

TEST(NnReduce, LargeReductionsAreThreadIndependent) {
  std::mt19937 rng(77);
  Tensor x = random_floats({64, 50, 70}, rng);
  for (std::vector<int64_t> axes : {std::vector<int64_t>{0}, {1}, {2}, {0, 2}, {}}) {
    ir::Node n = node_with("ReduceMean", 1, 1, {attr_ints("axes", axes)});
    run_deterministic(n, {&x}, 13);
  }
}

TEST(NnArg, ArgMaxArgMinWithLastIndex) {
  Tensor x = floats({2, 3}, {2, 5, 5, 1, 1, 0});
  ir::Node amax = node_with("ArgMax", 1, 1, {attr_int("axis", 1), attr_int("keepdims", 0)});
  EXPECT_EQ(values_i64(run_op(amax, {&x})[0]), (std::vector<int64_t>{1, 0}));
  ir::Node amax_last =
      node_with("ArgMax", 1, 1, {attr_int("axis", 1), attr_int("keepdims", 0), attr_int("select_last_index", 1)});
  EXPECT_EQ(values_i64(run_op(amax_last, {&x})[0]), (std::vector<int64_t>{2, 1}));
  ir::Node amin = node_with("ArgMin", 1, 1, {attr_int("axis", 0)});
  Tensor y = run_op(amin, {&x})[0];
  EXPECT_EQ(y.shape(), (Shape{1, 3}));
  EXPECT_EQ(values_i64(y), (std::vector<int64_t>{1, 1, 1}));
  ir::Node amin_last = node_with("ArgMin", 1, 1, {attr_int("axis", -1), attr_int("select_last_index", 1)});
  EXPECT_EQ(values_i64(run_op(amin_last, {&x})[0]), (std::vector<int64_t>{0, 2}));
}

}  // namespace
}  // namespace mcompress::test
