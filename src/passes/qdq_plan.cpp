#include "qdq_plan.h"

#include <algorithm>
#include <set>
#include <string_view>

namespace mcompress::passes {

namespace {

enum class Role { compute, shared, fresh };

struct OpRow {
  std::string_view op_type;
  Role role;
};

constexpr OpRow kOps[] = {
    {"Conv", Role::compute},      {"Gemm", Role::compute},
    {"MatMul", Role::compute},    {"MaxPool", Role::shared},
    {"Flatten", Role::shared},    {"Reshape", Role::shared},
    {"Transpose", Role::shared},  {"Squeeze", Role::shared},
    {"Unsqueeze", Role::shared},  {"Resize", Role::shared},
    {"Add", Role::fresh},         {"Concat", Role::fresh},
    {"AveragePool", Role::fresh}, {"GlobalAveragePool", Role::fresh},
};

const OpRow* find_row(const ir::Node& node) {
  if (!node.is_default_domain()) return nullptr;
  for (const auto& row : kOps)
    if (row.op_type == node.op_type) return &row;
  return nullptr;
}

class Planner {
 public:
  Planner(const ir::Graph& graph, const std::vector<std::string>& op_types, const NameFilter& filter,
          const std::set<size_t>& keep_float)
      : graph_(graph), op_types_(op_types), filter_(filter), keep_float_(keep_float) {
    for (size_t i = 0; i < graph.nodes.size(); ++i) index_of_[&graph.nodes[i]] = i;
    for (const auto& t : graph.initializers) initializers_[t.name] = &t.tensor;
    for (const auto& v : graph.inputs) graph_inputs_.insert(v.name);
    for (const auto& v : graph.outputs) graph_outputs_.insert(v.name);
    graph.for_each_subgraph([&](const ir::Graph& sub, const ir::Node&) {
      for (const auto& n : sub.nodes) read_in_subgraphs_.insert(n.inputs.begin(), n.inputs.end());
    });
    for (size_t i = 0; i < graph.nodes.size(); ++i)
      for (const auto& in : graph.nodes[i].inputs)
        if (!in.empty()) readers_[in].push_back(i);
  }

  QdqPlan run() {
    for (size_t i = 0; i < graph_.nodes.size(); ++i) {
      if (absorbed_.count(i)) continue;
      const ir::Node& node = graph_.nodes[i];
      const OpRow* row = find_row(node);
      if (!row || !allowed(node)) continue;
      if (row->role == Role::compute) plan_compute(i);
      if (row->role == Role::shared) plan_shared(node);
      if (row->role == Role::fresh) plan_fresh(node);
    }
    return std::move(plan_);
  }

 private:
  bool allowed(const ir::Node& node) const {
    if (filter_.excluded(node) || keep_float_.count(index_of_.at(&node))) return false;
    return op_types_.empty() || std::find(op_types_.begin(), op_types_.end(), node.op_type) != op_types_.end();
  }
  const Tensor* constant(const std::string& name) const {
    auto it = initializers_.find(name);
    if (it == initializers_.end() || graph_inputs_.count(name)) return nullptr;  // a graph input can be overridden
    return it->second;
  }
  bool is_float_constant(const std::string& name, int64_t rank) const {
    const Tensor* t = constant(name);
    return t && t->dtype() == DType::f32 && (rank < 0 ? t->rank() >= 3 : t->rank() == rank);
  }
  const std::vector<size_t>& readers(const std::string& name) const {
    static const std::vector<size_t> none;
    auto it = readers_.find(name);
    return it == readers_.end() ? none : it->second;
  }
  bool quantizable_activation(const std::string& name) const { return !name.empty() && !constant(name); }

  // Weight axis of the output channels, or nullopt when the node is not one we
  // quantize.
  std::optional<int64_t> weight_axis(const ir::Node& node) const {
    if (node.inputs.size() < 2 || !quantizable_activation(node.inputs[0])) return std::nullopt;
    const std::string& w = node.inputs[1];
    if (node.op_type == "Conv") {
      if (!is_float_constant(w, -1)) return std::nullopt;
      if (node.inputs.size() > 2 && !node.inputs[2].empty() && !is_float_constant(node.inputs[2], 1))
        return std::nullopt;
      return 0;
    }
    if (node.op_type == "MatMul") return is_float_constant(w, 2) ? std::optional<int64_t>(1) : std::nullopt;
    // Gemm: plain Y = A * op(B) + C with C a per-output vector (or none).
    if (!is_float_constant(w, 2) || node.attr_int("transA", 0) != 0) return std::nullopt;
    const ir::Attribute* alpha = node.attr("alpha");
    const ir::Attribute* beta = node.attr("beta");
    if ((alpha && alpha->f != 1.0f) || (beta && beta->f != 1.0f)) return std::nullopt;
    int64_t axis = node.attr_int("transB", 0) ? 0 : 1;
    if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
      if (!is_float_constant(node.inputs[2], 1)) return std::nullopt;
      if (constant(node.inputs[2])->numel() != constant(w)->shape()[axis]) return std::nullopt;
    }
    return axis;
  }

