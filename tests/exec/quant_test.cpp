// Kernel tests for the quant ops: each op against reference values worked out by hand or by
// ONNX's reference implementation, across the attribute variants the ONNX spec defines. The
// integer GEMM/convolution kernels are also checked against scalar `_ref` loops on random data,
// spanning several output tiles and run on several threads.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "mcompress/support/error.h"
#include "support/op_runner.h"

namespace mcompress::test {
namespace {

constexpr float kFloatTol = 1e-5f;

template <typename T>
Tensor typed(DType dtype, Shape shape, std::vector<T> values) {
  return Tensor::from_values<T>(dtype, std::move(shape), values);
}

Tensor u8s(Shape shape, std::vector<uint8_t> v) { return typed<uint8_t>(DType::u8, std::move(shape), std::move(v)); }
Tensor i8s(Shape shape, std::vector<int8_t> v) { return typed<int8_t>(DType::i8, std::move(shape), std::move(v)); }
Tensor i32s(Shape shape, std::vector<int32_t> v) { return typed<int32_t>(DType::i32, std::move(shape), std::move(v)); }

std::vector<double> numbers(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(element_as_double(t, i));
  return v;
}

template <typename T>
std::vector<T> random_values(size_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(dist(rng));
  return v;
}

// ---- QuantizeLinear / DequantizeLinear ---------------------------------------------------

TEST(QuantOps, QuantizeRoundsHalfToEvenAndSaturates) {
  Tensor x = floats({8}, {0, 2, 3, 5, 7, 1000, -1000, -3});
  Tensor scale = floats({}, {2});
  Tensor zp = u8s({}, {128});
  Tensor y = run_op(make_node("QuantizeLinear", 3, 1), {&x, &scale, &zp}, 13)[0];
  ASSERT_EQ(y.dtype(), DType::u8);
  // x / 2 = 0, 1, 1.5, 2.5, 3.5, 500, -500, -1.5 → 0, 1, 2, 2, 4, sat, sat, -2.
  EXPECT_EQ(numbers(y), (std::vector<double>{128, 129, 130, 130, 132, 255, 0, 126}));
  // No zero point: uint8 with zero point 0.
  Tensor y2 = run_op(make_node("QuantizeLinear", 2, 1), {&x, &scale}, 13)[0];
  EXPECT_EQ(numbers(y2), (std::vector<double>{0, 1, 2, 2, 4, 255, 0, 0}));
}

TEST(QuantOps, QuantizeSendsNanToTheBottomAsOnnxRuntimeDoes) {
  Tensor x = floats({3}, {std::nanf(""), INFINITY, -INFINITY});
  Tensor scale = floats({}, {0.1f});
  Tensor zp = i8s({}, {-5});
  Tensor y = run_op(make_node("QuantizeLinear", 3, 1), {&x, &scale, &zp}, 13)[0];
  EXPECT_EQ(numbers(y), (std::vector<double>{-128, 127, -128}));
}

TEST(QuantOps, QuantizePerAxisInt8AndInt16) {
  Tensor x = floats({2, 3}, {1, 2, 3, -4, -5, 300});
  Tensor scale = floats({3}, {1, 2, 4});
  Tensor zp = i8s({3}, {0, 1, -1});
  ir::Node node = make_node("QuantizeLinear", 3, 1);
  node.attributes.push_back(attr_int("axis", 1));
  Tensor y = run_op(node, {&x, &scale, &zp}, 13)[0];
  ASSERT_EQ(y.dtype(), DType::i8);
  // 1/1+0, 2/2+1, 3/4=0.75→1, -1=-4, -2.5→-2+1=-1, 75-1=74.
  EXPECT_EQ(numbers(y), (std::vector<double>{1, 2, 0, -4, -1, 74}));
  Tensor zp16 = typed<int16_t>(DType::i16, {3}, {0, 0, 30000});
  Tensor y16 = run_op(node, {&x, &scale, &zp16}, 21)[0];
  ASSERT_EQ(y16.dtype(), DType::i16);
  EXPECT_EQ(numbers(y16), (std::vector<double>{1, 1, 30001, -4, -2, 30075}));
  Tensor bad = floats({2}, {1, 2});
  EXPECT_THROW(run_op(node, {&x, &bad}, 13), Error);
}

TEST(QuantOps, QuantizeInt4PacksLowNibbleFirst) {
  Tensor x = floats({5}, {-9, -8, 7, 8, 1});
  Tensor scale = floats({}, {1});
  Tensor zp(DType::i4, {});
  Tensor y = run_op(make_node("QuantizeLinear", 3, 1), {&x, &scale, &zp}, 21)[0];
  ASSERT_EQ(y.dtype(), DType::i4);
  EXPECT_EQ(numbers(y), (std::vector<double>{-8, -8, 7, 7, 1}));
  ASSERT_EQ(y.nbytes(), 3);
  EXPECT_EQ(static_cast<uint8_t>(y.storage()[0]), 0x88);
  EXPECT_EQ(static_cast<uint8_t>(y.storage()[1]), 0x77);
  EXPECT_EQ(static_cast<uint8_t>(y.storage()[2]), 0x01);
  // output_dtype (opset 21) picks the type when there is no zero point.
  ir::Node node = make_node("QuantizeLinear", 2, 1);
  node.attributes.push_back(attr_int("output_dtype", static_cast<int64_t>(DType::u4)));
  Tensor u = run_op(node, {&x, &scale}, 21)[0];
  ASSERT_EQ(u.dtype(), DType::u4);
  EXPECT_EQ(numbers(u), (std::vector<double>{0, 0, 7, 8, 1}));
}

TEST(QuantOps, DequantizeUint4WithZeroPoint) {
  Tensor x(DType::u4, {4});
  x.storage()[0] = static_cast<char>(0x21);
  x.storage()[1] = static_cast<char>(0xF3);
  Tensor scale = floats({}, {0.5f});
  Tensor zp(DType::u4, {});
  set_nibble(zp, 0, 1);
  Tensor y = run_op(make_node("DequantizeLinear", 3, 1), {&x, &scale, &zp}, 21)[0];
  EXPECT_EQ(values_f32(y), (std::vector<float>{0, 0.5f, 1, 7}));
}

TEST(QuantOps, DequantizePerAxisAndInt32) {
  Tensor x = u8s({2, 2, 2}, {0, 10, 20, 30, 40, 50, 60, 70});
  Tensor scale = floats({2}, {1, 0.5f});
  Tensor zp = u8s({2}, {10, 20});
  ir::Node node = make_node("DequantizeLinear", 3, 1);
  node.attributes.push_back(attr_int("axis", 1));
  Tensor y = run_op(node, {&x, &scale, &zp}, 13)[0];
  EXPECT_EQ(values_f32(y), (std::vector<float>{-10, 0, 0, 5, 30, 40, 20, 25}));
  Tensor b = i32s({3}, {-7, 0, 1 << 30});
  Tensor s = floats({}, {0.25f});
  Tensor yb = run_op(make_node("DequantizeLinear", 2, 1), {&b, &s}, 13)[0];
  EXPECT_EQ(values_f32(yb), (std::vector<float>{-1.75f, 0, static_cast<float>(1 << 28)}));
}

TEST(QuantOps, DequantizeBlockedUsesOneScalePerBlock) {
  // x [2, 5], blocks of 2 along axis 1 → scale [2, 3] (the last block is short).
  Tensor x = i8s({2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  Tensor scale = floats({2, 3}, {1, 10, 100, 2, 20, 200});
  Tensor zp = i8s({2, 3}, {0, 1, 2, 0, 0, 10});
  ir::Node node = make_node("DequantizeLinear", 3, 1);
  node.attributes.push_back(attr_int("axis", 1));
  node.attributes.push_back(attr_int("block_size", 2));
  Tensor y = run_op(node, {&x, &scale, &zp}, 21)[0];
  EXPECT_EQ(values_f32(y), (std::vector<float>{1, 2, 20, 30, 300, 12, 14, 160, 180, 0}));
  // Blocked quantize inverts it.
  ir::Node q = make_node("QuantizeLinear", 3, 1);
  q.attributes = node.attributes;
  Tensor back = run_op(q, {&y, &scale, &zp}, 21)[0];
  EXPECT_EQ(numbers(back), numbers(x));
  // A scale that does not have ceil(5 / 2) = 3 blocks is rejected.
  Tensor bad = floats({2, 2}, {1, 1, 1, 1});
  EXPECT_THROW(run_op(node, {&x, &bad}, 21), Error);
}

TEST(QuantOps, DynamicQuantizeLinearMatchesOnnxExample) {
  Tensor x = floats({6}, {0, 2, -3, -2.5f, 1.34f, 0.5f});
  auto out = run_op(make_node("DynamicQuantizeLinear", 1, 3), {&x});
  EXPECT_EQ(numbers(out[0]), (std::vector<double>{153, 255, 0, 26, 221, 179}));
  EXPECT_FLOAT_EQ(values_f32(out[1])[0], 0.019607844f);
  EXPECT_EQ(numbers(out[2]), (std::vector<double>{153}));
  // All-positive input: the range still includes 0, so the zero point is 0.
  Tensor pos = floats({3}, {1, 2, 2.55f});
  auto p = run_op(make_node("DynamicQuantizeLinear", 1, 3), {&pos});
  EXPECT_EQ(numbers(p[2]), (std::vector<double>{0}));
  EXPECT_EQ(numbers(p[0]), (std::vector<double>{100, 200, 255}));
  Tensor zeros = floats({2}, {0, 0});
  auto z = run_op(make_node("DynamicQuantizeLinear", 1, 3), {&zeros});
  EXPECT_EQ(numbers(z[0]), (std::vector<double>{0, 0}));
}

// ---- MatMulInteger / QLinearMatMul -------------------------------------------------------

// Scalar reference: C = (A - za[row]) @ (B - zb[col]) for 2-D operands.
std::vector<int32_t> matmul_ref(const std::vector<int32_t>& a, const std::vector<int32_t>& b, int64_t M, int64_t K,
                                int64_t N, const std::vector<int32_t>& za, const std::vector<int32_t>& zb) {
  std::vector<int32_t> c(static_cast<size_t>(M * N), 0);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      int32_t s = 0;
      for (int64_t k = 0; k < K; ++k)
        s += (a[m * K + k] - za[za.size() == 1 ? 0 : m]) * (b[k * N + n] - zb[zb.size() == 1 ? 0 : n]);
      c[m * N + n] = s;
    }
  return c;
}

template <typename T>
std::vector<int32_t> ints(const std::vector<T>& v) {
  return std::vector<int32_t>(v.begin(), v.end());
}

TEST(QuantOps, MatMulIntegerPerRowAndColumnZeroPoints) {
  Tensor a = u8s({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = u8s({3, 2}, {7, 8, 9, 10, 11, 12});
  Tensor za = u8s({2}, {1, 4});
  Tensor zb = u8s({2}, {7, 12});
  Tensor c = run_op(make_node("MatMulInteger", 4, 1), {&a, &b, &za, &zb})[0];
  ASSERT_EQ(c.dtype(), DType::i32);
  // Rows (0,1,2), (0,1,2); columns (0,2,4), (-4,-2,0): 10, -2 for both rows.
  EXPECT_EQ(numbers(c), (std::vector<double>{10, -2, 10, -2}));
  Tensor plain = run_op(make_node("MatMulInteger", 2, 1), {&a, &b})[0];
  EXPECT_EQ(numbers(plain), (std::vector<double>{58, 64, 139, 154}));
}

TEST(QuantOps, MatMulIntegerBatchedMatchesReferenceOnManyTiles) {
  const int64_t M = 70, K = 33, N = 300;
  auto av = random_values<int8_t>(2 * M * K, -128, 127, 1);
  auto bv = random_values<uint8_t>(K * N, 0, 255, 2);
  Tensor a = typed<int8_t>(DType::i8, {2, M, K}, av);
  Tensor b = u8s({K, N}, bv);
  Tensor za = i8s({}, {-3});
  Tensor zb = u8s({N}, random_values<uint8_t>(N, 0, 255, 3));
  for (int threads : {1, 3}) {
    Tensor c = run_op(make_node("MatMulInteger", 4, 1), {&a, &b, &za, &zb}, 13, threads)[0];
    ASSERT_EQ(c.shape(), (Shape{2, M, N}));
    std::vector<int32_t> zbv = ints(std::vector<uint8_t>(zb.data<uint8_t>(), zb.data<uint8_t>() + N));
    for (int64_t batch = 0; batch < 2; ++batch) {
      std::vector<int32_t> a_batch(av.begin() + batch * M * K, av.begin() + (batch + 1) * M * K);
      auto ref = matmul_ref(a_batch, ints(bv), M, K, N, {-3}, zbv);
      std::vector<int32_t> got(c.data<int32_t>() + batch * M * N, c.data<int32_t>() + (batch + 1) * M * N);
      ASSERT_EQ(got, ref) << "batch " << batch << ", threads " << threads;
    }
  }
  // 1-D A drops the row dimension.
  Tensor v = u8s({3}, {1, 0, 2});
  Tensor m = u8s({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor r = run_op(make_node("MatMulInteger", 2, 1), {&v, &m})[0];
  EXPECT_EQ(r.shape(), (Shape{2}));
  EXPECT_EQ(numbers(r), (std::vector<double>{11, 14}));
}

// Sums far past 2^24 (the float GEMM is exact only below it, so K is cut into chunks) still come
// out as exact integers.
TEST(QuantOps, MatMulIntegerIsExactForLongExtremeSums) {
  const int64_t M = 3, K = 1500, N = 5;
  std::vector<uint8_t> av(M * K);
  std::vector<int8_t> bv(K * N);
  auto coin = random_values<uint8_t>(M * K + K * N, 0, 1, 4);
  for (size_t i = 0; i < av.size(); ++i) av[i] = coin[i] ? 255 : 253;  // odd products: no spare low bits
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = coin[av.size() + i] ? -127 : 125;
  for (int64_t k = 0; k < K; ++k) bv[k * N] = -127;  // column 0: |sum| near 4.8e7
  Tensor a = u8s({M, K}, av);
  Tensor b = typed<int8_t>(DType::i8, {K, N}, bv);
  Tensor c = run_op(make_node("MatMulInteger", 2, 1), {&a, &b}, 13, 2)[0];
  auto ref = matmul_ref(ints(av), ints(bv), M, K, N, {0}, {0});
  EXPECT_EQ(std::vector<int32_t>(c.data<int32_t>(), c.data<int32_t>() + c.numel()), ref);
  EXPECT_LT(ref[0], -(1 << 24));
}

TEST(QuantOps, QLinearMatMulMatchesOnnxExample) {
  // ONNX's QLinearMatMul example (2-D).
  Tensor a = u8s({2, 4}, {208, 236, 0, 238, 3, 214, 255, 29});
  Tensor a_scale = floats({}, {0.0066f});
  Tensor a_zp = u8s({}, {113});
  Tensor b = u8s({4, 3}, {152, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247});
  Tensor b_scale = floats({}, {0.00705f});
  Tensor b_zp = u8s({}, {114});
  Tensor y_scale = floats({}, {0.0107f});
  Tensor y_zp = u8s({}, {118});
  Tensor y = run_op(make_node("QLinearMatMul", 8, 1), {&a, &a_scale, &a_zp, &b, &b_scale, &b_zp, &y_scale, &y_zp})[0];
  ASSERT_EQ(y.dtype(), DType::u8);
  EXPECT_EQ(numbers(y), (std::vector<double>{168, 115, 255, 1, 66, 151}));
}

// ---- ConvInteger / QLinearConv -----------------------------------------------------------

struct ConvCase {
  int64_t n, c, h, w, m, kh, kw, group;
  std::vector<int64_t> pads, strides, dilations;
};

// Scalar reference: NCHW convolution of (x - zx) and (w - zw[m]), padding reading as zx.
std::vector<int32_t> conv_ref(const ConvCase& k, const std::vector<int32_t>& x, int32_t zx,
                              const std::vector<int32_t>& w, const std::vector<int32_t>& zw, int64_t oh, int64_t ow) {
  std::vector<int32_t> y(static_cast<size_t>(k.n * k.m * oh * ow), 0);
  int64_t cg = k.c / k.group, mg = k.m / k.group;
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t m = 0; m < k.m; ++m)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          int32_t s = 0;
          int64_t g = m / mg;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t a = 0; a < k.kh; ++a)
              for (int64_t b = 0; b < k.kw; ++b) {
                int64_t r = i * k.strides[0] - k.pads[0] + a * k.dilations[0];
                int64_t q = j * k.strides[1] - k.pads[1] + b * k.dilations[1];
                if (r < 0 || r >= k.h || q < 0 || q >= k.w) continue;
                int32_t xv = x[((n * k.c + g * cg + c) * k.h + r) * k.w + q] - zx;
                int32_t wv = w[((m * cg + c) * k.kh + a) * k.kw + b] - zw[zw.size() == 1 ? 0 : m];
                s += xv * wv;
              }
          y[((n * k.m + m) * oh + i) * ow + j] = s;
        }
  return y;
}

TEST(QuantOps, ConvIntegerMatchesReference) {
  std::vector<ConvCase> cases = {
      {1, 1, 5, 5, 2, 3, 3, 1, {1, 1, 1, 1}, {1, 1}, {1, 1}},  {2, 4, 9, 7, 6, 3, 2, 2, {2, 0, 1, 1}, {2, 1}, {1, 2}},
      {1, 3, 8, 8, 4, 4, 4, 1, {0, 0, 0, 0}, {4, 4}, {1, 1}},  {1, 8, 6, 6, 16, 1, 1, 1, {0, 0, 0, 0}, {1, 1}, {1, 1}},
      {1, 70, 5, 5, 3, 3, 3, 1, {1, 1, 1, 1}, {1, 1}, {1, 1}},  // depth 630: chunked exact sums
  };
  uint32_t seed = 10;
  for (const ConvCase& k : cases) {
    auto xv = random_values<uint8_t>(k.n * k.c * k.h * k.w, 0, 255, seed++);
    auto wv = random_values<int8_t>(k.m * (k.c / k.group) * k.kh * k.kw, -128, 127, seed++);
    auto zwv = random_values<int8_t>(k.m, -5, 5, seed++);
    Tensor x = u8s({k.n, k.c, k.h, k.w}, xv);
    Tensor w = typed<int8_t>(DType::i8, {k.m, k.c / k.group, k.kh, k.kw}, wv);
    Tensor zx = u8s({}, {17});
    Tensor zw = typed<int8_t>(DType::i8, {k.m}, zwv);
    ir::Node node = make_node("ConvInteger", 4, 1);
    node.attributes.push_back(attr_ints("pads", k.pads));
    node.attributes.push_back(attr_ints("strides", k.strides));
    node.attributes.push_back(attr_ints("dilations", k.dilations));
    node.attributes.push_back(attr_int("group", k.group));
    int64_t oh = (k.h + k.pads[0] + k.pads[2] - k.dilations[0] * (k.kh - 1) - 1) / k.strides[0] + 1;
    int64_t ow = (k.w + k.pads[1] + k.pads[3] - k.dilations[1] * (k.kw - 1) - 1) / k.strides[1] + 1;
    auto ref = conv_ref(k, ints(xv), 17, ints(wv), ints(zwv), oh, ow);
    for (int threads : {1, 2}) {
      Tensor y = run_op(node, {&x, &w, &zx, &zw}, 10, threads)[0];
      ASSERT_EQ(y.shape(), (Shape{k.n, k.m, oh, ow}));
      EXPECT_EQ(std::vector<int32_t>(y.data<int32_t>(), y.data<int32_t>() + y.numel()), ref);
    }
  }
}

TEST(QuantOps, ConvIntegerAutoPadSameUpper) {
  Tensor x = u8s({1, 1, 3, 3}, {2, 3, 4, 5, 6, 7, 8, 9, 10});
  Tensor w = u8s({1, 1, 2, 2}, {1, 1, 1, 1});
  Tensor zx = u8s({}, {1});
  ir::Node node = make_node("ConvInteger", 3, 1);
  node.attributes.push_back(attr_string("auto_pad", "SAME_UPPER"));
  Tensor y = run_op(node, {&x, &w, &zx}, 10)[0];
  ASSERT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  // Centered input 1..9; padding at the bottom/right reads as the zero point.
  EXPECT_EQ(numbers(y), (std::vector<double>{12, 16, 9, 24, 28, 15, 15, 17, 9}));
}

TEST(QuantOps, QLinearConvPerChannelWithBias) {
  Tensor x = u8s({1, 1, 2, 2}, {10, 20, 30, 40});
  Tensor x_scale = floats({}, {0.5f});
  Tensor x_zp = u8s({}, {10});
  Tensor w = i8s({2, 1, 1, 1}, {2, -3});
  Tensor w_scale = floats({2}, {1, 0.25f});
  Tensor w_zp = i8s({2}, {0, 0});
  Tensor y_scale = floats({}, {2});
  Tensor y_zp = i8s({}, {-10});
  Tensor bias = i32s({2}, {4, 8});
  Tensor y =
      run_op(make_node("QLinearConv", 9, 1), {&x, &x_scale, &x_zp, &w, &w_scale, &w_zp, &y_scale, &y_zp, &bias})[0];
  ASSERT_EQ(y.dtype(), DType::i8);
  // Channel 0: (x-10)*2 + 4 = 4, 24, 44, 64; * 0.5*1/2 → 1, 6, 11, 16; -10 → -9, -4, 1, 6.
  // Channel 1: (x-10)*-3 + 8 = 8, -22, -52, -82; * 0.5*0.25/2 = 0.0625 → 0.5, -1.375, -3.25, -5.125
  //            → 0 (half to even), -1, -3, -5; -10 → -10, -11, -13, -15.
  EXPECT_EQ(numbers(y), (std::vector<double>{-9, -4, 1, 6, -10, -11, -13, -15}));
}

// ---- MatMulNBits ---------------------------------------------------------------------------

// Packs 4-bit codes [N, K] into MatMulNBits' B [N, n_blocks, block/2], low nibble first.
std::vector<uint8_t> pack_b4(const std::vector<int>& codes, int64_t N, int64_t K, int64_t block) {
  int64_t n_blocks = (K + block - 1) / block, blob = block / 2;
  std::vector<uint8_t> b(static_cast<size_t>(N * n_blocks * blob), 0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      int64_t j = k / block, w = k % block;
      b[(n * n_blocks + j) * blob + w / 2] |= static_cast<uint8_t>(codes[n * K + k] << (4 * (w % 2)));
    }
  return b;
}

TEST(QuantOps, MatMulNBitsDequantizesBlocksAndAddsBias) {
  const int64_t M = 3, K = 20, N = 2, block = 16;  // two blocks, the second one short
  auto codes_u8 = random_values<uint8_t>(N * K, 0, 15, 7);
  std::vector<int> codes(codes_u8.begin(), codes_u8.end());
  std::vector<float> av(M * K);
  for (size_t i = 0; i < av.size(); ++i) av[i] = static_cast<float>(i % 7) - 3.f;
  Tensor a = floats({M, K}, av);
  Tensor b = u8s({N, 2, block / 2}, pack_b4(codes, N, K, block));
  Tensor scales = floats({N * 2}, {0.5f, 0.25f, 2.f, 1.f});
  // Packed zero points: one byte per column holds both blocks' (3, 9) and (12, 0).
  Tensor zps = u8s({N}, {0x93, 0x0C});
  Tensor bias = floats({N}, {1.f, -1.f});
  ir::Node node = make_node("MatMulNBits", 6, 1, "com.microsoft");
  node.attributes.push_back(attr_int("K", K));
  node.attributes.push_back(attr_int("N", N));
  node.attributes.push_back(attr_int("bits", 4));
  node.attributes.push_back(attr_int("block_size", block));
  Tensor y = run_op(node, {&a, &b, &scales, &zps, nullptr, &bias}, 1, 2)[0];
  ASSERT_EQ(y.shape(), (Shape{M, N}));
  const int zp[2][2] = {{3, 9}, {12, 0}};
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float s = n == 0 ? 1.f : -1.f;
      for (int64_t k = 0; k < K; ++k) {
        int64_t j = k / block;
        s += av[m * K + k] * static_cast<float>(codes[n * K + k] - zp[n][j]) * scales.data<float>()[n * 2 + j];
      }
      EXPECT_NEAR(values_f32(y)[m * N + n], s, kFloatTol * (1 + std::abs(s))) << m << "," << n;
    }
  // Without zero points the default is 8.
  Tensor y8 = run_op(node, {&a, &b, &scales}, 1)[0];
  float s = 0;
  for (int64_t k = 0; k < K; ++k) s += av[k] * static_cast<float>(codes[k] - 8) * scales.data<float>()[k / block];
  EXPECT_NEAR(values_f32(y8)[0], s, kFloatTol * (1 + std::abs(s)));
  Tensor short_a = floats({1, K - 1}, std::vector<float>(K - 1, 0.f));
  EXPECT_THROW(run_op(node, {&short_a, &b, &scales}, 1), Error);
}

// ---- com.microsoft MatMulIntegerToFloat / DynamicQuantizeMatMul / QGemm --------------------

TEST(QuantOps, MatMulIntegerToFloatPerColumnWithBias) {
  Tensor a = u8s({2, 3}, {10, 12, 14, 0, 255, 128});
  Tensor b = i8s({3, 2}, {1, -2, 3, 4, -5, 6});
  Tensor a_scale = floats({}, {0.5f});
  Tensor b_scale = floats({2}, {0.25f, 2.f});
  Tensor a_zp = u8s({}, {10});
  Tensor b_zp = i8s({2}, {1, -2});
  Tensor bias = floats({2}, {1.f, -1.f});
  ir::Node node = make_node("MatMulIntegerToFloat", 7, 1, "com.microsoft");
  Tensor y = run_op(node, {&a, &b, &a_scale, &b_scale, &a_zp, &b_zp, &bias}, 1)[0];
  ASSERT_EQ(y.dtype(), DType::f32);
  ASSERT_EQ(y.shape(), (Shape{2, 2}));
  // A - 10 = [[0,2,4],[-10,245,118]]; B - [1,-2] = [[0,2],[2,6],[-6,8]]: acc [[-20,44],[-218,2414]],
  // times 0.5 * [0.25, 2], plus [1, -1].
  EXPECT_EQ(values_f32(y), (std::vector<float>{-1.5f, 43.f, -26.25f, 2413.f}));
  // Per-tensor scale, no zero points, no bias: acc [[-24,112],[125,1788]] * 0.125.
  Tensor b_scale1 = floats({1}, {0.25f});
  Tensor y2 = run_op(make_node("MatMulIntegerToFloat", 4, 1, "com.microsoft"), {&a, &b, &a_scale, &b_scale1}, 1)[0];
  EXPECT_EQ(values_f32(y2), (std::vector<float>{-3.f, 14.f, 15.625f, 223.5f}));
  Tensor bad_bias = floats({3}, {0, 0, 0});
  EXPECT_THROW(run_op(node, {&a, &b, &a_scale, &b_scale, &a_zp, &b_zp, &bad_bias}, 1), Error);
  Tensor bad_scale = floats({3}, {1, 1, 1});
  EXPECT_THROW(run_op(node, {&a, &b, &a_scale, &bad_scale, &a_zp, &b_zp}, 1), Error);
}

TEST(QuantOps, DynamicQuantizeMatMulQuantizesAToUint8) {
  // A's range [-1, 1.55] gives scale 0.01 and zero point 100: A quantizes to [0, 255], minus the
  // zero point [-100, 155]; with B = [2, 1]: acc -45, times 0.01 * 0.5.
  Tensor a = floats({1, 2}, {-1.f, 1.55f});
  Tensor b = i8s({2, 1}, {2, 1});
  Tensor b_scale = floats({}, {0.5f});
  Tensor bias = floats({1}, {1.f});
  ir::Node node = make_node("DynamicQuantizeMatMul", 5, 1, "com.microsoft");
  Tensor y = run_op(node, {&a, &b, &b_scale, nullptr, &bias}, 1)[0];
  ASSERT_EQ(y.shape(), (Shape{1, 1}));
  EXPECT_NEAR(values_f32(y)[0], -0.225f + 1.f, kFloatTol);
}

// A [2,2] int8 minus 1 = [[2,-2],[-1,4]]; B stored [N,K] (transB) minus [0,1,-1] per column gives
// B^T rows [1,2], [-4,-1], [5,5]: acc [[-2,-6,0],[7,0,15]], plus C [10,0,-5] = [[8,-6,-5],[17,0,10]].
// alpha * a_scale * b_scale = 2 * 0.5 * [1, 0.5, 0.25].
struct QGemmCase {
  Tensor a = i8s({2, 2}, {3, -1, 0, 5});
  Tensor a_scale = floats({}, {0.5f});
  Tensor a_zp = i8s({}, {1});
  Tensor b = i8s({3, 2}, {1, 2, -3, 0, 4, 4});
  Tensor b_scale = floats({3}, {1.f, 0.5f, 0.25f});
  Tensor b_zp = i8s({3}, {0, 1, -1});
  Tensor c = i32s({3}, {10, 0, -5});
  ir::Node node(size_t inputs) const {
    ir::Node n = make_node("QGemm", inputs, 1, "com.microsoft");
    n.attributes.push_back(attr_int("transB", 1));
    n.attributes.push_back(attr_float("alpha", 2.f));
    return n;
  }
};

TEST(QuantOps, QGemmFloatOutputPerColumnWithBias) {
  QGemmCase q;
  Tensor y = run_op(q.node(7), {&q.a, &q.a_scale, &q.a_zp, &q.b, &q.b_scale, &q.b_zp, &q.c}, 1)[0];
  ASSERT_EQ(y.dtype(), DType::f32);
  ASSERT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{8.f, -3.f, -1.25f, 17.f, 0.f, 2.5f}));
  // Without C: [[-2,-6,0],[7,0,15]] scaled.
  Tensor y2 = run_op(q.node(6), {&q.a, &q.a_scale, &q.a_zp, &q.b, &q.b_scale, &q.b_zp}, 1)[0];
  EXPECT_EQ(values_f32(y2), (std::vector<float>{-2.f, -3.f, 0.f, 7.f, 0.f, 3.75f}));
}

TEST(QuantOps, QGemmQuantizedOutputRoundsHalfToEven) {
  QGemmCase q;
  Tensor y_scale = floats({}, {0.5f});
  Tensor y_zp = u8s({}, {100});
  Tensor y = run_op(q.node(9), {&q.a, &q.a_scale, &q.a_zp, &q.b, &q.b_scale, &q.b_zp, &q.c, &y_scale, &y_zp}, 1)[0];
  ASSERT_EQ(y.dtype(), DType::u8);
  // Float output / 0.5 = [[16,-6,-2.5],[34,0,5]]: -2.5 rounds to -2; plus 100.
  EXPECT_EQ(numbers(y), (std::vector<double>{116, 94, 98, 134, 100, 105}));
  Tensor wrong = floats({2}, {1.f, 1.f});
  EXPECT_THROW(run_op(q.node(6), {&q.a, &q.a_scale, &q.a_zp, &q.b, &wrong, &q.b_zp}, 1), Error);
  Tensor bad_c = i32s({2}, {1, 2});
  EXPECT_THROW(run_op(q.node(7), {&q.a, &q.a_scale, &q.a_zp, &q.b, &q.b_scale, &q.b_zp, &bad_c}, 1), Error);
}

TEST(QuantOps, QGemmTransBMatchesReferenceOnManyTiles) {
  const int64_t M = 70, K = 300, N = 260;  // two row tiles, two column tiles
  auto av = random_values<uint8_t>(M * K, 0, 255, 11);
  auto bv = random_values<int8_t>(K * N, -128, 127, 12);  // logical [K, N]
  auto zbv = random_values<int8_t>(N, -10, 10, 13);
  auto cv = random_values<int32_t>(N, -50000, 50000, 14);
  std::vector<int8_t> bt(static_cast<size_t>(N * K));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t n = 0; n < N; ++n) bt[n * K + k] = bv[k * N + n];
  std::vector<float> bs(N);
  for (int64_t n = 0; n < N; ++n) bs[n] = 0.001f * static_cast<float>(n + 1);
  Tensor a = u8s({M, K}, av);
  Tensor a_scale = floats({}, {0.02f});
  Tensor a_zp = u8s({}, {131});
  Tensor b = i8s({N, K}, bt);
  Tensor b_scale = floats({N}, bs);
  Tensor b_zp = i8s({N}, zbv);
  Tensor c = i32s({N}, cv);
  ir::Node node = make_node("QGemm", 7, 1, "com.microsoft");
  node.attributes.push_back(attr_int("transB", 1));
  node.attributes.push_back(attr_float("alpha", 0.5f));
  Tensor y = run_op(node, {&a, &a_scale, &a_zp, &b, &b_scale, &b_zp, &c}, 1, 3)[0];
  auto acc = matmul_ref(ints(av), ints(bv), M, K, N, {131}, ints(zbv));
  std::vector<float> got = values_f32(y);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      float want = static_cast<float>(acc[m * N + n] + cv[n]) * (0.02f * (0.5f * bs[n]));
      ASSERT_NEAR(got[m * N + n], want, kFloatTol * (1 + std::abs(want))) << m << "," << n;
    }
}

