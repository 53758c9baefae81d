// mcompress's executor against ONNX Runtime: the same inputs through `mcompress infer` and through
// ORT (tools/oracle/ort_run.js) give outputs with cosine >= 0.99999 and max abs error <= 1e-3 of
// the output's range, on the bundled and reference models and ORT's own quantized models (the
// published real models: real_models_test).
#include <gtest/gtest.h>

#include <filesystem>

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
  for (const char* dir : {"models", "ort-quantized"})
    for (const auto& e : fs::directory_iterator(reference_dir() / dir))
      if (e.path().extension() == ".onnx")
        cases.push_back({safe(std::string(dir) + "_" + e.path().stem().string()), e.path(), "input:float32:16,1,28,28"});
  std::sort(cases.begin(), cases.end(), [](const Case& a, const Case& b) { return a.name < b.name; });
  return cases;
}

class FashionAgainstOrt : public ::testing::TestWithParam<Case> {};
TEST_P(FashionAgainstOrt, OutputsAgree) { expect_infer_agrees_with_ort(GetParam().model, GetParam().inputs); }
INSTANTIATE_TEST_SUITE_P(Reference, FashionAgainstOrt, ::testing::ValuesIn(fashion_cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace mcompress::test
