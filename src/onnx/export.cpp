// ir::Model → ModelProto → file. With DataMode::move the tensor bytes are swapped into the
// protobuf, so a model is never held twice in memory.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <optional>

#include "external_data.h"
#include "mcompress/ir/weights.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"
#include "mcompress/support/log.h"
#include "proto.h"

namespace mcompress::onnxio {

namespace fs = std::filesystem;

namespace {

// Writes to an AtomicFile through a 1 MiB buffer, but hands large byte fields (tensor raw_data)
// to the kernel straight from their own memory: no copy through the buffer, few syscalls.
class AliasingFileStream : public google::protobuf::io::ZeroCopyOutputStream {
 public:
  explicit AliasingFileStream(AtomicFile& file) : file_(file), buffer_(1 << 20) {}
  bool Next(void** data, int* size) override {
    if (used_ == buffer_.size()) flush();
    *data = buffer_.data() + used_;
    *size = static_cast<int>(buffer_.size() - used_);
    total_ += static_cast<int64_t>(buffer_.size() - used_);
    used_ = buffer_.size();
    return true;
  }
  void BackUp(int count) override {
    used_ -= static_cast<size_t>(count);
    total_ -= count;
  }
  int64_t ByteCount() const override { return total_; }
  bool AllowsAliasing() const override { return true; }
  bool WriteAliasedRaw(const void* data, int size) override {
    flush();
    file_.write(data, static_cast<size_t>(size));
    total_ += size;
    return true;
  }
  void flush() {
    file_.write(buffer_.data(), used_);
    used_ = 0;
  }

 private:
  AtomicFile& file_;
  std::vector<char> buffer_;
  size_t used_ = 0;
  int64_t total_ = 0;
};

struct Exporter {
  DataMode mode;
  ExternalWriter* external;  // only initializers go to external data

  void type_to_proto(const ir::ValueType& t, onnx::TypeProto& p) {
    if (!t.is_tensor()) {
      p.ParseFromString(t.opaque);
      return;
    }
    restore_unknown_fields(t.type_extra, p);
    if (!t.denotation.empty()) p.set_denotation(t.denotation);
    auto* tt = p.mutable_tensor_type();
    restore_unknown_fields(t.tensor_extra, *tt);
    if (t.elem != DType::undefined) tt->set_elem_type(static_cast<int32_t>(t.elem));  // absent stays absent
    if (!t.shape) return;
    auto* shape = tt->mutable_shape();
    for (const ir::Dim& d : *t.shape) {
      auto* dp = shape->add_dim();
      restore_unknown_fields(d.extra, *dp);
      if (d.value) dp->set_dim_value(*d.value);
      if (!d.param.empty()) dp->set_dim_param(d.param);
      if (!d.denotation.empty()) dp->set_denotation(d.denotation);
    }
  }

  void value_info(const ir::ValueInfo& v, onnx::ValueInfoProto& p) {
    restore_unknown_fields(v.extra, p);
    p.set_name(v.name);
    if (v.type) type_to_proto(*v.type, *p.mutable_type());
    if (!v.type && v.empty_type) p.mutable_type();
    if (!v.doc_string.empty()) p.set_doc_string(v.doc_string);
  }

  void tensor(ir::NamedTensor& t, onnx::TensorProto& p, ExternalWriter* ext) { tensor_to_proto(t, p, mode, ext); }

  void sparse(ir::SparseTensor& s, onnx::SparseTensorProto& p, ExternalWriter* ext) {
    restore_unknown_fields(s.extra, p);
    tensor(s.values, *p.mutable_values(), ext);
    tensor(s.indices, *p.mutable_indices(), ext);
    for (int64_t d : s.dims) p.add_dims(d);
  }

  void attribute(ir::Attribute& a, onnx::AttributeProto& p) {
    restore_unknown_fields(a.extra, p);
    p.set_name(a.name);
    if (!a.ref_attr_name.empty()) p.set_ref_attr_name(a.ref_attr_name);
    if (!a.doc_string.empty()) p.set_doc_string(a.doc_string);
    p.set_type(static_cast<onnx::AttributeProto::AttributeType>(a.type));
    switch (a.type) {
      case ir::AttrType::f: p.set_f(a.f); break;
      case ir::AttrType::i: p.set_i(a.i); break;
      case ir::AttrType::s: p.set_s(a.s); break;
      case ir::AttrType::tensor: tensor(a.t, *p.mutable_t(), nullptr); break;
      case ir::AttrType::graph: graph(*a.g, *p.mutable_g()); break;
      case ir::AttrType::sparse_tensor: sparse(*a.sparse, *p.mutable_sparse_tensor(), nullptr); break;
      case ir::AttrType::type_proto: p.mutable_tp()->ParseFromString(a.tp); break;
      case ir::AttrType::floats:
        for (float v : a.floats) p.add_floats(v);
        break;
      case ir::AttrType::ints:
        for (int64_t v : a.ints) p.add_ints(v);
        break;
      case ir::AttrType::strings:
        for (const auto& v : a.strings) p.add_strings(v);
        break;
      case ir::AttrType::tensors:
        for (auto& t : a.tensors) tensor(t, *p.add_tensors(), nullptr);
        break;
      case ir::AttrType::graphs:
        for (auto& g : a.graphs) graph(g, *p.add_graphs());
        break;
      case ir::AttrType::sparse_tensors:
        for (auto& s : a.sparse_tensors) sparse(s, *p.add_sparse_tensors(), nullptr);
        break;
      case ir::AttrType::type_protos:
        for (const auto& tp : a.type_protos) p.add_type_protos()->ParseFromString(tp);
        break;
      case ir::AttrType::undefined: break;
    }
  }

