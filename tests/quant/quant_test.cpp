// The quantization math: scale / zero-point choice, fast quantize vs its scalar _ref twin, the
// int4 least-squared-error clipping, and the float16 conversion.
#include "mcompress/quant/quant.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>

#include "mcompress/support/error.h"
#include "mcompress/support/thread_pool.h"

namespace mcompress::quant {
namespace {

Tensor random_tensor(Shape shape, uint32_t seed, float spread = 1.0f) {
  Tensor t(DType::f32, std::move(shape));
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, spread);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
  return t;
}

Tensor values(Shape shape, std::vector<float> v) {
  return Tensor::from_values<float>(DType::f32, std::move(shape), std::span<const float>(v));
}

TEST(QuantParamsTest, SymmetricInt8MapsMaxAbsTo127) {
  QuantParams p = params_from_range(-2.54f, 1.0f, DType::i8, true);
  EXPECT_FLOAT_EQ(p.scale[0], 2.54f / 127);
  EXPECT_EQ(p.zero_point[0], 0);
  QuantParams u = params_from_range(-1.0f, 2.54f, DType::u8, true);
  EXPECT_FLOAT_EQ(u.scale[0], 2.54f / 127);
  EXPECT_EQ(u.zero_point[0], 128);
  QuantParams u4 = params_from_range(-0.7f, 0.35f, DType::u4, true);
  EXPECT_FLOAT_EQ(u4.scale[0], 0.1f);
  EXPECT_EQ(u4.zero_point[0], 8);
}

TEST(QuantParamsTest, AsymmetricWidensToZeroAndRoundsZeroPoint) {
  QuantParams p = params_from_range(0.5f, 2.55f, DType::u8, false);  // widened to [0, 2.55]
  EXPECT_FLOAT_EQ(p.scale[0], 0.01f);
  EXPECT_EQ(p.zero_point[0], 0);
  QuantParams q = params_from_range(-1.0f, 3.0f, DType::u8, false);
  EXPECT_FLOAT_EQ(q.scale[0], 4.0f / 255);
  EXPECT_EQ(q.zero_point[0], 64);  // round(255 / 4) = 63.75 -> 64
  QuantParams i = params_from_range(-1.0f, 3.0f, DType::i8, false);
  EXPECT_EQ(i.zero_point[0], -64);
  QuantParams zero = params_from_range(0.0f, 0.0f, DType::i8, true);
  EXPECT_EQ(zero.scale[0], 1.0f);
}

TEST(QuantParamsTest, ZeroIsExactlyRepresentable) {
  for (DType dt : {DType::i8, DType::u8, DType::i4, DType::u4})
    for (bool sym : {true, false}) {
      QuantParams p = params_from_range(-0.37f, 1.91f, dt, sym);
      Tensor z = values({1}, {0.0f});
      EXPECT_EQ(dequantize(quantize(z, p), p).data<float>()[0], 0.0f) << dtype_name(dt) << " sym " << sym;
    }
}

TEST(QuantParamsTest, UnknownFormatIsUnsupported) {
  try {
    format_traits(DType::f16);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::unsupported);
  }
}

TEST(QuantizeTest, RoundsHalfToEvenAndSaturates) {
  QuantParams p = params_from_range(-1.0f, 1.0f, DType::i8, true);
  p.scale = {1.0f};
  Tensor w = values({6}, {0.5f, 1.5f, 2.5f, -2.5f, 300.0f, -300.0f});
  Tensor q = quantize(w, p);
  std::vector<int8_t> got(q.data<int8_t>(), q.data<int8_t>() + 6);
  EXPECT_EQ(got, (std::vector<int8_t>{0, 2, 2, -2, 127, -128}));
}

TEST(QuantizeTest, PerChannelUsesOneScalePerChannel) {
  Tensor w = values({2, 3}, {1, -2, 4, 0.5f, 0.25f, -8});
  QuantParams p = choose_params(w, DType::i8, true, 1);
  ASSERT_EQ(p.scale.size(), 3u);
  EXPECT_FLOAT_EQ(p.scale[0], 1.0f / 127);
  EXPECT_FLOAT_EQ(p.scale[1], 2.0f / 127);
  EXPECT_FLOAT_EQ(p.scale[2], 8.0f / 127);
  EXPECT_EQ(p.param_shape(w.shape()), (Shape{1, 3}));  // broadcasts against w
  EXPECT_EQ(choose_params(w, DType::i8, true).param_shape(w.shape()), (Shape{1, 1}));
  QuantParams rows = choose_params(w, DType::i8, true, 0);
  EXPECT_EQ(rows.param_shape(w.shape()), (Shape{2, 1}));
  EXPECT_FLOAT_EQ(rows.scale[0], 4.0f / 127);
  EXPECT_FLOAT_EQ(rows.scale[1], 8.0f / 127);
  Tensor q = quantize(w, p);
  EXPECT_EQ(q.data<int8_t>()[0], 127);
  EXPECT_EQ(q.data<int8_t>()[5], -127);
  EXPECT_EQ(q.data<int8_t>()[3], 64);  // 0.5 / (1/127) = 63.5 -> 64 (even)
}

