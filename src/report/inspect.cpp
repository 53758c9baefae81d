#include "mcompress/report/inspect.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>

#include "mcompress/ir/weights.h"
#include "mcompress/onnx/model_io.h"

namespace mcompress::report {
namespace {

using Json = nlohmann::ordered_json;
using ShapeMap = std::map<std::string, onnxio::ValueShape>;

Json value_json(const ir::ValueInfo& v) {
  Json j;
  j["name"] = v.name;
  if (!v.type || !v.type->is_tensor()) {
    j["dtype"] = nullptr;
    j["shape"] = nullptr;
    return j;
  }
  j["dtype"] = std::string(dtype_name(v.type->elem));
  if (!v.type->shape) {
    j["shape"] = nullptr;
    return j;
  }
  Json dims = Json::array();
  for (const ir::Dim& d : *v.type->shape) {
    if (d.value) dims.push_back(*d.value);
    else if (!d.param.empty()) dims.push_back(d.param);
    else dims.push_back(nullptr);
  }
  j["shape"] = dims;
  return j;
}

std::string op_key(const ir::Node& n) { return n.is_default_domain() ? n.op_type : n.domain + "." + n.op_type; }

const std::vector<int64_t>* known_dims(const ShapeMap& shapes, const std::string& name) {
  auto it = shapes.find(name);
  if (it == shapes.end()) return nullptr;
  for (int64_t d : it->second.dims)
    if (d < 0) return nullptr;
  return &it->second.dims;
}

int64_t product(const std::vector<int64_t>& dims, size_t from = 0) {
  int64_t p = 1;
  for (size_t i = from; i < dims.size(); ++i) p *= dims[i];
  return p;
}

// Conv output spatial dims from the input and weight shapes, for when inference gave none.
std::optional<std::vector<int64_t>> conv_output(const ir::Node& n, const std::vector<int64_t>& x,
                                                const std::vector<int64_t>& w) {
  size_t spatial = x.size() - 2;
  if (x.size() < 3 || w.size() != x.size()) return std::nullopt;
  auto strides = n.attr_ints("strides");
  auto dil = n.attr_ints("dilations");
  auto pads = n.attr_ints("pads");
  std::string auto_pad = n.attr_string("auto_pad", "NOTSET");
  std::vector<int64_t> out = {x[0], w[0]};
  for (size_t i = 0; i < spatial; ++i) {
    int64_t s = strides.size() == spatial ? strides[i] : 1;
    int64_t d = dil.size() == spatial ? dil[i] : 1;
    int64_t k = (w[2 + i] - 1) * d + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      out.push_back((x[2 + i] + s - 1) / s);
      continue;
    }
    int64_t p = pads.size() == 2 * spatial && auto_pad == "NOTSET" ? pads[i] + pads[i + spatial] : 0;
    out.push_back((x[2 + i] + p - k) / s + 1);
  }
  return out;
}

// The ops that multiply and add: their float, integer and quantized forms, by the computation
// they share and where their two operands sit.
enum class MacKind { conv, gemm, matmul, matmul_nbits };
struct MacOp {
  std::string_view domain;
  std::string_view op_type;
  MacKind kind;
  size_t a, b;  // operand inputs
};
constexpr MacOp kMacOps[] = {
    {"", "Conv", MacKind::conv, 0, 1},
    {"", "ConvInteger", MacKind::conv, 0, 1},
    {"", "QLinearConv", MacKind::conv, 0, 3},
    {"", "Gemm", MacKind::gemm, 0, 1},
    {"com.microsoft", "QGemm", MacKind::gemm, 0, 3},
    {"", "MatMul", MacKind::matmul, 0, 1},
    {"", "MatMulInteger", MacKind::matmul, 0, 1},
    {"", "QLinearMatMul", MacKind::matmul, 0, 3},
    {"com.microsoft", "MatMulIntegerToFloat", MacKind::matmul, 0, 1},
    {"com.microsoft", "MatMulNBits", MacKind::matmul_nbits, 0, 1},
};

const MacOp* mac_op(const ir::Node& n) {
  std::string_view domain = n.is_default_domain() ? "" : std::string_view(n.domain);
  for (const auto& row : kMacOps)
    if (row.domain == domain && row.op_type == n.op_type) return &row;
  return nullptr;
}

bool has_macs(const ir::Node& n) { return mac_op(n) != nullptr; }

}  // namespace