TEST(QuantOps, QGemmTransAUint8PerTensor) {
  // A stored transposed: logical [[2,3],[4,5]] minus 2 = [[0,1],[2,3]]; B the identity.
  Tensor a = u8s({2, 2}, {2, 4, 3, 5});
  Tensor a_scale = floats({}, {1.f});
  Tensor a_zp = u8s({}, {2});
  Tensor b = u8s({2, 2}, {1, 0, 0, 1});
  Tensor b_scale = floats({}, {0.25f});
  Tensor b_zp = u8s({}, {0});
  ir::Node node = make_node("QGemm", 6, 1, "com.microsoft");
  node.attributes.push_back(attr_int("transA", 1));
  Tensor y = run_op(node, {&a, &a_scale, &a_zp, &b, &b_scale, &b_zp}, 1)[0];
  EXPECT_EQ(values_f32(y), (std::vector<float>{0.f, 0.25f, 0.5f, 0.75f}));
}

// ---- com.microsoft QLinearAdd / QLinearMul / QLinearSigmoid / QLinearLeakyRelu / QLinearGlobalAveragePool

TEST(QuantOps, QLinearAddBroadcastsAndRoundsHalfToEven) {
  Tensor a = u8s({2, 2}, {10, 20, 30, 40});
  Tensor a_scale = floats({}, {0.5f});
  Tensor a_zp = u8s({}, {10});
  Tensor b = u8s({2}, {4, 8});
  Tensor b_scale = floats({}, {0.25f});
  Tensor c_scale = floats({}, {2.f});
  Tensor c_zp = u8s({}, {5});
  // (A - 10) * 0.5 = [0, 5, 10, 15], B * 0.25 = [1, 2] per column: sums [1, 7, 11, 17] / 2 =
  // [0.5, 3.5, 5.5, 8.5] → 0, 4, 6, 8; plus 5.
  ir::Node node = make_node("QLinearAdd", 8, 1, "com.microsoft");
  Tensor y = run_op(node, {&a, &a_scale, &a_zp, &b, &b_scale, nullptr, &c_scale, &c_zp}, 1)[0];
  ASSERT_EQ(y.dtype(), DType::u8);
  EXPECT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(numbers(y), (std::vector<double>{5, 9, 11, 13}));
}

