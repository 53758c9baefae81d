// Quality gates of the compressing commands (quantize, prune): --eval-data with --max-drop,
// --min-agreement, --min-sqnr, and --max-size-ratio. A failed gate exits 4, names the measured
// value and the limit, and writes nothing unless --write-anyway.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "mcompress/data/arrays.h"
#include "mcompress/data/dataset.h"
#include "mcompress/onnx/model_io.h"
#include "support/models.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

fs::path cnn() { return models_dir() / "fashion_cnn.onnx"; }

// The first 200 Fashion-MNIST test images (raw 0..255, as floats) and their labels, once.
struct EvalSet {
  fs::path images, labels;
};
const EvalSet& eval_set() {
  static EvalSet set = [] {
    fs::path dir = temp_dir("gate_eval_set");
    ir::Model model = onnxio::load_model(cnn());
    auto ds = data::load_dataset(kFashionDir / "t10k-images-idx3-ubyte.gz", model.graph.inputs, {});
    EvalSet s{dir / "images.npy", dir / "labels.npy"};
    data::write_npy(s.images, ds.batch(0, 200)[0]);
    auto all = data::load_labels(kFashionDir / "t10k-labels-idx1-ubyte.gz");
    std::vector<int64_t> first(all.begin(), all.begin() + 200);
    data::write_npy(s.labels, Tensor::from_values<int64_t>(DType::i64, {200}, first));
    return s;
  }();
  return set;
}

std::vector<std::string> eval_flags(bool labels = true) {
  std::vector<std::string> f = {"--eval-data", eval_set().images.string(), "--eval-preprocess", kFashionPreprocess};
  if (labels) f.insert(f.end(), {"--eval-labels", eval_set().labels.string()});
  return f;
}

RunResult run_with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  args.push_back("-q");
  return run_mcompress(args);
}

const Json* check(const Json& report, const std::string& flag) {
  for (const auto& c : report["gates"]["checks"])
    if (c["flag"] == flag) return &c;
  return nullptr;
}

// int8 weight-only quantization of the CNN changes few predictions: every gate passes, the model is
// written and the report holds the measured figures.
TEST(GateCli, PassingGatesWriteTheModel) {
  fs::path dir = temp_dir("gate_pass");
  fs::path out = dir / "q.onnx";
  auto r = run_with({"quantize", cnn().string(), "-o", out.string(), "--json", "--max-drop", "2", "--min-agreement",
                     "97", "--min-sqnr", "20"},
                    eval_flags());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(fs::exists(out));
  auto j = Json::parse(r.out);
  EXPECT_EQ(j["gates"]["passed"], true);
  EXPECT_EQ(j["eval"]["samples"], 200);
  EXPECT_GT(j["eval"]["accuracy"]["base"].get<double>(), 0.85);  // the CNN scores ~91% on Fashion-MNIST
  const Json* agreement = check(j, "--min-agreement");
  ASSERT_NE(agreement, nullptr);
  EXPECT_DOUBLE_EQ((*agreement)["value"].get<double>(), 100 * j["eval"]["top1_agreement"].get<double>());
  EXPECT_EQ((*agreement)["limit"], 97.0);
  const Json* drop = check(j, "--max-drop");
  ASSERT_NE(drop, nullptr);
  EXPECT_NEAR((*drop)["value"].get<double>(),
              100 * (j["eval"]["accuracy"]["base"].get<double>() - j["eval"]["accuracy"]["candidate"].get<double>()),
              1e-9);
  EXPECT_EQ(j["output"]["bytes"], static_cast<int64_t>(fs::file_size(out)));
}

