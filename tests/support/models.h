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

// A tensor graph input; a nullopt dim is symbolic ("N").
ir::ValueInfo tensor_input(const std::string& name, DType dtype, std::vector<std::optional<int64_t>> dims);

// Nodes of the main graph by op type.
std::map<std::string, int> op_counts(const ir::Model& model);
std::map<std::string, int> op_counts(const std::filesystem::path& model);

// The share of equal predictions; 0 when either is empty or their sizes differ.
double top1_agreement(const std::vector<int64_t>& a, const std::vector<int64_t>& b);
// The same for the row-wise argmax of two logits tensors [N, C].
double top1_agreement(const Tensor& a, const Tensor& b);

}  // namespace mcompress::test
