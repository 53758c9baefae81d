#include "mcompress/ir/verify.h"

#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "mcompress/ir/uses.h"
#include "mcompress/support/error.h"

namespace mcompress::ir {
namespace {

using NameSet = std::unordered_set<std::string>;

void verify_scope(const Graph& g, const NameSet& outer, const std::string& where) {
  std::string graph_label = g.name.empty() ? "graph" : "graph '" + g.name + "'";
  NameSet defined;
  for (const ValueInfo& v : g.inputs)
    if (!defined.insert(v.name).second) throw_bad_input("{}: {} lists input '{}' twice", where, graph_label, v.name);
  // An initializer may repeat a graph input (IR < 4 requires it) but not another initializer.
  NameSet stored;
  auto add_stored = [&](const std::string& name) {
    if (!stored.insert(name).second)
      throw_bad_input("{}: {} has two initializers named '{}'", where, graph_label, name);
    defined.insert(name);
  };
  for (const NamedTensor& t : g.initializers) add_stored(t.name);
  for (const SparseTensor& s : g.sparse_initializers) add_stored(s.values.name);

  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (const std::string& o : g.nodes[i].outputs) {
      if (o.empty()) continue;
      if (producer.count(o))
        throw_bad_input("{}: tensor '{}' is written by two nodes, {} and {}", where, o,
                        g.nodes[producer[o]].label(), g.nodes[i].label());
      if (defined.count(o))
        throw_bad_input("{}: node {} writes tensor '{}', which is already a graph input or initializer", where,
                        g.nodes[i].label(), o);
      producer[o] = i;
    }
  }

  auto is_visible = [&](const std::string& name) {
    return defined.count(name) || producer.count(name) || outer.count(name);
  };

  // Edges between this graph's nodes, including those a subgraph's outer reads imply.
  std::vector<std::vector<size_t>> consumers(g.nodes.size());
  std::vector<size_t> indegree(g.nodes.size(), 0);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    for (const Attribute& a : n.attributes)
      if (a.type == AttrType::graph && !a.g)
        throw_bad_input("{}: node {} has graph attribute '{}' without a graph", where, n.label(), a.name);
    for (const std::string& in : node_reads(n)) {
      if (!is_visible(in))
        throw_bad_input("{}: node {} in {} reads tensor '{}', which nothing defines", where, n.label(), graph_label, in);
      auto it = producer.find(in);
      if (it == producer.end()) continue;
      consumers[it->second].push_back(i);
      ++indegree[i];
    }
  }

  std::queue<size_t> ready;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (indegree[i] == 0) ready.push(i);
  size_t visited = 0;
  while (!ready.empty()) {
    size_t i = ready.front();
    ready.pop();
    ++visited;
    for (size_t c : consumers[i])
      if (--indegree[c] == 0) ready.push(c);
  }
  if (visited != g.nodes.size()) {
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      if (indegree[i] > 0)
        throw_bad_input("{}: the nodes of {} form a cycle through node {}", where, graph_label, g.nodes[i].label());
    }
  }

  for (const ValueInfo& v : g.outputs) {
    if (!is_visible(v.name))
      throw_bad_input("{}: output '{}' of {} is produced by no node, input or initializer", where, v.name,
                      graph_label);
  }

  NameSet inner_outer = outer;
  inner_outer.insert(defined.begin(), defined.end());
  for (const auto& [name, index] : producer) inner_outer.insert(name);
  for (const Node& n : g.nodes) {
    for (const Attribute& a : n.attributes) {
      if (a.g) verify_scope(*a.g, inner_outer, where);
      for (const Graph& sub : a.graphs) verify_scope(sub, inner_outer, where);
    }
  }
}

}  // namespace

void verify(const Graph& graph, const std::string& where) { verify_scope(graph, {}, where); }

}  // namespace mcompress::ir
