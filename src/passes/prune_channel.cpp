// --method channel: structured channel removal (see prune.h).
//
// Analysis first, rewrite once. Every Conv, Gemm or MatMul with a stored weight opens a channel
// space: the channels of its output. Walking the graph in order, a space follows its values through
// ops that keep channels apart (activations, BatchNormalization, pooling, depthwise Conv, Flatten,
// elementwise ops with per-channel or scalar constants) and ends at consumers that read it as input
// channels (Conv) or input columns (Gemm, MatMul). Two spaces meeting in a residual Add/Mul are
// merged: one choice for both. A value's channels are a list of spaces end to end (Concat appends,
// Split along their boundaries takes them apart). Anything else that reads a space freezes it
// (kept whole), with the reason recorded for the report.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <optional>
#include <set>

#include "mcompress/ir/uses.h"
#include "mcompress/ir/weights.h"
#include "mcompress/onnx/model_io.h"
#include "mcompress/passes/prune.h"
#include "mcompress/report/inspect.h"
#include "mcompress/support/error.h"

namespace mcompress::passes {
namespace {

using ShapeMap = std::map<std::string, onnxio::ValueShape>;

// Spaces laid end to end along the channel axis: one for most values, several after a Concat.
using Parts = std::vector<int>;

// Where a value carries channels: along `axis`, `block` elements per channel (H*W after a
// Flatten, else 1).
struct Carried {
  Parts parts;
  int64_t axis = 1;
  int64_t block = 1;
};

// One stored tensor to cut when its parts lose channels: along `axis`, `block` elements each.
struct Site {
  Parts parts;
  std::string tensor;
  int64_t axis = 0;
  int64_t block = 1;
  size_t node = 0;        // the node that reads it
  bool producer = false;  // the weight whose rows define a space's channels (ranked by the criterion)
  int64_t groups = 1;     // a grouped Conv's weight: each block of rows reads its own group's channels
};

struct Space {
  int parent;
  int64_t channels;
  std::string reason;  // why it is kept whole; empty: prunable
  std::vector<std::string> values;
  int64_t groups = 1;  // a grouped Conv's output: each group loses the same number of channels
};

// A depthwise Conv's `group`, or a Split's sizes (attribute or stored input), follow the channels.
struct CountRewrite {
  size_t node;
  std::vector<Parts> outputs;  // Split: the parts of each output; depthwise Conv: one entry
  std::string sizes_tensor;    // Split sizes stored as an input; empty: the attribute
};

bool is_op(const ir::Node& n, std::string_view op) { return n.op_type == op && n.is_default_domain(); }

// Ops that map each channel to the same channel and read nothing else that carries channels.
const std::set<std::string, std::less<>> kChannelwiseUnary = {
    "Relu",  "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",       "Elu",      "Selu",          "Softplus",
    "Softsign", "Identity", "Abs",    "Neg",        "Exp",       "Log",        "Sqrt",     "Erf",           "Gelu",
    "Mish",  "Floor",     "Ceil",    "Round",       "Reciprocal", "Clip",      "MaxPool",  "AveragePool",   "GlobalAveragePool",
    "GlobalMaxPool", "LpPool", "Dropout", "Resize",  "Upsample",  "Cast",       "ThresholdedRelu", "Celu", "Sign"};
const std::set<std::string, std::less<>> kElementwiseBinary = {"Add", "Sub", "Mul", "Div", "Max", "Min", "PRelu"};

// -1 when any dim in the range is unknown.
int64_t product(const Shape& s, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to && i < s.size(); ++i) {
    if (s[i] < 0) return -1;
    p *= s[i];
  }
  return p;
}

class ChannelAnalysis {
 public:
  ChannelAnalysis(ir::Model& model, const ShapeMap& shapes, const NameFilter& filter, const PruneOptions& options)
      : graph_(model.graph), opset_(model.opset("")), shapes_(shapes), filter_(filter), options_(options) {
    for (const ir::WeightRef& w : ir::collect_weights(graph_))
      if (w.graph == &graph_ && !w.sparse) weights_.emplace(w.name(), w);
    for (const ir::Node& n : graph_.nodes) {
      for (const auto& in : n.inputs)
        if (!in.empty()) ++readers_[in];
      for (const auto& name : ir::implicit_inputs(n)) ++readers_[name];
    }
  }

  void run() {
    for (size_t i = 0; i < graph_.nodes.size(); ++i) visit(i);
    for (const ir::ValueInfo& o : graph_.outputs) freeze_value(o.name, fmt::format("feeds graph output '{}'", o.name));
  }

