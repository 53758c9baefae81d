// ModelProto → ir::Model. Tensor bytes are moved, not copied, out of the parsed protobuf.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "mcompress/ir/verify.h"
#include "mcompress/onnx/external_files.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"
#include "mcompress/support/file_io.h"
#include "proto.h"

namespace mcompress::onnxio {

namespace fs = std::filesystem;
namespace pb = google::protobuf;

namespace {

struct Importer {
  ExternalReader& reader;
  std::string where;

  ir::ValueType type_from_proto(onnx::TypeProto& p) {
    ir::ValueType t;
    if (!p.has_tensor_type()) {
      p.SerializeToString(&t.opaque);
      return t;
    }
    t.denotation = p.denotation();
    t.type_extra = unknown_fields(p);
    auto& tt = *p.mutable_tensor_type();
    t.elem = static_cast<DType>(tt.elem_type());
    if (tt.has_shape()) {
      t.shape.emplace();
      for (auto& d : *tt.mutable_shape()->mutable_dim()) {
        ir::Dim dim;
        if (d.has_dim_value()) dim.value = d.dim_value();
        if (d.has_dim_param()) dim.param = d.dim_param();
        dim.denotation = d.denotation();
        dim.extra = unknown_fields(d);
        t.shape->push_back(std::move(dim));
      }
    }
    // Unknown fields at the TypeProto / Tensor / Shape level are rare; keep the tensor's.
    t.tensor_extra = unknown_fields(tt);
    return t;
  }

  ir::ValueInfo value_info(onnx::ValueInfoProto& p) {
    ir::ValueInfo v;
    v.name = p.name();
    // An empty TypeProto declares no type, like an absent one (PyTorch writes it for If branch
    // outputs); it is not a tensor of element type 0, which ONNX Runtime refuses to load.
    if (p.has_type() && p.type().ByteSizeLong() == 0) v.empty_type = true;
    else if (p.has_type()) v.type = type_from_proto(*p.mutable_type());
    v.doc_string = p.doc_string();
    v.extra = unknown_fields(p);
    return v;
  }

  ir::SparseTensor sparse(onnx::SparseTensorProto& p) {
    ir::SparseTensor s;
    s.values = tensor_from_proto(*p.mutable_values(), reader, where);
    s.indices = tensor_from_proto(*p.mutable_indices(), reader, where);
    s.dims.assign(p.dims().begin(), p.dims().end());
    std::string what = where + ": sparse tensor '" + s.values.name + "'";
    int64_t dense = checked_numel(s.dims, what);
    const Tensor& idx = s.indices.tensor;
    int64_t nnz = s.values.tensor.numel();
    if (s.values.tensor.rank() != 1) throw_bad_input("{}: values must be 1-D", what);
    if (idx.dtype() != DType::i64 && idx.dtype() != DType::i32)
      throw_bad_input("{}: indices must be int64 or int32, got {}", what, dtype_name(idx.dtype()));
    bool linear = idx.rank() == 1 && idx.shape()[0] == nnz;
    bool coords = idx.rank() == 2 && idx.shape()[0] == nnz && idx.shape()[1] == static_cast<int64_t>(s.dims.size());
    if (!linear && !coords) throw_bad_input("{}: indices shape {} does not match {} values", what, shape_string(idx.shape()), nnz);
    for (int64_t k = 0; linear && k < nnz; ++k) {
      auto v = static_cast<int64_t>(element_as_double(idx, k));
      if (v < 0 || v >= dense) throw_bad_input("{}: index {} is outside dims {}", what, v, shape_string(s.dims));
    }
    s.extra = unknown_fields(p);
    return s;
  }

  static ir::AttrType infer_attr_type(const onnx::AttributeProto& a) {
    if (a.has_f()) return ir::AttrType::f;
    if (a.has_i()) return ir::AttrType::i;
    if (a.has_s()) return ir::AttrType::s;
    if (a.has_t()) return ir::AttrType::tensor;
    if (a.has_g()) return ir::AttrType::graph;
    if (a.has_sparse_tensor()) return ir::AttrType::sparse_tensor;
    if (a.has_tp()) return ir::AttrType::type_proto;
    if (a.floats_size()) return ir::AttrType::floats;
    if (a.ints_size()) return ir::AttrType::ints;
    if (a.strings_size()) return ir::AttrType::strings;
    if (a.tensors_size()) return ir::AttrType::tensors;
    if (a.graphs_size()) return ir::AttrType::graphs;
    if (a.sparse_tensors_size()) return ir::AttrType::sparse_tensors;
    if (a.type_protos_size()) return ir::AttrType::type_protos;
    return ir::AttrType::undefined;
  }

