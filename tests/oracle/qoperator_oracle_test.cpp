// `mcompress quantize --calib --format qoperator` models (QLinearConv, QLinearMatMul,
// com.microsoft QGemm and MatMulIntegerToFloat) run in mcompress's own executor as they run in
// ONNX Runtime: `mcompress eval` reproduces ORT's top-1 accuracy on the 10k Fashion-MNIST test set,
// and `mcompress infer` agrees with ORT on seeded inputs; so do ORT's com.microsoft element-wise
// QOperator ops.
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "mcompress/data/arrays.h"
#include "mcompress/data/dataset.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/report/fidelity.h"
#include "support/models.h"
#include "support/oracle.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

// Static int8 qoperator model of a bundled model, calibrated on the first 512 training images.
fs::path quantize_qoperator(const std::string& base, const fs::path& dir) {
  fs::path out = dir / (base + "_qop.onnx");
  auto r = run_mcompress({"quantize", (models_dir() / (base + ".onnx")).string(), "--calib",
                          (kFashionDir / "train-images-idx3-ubyte.gz").string(), "--calib-samples", "512",
                          "--preprocess", kFashionPreprocess, "--format", "qoperator", "-o", out.string(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  auto j = nlohmann::json::parse(r.out);
  std::cout << base << " qoperator ops: " << j["qoperator"].dump() << "\n";
  EXPECT_GT(op_counts(out)["QLinearConv"], 0) << out;  // QOperator form, not plain QDQ: both models have Convs
  return out;
}

// ORT's top-1 accuracy of MODEL on the 10k test set, fed the same preprocessed tensors as
// `mcompress eval` (one batch of 10 000; the static model's results do not depend on batching).
double ort_accuracy(const fs::path& model, const fs::path& dir) {
  ir::Model m = onnxio::load_model(model);
  data::Dataset d = data::load_dataset(kFashionDir / "t10k-images-idx3-ubyte.gz", m.graph.inputs,
                                       data::Preprocess::parse(kFashionPreprocess));
  std::vector<Tensor> batch = d.batch(0, d.samples);
  fs::path inputs = dir / "t10k.npz";
  data::write_npz(inputs, {{m.graph.inputs[0].name, &batch[0]}});
  fs::path outputs = ort_outputs(model, inputs, dir / (model.stem().string() + "_ort.npz"));
  data::NamedArrays out = data::read_npz(outputs);
  std::vector<int64_t> predicted = report::argmax_rows(out.begin()->second);
  std::vector<int64_t> labels = data::load_labels(kFashionDir / "t10k-labels-idx1-ubyte.gz");
  return top1_agreement(predicted, labels);  // agreement with the labels: accuracy
}

class QOperatorAgainstOrt : public ::testing::TestWithParam<std::string> {};

TEST_P(QOperatorAgainstOrt, EvalReproducesOrtAccuracy) {
  fs::path dir = temp_dir("qoperator_" + GetParam());
  fs::path model = quantize_qoperator(GetParam(), dir);
  ASSERT_TRUE(fs::exists(model));
  double ort = ort_accuracy(model, dir);
  auto r = run_mcompress({"eval", (models_dir() / (GetParam() + ".onnx")).string(), model.string(),
                          "--data", (kFashionDir / "t10k-images-idx3-ubyte.gz").string(), "--labels",
                          (kFashionDir / "t10k-labels-idx1-ubyte.gz").string(), "--preprocess", kFashionPreprocess,
                          "--batch-size", "100", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  double ours = j["accuracy"]["candidate"].get<double>();
  std::cout << GetParam() << " qoperator top-1: mcompress " << ours << ", ORT " << ort << ", fp32 "
            << j["accuracy"]["base"].get<double>() << "\n";
  // One sample of 10 000: a requantization whose float product lands within an ulp of a rounding
  // boundary may round the other way under a different summation order.
  EXPECT_NEAR(ours, ort, 1.5e-4);
  EXPECT_EQ(j["samples"], 10000);
  EXPECT_GT(j["top1_agreement"].get<double>(), 0.98);
}

// Seeded inputs through `mcompress infer` and ORT. Integer products are exact on both sides, but
// the float ops between the quantized ones (LayerNorm, Softmax, Gelu in the ViT) differ by ulps
// between the two engines, and a value that lands on a rounding boundary of the next
// QuantizeLinear moves one quantization step (about 1/255 of that activation's range), which then
// propagates. Measured: the CNN meets the float bar (cosine >= 0.99999, max abs <= 0.1% of the
// range); the ViT's largest logit difference is 0.3% of the logits' range (0.017 of 5.76). The bar,
// cosine >= 0.9999 and max abs <= 1% of the range, leaves 3x margin and still fails on any wrong
// scale, zero point, bias or transpose, each of which moves whole outputs far beyond it.
TEST_P(QOperatorAgainstOrt, InferAgreesWithOrt) {
  fs::path dir = temp_dir("qoperator_infer_" + GetParam());
  fs::path model = quantize_qoperator(GetParam(), dir);
  ASSERT_TRUE(fs::exists(model));
  expect_infer_agrees_with_ort(model, "input:float32:8,1,28,28", Agreement{0.9999, 0.01, "all"});
}

INSTANTIATE_TEST_SUITE_P(Fashion, QOperatorAgainstOrt, ::testing::Values("fashion_cnn", "fashion_vit"));

// ONNX Runtime's own QOperator element-wise ops (QLinearLeakyRelu, QLinearSigmoid, QLinearAdd with
// broadcasting, QLinearMul, QLinearGlobalAveragePool, QLinearConcat), uint8 and int8, chained as ORT's quantizer
// writes them (tests/oracle/make_qlinear_fixture.py). Measured bit-identical to ORT; the bar is
// the float one (a sigmoid table entry could differ by one code where exp differs by an ulp).
class QLinearElementwiseAgainstOrt : public ::testing::TestWithParam<std::string> {};

TEST_P(QLinearElementwiseAgainstOrt, InferAgreesWithOrt) {
  fs::path dir = temp_dir("qlinear_elementwise_" + GetParam());
  auto made = run({python(), (source_dir() / "tests" / "oracle" / "make_qlinear_fixture.py").string(),
                   (dir / "m.onnx").string(), GetParam()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  expect_infer_agrees_with_ort(dir / "m.onnx", "x:float32:2,3,4,4");
}

INSTANTIATE_TEST_SUITE_P(Signedness, QLinearElementwiseAgainstOrt, ::testing::Values("uint8", "int8"));

// QLinearAveragePool (padded 2x2 window, count_include_pad 0) on the chain above. Averages of
// multiples of x_scale often fall exactly on a rounding tie, where ORT's float arithmetic and ours
// (an exact integer sum, then one scaling) may round to neighbouring codes: measured 0 to 5 of 150
// outputs one step (0.01) apart over four seeds. The bar allows a step or two: max abs <= 1% of
// the range (2.55), cosine >= 0.999; a wrong divisor, window or zero point moves far more.
class QLinearAveragePoolAgainstOrt : public ::testing::TestWithParam<std::string> {};

TEST_P(QLinearAveragePoolAgainstOrt, InferAgreesWithOrtWithinOneStep) {
  fs::path dir = temp_dir("qlinear_average_pool_" + GetParam());
  auto made = run({python(), (source_dir() / "tests" / "oracle" / "make_qlinear_fixture.py").string(),
                   (dir / "m.onnx").string(), "avgpool_" + GetParam()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  expect_infer_agrees_with_ort(dir / "m.onnx", "x:float32:2,3,4,4", Agreement{0.999, 0.01, "all"});
}

INSTANTIATE_TEST_SUITE_P(Signedness, QLinearAveragePoolAgainstOrt, ::testing::Values("uint8", "int8"));

// ORT's integer-product contrib ops with int8 per-column weights (make_qlinear_fixture.py
// matmul): DynamicQuantizeMatMul and MatMulIntegerToFloat with bias, QGemm with transA, int32 C,
// alpha and a uint8 output. Measured: QGemm bit-identical, the float outputs within 5e-7 of
// values up to 6.2 (the bias added in another order); the float bar applies.
TEST(QOperatorMatMulAgainstOrt, InferAgreesWithOrt) {
  fs::path dir = temp_dir("qoperator_matmul");
  auto made = run({python(), (source_dir() / "tests" / "oracle" / "make_qlinear_fixture.py").string(),
                   (dir / "m.onnx").string(), "matmul"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  expect_infer_agrees_with_ort(dir / "m.onnx", "x:float32:4,3,32;xt:float32:32,5");
}

}  // namespace
}  // namespace mcompress::test
