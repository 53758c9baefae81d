#include "mcompress/ir/uses.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace mcompress::ir {
namespace {

std::unordered_set<std::string> local_names(const Graph& g) {
  std::unordered_set<std::string> local;
  for (const ValueInfo& v : g.inputs) local.insert(v.name);
  for (const NamedTensor& t : g.initializers) local.insert(t.name);
  for (const SparseTensor& s : g.sparse_initializers) local.insert(s.values.name);
  for (const Node& n : g.nodes)
    for (const std::string& o : n.outputs)
      if (!o.empty()) local.insert(o);
  return local;
}

void add_implicit(const Node& n, std::set<std::string>& out) {
  for (const Attribute& a : n.attributes) {
    if (a.g) out.merge(outer_reads(*a.g));
    for (const Graph& sub : a.graphs) out.merge(outer_reads(sub));
  }
}

// Name -> index into the StoredUses list, or -1 where an inner non-initializer definition hides it.
using Scope = std::unordered_map<std::string, long>;

void collect_uses(Graph& g, Scope scope, std::vector<StoredUses>& out) {
  for (const ValueInfo& v : g.inputs) scope[v.name] = -1;
  for (const SparseTensor& s : g.sparse_initializers) scope[s.values.name] = -1;
  for (const Node& n : g.nodes)
    for (const std::string& o : n.outputs)
      if (!o.empty()) scope[o] = -1;
  for (NamedTensor& t : g.initializers) {
    bool input = std::any_of(g.inputs.begin(), g.inputs.end(), [&](const ValueInfo& v) { return v.name == t.name; });
    scope[t.name] = static_cast<long>(out.size());
    out.push_back({&g, &t, input, {}});
  }
  auto note = [&](const std::string& name, size_t node, size_t slot) {
    auto it = name.empty() ? scope.end() : scope.find(name);
    if (it != scope.end() && it->second >= 0) out[static_cast<size_t>(it->second)].uses.push_back({&g, node, slot});
  };
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (size_t s = 0; s < g.nodes[i].inputs.size(); ++s) note(g.nodes[i].inputs[s], i, s);
  for (size_t s = 0; s < g.outputs.size(); ++s) note(g.outputs[s].name, Use::kGraphOutput, s);
  for (Node& n : g.nodes)
    for (Attribute& a : n.attributes) {
      if (a.g) collect_uses(*a.g, scope, out);
      for (Graph& sub : a.graphs) collect_uses(sub, scope, out);
    }
}

}  // namespace

std::set<std::string> outer_reads(const Graph& g) {
  std::unordered_set<std::string> local = local_names(g);
  std::set<std::string> out;
  auto note = [&](const std::string& name) {
    if (!name.empty() && !local.count(name)) out.insert(name);
  };
  for (const Node& n : g.nodes) {
    for (const std::string& in : n.inputs) note(in);
    for (const std::string& name : implicit_inputs(n)) note(name);
  }
  for (const ValueInfo& v : g.outputs) note(v.name);
  return out;
}

std::set<std::string> implicit_inputs(const Node& n) {
  std::set<std::string> out;
  add_implicit(n, out);
  return out;
}

std::vector<std::string> node_reads(const Node& n) {
  std::set<std::string> reads = implicit_inputs(n);
  for (const std::string& in : n.inputs)
    if (!in.empty()) reads.insert(in);
  return {reads.begin(), reads.end()};
}

std::vector<StoredUses> initializer_uses(Graph& main) {
  std::vector<StoredUses> out;
  collect_uses(main, {}, out);
  return out;
}

}  // namespace mcompress::ir