TEST(QuantizeTest, BlocksFollowOnnxParameterLayout) {
  Tensor w = random_tensor({3, 10, 2}, 7);
  QuantParams p = choose_params(w, DType::i4, true, 1, 4);
  EXPECT_EQ(p.param_shape(w.shape()), (Shape{3, 3, 2}));
  ASSERT_EQ(p.scale.size(), 18u);
  // Group (o=1, block 2, inner 1) holds w[1, 8..9, 1].
  float amax = std::max(std::abs(w.data<float>()[(1 * 10 + 8) * 2 + 1]), std::abs(w.data<float>()[(1 * 10 + 9) * 2 + 1]));
  EXPECT_FLOAT_EQ(p.scale[(1 * 3 + 2) * 2 + 1], amax / 7);
}

// Fast quantize / dequantize equal their scalar twins bit for bit, for every format and grouping,
// threaded or not.
TEST(QuantizeTest, FastMatchesRef) {
  ThreadPool pool(3);
  Tensor w = random_tensor({5, 7, 9}, 11);
  for (DType dt : {DType::i8, DType::u8, DType::i4, DType::u4})
    for (bool sym : {true, false})
      for (auto [axis, block] : {std::pair<int64_t, int64_t>{-1, 0}, {0, 0}, {1, 0}, {2, 0}, {1, 4}, {2, 16}, {0, 2}}) {
        SCOPED_TRACE(testing::Message() << dtype_name(dt) << " sym " << sym << " axis " << axis << " block " << block);
        QuantParams p = choose_params(w, dt, sym, axis, block);
        Tensor q = quantize(w, p, &pool);
        EXPECT_TRUE(q == quantize_ref(w, p));
        EXPECT_TRUE(q == quantize(w, p));
        Tensor d = dequantize(q, p, &pool);
        EXPECT_TRUE(d == dequantize_ref(q, p));
        // Every element within half a step of its group's scale (nothing saturates with min/max).
        float max_scale = *std::max_element(p.scale.begin(), p.scale.end());
        for (int64_t i = 0; i < w.numel(); ++i)
          ASSERT_LE(std::abs(d.data<float>()[i] - w.data<float>()[i]), max_scale * 0.5f + 1e-6f);
      }
}

TEST(QuantizeTest, ParamsIndependentOfThreads) {
  Tensor w = random_tensor({300, 257}, 3);
  ThreadPool one(1), four(4);
  for (auto method : {RangeMethod::minmax, RangeMethod::mse}) {
    QuantParams a = choose_params(w, DType::u4, false, 1, 32, method, &one);
    QuantParams b = choose_params(w, DType::u4, false, 1, 32, method, &four);
    EXPECT_EQ(a.scale, b.scale);
    EXPECT_EQ(a.zero_point, b.zero_point);
  }
  QuantParams p = choose_params(w, DType::i8, true, 0, 0, RangeMethod::minmax, &four);
  EXPECT_EQ(quantize_measured(w, p, &one).rel_error, quantize_measured(w, p, &four).rel_error);
}

TEST(QuantizeTest, RelativeErrorMatchesDefinition) {
  Tensor w = random_tensor({64, 48}, 5);
  QuantParams p = choose_params(w, DType::i8, true, 1);
  Tensor d = dequantize_ref(quantize_ref(w, p), p);
  double se = 0, sn = 0;
  for (int64_t i = 0; i < w.numel(); ++i) {
    double diff = w.data<float>()[i] - d.data<float>()[i];
    se += diff * diff;
    sn += static_cast<double>(w.data<float>()[i]) * w.data<float>()[i];
  }
  EXPECT_NEAR(relative_error(w, p), std::sqrt(se / sn), 1e-12);
  EXPECT_LT(relative_error(w, p), 0.02);  // int8 per channel on a Gaussian: ~1%
  EXPECT_EQ(relative_error(Tensor(DType::f32, {4}), choose_params(Tensor(DType::f32, {4}), DType::i8, true)), 0.0);
}

// The clipping search never does worse than min/max (it starts there) and, on heavy-tailed
// weights in 4 bits, does clearly better.
TEST(QuantizeTest, MseSearchBeatsMinMaxForInt4) {
  Tensor w = random_tensor({64, 256}, 9);
  std::mt19937 rng(1);
  for (int i = 0; i < 40; ++i) w.data<float>()[rng() % w.numel()] *= 6.0f;  // outliers
  for (bool sym : {true, false}) {
    QuantParams mm = choose_params(w, DType::u4, sym, 1, 32, RangeMethod::minmax);
    QuantParams mse = choose_params(w, DType::u4, sym, 1, 32, RangeMethod::mse);
    double e_mm = relative_error(w, mm), e_mse = relative_error(w, mse);
    // Symmetric min/max wastes levels on the outliers; asymmetric already less so.
    EXPECT_LT(e_mse, e_mm * (sym ? 0.9 : 0.99)) << "sym " << sym;
  }
  // Per group as well: the search result is at least as good in every block.
  Tensor one = random_tensor({1, 32}, 4);
  QuantParams a = choose_params(one, DType::i4, true, 1, 32, RangeMethod::minmax);
  QuantParams b = choose_params(one, DType::i4, true, 1, 32, RangeMethod::mse);
  EXPECT_LE(relative_error(one, b), relative_error(one, a));
}

