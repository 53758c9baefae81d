#pragma once
// ONNX Runtime as the oracle: run two models on the same inputs and compare their outputs.
#include <filesystem>
#include <string>
#include <vector>

#include "mcompress/tensor/tensor.h"

namespace mcompress::test {

// Writes deterministic inputs for an input spec (tools/make_inputs.py syntax) into dir/inputs.npz.
std::filesystem::path make_inputs(const std::string& spec, const std::filesystem::path& dir, int seed = 1);
// "pages:N" or "pages:N:HxW" -> N synthetic text pages (tests/passes/make_text_pages.py; 640x640
// by default, one text line when H < 100) in dir/pages.npz, as input "x"; else make_inputs.
std::filesystem::path make_inputs_or_pages(const std::string& spec, const std::filesystem::path& dir, int seed = 1);

// Runs MODEL in ONNX Runtime (tools/oracle/ort_run.js) on INPUTS; returns the outputs' .npz path.
// Fails the current test (and returns an empty path) when ORT refuses the model.
std::filesystem::path ort_outputs(const std::filesystem::path& model, const std::filesystem::path& inputs,
                                  const std::filesystem::path& out_npz, const std::string& optimization = "all");

// ORT outputs of both models are bit-identical (the npz writer is deterministic, so equal bytes
// mean equal tensors, names and order).
void expect_ort_identical(const std::filesystem::path& reference, const std::filesystem::path& candidate,
                          const std::filesystem::path& inputs);

// tools/proto_equal.py: the two files hold equal ModelProtos once external data is resolved.
void expect_proto_equal(const std::filesystem::path& a, const std::filesystem::path& b, bool constants_moved,
                        bool raw_encoding);

// How close `mcompress infer` must come to ONNX Runtime: the bar for float models.
struct Agreement {
  double min_cosine = 0.99999;
  double max_abs_of_range = 1e-3;
  std::string ort_optimization = "all";  // ORT's graph optimization level for the reference run
};

// One graph output as `mcompress infer` and ONNX Runtime computed it.
struct InferredOutput {
  std::string name;
  Tensor ours, ort;
};

// `mcompress infer` (2 threads, one batch) and ONNX Runtime (optimization level `optimization`) on
// the same inputs file; outputs in the model's order. Fails the test (and returns none) when
// either run fails or their names, shapes or types differ.
std::vector<InferredOutput> infer_and_ort(const std::filesystem::path& model, const std::filesystem::path& inputs,
                                          const std::filesystem::path& dir, const std::string& optimization = "all");

// `mcompress infer` and ONNX Runtime on the same inputs (a tools/make_inputs.py spec): every
// output within `agreement`.
void expect_infer_agrees_with_ort(const std::filesystem::path& model, const std::string& inputs_spec,
                                  const Agreement& agreement = {});

}  // namespace mcompress::test
