#include "support/oracle.h"

#include <gtest/gtest.h>

#include "support/paths.h"
#include "support/process.h"

namespace mcompress::test {

namespace fs = std::filesystem;

fs::path make_inputs(const std::string& spec, const fs::path& dir, int seed) {
  fs::path out = dir / "inputs.npz";
  auto r = run({python(), (source_dir() / "tools" / "make_inputs.py").string(), spec, out.string(), "--seed",
                std::to_string(seed)});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

fs::path ort_outputs(const fs::path& model, const fs::path& inputs, const fs::path& out_npz) {
  auto r = run({"node", ort_run_script().string(), model.string(), inputs.string(), out_npz.string()});
  EXPECT_EQ(r.exit_code, 0) << "ONNX Runtime refused " << model << ": " << r.err;
  return r.exit_code == 0 ? out_npz : fs::path();
}

void expect_ort_identical(const fs::path& reference, const fs::path& candidate, const fs::path& inputs) {
  fs::path a = ort_outputs(reference, inputs, candidate.string() + ".ref.npz");
  fs::path b = ort_outputs(candidate, inputs, candidate.string() + ".out.npz");
  if (a.empty() || b.empty()) return;
  std::string ref_bytes = read_text(a);
  EXPECT_GT(ref_bytes.size(), 100u);
  EXPECT_TRUE(ref_bytes == read_text(b)) << candidate << " gives different outputs from " << reference;
}

void expect_proto_equal(const fs::path& a, const fs::path& b, bool constants_moved, bool raw_encoding) {
  std::vector<std::string> argv = {python(), (source_dir() / "tools" / "proto_equal.py").string(), a.string(),
                                   b.string()};
  if (constants_moved) argv.push_back("--ignore-constants-moved");
  if (raw_encoding) argv.push_back("--raw-encoding");
  auto r = run(argv);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace mcompress::test
