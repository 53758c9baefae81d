#include "mcompress/report/report.h"

namespace mcompress::report {

nlohmann::ordered_json Report::to_json() const {
  nlohmann::ordered_json j;
  j["command"] = command;
  j["input"] = {{"path", input.path.string()}, {"bytes", input.bytes}};
  if (output) j["output"] = {{"path", output->path.string()}, {"bytes", output->bytes}};
  j["seconds"] = seconds;
  auto& rows = j["changes"] = nlohmann::ordered_json::array();
  for (const TensorChange& c : changes) {
    nlohmann::ordered_json row = {{"name", c.name},
                                  {"op_type", c.op_type},
                                  {"action", c.action},
                                  {"bytes_before", c.bytes_before},
                                  {"bytes_after", c.bytes_after}};
    row["rel_error"] = c.rel_error ? nlohmann::ordered_json(*c.rel_error) : nlohmann::ordered_json();
    row["sparsity"] = c.sparsity ? nlohmann::ordered_json(*c.sparsity) : nlohmann::ordered_json();
    rows.push_back(std::move(row));
  }
  j["warnings"] = warnings;
  for (const auto& [key, value] : extra.items()) j[key] = value;
  return j;
}

}  // namespace mcompress::report
