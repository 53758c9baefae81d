// --method magnitude and --method nm: zeros in dense weights, stored sparse where smaller.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <span>

#include "graph_edit.h"
#include "mcompress/ir/weights.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/passes/prune.h"
#include "mcompress/report/inspect.h"
#include "mcompress/support/error.h"

namespace mcompress::passes {
namespace {

// A weight a Conv / Gemm / MatMul reads, viewed as [outer, reduce, inner]: N:M groups run along
// `reduce` (the op's reduction axis).
struct Prunable {
  ir::WeightRef ref;
  const ir::Node* node;  // the Conv / Gemm / MatMul that reads it
  int64_t outer = 1, reduce = 1, inner = 1;
};

// Fills the [outer, reduce, inner] view; false when the op reads the weight in a way we do not prune.
bool reduction_layout(const ir::Node& n, const Shape& w, Prunable& p) {
  if (n.op_type == "Conv") {
    if (w.size() < 3) return false;
    p.outer = w[0];
    p.reduce = w[1];
    p.inner = 1;
    for (size_t i = 2; i < w.size(); ++i) p.inner *= w[i];
    return true;
  }
  if (w.size() != 2) return false;
  bool trans_b = n.op_type == "Gemm" && n.attr_int("transB", 0) != 0;
  p.outer = trans_b ? w[0] : 1;
  p.reduce = trans_b ? w[1] : w[0];
  p.inner = trans_b ? 1 : w[1];
  return true;
}

using WeightsByName = std::map<std::string, ir::WeightRef>;

// Weights visible from a graph: its own, then its enclosing graphs' (subgraphs read outer weights).
const ir::WeightRef* lookup(const std::vector<const WeightsByName*>& scopes, const std::string& name) {
  for (auto it = scopes.rbegin(); it != scopes.rend(); ++it)
    if (auto w = (*it)->find(name); w != (*it)->end()) return &w->second;
  return nullptr;
}

struct Collector {
  std::map<const ir::Graph*, WeightsByName> by_graph;
  const NameFilter& filter;
  const PruneOptions& options;
  std::vector<Prunable> out;
  std::vector<std::string>& skipped;
  std::vector<const ir::NamedTensor*> seen;

  void collect(ir::Graph& g, std::vector<const WeightsByName*> scopes) {
    scopes.push_back(&by_graph[&g]);
    for (const ir::Node& n : g.nodes) {
      if (!is_prunable_op(n) || n.inputs.size() < 2) continue;
      const ir::WeightRef* ref = lookup(scopes, n.inputs[1]);
      if (!ref) continue;  // an activation, not a stored weight
      if (std::find(seen.begin(), seen.end(), ref->stored) != seen.end()) continue;
      seen.push_back(ref->stored);
      add(n, *ref);
    }
    for (ir::Node& n : g.nodes)
      for (ir::Attribute& a : n.attributes) {
        if (a.g) collect(*a.g, scopes);
        for (ir::Graph& sub : a.graphs) collect(sub, scopes);
      }
  }

  void add(const ir::Node& n, const ir::WeightRef& ref) {
    if (filter.excluded(n)) {
      skipped.push_back(ref.name() + ": excluded");
      return;
    }
    if (!options.selects(n.op_type)) return;
    if (ref.sparse) {
      skipped.push_back(ref.name() + ": already stored sparse");
      return;
    }
    if (ref.dtype() != DType::f32) {
      skipped.push_back(fmt::format("{}: {} weights are not pruned (float32 only)", ref.name(), dtype_name(ref.dtype())));
      return;
    }
    Prunable p{ref, &n};
    if (!reduction_layout(n, ref.stored->tensor.shape(), p)) {
      skipped.push_back(fmt::format("{}: {} weight of rank {} is not pruned", ref.name(), n.op_type, ref.stored->tensor.rank()));
      return;
    }
    out.push_back(p);
  }
};

std::vector<Prunable> prunable_weights(ir::Model& model, const PruneOptions& options, std::vector<std::string>& skipped) {
  NameFilter filter(options.exclude);
  Collector c{{}, filter, options, {}, skipped, {}};
  for (const ir::WeightRef& w : ir::collect_weights(model.graph)) c.by_graph[w.graph].emplace(w.name(), w);
  c.collect(model.graph, {});
  return std::move(c.out);
}

// Zeroes exactly k of the given weights' elements: the smallest |w|, ties broken by weight order
// then element index. Returns one keep-mask per weight.
std::vector<std::vector<uint8_t>> keep_largest(const std::vector<std::span<const float>>& weights, int64_t k) {
  std::vector<float> mags;
  for (auto w : weights)
    for (float v : w) mags.push_back(std::fabs(v));
  std::vector<std::vector<uint8_t>> keep;
  for (auto w : weights) keep.emplace_back(w.size(), 1);
  if (k <= 0 || mags.empty()) return keep;
  k = std::min<int64_t>(k, static_cast<int64_t>(mags.size()));
  auto nth = mags.begin() + (k - 1);
  std::nth_element(mags.begin(), nth, mags.end());
  float threshold = *nth;
  int64_t below = std::count_if(mags.begin(), mags.end(), [&](float v) { return v < threshold; });
  int64_t ties = k - below;  // elements equal to the threshold still to zero, in order
  for (size_t i = 0; i < weights.size(); ++i)
    for (size_t j = 0; j < weights[i].size(); ++j) {
      float v = std::fabs(weights[i][j]);
      if (v < threshold) keep[i][j] = 0;
      else if (v == threshold && ties > 0) {
        keep[i][j] = 0;
        --ties;
      }
    }
  return keep;
}

std::vector<uint8_t> keep_nm(const Prunable& p, std::span<const float> w, int64_t n, int64_t m) {
  std::vector<uint8_t> keep(w.size(), 0);
  std::vector<int64_t> order(static_cast<size_t>(m));
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t r = 0; r < p.reduce; r += m)
      for (int64_t i = 0; i < p.inner; ++i) {
        auto at = [&](int64_t j) { return static_cast<size_t>((o * p.reduce + r + j) * p.inner + i); };
        for (int64_t j = 0; j < m; ++j) order[static_cast<size_t>(j)] = j;
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t a, int64_t b) { return std::fabs(w[at(a)]) > std::fabs(w[at(b)]); });
        for (int64_t j = 0; j < n; ++j) keep[at(order[static_cast<size_t>(j)])] = 1;
      }
  return keep;
}

