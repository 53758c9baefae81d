// Calibrators against values computed here from the raw data (exact quantiles,
// brute-force quantization error), and the histogram's exact re-binning.
#include "mcompress/quant/calibrate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace mcompress::quant {
namespace {

// Box-Muller over mt19937 (fully specified, unlike std::normal_distribution).
std::vector<float> gaussian(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v;
  v.reserve(n);
  while (static_cast<int64_t>(v.size()) < n) {
    double u1 = (rng() + 1.0) / 4294967297.0, u2 = (rng() + 1.0) / 4294967297.0;
    v.push_back(static_cast<float>(std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2)));
  }
  return v;
}

std::vector<float> uniform(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = lo + (hi - lo) * static_cast<float>(rng() / 4294967296.0);
  return v;
}

Tensor tensor_of(const std::vector<float>& v) {
  return Tensor::from_values<float>(DType::f32, {static_cast<int64_t>(v.size())}, v);
}

// numpy.quantile(v, f) with the default linear method.
double exact_quantile(std::vector<float> v, double f) {
  std::sort(v.begin(), v.end());
  double pos = f * static_cast<double>(v.size() - 1);
  auto i = static_cast<size_t>(pos);
  double frac = pos - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1 - frac) + v[i + 1] * frac : v[i];
}

// Mean squared error of round-to-nearest uint8 quantization of v over [lo, hi]
// (widened to 0).
double quantization_mse(const std::vector<float>& v, double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  double scale = (hi - lo) / 255;
  double zero = std::nearbyint(-lo / scale);
  double sum = 0;
  for (float x : v) {
    double q = std::clamp(std::nearbyint(x / scale) + zero, 0.0, 255.0);
    double d = x - (q - zero) * scale;
    sum += d * d;
  }
  return sum / static_cast<double>(v.size());
}

Range calibrate(CalibrationMethod method, const std::vector<std::vector<float>>& batches, double percentile = 99.999) {
  CalibrationOptions options;
  options.method = method;
  options.percentile = percentile;
  auto c = make_calibrator(options);
  for (const auto& b : batches) c->collect(tensor_of(b));
  return c->range();
}

TEST(Calibrate, MinMaxIsTheExactExtremesOverBatchesAndSkipsNan) {
  Range r = calibrate(CalibrationMethod::minmax, {{0.5f, -1.25f, NAN}, {3.0f, 0.0f}, {}});
  EXPECT_FLOAT_EQ(r.lo, -1.25f);
  EXPECT_FLOAT_EQ(r.hi, 3.0f);
}

TEST(Calibrate, HistogramGrowthIsExactRebinning) {
  // Range 1 then doubled twice to 4 must bin exactly like a histogram that
  // started at 4.
  std::vector<float> a = uniform(5000, -1, 1, 1), b = uniform(5000, -3.5f, 3.5f, 2);
  a.push_back(1.0f);
  Histogram grown, direct;
  std::vector<float> b4 = b;
  b4.push_back(4.0f);
  grown.add(a.data(), static_cast<int64_t>(a.size()));
  grown.add(b4.data(), static_cast<int64_t>(b4.size()));
  std::vector<float> a4 = a;
  a4.push_back(4.0f);
  direct.add(a4.data(), static_cast<int64_t>(a4.size()));
  direct.add(b.data(), static_cast<int64_t>(b.size()));
  EXPECT_EQ(grown.half_range(), direct.half_range());
  EXPECT_GT(grown.half_range(), 4.0);
  EXPECT_EQ(grown.counts(), direct.counts());
  EXPECT_EQ(grown.total(), 10002);
}

TEST(Calibrate, PercentileMatchesExactQuantilesWithinOneBin) {
  std::vector<float> all;
  std::vector<std::vector<float>> batches;
  for (uint32_t s = 0; s < 4; ++s) {
    batches.push_back(gaussian(50000, s + 10));
    all.insert(all.end(), batches.back().begin(), batches.back().end());
  }
  Range r = calibrate(CalibrationMethod::percentile, batches, 99.9);
  Histogram h;
  h.add(all.data(), static_cast<int64_t>(all.size()));
  double bin = h.bin_width();
  EXPECT_NEAR(r.lo, exact_quantile(all, 0.001), bin);
  EXPECT_NEAR(r.hi, exact_quantile(all, 0.999), bin);
  EXPECT_NEAR(r.hi, 3.09, 0.05);  // the standard normal's 99.9th percentile
}

