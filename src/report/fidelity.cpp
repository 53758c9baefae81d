#include "mcompress/report/fidelity.h"

#include <cmath>
#include <limits>

#include "mcompress/support/error.h"

namespace mcompress::report {

void OutputFidelity::add(const Tensor& base, const Tensor& candidate) {
  if (base.shape() != candidate.shape())
    throw_bad_input("outputs differ in shape: {} vs {}", shape_string(base.shape()), shape_string(candidate.shape()));
  bool fast = base.dtype() == DType::f32 && candidate.dtype() == DType::f32;
  for (int64_t i = 0; i < base.numel(); ++i) {
    double b = fast ? base.data<float>()[i] : element_as_double(base, i);
    double c = fast ? candidate.data<float>()[i] : element_as_double(candidate, i);
    dot_ += b * c;
    base_sq_ += b * b;
    cand_sq_ += c * c;
    err_sq_ += (b - c) * (b - c);
    max_abs_ = std::max(max_abs_, std::abs(b - c));
  }
}

double OutputFidelity::cosine() const {
  if (base_sq_ == 0 && cand_sq_ == 0) return 1.0;
  if (base_sq_ == 0 || cand_sq_ == 0) return 0.0;
  return dot_ / std::sqrt(base_sq_ * cand_sq_);
}

double OutputFidelity::sqnr_db() const {
  if (err_sq_ == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(base_sq_ / err_sq_);
}

std::vector<int64_t> argmax_rows(const Tensor& logits) {
  if (logits.rank() == 0) return {0};
  int64_t cols = logits.shape().back();
  int64_t rows = cols == 0 ? 0 : logits.numel() / cols;
  std::vector<int64_t> out(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = 0;
    double best_v = -std::numeric_limits<double>::infinity();
    for (int64_t c = 0; c < cols; ++c) {
      double v = element_as_double(logits, r * cols + c);
      if (v > best_v) {
        best_v = v;
        best = c;
      }
    }
    out[static_cast<size_t>(r)] = best;
  }
  return out;
}

}  // namespace mcompress::report
