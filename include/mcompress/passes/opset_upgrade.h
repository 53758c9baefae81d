#pragma once
// upgrade_opset: raise the default-domain opset of a model to `target` (13: the
// first with per-axis QuantizeLinear / DequantizeLinear), rewriting the ops
// whose form changed on the way.
//
//   Before: opset 9..12 model (PaddleOCR exports are opset 9 and 11)
//   After:  the same computation at opset `target`:
//     Clip (< 11)        min / max attributes -> float initializer inputs
//     Slice (< 10)       starts / ends / axes attributes -> int64 initializer
//     inputs Squeeze, Unsqueeze (< 13), ReduceSum (< 13)   axes attribute ->
//     int64 initializer input Softmax, LogSoftmax (< 13)  kept when `axis` is
//     the last axis (the 2-D coercion of older
//                        opsets then means the same); otherwise unsupported
//     every other op must be on the list of ops whose form did not change
//     (kUnchanged)
//   Preconditions: no subgraphs; ops outside the list are refused (Error
//   unsupported, naming
//     the node and op), the model is left untouched in that case.
//   Known gaps: Upsample, Split, Pad, TopK and the other changed ops are
//   refused, not rewritten.
#include <cstdint>

#include "mcompress/ir/graph.h"

namespace mcompress::passes {

// Returns the number of nodes rewritten; 0 and nothing changed when the opset
// is >= target.
int64_t upgrade_opset(ir::Model& model, int64_t target);

}  // namespace mcompress::passes