  int find(int s) const {
    while (spaces_[static_cast<size_t>(s)].parent != s) s = spaces_[static_cast<size_t>(s)].parent;
    return s;
  }
  int64_t channels(const Parts& parts) const {
    int64_t c = 0;
    for (int p : parts) c += spaces_[static_cast<size_t>(find(p))].channels;
    return c;
  }
  const std::vector<Space>& spaces() const { return spaces_; }
  const std::vector<Site>& sites() const { return sites_; }
  const std::vector<CountRewrite>& counts() const { return counts_; }
  ir::WeightRef* weight(const std::string& name) {
    auto it = weights_.find(name);
    return it == weights_.end() ? nullptr : &it->second;
  }

 private:
  // The value's shape with -1 for unknown dims (the rank must be known); nullptr when unknown.
  const Shape* dims(const std::string& name) const {
    if (auto it = weights_.find(name); it != weights_.end()) return &it->second.stored->tensor.shape();
    auto it = shapes_.find(name);
    if (it == shapes_.end() || it->second.dtype == DType::undefined) return nullptr;
    return &it->second.dims;
  }

  const ir::WeightRef* stored(const std::string& name, DType dtype) const {
    auto it = weights_.find(name);
    if (it == weights_.end() || it->second.dtype() != dtype) return nullptr;
    return &it->second;
  }
  const ir::WeightRef* float_weight(const std::string& name) const { return stored(name, DType::f32); }

  int new_space(int64_t channels, int64_t groups = 1) {
    int id = static_cast<int>(spaces_.size());
    spaces_.push_back({id, channels, {}, {}, groups});
    return id;
  }

  void freeze(const Parts& parts, const std::string& reason) {
    for (int p : parts) {
      Space& root = spaces_[static_cast<size_t>(find(p))];
      if (root.reason.empty()) root.reason = reason;
    }
  }

  void freeze_value(const std::string& name, const std::string& reason) {
    if (auto it = carried_.find(name); it != carried_.end()) freeze(it->second.parts, reason);
  }

  void unite(int a, int b) {
    a = find(a);
    b = find(b);
    if (a == b) return;
    Space& sa = spaces_[static_cast<size_t>(a)];
    Space& sb = spaces_[static_cast<size_t>(b)];
    if (sa.reason.empty()) sa.reason = sb.reason;
    if (sa.groups != sb.groups && sa.groups > 1 && sb.groups > 1 && sa.reason.empty())
      sa.reason = fmt::format("tied channels of grouped Convs with {} and {} groups", sa.groups, sb.groups);
    sa.groups = std::max(sa.groups, sb.groups);
    sb.parent = a;
  }

  bool same_layout(const Parts& a, const Parts& b) const {
    if (a.size() != b.size()) return false;
    for (size_t k = 0; k < a.size(); ++k)
      if (channels({a[k]}) != channels({b[k]})) return false;
    return true;
  }

  void carry(const std::string& value, Carried c) {
    if (value.empty()) return;
    for (int p : c.parts) spaces_[static_cast<size_t>(p)].values.push_back(value);
    carried_[value] = std::move(c);
  }

  // A site on a stored tensor: only when the tensor's dim fits and nothing else reads it.
  void add_site(const Parts& parts, size_t node, const std::string& tensor, int64_t axis, int64_t block,
                bool producer = false) {
    const ir::WeightRef* w = float_weight(tensor);
    const ir::Node& n = graph_.nodes[node];
    if (!w) return freeze(parts, fmt::format("{} {}: '{}' is not a stored float32 tensor", n.op_type, n.label(), tensor));
    const Shape& s = w->stored->tensor.shape();
    if (axis < 0 || axis >= static_cast<int64_t>(s.size()) || s[static_cast<size_t>(axis)] != channels(parts) * block)
      return freeze(parts, fmt::format("{} {}: '{}' {} does not have {} channels on axis {}", n.op_type, n.label(), tensor,
                                       shape_string(s), channels(parts), axis));
    if (readers_[tensor] > 1)
      return freeze(parts, fmt::format("{} {}: weight '{}' is shared by {} nodes", n.op_type, n.label(), tensor, readers_[tensor]));
    sites_.push_back({parts, tensor, axis, block, node, producer});
  }

