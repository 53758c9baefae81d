// Kernel tests for element-wise ops: broadcasting, dtypes, attribute variants.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "mcompress/support/error.h"
#include "support/op_runner.h"

namespace mcompress::test {
namespace {

TEST(Elementwise, AddBroadcastsLikeNumpy) {
  Tensor a = floats({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = floats({3}, {10, 20, 30});
  Tensor c = floats({2, 1}, {100, 200});
  auto ab = run_op(make_node("Add", 2, 1), {&a, &b});
  EXPECT_EQ(ab[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(values_f32(ab[0]), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  auto bc = run_op(make_node("Add", 2, 1), {&b, &c});
  EXPECT_EQ(bc[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(values_f32(bc[0]), (std::vector<float>{110, 120, 130, 210, 220, 230}));
  Tensor bad = floats({2}, {1, 2});
  EXPECT_THROW(run_op(make_node("Add", 2, 1), {&a, &bad}), Error);
}

TEST(Elementwise, RowBroadcastOnEitherSideKeepsOperandOrder) {
  // A block repeated along the rows of the other operand (a bias vector, a position table with
  // leading 1s) runs row by row; Sub shows the operands stay in order on both sides.
  Tensor a = floats({2, 2, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Tensor row = floats({1, 2, 3}, {10, 20, 30, 40, 50, 60});
  auto left = run_op(make_node("Sub", 2, 1), {&a, &row});
  EXPECT_EQ(values_f32(left[0]), (std::vector<float>{-9, -18, -27, -36, -45, -54, -3, -12, -21, -30, -39, -48}));
  auto right = run_op(make_node("Sub", 2, 1), {&row, &a});
  EXPECT_EQ(values_f32(right[0]), (std::vector<float>{9, 18, 27, 36, 45, 54, 3, 12, 21, 30, 39, 48}));
  Tensor scalar = floats({1, 1}, {1});
  auto one_minus = run_op(make_node("Sub", 2, 1), {&scalar, &a});
  EXPECT_EQ(one_minus[0].shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(values_f32(one_minus[0])[11], -11.f);
}

TEST(Elementwise, IntegerDivTruncatesAndModFollowsDivisor) {
  Tensor a = int64s({4}, {7, -7, 7, -7});
  Tensor b = int64s({4}, {2, 2, -2, -2});
  EXPECT_EQ(values_i64(run_op(make_node("Div", 2, 1), {&a, &b})[0]), (std::vector<int64_t>{3, -3, -3, 3}));
  EXPECT_EQ(values_i64(run_op(make_node("Mod", 2, 1), {&a, &b})[0]), (std::vector<int64_t>{1, 1, -1, -1}));
  ir::Node fmod = make_node("Mod", 2, 1);
  fmod.attributes.push_back(attr_int("fmod", 1));
  Tensor fa = floats({2}, {-7.5f, 7.5f});
  Tensor fb = floats({2}, {2, -2});
  EXPECT_EQ(values_f32(run_op(fmod, {&fa, &fb})[0]), (std::vector<float>{-1.5f, 1.5f}));
}

TEST(Elementwise, ActivationsMatchTheirFormulas) {
  Tensor x = floats({5}, {-3, -0.5f, 0, 0.5f, 3});
  auto hs = values_f32(run_op(make_node("HardSwish", 1, 1), {&x})[0]);
  for (size_t i = 0; i < 5; ++i) {
    float v = values_f32(x)[i];
    EXPECT_FLOAT_EQ(hs[i], v * std::max(0.f, std::min(1.f, v / 6 + 0.5f)));
  }
  ir::Node leaky = make_node("LeakyRelu", 1, 1);
  leaky.attributes.push_back(attr_float("alpha", 0.1f));
  EXPECT_EQ(values_f32(run_op(leaky, {&x})[0]), (std::vector<float>{-0.3f, -0.05f, 0, 0.5f, 3}));
  auto sig = values_f32(run_op(make_node("Sigmoid", 1, 1), {&x})[0]);
  EXPECT_NEAR(sig[0], 1 / (1 + std::exp(3.f)), 1e-7);
  EXPECT_FLOAT_EQ(sig[2], 0.5f);
  auto erf = values_f32(run_op(make_node("Erf", 1, 1), {&x})[0]);
  EXPECT_NEAR(erf[4], 0.99997791f, 2.5e-7);  // vectorized erf: within 2 ulp
}

TEST(Elementwise, WhereAndCompare) {
  Tensor a = floats({3}, {1, 5, 3});
  Tensor b = floats({3}, {2, 2, 3});
  auto gt = run_op(make_node("Greater", 2, 1), {&a, &b})[0];
  EXPECT_EQ(gt.dtype(), DType::boolean);
  EXPECT_EQ(std::vector<uint8_t>(gt.data<uint8_t>(), gt.data<uint8_t>() + 3), (std::vector<uint8_t>{0, 1, 0}));
  auto w = run_op(make_node("Where", 3, 1), {&gt, &a, &b})[0];
  EXPECT_EQ(values_f32(w), (std::vector<float>{2, 5, 3}));
}

TEST(Elementwise, CastRoundsTowardZeroAndHandlesHalf) {
  Tensor x = floats({3}, {1.9f, -1.9f, 65504.f});
  ir::Node to_i64 = make_node("Cast", 1, 1);
  to_i64.attributes.push_back(attr_int("to", static_cast<int64_t>(DType::i64)));
  EXPECT_EQ(values_i64(run_op(to_i64, {&x})[0]), (std::vector<int64_t>{1, -1, 65504}));
  ir::Node to_f16 = make_node("Cast", 1, 1);
  to_f16.attributes.push_back(attr_int("to", static_cast<int64_t>(DType::f16)));
  Tensor h = run_op(to_f16, {&x})[0];
  EXPECT_EQ(element_as_double(h, 2), 65504.0);
  EXPECT_EQ(element_as_double(h, 0), 1.900390625);  // nearest float16
}

TEST(Elementwise, ClipUsesInputsFromOpset11AndAttributesBefore) {
  Tensor x = floats({3}, {-2, 0.5f, 2});
  Tensor lo = floats({}, {-1});
  Tensor hi = floats({}, {1});
  EXPECT_EQ(values_f32(run_op(make_node("Clip", 3, 1), {&x, &lo, &hi}, 13)[0]), (std::vector<float>{-1, 0.5f, 1}));
  EXPECT_EQ(values_f32(run_op(make_node("Clip", 3, 1), {&x, nullptr, &hi}, 13)[0]), (std::vector<float>{-2, 0.5f, 1}));
  ir::Node old = make_node("Clip", 1, 1);
  old.attributes.push_back(attr_float("min", 0));
  old.attributes.push_back(attr_float("max", 1));
  EXPECT_EQ(values_f32(run_op(old, {&x}, 6)[0]), (std::vector<float>{0, 0.5f, 1}));
}

TEST(Elementwise, VariadicMaxAndMean) {
  Tensor a = floats({2}, {1, 4});
  Tensor b = floats({2}, {3, 2});
  Tensor c = floats({1}, {2});
  EXPECT_EQ(values_f32(run_op(make_node("Max", 3, 1), {&a, &b, &c})[0]), (std::vector<float>{3, 4}));
  EXPECT_EQ(values_f32(run_op(make_node("Mean", 3, 1), {&a, &b, &c})[0]), (std::vector<float>{2, 8.f / 3}));
}

TEST(Elementwise, MaxAndMinPropagateNaN) {
  float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor a = floats({3}, {nan, 1, 5});
  Tensor b = floats({3}, {2, nan, 3});
  Tensor c = floats({3}, {0, 9, 4});
  auto mx = values_f32(run_op(make_node("Max", 3, 1), {&a, &b, &c})[0]);
  auto mn = values_f32(run_op(make_node("Min", 3, 1), {&a, &b, &c})[0]);
  EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mx[1]));
  EXPECT_TRUE(std::isnan(mn[0]) && std::isnan(mn[1]));
  EXPECT_EQ(mx[2], 5);
  EXPECT_EQ(mn[2], 3);
}

TEST(Elementwise, ResultsDoNotDependOnThreadCount) {
  std::vector<float> values(100000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(static_cast<float>(i));
  Tensor x = floats({100, 1000}, values);
  Tensor one = run_op(make_node("Tanh", 1, 1), {&x}, 17, 1)[0];
  Tensor four = run_op(make_node("Tanh", 1, 1), {&x}, 17, 4)[0];
  EXPECT_TRUE(one == four);
}

}  // namespace
}  // namespace mcompress::test