std::optional<int64_t> node_macs(const ir::Node& n, const ShapeMap& shapes) {
  const MacOp* op = mac_op(n);
  if (!op) return std::nullopt;
  if (n.inputs.size() <= std::max(op->a, op->b) || n.outputs.empty()) return std::nullopt;
  const auto* a = known_dims(shapes, n.inputs[op->a]);
  const auto* b = known_dims(shapes, n.inputs[op->b]);
  const auto* y = known_dims(shapes, n.outputs[0]);
  if (op->kind == MacKind::conv) {
    if (!a || !b) return std::nullopt;
    std::optional<std::vector<int64_t>> out;
    if (y) out = *y;
    else out = conv_output(n, *a, *b);
    if (!out || b->size() < 3) return std::nullopt;
    return product(*out) * product(*b, 1);
  }
  if (op->kind == MacKind::gemm) {
    if (!a || !b || a->size() != 2 || b->size() != 2) return std::nullopt;
    int64_t m = n.attr_int("transA", 0) ? (*a)[1] : (*a)[0];
    int64_t k = n.attr_int("transA", 0) ? (*a)[0] : (*a)[1];
    int64_t cols = n.attr_int("transB", 0) ? (*b)[0] : (*b)[1];
    return m * k * cols;
  }
  if (op->kind == MacKind::matmul_nbits) {  // y = a · dequantized B: K products per output element
    if (!y) return std::nullopt;
    return product(*y) * n.attr_int("K", 0);
  }
  if (op->kind == MacKind::matmul) {
    if (!a || !b || a->empty() || b->empty()) return std::nullopt;
    int64_t k = a->back();
    if (y) return product(*y) * k;
    // Without an output shape: batch dims broadcast; 1-D operands drop their dim.
    int64_t m = a->size() >= 2 ? (*a)[a->size() - 2] : 1;
    int64_t cols = b->size() >= 2 ? b->back() : 1;
    int64_t batch_a = a->size() > 2 ? product(*a) / (m * k) : 1;
    int64_t batch_b = b->size() > 2 ? product(*b) / ((*b)[b->size() - 2] * cols) : 1;
    return std::max(batch_a, batch_b) * m * k * cols;
  }
  return std::nullopt;
}

namespace {

struct Counts {
  int64_t nodes = 0;
  int64_t subgraphs = 0;
  std::map<std::string, int64_t> op_types;
};

std::optional<int64_t> add(std::optional<int64_t> a, std::optional<int64_t> b) {
  return a && b ? std::optional<int64_t>(*a + *b) : std::nullopt;
}

// Counts nodes and op types of g and its subgraphs; returns g's MACs. An If costs its dearer
// branch (one runs); a loop body counts once, as its trip count is not static.
std::optional<int64_t> count_graph(const ir::Graph& g, const ShapeMap& shapes, Counts& c,
                                   std::vector<std::string>& warnings) {
  std::optional<int64_t> macs = 0;
  for (const ir::Node& n : g.nodes) {
    ++c.nodes;
    ++c.op_types[op_key(n)];
    if (has_macs(n)) {
      std::optional<int64_t> m = node_macs(n, shapes);
      if (!m && macs) warnings.push_back("macs unknown: shapes of node " + n.label() + " are not static");
      macs = add(macs, m);
    }
    std::optional<int64_t> branch_max = 0;
    for (const ir::Attribute& a : n.attributes) {
      std::vector<const ir::Graph*> subs;
      if (a.g) subs.push_back(a.g.get());
      for (const ir::Graph& sub : a.graphs) subs.push_back(&sub);
      for (const ir::Graph* sub : subs) {
        ++c.subgraphs;
        std::optional<int64_t> m = count_graph(*sub, shapes, c, warnings);
        branch_max = (m && branch_max) ? std::optional<int64_t>(std::max(*m, *branch_max)) : std::nullopt;
      }
    }
    macs = add(macs, branch_max);
  }
  return macs;
}

}  // namespace

