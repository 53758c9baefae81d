#include "shape_fold.h"

#include <cmath>
#include <functional>
#include <limits>
#include <optional>

namespace mcompress::onnxio {
namespace {

// Larger tensors are data, not shapes.
constexpr int64_t kMaxFoldElements = 64;

using Value = FoldedValue;
using Inputs = std::vector<const Value*>;

bool is_integer(DType d) {
  return d == DType::i64 || d == DType::i32 || d == DType::i16 || d == DType::i8 || d == DType::u8 ||
         d == DType::u16 || d == DType::u32 || d == DType::u64 || d == DType::boolean;
}

std::optional<Value> from_tensor(const Tensor& t) {
  if (t.dtype() == DType::string || t.numel() > kMaxFoldElements) return std::nullopt;
  if (!is_integer(t.dtype()) && t.dtype() != DType::f32 && t.dtype() != DType::f64) return std::nullopt;
  Value v{t.dtype(), t.shape(), {}};
  for (int64_t i = 0; i < t.numel(); ++i) v.values.push_back(element_as_double(t, i));
  return v;
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Numpy broadcasting of the inputs' dims; nullopt when they do not broadcast.
std::optional<Shape> broadcast(const Inputs& in) {
  size_t rank = 0;
  for (const Value* v : in) rank = std::max(rank, v->dims.size());
  Shape out(rank, 1);
  for (const Value* v : in) {
    for (size_t i = 0; i < v->dims.size(); ++i) {
      int64_t d = v->dims[v->dims.size() - 1 - i];
      int64_t& o = out[rank - 1 - i];
      if (d == o || d == 1) continue;
      if (o != 1) return std::nullopt;
      o = d;
    }
  }
  return out;
}

// Element of v at the broadcast position `index` of `out`.
double at(const Value& v, const Shape& out, int64_t index) {
  int64_t offset = 0, stride = 1, rest = index;
  std::vector<int64_t> coord(out.size());
  for (size_t i = out.size(); i-- > 0;) {
    coord[i] = rest % out[i];
    rest /= out[i];
  }
  for (size_t i = v.dims.size(); i-- > 0;) {
    int64_t c = coord[out.size() - v.dims.size() + i];
    if (v.dims[i] != 1) offset += c * stride;
    stride *= v.dims[i];
  }
  return v.values[static_cast<size_t>(offset)];
}

std::optional<Value> elementwise(const Inputs& in, DType dtype, const std::function<double(const std::vector<double>&)>& f) {
  auto dims = broadcast(in);
  if (!dims || numel(*dims) > kMaxFoldElements) return std::nullopt;
  Value out{dtype, *dims, {}};
  std::vector<double> args(in.size());
  for (int64_t i = 0; i < numel(*dims); ++i) {
    for (size_t k = 0; k < in.size(); ++k) args[k] = at(*in[k], *dims, i);
    out.values.push_back(f(args));
  }
  return out;
}

int64_t norm_axis(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

}  // namespace

int64_t to_int(double d) {
  if (d >= 9.2e18) return std::numeric_limits<int64_t>::max();
  if (d <= -9.2e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(d);
}

namespace {

std::vector<int64_t> ints_of(const Value& v) {
  std::vector<int64_t> out;
  for (double d : v.values) out.push_back(to_int(d));
  return out;
}

// Axes from the attribute (older opsets) or the second input (newer).
std::optional<std::vector<int64_t>> axes_of(const ir::Node& n, const Inputs& in, size_t input_index) {
  if (const ir::Attribute* a = n.attr("axes")) return a->ints;
  if (in.size() > input_index && in[input_index]) return ints_of(*in[input_index]);
  return std::nullopt;
}

std::optional<Value> fold_node(const ir::Node& n, const Inputs& in, const KnownShapes& shapes) {
  const std::string& op = n.op_type;
  auto all = [&](size_t count) {
    if (in.size() < count) return false;
    for (size_t i = 0; i < count; ++i)
      if (!in[i]) return false;
    return true;
  };
  if (op == "Shape") {
    auto it = shapes.find(n.inputs[0]);
    if (it == shapes.end()) return std::nullopt;
    const auto& dims = it->second;
    auto rank = static_cast<int64_t>(dims.size());
    int64_t start = std::clamp(norm_axis(n.attr_int("start", 0), rank), int64_t{0}, rank);
    int64_t end = std::clamp(norm_axis(n.attr_int("end", rank), rank), int64_t{0}, rank);
    Value out{DType::i64, {std::max<int64_t>(end - start, 0)}, {}};
    for (int64_t i = start; i < end; ++i) {
      if (dims[static_cast<size_t>(i)] < 0) return std::nullopt;
      out.values.push_back(static_cast<double>(dims[static_cast<size_t>(i)]));
    }
    return out;
  }
  if (op == "Size") {
    auto it = shapes.find(n.inputs[0]);
    if (it == shapes.end()) return std::nullopt;
    for (int64_t d : it->second)
      if (d < 0) return std::nullopt;
    return Value{DType::i64, {}, {static_cast<double>(numel(it->second))}};
  }
  if (op == "Identity" && all(1)) return *in[0];
  if (op == "Cast" && all(1)) {
    auto to = static_cast<DType>(n.attr_int("to", 0));
    Value out = *in[0];
    out.dtype = to;
    if (is_integer(to))
      for (double& v : out.values) v = std::trunc(v);
    return out;
  }
  using Args = const std::vector<double>&;
  DType type0 = all(1) ? in[0]->dtype : DType::undefined;
  bool ints = is_integer(type0);
  if (op == "Add" && all(2)) return elementwise(in, type0, [](Args a) { return a[0] + a[1]; });
  if (op == "Sub" && all(2)) return elementwise(in, type0, [](Args a) { return a[0] - a[1]; });
  if (op == "Mul" && all(2)) return elementwise(in, type0, [](Args a) { return a[0] * a[1]; });
  if (op == "Div" && all(2)) {
    for (double d : in[1]->values)
      if (d == 0) return std::nullopt;
    return elementwise(in, type0, [ints](Args a) { return ints ? std::trunc(a[0] / a[1]) : a[0] / a[1]; });
  }
  if (op == "Mod" && all(2) && ints && n.attr_int("fmod", 0) == 0) {
    for (double d : in[1]->values)
      if (d == 0) return std::nullopt;
    return elementwise(in, type0, [](Args a) {
      double r = std::fmod(a[0], a[1]);
      return (r != 0 && ((r < 0) != (a[1] < 0))) ? r + a[1] : r;
    });
  }
  if (op == "Neg" && all(1)) return elementwise(in, type0, [](Args a) { return -a[0]; });
  if (op == "Abs" && all(1)) return elementwise(in, type0, [](Args a) { return std::abs(a[0]); });
  if (op == "Sqrt" && all(1) && !ints) return elementwise(in, type0, [](Args a) { return std::sqrt(a[0]); });
  if (op == "Floor" && all(1)) return elementwise(in, type0, [](Args a) { return std::floor(a[0]); });
  if (op == "Ceil" && all(1)) return elementwise(in, type0, [](Args a) { return std::ceil(a[0]); });
  if ((op == "Max" || op == "Min") && all(in.size()) && !in.empty()) {
    bool is_max = op == "Max";
    return elementwise(in, type0, [is_max](Args a) {
      double r = a[0];
      for (double v : a) r = is_max ? std::max(r, v) : std::min(r, v);
      return r;
    });
  }
  if (op == "Equal" && all(2)) return elementwise(in, DType::boolean, [](Args a) { return a[0] == a[1] ? 1.0 : 0.0; });
  if (op == "Less" && all(2)) return elementwise(in, DType::boolean, [](Args a) { return a[0] < a[1] ? 1.0 : 0.0; });
  if (op == "Greater" && all(2)) return elementwise(in, DType::boolean, [](Args a) { return a[0] > a[1] ? 1.0 : 0.0; });
  if (op == "Not" && all(1)) return elementwise(in, DType::boolean, [](Args a) { return a[0] == 0 ? 1.0 : 0.0; });
  if (op == "Where" && all(3)) return elementwise(in, in[1]->dtype, [](Args a) { return a[0] != 0 ? a[1] : a[2]; });
  if (op == "Concat" && all(in.size()) && !in.empty()) {
    // Shape vectors: 1-D along axis 0.
    Value out{type0, {0}, {}};
    for (const Value* v : in) {
      if (v->dims.size() != 1) return std::nullopt;
      out.values.insert(out.values.end(), v->values.begin(), v->values.end());
    }
    out.dims[0] = static_cast<int64_t>(out.values.size());
    return out;
  }
  if (op == "Unsqueeze" && all(1)) {
    auto axes = axes_of(n, in, 1);
    if (!axes) return std::nullopt;
    Value out = *in[0];
    auto rank = static_cast<int64_t>(out.dims.size() + axes->size());
    std::vector<int64_t> sorted;
    for (int64_t a : *axes) sorted.push_back(norm_axis(a, rank));
    std::sort(sorted.begin(), sorted.end());
    for (int64_t a : sorted) {
      if (a < 0 || a > static_cast<int64_t>(out.dims.size())) return std::nullopt;
      out.dims.insert(out.dims.begin() + a, 1);
    }
    return out;
  }
  if (op == "Squeeze" && all(1)) {
    auto axes = axes_of(n, in, 1);
    Value out = *in[0];
    auto rank = static_cast<int64_t>(out.dims.size());
    Shape kept;
    for (int64_t i = 0; i < rank; ++i) {
      bool drop = axes ? std::any_of(axes->begin(), axes->end(), [&](int64_t a) { return norm_axis(a, rank) == i; })
                       : out.dims[static_cast<size_t>(i)] == 1;
      if (!drop) kept.push_back(out.dims[static_cast<size_t>(i)]);
    }
    out.dims = kept;
    return out;
  }
  if (op == "Gather" && all(2)) {
    const Value& data = *in[0];
    if (data.dims.size() != 1 || n.attr_int("axis", 0) != 0) return std::nullopt;
    Value out{data.dtype, in[1]->dims, {}};
    auto size = static_cast<int64_t>(data.values.size());
    for (int64_t i : ints_of(*in[1])) {
      if (i < 0) i += size;
      if (i < 0 || i >= size) return std::nullopt;
      out.values.push_back(data.values[static_cast<size_t>(i)]);
    }
    return out;
  }
  if (op == "Slice" && all(1)) {
    const Value& data = *in[0];
    if (data.dims.size() != 1) return std::nullopt;
    std::vector<int64_t> starts, ends, steps = {1};
    if (in.size() >= 3) {
      if (!in[1] || !in[2]) return std::nullopt;
      starts = ints_of(*in[1]);
      ends = ints_of(*in[2]);
      if (in.size() >= 4 && in[3] && ints_of(*in[3]) != std::vector<int64_t>{0}) return std::nullopt;
      if (in.size() >= 5 && in[4]) steps = ints_of(*in[4]);
    } else {
      starts = n.attr_ints("starts");
      ends = n.attr_ints("ends");
    }
    if (starts.size() != 1 || ends.size() != 1 || steps.size() != 1 || steps[0] == 0) return std::nullopt;
    auto size = static_cast<int64_t>(data.values.size());
    auto clamp_index = [&](int64_t i, bool forward) {
      if (i < 0) i += size;
      return forward ? std::clamp(i, int64_t{0}, size) : std::clamp(i, int64_t{-1}, size - 1);
    };
    bool forward = steps[0] > 0;
    int64_t s = clamp_index(starts[0], forward), e = clamp_index(ends[0], forward);
    Value out{data.dtype, {0}, {}};
    for (int64_t i = s; forward ? i < e : i > e; i += steps[0]) out.values.push_back(data.values[static_cast<size_t>(i)]);
    out.dims[0] = static_cast<int64_t>(out.values.size());
    return out;
  }
  if (op == "Range" && all(3)) {
    double start = in[0]->values.at(0), limit = in[1]->values.at(0), delta = in[2]->values.at(0);
    if (delta == 0) return std::nullopt;
    auto count = static_cast<int64_t>(std::max(0.0, std::ceil((limit - start) / delta)));
    if (count > kMaxFoldElements) return std::nullopt;
    Value out{type0, {count}, {}};
    for (int64_t i = 0; i < count; ++i) out.values.push_back(start + static_cast<double>(i) * delta);
    return out;
  }
  if (op == "ConstantOfShape" && all(1)) {
    Shape dims = ints_of(*in[0]);
    if (numel(dims) > kMaxFoldElements) return std::nullopt;
    Value fill{DType::f32, {1}, {0.0}};
    if (const ir::Attribute* a = n.attr("value"); a && a->type == ir::AttrType::tensor) {
      auto v = from_tensor(a->t.tensor);
      if (!v || v->values.empty()) return std::nullopt;
      fill = *v;
    }
    return Value{fill.dtype, dims, std::vector<double>(static_cast<size_t>(numel(dims)), fill.values[0])};
  }
  if (op == "Reshape" && all(2)) {
    Shape dims = ints_of(*in[1]);
    auto total = static_cast<int64_t>(in[0]->values.size());
    int64_t known = 1, infer = -1;
    for (size_t i = 0; i < dims.size(); ++i) {
      if (dims[i] == 0 && n.attr_int("allowzero", 0) == 0) dims[i] = i < in[0]->dims.size() ? in[0]->dims[i] : 1;
      if (dims[i] == -1) infer = static_cast<int64_t>(i);
      else known *= dims[i];
    }
    if (infer >= 0 && known > 0) dims[static_cast<size_t>(infer)] = total / known;
    if (numel(dims) != total) return std::nullopt;
    return Value{in[0]->dtype, dims, in[0]->values};
  }
  return std::nullopt;
}

}  // namespace

void collect_graph_constants(const ir::Graph& graph, std::map<std::string, FoldedValue>& folded);

void collect_constant_values(const ir::Graph& graph, std::map<std::string, FoldedValue>& folded) {
  graph.for_each_subgraph([&](const ir::Graph& sub, const ir::Node&) { collect_graph_constants(sub, folded); });
  collect_graph_constants(graph, folded);
}

void collect_graph_constants(const ir::Graph& graph, std::map<std::string, FoldedValue>& folded) {
  for (const ir::NamedTensor& t : graph.initializers)
    if (auto v = from_tensor(t.tensor)) folded[t.name] = *v;
  for (const ir::Node& n : graph.nodes) {
    if (n.op_type != "Constant" || n.outputs.size() != 1) continue;
    if (const ir::Attribute* a = n.attr("value"); a && a->type == ir::AttrType::tensor) {
      if (auto v = from_tensor(a->t.tensor)) folded[n.outputs[0]] = *v;
    } else if (const ir::Attribute* i = n.attr("value_int")) {
      folded[n.outputs[0]] = Value{DType::i64, {}, {static_cast<double>(i->i)}};
    } else if (const ir::Attribute* is = n.attr("value_ints")) {
      Value v{DType::i64, {static_cast<int64_t>(is->ints.size())}, {}};
      for (int64_t x : is->ints) v.values.push_back(static_cast<double>(x));
      folded[n.outputs[0]] = v;
    }
  }
}

int fold_shape_values(const ir::Graph& graph, const KnownShapes& shapes, std::map<std::string, FoldedValue>& folded) {
  int found = 0;
  for (const ir::Node& n : graph.nodes) {
    if (!n.is_default_domain() || n.outputs.size() != 1 || n.outputs[0].empty() || folded.count(n.outputs[0])) continue;
    Inputs in;
    for (const std::string& name : n.inputs) {
      auto it = folded.find(name);
      in.push_back(it == folded.end() ? nullptr : &it->second);
    }
    auto v = fold_node(n, in, shapes);
    if (!v || numel(v->dims) != static_cast<int64_t>(v->values.size())) continue;
    folded[n.outputs[0]] = std::move(*v);
    ++found;
  }
  return found;
}

}  // namespace mcompress::onnxio
