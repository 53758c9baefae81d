#pragma once
// ONNX files ⇄ ir::Model. The only public door to protobuf: nothing outside src/onnx includes
// onnx or protobuf headers.
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mcompress/ir/graph.h"

namespace mcompress::onnxio {

// Reads MODEL (external data resolved relative to its folder), validates every stored tensor
// and the graph structure. Throws Error(bad_input) naming the file / tensor / node.
ir::Model load_model(const std::filesystem::path& path);

// The same from bytes already in memory (fuzzing, tests). `base_dir` resolves external data;
// `where` names the source in messages.
ir::Model load_model_from_bytes(std::string_view bytes, const std::filesystem::path& base_dir,
                                const std::string& where);

// Protobuf cannot hold more than 2 GiB; above this many tensor bytes external data is forced.
constexpr int64_t kForceExternalBytes = (int64_t{1} << 31) - (int64_t{64} << 20);

// One serialized TensorProto (.pb files of ONNX's test data and of --data folders).
ir::NamedTensor load_tensor_file(const std::filesystem::path& path);
ir::NamedTensor load_tensor_from_bytes(std::string_view bytes, const std::string& where);

struct SaveOptions {
  bool external_data = false;               // weights to OUT.data beside OUT
  int64_t external_threshold_bytes = 1024;  // smaller tensors stay inline
  int64_t force_external_bytes = kForceExternalBytes;
};

struct SaveResult {
  int64_t model_bytes = 0;
  int64_t data_bytes = 0;  // 0 without external data
  bool external = false;
  std::filesystem::path data_path;
};

// Writes the model atomically (temp file + rename); moves tensor bytes out of `model`, which is
// left without weights.
SaveResult save_model(ir::Model&& model, const std::filesystem::path& path, const SaveOptions& options);

// Serialized ModelProto bytes (tests, fuzzing); copies the weights.
std::string serialize_model(const ir::Model& model);

// Static shapes of every value that the ONNX library's shape inference (with data propagation)
// can determine, helped by folding the small integer computations exporters use to build shapes.
// Unknown dims are -1. Keyed by value name, subgraph values included.
struct ValueShape {
  DType dtype = DType::undefined;
  std::vector<int64_t> dims;  // -1 for unknown
};
struct ShapeOptions {
  int64_t batch = 1;  // for symbolic leading dims of graph inputs of rank >= 2
  std::map<std::string, std::vector<int64_t>> input_shapes;  // whole shapes for named inputs
};
std::map<std::string, ValueShape> infer_shapes(const ir::Model& model, const ShapeOptions& options,
                                               std::vector<std::string>* warnings);

}  // namespace mcompress::onnxio