TEST(QuantOps, QLinearMulInt8) {
  Tensor a = i8s({2}, {-3, 4});
  Tensor a_scale = floats({}, {0.5f});
  Tensor a_zp = i8s({}, {-1});
  Tensor b = i8s({2}, {3, 2});
  Tensor b_scale = floats({}, {1.f});
  Tensor b_zp = i8s({}, {0});
  Tensor c_scale = floats({}, {0.8f});
  Tensor c_zp = i8s({}, {3});
  // (A + 1) * B = [-6, 10], times 0.5 * 1 / 0.8 = 0.625: [-3.75, 6.25] → -4, 6; plus 3.
  ir::Node node = make_node("QLinearMul", 8, 1, "com.microsoft");
  Tensor y = run_op(node, {&a, &a_scale, &a_zp, &b, &b_scale, &b_zp, &c_scale, &c_zp}, 1)[0];
  ASSERT_EQ(y.dtype(), DType::i8);
  EXPECT_EQ(numbers(y), (std::vector<double>{-1, 9}));
}

TEST(QuantOps, QLinearSigmoidAndLeakyRelu) {
  Tensor x = u8s({3}, {0, 128, 255});
  Tensor x_scale = floats({}, {0.1f});
  Tensor x_zp = u8s({}, {128});
  Tensor y_scale = floats({}, {1.f / 256});
  // sigmoid(-12.8, 0, 12.7) * 256 = 0.0007, 128, 255.99 → 0, 128, 255 (saturated).
  Tensor y = run_op(make_node("QLinearSigmoid", 4, 1, "com.microsoft"), {&x, &x_scale, &x_zp, &y_scale}, 1)[0];
  EXPECT_EQ(numbers(y), (std::vector<double>{0, 128, 255}));
  Tensor xi = i8s({3}, {-100, 0, 50});
  Tensor yi_scale = floats({}, {0.05f});
  ir::Node leaky = make_node("QLinearLeakyRelu", 4, 1, "com.microsoft");
  leaky.attributes.push_back(attr_float("alpha", 0.1f));
  // -10, 0, 5 → -1, 0, 5 → / 0.05.
  Tensor yi = run_op(leaky, {&xi, &x_scale, nullptr, &yi_scale}, 1)[0];
  ASSERT_EQ(yi.dtype(), DType::i8);
  EXPECT_EQ(numbers(yi), (std::vector<double>{-20, 0, 100}));
}

