// --method channel: structured channel removal (see prune.h).
#include "mcompress/passes/prune.h"
#include "mcompress/support/error.h"

namespace mcompress::passes {

PassResult prune_channels(ir::Model&, const PruneOptions&, const ProgressFn&) {
  throw_unsupported("--method channel: not implemented yet");
}

}  // namespace mcompress::passes
