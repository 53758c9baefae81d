#pragma once
// Small helpers the rewriting passes share: fresh names, node and attribute builders, initializer
// lookup, who reads what, opset imports.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mcompress/ir/graph.h"

namespace mcompress::passes::edit {

// Names not yet used by any value, initializer or node of the graph (or of its subgraphs).
class Namer {
 public:
  explicit Namer(const ir::Graph& g);
  std::string fresh(const std::string& base);

 private:
  std::set<std::string> taken_;
};

ir::Attribute int_attr(const std::string& name, int64_t v);
ir::Node make_node(std::string op_type, std::vector<std::string> inputs, std::vector<std::string> outputs,
                   std::string name, std::vector<ir::Attribute> attributes = {}, std::string domain = "");

// Initializers by name (pointers stay valid until the vector is resized).
std::map<std::string, ir::NamedTensor*> initializer_map(ir::Graph& g);
bool is_graph_input(const ir::Graph& g, const std::string& name);
bool is_graph_output(const ir::Graph& g, const std::string& name);
// How many node inputs (subgraphs included, and subgraph outputs) read each name.
std::map<std::string, int> read_counts(const ir::Graph& g);

// Sets (or adds) the import of `domain` to at least `version`.
void require_opset(ir::Model& model, const std::string& domain, int64_t version);

}  // namespace mcompress::passes::edit
