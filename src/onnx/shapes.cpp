// Static shapes from the ONNX library's shape inference (with data propagation), run on a
// weightless skeleton of the model so that large models are not copied for it.
#include <onnx/shape_inference/implementation.h>

#include <optional>
#include <set>

#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"
#include "mcompress/support/log.h"
#include "proto.h"
#include "shape_fold.h"

namespace mcompress::onnxio {
namespace {

// Symbolic leading dims of rank >= 2 inputs become `batch`; named inputs get their given shape.
void fix_inputs(onnx::GraphProto& g, const ShapeOptions& options) {
  std::set<std::string> initializers;
  for (const auto& t : g.initializer()) initializers.insert(t.name());
  for (auto& in : *g.mutable_input()) {
    if (!in.type().has_tensor_type() || initializers.count(in.name())) continue;
    auto* shape = in.mutable_type()->mutable_tensor_type()->mutable_shape();
    if (auto it = options.input_shapes.find(in.name()); it != options.input_shapes.end()) {
      shape->clear_dim();
      for (int64_t d : it->second) shape->add_dim()->set_dim_value(d);
      continue;
    }
    if (shape->dim_size() < 2 || shape->dim(0).has_dim_value()) continue;
    shape->mutable_dim(0)->set_dim_value(options.batch);
  }
}

// The folded value as an initializer of the skeleton, replacing the node that computed it.
void add_folded(onnx::GraphProto& g, const std::string& name, const FoldedValue& v) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(static_cast<int32_t>(v.dtype));
  for (int64_t d : v.dims) t->add_dims(d);
  for (double x : v.values) {
    switch (v.dtype) {
      case DType::i64: t->add_int64_data(to_int(x)); break;
      case DType::f32: t->add_float_data(static_cast<float>(x)); break;
      case DType::f64: t->add_double_data(x); break;
      case DType::u32:
      case DType::u64: t->add_uint64_data(static_cast<uint64_t>(x)); break;
      default: t->add_int32_data(static_cast<int32_t>(x)); break;
    }
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

// Nodes whose value is folded become initializers of their (sub)graph in the skeleton.
void replace_folded(onnx::GraphProto& g, std::map<std::string, FoldedValue>& folded) {
  auto* nodes = g.mutable_node();
  for (int i = nodes->size(); i-- > 0;) {
    const auto& n = nodes->Get(i);
    if (n.output_size() != 1 || !folded.count(n.output(0))) continue;
    add_folded(g, n.output(0), folded[n.output(0)]);
    nodes->DeleteSubrange(i, 1);
  }
  for (auto& n : *g.mutable_node()) {
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_g()) replace_folded(*a.mutable_g(), folded);
      for (auto& sub : *a.mutable_graphs()) replace_folded(sub, folded);
    }
  }
}

bool is_onnx_domain(const std::string& domain) {
  return domain.empty() || domain == "ai.onnx" || domain == "ai.onnx.ml";
}

// ONNX 1.12's data propagation dereferences the type of every input it reads, and an op it has
// no schema for (com.microsoft MatMulNBits, QGemm ...) leaves its outputs untyped: it crashes on
// the Add after an int4 MatMul. Such outputs get a type — their first input's, as for the contrib
// ops that keep the data type, float otherwise — and, for the matrix products mcompress emits, a
// shape, so that what follows them is inferred too. Passes without data propagation find the
// inputs' types and shapes; each pass gets past at least one more contrib op.
struct ContribOutput {
  int32_t elem = 0;
  std::optional<onnx::TensorShapeProto> shape;
};

std::optional<onnx::TensorShapeProto> contrib_shape(const onnx::NodeProto& n,
                                                    const std::map<std::string, const onnx::TypeProto*>& known) {
  auto shape_of = [&](int i) -> const onnx::TensorShapeProto* {
    if (i >= n.input_size()) return nullptr;
    auto it = known.find(n.input(i));
    if (it == known.end() || !it->second->tensor_type().has_shape()) return nullptr;
    return &it->second->tensor_type().shape();
  };
  auto attr = [&](const char* name) -> std::optional<int64_t> {
    for (const auto& a : n.attribute())
      if (a.name() == name) return a.i();
    return std::nullopt;
  };
  const auto* a = shape_of(0);
  if (!a || a->dim_size() == 0) return std::nullopt;
  onnx::TensorShapeProto out = *a;
  if (n.op_type() == "MatMulNBits") {
    auto cols = attr("N");
    if (!cols) return std::nullopt;
    out.mutable_dim(out.dim_size() - 1)->Clear();
    out.mutable_dim(out.dim_size() - 1)->set_dim_value(*cols);
    return out;
  }
  if (n.op_type() == "QGemm") {  // [M, K] x [K, N] with transA / transB
    const auto* b = shape_of(3);
    if (a->dim_size() != 2 || !b || b->dim_size() != 2) return std::nullopt;
    onnx::TensorShapeProto y;
    *y.add_dim() = a->dim(attr("transA").value_or(0) ? 1 : 0);
    *y.add_dim() = b->dim(attr("transB").value_or(0) ? 0 : 1);
    return y;
  }
  if (n.op_type() == "MatMulIntegerToFloat") {
    const auto* b = shape_of(1);
    if (!b || b->dim_size() != 2) return std::nullopt;
    *out.mutable_dim(out.dim_size() - 1) = b->dim(1);
    return out;
  }
  return std::nullopt;
}

using ContribOutputs = std::map<std::string, ContribOutput>;

// The found types and shapes as value_info of the skeleton (replacing any of the same name).
void write_contrib_outputs(onnx::ModelProto& proto, const ContribOutputs& added) {
  auto* g = proto.mutable_graph();
  auto* infos = g->mutable_value_info();
  for (int i = infos->size(); i-- > 0;)
    if (added.count(infos->Get(i).name())) infos->DeleteSubrange(i, 1);
  for (const auto& [name, out] : added) {
    auto* v = g->add_value_info();
    v->set_name(name);
    v->mutable_type()->mutable_tensor_type()->set_elem_type(out.elem);
    if (out.shape) *v->mutable_type()->mutable_tensor_type()->mutable_shape() = *out.shape;
  }
}

// `added` carries over between the rounds of infer_shapes: a later round starts from what the
// first found and normally needs one pass to confirm it, not one per contrib op again.
void type_contrib_outputs(onnx::ModelProto& proto, ContribOutputs& added) {
  bool any = false;
  for (const auto& n : proto.graph().node()) any |= !is_onnx_domain(n.domain());
  if (!any) return;
  if (!added.empty()) write_contrib_outputs(proto, added);
  for (int pass = 0; pass < 64; ++pass) {
    onnx::ModelProto typed = proto;
    try {
      onnx::ShapeInferenceOptions plain(/*check_type=*/false, /*error_mode=*/0, /*data_propagation=*/false);
      onnx::shape_inference::InferShapes(typed, onnx::OpSchemaRegistry::Instance(), plain);
    } catch (const std::exception&) {
      // What was inferred before the error still helps; the main pass reports the error.
    }
    std::map<std::string, const onnx::TypeProto*> known;
    std::map<std::string, onnx::TypeProto> initializer_types;
    const auto& tg = typed.graph();
    for (const auto& t : tg.initializer()) {
      auto& type = initializer_types[t.name()];
      type.mutable_tensor_type()->set_elem_type(t.data_type());
      for (int64_t d : t.dims()) type.mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
      known[t.name()] = &type;
    }
    for (const auto* list : {&tg.input(), &tg.value_info(), &tg.output()})
      for (const auto& v : *list)
        if (v.type().has_tensor_type() && v.type().tensor_type().elem_type() != 0) known[v.name()] = &v.type();
    bool grew = false;
    for (const auto& n : tg.node()) {
      if (is_onnx_domain(n.domain())) continue;
      auto first = n.input_size() ? known.find(n.input(0)) : known.end();
      for (const auto& o : n.output()) {
        if (o.empty()) continue;
        ContribOutput want;
        want.elem = first != known.end() ? first->second->tensor_type().elem_type() : static_cast<int32_t>(DType::f32);
        if (n.output(0) == o) want.shape = contrib_shape(n, known);
        auto it = added.find(o);
        if (it != added.end() && (it->second.shape || !want.shape)) continue;
        added[o] = want;
        grew = true;
      }
    }
    if (!grew) break;
    write_contrib_outputs(proto, added);
  }
}

}  // namespace

