// Published models (tools/fetch_models.sh): `inspect` agrees with an independent count made with
// the onnx Python package, and every `convert` variant keeps the model and its ONNX Runtime outputs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "oracle/convert_variants.h"
#include "support/oracle.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

struct RealModel {
  std::string name;
  std::string file;
  std::string inputs;  // tools/make_inputs.py spec
};

void PrintTo(const RealModel& m, std::ostream* os) { *os << m.name; }

std::vector<RealModel> real_models() {
  std::ifstream in(source_dir() / "tools" / "real_models.tsv");
  std::vector<RealModel> models;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    RealModel m;
    std::getline(ss, m.name, '\t');
    std::getline(ss, m.file, '\t');
    std::getline(ss, m.inputs, '\t');
    models.push_back(m);
  }
  return models;
}

class RealModels : public ::testing::TestWithParam<RealModel> {
 protected:
  fs::path model() const { return model_cache() / GetParam().file; }
  void SetUp() override {
    ASSERT_TRUE(fs::exists(model())) << model() << " missing: run tools/fetch_models.sh (tools/setup.sh does)";
  }
};

TEST_P(RealModels, InspectAgreesWithIndependentCount) {
  auto ours = run_mcompress({"inspect", model().string(), "--json"});
  ASSERT_EQ(ours.exit_code, 0) << ours.err;
  auto theirs = run({python(), (source_dir() / "tools" / "model_stats.py").string(), model().string()});
  ASSERT_EQ(theirs.exit_code, 0) << theirs.err;
  auto a = nlohmann::json::parse(ours.out);
  auto b = nlohmann::json::parse(theirs.out);
  for (const char* key : {"nodes", "op_types", "subgraphs", "weight_bytes", "params", "ir_version", "opsets", "inputs"})
    EXPECT_EQ(a[key], b[key]) << key;
  EXPECT_GT(a["nodes"].get<int64_t>(), 10);
}

TEST_P(RealModels, ConvertVariantsRunIdenticallyInOnnxRuntime) {
  fs::path dir = temp_dir("work");
  fs::path inputs = make_inputs(GetParam().inputs, dir);
  expect_convert_variants_identical(model(), inputs, dir);
}

TEST_P(RealModels, ExecutorAgreesWithOnnxRuntime) { expect_infer_agrees_with_ort(model(), GetParam().inputs); }

TEST(RealModelWeights, FoundWhereverTheyLive) {
  // PaddleOCR keeps every weight in Constant nodes; moving them leaves no float Constant behind.
  fs::path dir = temp_dir("ocr");
  fs::path out = dir / "rec.onnx";
  auto r = run_mcompress({"convert", (model_cache() / "ppocr_rec.onnx").string(), "-o", out.string(),
                          "--constants-to-initializers", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["changes"].size(), 100u);
  auto after = nlohmann::json::parse(run_mcompress({"inspect", out.string(), "--json"}).out);
  auto before = nlohmann::json::parse(run_mcompress({"inspect", (model_cache() / "ppocr_rec.onnx").string(), "--json"}).out);
  EXPECT_EQ(after["weight_bytes"], before["weight_bytes"]);
  EXPECT_EQ(after["params"], before["params"]);
  EXPECT_LT(after["op_types"].value("Constant", 0), before["op_types"]["Constant"].get<int>());
  // Silero keeps LSTM weights two If levels deep: inspect counts them.
  auto silero = nlohmann::json::parse(run_mcompress({"inspect", (model_cache() / "silero_vad.onnx").string(), "--json"}).out);
  EXPECT_EQ(silero["op_types"]["LSTM"], 8);
  EXPECT_GT(silero["subgraphs"].get<int>(), 2);
}

TEST(RealModelMacs, GivenInputShapesPaddleOcrHasStaticMacs) {
  // PP-OCR declares H and W symbolic; with the shapes REAL_MODELS.md runs them at, every Conv and
  // MatMul gets a static shape.
  for (auto [file, shape] : {std::pair{"ppocr_rec.onnx", "x=1,3,48,320"}, std::pair{"ppocr_det.onnx", "x=1,3,640,640"},
                             std::pair{"ppocr_cls.onnx", "x=1,3,48,192"}}) {
    auto r = run_mcompress({"inspect", (model_cache() / file).string(), "--input-shape", shape, "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_TRUE(j["macs"].is_number_integer()) << file << ": " << j["warnings"];
    EXPECT_GT(j["macs"].get<int64_t>(), 10'000'000) << file;
    auto plain = nlohmann::json::parse(run_mcompress({"inspect", (model_cache() / file).string(), "--json"}).out);
    EXPECT_TRUE(plain["macs"].is_null()) << file;
    EXPECT_FALSE(plain["warnings"].empty()) << file;
  }
}

INSTANTIATE_TEST_SUITE_P(Published, RealModels, ::testing::ValuesIn(real_models()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace mcompress::test
