// Models whose weights are read inside If / Loop bodies (tests/passes/make_subgraph_models.py):
// convert, quantize and prune keep typeless values typeless, quantize every weight where it is
// read, and every output loads and runs in ONNX Runtime close to the original.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "passes/compare.h"
#include "support/models.h"
#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// flag 50 takes the innermost then-branch of nested_if.onnx (10 < flag < 100).
constexpr const char* kInputs = "x:float32:1,64;flag:int64:=50";

fs::path fixture_script() { return source_dir() / "tests" / "passes" / "make_subgraph_models.py"; }

// The fixture models, written once per test binary run.
const fs::path& fixtures() {
  static const fs::path dir = [] {
    fs::path d = temp_dir("subgraph_fixtures");
    auto r = run({python(), fixture_script().string(), d.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return d;
  }();
  return dir;
}

Json stats(const fs::path& model) {
  auto r = run({python(), fixture_script().string(), "--stats", model.string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? Json::parse(r.out) : Json::object();
}

void expect_onnx_checker_passes(const fs::path& model) {
  auto r = run({python(), "-c", "import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]))", model.string()});
  EXPECT_EQ(r.exit_code, 0) << model << ": " << r.err;
}

// Runs both models in ORT; every output at least `min_cosine` to the original.
void expect_close_in_ort(const fs::path& original, const fs::path& candidate, double min_cosine) {
  auto compared = compare_in_ort(original, candidate, make_inputs(kInputs, candidate.parent_path()));
  ASSERT_FALSE(compared.empty()) << candidate;
  for (const auto& o : compared) {
    ::testing::Test::RecordProperty("cosine_" + candidate.stem().string() + "_" + o.name, std::to_string(o.fidelity.cosine()));
    EXPECT_GE(o.fidelity.cosine(), min_cosine) << candidate << " " << o.name;
  }
}

// ---- Item 3: typeless values stay typeless ----------------------------------------------------

// nested_if.onnx declares its branch outputs and some value_info with no type. Every command
// writes them back without a type (not as elem_type 0, which ORT refuses), and the result loads.
TEST(TypelessValues, StayTypelessThroughConvertQuantizePrune) {
  fs::path in = fixtures() / "nested_if.onnx";
  const int typeless = stats(in)["typeless"].get<int>();
  ASSERT_GT(typeless, 5);
  fs::path dir = temp_dir("subgraph_typeless");
  struct Command {
    std::string out;
    std::vector<std::string> args;
    double min_cosine;
  };
  const std::vector<Command> commands = {
      {"convert.onnx", {"convert"}, 0.999999},
      {"quantize.onnx", {"quantize"}, 0.99},
      {"prune.onnx", {"prune", "--method", "magnitude", "--sparsity", "0.3"}, 0.9},
  };
  for (const Command& c : commands) {
    SCOPED_TRACE(c.out);
    std::vector<std::string> argv = c.args;
    argv.insert(argv.begin() + 1, in.string());
    argv.insert(argv.end(), {"-o", (dir / c.out).string(), "-q"});
    auto r = run_mcompress(argv);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Json s = stats(dir / c.out);
    EXPECT_EQ(s["elem_type_0"], Json::array()) << s.dump();
    // Quantize and prune may drop value_info of values they replace; none gains a made-up type.
    EXPECT_GE(s["typeless"].get<int>(), c.out == "convert.onnx" ? typeless : typeless - 3);
    expect_close_in_ort(in, dir / c.out, c.min_cosine);
  }
}

// ---- Item 4: weights quantized where they are read ---------------------------------------------

struct Case {
  std::string model, mode;
  double max_ratio;  // output bytes / input bytes
  double min_cosine;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.model << " " << c.mode; }

class SubgraphWeights : public ::testing::TestWithParam<Case> {};

// Outer weights read in nested branches and weights stored in a Loop body are all rewritten: no
// float32 weight of 1 KiB or more is left (fp16: all stored as float16), the file shrinks, the
// model passes ONNX's checker and runs in ORT close to the float model.
TEST_P(SubgraphWeights, QuantizedWhereReadAndRunInOrt) {
  const Case& c = GetParam();
  fs::path in = fixtures() / (c.model + ".onnx");
  fs::path dir = temp_dir("subgraph_" + c.model + "_" + c.mode);
  fs::path out = dir / "q.onnx";
  auto r = run_mcompress(quantize_args(in, out, c.mode));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("no weights to quantize"), std::string::npos) << r.out;
  Json s = stats(out);
  // int4 is MatMulNBits: nested_if's Conv weight is the one it leaves in float.
  Json left = c.mode == "int4" && c.model == "nested_if" ? Json::array({"Wconv"}) : Json::array();
  EXPECT_EQ(s["float_weights_1k"], left) << s.dump();
  EXPECT_EQ(s["elem_type_0"], Json::array()) << s.dump();
  double ratio = static_cast<double>(fs::file_size(out)) / static_cast<double>(fs::file_size(in));
  RecordProperty("size_ratio", std::to_string(ratio));
  EXPECT_LE(ratio, c.max_ratio);
  expect_onnx_checker_passes(out);
  expect_close_in_ort(in, out, c.min_cosine);
}

// rnn.onnx: the W and R of LSTM / GRU / RNN (in an If branch and the main graph) take the
// weight-only form in both int8 modes (no integer recurrent op in standard ONNX): 0.405x, cosine
// 0.99998 measured; bb49268 left them float ("no weights to quantize", 0.998x). Its weights are
// small (16-32 wide), so per-channel scales, zero points, float biases and node names weigh more
// than in the 64x64 fixtures (the weights alone: 24 KiB -> 7.4 KiB). fp16: 0.555x, cosine 1.0.
// Weight-only int8 stays under the 0.30x (0.299x and 0.292x measured; Wa, read from two graphs,
// is stored once).
// Dynamic stores one transposed copy per MatMulInteger and adds the activation quantizers (0.31x
// to 0.38x measured); fp16 halves. int4 (MatMulNBits, blocks of 32) on these Gaussian random
// weights: nested_if measured cosine 0.999; loop_body chains six int4 MatMuls through three
// iterations (0.966 measured), hence its lower floor.
INSTANTIATE_TEST_SUITE_P(
    Fixtures, SubgraphWeights,
    ::testing::Values(Case{"nested_if", "weight", 0.30, 0.99}, Case{"nested_if", "dynamic", 0.40, 0.99},
                      Case{"nested_if", "int4", 0.30, 0.99}, Case{"nested_if", "fp16", 0.55, 0.9999},
                      Case{"loop_body", "weight", 0.30, 0.99}, Case{"loop_body", "dynamic", 0.40, 0.99},
                      Case{"loop_body", "int4", 0.30, 0.95}, Case{"loop_body", "fp16", 0.55, 0.9999},
                      Case{"rnn", "weight", 0.42, 0.99}, Case{"rnn", "dynamic", 0.42, 0.99},
                      Case{"rnn", "fp16", 0.56, 0.9999}),
    [](const auto& info) { return info.param.model + "_" + info.param.mode; });

// --op-types selects recurrent ops by name like any other: LSTM alone leaves the GRU and RNN
// weights float, and the result runs in ORT.
TEST(SubgraphWeights, OpTypesSelectsLstmAlone) {
  fs::path in = fixtures() / "rnn.onnx";
  fs::path dir = temp_dir("subgraph_rnn_op_types");
  fs::path out = dir / "q.onnx";
  auto r = run_mcompress({"quantize", in.string(), "-o", out.string(), "--op-types", "LSTM", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json left = stats(out)["float_weights_1k"];
  std::vector<std::string> names = left.get<std::vector<std::string>>();
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"R_gru", "R_rnn", "W_gru", "W_rnn"})) << left.dump();
  expect_close_in_ort(in, out, 0.99);
}

// prune --method magnitude finds the same weights (it resolved subgraph reads before) and the
// result, typeless values included, runs in ORT.
TEST(SubgraphWeights, PruneMagnitudeReachesBranchAndLoopWeights) {
  for (const char* model : {"nested_if", "loop_body"}) {
    SCOPED_TRACE(model);
    fs::path in = fixtures() / (std::string(model) + ".onnx");
    fs::path dir = temp_dir(std::string("subgraph_prune_") + model);
    auto r = run_mcompress({"prune", in.string(), "-o", (dir / "p.onnx").string(), "--method", "magnitude",
                            "--sparsity", "0.5", "--json", "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Json j = Json::parse(r.out);
    EXPECT_EQ(j["changes"].size(), std::string(model) == "nested_if" ? 6u : 2u) << r.out;
    expect_close_in_ort(in, dir / "p.onnx", 0.5);
  }
}

// ---- prune --method channel: a branch returning a Conv output directly --------------------------

// branch_out.onnx: both branches of an If return main-graph Conv outputs by name, with no node
// reading them. Pruning their channels would change the If's output; they are kept whole.
TEST(SubgraphChannels, ConvOutputReturnedByBranchIsKeptWhole) {
  fs::path in = fixtures() / "branch_out.onnx";
  fs::path dir = temp_dir("subgraph_branch_out");
  auto r = run_mcompress({"prune", in.string(), "-o", (dir / "p.onnx").string(), "--method", "channel",
                          "--sparsity", "0.5", "--json", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto shapes = run({python(), "-c",
                     "import onnx,sys\n"
                     "m = onnx.load(sys.argv[1])\n"
                     "print(' '.join(f'{t.name}={t.dims[0]}' for t in m.graph.initializer if t.name in ('W1', 'W2')))",
                     (dir / "p.onnx").string()});
  ASSERT_EQ(shapes.exit_code, 0) << shapes.err;
  EXPECT_EQ(shapes.out, "W1=16 W2=16\n");
  // ORT refuses a branch that returns an outer value directly; mcompress's executor runs both.
  fs::path inputs = make_inputs(kInputs, dir);
  for (const char* m : {"branch_out", "p"}) {
    fs::path model = std::string(m) == "p" ? dir / "p.onnx" : in;
    auto inf = run_mcompress({"infer", model.string(), "--data", inputs.string(), "-o",
                              (dir / (std::string(m) + ".npz")).string()});
    ASSERT_EQ(inf.exit_code, 0) << inf.err;
  }
  EXPECT_EQ(file_sha256(dir / "branch_out.npz"), file_sha256(dir / "p.npz"));
}

}  // namespace
}  // namespace mcompress::test
