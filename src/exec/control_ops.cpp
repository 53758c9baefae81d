// control ops.
#include "kernels.h"

namespace mcompress::exec {
namespace {

constexpr OpDef kOps[] = {
    {"", "__placeholder_control", nullptr},
};

}  // namespace

std::span<const OpDef> control_ops() { return std::span<const OpDef>(kOps, 0); }

}  // namespace mcompress::exec
