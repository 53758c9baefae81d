// mcompress quantize's command-line contract: usage errors exit 1, bad input 2, unsupported 3,
// and a failed command leaves no output behind and the input untouched.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

fs::path cnn() { return models_dir() / "fashion_cnn.onnx"; }

int quantize_exit(std::vector<std::string> args, const fs::path& out) {
  std::vector<std::string> argv = {"quantize", cnn().string(), "-o", out.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_mcompress(argv).exit_code;
}

TEST(QuantizeCli, BadFlagValuesAreUsageErrors) {
  fs::path out = temp_dir("qcli_usage") / "out.onnx";
  for (const auto& args : std::vector<std::vector<std::string>>{{"--bits", "5"},
                                                                {"--mode", "fast"},
                                                                {"--bits", "4", "--block-size", "48"},
                                                                {"--bits", "4", "--block-size", "512"},
                                                                {"--bits", "4", "--mode", "static"},
                                                                {"--bits", "16", "--mode", "dynamic"},
                                                                {"--bits", "16", "--symmetric"},
                                                                {"--bits", "4", "--symmetric", "--asymmetric"},
                                                                {"--granularity", "block"},
                                                                {"--mode", "static"},
                                                                {"--mode", "dynamic", "--calib", "x.npy"},
                                                                {"--exclude", "("},
                                                                {"--mode", "dynamic", "--weight-form", "cast-mul"},
                                                                {"--no-such-flag"}}) {
    EXPECT_EQ(quantize_exit(args, out), 1) << args[0] << " " << (args.size() > 1 ? args[1] : "");
    EXPECT_FALSE(fs::exists(out));
  }
}

TEST(QuantizeCli, MissingOrMalformedModelIsBadInput) {
  fs::path dir = temp_dir("qcli_bad");
  auto r = run_mcompress({"quantize", (dir / "missing.onnx").string(), "-o", (dir / "o.onnx").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.onnx"), std::string::npos) << r.err;
  fs::path garbage = dir / "garbage.onnx";
  std::ofstream(garbage) << "not a model";
  r = run_mcompress({"quantize", garbage.string(), "-o", (dir / "o.onnx").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(fs::exists(dir / "o.onnx"));
}

// ONNX Runtime's dynamic CNN holds no float weights any more: said so, exit 3, nothing written.
TEST(QuantizeCli, AlreadyQuantizedModelIsUnsupported) {
  fs::path dir = temp_dir("qcli_quantized");
  fs::path in = ort_quantized_dir() / "fashion_cnn_dynamic.onnx";
  std::string before = file_sha256(in);
  auto r = run_mcompress({"quantize", in.string(), "--mode", "dynamic", "-o", (dir / "o.onnx").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("already quantized"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fashion_cnn_dynamic.onnx"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "o.onnx"));
  r = run_mcompress({"quantize", in.string(), "--bits", "16", "-o", (dir / "o.onnx").string()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(file_sha256(in), before);
}

// Partly quantized (ORT's int4 ViT keeps its Gemms in float): only those are quantized, with a warning.
TEST(QuantizeCli, PartlyQuantizedModelQuantizesWhatIsLeft) {
  fs::path dir = temp_dir("qcli_partly");
  fs::path in = ort_quantized_dir() / "fashion_vit_int4_matmulnbits.onnx";
  auto r = run_mcompress({"quantize", in.string(), "--bits", "4", "-o", (dir / "o.onnx").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("already holds quantized ops"), std::string::npos);
  EXPECT_NE(r.out.find("\"op_type\": \"Gemm\""), std::string::npos);
  EXPECT_EQ(r.out.find("\"op_type\": \"MatMul\""), std::string::npos);
}

TEST(QuantizeCli, DefaultOutputNameAndNoOverwrite) {
  fs::path dir = temp_dir("qcli_default");
  fs::copy_file(cnn(), dir / "m.onnx");
  EXPECT_EQ(run_mcompress({"quantize", (dir / "m.onnx").string(), "-q"}).exit_code, 0);
  EXPECT_TRUE(fs::exists(dir / "m.int8.onnx"));
  EXPECT_EQ(run_mcompress({"quantize", (dir / "m.onnx").string(), "--bits", "4", "-q"}).exit_code, 0);
  EXPECT_TRUE(fs::exists(dir / "m.int4.onnx"));
  EXPECT_EQ(run_mcompress({"quantize", (dir / "m.onnx").string(), "--bits", "16", "-q"}).exit_code, 0);
  EXPECT_TRUE(fs::exists(dir / "m.fp16.onnx"));
  auto again = run_mcompress({"quantize", (dir / "m.onnx").string(), "-q"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_EQ(run_mcompress({"quantize", (dir / "m.onnx").string(), "-q", "--force"}).exit_code, 0);
  EXPECT_NE(run_mcompress({"quantize", (dir / "m.onnx").string(), "-o", (dir / "m.onnx").string(), "--force"}).exit_code, 0);
}

// An int4 ViT is full of com.microsoft MatMulNBits, which ONNX's shape inference has no schema
// for: inspect and eval must still see through them (ONNX 1.12 crashed on the untyped outputs)
// and count their multiply-adds like the MatMuls they replace.
TEST(QuantizeCli, Int4ModelIsInspectedThroughItsContribOps) {
  fs::path dir = temp_dir("qcli_int4_inspect");
  fs::path vit = models_dir() / "fashion_vit.onnx";
  auto q = run_mcompress({"quantize", vit.string(), "--bits", "4", "-o", (dir / "q.onnx").string()});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  auto base = run_mcompress({"inspect", vit.string(), "--json"});
  auto cand = run_mcompress({"inspect", (dir / "q.onnx").string(), "--json"});
  ASSERT_EQ(cand.exit_code, 0) << cand.err;
  auto macs = [](const std::string& json) { return nlohmann::json::parse(json)["macs"]; };
  EXPECT_EQ(macs(base.out), 43263232);
  EXPECT_EQ(macs(cand.out), macs(base.out));
  // 24 MatMuls and Gemms in int4; the classifier head stays int8 (DequantizeLinear).
  EXPECT_EQ(nlohmann::json::parse(cand.out)["op_types"]["com.microsoft.MatMulNBits"], 24) << cand.out;
  // Integer forms (ConvInteger, MatMulInteger in ONNX Runtime's dynamic models) count like the
  // float ops they stand for.
  for (const char* name : {"fashion_cnn_dynamic.onnx", "fashion_vit_dynamic.onnx"}) {
    auto ort = run_mcompress({"inspect", (ort_quantized_dir() / name).string(), "--json"});
    ASSERT_EQ(ort.exit_code, 0) << ort.err;
    EXPECT_EQ(macs(ort.out), std::string(name).find("cnn") != std::string::npos ? 16283392 : 43263232) << name;
  }
}

}  // namespace
}  // namespace mcompress::test
