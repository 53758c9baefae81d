// Static shapes from the ONNX library's shape inference (with data propagation), run on a
// weightless skeleton of the model so that large models are not copied for it.
#include <onnx/shape_inference/implementation.h>

#include "mcompress/onnx/model_io.h"
#include "proto.h"

namespace mcompress::onnxio {
namespace {

void fix_batch(onnx::GraphProto& g, int64_t batch) {
  for (auto& in : *g.mutable_input()) {
    if (!in.type().has_tensor_type() || !in.type().tensor_type().has_shape()) continue;
    auto* shape = in.mutable_type()->mutable_tensor_type()->mutable_shape();
    if (shape->dim_size() < 2 || shape->dim(0).has_dim_value()) continue;
    shape->mutable_dim(0)->set_dim_value(batch);
  }
}

void record(const onnx::ValueInfoProto& v, std::map<std::string, ValueShape>& out) {
  if (!v.type().has_tensor_type()) return;
  const auto& tt = v.type().tensor_type();
  ValueShape s;
  s.dtype = static_cast<DType>(tt.elem_type());
  if (!tt.has_shape()) return;
  for (const auto& d : tt.shape().dim()) s.dims.push_back(d.has_dim_value() ? d.dim_value() : -1);
  out[v.name()] = std::move(s);
}

void collect(const onnx::GraphProto& g, std::map<std::string, ValueShape>& out) {
  for (const auto& v : g.input()) record(v, out);
  for (const auto& v : g.value_info()) record(v, out);
  for (const auto& v : g.output()) record(v, out);
  for (const auto& n : g.node()) {
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect(a.g(), out);
      for (const auto& sub : a.graphs()) collect(sub, out);
    }
  }
}

}  // namespace

std::map<std::string, ValueShape> infer_shapes(const ir::Model& model, int64_t batch, std::vector<std::string>* warnings) {
  onnx::ModelProto proto;
  // Skeleton mode reads the model and never moves from it.
  model_to_proto(const_cast<ir::Model&>(model), proto, DataMode::skeleton, nullptr);
  fix_batch(*proto.mutable_graph(), batch);
  std::map<std::string, ValueShape> out;
  try {
    onnx::ShapeInferenceOptions options(/*check_type=*/false, /*error_mode=*/0, /*data_propagation=*/true);
    onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(), options);
  } catch (const std::exception& e) {
    if (warnings) warnings->push_back(std::string("shape inference stopped early: ") + e.what());
  }
  collect(proto.graph(), out);
  return out;
}

}  // namespace mcompress::onnxio