  void node(ir::Node& n, onnx::NodeProto& p) {
    restore_unknown_fields(n.extra, p);
    for (const auto& in : n.inputs) p.add_input(in);
    for (const auto& out : n.outputs) p.add_output(out);
    if (!n.name.empty()) p.set_name(n.name);
    p.set_op_type(n.op_type);
    if (!n.domain.empty()) p.set_domain(n.domain);
    for (auto& a : n.attributes) attribute(a, *p.add_attribute());
    if (!n.doc_string.empty()) p.set_doc_string(n.doc_string);
  }

  void graph(ir::Graph& g, onnx::GraphProto& p) {
    restore_unknown_fields(g.extra, p);
    p.mutable_node()->Reserve(static_cast<int>(g.nodes.size()));
    for (auto& n : g.nodes) node(n, *p.add_node());
    if (!g.name.empty()) p.set_name(g.name);
    for (auto& t : g.initializers) tensor(t, *p.add_initializer(), external);
    for (auto& s : g.sparse_initializers) sparse(s, *p.add_sparse_initializer(), external);
    if (!g.doc_string.empty()) p.set_doc_string(g.doc_string);
    for (const auto& v : g.inputs) value_info(v, *p.add_input());
    for (const auto& v : g.outputs) value_info(v, *p.add_output());
    for (const auto& v : g.value_info) value_info(v, *p.add_value_info());
    for (const auto& qa : g.quantization_annotation) p.add_quantization_annotation()->ParseFromString(qa);
  }
};

// What the weights view says about a model about to be written: all stored tensor bytes
// (against protobuf's limit), and whether Constant nodes hold tensors that external data would
// take if they were initializers.
struct WeightSummary {
  int64_t stored_bytes = 0;
  bool large_constants = false;
};

WeightSummary summarize_weights(ir::Graph& g, int64_t external_threshold) {
  WeightSummary summary;
  for (const ir::WeightRef& w : ir::collect_weights(g)) {
    summary.stored_bytes += w.stored_bytes();
    if (w.kind == ir::WeightKind::constant_node && w.stored_bytes() >= external_threshold) summary.large_constants = true;
  }
  return summary;
}

}  // namespace

void model_to_proto(ir::Model& m, onnx::ModelProto& p, DataMode mode, ExternalWriter* external) {
  Exporter ex{mode, external};
  restore_unknown_fields(m.extra, p);
  p.set_ir_version(m.ir_version);
  if (!m.producer_name.empty()) p.set_producer_name(m.producer_name);
  if (!m.producer_version.empty()) p.set_producer_version(m.producer_version);
  if (!m.domain.empty()) p.set_domain(m.domain);
  if (m.model_version != 0) p.set_model_version(m.model_version);
  if (!m.doc_string.empty()) p.set_doc_string(m.doc_string);
  ex.graph(m.graph, *p.mutable_graph());
  for (const auto& o : m.opset_import) {
    auto* op = p.add_opset_import();
    restore_unknown_fields(o.extra, *op);
    if (!o.domain.empty()) op->set_domain(o.domain);
    op->set_version(o.version);
  }
  for (const auto& [k, v] : m.metadata_props) {
    auto* kv = p.add_metadata_props();
    kv->set_key(k);
    kv->set_value(v);
  }
  for (const auto& t : m.training_info) p.add_training_info()->ParseFromString(t);
  for (const auto& f : m.functions) p.add_functions()->ParseFromString(f);
}

SaveResult save_model(ir::Model&& model, const fs::path& path, const SaveOptions& options) {
  SaveResult result;
  result.external = options.external_data;
  // Read before model_to_proto moves the bytes out.
  WeightSummary weights = summarize_weights(model.graph, options.external_threshold_bytes);
  if (!result.external && weights.stored_bytes > options.force_external_bytes) {
    log::info("{}: weights exceed protobuf's 2 GiB limit; writing them as external data", path.string());
    result.external = true;
  }
  std::optional<ExternalWriter> external;
  if (result.external) {
    result.data_path = path;
    result.data_path += ".data";
    external.emplace(result.data_path, options.external_threshold_bytes);
  }
  onnx::ModelProto proto;
  model_to_proto(model, proto, DataMode::move, external ? &*external : nullptr);

  AtomicFile file(path);
  {
    AliasingFileStream stream(file);
    {
      google::protobuf::io::CodedOutputStream coded(&stream);
      coded.EnableAliasing(true);
      result.model_bytes = static_cast<int64_t>(proto.ByteSizeLong());
      proto.SerializeWithCachedSizes(&coded);
      if (coded.HadError()) throw_bad_input("{}: writing the model failed", path.string());
    }
    stream.flush();
  }
  if (external) {
    result.data_bytes = external->bytes_written();
    external->commit();
    if (result.data_bytes == 0) {
      log::warn("{}: no initializer reaches {} bytes, so no external data file was written{}", path.string(),
                options.external_threshold_bytes,
                weights.large_constants ? " (weights sit in Constant nodes: add --constants-to-initializers)" : "");
      result.external = false;
      result.data_path.clear();
    }
  }
  file.commit();
  return result;
}

std::string serialize_model(const ir::Model& model) {
  ir::Model copy = model;
  onnx::ModelProto proto;
  model_to_proto(copy, proto, DataMode::move, nullptr);
  std::string out;
  proto.SerializeToString(&out);
  return out;
}

}  // namespace mcompress::onnxio
