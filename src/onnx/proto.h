#pragma once
// Private to the onnx module: ModelProto ⇄ ir conversions.
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "mcompress/ir/graph.h"

namespace mcompress::onnxio {

// Where external data is read from: the model's folder, with open files cached.
class ExternalReader {
 public:
  ExternalReader(std::filesystem::path base_dir, std::string where);
  ~ExternalReader();
  ExternalReader(const ExternalReader&) = delete;
  ExternalReader& operator=(const ExternalReader&) = delete;
  // Reads the bytes a tensor's external_data entries point at.
  std::string read(const onnx::TensorProto& proto, const std::string& tensor_name);

 private:
  int open_location(const std::string& location, const std::string& tensor_name);
  std::filesystem::path base_dir_;
  std::filesystem::path base_canonical_;
  std::string where_;
  std::map<std::string, int> fds_;
};

// Collects tensors written to OUT.data during export.
class ExternalWriter;

enum class DataMode {
  move,      // swap bytes between ir and protobuf (no copy)
  copy,      // copy bytes
  skeleton,  // dims and types only, plus small integer tensors (for shape inference)
};

ir::Model model_from_proto(onnx::ModelProto& proto, ExternalReader& reader, const std::string& where);
void model_to_proto(ir::Model& model, onnx::ModelProto& proto, DataMode mode, ExternalWriter* external);

ir::NamedTensor tensor_from_proto(onnx::TensorProto& proto, ExternalReader& reader, const std::string& where);
void tensor_to_proto(ir::NamedTensor& t, onnx::TensorProto& proto, DataMode mode, ExternalWriter* external);

std::string unknown_fields(const google::protobuf::Message& msg);
void restore_unknown_fields(const std::string& extra, google::protobuf::Message& msg);

}  // namespace mcompress::onnxio
