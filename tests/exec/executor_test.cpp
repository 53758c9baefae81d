// The executor on whole models: determinism across thread counts, observers, errors.
#include <gtest/gtest.h>

#include "mcompress/data/dataset.h"
#include "mcompress/exec/executor.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"
#include "support/models.h"
#include "support/op_runner.h"
#include "support/paths.h"

namespace mcompress::test {
namespace {

ir::Model bundled(const std::string& name) { return onnxio::load_model(models_dir() / name); }

Tensor fashion_batch(int64_t count) {
  ir::ValueInfo input;
  input.name = "input";
  input.type.emplace();
  input.type->elem = DType::f32;
  input.type->shape = std::vector<ir::Dim>{{std::nullopt, "N", {}, {}}, {1, {}, {}, {}}, {28, {}, {}, {}}, {28, {}, {}, {}}};
  auto ds = data::load_dataset(kFashionDir / "t10k-images-idx3-ubyte.gz", {input},
                               data::Preprocess::parse(kFashionPreprocess));
  return ds.batch(0, count)[0];
}

TEST(Executor, SameBytesWhateverTheThreadCount) {
  Tensor x = fashion_batch(64);
  for (const char* name : {"fashion_cnn.onnx", "fashion_vit.onnx"}) {
    ir::Model model = bundled(name);
    std::vector<Tensor> results;
    for (int threads : {1, 2, 3}) {
      exec::Executor ex(model, {threads});
      results.push_back(ex.run({{"input", &x}}).at("logits"));
    }
    EXPECT_TRUE(results[0] == results[1]) << name;
    EXPECT_TRUE(results[0] == results[2]) << name;
    EXPECT_EQ(results[0].shape(), (Shape{64, 10}));
  }
}

TEST(Executor, ClassifiesRealImages) {
  // The first ten test labels of Fashion-MNIST are 9 2 1 1 6 1 4 6 5 7; the CNN (91.87%) gets
  // all ten right.
  Tensor x = fashion_batch(10);
  ir::Model model = bundled("fashion_cnn.onnx");
  exec::Executor ex(model);
  Tensor logits = ex.run({{"input", &x}}).at("logits");
  std::vector<int64_t> predicted;
  for (int r = 0; r < 10; ++r) {
    const float* row = logits.data<float>() + r * 10;
    predicted.push_back(std::max_element(row, row + 10) - row);
  }
  EXPECT_EQ(predicted, (std::vector<int64_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}));
}

class Recorder : public exec::Observer {
 public:
  void on_value(const std::string& name, const Tensor& value, const ir::Node& producer) override {
    names.push_back(name);
    ops.push_back(producer.op_type);
    elements += value.numel();
  }
  std::vector<std::string> names, ops;
  int64_t elements = 0;
};

TEST(Executor, ObserversSeeEveryComputedValueInOrder) {
  Tensor x = fashion_batch(2);
  ir::Model model = bundled("fashion_cnn.onnx");
  exec::Executor ex(model, {1});
  Recorder rec;
  ex.run({{"input", &x}}, &rec);
  EXPECT_EQ(rec.ops, (std::vector<std::string>{"Conv", "Relu", "Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm"}));
  EXPECT_EQ(rec.names.back(), "logits");
  // conv1 2x32x28x28 (+relu), conv2 2x64x28x28 (+relu), pool 2x64x14x14, flatten, fc1 2x128 (+relu), fc2 2x10
  EXPECT_EQ(rec.elements, 2 * (2 * 32 * 784 + 2 * 64 * 784 + 2 * 64 * 196 + 2 * 128 + 10));
}

// Runs a bundled model without an observer (fused epilogues) and with one (every node apart);
// expects the same bytes and returns the op types the observer saw.
std::vector<std::string> expect_fusion_changes_nothing(const char* name) {
  Tensor x = fashion_batch(8);
  ir::Model model = bundled(name);
  exec::Executor ex(model, {2});
  Tensor fused = ex.run({{"input", &x}}).at("logits");
  Recorder rec;
  Tensor apart = ex.run({{"input", &x}}, &rec).at("logits");
  EXPECT_TRUE(fused == apart) << name;
  return rec.ops;
}

TEST(Executor, ConvReluFusionChangesNothing) {
  // The CNN's Conv→Relu pairs run fused. Relu is exact: both give the same bytes.
  std::vector<std::string> ops = expect_fusion_changes_nothing("fashion_cnn.onnx");
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "Relu"), 3);
}

TEST(Executor, MatMulBiasFusionChangesNothing) {
  // The ViT's MatMul→Add(bias) pairs run fused: sgemm adds the bias as it stores, the same float
  // addition the Add makes.
  std::vector<std::string> ops = expect_fusion_changes_nothing("fashion_vit.onnx");
  EXPECT_GT(std::count(ops.begin(), ops.end(), "MatMul"), 8);
}

TEST(Executor, RefusesUnknownOpsNamingThem) {
  ir::Model model = bundled("fashion_cnn.onnx");
  model.graph.nodes[1].op_type = "FancyRelu";
  model.graph.nodes[1].domain = "com.example";
  try {
    exec::Executor ex(model);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::unsupported);
    EXPECT_NE(std::string(e.what()).find("com.example.FancyRelu"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(model.graph.nodes[1].name), std::string::npos) << e.what();
  }
}

TEST(Executor, ChecksFeeds) {
  ir::Model model = bundled("fashion_cnn.onnx");
  exec::Executor ex(model);
  Tensor wrong_shape = floats({1, 1, 28, 27}, std::vector<float>(28 * 27));
  Tensor wrong_type = int64s({1, 1, 28, 28}, std::vector<int64_t>(784));
  EXPECT_THROW(ex.run({}), Error);
  EXPECT_THROW(ex.run({{"input", &wrong_shape}}), Error);
  EXPECT_THROW(ex.run({{"input", &wrong_type}}), Error);
  Tensor x = fashion_batch(1);
  EXPECT_THROW(ex.run({{"input", &x}, {"nope", &x}}), Error);
}

}  // namespace
}  // namespace mcompress::test
