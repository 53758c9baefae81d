#pragma once
// Calibrators: the range [lo, hi] an activation is quantized over, chosen from
// the values it took on calibration data. Behind one factory (ONNX Runtime's
// calibrator model): minmax, percentile, entropy (TensorRT's KL-divergence
// threshold search) and mse (least expected quantization error).
//
// Memory is bounded: values are never kept. Histogram methods hold one fixed
// 2048-bin histogram per tensor over [-A, A]; when a batch exceeds A, A doubles
// and bin pairs merge (exact, no interpolation), so the result depends only on
// the batches and their order, never on threads.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mcompress/exec/executor.h"
#include "mcompress/tensor/tensor.h"

namespace mcompress::quant {

enum class CalibrationMethod { minmax, percentile, entropy, mse };

struct Range {
  float lo = 0;
  float hi = 0;
};

struct CalibrationOptions {
  CalibrationMethod method = CalibrationMethod::minmax;
  double percentile = 99.999;  // percentile: the kept share of values, each tail (100 - p) / 100
  int64_t levels = 256;        // mse: quantization levels of the target type
  int64_t entropy_bins = 128;  // entropy: TensorRT's quantized-bin count
};

// Signed histogram over [-half_range, half_range) with a fixed bin count; exact
// min and max kept.
class Histogram {
 public:
  static constexpr int64_t kBins = 2048;

  void add(const float* values, int64_t count);

  float min() const { return min_; }
  float max() const { return max_; }
  double half_range() const { return half_range_; }
  double bin_width() const { return 2 * half_range_ / kBins; }
  int64_t total() const { return total_; }
  const std::vector<uint64_t>& counts() const { return counts_; }
  bool empty() const { return total_ == 0; }

  // Value below which `fraction` of the values lie (linear inside a bin),
  // clamped to [min, max].
  double quantile(double fraction) const;
  // |x| histogram: bin i counts values with |x| in [i*w, (i+1)*w), kBins / 2
  // bins.
  std::vector<uint64_t> absolute() const;

 private:
  void grow_to(double abs_max);

  std::vector<uint64_t> counts_ = std::vector<uint64_t>(kBins, 0);
  double half_range_ = 0;  // 0 until a nonzero value arrives
  int64_t total_ = 0;
  float min_ = 0;
  float max_ = 0;
};

class Calibrator {
 public:
  virtual ~Calibrator() = default;
  // Float32 values of one batch; NaNs are skipped.
  virtual void collect(const Tensor& values) = 0;
  // The range to quantize over (lo <= 0 <= hi not required;
  // quant::params_from_range widens).
  virtual Range range() const = 0;
  // The range `method` would choose from the same values: a histogram
  // calibrator answers every method, a min/max one only minmax (nullopt else).
  virtual std::optional<Range> range_as(CalibrationMethod method, const CalibrationOptions& options) const = 0;
  virtual bool empty() const = 0;
};

std::unique_ptr<Calibrator> make_calibrator(const CalibrationOptions& options);

// Range choices on a finished histogram, exposed for tests.
Range percentile_range(const Histogram& h, double percentile);
Range entropy_range(const Histogram& h, int64_t quantized_bins);
Range mse_range(const Histogram& h, int64_t levels);

// Feeds the calibrator of each watched tensor as the executor computes it;
// ignores the rest.
class CalibrationObserver : public exec::Observer {
 public:
  explicit CalibrationObserver(std::map<std::string, std::unique_ptr<Calibrator>>& calibrators)
      : calibrators_(calibrators) {}
  void on_value(const std::string& name, const Tensor& value, const ir::Node& producer) override;

 private:
  std::map<std::string, std::unique_ptr<Calibrator>>& calibrators_;
};

}  // namespace mcompress::quant
