// float16 models on mcompress's executor against ONNX Runtime: ops without a float16 kernel run
// in float32 between an exact widening and a round-to-nearest-even narrowing, the element movers
// (Concat, Reshape, Transpose ...) on the float16 values themselves. The models: a third-party
// style export (float16 inputs, outputs and initializers, no Casts: tests/exec/make_fp16_fixture.py)
// and the bundled Fashion-MNIST CNN and ViT converted by `mcompress quantize --bits 16`.
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "mcompress/data/arrays.h"
#include "mcompress/report/fidelity.h"
#include "support/models.h"
#include "support/oracle.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

TEST(HalfOnExecutor, ThirdPartyFloat16GraphMatchesOrt) {
  fs::path dir = temp_dir("fp16_third_party");
  fs::path model = dir / "fp16.onnx";
  auto r = run({python(), (source_dir() / "tests" / "exec" / "make_fp16_fixture.py").string(), model.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto outputs = infer_and_ort(model, make_inputs("x:float16:8,3,16,16", dir), dir);
  ASSERT_EQ(outputs.size(), 2u);
  for (const InferredOutput& o : outputs) {
    SCOPED_TRACE(o.name);
    EXPECT_EQ(o.ours.dtype(), DType::f16);
    report::OutputFidelity f;
    f.add(o.ort, o.ours);
    EXPECT_GE(f.cosine(), 0.9999);
    EXPECT_LE(f.max_abs(), 0.01);
  }
  // float32 data into the float16 input: eval rounds it to float16 as it batches.
  fs::path float_dir = dir / "float_data";
  fs::create_directories(float_dir);
  auto e = run_mcompress({"eval", model.string(), model.string(), "--data",
                          make_inputs("x:float32:8,3,16,16", float_dir).string(), "--json"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  auto j = nlohmann::json::parse(e.out);
  EXPECT_EQ(j["samples"], 8);
  EXPECT_EQ(j["outputs"][0]["cosine"].get<double>(), 1.0);
}

class HalfFashion : public ::testing::TestWithParam<std::string> {};

TEST_P(HalfFashion, Bits16ModelMatchesOrtInInferAndEval) {
  fs::path dir = temp_dir("fp16_" + GetParam());
  fs::path base = models_dir() / ("fashion_" + GetParam() + ".onnx");
  fs::path half = dir / "half.onnx";
  auto q = run_mcompress({"quantize", base.string(), "--bits", "16", "-o", half.string(), "-q"});
  ASSERT_EQ(q.exit_code, 0) << q.err;

  fs::path images = fashion_inputs(1000, dir), labels = fashion_labels(1000, dir);
  auto outputs = infer_and_ort(half, images, dir);
  ASSERT_EQ(outputs.size(), 1u);
  report::OutputFidelity f;
  f.add(outputs[0].ort, outputs[0].ours);
  EXPECT_GE(f.cosine(), 0.9999);
  EXPECT_GE(top1_agreement(outputs[0].ort, outputs[0].ours), 0.998);

  // eval: the float16 model's accuracy is ORT's (within a sample) and close to the float32 one's.
  auto e = run_mcompress({"eval", base.string(), half.string(), "--data", images.string(), "--labels", labels.string(),
                          "--threads", "2", "--json"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  auto j = nlohmann::json::parse(e.out);
  EXPECT_EQ(j["samples"], 1000);
  std::vector<int64_t> truth = report::argmax_rows(outputs[0].ort), ort_top1 = truth;
  Tensor label_values = data::read_npy(labels);
  for (size_t i = 0; i < truth.size(); ++i) truth[i] = static_cast<int64_t>(element_as_double(label_values, static_cast<int64_t>(i)));
  double ort_accuracy = top1_agreement(ort_top1, truth);
  EXPECT_NEAR(j["accuracy"]["candidate"].get<double>(), ort_accuracy, 1.5e-3);
  EXPECT_NEAR(j["accuracy"]["candidate"].get<double>(), j["accuracy"]["base"].get<double>(), 5e-3);
  EXPECT_GT(j["top1_agreement"].get<double>(), 0.995);
  EXPECT_GT(j["outputs"][0]["cosine"].get<double>(), 0.9999);
}

INSTANTIATE_TEST_SUITE_P(Fashion, HalfFashion, ::testing::Values("cnn", "vit"));

}  // namespace
}  // namespace mcompress::test
