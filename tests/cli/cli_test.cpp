// The command-line contract of CLI.md: exit codes, output rules, JSON keys.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

fs::path cnn() { return models_dir() / "fashion_cnn.onnx"; }

TEST(Cli, VersionAndHelp) {
  auto v = run_mcompress({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("0.1.0"), std::string::npos);
  auto h = run_mcompress({"convert", "--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("--constants-to-initializers"), std::string::npos);
}

TEST(Cli, UsageErrorsExitOne) {
  EXPECT_EQ(run_mcompress({}).exit_code, 1);
  EXPECT_EQ(run_mcompress({"inspect"}).exit_code, 1);
  EXPECT_EQ(run_mcompress({"inspect", cnn().string(), "--no-such-flag"}).exit_code, 1);
  EXPECT_EQ(run_mcompress({"frobnicate"}).exit_code, 1);
}

TEST(Cli, InspectJsonHasTheContractKeys) {
  auto r = run_mcompress({"inspect", cnn().string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"command", "input", "seconds", "changes", "warnings", "ir_version", "opsets", "producer",
                          "inputs", "outputs", "nodes", "op_types", "weight_bytes", "params", "macs", "subgraphs"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_FALSE(j.contains("output"));
  EXPECT_EQ(j["command"], "inspect");
  EXPECT_EQ(j["input"]["bytes"], static_cast<int64_t>(fs::file_size(cnn())));
  EXPECT_EQ(j["opsets"]["ai.onnx"], 13);
  EXPECT_EQ(j["outputs"][0]["name"], "logits");
  EXPECT_EQ(j["outputs"][0]["dtype"], "float32");
}

TEST(Cli, InputShapeFlagIsChecked) {
  EXPECT_EQ(run_mcompress({"inspect", cnn().string(), "--input-shape", "nope=1,1,28,28"}).exit_code, 1);
  EXPECT_EQ(run_mcompress({"inspect", cnn().string(), "--input-shape", "input=1,x"}).exit_code, 1);
  EXPECT_EQ(run_mcompress({"inspect", cnn().string(), "--batch", "0"}).exit_code, 1);
  auto r = run_mcompress({"inspect", cnn().string(), "--input-shape", "input=2,1,28,28", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["macs"], 2 * 16283392);
}

TEST(Cli, InspectTextForPeople) {
  auto r = run_mcompress({"inspect", cnn().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("params 1625866"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Conv×2"), std::string::npos) << r.out;
}

TEST(Cli, ConvertReportAndDefaultOutputName) {
  fs::path dir = temp_dir("convert");
  fs::copy_file(cnn(), dir / "m.onnx");
  auto r = run_mcompress({"convert", (dir / "m.onnx").string(), "--json", "--report", (dir / "r.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::exists(dir / "m.converted.onnx"));
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["command"], "convert");
  EXPECT_EQ(j["output"]["path"], (dir / "m.converted.onnx").string());
  EXPECT_EQ(j["output"]["bytes"], static_cast<int64_t>(fs::file_size(dir / "m.converted.onnx")));
  EXPECT_EQ(nlohmann::json::parse(read_text(dir / "r.json")), j);
  // The bundled model is already canonical protobuf: a plain convert reproduces it exactly.
  EXPECT_EQ(file_sha256(dir / "m.converted.onnx"), file_sha256(cnn()));
}

TEST(Cli, RefusesToOverwriteWithoutForceAndNeverTheInput) {
  fs::path dir = temp_dir("refuse");
  fs::copy_file(cnn(), dir / "m.onnx");
  std::string before = file_sha256(dir / "m.onnx");
  auto self = run_mcompress({"convert", (dir / "m.onnx").string(), "-o", (dir / "m.onnx").string(), "--force"});
  EXPECT_EQ(self.exit_code, 1);
  EXPECT_NE(self.err.find("input"), std::string::npos) << self.err;
  // Same file by another spelling.
  auto alias = run_mcompress({"convert", (dir / "m.onnx").string(), "-o", (dir / "." / "m.onnx").string(), "--force"});
  EXPECT_EQ(alias.exit_code, 1);
  std::ofstream(dir / "taken.onnx") << "keep me";
  auto taken = run_mcompress({"convert", (dir / "m.onnx").string(), "-o", (dir / "taken.onnx").string()});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_NE(taken.err.find("--force"), std::string::npos);
  EXPECT_EQ(read_text(dir / "taken.onnx"), "keep me");
  EXPECT_EQ(file_sha256(dir / "m.onnx"), before);
  auto forced = run_mcompress({"convert", (dir / "m.onnx").string(), "-o", (dir / "taken.onnx").string(), "--force"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_EQ(file_sha256(dir / "taken.onnx"), before);
}

TEST(Cli, MissingOutputFolderIsRefusedBeforeAnyWork) {
  fs::path dir = temp_dir("no_folder");
  for (const char* command : {"convert", "quantize", "prune"}) {
    auto r = run_mcompress({command, cnn().string(), "-o", (dir / "nope" / "m.onnx").string()});
    EXPECT_EQ(r.exit_code, 1) << command << ": " << r.err;
    EXPECT_NE(r.err.find("does not exist"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("nope"), std::string::npos) << r.err;
  }
}

TEST(Cli, ExternalDataBesideTheOutput) {
  fs::path dir = temp_dir("external");
  auto r = run_mcompress({"convert", cnn().string(), "-o", (dir / "e.onnx").string(), "--external-data", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(fs::exists(dir / "e.onnx.data"));
  int64_t model = static_cast<int64_t>(fs::file_size(dir / "e.onnx"));
  int64_t data = static_cast<int64_t>(fs::file_size(dir / "e.onnx.data"));
  EXPECT_LT(model, 10000);
  // Every float32 weight of the CNN but the four biases (under the 1 KiB threshold), plus alignment.
  int64_t biases = (32 + 64 + 128 + 10) * 4;
  EXPECT_GE(data, 6503464 - biases);
  EXPECT_LT(data, 6503464 - biases + 64 * 4);
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["output"]["bytes"], model + data);
  // Converting the external-data model back inlines the weights again, identical to the original.
  auto back = run_mcompress({"convert", (dir / "e.onnx").string(), "-o", (dir / "inline.onnx").string()});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(file_sha256(dir / "inline.onnx"), file_sha256(cnn()));
}

TEST(Cli, ConvertIsDeterministic) {
  fs::path dir = temp_dir("determinism");
  fs::path vit = models_dir() / "fashion_vit.onnx";
  for (const char* name : {"a.onnx", "b.onnx"}) {
    auto r = run_mcompress({"convert", vit.string(), "-o", (dir / name).string(), "--constants-to-initializers"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(file_sha256(dir / "a.onnx"), file_sha256(dir / "b.onnx"));
}

}  // namespace
}  // namespace mcompress::test
