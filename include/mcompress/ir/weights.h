#pragma once
// One view of "the model's weights", wherever the exporter put them: graph initializers, sparse
// initializers, and Constant nodes, in the main graph and in every If/Loop/Scan subgraph. Every
// pass that touches weights goes through this, so models that keep their weights in Constant
// nodes (PaddleOCR) or in subgraphs (Silero VAD) are not silently skipped.
#include <string>
#include <vector>

#include "mcompress/ir/graph.h"

namespace mcompress::ir {

enum class WeightKind { initializer, sparse_initializer, constant_node };

struct WeightRef {
  WeightKind kind;
  Graph* graph;          // the graph that holds it
  int depth;             // 0 = main graph
  NamedTensor* stored;   // initializer or the Constant's `value`; sparse: the values part
  SparseTensor* sparse;  // set for sparse initializers and sparse Constant values
  Node* node;            // the Constant node, else nullptr
  const std::string& name() const;  // the tensor name the graph reads it by
  // Dense element count and dtype (for sparse: of the dense tensor it stands for).
  int64_t numel() const;
  DType dtype() const { return stored->tensor.dtype(); }
  // Bytes stored in the file (sparse: values and indices).
  int64_t stored_bytes() const;
};

// In a fixed order: per graph (main first, then subgraphs depth first), initializers, sparse
// initializers, then Constant nodes in node order.
std::vector<WeightRef> collect_weights(Graph& graph);

// The dense tensor a sparse one stands for (linear or coordinate indices, int32 or int64).
// Throws a bad-input error naming the tensor when its indices do not fit its dims.
Tensor densify(const SparseTensor& sparse);

// Moves every Constant node that holds a dense or sparse tensor (`value`, `sparse_value`) into
// an initializer of the graph it sits in. Returns the names moved. `main_graph_needs_inputs`:
// for IR version < 4, where initializers must also be listed as graph inputs.
std::vector<std::string> constants_to_initializers(Graph& graph, bool main_graph_needs_inputs);

}  // namespace mcompress::ir
