#pragma once
// Structural checks of a graph, run on every imported model: every tensor a node reads is
// defined (in the graph, its subgraphs' outer scopes included), no tensor has two writers, graph
// outputs are produced, and the nodes form no cycle. Violations throw bad-input errors naming
// the node and tensor.
#include <string>

#include "mcompress/ir/graph.h"

namespace mcompress::ir {

// `where` prefixes messages (the model's path).
void verify(const Graph& graph, const std::string& where);

}  // namespace mcompress::ir
