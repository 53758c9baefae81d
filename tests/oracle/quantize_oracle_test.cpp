// mcompress quantize on the bundled Fashion-MNIST CNN and ViT: every mode's output loads and runs
// in ONNX Runtime, and its outputs on real test images stay close to the float32 model's.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <map>

#include "mcompress/data/arrays.h"
#include "mcompress/data/dataset.h"
#include "mcompress/onnx/model_io.h"
#include "passes/compare.h"
#include "support/models.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kImages = 1000;  // per mode; the 10k floors below use the whole test set
// Measured on 2000 test images (see VitInt4Sqnr), ORT 1.30: the default (float zero points, the
// output layer at int8) 30.5 dB, MatMul weights only 31.5; --symmetric 28.2 / 29.1. ONNX Runtime's
// int4 quantizer: 29.5 dB (MatMul only), the issue's floor; its goal is 31 dB.
constexpr double kVitInt4SqnrFloor = 29.5;
constexpr double kVitInt4MatMulSqnrFloor = 31.0;
constexpr double kVitInt4SymSqnrFloor = 27.5;
constexpr double kVitInt4SymMatMulSqnrFloor = 28.5;

fs::path model(const std::string& name) { return models_dir() / ("fashion_" + name + ".onnx"); }

// The first n Fashion-MNIST test images, preprocessed, as inputs.npz {input: [n, 1, 28, 28]}.
fs::path fashion_inputs(int64_t n) {
  static std::map<int64_t, fs::path> cache;
  if (auto it = cache.find(n); it != cache.end()) return it->second;
  return cache[n] = test::fashion_inputs(n, temp_dir("fashion_" + std::to_string(n)));
}

struct Quantized {
  fs::path path;
  nlohmann::json report;
  std::string log;
};

