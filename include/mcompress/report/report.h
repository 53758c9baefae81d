#pragma once
// What a command did, as the JSON report of docs/CLI.md (common keys) plus the
// command's own keys.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mcompress::report {

struct TensorChange {
  std::string name;
  std::string op_type;  // the op that holds or reads the tensor
  std::string action;
  int64_t bytes_before = 0;
  int64_t bytes_after = 0;
  std::optional<double> rel_error;
  std::optional<double> sparsity;
};

struct FileRef {
  std::filesystem::path path;
  int64_t bytes = 0;
};

struct Report {
  std::string command;
  FileRef input;
  std::optional<FileRef> output;
  double seconds = 0;
  std::vector<TensorChange> changes;
  std::vector<std::string> warnings;
  nlohmann::ordered_json extra;  // command-specific keys, merged at the top level

  nlohmann::ordered_json to_json() const;
};

}  // namespace mcompress::report