  ir::Attribute attribute(onnx::AttributeProto& p, const std::string& node_label) {
    ir::Attribute a;
    a.name = p.name();
    a.ref_attr_name = p.ref_attr_name();
    a.doc_string = p.doc_string();
    a.type = p.has_type() && p.type() != onnx::AttributeProto::UNDEFINED ? static_cast<ir::AttrType>(p.type())
                                                                           : infer_attr_type(p);
    a.f = p.f();
    a.i = p.i();
    a.s = p.s();
    if (p.has_t()) a.t = tensor_from_proto(*p.mutable_t(), reader, where);
    if (p.has_g()) a.g = ir::Box<ir::Graph>(graph(*p.mutable_g()));
    if (p.has_sparse_tensor()) a.sparse = ir::Box<ir::SparseTensor>(sparse(*p.mutable_sparse_tensor()));
    if (p.has_tp()) p.tp().SerializeToString(&a.tp);
    a.floats.assign(p.floats().begin(), p.floats().end());
    a.ints.assign(p.ints().begin(), p.ints().end());
    a.strings.assign(p.strings().begin(), p.strings().end());
    for (auto& t : *p.mutable_tensors()) a.tensors.push_back(tensor_from_proto(t, reader, where));
    for (auto& g : *p.mutable_graphs()) a.graphs.push_back(graph(g));
    for (auto& s : *p.mutable_sparse_tensors()) a.sparse_tensors.push_back(sparse(s));
    for (auto& tp : p.type_protos()) tp.SerializeToString(&a.type_protos.emplace_back());
    auto require = [&](ir::AttrType type, bool has, const char* what) {
      if (a.type == type && !has)
        throw_bad_input("{}: node {}: attribute '{}' is of type {} but holds no {}", where, node_label, a.name,
                        what, what == std::string("GRAPH") ? "graph" : "value");
    };
    require(ir::AttrType::graph, p.has_g(), "GRAPH");
    require(ir::AttrType::tensor, p.has_t(), "TENSOR");
    require(ir::AttrType::sparse_tensor, p.has_sparse_tensor(), "SPARSE_TENSOR");
    require(ir::AttrType::type_proto, p.has_tp(), "TYPE_PROTO");
    if (static_cast<int>(a.type) < 0 || static_cast<int>(a.type) > static_cast<int>(ir::AttrType::type_protos))
      throw_bad_input("{}: node {}: attribute '{}' has unknown type {}", where, node_label, a.name, static_cast<int>(a.type));
    a.extra = unknown_fields(p);
    return a;
  }

  ir::Node node(onnx::NodeProto& p) {
    ir::Node n;
    n.name = p.name();
    n.op_type = p.op_type();
    n.domain = p.domain();
    n.inputs.assign(p.input().begin(), p.input().end());
    n.outputs.assign(p.output().begin(), p.output().end());
    n.doc_string = p.doc_string();
    std::string label = n.label();
    if (n.op_type.empty()) throw_bad_input("{}: node {} has no op_type", where, label);
    for (auto& a : *p.mutable_attribute()) n.attributes.push_back(attribute(a, label));
    n.extra = unknown_fields(p);
    return n;
  }

