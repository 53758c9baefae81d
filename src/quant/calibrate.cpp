#include "mcompress/quant/calibrate.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

namespace mcompress::quant {

namespace {

struct BatchStats {
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  int64_t finite = 0;
};

BatchStats batch_stats(const float* v, int64_t n) {
  BatchStats s;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) continue;
    s.min = std::min(s.min, v[i]);
    s.max = std::max(s.max, v[i]);
    ++s.finite;
  }
  return s;
}

}  // namespace

// ---------------------------------------------------------------- histogram

void Histogram::grow_to(double abs_max) {
  if (half_range_ == 0) {
    // Slightly above the largest value, so it falls inside the last bin rather
    // than on its edge.
    half_range_ = abs_max * (1.0 + 1.0 / kBins);
    return;
  }
  while (half_range_ <= abs_max) {
    // Doubling the range maps old bin i onto new bin kBins/4 + i/2 exactly
    // (bins stay aligned).
    std::vector<uint64_t> merged(kBins, 0);
    for (int64_t i = 0; i < kBins; ++i) merged[kBins / 4 + i / 2] += counts_[i];
    counts_ = std::move(merged);
    half_range_ *= 2;
  }
}

void Histogram::add(const float* values, int64_t count) {
  BatchStats s = batch_stats(values, count);
  if (s.finite == 0) return;
  min_ = total_ ? std::min(min_, s.min) : s.min;
  max_ = total_ ? std::max(max_, s.max) : s.max;
  double abs_max = std::max(std::fabs(double{s.min}), std::fabs(double{s.max}));
  if (abs_max >= half_range_ && abs_max > 0) grow_to(abs_max);
  total_ += s.finite;
  if (half_range_ == 0) {  // every value so far is 0: the bin just above 0 holds
                           // them whatever A becomes
    counts_[kBins / 2] += static_cast<uint64_t>(s.finite);
    return;
  }
  // x / w (not x * (1/w)): halving w scales the quotient exactly, so a value
  // lands in the same merged bin whether the histogram grew before or after it
  // arrived.
  const double w = bin_width();
  for (int64_t i = 0; i < count; ++i) {
    if (!std::isfinite(values[i])) continue;
    auto bin = static_cast<int64_t>(std::floor(values[i] / w)) + kBins / 2;
    ++counts_[std::clamp<int64_t>(bin, 0, kBins - 1)];
  }
}

double Histogram::quantile(double fraction) const {
  if (total_ == 0) return 0;
  double target = std::clamp(fraction, 0.0, 1.0) * static_cast<double>(total_);
  double cumulative = 0;
  double w = bin_width();
  for (int64_t i = 0; i < kBins; ++i) {
    auto c = static_cast<double>(counts_[i]);
    if (c == 0 || cumulative + c < target) {
      cumulative += c;
      continue;
    }
    double x = -half_range_ + (static_cast<double>(i) + (target - cumulative) / c) * w;
    return std::clamp(x, double{min_}, double{max_});
  }
  return max_;
}

std::vector<uint64_t> Histogram::absolute() const {
  std::vector<uint64_t> abs(kBins / 2, 0);
  for (int64_t i = 0; i < kBins / 2; ++i) abs[i] = counts_[kBins / 2 + i] + counts_[kBins / 2 - 1 - i];
  return abs;
}

// ---------------------------------------------------------------- range
// choices

namespace {

// A symmetric clipping threshold, cut to the values actually seen.
Range clip_to_seen(const Histogram& h, double threshold) {
  return {static_cast<float>(std::max(double{h.min()}, -threshold)),
          static_cast<float>(std::min(double{h.max()}, threshold))};
}

// Sum p log(p / q) of two unnormalized distributions (q floored where it is
// empty, as TensorRT smooths, so a clipped outlier mass is penalized rather
// than ignored).
double kl_divergence(const std::vector<double>& p, const std::vector<double>& q) {
  double p_sum = 0, q_sum = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    p_sum += p[i];
    q_sum += q[i];
  }
  if (p_sum == 0 || q_sum == 0) return std::numeric_limits<double>::infinity();
  constexpr double kEmptyFloor = 1e-4;
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) continue;
    double pn = p[i] / p_sum;
    double qn = std::max(q[i] / q_sum, kEmptyFloor / static_cast<double>(p.size()));
    kl += pn * std::log(pn / qn);
  }
  return kl;
}

}  // namespace

Range percentile_range(const Histogram& h, double percentile) {
  double tail = (100.0 - percentile) / 100.0;
  return {static_cast<float>(h.quantile(tail)), static_cast<float>(h.quantile(1.0 - tail))};
}