  // A Conv (not one a depthwise pass carried channels through), Gemm or MatMul that reads a stored
  // weight opens the space of its output; a grouped Conv's space loses channels evenly per group.
  void open_space(size_t i) {
    const ir::Node& n = graph_.nodes[i];
    if (n.inputs.size() < 2 || n.outputs.empty() || carried_.count(n.outputs[0])) return;
    const ir::WeightRef* w = float_weight(n.inputs[1]);
    if (!w) return;
    const Shape& ws = w->stored->tensor.shape();
    int64_t groups = is_op(n, "Conv") ? n.attr_int("group", 1) : 1;
    const Shape* y = dims(n.outputs[0]);
    bool conv = is_op(n, "Conv") && ws.size() >= 3 && groups >= 1 && ws[0] % groups == 0;
    bool gemm = is_op(n, "Gemm") && n.attr_int("transA", 0) == 0 && ws.size() == 2;
    bool matmul = is_op(n, "MatMul") && ws.size() == 2 && y && !y->empty();
    if (!conv && !gemm && !matmul) return;
    int64_t out_axis = conv || (gemm && n.attr_int("transB", 0)) ? 0 : 1;
    int64_t value_axis = matmul ? static_cast<int64_t>(y->size()) - 1 : 1;  // MatMul: channels last
    Parts parts{new_space(ws[static_cast<size_t>(out_axis)], groups)};
    carry(n.outputs[0], {parts, value_axis, 1});
    if (filter_.excluded(n)) freeze(parts, fmt::format("{} {}: excluded", n.op_type, n.label()));
    if (!options_.selects(n.op_type)) freeze(parts, fmt::format("{} {}: not in --op-types", n.op_type, n.label()));
    add_site(parts, i, n.inputs[1], out_axis, 1, true);
    if (n.inputs.size() < 3 || n.inputs[2].empty()) return;
    const Shape* bias = dims(n.inputs[2]);
    if (bias && product(*bias, 0, bias->size()) == 1) return;  // a broadcast scalar bias stays
    add_site(parts, i, n.inputs[2], bias ? static_cast<int64_t>(bias->size()) - 1 : 0, 1);
  }

  void pass_through(size_t i, const Carried& c) {
    for (const auto& o : graph_.nodes[i].outputs) carry(o, c);
  }

  std::string blocked(const ir::Node& n, std::string_view why = "") const {
    return fmt::format("read by {} {}{}{}", n.op_type, n.label(), why.empty() ? "" : ": ", why);
  }

  void block_inputs(size_t i, std::string_view why) {
    const ir::Node& n = graph_.nodes[i];
    for (const auto& in : n.inputs) freeze_value(in, blocked(n, why));
  }

  // The axis in [0, rank) of an op's `axis` attribute; -1 when the rank is unknown.
  int64_t axis_attr(const ir::Node& n, const std::string& value, int64_t fallback) const {
    int64_t axis = n.attr_int("axis", fallback);
    const Shape* s = dims(value);
    if (!s) return -1;
    return axis < 0 ? axis + static_cast<int64_t>(s->size()) : axis;
  }

  void visit(size_t i) {
    const ir::Node& n = graph_.nodes[i];
    // Subgraphs read outer values by name: what they read is kept.
    for (const auto& name : ir::implicit_inputs(n)) freeze_value(name, blocked(n, "a subgraph reads it"));
    bool spaced = std::any_of(n.inputs.begin(), n.inputs.end(), [&](const std::string& in) { return carried_.count(in) > 0; });
    if (spaced) consume(i);
    open_space(i);
  }

  void consume(size_t i) {
    const ir::Node& n = graph_.nodes[i];
    auto only_first = [&] {
      for (size_t k = 1; k < n.inputs.size(); ++k)
        if (carried_.count(n.inputs[k])) return false;
      return carried_.count(n.inputs[0]) > 0;
    };
    if (!n.is_default_domain()) return block_inputs(i, "custom domain");
    if (filter_.excluded(n)) return block_inputs(i, "excluded");
    if (is_op(n, "Concat")) return concat(i);
    if (kElementwiseBinary.count(n.op_type)) return elementwise(i);
    if (!only_first()) return block_inputs(i, "channels on a parameter input");
    const Carried c = carried_.at(n.inputs[0]);

    if (kChannelwiseUnary.count(n.op_type)) {
      bool spatial = n.op_type.find("Pool") != std::string::npos || is_op(n, "Resize") || is_op(n, "Upsample");
      if (spatial && (c.axis != 1 || c.block != 1)) return block_inputs(i, "channels not on axis 1");
      if ((is_op(n, "MaxPool") || is_op(n, "Dropout")) && n.outputs.size() > 1 && !n.outputs[1].empty())
        return block_inputs(i, "second output used");
      if ((is_op(n, "Resize") || is_op(n, "Upsample")) && n.inputs.size() > 3 && !n.inputs[3].empty())
        return block_inputs(i, "sizes include the channel count");
      return pass_through(i, c);
    }
    if (is_op(n, "BatchNormalization")) {
      if (c.axis != 1 || c.block != 1) return block_inputs(i, "channels not on axis 1");
      if (n.outputs.size() > 1) return block_inputs(i, "training-mode outputs");
      for (size_t k = 1; k < n.inputs.size() && k < 5; ++k) add_site(c.parts, i, n.inputs[k], 0, 1);
      return pass_through(i, c);
    }
    if (is_op(n, "Flatten")) {
      const Shape* x = dims(n.inputs[0]);
      if (n.attr_int("axis", 1) != 1 || c.axis != 1 || !x || x->size() < 2 || product(*x, 2, x->size()) < 0)
        return block_inputs(i, "not a flatten from axis 1 with static spatial dims");
      return pass_through(i, {c.parts, 1, c.block * product(*x, 2, x->size())});
    }
    if (is_op(n, "Reshape")) return reshape(i, c);
    if (is_op(n, "Split")) return split(i, c);
    if (is_op(n, "Conv")) return conv(i, c);
    if (is_op(n, "Gemm") || is_op(n, "MatMul")) {
      if (n.inputs.size() < 2 || !float_weight(n.inputs[1])) return block_inputs(i, "no stored weight to cut");
      const Shape* x = dims(n.inputs[0]);
      const Shape& w = float_weight(n.inputs[1])->stored->tensor.shape();
      if (!x || w.size() != 2 || c.axis != static_cast<int64_t>(x->size()) - 1)
        return block_inputs(i, "channels not on the reduction axis");
      if (is_op(n, "Gemm") && n.attr_int("transA", 0) != 0) return block_inputs(i, "transA");
      int64_t axis = is_op(n, "Gemm") && n.attr_int("transB", 0) ? 1 : 0;
      return add_site(c.parts, i, n.inputs[1], axis, c.block);
    }
    block_inputs(i, "");
  }

