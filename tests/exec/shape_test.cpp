// Kernel tests for the shape ops: each op against reference values worked out by hand or by
// ONNX's reference implementation, across the attribute variants the ONNX spec defines.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "mcompress/support/error.h"
#include "support/op_runner.h"

namespace mcompress::test {
namespace {

constexpr float kResizeTolerance = 1e-5f;

template <typename T>
Tensor typed(DType dtype, Shape shape, std::vector<T> values) {
  return Tensor::from_values<T>(dtype, std::move(shape), values);
}

Tensor bools(Shape shape, std::vector<uint8_t> values) { return typed<uint8_t>(DType::boolean, std::move(shape), values); }
Tensor int32s(Shape shape, std::vector<int32_t> values) { return typed<int32_t>(DType::i32, std::move(shape), values); }

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

std::vector<float> iota_floats(int64_t n, float start = 0) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), start);
  return v;
}

ir::Node node_with(const std::string& op, size_t inputs, size_t outputs, std::vector<ir::Attribute> attrs) {
  ir::Node n = make_node(op, inputs, outputs);
  n.attributes = std::move(attrs);
  return n;
}

void expect_near(const std::vector<float>& actual, const std::vector<float>& expected, float tol = kResizeTolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) EXPECT_NEAR(actual[i], expected[i], tol) << "at " << i;
}

// ---- Reshape, Flatten, Squeeze, Unsqueeze ----------------------------------------------------

TEST(ShapeOps, ReshapeCopiesZeroDimsAndInfersMinusOne) {
  Tensor x = floats({2, 3, 4}, iota_floats(24));
  Tensor shape = int64s({3}, {0, -1, 2});
  Tensor y = run_op(make_node("Reshape", 2, 1), {&x, &shape})[0];
  EXPECT_EQ(y.shape(), (Shape{2, 6, 2}));
  EXPECT_EQ(values_f32(y), values_f32(x));
  Tensor two_unknowns = int64s({2}, {-1, -1});
  EXPECT_THROW(run_op(make_node("Reshape", 2, 1), {&x, &two_unknowns}), Error);
  Tensor wrong = int64s({2}, {5, 5});
  EXPECT_THROW(run_op(make_node("Reshape", 2, 1), {&x, &wrong}), Error);
}

TEST(ShapeOps, ReshapeAllowZeroKeepsZeroDims) {
  Tensor x = floats({0, 3}, {});
  Tensor shape = int64s({2}, {3, 0});
  ir::Node n = node_with("Reshape", 2, 1, {attr_int("allowzero", 1)});
  EXPECT_EQ(run_op(n, {&x, &shape}, 14)[0].shape(), (Shape{3, 0}));
  // Without allowzero the 0 copies the input's dim 1 (3): 0 elements cannot become 9.
  EXPECT_THROW(run_op(make_node("Reshape", 2, 1), {&x, &shape}, 14), Error);
}

TEST(ShapeOps, ReshapeKeepsAnyDtype) {
  Tensor b = bools({2, 2}, {1, 0, 0, 1});
  Tensor shape = int64s({1}, {4});
  Tensor y = run_op(make_node("Reshape", 2, 1), {&b, &shape})[0];
  EXPECT_EQ(y.dtype(), DType::boolean);
  EXPECT_EQ(values_of<uint8_t>(y), (std::vector<uint8_t>{1, 0, 0, 1}));
  Tensor s = Tensor::from_strings({2}, {"a", "b"});
  Tensor shape2 = int64s({2}, {1, 2});
  EXPECT_EQ(run_op(make_node("Reshape", 2, 1), {&s, &shape2})[0].strings(), (std::vector<std::string>{"a", "b"}));
}

TEST(ShapeOps, FlattenAxes) {
  Tensor x = floats({2, 3, 4, 5}, iota_floats(120));
  auto flat = [&](int64_t axis) { return run_op(node_with("Flatten", 1, 1, {attr_int("axis", axis)}), {&x})[0].shape(); };
  EXPECT_EQ(run_op(make_node("Flatten", 1, 1), {&x})[0].shape(), (Shape{2, 60}));
  EXPECT_EQ(flat(0), (Shape{1, 120}));
  EXPECT_EQ(flat(4), (Shape{120, 1}));
  EXPECT_EQ(flat(-1), (Shape{24, 5}));
  EXPECT_EQ(flat(-4), (Shape{1, 120}));
  EXPECT_THROW(flat(5), Error);
}

TEST(ShapeOps, SqueezeAxesAttributeBefore13InputFrom13) {
  Tensor x = floats({1, 3, 1, 2}, iota_floats(6));
  ir::Node attr = node_with("Squeeze", 1, 1, {attr_ints("axes", {0, -2})});
  EXPECT_EQ(run_op(attr, {&x}, 11)[0].shape(), (Shape{3, 2}));
  Tensor axes = int64s({1}, {-2});
  EXPECT_EQ(run_op(make_node("Squeeze", 2, 1), {&x, &axes}, 13)[0].shape(), (Shape{1, 3, 2}));
  // No axes: every 1 goes.
  EXPECT_EQ(run_op(make_node("Squeeze", 1, 1), {&x}, 13)[0].shape(), (Shape{3, 2}));
  Tensor bad = int64s({1}, {1});
  EXPECT_THROW(run_op(make_node("Squeeze", 2, 1), {&x, &bad}, 13), Error);
}

TEST(ShapeOps, UnsqueezeAxesAttributeBefore13InputFrom13) {
  Tensor x = floats({3, 4}, iota_floats(12));
  ir::Node attr = node_with("Unsqueeze", 1, 1, {attr_ints("axes", {0, 3})});
  EXPECT_EQ(run_op(attr, {&x}, 11)[0].shape(), (Shape{1, 3, 4, 1}));
  Tensor unsorted = int64s({3}, {4, 0, -3});  // output rank 5: -3 is axis 2
  Tensor y = run_op(make_node("Unsqueeze", 2, 1), {&x, &unsorted}, 13)[0];
  EXPECT_EQ(y.shape(), (Shape{1, 3, 1, 4, 1}));
  Tensor past_end = int64s({1}, {3});  // output rank 3: axes in [-3, 3)
  EXPECT_THROW(run_op(make_node("Unsqueeze", 2, 1), {&x, &past_end}, 13), Error);
  Tensor repeated = int64s({2}, {1, 1});
  EXPECT_THROW(run_op(make_node("Unsqueeze", 2, 1), {&x, &repeated}, 13), Error);
  Tensor scalar = floats({}, {7});
  Tensor zero = int64s({1}, {0});
  EXPECT_EQ(run_op(make_node("Unsqueeze", 2, 1), {&scalar, &zero}, 13)[0].shape(), (Shape{1}));
}

