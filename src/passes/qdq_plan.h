#pragma once
// Static QDQ, step one ("mark"): which tensors get a QuantizeLinear -> DequantizeLinear pair and
// which nodes get int8 weights, decided on the float graph before anything is inserted, so that
// the pairs land where ONNX Runtime fuses them into its integer kernels:
//   Conv / Gemm / MatMul with a constant weight: activation input quantized, weight int8 per
//     channel, bias int32; a Relu (or Clip with min <= 0) reading only the output is absorbed
//     (the QuantizeLinear's saturation does its job) and the output is quantized - always after
//     Conv (QLinearConv needs it), after Gemm/MatMul only when a reader takes it quantized (else
//     ORT runs them with a float output: QGemm / MatMulIntegerToFloat).
//   MaxPool, Flatten, Reshape, Transpose, Squeeze, Unsqueeze, Resize on a quantized input: the
//     output shares the input's scale (ORT then runs them on the 8-bit tensor).
//   Add, Concat, AveragePool, GlobalAveragePool with every input quantized: output quantized
//     with its own range (QLinearAdd, QLinearConcat, QLinearAveragePool ...).
//   Everything else stays float (the safe default); graph outputs are never quantized.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mcompress/ir/graph.h"
#include "mcompress/passes/pass.h"

namespace mcompress::passes {

struct ComputePlan {
  size_t node = 0;                 // index into graph.nodes
  int64_t weight_axis = 0;         // per-channel axis of inputs[1]
  std::optional<size_t> absorbed;  // index of the Relu / Clip folded into the output quantization
  std::string output;              // the tensor the node writes once the activation is absorbed
};

struct QdqPlan {
  std::vector<ComputePlan> compute;
  // Tensor -> the tensor whose calibrated range gives its scale and zero point
  // (itself, or the input of the shape op it passes through).
  std::map<std::string, std::string> marked;
  // Tensors whose range calibration must measure (graph inputs among them are
  // fed, not computed).
  std::vector<std::string> calibrated() const;
};

// `op_types` empty: the default set above; else only those ops are quantized. Nodes whose index is
// in `keep_float` are left alone.
QdqPlan plan_qdq(const ir::Graph& graph, const std::vector<std::string>& op_types, const NameFilter& filter,
                 const std::set<size_t>& keep_float = {});

}  // namespace mcompress::passes
