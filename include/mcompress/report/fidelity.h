#pragma once
// How far a candidate model's outputs are from a base model's, accumulated batch by batch.
#include <cstdint>
#include <optional>
#include <vector>

#include "mcompress/tensor/tensor.h"

namespace mcompress::report {

class OutputFidelity {
 public:
  // Both tensors must have the same shape; values are read as doubles (any numeric dtype).
  void add(const Tensor& base, const Tensor& candidate);
  double cosine() const;   // 1 when both are all zeros
  double sqnr_db() const;  // 10 log10(|base|² / |base - candidate|²); +inf when identical
  double max_abs() const { return max_abs_; }

 private:
  double dot_ = 0, base_sq_ = 0, cand_sq_ = 0, err_sq_ = 0, max_abs_ = 0;
};

// Row-wise argmax over the last axis (class predictions of logits [N, C]).
std::vector<int64_t> argmax_rows(const Tensor& logits);

}  // namespace mcompress::report