std::span<const float> values(const Prunable& p) {
  const Tensor& t = p.ref.stored->tensor;
  return {t.data<float>(), static_cast<size_t>(t.numel())};
}

// Bytes of the sparse form: float values and int32 linear indices.
int64_t sparse_bytes(int64_t nnz) { return nnz * 8; }

// Replaces a dense initializer with a sparse one (int32 linear indices) when that is smaller.
// Returns the bytes now stored.
int64_t store_sparse_if_smaller(ir::Graph& g, const std::string& name) {
  auto it = std::find_if(g.initializers.begin(), g.initializers.end(), [&](const ir::NamedTensor& t) { return t.name == name; });
  assert(it != g.initializers.end());
  const Tensor& dense = it->tensor;
  const float* w = dense.data<float>();
  int64_t nnz = std::count_if(w, w + dense.numel(), [](float v) { return v != 0.0f; });
  if (dense.numel() > std::numeric_limits<int32_t>::max() || sparse_bytes(nnz) >= dense.nbytes()) return dense.nbytes();
  std::vector<float> vals;
  std::vector<int32_t> idx;
  vals.reserve(static_cast<size_t>(nnz));
  idx.reserve(static_cast<size_t>(nnz));
  for (int64_t i = 0; i < dense.numel(); ++i)
    if (w[i] != 0.0f) {
      vals.push_back(w[i]);
      idx.push_back(static_cast<int32_t>(i));
    }
  ir::SparseTensor s;
  s.dims = dense.shape();
  s.values.name = name;
  s.values.tensor = Tensor::from_values<float>(DType::f32, {nnz}, vals);
  s.indices.tensor = Tensor::from_values<int32_t>(DType::i32, {nnz}, idx);
  g.initializers.erase(it);
  g.sparse_initializers.push_back(std::move(s));
  return sparse_bytes(nnz);
}

// What a mask does to its weight, in one walk before it is applied: the elements it keeps and
// the relative error ‖dropped‖₂ / ‖w‖₂.
struct MaskEffect {
  int64_t numel = 0, kept = 0;
  double relative_error = 0;
  double sparsity() const { return numel ? 1.0 - static_cast<double>(kept) / static_cast<double>(numel) : 0.0; }
};

MaskEffect effect_of(std::span<const float> w, const WeightMask& mask) {
  MaskEffect e{static_cast<int64_t>(w.size())};
  double dropped = 0, norm = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    double v = w[i];
    if (mask.keep[i]) ++e.kept;
    else dropped += v * v;
    norm += v * v;
  }
  e.relative_error = norm > 0 ? std::sqrt(dropped / norm) : 0.0;
  return e;
}

struct Masked {
  Prunable weight;
  WeightMask mask;
};

// Each prunable weight with its mask, in weight order.
std::vector<Masked> masks_for(ir::Model& model, const PruneOptions& options, std::vector<std::string>& skip) {
  std::vector<Prunable> weights = prunable_weights(model, options, skip);
  std::vector<Masked> masks;
  auto add = [&](const Prunable& p, std::vector<uint8_t> keep) {
    masks.push_back({p, {p.ref.name(), p.ref.stored->tensor.shape(), std::move(keep)}});
  };
  if (options.method == PruneMethod::nm) {
    for (const Prunable& p : weights) {
      if (p.reduce % options.m() != 0) {
        skip.push_back(fmt::format("{}: reduction size {} is not a multiple of {}", p.ref.name(), p.reduce, options.m()));
        continue;
      }
      add(p, keep_nm(p, values(p), options.n(), options.m()));
    }
    return masks;
  }
  if (options.scope == PruneScope::global) {
    std::vector<std::span<const float>> all;
    int64_t total = 0;
    for (const Prunable& p : weights) {
      all.push_back(values(p));
      total += p.ref.numel();
    }
    auto keep = keep_largest(all, std::llround(options.sparsity * static_cast<double>(total)));
    for (size_t i = 0; i < weights.size(); ++i) add(weights[i], std::move(keep[i]));
    return masks;
  }
  for (const Prunable& p : weights) {
    auto keep = keep_largest({values(p)}, std::llround(options.sparsity * static_cast<double>(p.ref.numel())));
    add(p, std::move(keep[0]));
  }
  return masks;
}

}  // namespace

