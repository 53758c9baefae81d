#pragma once
// Two models run by ONNX Runtime on the same inputs, compared output by output (the oracle of
// every pass test: original vs rewritten).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "mcompress/data/arrays.h"
#include "mcompress/report/fidelity.h"
#include "support/oracle.h"

namespace mcompress::test {

struct ComparedOutput {
  std::string name;
  report::OutputFidelity fidelity;
  Tensor base, candidate;
};

// Empty (and the test failed) when ORT refuses either model.
inline std::vector<ComparedOutput> compare_in_ort(const std::filesystem::path& base, const std::filesystem::path& candidate,
                                                  const std::filesystem::path& inputs) {
  auto a = ort_outputs(base, inputs, candidate.string() + ".base.npz");
  auto b = ort_outputs(candidate, inputs, candidate.string() + ".cand.npz");
  if (a.empty() || b.empty()) return {};
  auto base_out = data::read_npz(a), cand_out = data::read_npz(b);
  EXPECT_EQ(base_out.size(), cand_out.size());
  std::vector<ComparedOutput> out;
  for (size_t i = 0; i < std::min(base_out.size(), cand_out.size()); ++i) {
    EXPECT_EQ(base_out[i].first, cand_out[i].first);
    EXPECT_EQ(base_out[i].second.shape(), cand_out[i].second.shape()) << base_out[i].first;
    EXPECT_EQ(base_out[i].second.dtype(), cand_out[i].second.dtype()) << base_out[i].first;
    if (base_out[i].second.shape() != cand_out[i].second.shape()) continue;
    ComparedOutput c{base_out[i].first, {}, std::move(base_out[i].second), std::move(cand_out[i].second)};
    c.fidelity.add(c.base, c.candidate);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace mcompress::test
