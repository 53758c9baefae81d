// A command interrupted while it writes a large model (Ctrl-C, or the SIGTERM that Slurm and
// Kubernetes send on a time-out or preemption) leaves nothing in the output folder: not the final
// name, not the hidden `.NAME.tmp.XXXXXX` temporary, not the external-data file. It ends with the
// signal's own status, as a shell or a scheduler expects.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

// 4 MatMul weights of 4096x4096 float32: 268 MB, a write of a few hundred milliseconds.
const fs::path& big_model() {
  static const fs::path model = [] {
    fs::path dir = temp_dir("big");
    fs::path path = dir / "big.onnx";
    auto r = run({python(), (source_dir() / "tools" / "bench" / "make_big_model.py").string(), path.string(),
                  "--layers", "4", "--dim", "4096"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return path;
  }();
  return model;
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

struct Case {
  const char* name;
  int sig;
  bool external_data;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class Interrupted : public ::testing::TestWithParam<Case> {};

TEST_P(Interrupted, LeavesNoFileBehind) {
  const Case& c = GetParam();
  const fs::path& model = big_model();
  ASSERT_TRUE(fs::exists(model));
  fs::path out_dir = temp_dir("out");
  std::vector<std::string> argv = {mcompress_binary().string(), "convert", model.string(), "-o",
                                   (out_dir / "big.out.onnx").string()};
  if (c.external_data) argv.push_back("--external-data");

  Spawned process = spawn(argv);
  // The signal goes in once a temporary exists, i.e. in the middle of writing.
  bool seen = false;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    for (const std::string& name : entries(out_dir)) seen |= name.find(".tmp.") != std::string::npos;
    if (!seen) std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  ASSERT_TRUE(seen) << "no temporary appeared in " << out_dir;
  ::kill(process.pid, c.sig);
  RunResult r = wait_for(process);

  EXPECT_EQ(r.term_signal, c.sig) << "exit " << r.exit_code << "\n" << r.err;
  EXPECT_TRUE(entries(out_dir).empty()) << "left behind: " << ::testing::PrintToString(entries(out_dir));
}

INSTANTIATE_TEST_SUITE_P(Convert, Interrupted,
                         ::testing::Values(Case{"sigint", SIGINT, false}, Case{"sigterm", SIGTERM, false},
                                           Case{"sigterm_external_data", SIGTERM, true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mcompress::test
