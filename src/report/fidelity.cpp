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

ModelComparison::ModelComparison(std::vector<std::string> output_names)
    : names_(std::move(output_names)), outputs_(names_.size()) {}

void ModelComparison::add(const std::vector<Tensor>& base, const std::vector<Tensor>& candidate, int64_t begin,
                          int64_t count, const std::vector<int64_t>& labels) {
  for (size_t o = 0; o < outputs_.size(); ++o) outputs_[o].add(base[o], candidate[o]);
  auto pa = argmax_rows(base[0]);
  auto pb = argmax_rows(candidate[0]);
  labelled_ = !labels.empty();
  // Accuracy only when the first output has one row per sample (a classifier's logits).
  bool per_sample = pa.size() == static_cast<size_t>(count);
  for (size_t k = 0; k < pa.size(); ++k) {
    agree_ += pa[k] == pb[k];
    if (labelled_ && per_sample) {
      base_right_ += pa[k] == labels[static_cast<size_t>(begin) + k];
      cand_right_ += pb[k] == labels[static_cast<size_t>(begin) + k];
    }
  }
  rows_ += static_cast<int64_t>(pa.size());
}

double ModelComparison::top1_agreement() const {
  return rows_ ? static_cast<double>(agree_) / static_cast<double>(rows_) : 0.0;
}

double ModelComparison::min_sqnr_db() const {
  double worst = std::numeric_limits<double>::infinity();
  for (const auto& o : outputs_) worst = std::min(worst, o.sqnr_db());
  return worst;
}

double ModelComparison::base_accuracy() const {
  return samples_ ? static_cast<double>(base_right_) / static_cast<double>(samples_) : 0.0;
}

double ModelComparison::candidate_accuracy() const {
  return samples_ ? static_cast<double>(cand_right_) / static_cast<double>(samples_) : 0.0;
}

nlohmann::ordered_json ModelComparison::to_json() const {
  nlohmann::ordered_json j;
  auto& outs = j["outputs"] = nlohmann::ordered_json::array();
  for (size_t o = 0; o < outputs_.size(); ++o) {
    double sqnr = outputs_[o].sqnr_db();
    outs.push_back({{"name", names_[o]},
                    {"cosine", outputs_[o].cosine()},
                    {"sqnr_db", std::isinf(sqnr) ? nlohmann::ordered_json("inf") : nlohmann::ordered_json(sqnr)},
                    {"max_abs", outputs_[o].max_abs()}});
  }
  j["top1_agreement"] = top1_agreement();
  if (labelled_) j["accuracy"] = {{"base", base_accuracy()}, {"candidate", candidate_accuracy()}};
  j["samples"] = samples_;
  return j;
}

}  // namespace mcompress::report
