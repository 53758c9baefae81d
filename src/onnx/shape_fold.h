#pragma once
// Folds the small integer computations exporters emit to build shapes (Shape → Gather → Div →
// Concat → Reshape ...), so that shape inference sees them as constants. The ONNX library's own
// data propagation stops at ops such as Div, Mod and Where; this picks up from there.
#include <map>
#include <string>
#include <vector>

#include "mcompress/ir/graph.h"

namespace mcompress::onnxio {

struct FoldedValue {
  DType dtype = DType::undefined;
  Shape dims;
  std::vector<double> values;  // exact for integers up to 2^53
};

// double → int64, saturating: exporters write INT64_MAX for "to the end", which a double rounds
// up past the int64 range.
int64_t to_int(double d);

// Known static shapes by value name (-1 = unknown dim), as shape inference found them.
using KnownShapes = std::map<std::string, std::vector<int64_t>>;

// Evaluates every node of `graph` (not its subgraphs) whose inputs are constants or shapes
// known in `shapes`, for a fixed set of shape-arithmetic ops; adds what it computes to `folded`.
// Returns how many new values it found.
int fold_shape_values(const ir::Graph& graph, const KnownShapes& shapes, std::map<std::string, FoldedValue>& folded);

// Constant and initializer values small enough to matter for shapes.
void collect_constant_values(const ir::Graph& graph, std::map<std::string, FoldedValue>& folded);

}  // namespace mcompress::onnxio
