#pragma once
// `inspect`: what is in a model, as the keys CLI.md lists for it.
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mcompress/ir/graph.h"
#include "mcompress/onnx/model_io.h"

namespace mcompress::report {

// Keys: ir_version, opsets, producer, inputs, outputs, nodes, op_types, weight_bytes, params,
// macs (for the input shapes of `shape_options`: by default a symbolic leading batch dim counts
// as 1; null when a Conv/Gemm/MatMul still has unknown shapes), subgraphs.
nlohmann::ordered_json inspect_model(ir::Model& model, const onnxio::ShapeOptions& shape_options,
                                     std::vector<std::string>& warnings);

// Multiply-accumulates of one Conv / Gemm / MatMul for the shapes `infer_shapes` gave; nullopt
// when they are not static (or for any other op).
std::optional<int64_t> node_macs(const ir::Node& node, const std::map<std::string, onnxio::ValueShape>& shapes);

// The shapes node_macs reads: `infer_shapes` for `options` (its warnings appended), plus every
// weight's shape where inference did not record it (weights in subgraphs, sparse weights).
std::map<std::string, onnxio::ValueShape> model_shapes(ir::Model& model, const onnxio::ShapeOptions& options,
                                                       std::vector<std::string>& warnings);

// A few lines for people (the default output of `inspect`).
std::string inspect_text(const nlohmann::ordered_json& j);

}  // namespace mcompress::report
