#pragma once
// Quality gates: limits on how far a compressed model may drift from its original, judged from
// a ModelComparison and the two file sizes. A command whose gate fails exits 4 (CLI.md).
//
// Units are the ones `eval` prints: accuracy drop in percentage points, top-1 agreement in
// percent, SQNR in dB (the worst output), size ratio = output bytes / input bytes.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mcompress/report/fidelity.h"

namespace mcompress::report {

struct GateLimits {
  std::optional<double> max_drop_points;    // --max-drop: base accuracy - candidate accuracy, in points
  std::optional<double> min_agreement_pct;  // --min-agreement
  std::optional<double> min_sqnr_db;        // --min-sqnr
  std::optional<double> max_size_ratio;     // --max-size-ratio

  bool needs_comparison() const { return max_drop_points || min_agreement_pct || min_sqnr_db; }
  bool any() const { return needs_comparison() || max_size_ratio; }
};

struct GateVerdict {
  std::string flag;    // "--max-drop"
  std::string metric;  // "accuracy_drop_points"
  double value = 0;    // measured
  double limit = 0;
  bool passed = true;

  // "top-1 agreement 91.20% is below --min-agreement 95%"
  std::string message() const;
};

// Every limit that is set, judged. `comparison` may be null when only the size is limited;
// --max-drop needs a labelled comparison (a usage error the CLI catches first).
std::vector<GateVerdict> judge_gates(const GateLimits& limits, const ModelComparison* comparison,
                                     double size_ratio);

bool all_passed(const std::vector<GateVerdict>& verdicts);

// {"passed": bool, "checks": [{flag, metric, value, limit, passed}]}
nlohmann::ordered_json gates_json(const std::vector<GateVerdict>& verdicts);

}  // namespace mcompress::report
