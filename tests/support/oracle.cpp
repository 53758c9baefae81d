#include "support/oracle.h"

#include <gtest/gtest.h>

#include "mcompress/data/arrays.h"
#include "mcompress/report/fidelity.h"
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

fs::path make_inputs_or_pages(const std::string& spec, const fs::path& dir, int seed) {
  if (!spec.starts_with("pages:")) return make_inputs(spec, dir, seed);
  std::string count = spec.substr(6), size = "640";
  if (auto colon = count.find(':'); colon != std::string::npos) {
    size = count.substr(colon + 1);
    count.resize(colon);
  }
  fs::path out = dir / "pages.npz";
  auto r = run({python(), (source_dir() / "tests" / "passes" / "make_text_pages.py").string(), out.string(), count,
                std::to_string(seed), size});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return out;
}

fs::path ort_outputs(const fs::path& model, const fs::path& inputs, const fs::path& out_npz,
                     const std::string& optimization) {
  auto r = run({"node", ort_run_script().string(), model.string(), inputs.string(), out_npz.string(), "--optimization",
                optimization});
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

std::vector<InferredOutput> infer_and_ort(const fs::path& model, const fs::path& inputs, const fs::path& dir,
                                          const std::string& optimization) {
  fs::path theirs = ort_outputs(model, inputs, dir / "ort.npz", optimization);
  if (theirs.empty()) return {};
  auto r = run_mcompress({"infer", model.string(), "--data", inputs.string(), "-o", (dir / "ours.npz").string(),
                          "--batch-size", "1000000", "--threads", "2", "--force"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  auto expected = data::read_npz(theirs);
  auto actual = data::read_npz(dir / "ours.npz");
  EXPECT_EQ(actual.size(), expected.size());
  std::vector<InferredOutput> out;
  for (size_t i = 0; i < std::min(expected.size(), actual.size()); ++i) {
    EXPECT_EQ(actual[i].first, expected[i].first);
    EXPECT_EQ(shape_string(actual[i].second.shape()), shape_string(expected[i].second.shape())) << expected[i].first;
    EXPECT_EQ(dtype_name(actual[i].second.dtype()), dtype_name(expected[i].second.dtype())) << expected[i].first;
    if (actual[i].first != expected[i].first || actual[i].second.shape() != expected[i].second.shape() ||
        actual[i].second.dtype() != expected[i].second.dtype())
      return {};
    out.push_back({expected[i].first, std::move(actual[i].second), std::move(expected[i].second)});
  }
  return out;
}

void expect_infer_agrees_with_ort(const fs::path& model, const std::string& spec, const Agreement& agreement) {
  ASSERT_TRUE(fs::exists(model)) << model;
  fs::path dir = temp_dir("work");
  fs::path inputs = make_inputs(spec, dir);
  auto outputs = infer_and_ort(model, inputs, dir, agreement.ort_optimization);
  ASSERT_FALSE(outputs.empty());
  for (const InferredOutput& o : outputs) {
    SCOPED_TRACE(o.name);
    const Tensor& e = o.ort;
    report::OutputFidelity f;
    f.add(e, o.ours);
    // The output's range; for a single value (or a constant output) its magnitude.
    double lo = 0, hi = 0, magnitude = 0;
    for (int64_t k = 0; k < e.numel(); ++k) {
      double v = element_as_double(e, k);
      lo = k ? std::min(lo, v) : v;
      hi = k ? std::max(hi, v) : v;
      magnitude = std::max(magnitude, std::abs(v));
    }
    double range = hi - lo > 0 ? hi - lo : magnitude;
    EXPECT_GE(f.cosine(), agreement.min_cosine);
    EXPECT_LE(f.max_abs(), agreement.max_abs_of_range * std::max(range, 1e-12)) << "range " << range;
  }
}

}  // namespace mcompress::test
