// Temporary link placeholder: branch static replaces this file with the real static quantizer.
#include "mcompress/passes/quantize.h"
#include "mcompress/support/error.h"

namespace mcompress::passes {

PassResult quantize_static(ir::Model&, const QuantizeOptions&, const data::Dataset&, const ProgressFn&) {
  throw_unsupported("static quantization: not available in this build yet (use --mode weight or --mode dynamic)");
}

}  // namespace mcompress::passes
