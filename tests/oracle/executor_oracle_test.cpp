// mcompress's executor against ONNX Runtime: the same inputs through `mcompress infer` and through
// ORT (tools/oracle/ort_run.js) give outputs with cosine >= 0.99999 and max abs error <= 1e-3 of
// the output's range, on the bundled and reference models and ORT's own quantized models (the
// published real models: real_models_test).
#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "support/models.h"
#include "support/oracle.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string name;
  fs::path model;
  std::string inputs;  // tools/make_inputs.py spec
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::string safe(std::string s) {
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

std::vector<Case> fashion_cases() {
  std::vector<Case> cases;
  // A missing folder gives no cases (ReferenceModels.ArePresent names it), not a discovery-time abort.
  std::error_code ec;
  for (const fs::path& dir : {models_dir(), ort_quantized_dir()})
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.path().extension() == ".onnx")
        cases.push_back({safe(dir.filename().string() + "_" + e.path().stem().string()), e.path(),
                         "input:float32:16,1,28,28"});
  std::sort(cases.begin(), cases.end(), [](const Case& a, const Case& b) { return a.name < b.name; });
  return cases;
}

class FashionAgainstOrt : public ::testing::TestWithParam<Case> {};
// With its graph optimizations ORT fuses QDQ pairs into integer kernels that round differently
// from the graph as written, so quantized models are compared with ORT running them as written.
// Even then a 1-ulp float difference upstream can move a value by one quantization step: a looser
// bar; their accuracy is checked against ORT's below (EvalOnOrtQuantized).
const Agreement kQuantizedAgreement{0.9995, 0.05, "disabled"};

TEST_P(FashionAgainstOrt, OutputsAgree) {
  bool quantized = GetParam().model.parent_path().filename() == "ort-quantized";
  expect_infer_agrees_with_ort(GetParam().model, GetParam().inputs, quantized ? kQuantizedAgreement : Agreement{});
}
INSTANTIATE_TEST_SUITE_P(Reference, FashionAgainstOrt, ::testing::ValuesIn(fashion_cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace mcompress::test

namespace mcompress::test {
namespace {

struct QuantizedCase {
  std::string name;
  std::string base;
  double candidate_accuracy;  // ONNX Runtime 1.30's, on the 10k Fashion-MNIST test set
};

void PrintTo(const QuantizedCase& c, std::ostream* os) { *os << c.name; }

// tests/data/ort-quantized/README.md's table, measured with batches of 100 (dynamic quantization takes
// its ranges per batch, so the batch size matters). fashion_vit_static_qdq_pc: ORT reports 90.06% with its
// graph optimizations, which fuse QDQ pairs into integer QLinear kernels; run as written
// (--optimization disabled, the ONNX semantics mcompress executes) ORT gives 90.07%.
const QuantizedCase kQuantized[] = {
    {"fashion_cnn_static_qdq_pc", "fashion_cnn.onnx", 0.9189},
    {"fashion_cnn_dynamic", "fashion_cnn.onnx", 0.9180},
    {"fashion_vit_dynamic", "fashion_vit.onnx", 0.9006},
    {"fashion_vit_static_qdq_pc", "fashion_vit.onnx", 0.9007},
    {"fashion_vit_int4_matmulnbits", "fashion_vit.onnx", 0.9009},
};

// Dynamic quantization takes its scale from the float activations of the whole batch, so the
// last-bit differences between any two float implementations (FMA, vectorized erf) can move a
// borderline sample: allow one sample of the 10 000.
constexpr double kSampleTolerance = 1.5e-4;

class EvalOnOrtQuantized : public ::testing::TestWithParam<QuantizedCase> {};

TEST_P(EvalOnOrtQuantized, ReproducesOrtAccuracy) {
  const QuantizedCase& c = GetParam();
  auto r = run_mcompress({"eval", (models_dir() / c.base).string(),
                          (ort_quantized_dir() / (c.name + ".onnx")).string(), "--data",
                          (kFashionDir / "t10k-images-idx3-ubyte.gz").string(), "--labels",
                          (kFashionDir / "t10k-labels-idx1-ubyte.gz").string(), "--preprocess",
                          kFashionPreprocess, "--batch-size", "100", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_NEAR(j["accuracy"]["candidate"].get<double>(), c.candidate_accuracy, kSampleTolerance);
  double base = c.base == "fashion_cnn.onnx" ? 0.9187 : 0.9001;  // PyTorch's 91.87% / 90.0% (9001 of 10k)
  EXPECT_NEAR(j["accuracy"]["base"].get<double>(), base, 1e-9);
  EXPECT_GT(j["top1_agreement"].get<double>(), 0.99);
  EXPECT_EQ(j["samples"], 10000);
  EXPECT_LT(j["bytes"]["candidate"].get<int64_t>(), j["bytes"]["base"].get<int64_t>() / 2);
  EXPECT_GT(j["outputs"][0]["cosine"].get<double>(), 0.999);
}

INSTANTIATE_TEST_SUITE_P(Fashion, EvalOnOrtQuantized, ::testing::ValuesIn(kQuantized),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace mcompress::test
