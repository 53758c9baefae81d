// The malformed-model corpus (tests/data/malformed, made by make_corpus.py): every case is
// refused with its exit code and a message naming the culprit; nothing crashes, no input
// changes, no output appears.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {
namespace {

namespace fs = std::filesystem;

struct Case {
  std::string name;
  std::string path;
  int exit_code;
  std::string must_mention;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> read_cases(const std::string& manifest) {
  std::ifstream in(source_dir() / "tests" / "data" / "malformed" / manifest);
  std::vector<Case> cases;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    Case c;
    std::string code;
    std::getline(ss, c.name, '\t');
    std::getline(ss, c.path, '\t');
    std::getline(ss, code, '\t');
    std::getline(ss, c.must_mention, '\t');
    c.exit_code = std::stoi(code);
    cases.push_back(c);
  }
  return cases;
}

fs::path corpus() { return source_dir() / "tests" / "data" / "malformed"; }

class Malformed : public ::testing::TestWithParam<Case> {};

TEST_P(Malformed, RefusedCleanly) {
  const Case& c = GetParam();
  fs::path model = corpus() / c.path;
  fs::path out = temp_dir("out") / "out.onnx";
  for (const char* command : {"inspect", "convert"}) {
    std::vector<std::string> args = {command, model.string()};
    if (std::string(command) == "convert") args.insert(args.end(), {"-o", out.string()});
    auto r = run_mcompress(args);
    EXPECT_EQ(r.exit_code, c.exit_code) << command << ": " << r.err;
    EXPECT_NE(r.err.find(c.must_mention), std::string::npos) << command << ": '" << c.must_mention << "' not in: " << r.err;
    EXPECT_NE(r.err.find("error:"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(fs::is_empty(out.parent_path())) << "temporary output left behind";
}

INSTANTIATE_TEST_SUITE_P(Corpus, Malformed, ::testing::ValuesIn(read_cases("cases.tsv")),
                         [](const auto& info) { return info.param.name; });

TEST(MalformedCorpus, ControlsLoad) {
  for (const Case& c : read_cases("controls.tsv")) {
    auto r = run_mcompress({"inspect", (corpus() / c.path).string()});
    EXPECT_EQ(r.exit_code, 0) << c.name << ": " << r.err;
  }
}

TEST(MalformedCorpus, InputsAreNeverModified) {
  // Regenerating the corpus must reproduce the committed files: the tests above changed nothing.
  fs::path fresh = temp_dir("regen");
  auto r = run({python(), (corpus() / "make_corpus.py").string(), fresh.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& entry : fs::recursive_directory_iterator(fresh)) {
    if (!entry.is_regular_file()) continue;
    fs::path committed = corpus() / fs::relative(entry.path(), fresh);
    ASSERT_TRUE(fs::exists(committed)) << committed;
    EXPECT_EQ(file_sha256(entry.path()), file_sha256(committed)) << committed;
  }
}

TEST(FuzzRegressions, EveryFindingIsRefusedCleanly) {
  for (const auto& entry : fs::directory_iterator(source_dir() / "tests" / "data" / "fuzz-regressions")) {
    auto r = run_mcompress({"inspect", entry.path().string()});
    EXPECT_TRUE(r.exit_code == 2 || r.exit_code == 3) << entry.path() << ": " << r.exit_code << " " << r.err;
  }
}

}  // namespace
}  // namespace mcompress::test
