#pragma once
// upgrade_opset: raise the default-domain opset of a model to `target` (13: the first with
// per-axis QuantizeLinear / DequantizeLinear), rewriting the ops whose form changed on the way.
// ONNX's version converter (onnxio::upgrade_opset) refuses a Softmax whose input shape it cannot
// infer (PaddleOCR cls and rec at opset 9); this rewrite does not need shapes. quantize_static
// tries it first and falls back to the converter for ops it does not know.
//
//   Before: an opset 9..12 model (PaddleOCR exports are opset 9 and 11)
//   After:  the same computation at opset `target`:
//     Clip (< 11)                      min / max attributes -> float initializer inputs
//     Slice (< 10)                     starts / ends / axes attributes -> int64 initializer inputs
//     Squeeze, Unsqueeze, ReduceSum (< 13)   axes attribute -> int64 initializer input
//     Softmax, LogSoftmax (< 13)       kept over the last axis (the old 2-D coercion then means
//                                      the same), else Flatten -> Softmax(axis 1) -> Reshape
//     every other op must be on the list of ops whose form did not change (kUnchanged)
//   Preconditions: no subgraphs; other ops are refused (Error unsupported, naming the node and
//     op) and the model is left untouched.
//   Known gaps: Upsample, Split, Pad, TopK and the other changed ops are refused, not rewritten.
#include <cstdint>

#include "mcompress/ir/graph.h"

namespace mcompress::passes {

// Returns the number of nodes rewritten; 0 and nothing changed when the opset is >= target.
int64_t upgrade_opset(ir::Model& model, int64_t target);

// What the quantizing passes call: the rewrite above, and ONNX's version converter
// (onnxio::upgrade_opset) for the models it refuses. Returns the opset the model had.
int64_t raise_opset(ir::Model& model, int64_t target);

}  // namespace mcompress::passes
