// What every pruning method shares: options, masks, and the dispatch.
#include "mcompress/passes/prune.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "mcompress/support/error.h"

namespace mcompress::passes {
namespace {

// "2:4" -> {2, 4}; {0, 0} when malformed.
std::pair<int64_t, int64_t> parse_nm(const std::string& s) {
  auto colon = s.find(':');
  if (colon == std::string::npos) return {0, 0};
  int64_t n = 0, m = 0;
  auto [pn, en] = std::from_chars(s.data(), s.data() + colon, n);
  auto [pm, em] = std::from_chars(s.data() + colon + 1, s.data() + s.size(), m);
  if (en != std::errc() || em != std::errc() || pn != s.data() + colon || pm != s.data() + s.size()) return {0, 0};
  return {n, m};
}

}  // namespace

bool is_prunable_op(std::string_view op_type) {
  return std::find(std::begin(kPrunableOps), std::end(kPrunableOps), op_type) != std::end(kPrunableOps);
}

bool is_prunable_op(const ir::Node& node) { return node.is_default_domain() && is_prunable_op(node.op_type); }

void PruneOptions::validate() const {
  if (!(sparsity >= 0 && sparsity < 1)) throw_usage("--sparsity {}: expected a fraction in [0, 1)", sparsity);
  auto [n_, m_] = parse_nm(nm);
  if (n_ <= 0 || m_ <= n_ || m_ > 1024) throw_usage("--nm '{}': expected N:M with 0 < N < M <= 1024, e.g. 2:4", nm);
  for (const auto& op : op_types)
    if (!is_prunable_op(op)) throw_usage("--op-types: '{}' is not one of {}", op, fmt::join(kPrunableOps, ", "));
  if (criterion == PruneCriterion::bn && method != PruneMethod::channel)
    throw_usage("--criterion bn ranks channels: it needs --method channel");
}

bool PruneOptions::selects(std::string_view op_type) const {
  return op_types.empty() || std::find(op_types.begin(), op_types.end(), op_type) != op_types.end();
}

int64_t PruneOptions::n() const { return parse_nm(nm).first; }
int64_t PruneOptions::m() const { return parse_nm(nm).second; }

double WeightMask::sparsity() const {
  if (keep.empty()) return 0;
  int64_t kept = 0;
  for (uint8_t k : keep) kept += k;
  return 1.0 - static_cast<double>(kept) / static_cast<double>(keep.size());
}

WeightMask mask_from_zeros(const ir::NamedTensor& weight) {
  const Tensor& t = weight.tensor;
  if (t.dtype() != DType::f32) throw_unsupported("weight '{}': masks are for float32 weights, not {}", weight.name, dtype_name(t.dtype()));
  WeightMask mask{weight.name, t.shape(), std::vector<uint8_t>(static_cast<size_t>(t.numel()))};
  const float* w = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) mask.keep[static_cast<size_t>(i)] = w[i] != 0.0f;
  return mask;
}

void apply_mask(Tensor& weight, const WeightMask& mask) {
  assert(weight.dtype() == DType::f32 && weight.shape() == mask.shape && "mask does not fit the weight");
  float* w = weight.data<float>();
  for (int64_t i = 0; i < weight.numel(); ++i)
    if (!mask.keep[static_cast<size_t>(i)]) w[i] = 0.0f;
}

PassResult prune(ir::Model& model, const PruneOptions& options, const ProgressFn& progress) {
  options.validate();
  if (options.method == PruneMethod::channel) return prune_channels(model, options, progress);
  return prune_weights(model, options, progress);
}

}  // namespace mcompress::passes