TEST(QuantOps, QLinearGlobalAveragePoolNchwAndNhwc) {
  Tensor x_scale = floats({}, {0.5f});
  Tensor x_zp = u8s({}, {1});
  Tensor y_scale = floats({}, {0.25f});
  Tensor y_zp = u8s({}, {2});
  // Channel sums minus 4 * 1: 6 and 37, times 0.5 / (0.25 * 4): 3 and 18.5 → 18; plus 2.
  Tensor x = u8s({1, 2, 2, 2}, {1, 2, 3, 4, 10, 10, 10, 11});
  ir::Node node = make_node("QLinearGlobalAveragePool", 5, 1, "com.microsoft");
  Tensor y = run_op(node, {&x, &x_scale, &x_zp, &y_scale, &y_zp}, 1)[0];
  EXPECT_EQ(y.shape(), (Shape{1, 2, 1, 1}));
  EXPECT_EQ(numbers(y), (std::vector<double>{5, 20}));
  Tensor x_nhwc = u8s({1, 2, 2, 2}, {1, 10, 2, 10, 3, 10, 4, 11});
  node.attributes.push_back(attr_int("channels_last", 1));
  Tensor y2 = run_op(node, {&x_nhwc, &x_scale, &x_zp, &y_scale, &y_zp}, 1)[0];
  EXPECT_EQ(y2.shape(), (Shape{1, 1, 1, 2}));
  EXPECT_EQ(numbers(y2), (std::vector<double>{5, 20}));
}