// Affine uint4 blocks (float zero points): dequantized as ONNX Runtime does, (q - zero) * scale,
// with a smaller error than the symmetric search, and exact on constant blocks.
TEST(AffineBlocksTest, BeatsSymmetricAndDequantizesLikeOrt) {
  Tensor w = random_tensor({16, 128}, 21);
  for (int64_t i = 0; i < 32; ++i) w.data<float>()[i] = 0.25f;  // one constant block
  for (int64_t i = 32; i < 64; ++i) w.data<float>()[i] = std::abs(w.data<float>()[i]);  // one all-positive block
  ThreadPool pool(2);
  AffineBlocks a = quantize_affine_blocks(w, 32, &pool);
  ASSERT_EQ(a.scale.size(), 64u);
  double se = 0, sn = 0;
  for (int64_t e = 0; e < w.numel(); ++e) {
    int64_t b = e / 32;
    float deq = (static_cast<float>(get_uint4(a.q, e)) - a.zero[b]) * a.scale[b];
    double d = w.data<float>()[e] - deq;
    se += d * d;
    sn += static_cast<double>(w.data<float>()[e]) * w.data<float>()[e];
    if (b == 0) {
      EXPECT_NEAR(deq, 0.25f, 1e-6);
    }
  }
  EXPECT_NEAR(a.rel_error, std::sqrt(se / sn), 1e-9);  // FMA contraction may differ
  QuantParams sym = choose_params(w, DType::u4, true, 1, 32, RangeMethod::mse);
  EXPECT_LT(a.rel_error, relative_error(w, sym) * 0.9);
  AffineBlocks serial = quantize_affine_blocks(w, 32);
  EXPECT_TRUE(serial.q == a.q);
  EXPECT_EQ(serial.scale, a.scale);
  EXPECT_EQ(serial.zero, a.zero);
}

TEST(QuantizeTest, NanWeightsDoNotCrash) {
  Tensor w = values({3}, {NAN, 1.0f, -1.0f});
  QuantParams p = params_from_range(-1, 1, DType::i8, true);
  EXPECT_TRUE(quantize(w, p) == quantize_ref(w, p));
}

TEST(Float16Test, KnownValues) {
  EXPECT_EQ(float_to_half_ref(1.0f), 0x3C00);
  EXPECT_EQ(float_to_half_ref(-2.0f), 0xC000);
  EXPECT_EQ(float_to_half_ref(65504.0f), 0x7BFF);
  EXPECT_EQ(float_to_half_ref(65519.0f), 0x7BFF);  // below the halfway point to 65536
  EXPECT_EQ(float_to_half_ref(65520.0f), 0x7C00);  // halfway: rounds to even = inf
  EXPECT_EQ(float_to_half_ref(1e6f), 0x7C00);
  EXPECT_EQ(float_to_half_ref(-INFINITY), 0xFC00);
  EXPECT_EQ(float_to_half_ref(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half_ref(std::ldexp(1.0f, -25)), 0x0000);  // halfway to it: even = 0
  EXPECT_EQ(float_to_half_ref(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_half_ref(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(float_to_half_ref(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie, even stays
  EXPECT_EQ(float_to_half_ref(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie, rounds up to even
  EXPECT_EQ(float_to_half_ref(-0.0f), 0x8000);
  uint16_t nan = float_to_half_ref(NAN);
  EXPECT_EQ(nan & 0x7C00, 0x7C00);
  EXPECT_NE(nan & 0x03FF, 0);
  EXPECT_TRUE(std::isnan(half_to_float_ref(nan)));
}

TEST(Float16Test, RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = half_to_float_ref(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_half_ref(f), h) << std::hex << h;
  }
}

// The fast tensor conversion equals the _ref on a sweep of float bit patterns (NaNs: both NaN).
TEST(Float16Test, FastMatchesRef) {
  std::vector<float> xs;
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += 997) xs.push_back(std::bit_cast<float>(static_cast<uint32_t>(bits)));
  Tensor t = Tensor::from_values<float>(DType::f32, {static_cast<int64_t>(xs.size())}, std::span<const float>(xs));
  ThreadPool pool(2);
  Tensor h = to_float16(t, &pool);
  for (size_t i = 0; i < xs.size(); ++i) {
    uint16_t want = float_to_half_ref(xs[i]), got = h.data<uint16_t>()[i];
    if (std::isnan(xs[i])) {
      ASSERT_TRUE((got & 0x7C00) == 0x7C00 && (got & 0x3FF) != 0);
      continue;
    }
    ASSERT_EQ(got, want) << xs[i];
  }
}

}  // namespace
}  // namespace mcompress::quant
