#pragma once
// Fresh tensor names for rewrites: every name a graph already uses is taken.
#include <set>
#include <string>

#include "mcompress/ir/graph.h"

namespace mcompress::passes {

inline ir::NamedTensor named_tensor(std::string name, Tensor tensor) {
  ir::NamedTensor t;
  t.name = std::move(name);
  t.tensor = std::move(tensor);
  return t;
}

class UniqueNames {
 public:
  explicit UniqueNames(const ir::Graph& graph) {
    for (const auto& v : graph.inputs) taken_.insert(v.name);
    for (const auto& v : graph.outputs) taken_.insert(v.name);
    for (const auto& t : graph.initializers) taken_.insert(t.name);
    for (const auto& n : graph.nodes) {
      taken_.insert(n.outputs.begin(), n.outputs.end());
      if (!n.name.empty()) taken_.insert(n.name);
    }
  }
  // `base`, or `base_1`, `base_2` ... whichever is free first; the result is
  // then taken.
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int i = 1; taken_.count(name); ++i) name = base + "_" + std::to_string(i);
    taken_.insert(name);
    return name;
  }

 private:
  std::set<std::string> taken_;
};

}  // namespace mcompress::passes