TEST(QuantOps, QLinearConcatRequantizesEachInput) {
  Tensor y_scale = floats({}, {1.f});
  Tensor y_zp = u8s({}, {100});
  Tensor x1 = u8s({1, 2}, {10, 20});  // (x - 10) * 0.5 = 0, 5
  Tensor s1 = floats({}, {0.5f});
  Tensor z1 = u8s({}, {10});
  Tensor x2 = u8s({1, 1}, {3});  // 3 * 2 = 6
  Tensor s2 = floats({}, {2.f});
  Tensor z2 = u8s({}, {0});
  ir::Node node = make_node("QLinearConcat", 8, 1, "com.microsoft");
  node.attributes.push_back(attr_int("axis", -1));
  Tensor y = run_op(node, {&y_scale, &y_zp, &x1, &s1, &z1, &x2, &s2, &z2}, 1)[0];
  EXPECT_EQ(y.shape(), (Shape{1, 3}));
  EXPECT_EQ(numbers(y), (std::vector<double>{100, 105, 106}));
  Tensor tall = u8s({2, 1}, {3, 3});
  EXPECT_THROW(run_op(node, {&y_scale, &y_zp, &x1, &s1, &z1, &tall, &s2, &z2}, 1), Error);
  // 16-bit codes do not fit the 256-entry code tables: refused, not looked up out of range.
  std::vector<uint16_t> codes = {0, 60000};
  Tensor x16 = Tensor::from_values<uint16_t>(DType::u16, {1, 2}, std::span<const uint16_t>(codes));
  Tensor z16 = Tensor::from_values<uint16_t>(DType::u16, {}, std::span<const uint16_t>(codes.data(), 1));
  ir::Node one = make_node("QLinearConcat", 5, 1, "com.microsoft");
  EXPECT_THROW(run_op(one, {&y_scale, &z16, &x16, &s1, &z16}, 1), Error);
}

