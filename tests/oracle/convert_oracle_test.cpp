// Every reference Fashion-MNIST model (and ONNX Runtime's own quantized versions) survives every
// kind of `convert`: equal ModelProto, bit-identical outputs in ONNX Runtime.
#include <gtest/gtest.h>

#include <filesystem>

#include "oracle/convert_variants.h"
#include "support/oracle.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> reference_models() {
  std::vector<fs::path> models;
  // A missing folder gives no cases (ReferenceModels.ArePresent names it), not a discovery-time abort.
  std::error_code ec;
  for (const fs::path& dir : {models_dir(), ort_quantized_dir()})
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".onnx") models.push_back(entry.path());
  std::sort(models.begin(), models.end());
  return models;
}

TEST(ReferenceModels, ArePresent) { EXPECT_EQ(reference_models().size(), 10u) << models_dir() << " and " << ort_quantized_dir(); }

class ConvertOracle : public ::testing::TestWithParam<fs::path> {};

TEST_P(ConvertOracle, AllVariantsRunIdenticallyInOnnxRuntime) {
  const fs::path& model = GetParam();
  fs::path dir = temp_dir("work");
  fs::path inputs = make_inputs("input:float32:16,1,28,28", dir);
  expect_convert_variants_identical(model, inputs, dir);
}

INSTANTIATE_TEST_SUITE_P(Fashion, ConvertOracle, ::testing::ValuesIn(reference_models()), [](const auto& info) {
  std::string name = info.param.parent_path().filename().string() + "_" + info.param.stem().string();
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
});

}  // namespace
}  // namespace mcompress::test
