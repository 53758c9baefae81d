#include "mcompress/ir/weights.h"

#include <algorithm>
#include <cstring>

#include "mcompress/support/error.h"

namespace mcompress::ir {
namespace {

bool is_constant(const Node& n) { return n.op_type == "Constant" && n.is_default_domain(); }

void collect_in(Graph& g, int depth, std::vector<WeightRef>& out) {
  for (NamedTensor& t : g.initializers) out.push_back({WeightKind::initializer, &g, depth, &t, nullptr, nullptr});
  for (SparseTensor& s : g.sparse_initializers)
    out.push_back({WeightKind::sparse_initializer, &g, depth, &s.values, &s, nullptr});
  for (Node& n : g.nodes) {
    if (!is_constant(n) || n.outputs.empty()) continue;
    if (Attribute* a = n.attr("value"); a && a->type == AttrType::tensor)
      out.push_back({WeightKind::constant_node, &g, depth, &a->t, nullptr, &n});
    if (Attribute* a = n.attr("sparse_value"); a && a->type == AttrType::sparse_tensor && a->sparse)
      out.push_back({WeightKind::constant_node, &g, depth, &a->sparse->values, a->sparse.get(), &n});
  }
  for (Node& n : g.nodes) {
    for (Attribute& a : n.attributes) {
      if (a.g) collect_in(*a.g, depth + 1, out);
      for (Graph& sub : a.graphs) collect_in(sub, depth + 1, out);
    }
  }
}

ValueInfo value_info_for(const std::string& name, const Tensor& t) {
  ValueType type;
  type.elem = t.dtype();
  type.shape.emplace();
  for (int64_t d : t.shape()) type.shape->push_back(Dim{d, {}, {}, {}});
  return ValueInfo{name, type, {}, {}};
}

bool is_graph_output(const Graph& g, const std::string& name) {
  return std::any_of(g.outputs.begin(), g.outputs.end(), [&](const ValueInfo& v) { return v.name == name; });
}

void move_constants(Graph& g, bool add_inputs, std::vector<std::string>& moved) {
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (Node& n : g.nodes) {
    // A Constant that is itself a graph output stays a node: runtimes treat an initializer
    // that is also a (sub)graph output inconsistently.
    bool movable = is_constant(n) && n.outputs.size() == 1 && !is_graph_output(g, n.outputs[0]);
    Attribute* value = movable ? n.attr("value") : nullptr;
    Attribute* sparse = movable ? n.attr("sparse_value") : nullptr;
    if (value && value->type == AttrType::tensor) {
      NamedTensor t = std::move(value->t);
      t.name = n.outputs[0];
      if (add_inputs) g.inputs.push_back(value_info_for(t.name, t.tensor));
      moved.push_back(t.name);
      g.initializers.push_back(std::move(t));
      continue;
    }
    if (sparse && sparse->type == AttrType::sparse_tensor && sparse->sparse) {
      SparseTensor s = std::move(*sparse->sparse);
      s.values.name = n.outputs[0];
      if (add_inputs) {
        ValueInfo input = value_info_for(s.values.name, s.values.tensor);
        input.type->shape.emplace();
        for (int64_t d : s.dims) input.type->shape->push_back(Dim{d, {}, {}, {}});
        g.inputs.push_back(std::move(input));
      }
      moved.push_back(s.values.name);
      g.sparse_initializers.push_back(std::move(s));
      continue;
    }
    kept.push_back(std::move(n));
  }
  g.nodes = std::move(kept);
  for (Node& n : g.nodes) {
    for (Attribute& a : n.attributes) {
      if (a.g) move_constants(*a.g, false, moved);
      for (Graph& sub : a.graphs) move_constants(sub, false, moved);
    }
  }
}

}  // namespace

const std::string& WeightRef::name() const {
  if (node) return node->outputs[0];
  return stored->name;
}

int64_t WeightRef::numel() const {
  if (!sparse) return stored->tensor.numel();
  int64_t n = 1;
  for (int64_t d : sparse->dims) n *= d;
  return n;
}

int64_t WeightRef::stored_bytes() const {
  int64_t bytes = stored->tensor.nbytes();
  if (sparse) bytes += sparse->indices.tensor.nbytes();
  return bytes;
}

std::vector<WeightRef> collect_weights(Graph& graph) {
  std::vector<WeightRef> out;
  collect_in(graph, 0, out);
  return out;
}

std::vector<std::string> constants_to_initializers(Graph& graph, bool main_graph_needs_inputs) {
  std::vector<std::string> moved;
  move_constants(graph, main_graph_needs_inputs, moved);
  return moved;
}

Tensor densify(const SparseTensor& sparse) {
  const Tensor& values = sparse.values.tensor;
  const Tensor& indices = sparse.indices.tensor;
  const std::string& name = sparse.values.name;
  Tensor out(values.dtype(), sparse.dims);
  int64_t nnz = values.numel();
  int64_t rank = static_cast<int64_t>(sparse.dims.size());
  bool coordinates = indices.rank() == 2;
  if (indices.dtype() != DType::i32 && indices.dtype() != DType::i64)
    throw_bad_input("sparse tensor '{}': indices must be int32 or int64", name);
  if (indices.numel() != (coordinates ? nnz * rank : nnz))
    throw_bad_input("sparse tensor '{}': {} indices for {} values", name, indices.numel(), nnz);
  auto index = [&](int64_t i) {
    return indices.dtype() == DType::i32 ? int64_t{indices.data<int32_t>()[i]} : indices.data<int64_t>()[i];
  };
  int64_t width = values.nbytes() / std::max<int64_t>(nnz, 1);
  for (int64_t k = 0; k < nnz; ++k) {
    int64_t at = 0;
    if (coordinates) {
      for (int64_t d = 0; d < rank; ++d) {
        int64_t i = index(k * rank + d);
        if (i < 0 || i >= sparse.dims[static_cast<size_t>(d)]) throw_bad_input("sparse tensor '{}': index out of range", name);
        at = at * sparse.dims[static_cast<size_t>(d)] + i;
      }
    } else {
      at = index(k);
      if (at < 0 || at >= out.numel()) throw_bad_input("sparse tensor '{}': index {} out of range", name, at);
    }
    std::memcpy(out.storage().data() + at * width, values.storage().data() + k * width, static_cast<size_t>(width));
  }
  return out;
}

}  // namespace mcompress::ir