// 95% magnitude pruning wrecks the CNN: exit 4, the message names the value and the limit, the report
// (--report) records the failed check, and no model is written.
TEST(GateCli, FailingGateExitsFourAndWritesNothing) {
  fs::path dir = temp_dir("gate_fail");
  fs::path out = dir / "p.onnx";
  fs::path report = dir / "report.json";
  auto r = run_with({"prune", cnn().string(), "--method", "magnitude", "--sparsity", "0.95", "-o", out.string(),
                     "--min-agreement", "99", "--report", report.string()},
                    eval_flags(false));
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);  // only the report
  EXPECT_NE(r.err.find("is below --min-agreement 99"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nothing written"), std::string::npos) << r.err;
  auto j = Json::parse(read_text(report));
  EXPECT_EQ(j["gates"]["passed"], false);
  const Json* c = check(j, "--min-agreement");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ((*c)["passed"], false);
  EXPECT_LT((*c)["value"].get<double>(), 99.0);
  EXPECT_FALSE(j.contains("output"));
  EXPECT_FALSE(j["eval"].contains("accuracy"));  // no labels given
}

TEST(GateCli, WriteAnywayKeepsTheFileAndStillExitsFour) {
  fs::path dir = temp_dir("gate_anyway");
  fs::path out = dir / "p.onnx";
  auto r = run_with({"prune", cnn().string(), "--method", "magnitude", "--sparsity", "0.95", "-o", out.string(),
                     "--min-sqnr", "40", "--write-anyway", "--json"},
                    eval_flags(false));
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_TRUE(fs::exists(out));
  EXPECT_NE(r.err.find("written anyway"), std::string::npos) << r.err;
  auto j = Json::parse(r.out);
  EXPECT_EQ(j["gates"]["passed"], false);
  EXPECT_EQ(j["output"]["path"], out.string());
  // The kept model is the pruned one: it loads and differs from the input.
  EXPECT_NO_THROW(onnxio::load_model(out));
  EXPECT_NE(file_sha256(out), file_sha256(cnn()));
}

// The size gate needs no samples. int8 weights make the CNN about a quarter of its size.
TEST(GateCli, SizeRatioGate) {
  fs::path dir = temp_dir("gate_size");
  fs::path out = dir / "q.onnx";
  auto r = run_with({"quantize", cnn().string(), "-o", out.string(), "--max-size-ratio", "0.1", "--json"}, {});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(fs::is_empty(dir)) << "the staging folder is left behind";
  EXPECT_NE(r.err.find("exceeds --max-size-ratio 0.1"), std::string::npos) << r.err;
  auto j = Json::parse(r.out);
  double ratio = (*check(j, "--max-size-ratio"))["value"].get<double>();
  EXPECT_GT(ratio, 0.2);
  EXPECT_LT(ratio, 0.35);

  r = run_with({"quantize", cnn().string(), "-o", out.string(), "--max-size-ratio", "0.35", "--json",
                "--external-data"},
               {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(fs::exists(out));
  fs::path data = out;
  data += ".data";
  ASSERT_TRUE(fs::exists(data));  // moved in beside the model, which still finds it
  EXPECT_NO_THROW(onnxio::load_model(out));
  j = Json::parse(r.out);
  int64_t bytes = static_cast<int64_t>(fs::file_size(out) + fs::file_size(data));
  EXPECT_EQ(j["output"]["bytes"], bytes);
  EXPECT_NEAR((*check(j, "--max-size-ratio"))["value"].get<double>(),
              static_cast<double>(bytes) / static_cast<double>(fs::file_size(cnn())), 1e-12);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
}

TEST(GateCli, GateFlagsAreChecked) {
  fs::path dir = temp_dir("gate_usage");
  fs::path out = dir / "q.onnx";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--min-agreement", "90"},                                            // no --eval-data
           {"--max-drop", "1", "--eval-data", eval_set().images.string()},     // no labels
           {"--eval-labels", eval_set().labels.string()},                        // labels without data
           {"--min-agreement", "101", "--eval-data", eval_set().images.string()},
           {"--max-size-ratio", "0"}}) {
    std::vector<std::string> argv = {"quantize", cnn().string(), "-o", out.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    EXPECT_EQ(run_mcompress(argv).exit_code, 1) << args[0];
    EXPECT_FALSE(fs::exists(out));
  }
}

}  // namespace
}  // namespace mcompress::test
