#pragma once
// Who reads a value, subgraphs included. An If branch or a Loop / Scan body reads the values of
// the graphs around it by name, without listing them as inputs of its node; ONNX also lets a
// subgraph return an outer value as its output. Passes that ask "who reads this?" go through
// these helpers, so a read from inside a subgraph is never missed.
//
// Scoping (ONNX IR): a name resolves to the innermost graph that defines it (graph input,
// initializer, sparse initializer or node output), looking outwards from the reading graph.
#include <cstddef>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "mcompress/ir/graph.h"

namespace mcompress::ir {

// Names `g` reads from the scopes around it: inputs of its nodes, the outer reads of its own
// subgraphs, and graph outputs, each when `g` does not define the name itself.
std::set<std::string> outer_reads(const Graph& g);

// Names the node's subgraphs read from the graph the node sits in (its implicit inputs).
std::set<std::string> implicit_inputs(const Node& n);

// Names the node reads, explicit inputs ("" skipped) and implicit inputs; sorted, unique.
std::vector<std::string> node_reads(const Node& n);

// One read of a stored tensor.
struct Use {
  static constexpr size_t kGraphOutput = std::numeric_limits<size_t>::max();
  Graph* graph;  // the graph whose node (or output list) reads it
  size_t node;   // index into graph->nodes; kGraphOutput: graph->outputs[slot] names it
  size_t slot;   // the node input (or output) index
};

// An initializer of some graph and every read that resolves to it, from any depth.
struct StoredUses {
  Graph* home;          // the graph that stores it
  NamedTensor* tensor;  // in home->initializers
  bool graph_input;     // home also lists it as a graph input (a feed may replace it)
  std::vector<Use> uses;
};

// Every initializer of `main` and of its subgraphs (main first, then subgraphs depth first), each
// with its reads. Pointers stay valid until the graphs' vectors change.
std::vector<StoredUses> initializer_uses(Graph& main);

}  // namespace mcompress::ir
