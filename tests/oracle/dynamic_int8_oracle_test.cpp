// Dynamic int8 on mcompress's executor against ONNX Runtime, bit for bit: DynamicQuantizeLinear's
// scale, zero point and rounding, and a deep chain of the DynamicQuantizeLinear -> ConvInteger ->
// Cast -> Mul -> Add -> Relu layers ONNX Runtime's quantize_dynamic writes, where each layer's
// range comes from the last one's float output, so one value rounded differently from ORT moves
// every later layer's scale (tests/exec/make_dynamic_int8_chain.py builds both).
#include <gtest/gtest.h>

#include <filesystem>

#include "mcompress/report/fidelity.h"
#include "support/oracle.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

constexpr int kChainLayers = 42;

fs::path make_fixtures(const std::string& name) {
  fs::path dir = temp_dir(name);
  auto r = run({python(), (source_dir() / "tests" / "exec" / "make_dynamic_int8_chain.py").string(), dir.string(),
                std::to_string(kChainLayers)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return dir;
}

// a: every value a .5 tie of its scale; b: all negative (zero point 255); c: all zero (scale 1).
TEST(DynamicInt8, QuantizeLinearBitIdenticalToOrtOnAwkwardValues) {
  fs::path dir = make_fixtures("dql_awkward");
  for (const char* name : {"a", "b", "c"}) {
    SCOPED_TRACE(name);
    fs::path run_dir = dir / name;
    fs::create_directories(run_dir);
    auto outputs = infer_and_ort(dir / ("dql_" + std::string(name) + ".onnx"),
                                 dir / ("dql_" + std::string(name) + ".npz"), run_dir);
    ASSERT_EQ(outputs.size(), 3u);
    for (const InferredOutput& o : outputs) EXPECT_TRUE(o.ours == o.ort) << o.name;
  }
}

TEST(DynamicInt8, DeepConvIntegerChainBitIdenticalToOrt) {
  fs::path dir = make_fixtures("dql_chain");
  for (const char* level : {"all", "disabled"}) {
    SCOPED_TRACE(level);
    fs::path run_dir = dir / level;
    fs::create_directories(run_dir);
    auto outputs = infer_and_ort(dir / "chain.onnx", dir / "chain_inputs.npz", run_dir, level);
    ASSERT_EQ(outputs.size(), 1u);
    report::OutputFidelity f;
    f.add(outputs[0].ort, outputs[0].ours);
    EXPECT_GE(f.cosine(), 0.99999);
    EXPECT_EQ(f.max_abs(), 0.0);
    EXPECT_TRUE(outputs[0].ours == outputs[0].ort);
  }
}

}  // namespace
}  // namespace mcompress::test
