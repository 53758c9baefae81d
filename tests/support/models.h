#pragma once
// Fashion-MNIST as the tests read it, and what they count in models and in predictions.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mcompress/ir/graph.h"
#include "mcompress/tensor/tensor.h"

namespace mcompress::test {

inline const std::filesystem::path kFashionDir = "/usr/share/datasets/fashion-mnist";
// The bundled models' preprocessing (what they were trained on).
inline const std::string kFashionPreprocess = "scale=0.00392156862745098,mean=0.2860,std=0.3530";

// The first n Fashion-MNIST test images, preprocessed as the bundled models expect, written to
// dir/fashion_N.npz as input "input" [n,1,28,28] (float32).
std::filesystem::path fashion_inputs(int64_t n, const std::filesystem::path& dir);
// Their n labels (uint8), written to dir/fashion_labels_N.npy.
std::filesystem::path fashion_labels(int64_t n, const std::filesystem::path& dir);
// A tensor graph input; a nullopt dim is symbolic ("N").
ir::ValueInfo tensor_input(const std::string& name, DType dtype, std::vector<std::optional<int64_t>> dims);

// Nodes of the main graph by op type.
std::map<std::string, int> op_counts(const ir::Model& model);
std::map<std::string, int> op_counts(const std::filesystem::path& model);

// The share of equal predictions; 0 when either is empty or their sizes differ.
double top1_agreement(const std::vector<int64_t>& a, const std::vector<int64_t>& b);
// The same for the row-wise argmax of two logits tensors [N, C].
double top1_agreement(const Tensor& a, const Tensor& b);

// `mcompress quantize IN -o OUT --json -q` in a mode as the tests name it: weight, dynamic
// (--mode), int4 (--bits 4), fp16 (--bits 16).
std::vector<std::string> quantize_args(const std::filesystem::path& in, const std::filesystem::path& out,
                                       const std::string& mode);

}  // namespace mcompress::test
