#include "mcompress/report/gate.h"

#include <fmt/format.h>

#include <cmath>

#include "mcompress/support/error.h"

namespace mcompress::report {

std::string GateVerdict::message() const {
  std::string what;
  if (metric == "accuracy_drop_points") what = fmt::format("accuracy drop {:.2f} points", value);
  else if (metric == "top1_agreement_pct") what = fmt::format("top-1 agreement {:.2f}%", value);
  else if (metric == "min_sqnr_db") what = fmt::format("output SQNR {:.2f} dB", value);
  else what = fmt::format("size ratio {:.4f}", value);
  const bool upper = metric == "accuracy_drop_points" || metric == "size_ratio";
  return fmt::format("{} {} {} {:g}", what, passed ? "is within" : (upper ? "exceeds" : "is below"), flag, limit);
}

std::vector<GateVerdict> judge_gates(const GateLimits& limits, const ModelComparison* comparison,
                                     double size_ratio) {
  std::vector<GateVerdict> out;
  auto upper = [&](const char* flag, const char* metric, double value, double limit) {
    out.push_back({flag, metric, value, limit, value <= limit});
  };
  auto lower = [&](const char* flag, const char* metric, double value, double limit) {
    out.push_back({flag, metric, value, limit, value >= limit});
  };
  if (limits.needs_comparison() && !comparison) throw Error(ExitCode::internal, "quality gate without a comparison");
  if (limits.max_drop_points) {
    if (!comparison->labelled()) throw_usage("--max-drop needs labels (--eval-labels)");
    double drop = 100.0 * (comparison->base_accuracy() - comparison->candidate_accuracy());
    upper("--max-drop", "accuracy_drop_points", drop, *limits.max_drop_points);
  }
  if (limits.min_agreement_pct)
    lower("--min-agreement", "top1_agreement_pct", 100.0 * comparison->top1_agreement(), *limits.min_agreement_pct);
  if (limits.min_sqnr_db) lower("--min-sqnr", "min_sqnr_db", comparison->min_sqnr_db(), *limits.min_sqnr_db);
  if (limits.max_size_ratio) upper("--max-size-ratio", "size_ratio", size_ratio, *limits.max_size_ratio);
  return out;
}

bool all_passed(const std::vector<GateVerdict>& verdicts) {
  for (const auto& v : verdicts)
    if (!v.passed) return false;
  return true;
}

nlohmann::ordered_json gates_json(const std::vector<GateVerdict>& verdicts) {
  nlohmann::ordered_json j;
  j["passed"] = all_passed(verdicts);
  auto& checks = j["checks"] = nlohmann::ordered_json::array();
  for (const auto& v : verdicts) {
    // An identical output has an infinite SQNR, which JSON cannot hold.
    auto value = std::isinf(v.value) ? nlohmann::ordered_json("inf") : nlohmann::ordered_json(v.value);
    checks.push_back({{"flag", v.flag}, {"metric", v.metric}, {"value", value}, {"limit", v.limit},
                      {"passed", v.passed}});
  }
  return j;
}

}  // namespace mcompress::report