// ---- Transpose ------------------------------------------------------------------------------

// Scalar reference: out[i0..in] = x[index permuted back].
std::vector<float> transpose_ref(const Tensor& x, const std::vector<int64_t>& perm) {
  const Shape& s = x.shape();
  size_t r = s.size();
  Shape out_shape(r), in_strides(r, 1);
  for (size_t i = r; i-- > 1;) in_strides[i - 1] = in_strides[i] * s[i];
  for (size_t i = 0; i < r; ++i) out_shape[i] = s[static_cast<size_t>(perm[i])];
  std::vector<float> out;
  std::vector<int64_t> idx(r, 0);
  for (int64_t n = 0; n < x.numel(); ++n) {
    int64_t at = 0;
    for (size_t i = 0; i < r; ++i) at += idx[i] * in_strides[static_cast<size_t>(perm[i])];
    out.push_back(x.data<float>()[at]);
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

TEST(ShapeOps, TransposeMatchesReferenceForEveryPermutation) {
  Tensor x = floats({2, 3, 4, 5}, iota_floats(120));
  std::vector<int64_t> perm = {0, 1, 2, 3};
  do {
    Tensor y = run_op(node_with("Transpose", 1, 1, {attr_ints("perm", perm)}), {&x}, 13, 3)[0];
    EXPECT_EQ(values_f32(y), transpose_ref(x, perm));
  } while (std::next_permutation(perm.begin(), perm.end()));
  Tensor y = run_op(make_node("Transpose", 1, 1), {&x})[0];  // default: reversed
  EXPECT_EQ(y.shape(), (Shape{5, 4, 3, 2}));
  EXPECT_EQ(values_f32(y), transpose_ref(x, {3, 2, 1, 0}));
  EXPECT_THROW(run_op(node_with("Transpose", 1, 1, {attr_ints("perm", {0, 0, 1, 2})}), {&x}), Error);
}

TEST(ShapeOps, TransposeMovesInt64AndBoolAndIsThreadCountIndependent) {
  Tensor x = int64s({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(values_i64(run_op(make_node("Transpose", 1, 1), {&x})[0]), (std::vector<int64_t>{1, 4, 2, 5, 3, 6}));
  Tensor b = bools({2, 2}, {1, 1, 0, 0});
  EXPECT_EQ(values_of<uint8_t>(run_op(make_node("Transpose", 1, 1), {&b})[0]), (std::vector<uint8_t>{1, 0, 1, 0}));
  Tensor big = floats({64, 33, 65}, iota_floats(64 * 33 * 65));
  ir::Node n = node_with("Transpose", 1, 1, {attr_ints("perm", {2, 0, 1})});
  EXPECT_EQ(run_op(n, {&big}, 13, 1)[0], run_op(n, {&big}, 13, 4)[0]);
}

// ---- Concat, Split ----------------------------------------------------------------------------

TEST(ShapeOps, ConcatNegativeAxisAndAnyDtype) {
  Tensor a = floats({2, 2}, {1, 2, 3, 4});
  Tensor b = floats({2, 1}, {5, 6});
  Tensor y = run_op(node_with("Concat", 2, 1, {attr_int("axis", -1)}), {&a, &b})[0];
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{1, 2, 5, 3, 4, 6}));
  Tensor i = int64s({2}, {1, 2});
  Tensor j = int64s({0}, {});
  Tensor k = int64s({1}, {3});
  EXPECT_EQ(values_i64(run_op(node_with("Concat", 3, 1, {attr_int("axis", 0)}), {&i, &j, &k})[0]),
            (std::vector<int64_t>{1, 2, 3}));
  Tensor t = bools({1}, {1});
  Tensor f = bools({1}, {0});
  EXPECT_EQ(values_of<uint8_t>(run_op(node_with("Concat", 2, 1, {attr_int("axis", 0)}), {&t, &f})[0]),
            (std::vector<uint8_t>{1, 0}));
  EXPECT_THROW(run_op(node_with("Concat", 2, 1, {attr_int("axis", 0)}), {&a, &b}), Error);
}

TEST(ShapeOps, SplitEqualPartsAndSizesFromAttributeOrInput) {
  Tensor x = floats({2, 6}, iota_floats(12));
  auto parts = run_op(node_with("Split", 1, 3, {attr_int("axis", 1)}), {&x}, 13);
  EXPECT_EQ(parts[1].shape(), (Shape{2, 2}));
  EXPECT_EQ(values_f32(parts[1]), (std::vector<float>{2, 3, 8, 9}));
  auto attr = run_op(node_with("Split", 1, 2, {attr_int("axis", -1), attr_ints("split", {2, 4})}), {&x}, 11);
  EXPECT_EQ(values_f32(attr[0]), (std::vector<float>{0, 1, 6, 7}));
  EXPECT_EQ(values_f32(attr[1]), (std::vector<float>{2, 3, 4, 5, 8, 9, 10, 11}));
  Tensor sizes = int64s({3}, {0, 6, 0});
  auto input = run_op(node_with("Split", 2, 3, {attr_int("axis", 1)}), {&x, &sizes}, 13);
  EXPECT_EQ(input[0].shape(), (Shape{2, 0}));
  EXPECT_EQ(values_f32(input[1]), values_f32(x));
  Tensor bad = int64s({2}, {1, 2});
  EXPECT_THROW(run_op(node_with("Split", 2, 2, {attr_int("axis", 1)}), {&x, &bad}, 13), Error);
}

TEST(ShapeOps, SplitNumOutputsLeavesASmallerLastChunk) {
  Tensor x = int64s({7}, {1, 2, 3, 4, 5, 6, 7});
  auto parts = run_op(node_with("Split", 1, 3, {attr_int("num_outputs", 3)}), {&x}, 18);
  EXPECT_EQ(values_i64(parts[0]), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(values_i64(parts[1]), (std::vector<int64_t>{4, 5, 6}));
  EXPECT_EQ(values_i64(parts[2]), (std::vector<int64_t>{7}));
  // Without num_outputs the parts must be equal.
  EXPECT_THROW(run_op(make_node("Split", 1, 3), {&x}, 13), Error);
}

// ---- Slice ------------------------------------------------------------------------------------

TEST(ShapeOps, SliceAttributesBeforeOpset10) {
  Tensor x = floats({3, 4}, iota_floats(12));
  ir::Node n = node_with("Slice", 1, 1, {attr_ints("starts", {1, 0}), attr_ints("ends", {1000, 3}), attr_ints("axes", {0, 1})});
  Tensor y = run_op(n, {&x}, 9)[0];
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{4, 5, 6, 8, 9, 10}));
}

TEST(ShapeOps, SliceStepsClampingAndExtremeEnds) {
  Tensor x = floats({3, 4}, iota_floats(12));
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  auto slice = [&](std::vector<int64_t> starts, std::vector<int64_t> ends, std::vector<int64_t> axes,
                   std::vector<int64_t> steps) {
    Tensor s = int64s({static_cast<int64_t>(starts.size())}, starts);
    Tensor e = int64s({static_cast<int64_t>(ends.size())}, ends);
    Tensor a = int64s({static_cast<int64_t>(axes.size())}, axes);
    Tensor st = int64s({static_cast<int64_t>(steps.size())}, steps);
    return run_op(make_node("Slice", 5, 1), {&x, &s, &e, &a, &st}, 13)[0];
  };
  // Reverse everything: INT64_MAX start and INT64_MIN end with step -1.
  Tensor rev = slice({kMax, kMax}, {kMin, kMin}, {0, 1}, {-1, -1});
  EXPECT_EQ(rev.shape(), (Shape{3, 4}));
  std::vector<float> reversed = iota_floats(12);
  std::reverse(reversed.begin(), reversed.end());
  EXPECT_EQ(values_f32(rev), reversed);
  // Negative axis, step 2 to the end.
  EXPECT_EQ(values_f32(slice({1}, {kMax}, {-1}, {2})), (std::vector<float>{1, 3, 5, 7, 9, 11}));
  // Negative step from -1 to -4 (exclusive): 3, 2, 1.
  EXPECT_EQ(values_f32(slice({-1}, {-4}, {1}, {-2})), (std::vector<float>{3, 1, 7, 5, 11, 9}));
  // Start past the end: empty.
  EXPECT_EQ(slice({10}, {20}, {0}, {1}).shape(), (Shape{0, 4}));
  EXPECT_THROW(slice({0}, {1}, {0}, {0}), Error);
  EXPECT_THROW(slice({0, 0}, {1, 1}, {0, -2}, {1, 1}), Error);  // repeated axis
}

TEST(ShapeOps, SliceDefaultsAxesAndStepsAndTakesInt32) {
  Tensor x = int64s({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor s = int32s({2}, {0, 1});
  Tensor e = int32s({2}, {-1, 3});
  Tensor y = run_op(make_node("Slice", 3, 1), {&x, &s, &e}, 13)[0];
  EXPECT_EQ(y.shape(), (Shape{1, 2}));
  EXPECT_EQ(values_i64(y), (std::vector<int64_t>{2, 3}));
}

// Scalar reference for random slices: walk every index and keep those the slice selects.
TEST(ShapeOps, SliceMatchesReferenceOnRandomCases) {
  std::mt19937 rng(7);
  Tensor x = floats({5, 6, 7}, iota_floats(210));
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int64_t> starts, ends, axes, steps;
    for (int64_t a = 0; a < 3; ++a) {
      if (rng() % 2) continue;
      axes.push_back(a);
      starts.push_back(static_cast<int64_t>(rng() % 19) - 9);
      ends.push_back(static_cast<int64_t>(rng() % 19) - 9);
      int64_t step = static_cast<int64_t>(rng() % 3) + 1;
      steps.push_back(rng() % 2 ? step : -step);
    }
    int64_t n = static_cast<int64_t>(axes.size());
    Tensor s = int64s({n}, starts), e = int64s({n}, ends), a = int64s({n}, axes), st = int64s({n}, steps);
    Tensor y = run_op(make_node("Slice", 5, 1), {&x, &s, &e, &a, &st}, 13)[0];
    // Reference: per axis the selected indices, by stepping like Python's range after clamping.
    std::vector<std::vector<int64_t>> picks(3);
    for (int64_t d = 0; d < 3; ++d) {
      int64_t dim = x.shape()[static_cast<size_t>(d)];
      auto it = std::find(axes.begin(), axes.end(), d);
      if (it == axes.end()) {
        for (int64_t i = 0; i < dim; ++i) picks[static_cast<size_t>(d)].push_back(i);
        continue;
      }
      size_t k = static_cast<size_t>(it - axes.begin());
      int64_t b = starts[k] < 0 ? starts[k] + dim : starts[k];
      int64_t f = ends[k] < 0 ? ends[k] + dim : ends[k];
      if (steps[k] > 0) {
        b = std::clamp<int64_t>(b, 0, dim), f = std::clamp<int64_t>(f, 0, dim);
        for (int64_t i = b; i < f; i += steps[k]) picks[static_cast<size_t>(d)].push_back(i);
      } else {
        b = std::clamp<int64_t>(b, 0, dim - 1), f = std::clamp<int64_t>(f, -1, dim - 1);
        for (int64_t i = b; i > f; i += steps[k]) picks[static_cast<size_t>(d)].push_back(i);
      }
    }
    std::vector<float> expected;
    for (int64_t i : picks[0])
      for (int64_t j : picks[1])
        for (int64_t k : picks[2]) expected.push_back(static_cast<float>(i * 42 + j * 7 + k));
    ASSERT_EQ(y.shape(), (Shape{static_cast<int64_t>(picks[0].size()), static_cast<int64_t>(picks[1].size()),
                                static_cast<int64_t>(picks[2].size())}));
    ASSERT_EQ(values_f32(y), expected) << "trial " << trial;
  }
}

// ---- Gather, GatherElements -------------------------------------------------------------------

TEST(ShapeOps, GatherAnyAxisWithNegativeIndices) {
  Tensor x = floats({3, 3}, iota_floats(9));
  Tensor idx = int64s({2, 2}, {0, -1, 1, 2});
  Tensor rows = run_op(make_node("Gather", 2, 1), {&x, &idx})[0];
  EXPECT_EQ(rows.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(values_f32(rows), (std::vector<float>{0, 1, 2, 6, 7, 8, 3, 4, 5, 6, 7, 8}));
  Tensor cols = run_op(node_with("Gather", 2, 1, {attr_int("axis", -1)}), {&x, &idx})[0];
  EXPECT_EQ(cols.shape(), (Shape{3, 2, 2}));
  EXPECT_EQ(values_f32(cols), (std::vector<float>{0, 2, 1, 2, 3, 5, 4, 5, 6, 8, 7, 8}));
  Tensor scalar = int32s({}, {1});
  Tensor row = run_op(make_node("Gather", 2, 1), {&x, &scalar})[0];
  EXPECT_EQ(row.shape(), (Shape{3}));
  Tensor ints = int64s({4}, {10, 20, 30, 40});
  Tensor pick = int64s({2}, {3, -4});
  EXPECT_EQ(values_i64(run_op(make_node("Gather", 2, 1), {&ints, &pick})[0]), (std::vector<int64_t>{40, 10}));
  Tensor out_of_range = int64s({1}, {3});
  EXPECT_THROW(run_op(make_node("Gather", 2, 1), {&x, &out_of_range}), Error);
}

TEST(ShapeOps, GatherElementsAlongAxis) {
  Tensor x = floats({2, 2}, {1, 2, 3, 4});
  Tensor idx = int64s({2, 2}, {0, 0, 1, 0});
  EXPECT_EQ(values_f32(run_op(node_with("GatherElements", 2, 1, {attr_int("axis", 1)}), {&x, &idx})[0]),
            (std::vector<float>{1, 1, 4, 3}));
  Tensor x3 = floats({3, 3}, iota_floats(9, 1));
  Tensor neg = int64s({2, 3}, {-1, -2, 0, -2, 0, 0});
  EXPECT_EQ(values_f32(run_op(make_node("GatherElements", 2, 1), {&x3, &neg})[0]),
            (std::vector<float>{7, 5, 3, 4, 2, 3}));
}

// ---- Shape, Size, Expand, Tile ----------------------------------------------------------------

TEST(ShapeOps, ShapeStartEndAndSize) {
  Tensor x = floats({2, 3, 4}, iota_floats(24));
  EXPECT_EQ(values_i64(run_op(make_node("Shape", 1, 1), {&x})[0]), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(values_i64(run_op(node_with("Shape", 1, 1, {attr_int("start", -2)}), {&x}, 15)[0]),
            (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(values_i64(run_op(node_with("Shape", 1, 1, {attr_int("start", 1), attr_int("end", -1)}), {&x}, 15)[0]),
            (std::vector<int64_t>{3}));
  EXPECT_EQ(run_op(node_with("Shape", 1, 1, {attr_int("start", 10)}), {&x}, 15)[0].shape(), (Shape{0}));
  Tensor size = run_op(make_node("Size", 1, 1), {&x})[0];
  EXPECT_EQ(size.shape(), Shape{});
  EXPECT_EQ(values_i64(size), (std::vector<int64_t>{24}));
}

TEST(ShapeOps, ExpandBroadcastsBothWays) {
  Tensor x = floats({3, 1}, {1, 2, 3});
  Tensor shape = int64s({3}, {2, 1, 2});
  Tensor y = run_op(make_node("Expand", 2, 1), {&x, &shape})[0];
  EXPECT_EQ(y.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  Tensor smaller = int64s({1}, {1});
  EXPECT_EQ(run_op(make_node("Expand", 2, 1), {&x, &smaller})[0].shape(), (Shape{3, 1}));
  Tensor bad = int64s({1}, {2});
  Tensor x3 = floats({3}, {1, 2, 3});
  EXPECT_THROW(run_op(make_node("Expand", 2, 1), {&x3, &bad}), Error);
}

TEST(ShapeOps, TileRepeatsEveryAxis) {
  Tensor x = int64s({2, 2}, {1, 2, 3, 4});
  Tensor repeats = int64s({2}, {2, 3});
  Tensor y = run_op(make_node("Tile", 2, 1), {&x, &repeats})[0];
  EXPECT_EQ(y.shape(), (Shape{4, 6}));
  EXPECT_EQ(values_i64(y), (std::vector<int64_t>{1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4,  //
                                                 1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}));
  Tensor zero = int64s({2}, {0, 1});
  EXPECT_EQ(run_op(make_node("Tile", 2, 1), {&x, &zero})[0].shape(), (Shape{0, 2}));
  Tensor wrong = int64s({1}, {2});
  EXPECT_THROW(run_op(make_node("Tile", 2, 1), {&x, &wrong}), Error);
}

// ---- Pad ----------------------------------------------------------------------------------

TEST(ShapeOps, PadConstantAsAttributeBefore11AndInputFrom11) {
  Tensor x = floats({2, 2}, {1, 2, 3, 4});
  ir::Node old = node_with("Pad", 1, 1, {attr_ints("pads", {0, 1, 0, 1}), attr_float("value", 9)});
  Tensor y = run_op(old, {&x}, 2)[0];
  EXPECT_EQ(y.shape(), (Shape{2, 4}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{9, 1, 2, 9, 9, 3, 4, 9}));
  Tensor pads = int64s({4}, {1, 0, 0, 0});
  Tensor value = floats({}, {-1});
  EXPECT_EQ(values_f32(run_op(make_node("Pad", 3, 1), {&x, &pads, &value}, 13)[0]),
            (std::vector<float>{-1, -1, 1, 2, 3, 4}));
  EXPECT_EQ(values_f32(run_op(make_node("Pad", 2, 1), {&x, &pads}, 13)[0]), (std::vector<float>{0, 0, 1, 2, 3, 4}));
  Tensor ints = int64s({2}, {5, 6});
  Tensor pads1 = int64s({2}, {1, 2});
  EXPECT_EQ(values_i64(run_op(make_node("Pad", 2, 1), {&ints, &pads1}, 13)[0]), (std::vector<int64_t>{0, 5, 6, 0, 0}));
}

TEST(ShapeOps, PadReflectEdgeWrapLikeNumpy) {
  Tensor x = floats({3, 3}, iota_floats(9, 1));
  Tensor pads = int64s({4}, {1, 1, 1, 1});
  // np.pad(x, 1, 'reflect')
  EXPECT_EQ(values_f32(run_op(node_with("Pad", 2, 1, {attr_string("mode", "reflect")}), {&x, &pads}, 13)[0]),
            (std::vector<float>{5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 8, 7, 8, 9, 8, 5, 4, 5, 6, 5}));
  // np.pad(x, 1, 'edge')
  EXPECT_EQ(values_f32(run_op(node_with("Pad", 2, 1, {attr_string("mode", "edge")}), {&x, &pads}, 13)[0]),
            (std::vector<float>{1, 1, 2, 3, 3, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6, 7, 7, 8, 9, 9, 7, 7, 8, 9, 9}));
  Tensor v = floats({3}, {1, 2, 3});
  Tensor pads1 = int64s({2}, {2, 1});
  // np.pad([1,2,3], (2,1), 'wrap')
  EXPECT_EQ(values_f32(run_op(node_with("Pad", 2, 1, {attr_string("mode", "wrap")}), {&v, &pads1}, 19)[0]),
            (std::vector<float>{2, 3, 1, 2, 3, 1}));
  // Reflecting past the whole length keeps bouncing: np.pad([1,2,3], (4,0), 'reflect')
  Tensor pads4 = int64s({2}, {4, 0});
  EXPECT_EQ(values_f32(run_op(node_with("Pad", 2, 1, {attr_string("mode", "reflect")}), {&v, &pads4}, 13)[0]),
            (std::vector<float>{1, 2, 3, 2, 1, 2, 3}));
}

TEST(ShapeOps, PadNegativePadsCropAndAxesSelectDims) {
  Tensor v = floats({3}, {1, 2, 3});
  Tensor crop = int64s({2}, {-1, 1});
  EXPECT_EQ(values_f32(run_op(make_node("Pad", 2, 1), {&v, &crop}, 13)[0]), (std::vector<float>{2, 3, 0}));
  Tensor x = floats({2, 2}, {1, 2, 3, 4});
  Tensor pads = int64s({2}, {1, 0});
  Tensor axes = int64s({1}, {-1});
  Tensor y = run_op(make_node("Pad", 4, 1), {&x, &pads, nullptr, &axes}, 18)[0];
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{0, 1, 2, 0, 3, 4}));
  Tensor too_much = int64s({2}, {-2, -2});
  EXPECT_THROW(run_op(make_node("Pad", 2, 1), {&v, &too_much}, 13), Error);
}

// ---- constants, Range, Dropout --------------------------------------------------------------

TEST(ShapeOps, ConstantOfShapeFillsValueType) {
  Tensor shape = int64s({2}, {2, 3});
  Tensor zeros = run_op(make_node("ConstantOfShape", 1, 1), {&shape})[0];
  EXPECT_EQ(zeros.dtype(), DType::f32);
  EXPECT_EQ(values_f32(zeros), std::vector<float>(6, 0.f));
  ir::Node n = make_node("ConstantOfShape", 1, 1);
  ir::Attribute value;
  value.name = "value";
  value.type = ir::AttrType::tensor;
  value.t.tensor = int64s({1}, {7});
  n.attributes.push_back(value);
  Tensor sevens = run_op(n, {&shape})[0];
  EXPECT_EQ(values_i64(sevens), std::vector<int64_t>(6, 7));
  Tensor empty_shape = int64s({0}, {});
  EXPECT_EQ(run_op(n, {&empty_shape})[0].shape(), Shape{});
  Tensor negative = int64s({1}, {-1});
  EXPECT_THROW(run_op(n, {&negative}), Error);
}

TEST(ShapeOps, ConstantAttributeForms) {
  auto constant = [](ir::Attribute a) { return run_op(node_with("Constant", 0, 1, {std::move(a)}), {})[0]; };
  Tensor f = constant(attr_float("value_float", 2.5f));
  EXPECT_EQ(f.shape(), Shape{});
  EXPECT_EQ(values_f32(f), (std::vector<float>{2.5f}));
  EXPECT_EQ(values_f32(constant(attr_floats("value_floats", {1, 2}))), (std::vector<float>{1, 2}));
  EXPECT_EQ(values_i64(constant(attr_int("value_int", 4))), (std::vector<int64_t>{4}));
  EXPECT_EQ(values_i64(constant(attr_ints("value_ints", {4, 5}))), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(constant(attr_string("value_string", "hi")).strings(), (std::vector<std::string>{"hi"}));
  ir::Attribute strings;
  strings.name = "value_strings";
  strings.type = ir::AttrType::strings;
  strings.strings = {"a", "b"};
  EXPECT_EQ(constant(strings).shape(), (Shape{2}));
  ir::Attribute value;
  value.name = "value";
  value.type = ir::AttrType::tensor;
  value.t.tensor = int32s({2}, {3, 4});
  EXPECT_EQ(values_of<int32_t>(constant(value)), (std::vector<int32_t>{3, 4}));
  // sparse_value: values [5, 6] at linear positions 1 and 4 of a [2, 3] tensor.
  ir::Attribute sparse;
  sparse.name = "sparse_value";
  sparse.type = ir::AttrType::sparse_tensor;
  sparse.sparse = ir::Box<ir::SparseTensor>(ir::SparseTensor{});
  sparse.sparse->values.tensor = floats({2}, {5, 6});
  sparse.sparse->indices.tensor = int64s({2}, {1, 4});
  sparse.sparse->dims = {2, 3};
  EXPECT_EQ(values_f32(constant(sparse)), (std::vector<float>{0, 5, 0, 0, 6, 0}));
  sparse.sparse->indices.tensor = int64s({2, 2}, {0, 1, 1, 1});  // coordinates
  EXPECT_EQ(values_f32(constant(sparse)), (std::vector<float>{0, 5, 0, 0, 6, 0}));
}

TEST(ShapeOps, RangeCountsLikeCeilAndAddsDelta) {
  Tensor s = floats({}, {1}), l = floats({}, {5}), d = floats({}, {1.5f});
  EXPECT_EQ(values_f32(run_op(make_node("Range", 3, 1), {&s, &l, &d})[0]), (std::vector<float>{1, 2.5f, 4}));
  Tensor si = int32s({}, {10}), li = int32s({}, {4}), di = int32s({}, {-3});
  EXPECT_EQ(values_of<int32_t>(run_op(make_node("Range", 3, 1), {&si, &li, &di})[0]), (std::vector<int32_t>{10, 7}));
  Tensor sl = int64s({}, {0}), ll = int64s({}, {-5}), dl = int64s({}, {1});
  EXPECT_EQ(run_op(make_node("Range", 3, 1), {&sl, &ll, &dl})[0].shape(), (Shape{0}));
  Tensor zero = int64s({}, {0});
  EXPECT_THROW(run_op(make_node("Range", 3, 1), {&sl, &ll, &zero}), Error);
}

TEST(ShapeOps, DropoutIsIdentityWithAllTrueMask) {
  Tensor x = floats({2, 2}, {1, 2, 3, 4});
  Tensor ratio = floats({}, {0.7f});
  auto out = run_op(make_node("Dropout", 2, 2), {&x, &ratio}, 13);
  EXPECT_EQ(values_f32(out[0]), values_f32(x));
  EXPECT_EQ(out[1].dtype(), DType::boolean);
  EXPECT_EQ(values_of<uint8_t>(out[1]), std::vector<uint8_t>(4, 1));
  // Dropout-7 typed the mask like the data; before opset 12 ONNX Runtime's mask is all zero.
  auto old = run_op(make_node("Dropout", 1, 2), {&x}, 7);
  EXPECT_EQ(values_f32(old[1]), std::vector<float>(4, 0.f));
  EXPECT_EQ(values_of<uint8_t>(run_op(make_node("Dropout", 1, 2), {&x}, 10)[1]), std::vector<uint8_t>(4, 0));
  Tensor training = bools({}, {1});
  EXPECT_THROW(run_op(make_node("Dropout", 3, 1), {&x, &ratio, &training}, 13), Error);
  Tensor no_ratio = floats({}, {0});
  EXPECT_EQ(values_f32(run_op(make_node("Dropout", 3, 1), {&x, &no_ratio, &training}, 13)[0]), values_f32(x));
}

// ---- Resize / Upsample --------------------------------------------------------------------

std::vector<Tensor> resize(const Tensor& x, const Tensor* scales, const Tensor* sizes, std::vector<ir::Attribute> attrs,
                           int64_t opset = 13, int threads = 1) {
  return run_op(node_with("Resize", 4, 1, std::move(attrs)), {&x, nullptr, scales, sizes}, opset, threads);
}

TEST(ShapeOps, ResizeLinearHalfPixelUpsample) {
  // ONNX's resize_upsample_scales_linear example.
  Tensor x = floats({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor scales = floats({4}, {1, 1, 2, 2});
  Tensor y = resize(x, &scales, nullptr, {attr_string("mode", "linear")})[0];
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 4}));
  expect_near(values_f32(y), {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4});
}

TEST(ShapeOps, ResizeLinearAlignCornersAndSizes) {
  Tensor x = floats({1, 2}, {1, 2});
  Tensor sizes = int64s({2}, {1, 4});
  Tensor y = resize(x, nullptr, &sizes, {attr_string("mode", "linear"), attr_string("coordinate_transformation_mode", "align_corners")})[0];
  expect_near(values_f32(y), {1, 4.f / 3, 5.f / 3, 2});
  // asymmetric: x / scale, clamped at the right edge.
  Tensor y2 = resize(x, nullptr, &sizes, {attr_string("mode", "linear"), attr_string("coordinate_transformation_mode", "asymmetric")})[0];
  expect_near(values_f32(y2), {1, 1.5f, 2, 2});
}

TEST(ShapeOps, ResizeNearestModes) {
  Tensor x = floats({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor scales = floats({4}, {1, 1, 2, 3});
  Tensor y = resize(x, &scales, nullptr, {})[0];  // nearest, half_pixel, round_prefer_floor
  EXPECT_EQ(y.shape(), (Shape{1, 1, 4, 6}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
  // 1-D [1,2,3,4] to 8 with asymmetric: x/2 = 0, .5, 1, 1.5, ... prefer floor vs ceil at the halves.
  Tensor v = floats({4}, {1, 2, 3, 4});
  Tensor eight = int64s({1}, {8});
  auto nearest = [&](const char* mode) {
    return values_f32(resize(v, nullptr, &eight, {attr_string("coordinate_transformation_mode", "asymmetric"),
                                                  attr_string("nearest_mode", mode)})[0]);
  };
  EXPECT_EQ(nearest("round_prefer_floor"), (std::vector<float>{1, 1, 2, 2, 3, 3, 4, 4}));
  EXPECT_EQ(nearest("round_prefer_ceil"), (std::vector<float>{1, 2, 2, 3, 3, 4, 4, 4}));
  EXPECT_EQ(nearest("floor"), (std::vector<float>{1, 1, 2, 2, 3, 3, 4, 4}));
  EXPECT_EQ(nearest("ceil"), (std::vector<float>{1, 2, 2, 3, 3, 4, 4, 4}));
  EXPECT_THROW(nearest("sideways"), Error);
}

TEST(ShapeOps, ResizeNearestMovesAnyDtype) {
  Tensor x = typed<uint8_t>(DType::u8, {1, 2}, {7, 9});
  Tensor scales = floats({2}, {1, 2});
  Tensor y = resize(x, &scales, nullptr, {attr_string("coordinate_transformation_mode", "asymmetric")})[0];
  EXPECT_EQ(y.dtype(), DType::u8);
  EXPECT_EQ(values_of<uint8_t>(y), (std::vector<uint8_t>{7, 7, 9, 9}));
  Tensor ints = int64s({2}, {5, 6});
  Tensor s1 = floats({1}, {1.5f});
  EXPECT_EQ(values_i64(resize(ints, &s1, nullptr, {})[0]), (std::vector<int64_t>{5, 5, 6}));
  EXPECT_THROW(resize(ints, &s1, nullptr, {attr_string("mode", "linear")}), Error);
}

TEST(ShapeOps, ResizeCubicMatchesOnnxReference) {
  // onnx.backend.test.case.node.resize.interpolate_nd(x, cubic_coeffs, scale_factors=[1,1,.8,.8])
  Tensor x = floats({1, 1, 4, 4}, iota_floats(16, 1));
  Tensor scales = floats({4}, {1, 1, 0.8f, 0.8f});
  Tensor y = resize(x, &scales, nullptr, {attr_string("mode", "cubic")})[0];
  EXPECT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  expect_near(values_f32(y), {1.47119141f, 2.78125f, 4.08251953f, 6.71142578f, 8.02148438f, 9.32275391f, 11.91650391f,
                              13.2265625f, 14.52783203f},
              1e-4f);
  // A = -0.5 with exclude_outside, upsampling by 1.5 x 1.25.
  Tensor up = floats({4}, {1, 1, 1.5f, 1.25f});
  Tensor z = resize(x, &up, nullptr, {attr_string("mode", "cubic"), attr_float("cubic_coeff_a", -0.5f), attr_int("exclude_outside", 1)})[0];
  EXPECT_EQ(z.shape(), (Shape{1, 1, 6, 5}));
  std::vector<float> expected = {0.69357287f, 1.38492742f, 2.23684211f, 3.08875679f, 3.78011134f, 2.60378959f,
                                 3.29514414f, 4.14705882f, 4.99897351f, 5.69032805f, 5.62339744f, 6.31475198f,
                                 7.16666667f, 8.01858135f, 8.7099359f,  8.2900641f,  8.98141865f, 9.83333333f,
                                 10.68524802f, 11.37660256f, 11.30967195f, 12.00102649f, 12.85294118f, 13.70485586f,
                                 14.39621041f, 13.21988866f, 13.91124321f, 14.76315789f, 15.61507258f, 16.30642713f};
  expect_near(values_f32(z), expected, 1e-4f);
}

TEST(ShapeOps, ResizeTfCropAndResizeExtrapolates) {
  Tensor x = floats({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor roi = floats({8}, {0, 0, 0, 0, 1, 1, 2, 1});  // rows 0..2: half of the output is outside
  Tensor sizes = int64s({4}, {1, 1, 3, 1});
  ir::Node n = node_with("Resize", 4, 1, {attr_string("mode", "linear"), attr_string("coordinate_transformation_mode", "tf_crop_and_resize"),
                                          attr_float("extrapolation_value", -7)});
  Tensor y = run_op(n, {&x, &roi, nullptr, &sizes}, 13)[0];
  // Rows map to 0, 1, 2 (outside); the column maps to 0.5*(0+1)*(2-1) = 0.5.
  expect_near(values_f32(y), {1.5f, 3.5f, -7});
}

TEST(ShapeOps, ResizeAxesAndKeepAspectRatio) {
  Tensor x = floats({1, 2, 4}, iota_floats(8));
  Tensor sizes = int64s({2}, {4, 4});
  // not_larger: scale = min(4/2, 4/4) = 1 → shape unchanged along both axes.
  Tensor y = resize(x, nullptr, &sizes, {attr_ints("axes", {1, 2}), attr_string("keep_aspect_ratio_policy", "not_larger")}, 18)[0];
  EXPECT_EQ(y.shape(), (Shape{1, 2, 4}));
  EXPECT_EQ(values_f32(y), values_f32(x));
  // not_smaller: scale 2 → [1, 4, 8].
  Tensor z = resize(x, nullptr, &sizes, {attr_ints("axes", {-2, -1}), attr_string("keep_aspect_ratio_policy", "not_smaller")}, 18)[0];
  EXPECT_EQ(z.shape(), (Shape{1, 4, 8}));
  Tensor scales = floats({1}, {2});
  EXPECT_EQ(resize(x, &scales, nullptr, {attr_ints("axes", {2})}, 18)[0].shape(), (Shape{1, 2, 8}));
}

TEST(ShapeOps, ResizeAntialiasWidensTheFilterWhenDownscaling) {
  // Linear antialias at scale 1/2: each output averages a triangle over 4 inputs (weights
  // .25 .75 .75 .25 normalized), edge-clamped at the borders.
  Tensor x = floats({8}, iota_floats(8));
  Tensor scales = floats({1}, {0.5f});
  Tensor y = resize(x, &scales, nullptr, {attr_string("mode", "linear"), attr_int("antialias", 1)}, 18)[0];
  // Output i sits at input 2i + 0.5; taps 2i-1..2i+2 with weights 1,3,3,1 (/8).
  expect_near(values_f32(y), {(0 * 1 + 0 * 3 + 1 * 3 + 2 * 1) / 8.f, (1 + 2 * 3 + 3 * 3 + 4) / 8.f,
                              (3 + 4 * 3 + 5 * 3 + 6) / 8.f, (5 + 6 * 3 + 7 * 3 + 7) / 8.f});
  Tensor plain = resize(x, &scales, nullptr, {attr_string("mode", "linear")}, 18)[0];
  expect_near(values_f32(plain), {0.5f, 2.5f, 4.5f, 6.5f});
}

TEST(ShapeOps, ResizeOpset10AndUpsampleUseAsymmetricNearest) {
  Tensor x = floats({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor scales = floats({4}, {1, 1, 2, 3});
  std::vector<float> expected = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
  EXPECT_EQ(values_f32(run_op(make_node("Resize", 2, 1), {&x, &scales}, 10)[0]), expected);
  EXPECT_EQ(values_f32(run_op(make_node("Upsample", 2, 1), {&x, &scales}, 9)[0]), expected);
  ir::Node upsample7 = node_with("Upsample", 1, 1, {attr_floats("scales", {1, 1, 2, 3})});
  EXPECT_EQ(values_f32(run_op(upsample7, {&x}, 7)[0]), expected);
  // Linear upsample with asymmetric coordinates: x/2 clamped.
  Tensor v = floats({1, 2}, {1, 3});
  Tensor s2 = floats({2}, {1, 2});
  ir::Node linear = node_with("Upsample", 2, 1, {attr_string("mode", "linear")});
  expect_near(values_f32(run_op(linear, {&v, &s2}, 9)[0]), {1, 2, 3, 3});
}

TEST(ShapeOps, ResizeIsThreadCountIndependent) {
  std::vector<float> data(3 * 37 * 41);
  for (size_t i = 0; i < data.size(); ++i) data[i] = std::sin(static_cast<float>(i));
  Tensor x = floats({1, 3, 37, 41}, data);
  Tensor scales = floats({4}, {1, 1, 2.3f, 1.7f});
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    auto one = resize(x, &scales, nullptr, {attr_string("mode", mode)}, 13, 1)[0];
    auto four = resize(x, &scales, nullptr, {attr_string("mode", mode)}, 13, 4)[0];
    EXPECT_EQ(one, four) << mode;
  }
}

// ---- Trilu, CumSum, NonZero -----------------------------------------------------------------

TEST(ShapeOps, TriluUpperAndLowerWithK) {
  Tensor x = floats({3, 4}, iota_floats(12, 1));
  EXPECT_EQ(values_f32(run_op(make_node("Trilu", 1, 1), {&x})[0]),
            (std::vector<float>{1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12}));
  Tensor k = int64s({}, {-1});
  ir::Node lower = node_with("Trilu", 2, 1, {attr_int("upper", 0)});
  EXPECT_EQ(values_f32(run_op(lower, {&x, &k})[0]), (std::vector<float>{0, 0, 0, 0, 5, 0, 0, 0, 9, 10, 0, 0}));
  Tensor big = int64s({}, {100});
  EXPECT_EQ(values_f32(run_op(lower, {&x, &big})[0]), values_f32(x));
  Tensor ints = int64s({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(values_i64(run_op(make_node("Trilu", 1, 1), {&ints})[0]), (std::vector<int64_t>{1, 2, 0, 4, 5, 6, 0, 8}));
}

TEST(ShapeOps, CumSumExclusiveReverse) {
  Tensor x = floats({5}, {1, 2, 3, 4, 5});
  Tensor axis = int32s({}, {0});
  EXPECT_EQ(values_f32(run_op(make_node("CumSum", 2, 1), {&x, &axis})[0]), (std::vector<float>{1, 3, 6, 10, 15}));
  ir::Node both = node_with("CumSum", 2, 1, {attr_int("exclusive", 1), attr_int("reverse", 1)});
  EXPECT_EQ(values_f32(run_op(both, {&x, &axis})[0]), (std::vector<float>{14, 12, 9, 5, 0}));
  Tensor m = int64s({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor last = int64s({}, {-1});
  EXPECT_EQ(values_i64(run_op(make_node("CumSum", 2, 1), {&m, &last})[0]), (std::vector<int64_t>{1, 3, 6, 4, 9, 15}));
}

TEST(ShapeOps, NonZeroListsCoordinates) {
  Tensor x = floats({2, 2}, {1, 0, -0.f, 3});
  Tensor y = run_op(make_node("NonZero", 1, 1), {&x})[0];
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(values_i64(y), (std::vector<int64_t>{0, 1, 0, 1}));
  Tensor b = bools({3}, {0, 1, 1});
  EXPECT_EQ(values_i64(run_op(make_node("NonZero", 1, 1), {&b})[0]), (std::vector<int64_t>{1, 2}));
}

// ---- Scatter, OneHot, EyeLike ---------------------------------------------------------------

TEST(ShapeOps, ScatterNDReplacesAndReduces) {
  Tensor x = floats({8}, {1, 2, 3, 4, 5, 6, 7, 8});
  Tensor idx = int64s({4, 1}, {4, 3, 1, 7});
  Tensor up = floats({4}, {9, 10, 11, 12});
  EXPECT_EQ(values_f32(run_op(make_node("ScatterND", 3, 1), {&x, &idx, &up})[0]),
            (std::vector<float>{1, 11, 3, 10, 9, 6, 7, 12}));
  Tensor dup = int64s({2, 1}, {0, 0});
  Tensor up2 = floats({2}, {5, 6});
  EXPECT_EQ(values_f32(run_op(node_with("ScatterND", 3, 1, {attr_string("reduction", "add")}), {&x, &dup, &up2}, 16)[0])[0], 12.f);
  EXPECT_EQ(values_f32(run_op(node_with("ScatterND", 3, 1, {attr_string("reduction", "mul")}), {&x, &dup, &up2}, 16)[0])[0], 30.f);
  EXPECT_EQ(values_f32(run_op(node_with("ScatterND", 3, 1, {attr_string("reduction", "max")}), {&x, &dup, &up2}, 18)[0])[0], 6.f);
  // Whole rows: data [2, 2], index tuples of length 1.
  Tensor m = int64s({2, 2}, {1, 2, 3, 4});
  Tensor row = int64s({1, 1}, {-1});
  Tensor vals = int64s({1, 2}, {8, 9});
  EXPECT_EQ(values_i64(run_op(make_node("ScatterND", 3, 1), {&m, &row, &vals})[0]), (std::vector<int64_t>{1, 2, 8, 9}));
}

TEST(ShapeOps, ScatterElementsAlongAxis) {
  Tensor x = floats({1, 5}, {1, 2, 3, 4, 5});
  Tensor idx = int64s({1, 2}, {1, 3});
  Tensor up = floats({1, 2}, {1.1f, 2.1f});
  ir::Node n = node_with("ScatterElements", 3, 1, {attr_int("axis", 1)});
  EXPECT_EQ(values_f32(run_op(n, {&x, &idx, &up})[0]), (std::vector<float>{1, 1.1f, 3, 2.1f, 5}));
  Tensor dup = int64s({1, 2}, {1, 1});
  ir::Node add = node_with("ScatterElements", 3, 1, {attr_int("axis", 1), attr_string("reduction", "add")});
  EXPECT_FLOAT_EQ(values_f32(run_op(add, {&x, &dup, &up}, 16)[0])[1], 2 + 1.1f + 2.1f);
  Tensor neg = int64s({1, 1}, {-1});
  Tensor one = floats({1, 1}, {0});
  ir::Node old = node_with("Scatter", 3, 1, {attr_int("axis", 1)});
  EXPECT_EQ(values_f32(run_op(old, {&x, &neg, &one}, 10)[0]), (std::vector<float>{1, 2, 3, 4, 0}));
}

TEST(ShapeOps, OneHotAxisAndNegativeIndices) {
  Tensor idx = int64s({3}, {0, -1, 5});
  Tensor depth = floats({}, {3});
  Tensor values = floats({2}, {0, 1});
  Tensor y = run_op(make_node("OneHot", 3, 1), {&idx, &depth, &values})[0];
  EXPECT_EQ(y.shape(), (Shape{3, 3}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{1, 0, 0, 0, 0, 1, 0, 0, 0}));
  Tensor y0 = run_op(node_with("OneHot", 3, 1, {attr_int("axis", 0)}), {&idx, &depth, &values})[0];
  EXPECT_EQ(values_f32(y0), (std::vector<float>{1, 0, 0, 0, 0, 0, 0, 1, 0}));
  Tensor on_off = int64s({2}, {-1, 7});
  Tensor fidx = floats({1}, {1.9f});
  EXPECT_EQ(values_i64(run_op(make_node("OneHot", 3, 1), {&fidx, &depth, &on_off})[0]), (std::vector<int64_t>{-1, 7, -1}));
}

TEST(ShapeOps, EyeLikeDtypeAndK) {
  Tensor x = floats({3, 4}, iota_floats(12));
  Tensor y = run_op(node_with("EyeLike", 1, 1, {attr_int("k", 1)}), {&x})[0];
  EXPECT_EQ(values_f32(y), (std::vector<float>{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
  Tensor z = run_op(node_with("EyeLike", 1, 1, {attr_int("dtype", static_cast<int64_t>(DType::i64)), attr_int("k", -2)}), {&x})[0];
  EXPECT_EQ(values_i64(z), (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}));
}

TEST(ShapeOps, BadInputsFailWithoutCrashing) {
  Tensor x = floats({2, 2}, {1, 2, 3, 4});
  Tensor s = Tensor::from_strings({2}, {"a", "b"});
  EXPECT_THROW(run_op(make_node("Concat", 2, 1), {&s, &s}), Error);  // strings: unsupported
  EXPECT_THROW(run_op(make_node("Reshape", 2, 1), {&x, nullptr}), Error);
  Tensor bad_axes = int64s({1}, {5});
  EXPECT_THROW(run_op(make_node("Unsqueeze", 2, 1), {&x, &bad_axes}, 13), Error);
  Tensor idx = int64s({1, 1}, {9});
  Tensor up = floats({1}, {0});
  EXPECT_THROW(run_op(make_node("ScatterND", 3, 1), {&x, &idx, &up}), Error);
}

}  // namespace
}  // namespace mcompress::test