  ir::Graph graph(onnx::GraphProto& p) {
    ir::Graph g;
    g.name = p.name();
    g.doc_string = p.doc_string();
    for (auto& v : *p.mutable_input()) g.inputs.push_back(value_info(v));
    for (auto& v : *p.mutable_output()) g.outputs.push_back(value_info(v));
    for (auto& v : *p.mutable_value_info()) g.value_info.push_back(value_info(v));
    g.initializers.reserve(static_cast<size_t>(p.initializer_size()));
    for (auto& t : *p.mutable_initializer()) {
      if (t.name().empty()) throw_bad_input("{}: an initializer of graph '{}' has no name", where, g.name);
      g.initializers.push_back(tensor_from_proto(t, reader, where));
    }
    for (auto& s : *p.mutable_sparse_initializer()) g.sparse_initializers.push_back(sparse(s));
    g.nodes.reserve(static_cast<size_t>(p.node_size()));
    for (auto& n : *p.mutable_node()) g.nodes.push_back(node(n));
    for (auto& qa : p.quantization_annotation()) qa.SerializeToString(&g.quantization_annotation.emplace_back());
    g.extra = unknown_fields(p);
    return g;
  }
};

// Protobuf's own log lines (e.g. on oversize messages) go to our logger's debug level, not raw
// to stderr.
void quiet_protobuf() {
  static bool done = [] {
    pb::SetLogHandler([](pb::LogLevel, const char*, int, const std::string&) {});
    return true;
  }();
  (void)done;
}

// Parses a whole ModelProto from `fd` (closed afterwards), up to protobuf's 2 GiB limit.
bool parse_file(int fd, onnx::ModelProto& proto) {
  pb::io::FileInputStream stream(fd, 1 << 20);
  stream.SetCloseOnDelete(true);
  pb::io::CodedInputStream coded(&stream);
  coded.SetTotalBytesLimit(INT32_MAX);
  return proto.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
}

ir::Model finish(onnx::ModelProto& proto, const fs::path& base_dir, const std::string& where) {
  if (!proto.has_graph())
    throw_bad_input("{}: not an ONNX model (no graph; empty or not a ModelProto file)", where);
  if (!proto.has_ir_version() || proto.ir_version() <= 0)
    throw_bad_input("{}: not an ONNX model (missing ir_version)", where);
  ExternalReader reader(base_dir, where);
  ir::Model model = model_from_proto(proto, reader, where);
  ir::verify(model.graph, where);
  return model;
}

}  // namespace

ir::Model model_from_proto(onnx::ModelProto& p, ExternalReader& reader, const std::string& where) {
  Importer im{reader, where};
  ir::Model m;
  m.ir_version = p.ir_version();
  for (const auto& o : p.opset_import()) m.opset_import.push_back({o.domain(), o.version(), unknown_fields(o)});
  m.producer_name = p.producer_name();
  m.producer_version = p.producer_version();
  m.domain = p.domain();
  m.model_version = p.model_version();
  m.doc_string = p.doc_string();
  m.graph = im.graph(*p.mutable_graph());
  for (const auto& kv : p.metadata_props()) m.metadata_props.emplace_back(kv.key(), kv.value());
  for (const auto& t : p.training_info()) t.SerializeToString(&m.training_info.emplace_back());
  for (const auto& f : p.functions()) f.SerializeToString(&m.functions.emplace_back());
  m.extra = unknown_fields(p);
  return m;
}

ir::Model load_model(const fs::path& path) {
  quiet_protobuf();
  const std::string where = path.string();
  std::error_code ec;
  if (!fs::exists(path, ec)) throw_bad_input("{}: no such file", where);
  if (fs::is_directory(path, ec)) throw_bad_input("{}: is a directory, expected an ONNX model file", where);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_bad_input("{}: cannot open: {}", where, std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  if (st.st_size == 0) {
    ::close(fd);
    throw_bad_input("{}: empty file, expected an ONNX model", where);
  }
  onnx::ModelProto proto;
  if (!parse_file(fd, proto))
    throw_bad_input("{}: not a valid ONNX model (protobuf parse failed: truncated or not a ModelProto)", where);
  return finish(proto, path.parent_path(), where);
}

ir::Model load_model_from_bytes(std::string_view bytes, const fs::path& base_dir, const std::string& where) {
  quiet_protobuf();
  if (bytes.empty()) throw_bad_input("{}: empty file, expected an ONNX model", where);
  onnx::ModelProto proto;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw_bad_input("{}: not a valid ONNX model (protobuf parse failed: truncated or not a ModelProto)", where);
  return finish(proto, base_dir, where);
}

ir::NamedTensor load_tensor_from_bytes(std::string_view bytes, const std::string& where) {
  quiet_protobuf();
  onnx::TensorProto proto;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    throw_bad_input("{}: not a serialized ONNX TensorProto", where);
  if (!proto.has_data_type()) throw_bad_input("{}: not a serialized ONNX TensorProto (no data type)", where);
  ExternalReader reader(".", where);
  if (proto.data_location() == onnx::TensorProto::EXTERNAL)
    throw_unsupported("{}: tensor files with external data are not supported", where);
  return tensor_from_proto(proto, reader, where);
}

ir::NamedTensor load_tensor_file(const fs::path& path) {
  return load_tensor_from_bytes(read_file(path), path.string());
}

namespace {

void collect_external(const onnx::TensorProto& t, std::set<std::string>& out) {
  if (t.data_location() != onnx::TensorProto::EXTERNAL) return;
  for (const auto& kv : t.external_data())
    if (kv.key() == "location") out.insert(kv.value());
}

void collect_external(const onnx::GraphProto& g, std::set<std::string>& out) {
  for (const auto& t : g.initializer()) collect_external(t, out);
  for (const auto& s : g.sparse_initializer()) {
    collect_external(s.values(), out);
    collect_external(s.indices(), out);
  }
  for (const auto& n : g.node())
    for (const auto& a : n.attribute()) {
      if (a.has_t()) collect_external(a.t(), out);
      for (const auto& t : a.tensors()) collect_external(t, out);
      if (a.has_g()) collect_external(a.g(), out);
      for (const auto& sub : a.graphs()) collect_external(sub, out);
    }
}

}  // namespace

std::vector<fs::path> external_data_files(const fs::path& path) {
  quiet_protobuf();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  onnx::ModelProto proto;
  if (!parse_file(fd, proto)) return {};
  std::set<std::string> locations;
  collect_external(proto.graph(), locations);
  for (const auto& f : proto.functions())
    for (const auto& n : f.node())
      for (const auto& a : n.attribute())
        if (a.has_t()) collect_external(a.t(), locations);
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& loc : locations) {
    fs::path full = path.parent_path() / loc;
    if (!fs::path(loc).is_absolute() && fs::is_regular_file(full, ec)) files.push_back(full);
  }
  return files;
}

}  // namespace mcompress::onnxio
