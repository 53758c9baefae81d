#pragma once
// What every model-rewriting pass shares: the result it returns (passes never print), the
// progress callback the CLI prints from, and the --exclude filter.
#include <functional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "mcompress/ir/graph.h"
#include "mcompress/report/report.h"

namespace mcompress::passes {

struct PassResult {
  std::vector<report::TensorChange> changes;  // one row per weight tensor touched
  std::vector<std::string> warnings;
  nlohmann::ordered_json extra;  // the pass's own report keys, merged into the JSON report
};

// One finished line per weight as the pass goes, ggml style:
// "[ 7/48] name [768x3072] f32 -> int8/ch 9.00 MiB -> 2.27 MiB err 0.8%".
using ProgressFn = std::function<void(std::string_view line)>;

// --exclude REGEX (repeatable): a node or weight whose name matches any pattern (std::regex_search,
// ECMAScript) is left untouched.
class NameFilter {
 public:
  NameFilter() = default;
  // Throws a usage error naming the pattern when it does not compile.
  explicit NameFilter(const std::vector<std::string>& patterns);
  bool excluded(std::string_view name) const;
  // The node itself or any of its inputs (weights are read by name).
  bool excluded(const ir::Node& node) const;

 private:
  std::vector<std::regex> patterns_;
};

// "768x3072"; "scalar" for rank 0.
std::string format_dims(const std::vector<int64_t>& dims);
// "9.00 MiB", "512 B", "1.50 KiB".
std::string format_bytes(int64_t bytes);
// The progress line above. `index` counts from 1.
std::string format_progress(size_t index, size_t total, const report::TensorChange& change,
                            const std::vector<int64_t>& dims, std::string_view from, std::string_view to);

}  // namespace mcompress::passes