std::vector<WeightMask> compute_masks(ir::Model& model, const PruneOptions& options, std::vector<std::string>* skipped) {
  std::vector<std::string> local_skipped;
  std::vector<WeightMask> out;
  for (Masked& m : masks_for(model, options, skipped ? *skipped : local_skipped)) out.push_back(std::move(m.mask));
  return out;
}

PassResult prune_weights(ir::Model& model, const PruneOptions& options, const ProgressFn& progress) {
  PassResult result;
  std::vector<std::string> skipped;
  std::vector<Masked> masks = masks_for(model, options, skipped);
  // Sparse storage changes the initializer lists: decide everything first, then convert.
  struct ToSparse {
    ir::Graph* graph;
    std::string name;
    size_t change;  // its row in result.changes
  };
  std::vector<ToSparse> to_sparse;
  bool sparse_ok = options.sparse_storage && model.ir_version >= 6;
  std::string action = options.method == PruneMethod::nm ? "prune_nm" : "prune_magnitude";
  std::vector<std::string> ignored;
  auto shapes = report::model_shapes(model, options.shapes, ignored);
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  int64_t zeros = 0, total = 0;
  for (const auto& [weight, mask] : masks) {
    const ir::WeightRef& ref = weight.ref;
    MaskEffect effect = effect_of(values(weight), mask);
    apply_mask(ref.stored->tensor, mask);
    int64_t numel = effect.numel;
    int64_t zeroed = numel - effect.kept;
    double sparsity = effect.sparsity();
    report::TensorChange c{mask.name, weight.node->op_type, action, ref.stored_bytes(), ref.stored_bytes(),
                           effect.relative_error, sparsity};
    zeros += zeroed;
    total += numel;
    // Zeros in a dense weight: the shape and the MACs a dense runtime executes stay; the non-zero
    // MACs are what a sparse kernel would do.
    std::optional<int64_t> macs = report::node_macs(*weight.node, shapes);
    auto macs_json = [](std::optional<int64_t> m) { return m ? nlohmann::ordered_json(*m) : nlohmann::ordered_json(); };
    layers.push_back({{"name", mask.name},
                      {"op_type", weight.node->op_type},
                      {"shape_before", mask.shape},
                      {"shape_after", mask.shape},
                      {"sparsity", sparsity},
                      {"params_before", numel},
                      {"params_after", effect.kept},
                      {"macs_before", macs_json(macs)},
                      {"macs_after", macs_json(macs)},
                      {"nonzero_macs_after",
                       macs_json(macs ? std::optional<int64_t>(std::llround(static_cast<double>(*macs) * (1 - sparsity)))
                                      : std::nullopt)}});
    if (sparse_ok && ref.kind == ir::WeightKind::initializer && !edit::is_graph_input(*ref.graph, mask.name))
      to_sparse.push_back({ref.graph, mask.name, result.changes.size()});
    result.changes.push_back(c);
  }
  for (const ToSparse& t : to_sparse) {
    report::TensorChange& c = result.changes[t.change];
    c.bytes_after = store_sparse_if_smaller(*t.graph, t.name);
    if (c.bytes_after < c.bytes_before) c.action += "_sparse";
  }
  for (size_t i = 0; i < result.changes.size(); ++i)
    if (progress) {
      const auto& c = result.changes[i];
      progress(format_progress(i + 1, result.changes.size(), c, masks[i].mask.shape, "f32",
                               c.action.ends_with("_sparse") ? "f32/sparse" : "f32"));
    }

  nlohmann::ordered_json skipped_json = nlohmann::ordered_json::array();
  for (const auto& s : skipped) skipped_json.push_back(s);
  result.extra["method"] = options.method == PruneMethod::nm ? "nm" : "magnitude";
  if (options.method == PruneMethod::nm) {
    result.extra["nm"] = options.nm;
    result.extra["runtime_note"] =
        "N:M sparsity (2:4) speeds up only on runtimes with sparse tensor cores (NVIDIA Ampere and later through "
        "TensorRT with sparsity enabled); CPU runtimes such as ONNX Runtime run the zeros densely and get no faster";
  } else {
    result.extra["scope"] = options.scope == PruneScope::global ? "global" : "layer";
  }
  result.extra["sparsity"] = total ? static_cast<double>(zeros) / static_cast<double>(total) : 0.0;
  result.extra["layers"] = layers;
  result.extra["pruned_weights"] = total;
  result.extra["skipped"] = skipped_json;
  for (const auto& s : skipped) result.warnings.push_back("left dense: " + s);
  return result;
}

}  // namespace mcompress::passes
