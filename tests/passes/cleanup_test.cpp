// Cleanup passes: each rewrite is checked by running the original and the rewritten model in
// ONNX Runtime on the same inputs.
#include "mcompress/passes/cleanup.h"

#include <gtest/gtest.h>

#include <map>

#include "mcompress/onnx/model_io.h"
#include "passes/compare.h"
#include "support/models.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

// A folded BN changes the float arithmetic order only.
constexpr double kMinCosine = 0.999999;
constexpr double kMaxAbs = 1e-4;

const fs::path& fixtures() {
  static fs::path dir = [] {
    fs::path d = temp_dir("cleanup_fixtures");
    auto r = run({python(), (source_dir() / "tests" / "passes" / "make_cleanup_models.py").string(), d.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return d;
  }();
  return dir;
}

struct Case {
  std::string model, input_spec;
  int folded;
  int constants;
};

class CleanupOracle : public ::testing::TestWithParam<Case> {};

TEST_P(CleanupOracle, RewrittenModelMatchesOriginalInOrt) {
  const Case& c = GetParam();
  fs::path original = fixtures() / (c.model + ".onnx");
  fs::path dir = temp_dir("cleanup_" + c.model);
  ir::Model m = onnxio::load_model(original);
  passes::CleanupStats stats;
  passes::PassResult r = passes::cleanup(m, &stats);
  EXPECT_EQ(stats.batchnorms_folded, c.folded);
  EXPECT_EQ(stats.constants_moved, c.constants);
  EXPECT_EQ(r.extra["cleanup"]["batchnorms_folded"], c.folded);
  auto ops = op_counts(m);
  EXPECT_EQ(ops.count("Constant"), 0u);
  if (c.folded) {
    EXPECT_EQ(ops.count("BatchNormalization"), 0u);
    // The BN parameters are gone with the BN.
    for (const auto& t : m.graph.initializers) EXPECT_EQ(t.name.find("bn_"), std::string::npos) << t.name;
  }
  fs::path out = dir / "cleaned.onnx";
  onnxio::save_model(std::move(m), out, {});
  fs::path inputs = make_inputs(c.input_spec, dir);
  auto compared = compare_in_ort(original, out, inputs);
  ASSERT_FALSE(compared.empty());
  for (const auto& o : compared) {
    EXPECT_GT(o.fidelity.cosine(), kMinCosine) << o.name;
    EXPECT_LT(o.fidelity.max_abs(), kMaxAbs) << o.name;
  }
}

INSTANTIATE_TEST_SUITE_P(Folds, CleanupOracle,
                         ::testing::Values(Case{"conv_bn", "x:float32:2,3,8,8", 1, 0},
                                           Case{"conv_constants_bn", "x:float32:2,3,9,9", 1, 5},
                                           Case{"gemm_bn", "x:float32:3,5", 1, 0},
                                           Case{"gemm_nobias_bn", "x:float32:3,5", 1, 0},
                                           Case{"matmul_add_bn", "x:float32:3,5", 1, 0},
                                           Case{"matmul_bn", "x:float32:3,5", 1, 0},
                                           Case{"shared_and_dead", "x:float32:2,3,5,5", 0, 0}),
                         [](const auto& info) { return info.param.model; });

TEST(CleanupTest, KeepsSharedBatchNormAndRemovesDeadParts) {
  ir::Model m = onnxio::load_model(fixtures() / "shared_and_dead.onnx");
  passes::CleanupStats stats;
  passes::cleanup(m, &stats);
  auto ops = op_counts(m);
  EXPECT_EQ(ops["BatchNormalization"], 1);  // its input is also a graph output
  EXPECT_EQ(ops.count("Sigmoid"), 0u);      // read by nobody
  EXPECT_EQ(stats.nodes_removed, 1);
  EXPECT_EQ(stats.initializers_removed, 1);  // "unused"
  for (const auto& t : m.graph.initializers) EXPECT_NE(t.name, "unused");
}

// PaddleOCR's classifier: Constant-node weights and a BN after most convolutions.
TEST(CleanupTest, PaddleOcrClsFoldsInOrt) {
  fs::path original = real_model("ppocr_cls");
  MCOMPRESS_SKIP_UNLESS_FETCHED(original);
  ir::Model m = onnxio::load_model(original);
  int bn_before = op_counts(m)["BatchNormalization"];
  passes::CleanupStats stats;
  passes::cleanup(m, &stats);
  EXPECT_EQ(stats.batchnorms_folded, bn_before);
  EXPECT_GT(stats.constants_moved, 100);
  EXPECT_EQ(op_counts(m).count("BatchNormalization"), 0u);
  fs::path dir = temp_dir("cleanup_cls");
  onnxio::save_model(std::move(m), dir / "cls.onnx", {});
  auto compared = compare_in_ort(original, dir / "cls.onnx", make_inputs("x:float32:2,3,48,192", dir));
  ASSERT_FALSE(compared.empty());
  EXPECT_GT(compared[0].fidelity.cosine(), kMinCosine);
  EXPECT_LT(compared[0].fidelity.max_abs(), kMaxAbs);
}

}  // namespace
}  // namespace mcompress::test
