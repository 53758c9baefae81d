#pragma once
// Raising a model's default-domain opset with ONNX's own version converter (it rewrites the ops
// whose signature changed on the way, e.g. Clip's min/max attributes -> inputs at 11), so that a
// pass can emit ops newer than the model (DynamicQuantizeLinear needs 11).
#include <cstdint>

#include "mcompress/ir/graph.h"

namespace mcompress::onnxio {

// Converts `model` in place to default-domain opset `target` (no-op when already there or above).
// Throws unsupported, naming the converter's complaint, when an op cannot be converted.
void upgrade_opset(ir::Model& model, int64_t target);

}  // namespace mcompress::onnxio
