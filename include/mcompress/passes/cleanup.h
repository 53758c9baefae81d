#pragma once
// Cleanup passes run before quantizing, so that real exports quantize (PaddleOCR keeps its
// weights in Constant nodes and follows every Conv with a BatchNormalization).
//
// fold_batchnorm
//   Before: Y = Conv(X, W, B?); Z = BatchNormalization(Y, gamma, beta, mean, var)
//           (also Gemm(A, W, C?) -> BN, and MatMul(X, W) [-> Add(b)] -> BN on a 2-D output)
//   After:  Z = Conv(X, W', B')   (Gemm: W', C' with beta 1; MatMul: Add(MatMul(X, W'), b'))
//   Preconditions: the BN is in inference form (one output, training_mode 0); W, B, C, b and
//     the BN parameters are float32 initializers; Y (and the Add's output) is read by the BN only
//     and is no graph output; the BN's channel count equals the producer's output channels.
//   Math: s = gamma / sqrt(var + eps); W'[c] = W[c] * s[c] (output channel c); B' = (B - mean) * s + beta.
//   Known gaps: ConvTranspose, BN before a Conv, BN in subgraphs are left alone.
//
// move_constants: Constant nodes holding tensors become initializers (ir::constants_to_initializers).
//
// remove_dead: nodes none of whose outputs is read (in the graph, its subgraphs, or as a graph
//   output) and initializers nobody reads are dropped, repeatedly; initializers that are also
//   graph inputs stay (they are part of the model's interface).
#include "mcompress/ir/graph.h"
#include "mcompress/passes/pass.h"

namespace mcompress::passes {

struct CleanupStats {
  int64_t constants_moved = 0;
  int64_t batchnorms_folded = 0;
  int64_t nodes_removed = 0;
  int64_t initializers_removed = 0;
};

int64_t move_constants(ir::Model& model);
int64_t fold_batchnorm(ir::Model& model);
// Returns {nodes removed, initializers removed}.
std::pair<int64_t, int64_t> remove_dead(ir::Graph& graph);

// All three, in the order above; `extra` of the result holds the counts under "cleanup".
PassResult cleanup(ir::Model& model, CleanupStats* stats = nullptr);

}  // namespace mcompress::passes