  // Add/Mul/... : operands that carry channels share one choice, part by part; constants are cut
  // along the channel axis unless they broadcast over it; other operands must broadcast over it.
  void elementwise(size_t i) {
    const ir::Node& n = graph_.nodes[i];
    const Shape* y = n.outputs.empty() ? nullptr : dims(n.outputs[0]);
    if (!y) return block_inputs(i, "output shape unknown");
    auto first_it = std::find_if(n.inputs.begin(), n.inputs.end(), [&](const std::string& in) { return carried_.count(in) > 0; });
    const Carried first = carried_.at(*first_it);
    const Shape* x0 = dims(*first_it);
    if (!x0 || first.block != 1) return block_inputs(i, "shape unknown or after a flatten");
    int64_t axis = first.axis + static_cast<int64_t>(y->size() - x0->size());  // in the output's rank
    std::vector<std::pair<std::string, int64_t>> constants;                    // to cut, at their axis
    for (const std::string& in : n.inputs) {
      if (in.empty()) continue;
      const Shape* s = dims(in);
      if (!s) return block_inputs(i, fmt::format("shape of '{}' unknown", in));
      int64_t at = axis - static_cast<int64_t>(y->size() - s->size());
      int64_t dim = at >= 0 ? (*s)[static_cast<size_t>(at)] : 1;  // -1: unknown
      if (auto it = carried_.find(in); it != carried_.end()) {
        if (it->second.block != 1 || at != it->second.axis) return block_inputs(i, "channels on different axes");
        if (!same_layout(first.parts, it->second.parts)) return block_inputs(i, "operands with different channel layouts");
        continue;
      }
      if (dim == 1) continue;
      if (!weights_.count(in)) return block_inputs(i, fmt::format("'{}' does not broadcast over the channels", in));
      constants.emplace_back(in, at);
    }
    for (const std::string& in : n.inputs)
      if (auto it = carried_.find(in); it != carried_.end())
        for (size_t k = 0; k < first.parts.size(); ++k) unite(first.parts[k], it->second.parts[k]);
    for (const auto& [name, at] : constants) add_site(first.parts, i, name, at, 1);
    pass_through(i, {first.parts, axis, 1});
  }

  // Along the channel axis, every input carrying channels: the output's parts are theirs in order.
  void concat(size_t i) {
    const ir::Node& n = graph_.nodes[i];
    if (n.outputs.empty()) return;
    int64_t axis = axis_attr(n, n.outputs[0], 0);
    Carried out{{}, axis, 1};
    for (const std::string& in : n.inputs) {
      auto it = carried_.find(in);
      if (it == carried_.end()) return block_inputs(i, fmt::format("'{}' carries no prunable channels", in));
      if (it->second.axis != axis || it->second.block != 1) return block_inputs(i, "not along the channel axis");
      out.parts.insert(out.parts.end(), it->second.parts.begin(), it->second.parts.end());
    }
    pass_through(i, out);
  }