std::map<std::string, ValueShape> infer_shapes(const ir::Model& model, const ShapeOptions& options,
                                               std::vector<std::string>* warnings) {
  std::set<std::string> graph_inputs;
  for (const auto& in : model.graph.inputs) graph_inputs.insert(in.name);
  for (const auto& [name, dims] : options.input_shapes)
    if (!graph_inputs.count(name)) throw_usage("--input-shape: the model has no input '{}'", name);

  // Shape inference and folding feed each other: inferred shapes let Shape nodes fold, folded
  // values let Reshape & co. infer. A few rounds reach the fixed point on exported models.
  std::map<std::string, FoldedValue> folded;
  ContribOutputs contrib;  // contrib-op outputs typed so far (see type_contrib_outputs)
  collect_constant_values(model.graph, folded);
  std::map<std::string, ValueShape> out;
  for (int round = 0; round < 16; ++round) {
    onnx::ModelProto proto;
    // Skeleton mode reads the model and never moves from it.
    model_to_proto(const_cast<ir::Model&>(model), proto, DataMode::skeleton, nullptr);
    auto* g = proto.mutable_graph();
    fix_inputs(*g, options);
    replace_folded(*g, folded);
    type_contrib_outputs(proto, contrib);
    try {
      onnx::ShapeInferenceOptions inference(/*check_type=*/false, /*error_mode=*/0, /*data_propagation=*/true);
      onnx::shape_inference::InferShapes(proto, onnx::OpSchemaRegistry::Instance(), inference);
    } catch (const std::exception& e) {
      if (warnings) warnings->push_back(std::string("shape inference stopped early: ") + e.what());
    }
    out.clear();
    collect(proto.graph(), out);
    for (const auto& t : proto.graph().initializer())
      out[t.name()] = {static_cast<DType>(t.data_type()), {t.dims().begin(), t.dims().end()}};
    KnownShapes known;
    for (const auto& [name, shape] : out) known[name] = shape.dims;
    int found = fold_shape_values(model.graph, known, folded);
    model.graph.for_each_subgraph(
        [&](const ir::Graph& sub, const ir::Node&) { found += fold_shape_values(sub, known, folded); });
    log::debug("shape inference round {}: {} shapes known, {} more values folded", round + 1, out.size(), found);
    if (found == 0) break;
  }
  return out;
}

}  // namespace mcompress::onnxio
