#pragma once
// How far a candidate model's outputs are from a base model's, accumulated batch by batch.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
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

// A base and a candidate model run on the same samples, batch by batch: per-output fidelity,
// top-1 agreement of the first output and, with labels, both accuracies. What `eval` prints and
// what the quality gates of the compressing commands judge.
class ModelComparison {
 public:
  explicit ModelComparison(std::vector<std::string> output_names);
  // One batch of `count` samples starting at sample `begin`: outputs in output_names' order.
  // `labels` (all samples' labels, or empty) counts accuracy.
  void add(const std::vector<Tensor>& base, const std::vector<Tensor>& candidate, int64_t begin, int64_t count,
           const std::vector<int64_t>& labels);
  void set_samples(int64_t samples) { samples_ = samples; }

  const std::vector<std::string>& output_names() const { return names_; }
  const std::vector<OutputFidelity>& outputs() const { return outputs_; }
  int64_t samples() const { return samples_; }
  double top1_agreement() const;       // share of rows whose argmax agrees, 0..1
  double min_sqnr_db() const;          // the worst output's SQNR
  bool labelled() const { return labelled_; }
  double base_accuracy() const;        // 0..1, over all samples
  double candidate_accuracy() const;

  // {"outputs": [{name, cosine, sqnr_db ("inf" when identical), max_abs}], "top1_agreement",
  //  "accuracy": {"base", "candidate"} (only with labels), "samples"}
  nlohmann::ordered_json to_json() const;

 private:
  std::vector<std::string> names_;
  std::vector<OutputFidelity> outputs_;
  int64_t agree_ = 0, rows_ = 0, base_right_ = 0, cand_right_ = 0, samples_ = 0;
  bool labelled_ = false;
};

}  // namespace mcompress::report
