// mcompress prune on the bundled Fashion-MNIST models and the real PaddleOCR models: every pruned
// model runs in ONNX Runtime (and mcompress's executor agrees with ORT on it); accuracy, sparsity,
// N:M groups, params and MACs are checked against the floors and PyTorch's figures
// (tools/bench/pytorch/RESULTS.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mcompress/ir/weights.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/passes/prune.h"
#include "passes/compare.h"
#include "support/models.h"
#include "support/oracle.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

fs::path cnn() { return models_dir() / "fashion_cnn.onnx"; }
fs::path vit() { return models_dir() / "fashion_vit.onnx"; }

// Runs `mcompress prune MODEL -o OUT --json ARGS...`; fails the test unless it exits 0.
Json prune(const fs::path& model, const fs::path& out, std::vector<std::string> args) {
  std::vector<std::string> argv = {"prune", model.string(), "-o", out.string(), "--json", "-q"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_mcompress(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return Json::object();
  return Json::parse(r.out);
}

// The dense value of every stored weight of a model, by name (sparse initializers expanded).
std::map<std::string, Tensor> dense_weights(const fs::path& path) {
  ir::Model m = onnxio::load_model(path);
  std::map<std::string, Tensor> out;
  for (const ir::WeightRef& w : ir::collect_weights(m.graph))
    out[w.name()] = w.sparse ? ir::densify(*w.sparse) : w.stored->tensor;
  return out;
}

int64_t zeros(const Tensor& t) {
  int64_t z = 0;
  for (int64_t i = 0; i < t.numel(); ++i) z += t.data<float>()[i] == 0.0f;
  return z;
}

Json eval_fashion(const fs::path& candidate) {
  auto r = run_mcompress({"eval", cnn().string(), candidate.string(), "--data",
                          (kFashionDir / "t10k-images-idx3-ubyte.gz").string(), "--labels",
                          (kFashionDir / "t10k-labels-idx1-ubyte.gz").string(), "--preprocess", kFashionPreprocess,
                          "--batch-size", "100", "--json", "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? Json::parse(r.out) : Json::object();
}

// ---- magnitude --------------------------------------------------------------------------------

struct GlobalCase {
  std::string name;
  double sparsity;
  double pytorch_accuracy;  // RESULTS.md, no fine-tuning
};
void PrintTo(const GlobalCase& c, std::ostream* os) { *os << c.sparsity; }

class GlobalMagnitude : public ::testing::TestWithParam<GlobalCase> {};

// Within 0.3 points of PyTorch's global magnitude pruning of the same CNN, sparsity exact to 0.5%,
// and the pruned model (sparse initializers where smaller) runs in ORT like in mcompress.
TEST_P(GlobalMagnitude, MatchesPyTorchAccuracyAndSparsity) {
  const GlobalCase& c = GetParam();
  fs::path dir = temp_dir("prune_global_" + c.name);
  std::string before = file_sha256(cnn());
  Json j = prune(cnn(), dir / "p.onnx", {"--method", "magnitude", "--scope", "global", "--sparsity",
                                          std::to_string(c.sparsity)});
  ASSERT_FALSE(j.empty());
  EXPECT_EQ(file_sha256(cnn()), before);  // input untouched

  auto original = dense_weights(cnn());
  auto pruned = dense_weights(dir / "p.onnx");
  int64_t total = 0, zeroed = 0;
  for (const auto& change : j["changes"]) {
    const Tensor& t = pruned.at(change["name"].get<std::string>());
    total += t.numel();
    zeroed += zeros(t);
    EXPECT_NEAR(change["sparsity"].get<double>(), static_cast<double>(zeros(t)) / static_cast<double>(t.numel()), 1e-9);
  }
  EXPECT_EQ(j["changes"].size(), 4u);  // conv1, conv2, fc1, fc2 weights; biases untouched
  ASSERT_EQ(j["layers"].size(), 4u);
  for (const auto& layer : j["layers"]) {
    const Tensor& t = pruned.at(layer["name"].get<std::string>());
    EXPECT_EQ(layer["params_after"].get<int64_t>(), t.numel() - zeros(t));
    EXPECT_EQ(layer["macs_after"], layer["macs_before"]);  // zeros in dense weights: same dense MACs
    EXPECT_LT(layer["nonzero_macs_after"].get<int64_t>(), layer["macs_before"].get<int64_t>());
  }
  EXPECT_EQ(total, 1625632);  // 288 + 18432 + 1605632 + 1280 (RESULTS.md says 1,625,600: a slip)
  EXPECT_NEAR(static_cast<double>(zeroed) / static_cast<double>(total), c.sparsity, 0.005);
  EXPECT_EQ(zeroed, std::llround(c.sparsity * 1625632));  // exact: ties broken, not over-pruned
  for (const char* bias : {"fc1.bias", "fc2.bias", "onnx::Conv_32", "onnx::Conv_35"})
    EXPECT_TRUE(pruned.at(bias) == original.at(bias)) << bias;

  // Sparse storage only where it is smaller; at 90% the file shrinks about 5x.
  EXPECT_LE(j["output"]["bytes"].get<int64_t>(), j["input"]["bytes"].get<int64_t>());
  if (c.sparsity >= 0.9) {
    EXPECT_LT(j["output"]["bytes"].get<int64_t>(), j["input"]["bytes"].get<int64_t>() / 4);
  }

  Json e = eval_fashion(dir / "p.onnx");
  EXPECT_NEAR(e["accuracy"]["candidate"].get<double>(), c.pytorch_accuracy, 0.003);
  expect_infer_agrees_with_ort(dir / "p.onnx", "input:float32:16,1,28,28");
}

INSTANTIATE_TEST_SUITE_P(Fashion, GlobalMagnitude,
                         ::testing::Values(GlobalCase{"s50", 0.5, 0.9188}, GlobalCase{"s80", 0.8, 0.9151},
                                           GlobalCase{"s90", 0.9, 0.8957}),
                         [](const auto& info) { return info.param.name; });

TEST(PruneMagnitude, OpTypesSelectTheWeights) {
  fs::path dir = temp_dir("prune_op_types");
  Json j = prune(cnn(), dir / "p.onnx", {"--method", "magnitude", "--sparsity", "0.5", "--op-types", "Gemm"});
  ASSERT_FALSE(j.empty());
  ASSERT_EQ(j["changes"].size(), 2u);
  for (const auto& change : j["changes"]) EXPECT_EQ(change["op_type"], "Gemm");
}

// --scope layer (the default): every weight gets exactly round(F * n) zeros.
TEST(PruneMagnitude, LayerScopeIsExactPerWeight) {
  fs::path dir = temp_dir("prune_layer");
  Json j = prune(vit(), dir / "p.onnx", {"--method", "magnitude", "--sparsity", "0.7", "--dense"});
  ASSERT_FALSE(j.empty());
  auto pruned = dense_weights(dir / "p.onnx");
  ASSERT_GT(j["changes"].size(), 10u);
  for (const auto& change : j["changes"]) {
    const Tensor& t = pruned.at(change["name"].get<std::string>());
    EXPECT_EQ(zeros(t), std::llround(0.7 * static_cast<double>(t.numel()))) << change["name"];
    EXPECT_EQ(change["bytes_after"], change["bytes_before"]);  // --dense
  }
  expect_infer_agrees_with_ort(dir / "p.onnx", "input:float32:8,1,28,28");
}

// The mask API fine-tuning will hold fixed: computing, applying and re-deriving it agree.
TEST(PruneMasks, ComputeApplyDerive) {
  ir::Model model = onnxio::load_model(cnn());
  passes::PruneOptions options;
  options.method = passes::PruneMethod::nm;
  std::vector<std::string> skipped;
  auto masks = passes::compute_masks(model, options, &skipped);
  ASSERT_EQ(masks.size(), 3u);
  EXPECT_EQ(skipped.size(), 1u);
  std::map<std::string, ir::WeightRef> refs;
  for (const ir::WeightRef& w : ir::collect_weights(model.graph)) refs.emplace(w.name(), w);
  for (const auto& mask : masks) {
    EXPECT_DOUBLE_EQ(mask.sparsity(), 0.5);
    ir::NamedTensor& w = *refs.at(mask.name).stored;
    passes::apply_mask(w.tensor, mask);
    auto derived = passes::mask_from_zeros(w);
    EXPECT_EQ(derived.keep, mask.keep) << mask.name;  // the CNN's weights hold no exact zeros
    EXPECT_EQ(derived.shape, mask.shape);
  }
}

struct RealCase {
  std::string name;  // in tools/real_models.tsv, whose input spec make_inputs.py takes by name
  size_t min_changes;
};
void PrintTo(const RealCase& c, std::ostream* os) { *os << c.name; }

class MagnitudeOnRealModels : public ::testing::TestWithParam<RealCase> {};

// Weights in Constant nodes (PaddleOCR) and read from inside If branches (Silero VAD) are found
// and pruned; the result runs in ORT and agrees with mcompress's executor.
TEST_P(MagnitudeOnRealModels, FindsTheWeightsAndRunsInOrt) {
  const RealCase& c = GetParam();
  fs::path model = real_model(c.name);
  MCOMPRESS_SKIP_UNLESS_FETCHED(model);
  fs::path dir = temp_dir("prune_magnitude_" + c.name);
  Json j = prune(model, dir / "p.onnx", {"--method", "magnitude", "--sparsity", "0.6"});
  ASSERT_FALSE(j.empty());
  EXPECT_GE(j["changes"].size(), c.min_changes);
  EXPECT_NEAR(j["sparsity"].get<double>(), 0.6, 0.005);
  Agreement agreement;
  agreement.min_cosine = 0.9999;
  expect_infer_agrees_with_ort(dir / "p.onnx", c.name, agreement);
}

INSTANTIATE_TEST_SUITE_P(
    Real, MagnitudeOnRealModels,
    ::testing::Values(RealCase{"ppocr_cls", 50}, RealCase{"silero_vad", 30}, RealCase{"hello_deepa", 3}),
    [](const auto& info) { return info.param.name; });

// ---- N:M --------------------------------------------------------------------------------------

// Counts N:M groups along each pruned weight's reduction axis, independently of the pass.
void expect_nm_groups(const fs::path& model_path, const Json& report, int64_t n, int64_t m) {
  ir::Model model = onnxio::load_model(model_path);
  auto weights = dense_weights(model_path);
  int64_t groups = 0;
  for (const auto& change : report["changes"]) {
    std::string name = change["name"];
    const ir::Node* reader = nullptr;
    for (const ir::Node& node : model.graph.nodes)
      if (node.inputs.size() > 1 && node.inputs[1] == name) reader = &node;
    ASSERT_NE(reader, nullptr) << name;
    const Tensor& t = weights.at(name);
    const Shape& s = t.shape();
    // [outer, reduce, inner] with groups along reduce.
    int64_t outer = 1, reduce = 0, inner = 1;
    if (reader->op_type == "Conv") {
      outer = s[0];
      reduce = s[1];
      for (size_t i = 2; i < s.size(); ++i) inner *= s[i];
    } else if (reader->op_type == "Gemm" && reader->attr_int("transB", 0)) {
      outer = s[0];
      reduce = s[1];
    } else {
      reduce = s[0];
      inner = s[1];
    }
    ASSERT_EQ(reduce % m, 0) << name;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t r = 0; r < reduce; r += m)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t nonzero = 0;
          for (int64_t k = 0; k < m; ++k) nonzero += t.data<float>()[(o * reduce + r + k) * inner + i] != 0.0f;
          ASSERT_LE(nonzero, n) << name << " group at " << o << "," << r << "," << i;
          ++groups;
        }
  }
  EXPECT_GT(groups, 1000);
}

TEST(PruneNm, TwoFourOnTheCnn) {
  fs::path dir = temp_dir("prune_nm_cnn");
  Json j = prune(cnn(), dir / "p.onnx", {"--method", "nm", "--nm", "2:4"});
  ASSERT_FALSE(j.empty());
  EXPECT_EQ(j["changes"].size(), 3u);  // conv1 has one input channel: left dense and listed
  ASSERT_EQ(j["skipped"].size(), 1u);
  EXPECT_NE(j["skipped"][0].get<std::string>().find("onnx::Conv_31"), std::string::npos);
  EXPECT_NE(j["runtime_note"].get<std::string>().find("TensorRT"), std::string::npos);
  EXPECT_NEAR(j["sparsity"].get<double>(), 0.5, 1e-9);
  expect_nm_groups(dir / "p.onnx", j, 2, 4);
  expect_infer_agrees_with_ort(dir / "p.onnx", "input:float32:16,1,28,28");
  Json e = eval_fashion(dir / "p.onnx");
  EXPECT_NEAR(e["accuracy"]["candidate"].get<double>(), 0.8438, 0.003);  // measured (fp32 91.87%), no fine-tuning
}

TEST(PruneNm, TwoFourOnTheVit) {
  fs::path dir = temp_dir("prune_nm_vit");
  Json j = prune(vit(), dir / "p.onnx", {"--method", "nm", "--nm", "2:4"});
  ASSERT_FALSE(j.empty());
  EXPECT_GT(j["changes"].size(), 10u);
  expect_nm_groups(dir / "p.onnx", j, 2, 4);
  expect_infer_agrees_with_ort(dir / "p.onnx", "input:float32:8,1,28,28");
}

TEST(PruneNm, OtherPatterns) {
  fs::path dir = temp_dir("prune_nm_18");
  Json j = prune(cnn(), dir / "p.onnx", {"--method", "nm", "--nm", "1:8"});
  ASSERT_FALSE(j.empty());
  expect_nm_groups(dir / "p.onnx", j, 1, 8);
  EXPECT_NEAR(j["sparsity"].get<double>(), 7.0 / 8, 1e-9);
}

// ---- channel ----------------------------------------------------------------------------------

// The pruned model computes, in ORT, what the original computes with the removed channels
// zeroed (prune_mask_channels.py): for Relu networks a removed channel contributes nothing.
void expect_same_as_masked_original(const fs::path& original, const fs::path& pruned, const Json& report,
                                    const std::string& inputs_spec, const fs::path& dir) {
  std::ofstream(dir / "report.json") << report.dump();
  auto r = run({python(), (source_dir() / "tests" / "oracle" / "prune_mask_channels.py").string(), original.string(),
                (dir / "report.json").string(), (dir / "masked.onnx").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto compared = compare_in_ort(dir / "masked.onnx", pruned, make_inputs(inputs_spec, dir));
  ASSERT_FALSE(compared.empty());
  for (const auto& o : compared) {
    double peak = 0;
    for (int64_t i = 0; i < o.base.numel(); ++i) peak = std::max(peak, std::abs(element_as_double(o.base, i)));
    EXPECT_LT(o.fidelity.max_abs() / peak, 1e-5) << o.name;  // relative to the output's peak
  }
}

// The floor: L1, 50% of the channels of every Conv/Gemm but the last: params and MACs at
// most half, a genuinely smaller dense model that ORT runs; and it computes exactly what the
// original computes with the removed channels zeroed (prune_mask_channels.py).
TEST(PruneChannel, CnnHalfTheChannels) {
  fs::path dir = temp_dir("prune_channel_cnn");
  Json j = prune(cnn(), dir / "p.onnx", {"--method", "channel", "--sparsity", "0.5", "--criterion", "l1"});
  ASSERT_FALSE(j.empty());
  EXPECT_LE(j["params"]["after"].get<int64_t>(), j["params"]["before"].get<int64_t>() / 2);
  EXPECT_LE(j["macs"]["after"].get<int64_t>(), j["macs"]["before"].get<int64_t>() / 2);
  EXPECT_LT(j["output"]["bytes"].get<int64_t>(), j["input"]["bytes"].get<int64_t>() / 2);
  ASSERT_EQ(j["layers"].size(), 4u);
  EXPECT_EQ(j["layers"][0]["shape_after"], Json({16, 1, 3, 3}));
  EXPECT_EQ(j["layers"][1]["shape_after"], Json({32, 16, 3, 3}));
  EXPECT_EQ(j["layers"][2]["shape_after"], Json({64, 32 * 196}));
  EXPECT_EQ(j["layers"][3]["shape_after"], Json({10, 64}));
  ASSERT_EQ(j["left_alone"].size(), 1u);  // fc2 feeds the logits
  EXPECT_NE(j["left_alone"][0]["reason"].get<std::string>().find("graph output"), std::string::npos);

  expect_infer_agrees_with_ort(dir / "p.onnx", "input:float32:16,1,28,28");
  expect_same_as_masked_original(cnn(), dir / "p.onnx", j, "input:float32:32,1,28,28", dir);
  // Measured, before fine-tuning. Measured when written, not asserted: the same accuracy with
  // --op-types Conv (the 64 fc1 neurons removed here changed no logit of the test set by more
  // than 4e-6). PyTorch's 79.66% ranked the conv filters before BatchNorm folding; this model has
  // them folded, which rescales each filter.
  Json e = eval_fashion(dir / "p.onnx");
  EXPECT_NEAR(e["accuracy"]["candidate"].get<double>(), 0.6463, 0.003);
}

// Residual Add, depthwise and grouped Conv, Concat, Split (attribute at opset 11, stored sizes at
// 13), a per-channel constant, GlobalAveragePool + Flatten into a Gemm, heads tied into the graph output.
class ChannelPatterns : public ::testing::TestWithParam<int> {};

TEST_P(ChannelPatterns, SmallerAndExactlyTheMaskedOriginal) {
  fs::path dir = temp_dir("prune_channel_patterns_" + std::to_string(GetParam()));
  auto made = run({python(), (source_dir() / "tests" / "oracle" / "make_prune_fixture.py").string(),
                   (dir / "m.onnx").string(), std::to_string(GetParam())});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  Json j = prune(dir / "m.onnx", dir / "p.onnx", {"--method", "channel", "--sparsity", "0.5"});
  ASSERT_FALSE(j.empty());
  std::map<std::string, Json> after;
  for (const auto& layer : j["layers"]) after[layer["name"]] = layer["shape_after"];
  EXPECT_EQ(after["conv1"], Json({4, 3, 3, 3}));
  EXPECT_EQ(after["conv2"], Json({4, 4, 1, 1}));  // tied to conv1 by the residual Add: same channels
  EXPECT_EQ(after["depthwise"], Json({4, 1, 3, 3}));
  EXPECT_EQ(after["conv3"], Json({2, 3, 1, 1}));
  EXPECT_EQ(after["conv4"], Json({3, 4, 3, 3}));  // reads the Split's first half: conv1's channels
  EXPECT_EQ(after["conv6"], Json({5, 2, 1, 1}));  // reads the second half: conv3's
  EXPECT_EQ(after["conv7"], Json({5, 6, 1, 1}));  // reads the Concat: 4 + 2 channels
  EXPECT_EQ(after["grouped"], Json({3, 1, 3, 3}));  // 3 groups of 2 output channels: one each
  EXPECT_EQ(after["conv8"], Json({5, 3, 1, 1}));
  EXPECT_EQ(after["conv10"], Json({4, 3, 1, 1}));          // read by a 2-group Conv: 2 kept per group
  EXPECT_EQ(after["grouped_reader"], Json({2, 2, 3, 3}));  // 2 groups: 1 of 3 outputs, 2 of 4 inputs each
  EXPECT_EQ(after["conv12"], Json({5, 2, 1, 1}));
  EXPECT_EQ(after["fc"], Json({5, 3}));
  ASSERT_EQ(j["left_alone"].size(), 1u);  // the heads meet in the graph output
  for (const auto& layer : j["layers"]) {
    if (layer["name"] == "grouped") {
      std::vector<int64_t> kept = layer["kept_channels"];
      ASSERT_EQ(kept.size(), 3u);
      for (int64_t g = 0; g < 3; ++g) EXPECT_EQ(kept[static_cast<size_t>(g)] / 2, g);
    }
    if (layer["name"] == "conv10") {
      std::vector<int64_t> kept = layer["kept_channels"];
      ASSERT_EQ(kept.size(), 4u);
      EXPECT_TRUE(kept[1] < 4 && kept[2] >= 4) << layer.dump();  // two in each group of the reader
    }
  }
  EXPECT_LT(j["macs"]["after"].get<int64_t>(), j["macs"]["before"].get<int64_t>() / 2);
  expect_infer_agrees_with_ort(dir / "p.onnx", "x:float32:4,3,16,16");
  expect_same_as_masked_original(dir / "m.onnx", dir / "p.onnx", j, "x:float32:8,3,16,16", dir);
}

INSTANTIATE_TEST_SUITE_P(Opsets, ChannelPatterns, ::testing::Values(11, 13));

// PyTorch's structured baseline pruned the convs only: 809,130 params with BatchNorm's 96 unfolded,
// 809,034 folded. The same with --op-types Conv; fc1 loses input columns, keeps its neurons.
TEST(PruneChannel, ConvsOnlyMatchesPyTorchsParams) {
  fs::path dir = temp_dir("prune_channel_convs");
  Json j = prune(cnn(), dir / "p.onnx", {"--method", "channel", "--sparsity", "0.5", "--op-types", "Conv"});
  ASSERT_FALSE(j.empty());
  EXPECT_EQ(j["params"]["after"].get<int64_t>(), 809130 - 96);
  ASSERT_EQ(j["left_alone"].size(), 2u);
  EXPECT_NE(j["left_alone"][0]["reason"].get<std::string>().find("--op-types"), std::string::npos);
  ASSERT_EQ(j["layers"].size(), 3u);
  EXPECT_EQ(j["layers"][2]["shape_after"], Json({128, 32 * 196}));
  expect_infer_agrees_with_ort(dir / "p.onnx", "input:float32:16,1,28,28");
}

// The ViT's MLP hidden neurons (MatMul -> bias Add -> GELU -> MatMul) are removed; attention and the
// residual stream (LayerNorm, Shape, Reshape) are kept whole and listed. GELU(0) = 0, so the
// pruned model is exactly the original with those neurons zeroed.
TEST(PruneChannel, VitMlpHiddenNeurons) {
  fs::path dir = temp_dir("prune_channel_vit");
  Json j = prune(vit(), dir / "p.onnx", {"--method", "channel", "--sparsity", "0.5"});
  ASSERT_FALSE(j.empty());
  ASSERT_EQ(j["layers"].size(), 12u);  // 6 blocks x (mlp.0 rows out, mlp.2 rows in)
  for (const auto& layer : j["layers"]) EXPECT_NE(layer["name"].get<std::string>().find("/mlp/"), std::string::npos);
  EXPECT_EQ(j["layers"][0]["shape_after"], Json({128, 128}));
  EXPECT_EQ(j["layers"][1]["shape_after"], Json({128, 128}));
  EXPECT_LT(j["macs"]["after"].get<int64_t>(), j["macs"]["before"].get<int64_t>());
  EXPECT_GT(j["left_alone"].size(), 6u);
  expect_infer_agrees_with_ort(dir / "p.onnx", "input:float32:8,1,28,28");
  expect_same_as_masked_original(vit(), dir / "p.onnx", j, "input:float32:8,1,28,28", dir);
}

TEST(PruneChannel, BnCriterionNeedsBatchNorm) {
  // The bundled CNN has its BatchNorms folded into the Convs: nothing to rank by, nothing pruned.
  fs::path dir = temp_dir("prune_channel_bn_cnn");
  Json j = prune(cnn(), dir / "p.onnx", {"--method", "channel", "--criterion", "bn"});
  ASSERT_FALSE(j.empty());
  EXPECT_EQ(j["layers"].size(), 0u);
  ASSERT_GE(j["left_alone"].size(), 3u);
  EXPECT_NE(j["left_alone"][0]["reason"].get<std::string>().find("BatchNormalization"), std::string::npos);
  EXPECT_EQ(j["params"]["after"], j["params"]["before"]);
}

struct OcrCase {
  std::string name;
  std::string shape;  // x's static shape
  std::string criterion;
};
void PrintTo(const OcrCase& c, std::ostream* os) { *os << c.name << "_" << c.criterion; }

class ChannelOnPaddleOcr : public ::testing::TestWithParam<OcrCase> {};

// BatchNorm, hard-swish, SE blocks (Mul of two channel spaces), depthwise Convs and, in rec,
// residual Adds and a transformer neck: valid, runs in ORT (agreeing with mcompress), MACs lower,
// and whatever is kept whole is listed with its reason.
TEST_P(ChannelOnPaddleOcr, SmallerAndRunsInOrt) {
  const OcrCase& c = GetParam();
  fs::path model = real_model(c.name);
  MCOMPRESS_SKIP_UNLESS_FETCHED(model);
  fs::path dir = temp_dir("prune_channel_" + c.name + "_" + c.criterion);
  Json j = prune(model, dir / "p.onnx", {"--method", "channel", "--sparsity", "0.3", "--criterion", c.criterion,
                                          "--input-shape", "x=" + c.shape});
  ASSERT_FALSE(j.empty());
  ASSERT_TRUE(j["macs"]["before"].is_number());
  EXPECT_LT(j["macs"]["after"].get<int64_t>(), j["macs"]["before"].get<int64_t>() * 0.9);
  EXPECT_LT(j["params"]["after"].get<int64_t>(), j["params"]["before"].get<int64_t>());
  EXPECT_GT(j["layers"].size(), 10u);
  for (const auto& kept : j["left_alone"]) EXPECT_FALSE(kept["reason"].get<std::string>().empty());
  EXPECT_FALSE(j["left_alone"].empty());  // the head's channels reach the outputs through a reshape
  std::string spec = "x:float32:" + c.shape;
  Agreement agreement;
  agreement.min_cosine = 0.9999;
  expect_infer_agrees_with_ort(dir / "p.onnx", spec, agreement);
}

INSTANTIATE_TEST_SUITE_P(Real, ChannelOnPaddleOcr,
                         ::testing::Values(OcrCase{"ppocr_cls", "1,3,48,192", "l1"}, OcrCase{"ppocr_cls", "1,3,48,192", "bn"},
                                           OcrCase{"ppocr_rec", "1,3,48,320", "l2"}),
                         [](const auto& info) { return info.param.name + "_" + info.param.criterion; });

// ---- command line -----------------------------------------------------------------------------

TEST(PruneCli, BadValuesAreUsageErrors) {
  fs::path dir = temp_dir("prune_usage");
  for (std::vector<std::string> args : {std::vector<std::string>{"--sparsity", "1.5"}, {"--method", "nm", "--nm", "4:2"},
                                        {"--method", "random"}, {"--criterion", "bn"}, {"--nm", "x"},
                                        {"--op-types", "Relu"}}) {
    std::vector<std::string> argv = {"prune", cnn().string(), "-o", (dir / "p.onnx").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_mcompress(argv);
    EXPECT_EQ(r.exit_code, 1) << args[0] << " " << r.err;
    EXPECT_FALSE(fs::exists(dir / "p.onnx"));
  }
  auto missing = run_mcompress({"prune", (dir / "missing.onnx").string(), "-o", (dir / "p.onnx").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_FALSE(fs::exists(dir / "p.onnx"));
}

TEST(PruneCli, DeterministicWhateverTheThreads) {
  fs::path dir = temp_dir("prune_determinism");
  for (const char* method : {"magnitude", "channel"}) {
    for (const char* threads : {"1", "3"})
      ASSERT_EQ(run_mcompress({"prune", cnn().string(), "-o", (dir / (std::string(method) + threads + ".onnx")).string(),
                               "--method", method, "--scope", "global", "--sparsity", "0.8", "--threads", threads, "-q"})
                    .exit_code,
                0);
    EXPECT_EQ(file_sha256(dir / (std::string(method) + "1.onnx")), file_sha256(dir / (std::string(method) + "3.onnx")));
  }
}

TEST(PruneCli, DefaultOutputName) {
  fs::path dir = temp_dir("prune_default_name");
  fs::copy_file(cnn(), dir / "m.onnx");
  auto r = run_mcompress({"prune", (dir / "m.onnx").string(), "--sparsity", "0.3", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "m.pruned.onnx"));
}

}  // namespace
}  // namespace mcompress::test