Quantized quantize(const fs::path& in, const std::vector<std::string>& args, const std::string& tag) {
  fs::path out = temp_dir("q_" + tag) / (in.stem().string() + ".q.onnx");
  std::vector<std::string> argv = {"quantize", in.string(), "-o", out.string(), "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_mcompress(argv);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  return {out, nlohmann::json::parse(r.out), r.err};
}

struct Mode {
  std::string model, name;
  std::vector<std::string> args;
  std::string marker_op;  // an op the output must contain
  double min_cosine, min_agreement;
};

class QuantizeOracle : public ::testing::TestWithParam<Mode> {};

TEST_P(QuantizeOracle, RunsInOrtCloseToFloat) {
  const Mode& m = GetParam();
  Quantized q = quantize(model(m.model), m.args, m.model + "_" + m.name);
  ASSERT_FALSE(q.path.empty());
  EXPECT_GT(op_counts(q.path)[m.marker_op], 0) << m.marker_op;
  EXPECT_LT(q.report["output"]["bytes"].get<int64_t>(), q.report["input"]["bytes"].get<int64_t>());
  ASSERT_FALSE(q.report["changes"].empty());
  for (const auto& c : q.report["changes"]) {
    EXPECT_LT(c["bytes_after"].get<int64_t>(), c["bytes_before"].get<int64_t>()) << c["name"];
    EXPECT_LT(c["rel_error"].get<double>(), 0.15) << c["name"];
  }
  auto compared = compare_in_ort(model(m.model), q.path, fashion_inputs(kImages));
  ASSERT_EQ(compared.size(), 1u);
  EXPECT_GT(compared[0].fidelity.cosine(), m.min_cosine);
  EXPECT_GE(top1_agreement(compared[0].base, compared[0].candidate), m.min_agreement);
}

// Floors a little under what the modes measure on 1000 test images (ORT 1.30).
INSTANTIATE_TEST_SUITE_P(
    Fashion, QuantizeOracle,
    ::testing::Values(Mode{"cnn", "weight", {"--mode", "weight"}, "DequantizeLinear", 0.99995, 0.997},
                      // Conv weight-only, Gemm MatMulInteger; ConvInteger only when --op-types names Conv,
                      // and with --asymmetric its per-channel zero points are subtracted after the product.
                      Mode{"cnn", "dynamic", {"--mode", "dynamic"}, "MatMulInteger", 0.99990, 0.995},
                      Mode{"cnn", "dynamic_conv", {"--mode", "dynamic", "--op-types", "Conv,Gemm"}, "ConvInteger", 0.99990, 0.995},
                      Mode{"cnn", "dynamic_conv_asym", {"--mode", "dynamic", "--op-types", "Conv,Gemm", "--asymmetric"}, "ConvInteger", 0.99990, 0.995},
                      Mode{"cnn", "int4", {"--bits", "4"}, "MatMulNBits", 0.998, 0.98},
                      Mode{"cnn", "fp16", {"--bits", "16"}, "Cast", 0.999999, 0.999},
                      Mode{"cnn", "int4_sym_b16", {"--bits", "4", "--symmetric", "--block-size", "16"}, "MatMulNBits", 0.998, 0.98},
                      Mode{"cnn", "weight_tensor", {"--granularity", "tensor"}, "DequantizeLinear", 0.9999, 0.995},
                      Mode{"cnn", "weight_cast_mul", {"--weight-form", "cast-mul"}, "Mul", 0.99995, 0.997},
                      Mode{"vit", "weight", {"--mode", "weight"}, "DequantizeLinear", 0.99995, 0.997},
                      Mode{"vit", "dynamic", {"--mode", "dynamic"}, "MatMulInteger", 0.9999, 0.995},
                      Mode{"vit", "dynamic_asym", {"--mode", "dynamic", "--asymmetric"}, "MatMulInteger", 0.9999, 0.995},
                      Mode{"vit", "int4", {"--bits", "4"}, "MatMulNBits", 0.998, 0.98},
                      // K = 128 (every attention and first MLP layer) is padded to one block of 256.
                      Mode{"vit", "int4_b256_padded", {"--bits", "4", "--block-size", "256"}, "MatMulNBits", 0.998, 0.98},
                      Mode{"vit", "int4_b64", {"--bits", "4", "--block-size", "64"}, "MatMulNBits", 0.997, 0.97},
                      Mode{"vit", "int4_sym", {"--bits", "4", "--symmetric"}, "MatMulNBits", 0.998, 0.98},
                      Mode{"vit", "fp16", {"--bits", "16"}, "Cast", 0.999999, 0.999}),
    [](const auto& info) { return info.param.model + "_" + info.param.name; });

// ConvInteger with per-channel weight zero points (--asymmetric): ONNX Runtime reads one, so the
// product is corrected after the fact, by a ones-kernel window sum (group 1) or a kernel of the
// zero points (grouped). Conv layers with all-positive-leaning weights, group 1 and 4, in ORT.
TEST(QuantizeOracleDynamic, ConvIntegerZeroPointCorrectionMatchesFloat) {
  fs::path dir = temp_dir("qdyn_conv_zp");
  const char* script = R"(
import numpy as np, onnx, sys
from onnx import helper as h, TensorProto as T, numpy_helper as nh
rng = np.random.default_rng(0)
for g in (1, 4):
    W = (rng.standard_normal((8, 8 // g, 3, 3)) * 0.3 + 0.5).astype(np.float32)
    B = rng.standard_normal(8).astype(np.float32)
    n = h.make_node('Conv', ['x', 'W', 'B'], ['y'], group=g, pads=[1, 1, 1, 1], strides=[2, 1])
    gr = h.make_graph([n], 'g', [h.make_tensor_value_info('x', T.FLOAT, [2, 8, 7, 6])],
                      [h.make_tensor_value_info('y', T.FLOAT, [2, 8, 4, 6])], [nh.from_array(W, 'W'), nh.from_array(B, 'B')])
    onnx.save(h.make_model(gr, opset_imports=[h.make_opsetid('', 13)], ir_version=8), sys.argv[1] + f'/g{g}.onnx')
np.savez(sys.argv[1] + '/x.npz', x=rng.standard_normal((2, 8, 7, 6)).astype(np.float32))
)";
  auto made = run({python(), "-c", script, dir.string()});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  for (const char* g : {"g1", "g4"}) {
    fs::path in = dir / (std::string(g) + ".onnx");
    double sqnr[2];
    for (int asym = 0; asym < 2; ++asym) {
      fs::path out = dir / (std::string(g) + (asym ? "_asym.onnx" : "_sym.onnx"));
      auto r = run_mcompress({"quantize", in.string(), "--mode", "dynamic", "--op-types", "Conv", asym ? "--asymmetric" : "--symmetric",
                              "-o", out.string(), "-q"});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      auto ops = op_counts(out);
      EXPECT_EQ(ops["ConvInteger"], asym ? 2 : 1) << g;
      auto compared = compare_in_ort(in, out, dir / "x.npz");
      ASSERT_EQ(compared.size(), 1u);
      sqnr[asym] = compared[0].fidelity.sqnr_db();
    }
    // Measured 41.1 / 41.7 dB (g1), 42.3 / 43.4 dB (g4): the zero points are exact, not an approximation.
    EXPECT_GT(sqnr[0], 38.0) << g;
    EXPECT_GT(sqnr[1], 38.0) << g;
  }
}

// The issue's floor: ViT dynamic int8 agrees with float32 on >= 99.8% of the 10k test images.
TEST(QuantizeFloors, VitDynamicAgreementOnTestSet) {
  Quantized q = quantize(model("vit"), {"--mode", "dynamic"}, "vit_dynamic_10k");
  ASSERT_FALSE(q.path.empty());
  auto compared = compare_in_ort(model("vit"), q.path, fashion_inputs(10000));
  ASSERT_EQ(compared.size(), 1u);
  EXPECT_GE(top1_agreement(compared[0].base, compared[0].candidate), 0.998);
}

// int4 block 32 on the ViT: output SQNR vs float32 over the first 2000 test images. ONNX Runtime's own
// int4 quantizer (MatMul only) measures 29.5 dB; ours quantizes the Gemm weights as well (the
// classifier head, whose output is the graph output, at int8).
TEST(QuantizeFloors, VitInt4Sqnr) {
  struct Variant {
    std::vector<std::string> args;
    size_t changes;
    double floor;
  };
  const std::vector<Variant> variants = {
      {{"--bits", "4"}, 25, kVitInt4SqnrFloor},  // 18 MatMul + 6 Gemm at int4, the head Gemm at int8
      {{"--bits", "4", "--op-types", "MatMul"}, 18, kVitInt4MatMulSqnrFloor},
      {{"--bits", "4", "--symmetric"}, 25, kVitInt4SymSqnrFloor},
      {{"--bits", "4", "--symmetric", "--op-types", "MatMul"}, 18, kVitInt4SymMatMulSqnrFloor}};
  for (size_t i = 0; i < variants.size(); ++i) {
    const Variant& v = variants[i];
    Quantized q = quantize(model("vit"), v.args, "vit_int4_sqnr_" + std::to_string(i));
    ASSERT_FALSE(q.path.empty());
    EXPECT_EQ(q.report["changes"].size(), v.changes);
    auto c = compare_in_ort(model("vit"), q.path, fashion_inputs(2000));
    ASSERT_EQ(c.size(), 1u);
    RecordProperty("sqnr_db_" + std::to_string(i), std::to_string(c[0].fidelity.sqnr_db()));
    EXPECT_GE(c[0].fidelity.sqnr_db(), v.floor) << i;
  }
}

// ONNX Runtime's int4 quantizer skips Gemm and changes nothing in the CNN; ours packs fc1 into
// MatMulNBits and keeps the classifier fc2 (its output is the graph output) at int8, and says so.
TEST(QuantizeFloors, CnnInt4ChangesGemmWeights) {
  Quantized q = quantize(model("cnn"), {"--bits", "4"}, "cnn_int4_gemm");
  ASSERT_FALSE(q.path.empty());
  auto ops = op_counts(q.path);
  EXPECT_EQ(ops["MatMulNBits"], 1);
  EXPECT_EQ(ops["Gemm"], 1);
  EXPECT_EQ(ops["DequantizeLinear"], 1);
  std::vector<std::string> names, actions;
  for (const auto& c : q.report["changes"]) {
    names.push_back(c["name"]);
    actions.push_back(c["action"]);
    EXPECT_EQ(c["op_type"], "Gemm");
  }
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc2.weight"}));
  EXPECT_EQ(actions, (std::vector<std::string>{"quantize_int4_matmulnbits", "quantize_int8_weight"}));
  EXPECT_NE(q.log.find("fc2.weight [10x128] f32 -> int8/ch (output layer kept at 8 bits)"), std::string::npos) << q.log;
}

// Same input and options: byte-identical output whatever --threads; the input is never touched.
TEST(QuantizeDeterminism, ThreadsDoNotChangeTheOutput) {
  fs::path in = model("vit");
  std::string before = file_sha256(in);
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--mode", "weight"}, {"--mode", "dynamic"}, {"--bits", "4"}, {"--bits", "4", "--symmetric"}, {"--bits", "16"}}) {
    std::vector<std::string> one = args, two = args;
    one.insert(one.end(), {"--threads", "1"});
    two.insert(two.end(), {"--threads", "2"});
    std::string tag = args[1] + (args.size() > 2 ? "_sym" : "");
    Quantized a = quantize(in, one, "det1_" + tag);
    Quantized b = quantize(in, two, "det2_" + tag);
    ASSERT_FALSE(a.path.empty());
    ASSERT_FALSE(b.path.empty());
    EXPECT_EQ(file_sha256(a.path), file_sha256(b.path)) << tag;
  }
  EXPECT_EQ(file_sha256(in), before);
}

// One progress line per tensor on stderr, then the totals; the JSON rows per CLI.md.
TEST(QuantizeReport, ProgressLinesAndJsonRows) {
  Quantized q = quantize(model("cnn"), {}, "report");
  ASSERT_FALSE(q.path.empty());
  EXPECT_EQ(q.report["command"], "quantize");
  ASSERT_EQ(q.report["changes"].size(), 4u);
  for (const auto& c : q.report["changes"])
    for (const char* key : {"name", "op_type", "action", "bytes_before", "bytes_after", "rel_error", "sparsity"})
      EXPECT_TRUE(c.contains(key)) << key;
  EXPECT_NE(q.log.find("[1/4] onnx::Conv_31 [32x1x3x3] f32 -> int8/ch"), std::string::npos) << q.log;
  EXPECT_NE(q.log.find("[4/4] fc2.weight [10x128] f32 -> int8/ch"), std::string::npos) << q.log;
  EXPECT_NE(q.log.find("4 tensors: 6.20 MiB -> 1.55 MiB"), std::string::npos) << q.log;
  EXPECT_TRUE(q.report["warnings"].empty());
}

}  // namespace
}  // namespace mcompress::test
