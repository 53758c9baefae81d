#include "mcompress/passes/opset_upgrade.h"

#include <algorithm>
#include <set>
#include <string_view>

#include "graph_edit.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/onnx/opset.h"
#include "mcompress/support/error.h"

namespace mcompress::passes {

namespace {

// Ops whose inputs, attributes and meaning are the same from opset 9 up to 13
// (for what inference uses).
const std::set<std::string_view> kUnchanged = {"Abs",
                                               "Add",
                                               "And",
                                               "ArgMax",
                                               "ArgMin",
                                               "AveragePool",
                                               "BatchNormalization",
                                               "Cast",
                                               "Ceil",
                                               "Concat",
                                               "Constant",
                                               "ConstantOfShape",
                                               "Conv",
                                               "ConvTranspose",
                                               "Cos",
                                               "DepthToSpace",
                                               "Div",
                                               "Dropout",
                                               "Elu",
                                               "Equal",
                                               "Erf",
                                               "Exp",
                                               "Expand",
                                               "Flatten",
                                               "Floor",
                                               "Gather",
                                               "GatherElements",
                                               "Gemm",
                                               "GlobalAveragePool",
                                               "GlobalMaxPool",
                                               "Greater",
                                               "HardSigmoid",
                                               "Identity",
                                               "InstanceNormalization",
                                               "LeakyRelu",
                                               "Less",
                                               "Log",
                                               "LRN",
                                               "MatMul",
                                               "Max",
                                               "MaxPool",
                                               "Mean",
                                               "Min",
                                               "Mul",
                                               "Neg",
                                               "Not",
                                               "Or",
                                               "PRelu",
                                               "Pow",
                                               "Reciprocal",
                                               "ReduceL2",
                                               "ReduceMax",
                                               "ReduceMean",
                                               "ReduceMin",
                                               "ReduceProd",
                                               "Relu",
                                               "Reshape",
                                               "Resize",
                                               "Selu",
                                               "Shape",
                                               "Sigmoid",
                                               "Sign",
                                               "Sin",
                                               "Size",
                                               "Softplus",
                                               "Softsign",
                                               "SpaceToDepth",
                                               "Sqrt",
                                               "Sub",
                                               "Sum",
                                               "Tanh",
                                               "Tile",
                                               "Transpose",
                                               "Where",
                                               "Xor",
                                               "Einsum",
                                               "Range",
                                               "NonZero",
                                               "ScatterND",
                                               "GatherND"};

struct Rewriter {
  ir::Graph& graph;
  edit::Namer names;
  std::vector<ir::Node> before, after;  // nodes the current rewrite puts around the node