  // A Relu, or a Clip whose lower bound is <= 0, is what quantization to [lo,
  // hi] does anyway.
  bool absorbable(const ir::Node& node) const {
    if (!node.is_default_domain() || filter_.excluded(node)) return false;
    if (node.op_type == "Relu") return true;
    if (node.op_type != "Clip") return false;
    if (const ir::Attribute* lo = node.attr("min")) return lo->f <= 0;
    if (node.inputs.size() < 2 || node.inputs[1].empty()) return true;
    const Tensor* lo = constant(node.inputs[1]);
    if (node.inputs.size() > 2 && !node.inputs[2].empty() && !constant(node.inputs[2])) return false;
    return lo && lo->numel() == 1 && lo->dtype() == DType::f32 && lo->data<float>()[0] <= 0;
  }

  // Will a reader of `name` take it quantized (a quantized op, or one that runs
  // on 8 bits)?
  bool read_quantized(const std::string& name) const {
    for (size_t r : readers(name)) {
      const ir::Node& reader = graph_.nodes[r];
      const OpRow* row = find_row(reader);
      if (!row || !allowed(reader)) continue;
      if (row->role == Role::shared) return true;
      if (row->role == Role::fresh && other_inputs_marked(reader, name)) return true;
      if (row->role == Role::compute && reader.inputs[0] == name && weight_axis(reader)) return true;
    }
    return false;
  }

  // A fresh-role reader (Add, Concat ...) is quantized only when all its inputs are.
  bool other_inputs_marked(const ir::Node& reader, const std::string& name) const {
    return std::all_of(reader.inputs.begin(), reader.inputs.end(),
                       [&](const std::string& in) { return in == name || is_marked(in); });
  }

  void mark(const std::string& name, const std::string& source) {
    if (!graph_outputs_.count(name)) plan_.marked.try_emplace(name, source);
  }
  bool is_marked(const std::string& name) const { return plan_.marked.count(name) > 0; }

  void plan_compute(size_t index) {
    const ir::Node& node = graph_.nodes[index];
    auto axis = weight_axis(node);
    if (!axis) return;
    ComputePlan cp{index, *axis, std::nullopt, node.outputs[0]};
    mark(node.inputs[0], node.inputs[0]);
    const std::string& y = node.outputs[0];
    const auto& ys = readers(y);
    std::string out = y;
    std::optional<size_t> absorb;
    // Absorbing renames the activation's output to the Conv's: only when no subgraph reads it by name.
    if (ys.size() == 1 && !graph_outputs_.count(y) && absorbable(graph_.nodes[ys[0]]) &&
        !read_in_subgraphs_.count(graph_.nodes[ys[0]].outputs[0])) {
      absorb = ys[0];
      out = graph_.nodes[ys[0]].outputs[0];
    }
    bool quantize_output = !graph_outputs_.count(out) && (node.op_type == "Conv" || read_quantized(out));
    if (quantize_output) {
      cp.output = out;
      cp.absorbed = absorb;
      if (absorb) absorbed_.insert(*absorb);
      mark(out, out);
    }
    plan_.compute.push_back(cp);
  }

  void plan_shared(const ir::Node& node) {
    if (node.inputs.empty() || !is_marked(node.inputs[0])) return;
    mark(node.outputs[0], plan_.marked.at(node.inputs[0]));
  }

  void plan_fresh(const ir::Node& node) {
    if (node.inputs.empty()) return;
    for (const auto& in : node.inputs)
      if (!is_marked(in)) return;
    mark(node.outputs[0], node.outputs[0]);
  }

  const ir::Graph& graph_;
  const std::vector<std::string>& op_types_;
  const NameFilter& filter_;
  const std::set<size_t>& keep_float_;
  std::map<const ir::Node*, size_t> index_of_;
  std::map<std::string, const Tensor*> initializers_;
  std::set<std::string> graph_inputs_, graph_outputs_, read_in_subgraphs_;
  std::map<std::string, std::vector<size_t>> readers_;
  std::set<size_t> absorbed_;
  QdqPlan plan_;
};

}  // namespace

std::vector<std::string> QdqPlan::calibrated() const {
  std::vector<std::string> names;
  for (const auto& [name, source] : marked)
    if (name == source) names.push_back(name);
  return names;
}

QdqPlan plan_qdq(const ir::Graph& graph, const std::vector<std::string>& op_types, const NameFilter& filter,
                 const std::set<size_t>& keep_float) {
  return Planner(graph, op_types, filter, keep_float).run();
}

}  // namespace mcompress::passes
