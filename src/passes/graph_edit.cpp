#include "graph_edit.h"

#include <algorithm>

namespace mcompress::passes::edit {
namespace {

void take_names(const ir::Graph& g, std::set<std::string>& taken) {
  for (const auto& v : g.inputs) taken.insert(v.name);
  for (const auto& v : g.outputs) taken.insert(v.name);
  for (const auto& v : g.value_info) taken.insert(v.name);
  for (const auto& t : g.initializers) taken.insert(t.name);
  for (const auto& s : g.sparse_initializers) taken.insert(s.values.name);
  for (const auto& n : g.nodes) {
    taken.insert(n.name);
    taken.insert(n.inputs.begin(), n.inputs.end());
    taken.insert(n.outputs.begin(), n.outputs.end());
  }
}

}  // namespace

Namer::Namer(const ir::Graph& g) {
  take_names(g, taken_);
  g.for_each_subgraph([&](const ir::Graph& sub, const ir::Node&) { take_names(sub, taken_); });
}

std::string Namer::fresh(const std::string& base) {
  std::string name = base;
  for (int k = 1; taken_.count(name); ++k) name = base + "_" + std::to_string(k);
  taken_.insert(name);
  return name;
}

namespace {
ir::Attribute named(const std::string& name, ir::AttrType type) {
  ir::Attribute a;
  a.name = name;
  a.type = type;
  return a;
}
}  // namespace

ir::Attribute int_attr(const std::string& name, int64_t v) {
  ir::Attribute a = named(name, ir::AttrType::i);
  a.i = v;
  return a;
}

ir::Node make_node(std::string op_type, std::vector<std::string> inputs, std::vector<std::string> outputs,
                   std::string name, std::vector<ir::Attribute> attributes, std::string domain) {
  ir::Node n;
  n.op_type = std::move(op_type);
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.name = std::move(name);
  n.attributes = std::move(attributes);
  n.domain = std::move(domain);
  return n;
}

std::map<std::string, ir::NamedTensor*> initializer_map(ir::Graph& g) {
  std::map<std::string, ir::NamedTensor*> m;
  for (auto& t : g.initializers) m[t.name] = &t;
  return m;
}

bool is_graph_input(const ir::Graph& g, const std::string& name) {
  return std::any_of(g.inputs.begin(), g.inputs.end(), [&](const ir::ValueInfo& v) { return v.name == name; });
}

bool is_graph_output(const ir::Graph& g, const std::string& name) {
  return std::any_of(g.outputs.begin(), g.outputs.end(), [&](const ir::ValueInfo& v) { return v.name == name; });
}

std::map<std::string, int> read_counts(const ir::Graph& g) {
  std::map<std::string, int> reads;
  auto count = [&](const ir::Graph& graph) {
    for (const ir::Node& n : graph.nodes)
      for (const std::string& in : n.inputs)
        if (!in.empty()) ++reads[in];
  };
  count(g);
  g.for_each_subgraph([&](const ir::Graph& sub, const ir::Node&) {
    count(sub);
    for (const ir::ValueInfo& out : sub.outputs) ++reads[out.name];  // may name an outer value
  });
  return reads;
}

void require_opset(ir::Model& model, const std::string& domain, int64_t version) {
  for (auto& o : model.opset_import) {
    bool same = o.domain == domain || (domain.empty() && o.domain == "ai.onnx");
    if (!same) continue;
    o.version = std::max(o.version, version);
    return;
  }
  model.opset_import.push_back(ir::OpsetImport{domain, version, {}});
}

}  // namespace mcompress::passes::edit
