#include "mcompress/onnx/opset.h"

#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"
#include "proto.h"

namespace mcompress::onnxio {

void upgrade_opset(ir::Model& model, int64_t target) {
  if (model.opset("") >= target) return;
  onnx::ModelProto proto;
  model_to_proto(model, proto, DataMode::move, nullptr);
  try {
    // Some adapters (Softmax, Reshape) need shapes; the converter wants them in value_info.
    onnx::shape_inference::InferShapes(proto);
    onnx::ModelProto converted = onnx::version_conversion::ConvertVersion(proto, static_cast<int>(target));
    proto = std::move(converted);
  } catch (const std::exception& e) {
    throw_unsupported("cannot raise the model from opset {} to {} (needed for the ops this command emits): {}",
                      model.opset(""), target, e.what());
  }
  ExternalReader reader(".", "opset upgrade");
  model = model_from_proto(proto, reader, "opset upgrade");
}

}  // namespace mcompress::onnxio