TEST(Calibrate, EntropyClipsRareOutliersAndKeepsOneSidedData) {
  // 200k values in [-1, 1] and 20 at +-6: the KL search keeps the bulk, not the
  // outliers.
  std::vector<float> v = uniform(200000, -1, 1, 3);
  for (int i = 0; i < 10; ++i) {
    v.push_back(6.0f);
    v.push_back(-6.0f);
  }
  Range r = calibrate(CalibrationMethod::entropy, {v});
  EXPECT_GT(r.hi, 0.9f);
  EXPECT_LT(r.hi, 2.0f);
  EXPECT_LT(r.lo, -0.9f);
  EXPECT_GT(r.lo, -2.0f);
  // ReLU-like data: the lower end stays at the minimum, 0.
  std::vector<float> relu = uniform(100000, 0, 2, 4);
  Range rr = calibrate(CalibrationMethod::entropy, {relu});
  EXPECT_EQ(rr.lo, *std::min_element(relu.begin(), relu.end()));
  EXPECT_GT(rr.hi, 1.5f);
}

TEST(Calibrate, MseRangeIsNearTheBruteForceOptimum) {
  // Heavy-tailed (Laplace) data: the best clipping is well inside the range;
  // check the true error of the chosen range against a brute-force search over
  // thresholds on the raw values.
  std::mt19937 rng(7);
  std::vector<float> v(100000);
  for (auto& x : v) {
    double u = (rng() + 0.5) / 4294967296.0 - 0.5;
    x = static_cast<float>(-std::copysign(1.0, u) * std::log(1 - 2 * std::fabs(u)));
  }
  Range r = calibrate(CalibrationMethod::mse, {v});
  float lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
  double best = std::numeric_limits<double>::infinity();
  double abs_max = std::max(-lo, hi);
  for (int k = 1; k <= 400; ++k) {
    double t = abs_max * k / 400;
    best = std::min(best, quantization_mse(v, std::max<double>(lo, -t), std::min<double>(hi, t)));
  }
  double ours = quantization_mse(v, r.lo, r.hi);
  EXPECT_LE(ours, best * 1.05);
  EXPECT_LT(r.hi, hi * 0.95);                          // it does clip
  EXPECT_LT(ours, quantization_mse(v, lo, hi) * 0.9);  // and that beats min/max
}

// One histogram answers every method (--calib-method auto calibrates once): the same ranges as a
// calibrator made for that method; a min/max calibrator answers only minmax.
TEST(Calibrate, HistogramAnswersEveryMethodWithItsOwnRangeFunction) {
  std::vector<std::vector<float>> batches;
  for (int b = 0; b < 3; ++b) {
    std::vector<float> v;
    for (int i = 0; i < 5000; ++i) v.push_back(std::sin(0.37f * static_cast<float>(i + 5000 * b)) * (b + 1) + (i % 997 == 0 ? 40.0f : 0.0f));
    batches.push_back(std::move(v));
  }
  CalibrationOptions options;
  options.method = CalibrationMethod::percentile;
  options.percentile = 99.9;
  auto histogram = make_calibrator(options);
  Histogram h;  // built apart from the calibrator, from the same batches
  for (const auto& b : batches) {
    histogram->collect(tensor_of(b));
    h.add(b.data(), static_cast<int64_t>(b.size()));
  }
  const std::pair<CalibrationMethod, Range> expected[] = {
      {CalibrationMethod::minmax, {h.min(), h.max()}},
      {CalibrationMethod::percentile, percentile_range(h, 99.9)},
      {CalibrationMethod::entropy, entropy_range(h, options.entropy_bins)},
      {CalibrationMethod::mse, mse_range(h, options.levels)},
  };
  // The four answers differ on these values, so a method mapped to the wrong function fails.
  for (size_t i = 0; i < std::size(expected); ++i)
    for (size_t j = i + 1; j < std::size(expected); ++j)
      ASSERT_NE(expected[i].second.hi, expected[j].second.hi) << i << " " << j;
  for (const auto& [m, want] : expected) {
    auto r = histogram->range_as(m, options);
    ASSERT_TRUE(r.has_value());
    EXPECT_FLOAT_EQ(r->lo, want.lo) << static_cast<int>(m);
    EXPECT_FLOAT_EQ(r->hi, want.hi) << static_cast<int>(m);
  }
  options.method = CalibrationMethod::minmax;
  auto minmax = make_calibrator(options);
  for (const auto& b : batches) minmax->collect(tensor_of(b));
  EXPECT_TRUE(minmax->range_as(CalibrationMethod::minmax, options).has_value());
  EXPECT_FALSE(minmax->range_as(CalibrationMethod::percentile, options).has_value());
}

TEST(Calibrate, EmptyAndAllZeroInputs) {
  for (auto m :
       {CalibrationMethod::minmax, CalibrationMethod::percentile, CalibrationMethod::entropy, CalibrationMethod::mse}) {
    CalibrationOptions o;
    o.method = m;
    auto c = make_calibrator(o);
    EXPECT_TRUE(c->empty());
    c->collect(tensor_of({0.0f, 0.0f}));
    EXPECT_FALSE(c->empty());
    Range r = c->range();
    EXPECT_EQ(r.lo, 0.0f);
    EXPECT_EQ(r.hi, 0.0f);
  }
}

}  // namespace
}  // namespace mcompress::quant