  std::string fresh(const std::string& base) { return names.fresh(base); }
  std::string add(const ir::Node& node, const std::string& what, Tensor value) {
    ir::NamedTensor& t = graph.initializers.emplace_back();
    t.name = fresh(node.label() + "_" + what);
    t.tensor = std::move(value);
    return t.name;
  }
  std::string add_ints(const ir::Node& node, const std::string& what, const std::vector<int64_t>& values) {
    return add(node, what, Tensor::from_values<int64_t>(DType::i64, {static_cast<int64_t>(values.size())}, values));
  }
  std::string add_float(const ir::Node& node, const std::string& what, float value) {
    return add(node, what, Tensor::from_values<float>(DType::f32, {}, std::span<const float>(&value, 1)));
  }
};

void drop_attr(ir::Node& node, std::string_view name) {
  std::erase_if(node.attributes, [&](const ir::Attribute& a) { return a.name == name; });
}

// axes attribute -> second input (Squeeze, Unsqueeze, ReduceSum at 13).
void axes_to_input(ir::Node& node, Rewriter& rw, int64_t /*rank*/) {
  const ir::Attribute* axes = node.attr("axes");
  if (!axes) return;
  std::string name = rw.add_ints(node, "axes", axes->ints);
  node.inputs.resize(1);
  node.inputs.push_back(name);
  drop_attr(node, "axes");
}

void clip_to_inputs(ir::Node& node, Rewriter& rw, int64_t) {
  if (node.inputs.size() > 1) return;  // already opset-11 form
  const ir::Attribute* lo = node.attr("min");
  const ir::Attribute* hi = node.attr("max");
  node.inputs.push_back(lo ? rw.add_float(node, "min", lo->f) : "");
  node.inputs.push_back(hi ? rw.add_float(node, "max", hi->f) : "");
  if (node.inputs.back().empty()) node.inputs.pop_back();
  if (node.inputs.back().empty()) node.inputs.pop_back();
  drop_attr(node, "min");
  drop_attr(node, "max");
}

void slice_to_inputs(ir::Node& node, Rewriter& rw, int64_t) {
  if (node.inputs.size() > 1) return;
  node.inputs.push_back(rw.add_ints(node, "starts", node.attr_ints("starts")));
  node.inputs.push_back(rw.add_ints(node, "ends", node.attr_ints("ends")));
  if (node.attr("axes")) node.inputs.push_back(rw.add_ints(node, "axes", node.attr_ints("axes")));
  for (auto a : {"starts", "ends", "axes"}) drop_attr(node, a);
}

// Before 13 softmax flattened the input to 2-D at `axis`. Over the last axis both agree; else
// (or when the rank is unknown) spell the old meaning out: Flatten, Softmax over axis 1, Reshape
// back to the input's shape.
void softmax_coerced(ir::Node& node, Rewriter& rw, int64_t rank) {
  int64_t axis = node.attr_int("axis", 1);
  if (rank >= 0 && (axis == rank - 1 || axis == -1)) return;
  const std::string x = node.inputs[0], y = node.outputs[0], base = node.label();
  std::string flat = rw.fresh(base + "_flat"), shape = rw.fresh(base + "_shape"), soft = rw.fresh(base + "_2d");
  rw.before.push_back(
      edit::make_node("Flatten", {x}, {flat}, rw.fresh(base + "_Flatten"), {edit::int_attr("axis", axis)}));
  rw.before.push_back(edit::make_node("Shape", {x}, {shape}, rw.fresh(base + "_Shape")));
  node.inputs[0] = flat;
  node.outputs[0] = soft;
  drop_attr(node, "axis");
  node.attributes.push_back(edit::int_attr("axis", 1));
  rw.after.push_back(edit::make_node("Reshape", {soft, shape}, {y}, rw.fresh(base + "_Reshape")));
}

struct UpgradeRow {
  std::string_view op_type;
  int64_t changed_at;  // applies when raising a model from below this opset to it or above
  void (*rewrite)(ir::Node&, Rewriter&, int64_t input_rank);
};

constexpr UpgradeRow kUpgrades[] = {
    {"Clip", 11, clip_to_inputs},        {"Slice", 10, slice_to_inputs},   {"Squeeze", 13, axes_to_input},
    {"Unsqueeze", 13, axes_to_input},    {"ReduceSum", 13, axes_to_input}, {"Softmax", 13, softmax_coerced},
    {"LogSoftmax", 13, softmax_coerced},
};

const UpgradeRow* find_upgrade(std::string_view op) {
  for (const auto& row : kUpgrades)
    if (row.op_type == op) return &row;
  return nullptr;
}

}  // namespace

int64_t upgrade_opset(ir::Model& model, int64_t target) {
  auto it = std::find_if(model.opset_import.begin(), model.opset_import.end(),
                         [](const ir::OpsetImport& o) { return o.domain.empty() || o.domain == "ai.onnx"; });
  if (it == model.opset_import.end() || it->version >= target) return 0;
  const int64_t from = it->version;

  bool needs_ranks = false;
  for (const auto& node : model.graph.nodes) {
    if (!node.is_default_domain()) continue;
    for (const auto& a : node.attributes)
      if (a.g || !a.graphs.empty())
        throw_unsupported("node '{}' ({}): cannot raise the opset from {} to {} of a model with subgraphs",
                          node.label(), node.op_type, from, target);
    const UpgradeRow* row = find_upgrade(node.op_type);
    if (!row && !kUnchanged.count(node.op_type))
      throw_unsupported("node '{}': {} changed between opset {} and {}; mcompress cannot raise this model's opset",
                        node.label(), node.op_type, from, target);
    needs_ranks |= row && row->op_type.ends_with("Softmax");
  }
  std::map<std::string, onnxio::ValueShape> shapes;
  if (needs_ranks) {
    std::vector<std::string> ignored;
    shapes = onnxio::infer_shapes(model, {}, &ignored);
  }

  // Every refusal is above and the rewrites cannot fail: rewrite in place.
  Rewriter rw{model.graph, edit::Namer(model.graph), {}, {}};
  int64_t rewritten = 0;
  std::vector<ir::Node> nodes;
  for (auto& node : model.graph.nodes) {
    const UpgradeRow* row = node.is_default_domain() ? find_upgrade(node.op_type) : nullptr;
    if (!row || from >= row->changed_at || target < row->changed_at) {
      nodes.push_back(std::move(node));
      continue;
    }
    auto shape = node.inputs.empty() ? shapes.end() : shapes.find(node.inputs[0]);
    int64_t rank = shape == shapes.end() ? -1 : static_cast<int64_t>(shape->second.dims.size());
    row->rewrite(node, rw, rank);
    std::move(rw.before.begin(), rw.before.end(), std::back_inserter(nodes));
    nodes.push_back(std::move(node));
    std::move(rw.after.begin(), rw.after.end(), std::back_inserter(nodes));
    rw.before.clear();
    rw.after.clear();
    ++rewritten;
  }
  model.graph.nodes = std::move(nodes);
  it->version = target;
  model.ir_version = std::max<int64_t>(model.ir_version, 7);
  return rewritten;
}

int64_t raise_opset(ir::Model& model, int64_t target) {
  const int64_t before = model.opset("");
  try {
    upgrade_opset(model, target);
  } catch (const Error& e) {
    if (e.code() != ExitCode::unsupported) throw;
    onnxio::upgrade_opset(model, target);  // ops the rewrite does not know: ONNX's converter
  }
  return before;
}

}  // namespace mcompress::passes