  // Along the channel axis with explicit sizes that fall on part boundaries: each output gets its parts.
  void split(size_t i, const Carried& c) {
    const ir::Node& n = graph_.nodes[i];
    int64_t axis = axis_attr(n, n.inputs[0], 0);
    if (axis != c.axis || c.block != 1) return block_inputs(i, "not along the channel axis");
    std::vector<int64_t> sizes;
    std::string sizes_tensor;
    if (opset_ < 13) {
      sizes = n.attr_ints("split");
    } else if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
      const ir::WeightRef* w = stored(n.inputs[1], DType::i64);
      if (!w || readers_[n.inputs[1]] > 1) return block_inputs(i, "split sizes not a stored tensor of its own");
      sizes.assign(w->stored->tensor.data<int64_t>(), w->stored->tensor.data<int64_t>() + w->stored->tensor.numel());
      sizes_tensor = n.inputs[1];
    }
    if (sizes.size() != n.outputs.size()) return block_inputs(i, "split sizes not given explicitly");
    CountRewrite rewrite{i, {}, sizes_tensor};
    size_t part = 0;
    for (size_t o = 0; o < sizes.size(); ++o) {
      Parts parts;
      int64_t taken = 0;
      while (taken < sizes[o] && part < c.parts.size()) {
        taken += channels({c.parts[part]});
        parts.push_back(c.parts[part++]);
      }
      if (taken != sizes[o]) return block_inputs(i, "split sizes cut through a channel group");
      rewrite.outputs.push_back(parts);
    }
    for (size_t o = 0; o < sizes.size(); ++o) carry(n.outputs[o], {rewrite.outputs[o], c.axis, 1});
    counts_.push_back(std::move(rewrite));
  }

  // Only the flatten form: [N, C, ...] -> [N, C * ...] with a stored shape [0 or N, -1].
  void reshape(size_t i, const Carried& c) {
    const ir::Node& n = graph_.nodes[i];
    const Shape* x = dims(n.inputs[0]);
    const Shape* y = n.outputs.empty() ? nullptr : dims(n.outputs[0]);
    bool flatten = c.axis == 1 && x && y && y->size() == 2 && x->size() >= 2 && product(*x, 2, x->size()) > 0 &&
                   n.inputs.size() > 1 && stored(n.inputs[1], DType::i64);
    if (flatten) {
      const Tensor& target = weights_.at(n.inputs[1]).stored->tensor;
      flatten = target.numel() == 2 && target.data<int64_t>()[1] == -1 &&
                (target.data<int64_t>()[0] == 0 || target.data<int64_t>()[0] == (*x)[0]);
    }
    if (!flatten) return block_inputs(i, "not a flatten to [N, -1]");
    pass_through(i, {c.parts, 1, c.block * product(*x, 2, x->size())});
  }

  void conv(size_t i, const Carried& c) {
    const ir::Node& n = graph_.nodes[i];
    if (c.axis != 1 || c.block != 1) return block_inputs(i, "channels not on axis 1");
    const ir::WeightRef* w = n.inputs.size() > 1 ? float_weight(n.inputs[1]) : nullptr;
    if (!w) return block_inputs(i, "no stored weight to cut");
    const Shape& ws = w->stored->tensor.shape();
    int64_t group = n.attr_int("group", 1);
    if (group == 1) return add_site(c.parts, i, n.inputs[1], 1, 1);
    if (group != channels(c.parts) || ws[0] != group || ws[1] != 1) return grouped_input(i, c, group);
    add_site(c.parts, i, n.inputs[1], 0, 1);
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) add_site(c.parts, i, n.inputs[2], 0, 1);
    counts_.push_back({i, {c.parts}, {}});
    pass_through(i, c);
  }

  // A grouped Conv reads its input in `group` blocks: every block loses the same number of
  // channels, and each block of weight rows keeps its own block's input channels.
  void grouped_input(size_t i, const Carried& c, int64_t group) {
    const ir::Node& n = graph_.nodes[i];
    const Shape& ws = float_weight(n.inputs[1])->stored->tensor.shape();
    if (c.parts.size() != 1 || channels(c.parts) != group * ws[1] || ws[0] % group != 0)
      return block_inputs(i, "grouped Conv over a Concat or with inconsistent channels");
    if (readers_[n.inputs[1]] > 1) return block_inputs(i, fmt::format("weight '{}' is shared", n.inputs[1]));
    Space& root = spaces_[static_cast<size_t>(find(c.parts[0]))];
    if (root.groups != 1 && root.groups != group)
      return block_inputs(i, fmt::format("channels tied to {} groups elsewhere, {} here", root.groups, group));
    root.groups = group;
    sites_.push_back({c.parts, n.inputs[1], 1, 1, i, false, group});
  }

  ir::Graph& graph_;
  int64_t opset_;
  const ShapeMap& shapes_;
  const NameFilter& filter_;
  const PruneOptions& options_;
  std::map<std::string, ir::WeightRef> weights_;
  std::map<std::string, int> readers_;
  std::map<std::string, Carried> carried_;
  std::vector<Space> spaces_;
  std::vector<Site> sites_;
  std::vector<CountRewrite> counts_;
};

