#pragma once
#include <gtest/gtest.h>

// The ways `convert` rewrites a model; each must leave ONNX Runtime's outputs bit-identical.
#include <filesystem>
#include <string>
#include <vector>

#include "support/oracle.h"
#include "support/process.h"

namespace mcompress::test {

struct ConvertVariant {
  std::string name;
  std::vector<std::string> flags;
  bool constants_moved;
  bool external;  // bytes stored raw in OUT.data: typed-field encodings become raw_data
};

inline const std::vector<ConvertVariant>& convert_variants() {
  static const std::vector<ConvertVariant> variants = {
      {"plain", {}, false, false},
      {"external", {"--external-data"}, false, true},
      {"constants", {"--constants-to-initializers"}, true, false},
      {"constants_external", {"--constants-to-initializers", "--external-data"}, true, true},
  };
  return variants;
}

// Converts MODEL every way into DIR and checks each result against the original: equal
// ModelProto and bit-identical ONNX Runtime outputs on INPUTS.
inline void expect_convert_variants_identical(const std::filesystem::path& model, const std::filesystem::path& inputs,
                                              const std::filesystem::path& dir) {
  for (const ConvertVariant& v : convert_variants()) {
    SCOPED_TRACE(v.name);
    std::filesystem::path out = dir / (v.name + ".onnx");
    std::vector<std::string> args = {"convert", model.string(), "-o", out.string()};
    args.insert(args.end(), v.flags.begin(), v.flags.end());
    auto r = run_mcompress(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    expect_proto_equal(model, out, v.constants_moved, v.external);
    expect_ort_identical(model, out, inputs);
  }
}

}  // namespace mcompress::test
