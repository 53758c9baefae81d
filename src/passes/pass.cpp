#include "mcompress/passes/pass.h"

#include <fmt/format.h>

#include "mcompress/support/error.h"

namespace mcompress::passes {

NameFilter::NameFilter(const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) {
    try {
      patterns_.emplace_back(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw_usage("--exclude '{}': not a valid regular expression ({})", p, e.what());
    }
  }
}

bool NameFilter::excluded(std::string_view name) const {
  for (const auto& re : patterns_)
    if (std::regex_search(name.begin(), name.end(), re)) return true;
  return false;
}

bool NameFilter::excluded(const ir::Node& node) const {
  if (patterns_.empty()) return false;
  if (excluded(node.name)) return true;
  for (const auto& in : node.inputs)
    if (!in.empty() && excluded(in)) return true;
  return false;
}

std::string format_dims(const std::vector<int64_t>& dims) {
  if (dims.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s;
}

std::string format_bytes(int64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  if (bytes < 1024 * 1024) return fmt::format("{:.2f} KiB", bytes / 1024.0);
  if (bytes < int64_t{1} << 30) return fmt::format("{:.2f} MiB", bytes / 1048576.0);
  return fmt::format("{:.2f} GiB", bytes / 1073741824.0);
}

std::string format_progress(size_t index, size_t total, const report::TensorChange& change,
                            const std::vector<int64_t>& dims, std::string_view from, std::string_view to) {
  int width = static_cast<int>(std::to_string(total).size());
  std::string line = fmt::format("[{:>{}}/{}] {} [{}] {} -> {} {} -> {}", index, width, total, change.name,
                                 format_dims(dims), from, to, format_bytes(change.bytes_before),
                                 format_bytes(change.bytes_after));
  if (change.rel_error) line += fmt::format(" err {:.1f}%", *change.rel_error * 100);
  if (change.sparsity) line += fmt::format(" sparsity {:.1f}%", *change.sparsity * 100);
  return line;
}

}  // namespace mcompress::passes