// Keeps the channels `keep` (ascending) along `axis`, `block` elements each.
Tensor take_channels(const Tensor& t, int64_t axis, const std::vector<int64_t>& keep, int64_t block) {
  const Shape& s = t.shape();
  int64_t outer = product(s, 0, static_cast<size_t>(axis));
  int64_t dim = s[static_cast<size_t>(axis)];
  int64_t inner = product(s, static_cast<size_t>(axis) + 1, s.size());
  int64_t width = t.nbytes() / std::max<int64_t>(t.numel(), 1);
  Shape out_shape = s;
  out_shape[static_cast<size_t>(axis)] = static_cast<int64_t>(keep.size()) * block;
  Tensor out(t.dtype(), out_shape);
  int64_t chunk = block * inner * width;
  char* dst = out.storage().data();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t k : keep) {
      std::memcpy(dst, t.storage().data() + ((o * dim + k * block) * inner) * width, static_cast<size_t>(chunk));
      dst += chunk;
    }
  return out;
}

// A grouped Conv's weight [O, C/g, ...]: rows of group j keep the kept channels of input block j
// (the same number in every block).
Tensor take_grouped(const Tensor& t, const std::vector<int64_t>& keep, int64_t groups) {
  const Shape& s = t.shape();
  int64_t rows_per_group = s[0] / groups, per_group = s[1];
  int64_t inner = product(s, 2, s.size());
  int64_t width = t.nbytes() / std::max<int64_t>(t.numel(), 1);
  std::vector<std::vector<int64_t>> local(static_cast<size_t>(groups));
  for (int64_t k : keep) local[static_cast<size_t>(k / per_group)].push_back(k % per_group);
  Shape out_shape = s;
  out_shape[1] = static_cast<int64_t>(local[0].size());
  Tensor out(t.dtype(), out_shape);
  char* dst = out.storage().data();
  for (int64_t r = 0; r < s[0]; ++r)
    for (int64_t k : local[static_cast<size_t>(r / rows_per_group)]) {
      std::memcpy(dst, t.storage().data() + ((r * per_group + k) * inner) * width, static_cast<size_t>(inner * width));
      dst += inner * width;
    }
  return out;
}

// Importance of each channel of a producer weight along `axis`.
std::vector<double> channel_norms(const Tensor& w, int64_t axis, int64_t channels, bool l2) {
  const Shape& s = w.shape();
  int64_t outer = product(s, 0, static_cast<size_t>(axis));
  int64_t inner = product(s, static_cast<size_t>(axis) + 1, s.size());
  std::vector<double> norms(static_cast<size_t>(channels), 0.0);
  const float* p = w.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        double v = p[(o * channels + c) * inner + i];
        norms[static_cast<size_t>(c)] += l2 ? v * v : std::fabs(v);
      }
  if (l2)
    for (double& v : norms) v = std::sqrt(v);
  return norms;
}

// The main graph's node inputs that read each value: how many, and the last node among them.
struct Reads {
  int count = 0;
  const ir::Node* last = nullptr;
};

std::map<std::string, Reads> main_graph_reads(const ir::Graph& g) {
  std::map<std::string, Reads> out;
  for (const ir::Node& n : g.nodes)
    for (const auto& in : n.inputs) {
      Reads& r = out[in];
      ++r.count;
      r.last = &n;
    }
  return out;
}

// --criterion bn: |γ| of the BatchNormalization that alone reads the producer's output.
std::optional<std::vector<double>> bn_gamma(const std::map<std::string, Reads>& reads, ChannelAnalysis& a,
                                            const ir::Node& producer) {
  auto r = reads.find(producer.outputs[0]);
  if (r == reads.end() || r->second.count != 1) return std::nullopt;
  const ir::Node* bn = r->second.last;
  if (!is_op(*bn, "BatchNormalization") || bn->inputs.size() < 2) return std::nullopt;
  ir::WeightRef* gamma = a.weight(bn->inputs[1]);
  if (!gamma || gamma->dtype() != DType::f32) return std::nullopt;
  const Tensor& t = gamma->stored->tensor;
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = std::fabs(t.data<float>()[i]);
  return out;
}

struct LayerState {
  Shape weight;
  int64_t params = 0;
  std::optional<int64_t> macs;
};

