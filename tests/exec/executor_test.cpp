// The executor on whole models.
#include <gtest/gtest.h>

#include "mcompress/exec/executor.h"
#include "support/op_runner.h"

namespace mcompress::test {
namespace {

TEST(Executor, Placeholder) { SUCCEED(); }

}  // namespace
}  // namespace mcompress::test
