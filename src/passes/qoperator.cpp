#include "qoperator.h"

#include <map>
#include <optional>
#include <set>

#include "graph_edit.h"
#include "mcompress/passes/cleanup.h"

namespace mcompress::passes {

namespace {

struct Dq {
  std::string q, scale, zero_point;
};

class Lowerer {
 public:
  explicit Lowerer(ir::Graph& g) : g_(g) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      for (const auto& o : g.nodes[i].outputs) producer_[o] = i;
      for (const auto& in : g.nodes[i].inputs) readers_[in].push_back(i);
    }
    for (const auto& o : g.outputs) graph_outputs_.insert(o.name);
  }

  nlohmann::ordered_json run() {
    nlohmann::ordered_json counts = nlohmann::ordered_json::object();
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      ir::Node& node = g_.nodes[i];
      if (!node.is_default_domain()) continue;
      std::optional<ir::Node> lowered;
      if (node.op_type == "Conv") lowered = lower(node, "QLinearConv", "", true);
      if (node.op_type == "MatMul") lowered = lower(node, "QLinearMatMul", "", true);
      if (node.op_type == "MatMul" && !lowered) lowered = lower(node, "MatMulIntegerToFloat", "com.microsoft", false);
      if (node.op_type == "Gemm") lowered = lower(node, "QGemm", "com.microsoft", false);
      if (!lowered) continue;
      std::string op = lowered->op_type;
      node = std::move(*lowered);
      counts[op] = counts.value(op, 0) + 1;
    }
    std::vector<ir::Node> kept;
    for (size_t i = 0; i < g_.nodes.size(); ++i)
      if (!dropped_.count(i)) kept.push_back(std::move(g_.nodes[i]));
    g_.nodes = std::move(kept);
    remove_dead(g_);
    return counts;
  }


 private:
  std::optional<Dq> dq_of(const std::string& name) const {
    auto it = producer_.find(name);
    if (it == producer_.end()) return std::nullopt;
    const ir::Node& n = g_.nodes[it->second];
    if (n.op_type != "DequantizeLinear" || !n.is_default_domain() || n.inputs.size() < 3) return std::nullopt;
    return Dq{n.inputs[0], n.inputs[1], n.inputs[2]};
  }

  // The one QuantizeLinear reading `y`, when it is y's only reader.
  std::optional<size_t> sole_quantize(const std::string& y) const {
    if (graph_outputs_.count(y)) return std::nullopt;
    auto it = readers_.find(y);
    if (it == readers_.end() || it->second.size() != 1) return std::nullopt;
    const ir::Node& q = g_.nodes[it->second[0]];
    if (q.op_type != "QuantizeLinear" || !q.is_default_domain() || q.inputs.size() < 3) return std::nullopt;
    return it->second[0];
  }

  std::optional<ir::Node> lower(const ir::Node& node, const std::string& op, const std::string& domain,
                                bool needs_quantized_output) {
    if (node.inputs.size() < 2) return std::nullopt;
    auto x = dq_of(node.inputs[0]);
    auto w = dq_of(node.inputs[1]);
    if (!x || !w) return std::nullopt;
    std::optional<Dq> b;
    if (node.inputs.size() > 2 && !node.inputs[2].empty() && !(b = dq_of(node.inputs[2]))) return std::nullopt;
    auto q = sole_quantize(node.outputs[0]);
    if (!q && needs_quantized_output) return std::nullopt;

    ir::Node out;
    out.name = node.name;
    out.op_type = op;
    out.domain = domain;
    out.attributes = node.attributes;
    const ir::Node* yq = q ? &g_.nodes[*q] : nullptr;
    if (op == "MatMulIntegerToFloat") {
      out.inputs = {x->q, w->q, x->scale, w->scale, x->zero_point, w->zero_point};
    } else if (op == "QGemm") {
      out.inputs = {x->q, x->scale, x->zero_point, w->q, w->scale, w->zero_point, b ? b->q : ""};
      if (yq) out.inputs.insert(out.inputs.end(), {yq->inputs[1], yq->inputs[2]});
      std::erase_if(out.attributes, [](const ir::Attribute& a) { return a.name == "beta"; });
    } else {
      out.inputs = {x->q, x->scale, x->zero_point, w->q, w->scale, w->zero_point, yq->inputs[1], yq->inputs[2]};
      if (b) out.inputs.push_back(b->q);
    }
    while (!out.inputs.empty() && out.inputs.back().empty()) out.inputs.pop_back();
    out.outputs = {yq ? yq->outputs[0] : node.outputs[0]};
    if (q) dropped_.insert(*q);
    return out;
  }

  ir::Graph& g_;
  std::map<std::string, size_t> producer_;
  std::map<std::string, std::vector<size_t>> readers_;
  std::set<std::string> graph_outputs_;
  std::set<size_t> dropped_;
};

}  // namespace

nlohmann::ordered_json lower_to_qoperator(ir::Model& model) {
  Lowerer lowerer(model.graph);
  nlohmann::ordered_json counts = lowerer.run();
  if (counts.contains("QGemm") || counts.contains("MatMulIntegerToFloat")) edit::require_opset(model, "com.microsoft", 1);
  return counts;
}

}  // namespace mcompress::passes
