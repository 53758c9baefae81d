// ONNX's backend node tests (Debian libonnx-testdata): every test whose ops the executor
// implements runs and must reproduce the expected outputs (ONNX's own tolerances: rtol 1e-3,
// atol 1e-7 for floats; exact for integers and bools). Tests with ops we do not implement, or with
// sequence/optional values, are skipped and named as such.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "mcompress/exec/executor.h"
#include "mcompress/exec/op.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;

fs::path node_tests_dir() {
  if (const char* env = std::getenv("MCOMPRESS_ONNX_NODE_TESTS")) return env;
  return "/usr/share/libonnx-testdata/data/node";
}

std::vector<std::string> node_tests() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(node_tests_dir(), ec))
    if (fs::exists(entry.path() / "model.onnx")) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The first op (main graph or subgraph) without a kernel, or "".
std::string missing_op(const ir::Graph& g) {
  for (const ir::Node& n : g.nodes) {
    if (n.op_type == "Constant" && n.is_default_domain()) continue;
    if (!exec::find_op(n.is_default_domain() ? "" : n.domain, n.op_type)) return n.op_type;
    for (const ir::Attribute& a : n.attributes) {
      std::vector<const ir::Graph*> subs;
      if (a.g) subs.push_back(a.g.get());
      for (const auto& sub : a.graphs) subs.push_back(&sub);
      for (const ir::Graph* sub : subs)
        if (auto m = missing_op(*sub); !m.empty()) return m;
    }
  }
  return "";
}

bool tensor_values_only(const std::vector<ir::ValueInfo>& values) {
  return std::all_of(values.begin(), values.end(),
                     [](const ir::ValueInfo& v) { return !v.type || v.type->is_tensor(); });
}

void expect_close(const Tensor& expected, const Tensor& actual, const std::string& what) {
  ASSERT_EQ(dtype_name(actual.dtype()), dtype_name(expected.dtype())) << what;
  ASSERT_EQ(shape_string(actual.shape()), shape_string(expected.shape())) << what;
  if (expected.dtype() == DType::string) {
    EXPECT_EQ(actual.strings(), expected.strings()) << what;
    return;
  }
  bool is_float = dtype_info(expected.dtype()).is_float;
  int reported = 0;
  for (int64_t i = 0; i < expected.numel(); ++i) {
    double e = element_as_double(expected, i);
    double a = element_as_double(actual, i);
    bool ok = is_float ? ((std::isnan(e) && std::isnan(a)) || e == a || std::abs(a - e) <= kAtol + kRtol * std::abs(e))
                       : a == e;
    if (!ok && reported++ < 5) ADD_FAILURE() << what << "[" << i << "]: expected " << e << ", got " << a;
  }
}

// Node tests whose expected outputs mcompress does not reproduce, and why. Each is skipped with
// its reason (and counted as a failure in the issue notes' pass rate).
const std::map<std::string, std::string> kKnownFailures = {
    {"test_batchnorm_epsilon_training_mode", "BatchNormalization training mode is not supported"},
    {"test_batchnorm_example_training_mode", "BatchNormalization training mode is not supported"},
    {"test_training_dropout", "training-mode Dropout: the expected mask comes from NumPy's RNG"},
    {"test_training_dropout_default", "training-mode Dropout: the expected mask comes from NumPy's RNG"},
    {"test_training_dropout_default_mask", "training-mode Dropout: the expected mask comes from NumPy's RNG"},
    {"test_training_dropout_mask", "training-mode Dropout: the expected mask comes from NumPy's RNG"},
    {"test_cast_FLOAT_to_BFLOAT16", "ONNX 1.12 expects truncation; we round to nearest even (current spec, ORT)"},
    {"test_castlike_FLOAT_to_BFLOAT16_expanded", "ONNX 1.12 expects truncation; we round to nearest even"},
    {"test_castlike_BFLOAT16_to_FLOAT_expanded", "test data feeds a [1] tensor to a rank-2 input"},
    {"test_cast_FLOAT_to_STRING", "Cast to and from string is not supported"},
    {"test_cast_STRING_to_FLOAT", "Cast to and from string is not supported"},
    {"test_castlike_FLOAT_to_STRING_expanded", "Cast to and from string is not supported"},
    {"test_castlike_STRING_to_FLOAT_expanded", "Cast to and from string is not supported"},
    {"test_resize_downsample_scales_cubic_align_corners",
     "ONNX 1.12 uses a fractional output length in align_corners; we match ONNX Runtime 1.30"},
    {"test_resize_downsample_scales_linear_align_corners",
     "ONNX 1.12 uses a fractional output length in align_corners; we match ONNX Runtime 1.30"},
};

class NodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(NodeTest, MatchesExpectedOutputs) {
  if (auto it = kKnownFailures.find(GetParam()); it != kKnownFailures.end()) GTEST_SKIP() << "known: " << it->second;
  fs::path dir = node_tests_dir() / GetParam();
  ir::Model model = onnxio::load_model(dir / "model.onnx");
  if (auto op = missing_op(model.graph); !op.empty()) GTEST_SKIP() << "op " << op << " not implemented";
  if (!tensor_values_only(model.graph.inputs) || !tensor_values_only(model.graph.outputs))
    GTEST_SKIP() << "sequence/optional values";
  exec::Executor executor(model, {1});
  int sets = 0;
  for (int s = 0; fs::exists(dir / ("test_data_set_" + std::to_string(s))); ++s, ++sets) {
    fs::path data = dir / ("test_data_set_" + std::to_string(s));
    std::vector<Tensor> inputs;
    for (int i = 0; fs::exists(data / ("input_" + std::to_string(i) + ".pb")); ++i)
      inputs.push_back(onnxio::load_tensor_file(data / ("input_" + std::to_string(i) + ".pb")).tensor);
    // ONNX 1.12's test data stores bfloat16 tensors as uint16 (NumPy has no bfloat16).
    for (size_t i = 0; i < inputs.size() && i < model.graph.inputs.size(); ++i) {
      const auto& type = model.graph.inputs[i].type;
      if (type && type->elem == DType::bf16 && inputs[i].dtype() == DType::u16)
        inputs[i] = Tensor::from_bytes(DType::bf16, inputs[i].shape(), inputs[i].storage());
    }
    // Inputs are given in graph-input order (initializer-backed inputs included when present).
    std::map<std::string, const Tensor*> feeds;
    for (size_t i = 0; i < inputs.size() && i < model.graph.inputs.size(); ++i)
      feeds[model.graph.inputs[i].name] = &inputs[i];
    std::map<std::string, Tensor> outputs;
    try {
      outputs = executor.run(feeds);
    } catch (const Error& e) {
      FAIL() << e.what();
    }
    for (size_t o = 0; o < model.graph.outputs.size(); ++o) {
      fs::path expected_file = data / ("output_" + std::to_string(o) + ".pb");
      if (!fs::exists(expected_file)) continue;
      Tensor expected = onnxio::load_tensor_file(expected_file).tensor;
      const auto& type = model.graph.outputs[o].type;
      if (type && type->elem == DType::bf16 && expected.dtype() == DType::u16)
        expected = Tensor::from_bytes(DType::bf16, expected.shape(), expected.storage());
      const std::string& name = model.graph.outputs[o].name;
      ASSERT_TRUE(outputs.count(name)) << name;
      expect_close(expected, outputs[name], GetParam() + " output '" + name + "'");
    }
  }
  EXPECT_GT(sets, 0);
}

INSTANTIATE_TEST_SUITE_P(Onnx, NodeTest, ::testing::ValuesIn(node_tests()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace mcompress::test