// Weight shape, params (weight + bias) and MACs of every Conv / Gemm / MatMul with a stored weight.
std::map<size_t, LayerState> layer_states(ir::Model& model, ChannelAnalysis& a, const ShapeMap& shapes) {
  std::map<size_t, LayerState> out;
  for (size_t i = 0; i < model.graph.nodes.size(); ++i) {
    const ir::Node& n = model.graph.nodes[i];
    if (!is_prunable_op(n) || n.inputs.size() < 2) continue;
    ir::WeightRef* w = a.weight(n.inputs[1]);
    if (!w) continue;
    LayerState s{w->stored->tensor.shape(), w->stored->tensor.numel(), report::node_macs(n, shapes)};
    if (n.inputs.size() > 2 && !n.inputs[2].empty())
      if (ir::WeightRef* b = a.weight(n.inputs[2])) s.params += b->stored->tensor.numel();
    out[i] = s;
  }
  return out;
}

}  // namespace

PassResult prune_channels(ir::Model& model, const PruneOptions& options, const ProgressFn& progress) {
  PassResult result;
  std::vector<std::string> shape_warnings;
  ShapeMap shapes = report::model_shapes(model, options.shapes, shape_warnings);
  NameFilter filter(options.exclude);
  ChannelAnalysis analysis(model, shapes, filter, options);
  analysis.run();
  auto before = layer_states(model, analysis, shapes);

  // Per root space: its producers, and the channels it keeps.
  const std::vector<Space>& spaces = analysis.spaces();
  std::map<int, std::vector<const Site*>> producers;
  for (int s = 0; s < static_cast<int>(spaces.size()); ++s) producers[analysis.find(s)];
  for (const Site& site : analysis.sites())
    if (site.producer) producers[analysis.find(site.parts[0])].push_back(&site);
  std::map<int, std::vector<int64_t>> kept;
  auto producers_text = [&](int root) {
    std::string names;
    for (const Site* site : producers[root]) names += (names.empty() ? "" : ", ") + model.graph.nodes[site->node].label();
    return names;
  };
  nlohmann::ordered_json left_alone = nlohmann::ordered_json::array();
  std::map<std::string, Reads> reads;
  if (options.criterion == PruneCriterion::bn) reads = main_graph_reads(model.graph);
  for (auto& [root, sites] : producers) {
    int64_t channels = spaces[static_cast<size_t>(root)].channels;
    std::vector<double> importance(static_cast<size_t>(channels), 0.0);
    std::string reason = spaces[static_cast<size_t>(root)].reason;
    for (const Site* site : sites) {
      if (!reason.empty()) break;
      const ir::Node& node = model.graph.nodes[site->node];
      std::optional<std::vector<double>> score;
      if (options.criterion == PruneCriterion::bn) score = bn_gamma(reads, analysis, node);
      else score = channel_norms(analysis.weight(site->tensor)->stored->tensor, site->axis, channels,
                                 options.criterion == PruneCriterion::l2);
      if (!score || static_cast<int64_t>(score->size()) != channels) {
        reason = fmt::format("--criterion bn: no BatchNormalization reads {} alone", node.label());
        break;
      }
      for (int64_t c = 0; c < channels; ++c) importance[static_cast<size_t>(c)] += (*score)[static_cast<size_t>(c)];
    }
    // The same number removed from each group (one group unless a grouped Conv produces them).
    int64_t groups = spaces[static_cast<size_t>(root)].groups;
    int64_t per_group = channels / groups;
    int64_t remove = std::llround(options.sparsity * static_cast<double>(per_group));
    int64_t keep_per_group = std::max<int64_t>(1, per_group - remove);
    if (reason.empty() && keep_per_group == per_group) reason = "nothing to remove at this sparsity";
    if (!reason.empty()) {
      left_alone.push_back({{"layers", producers_text(root)}, {"channels", channels}, {"reason", reason}});
      result.warnings.push_back(fmt::format("kept whole: {} ({} channels): {}", producers_text(root), channels, reason));
      continue;
    }
    std::vector<int64_t> keep;
    for (int64_t g = 0; g < groups; ++g) {
      std::vector<int64_t> order(static_cast<size_t>(per_group));
      std::iota(order.begin(), order.end(), g * per_group);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        return importance[static_cast<size_t>(a)] > importance[static_cast<size_t>(b)];
      });
      keep.insert(keep.end(), order.begin(), order.begin() + keep_per_group);
    }
    std::sort(keep.begin(), keep.end());
    kept[root] = keep;
  }
  // The kept channels of parts laid end to end; nullopt when none of them lost any.
  auto kept_of = [&](const Parts& parts) -> std::optional<std::vector<int64_t>> {
    std::vector<int64_t> out;
    bool changed = false;
    int64_t offset = 0;
    for (int p : parts) {
      int root = analysis.find(p);
      int64_t channels = spaces[static_cast<size_t>(root)].channels;
      if (auto it = kept.find(root); it != kept.end()) {
        changed = true;
        for (int64_t k : it->second) out.push_back(offset + k);
      } else {
        for (int64_t k = 0; k < channels; ++k) out.push_back(offset + k);
      }
      offset += channels;
    }
    return changed ? std::optional(out) : std::nullopt;
  };

  // Rewrite: cut every site; depthwise groups and Split sizes follow.
  std::map<std::string, std::pair<int64_t, std::string>> bytes_before;  // tensor -> (bytes, reader op)
  std::map<size_t, std::vector<int64_t>> kept_by_producer;
  for (const Site& site : analysis.sites()) {
    auto keep = kept_of(site.parts);
    if (!keep) continue;
    if (site.producer) kept_by_producer[site.node] = *keep;
    ir::WeightRef* w = analysis.weight(site.tensor);
    bytes_before.try_emplace(site.tensor, w->stored->tensor.nbytes(), model.graph.nodes[site.node].op_type);
    w->stored->tensor = site.groups > 1 ? take_grouped(w->stored->tensor, *keep, site.groups)
                                        : take_channels(w->stored->tensor, site.axis, *keep, site.block);
  }
  for (const CountRewrite& r : analysis.counts()) {
    std::vector<int64_t> sizes;
    bool changed = false;
    for (const Parts& parts : r.outputs) {
      auto keep = kept_of(parts);
      changed = changed || keep.has_value();
      sizes.push_back(keep ? static_cast<int64_t>(keep->size()) : analysis.channels(parts));
    }
    if (!changed) continue;
    ir::Node& node = model.graph.nodes[r.node];
    if (is_op(node, "Conv")) {
      node.attr("group")->i = sizes[0];
    } else if (!r.sizes_tensor.empty()) {
      analysis.weight(r.sizes_tensor)->stored->tensor =
          Tensor::from_values<int64_t>(DType::i64, {static_cast<int64_t>(sizes.size())}, sizes);
    } else {
      node.attr("split")->ints = sizes;
    }
  }
  // Recorded shapes of values whose channels changed are stale: drop them (runtimes infer them).
  std::set<std::string> changed_values;
  for (int s = 0; s < static_cast<int>(spaces.size()); ++s)
    if (kept.count(analysis.find(s)))
      for (const auto& v : spaces[static_cast<size_t>(s)].values) changed_values.insert(v);
  std::erase_if(model.graph.value_info, [&](const ir::ValueInfo& v) { return changed_values.count(v.name) > 0; });

  for (const auto& [name, info] : bytes_before) {
    ir::WeightRef* w = analysis.weight(name);
    int64_t after = w->stored->tensor.nbytes();
    result.changes.push_back({name, info.second, "prune_channel", info.first, after, std::nullopt,
                              1.0 - static_cast<double>(after) / static_cast<double>(std::max<int64_t>(info.first, 1))});
  }

  std::vector<std::string> ignored;
  ShapeMap shapes_after = report::model_shapes(model, options.shapes, ignored);
  auto after = layer_states(model, analysis, shapes_after);
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  size_t index = 0, changed_layers = 0;
  for (const auto& [i, b] : before)
    if (after.at(i).weight != b.weight) ++changed_layers;
  for (const auto& [i, b] : before) {
    const LayerState& a = after.at(i);
    if (a.weight == b.weight) continue;
    const ir::Node& n = model.graph.nodes[i];
    auto macs_json = [](const std::optional<int64_t>& m) { return m ? nlohmann::ordered_json(*m) : nlohmann::ordered_json(); };
    layers.push_back({{"name", n.name.empty() ? n.label() : n.name},
                      {"op_type", n.op_type},
                      {"shape_before", b.weight},
                      {"shape_after", a.weight},
                      {"sparsity", 1.0 - static_cast<double>(a.params) / static_cast<double>(std::max<int64_t>(b.params, 1))},
                      {"params_before", b.params},
                      {"params_after", a.params},
                      {"macs_before", macs_json(b.macs)},
                      {"macs_after", macs_json(a.macs)}});
    if (auto k = kept_by_producer.find(i); k != kept_by_producer.end()) layers.back()["kept_channels"] = k->second;
    if (progress) {
      report::TensorChange c{n.label(), n.op_type, "prune_channel", b.params * 4, a.params * 4, std::nullopt,
                             layers.back()["sparsity"].get<double>()};
      progress(format_progress(++index, changed_layers, c, b.weight, format_dims(b.weight), format_dims(a.weight)));
    }
  }
  result.extra["method"] = "channel";
  result.extra["criterion"] = options.criterion == PruneCriterion::l1 ? "l1" : options.criterion == PruneCriterion::l2 ? "l2" : "bn";
  result.extra["layers"] = layers;
  result.extra["left_alone"] = left_alone;
  return result;
}

}  // namespace mcompress::passes