TEST(QuantOps, QLinearAveragePoolPaddedWithAndWithoutPadCount) {
  // (X - 10) * 0.5 = [[0, 5], [10, 15]]; 2x2 windows over one padded pixel on every side.
  Tensor x = u8s({1, 1, 2, 2}, {10, 20, 30, 40});
  Tensor x_scale = floats({}, {0.5f});
  Tensor x_zp = u8s({}, {10});
  Tensor y_scale = floats({}, {1.f});
  ir::Node node = make_node("QLinearAveragePool", 4, 1, "com.microsoft");
  node.attributes.push_back(attr_ints("kernel_shape", {2, 2}));
  node.attributes.push_back(attr_ints("pads", {1, 1, 1, 1}));
  Tensor y = run_op(node, {&x, &x_scale, &x_zp, &y_scale}, 1)[0];
  EXPECT_EQ(y.shape(), (Shape{1, 1, 3, 3}));
  // Means over the real pixels: 0, 2.5, 5, 5, 7.5, 10, 10, 12.5, 15 (ties to even).
  EXPECT_EQ(numbers(y), (std::vector<double>{0, 2, 5, 5, 8, 10, 10, 12, 15}));
  node.attributes.push_back(attr_int("count_include_pad", 1));
  Tensor y4 = run_op(node, {&x, &x_scale, &x_zp, &y_scale}, 1)[0];
  // Sums / 4: 0, 1.25, 1.25, 2.5, 7.5, 5, 2.5, 6.25, 3.75.
  EXPECT_EQ(numbers(y4), (std::vector<double>{0, 1, 1, 2, 8, 5, 2, 6, 4}));
}

}  // namespace
}  // namespace mcompress::test