Range entropy_range(const Histogram& h, int64_t quantized_bins) {
  if (h.empty() || h.half_range() == 0) return {h.min(), h.max()};
  std::vector<uint64_t> hist = h.absolute();
  const auto bins = static_cast<int64_t>(hist.size());
  double best_kl = std::numeric_limits<double>::infinity();
  int64_t best_i = bins;
  std::vector<double> suffix(bins + 1, 0);
  for (int64_t i = bins - 1; i >= 0; --i) suffix[i] = suffix[i + 1] + static_cast<double>(hist[i]);
  for (int64_t i = quantized_bins; i <= bins; ++i) {
    // Reference: the first i bins with everything beyond folded into the last
    // (the clipped mass).
    std::vector<double> p(hist.begin(), hist.begin() + i);
    p[i - 1] += suffix[i];
    // Candidate: those i bins squeezed into `quantized_bins` levels and
    // expanded back over the bins that were nonempty.
    std::vector<double> q(i, 0);
    int64_t merged = i / quantized_bins;
    for (int64_t j = 0; j < quantized_bins; ++j) {
      int64_t start = j * merged;
      int64_t stop = j == quantized_bins - 1 ? i : start + merged;
      double sum = 0;
      int64_t nonzero = 0;
      for (int64_t k = start; k < stop; ++k) {
        sum += static_cast<double>(hist[k]);
        nonzero += hist[k] != 0;
      }
      if (nonzero == 0) continue;
      for (int64_t k = start; k < stop; ++k)
        if (hist[k] != 0) q[k] = sum / static_cast<double>(nonzero);
    }
    double kl = kl_divergence(p, q);
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return clip_to_seen(h, static_cast<double>(best_i) * h.bin_width());
}

Range mse_range(const Histogram& h, int64_t levels) {
  if (h.empty() || h.half_range() == 0) return {h.min(), h.max()};
  const auto& counts = h.counts();
  const double w = h.bin_width();
  const int64_t candidates = Histogram::kBins / 2;
  double best_error = std::numeric_limits<double>::infinity();
  Range best{h.min(), h.max()};
  for (int64_t k = 1; k <= candidates; ++k) {
    Range r = clip_to_seen(h, static_cast<double>(k) * w);
    double lo = std::min(double{r.lo}, 0.0), hi = std::max(double{r.hi}, 0.0);
    double step = (hi - lo) / static_cast<double>(levels - 1);
    double rounding = step * step / 12;  // uniform rounding error of a value inside the range
    double error = 0;
    for (int64_t b = 0; b < Histogram::kBins; ++b) {
      if (counts[b] == 0) continue;
      double centre =
          std::clamp(-h.half_range() + (static_cast<double>(b) + 0.5) * w, double{h.min()}, double{h.max()});
      double clipped = std::clamp(centre, lo, hi);
      double e = centre == clipped ? rounding : (centre - clipped) * (centre - clipped);
      error += static_cast<double>(counts[b]) * e;
    }
    if (error < best_error) {
      best_error = error;
      best = r;
    }
  }
  return best;
}

// ---------------------------------------------------------------- calibrators

namespace {

class MinMaxCalibrator final : public Calibrator {
 public:
  void collect(const Tensor& values) override {
    if (values.dtype() != DType::f32) return;
    BatchStats s = batch_stats(values.data<float>(), values.numel());
    if (s.finite == 0) return;
    range_.lo = seen_ ? std::min(range_.lo, s.min) : s.min;
    range_.hi = seen_ ? std::max(range_.hi, s.max) : s.max;
    seen_ = true;
  }
  Range range() const override { return range_; }
  std::optional<Range> range_as(CalibrationMethod method, const CalibrationOptions&) const override {
    if (method != CalibrationMethod::minmax) return std::nullopt;
    return range_;
  }
  bool empty() const override { return !seen_; }

 private:
  Range range_;
  bool seen_ = false;
};

class HistogramCalibrator final : public Calibrator {
 public:
  explicit HistogramCalibrator(CalibrationOptions options) : options_(options) {}
  void collect(const Tensor& values) override {
    if (values.dtype() == DType::f32) histogram_.add(values.data<float>(), values.numel());
  }
  Range range() const override { return *range_as(options_.method, options_); }
  std::optional<Range> range_as(CalibrationMethod method, const CalibrationOptions& options) const override;
  bool empty() const override { return histogram_.empty(); }

 private:
  CalibrationOptions options_;
  Histogram histogram_;
};

struct CalibratorRow {
  CalibrationMethod method;
  Range (*choose)(const Histogram&, const CalibrationOptions&);  // null: min/max, no histogram
};

constexpr CalibratorRow kCalibrators[] = {
    {CalibrationMethod::minmax, nullptr},
    {CalibrationMethod::percentile,
     [](const Histogram& h, const CalibrationOptions& o) { return percentile_range(h, o.percentile); }},
    {CalibrationMethod::entropy,
     [](const Histogram& h, const CalibrationOptions& o) { return entropy_range(h, o.entropy_bins); }},
    {CalibrationMethod::mse, [](const Histogram& h, const CalibrationOptions& o) { return mse_range(h, o.levels); }},
};

std::optional<Range> HistogramCalibrator::range_as(CalibrationMethod method, const CalibrationOptions& options) const {
  if (histogram_.empty()) return Range{};
  for (const auto& row : kCalibrators)
    if (row.method == method) return row.choose ? row.choose(histogram_, options) : Range{histogram_.min(), histogram_.max()};
  return std::nullopt;
}

}  // namespace

std::unique_ptr<Calibrator> make_calibrator(const CalibrationOptions& options) {
  for (const auto& row : kCalibrators) {
    if (row.method != options.method) continue;
    if (!row.choose) return std::make_unique<MinMaxCalibrator>();
    return std::make_unique<HistogramCalibrator>(options);
  }
  assert(false && "every calibration method has a row");
  return nullptr;
}

void CalibrationObserver::on_value(const std::string& name, const Tensor& value, const ir::Node&) {
  auto it = calibrators_.find(name);
  if (it != calibrators_.end()) it->second->collect(value);
}

}  // namespace mcompress::quant