ShapeMap model_shapes(ir::Model& model, const onnxio::ShapeOptions& options, std::vector<std::string>& warnings) {
  ShapeMap shapes = onnxio::infer_shapes(model, options, &warnings);
  // Weight shapes are known even where inference did not record them.
  for (const ir::WeightRef& w : ir::collect_weights(model.graph))
    if (!shapes.count(w.name())) shapes[w.name()] = {w.dtype(), w.sparse ? w.sparse->dims : w.stored->tensor.shape()};
  return shapes;
}

Json inspect_model(ir::Model& model, const onnxio::ShapeOptions& shape_options, std::vector<std::string>& warnings) {
  Json j;
  j["ir_version"] = model.ir_version;
  Json opsets = Json::object();
  for (const auto& o : model.opset_import) opsets[o.domain.empty() ? "ai.onnx" : o.domain] = o.version;
  j["opsets"] = opsets;
  j["producer"] = model.producer_name + (model.producer_version.empty() ? "" : " " + model.producer_version);

  std::set<std::string> initializer_names;
  for (const auto& t : model.graph.initializers) initializer_names.insert(t.name);
  Json inputs = Json::array();
  for (const auto& v : model.graph.inputs)
    if (!initializer_names.count(v.name)) inputs.push_back(value_json(v));
  j["inputs"] = inputs;
  Json outputs = Json::array();
  for (const auto& v : model.graph.outputs) outputs.push_back(value_json(v));
  j["outputs"] = outputs;

  ShapeMap shapes = model_shapes(model, shape_options, warnings);
  std::map<std::string, int64_t> weight_bytes;
  int64_t params = 0;
  for (const ir::WeightRef& w : ir::collect_weights(model.graph)) {
    const Tensor& t = w.stored->tensor;
    weight_bytes[std::string(dtype_name(t.dtype()))] += t.nbytes();
    if (w.sparse) weight_bytes[std::string(dtype_name(w.sparse->indices.tensor.dtype()))] += w.sparse->indices.tensor.nbytes();
    if (dtype_info(t.dtype()).is_float) params += t.numel();
  }

  Counts c;
  std::optional<int64_t> macs = count_graph(model.graph, shapes, c, warnings);
  j["nodes"] = c.nodes;
  j["op_types"] = c.op_types;
  j["weight_bytes"] = weight_bytes;
  j["params"] = params;
  j["macs"] = macs ? Json(*macs) : Json();
  j["subgraphs"] = c.subgraphs;
  return j;
}

std::string inspect_text(const Json& j) {
  std::string out;
  out += fmt::format("{}\n", j["input"]["path"].get<std::string>());
  std::string opsets;
  for (const auto& [domain, version] : j["opsets"].items()) opsets += fmt::format(" {}={}", domain, version.get<int64_t>());
  out += fmt::format("  ir_version {}, opsets{}, producer '{}'\n", j["ir_version"].get<int64_t>(), opsets,
                     j["producer"].get<std::string>());
  auto values = [](const Json& list) {
    std::string s;
    for (const auto& v : list) {
      s += fmt::format("\n    {} {} {}", v["name"].get<std::string>(), v["dtype"].is_null() ? "?" : v["dtype"].get<std::string>(),
                       v["shape"].dump());
    }
    return s;
  };
  out += fmt::format("  inputs:{}\n  outputs:{}\n", values(j["inputs"]), values(j["outputs"]));
  out += fmt::format("  nodes {} ({} subgraphs), params {}, macs {}\n", j["nodes"].get<int64_t>(),
                     j["subgraphs"].get<int64_t>(), j["params"].get<int64_t>(),
                     j["macs"].is_null() ? std::string("unknown") : std::to_string(j["macs"].get<int64_t>()));
  std::string weights;
  for (const auto& [dtype, bytes] : j["weight_bytes"].items()) weights += fmt::format(" {}={}", dtype, bytes.get<int64_t>());
  out += fmt::format("  weight bytes:{}\n  ops:", weights);
  for (const auto& [op, count] : j["op_types"].items()) out += fmt::format(" {}×{}", op, count.get<int64_t>());
  out += "\n";
  return out;
}

}  // namespace mcompress::report
