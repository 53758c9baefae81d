// quantize_weights: weight-only int8, dynamic int8, int4 MatMulNBits and float16, without data.
//
// Before / After, per mode (W a float32 initializer read by the op's weight input):
//   weight:  op(X, W)  ->  W = DequantizeLinear(W_q int8, scale, zp, axis); op(X, W)
//            (--weight-form cast-mul, or opset < 13 with per-channel scales:
//            W = Mul(Sub(Cast(W_q), zp), scale), the same value)
//   dynamic: quantize_dynamic.cpp (ONNX Runtime's QOperator dynamic form); Conv (unless --op-types
//            names it) and LSTM / GRU / RNN take the weight-only form
//   int4:    quantize_int4.cpp (com.microsoft MatMulNBits)
//   fp16:    quantize_fp16.cpp
// Preconditions: weights are initializers (cleanup moves Constant nodes there first, in every
//   graph), not graph inputs. Nodes and weights that --exclude matches are left alone.
// Math: quant/quant.h; per-channel scales follow the op's output channels (Conv axis 0,
//   ConvTranspose axis 1, MatMul the last axis, Gemm N, LSTM / GRU / RNN W and R axis 1: gates *
//   hidden of [directions, gates * hidden, input or hidden]; their bias B stays float). --mode
//   weight uses zero points by default (the compute stays float, so they cost nothing at run
//   time): on glyph pages PaddleOCR rec reaches cosine 0.9985 and det 0.9988 against 0.9745 /
//   0.9890 symmetric, with near-equal weight errors (a few 1x1 and depthwise Conv layers decide
//   it); the bundled CNN / ViT stay at 46 dB output SQNR, cls 0.9980 (symmetric 0.9996).
//   --symmetric restores ONNX Runtime's default.
// Subgraphs: a node is rewritten in the graph that holds it (If branch, Loop / Scan body), whichever
//   graph stores its weight (ir/uses.h resolves the read); its new initializers are stored beside
//   it. Weight-only: the DequantizeLinear output takes the weight's name, in the graph that reads
//   the weight, or (read from several graphs) in the one that stores it, so that each weight is
//   quantized once. The quantized initializers always sit in the DequantizeLinear's own graph:
//   ONNX Runtime 1.30's DQ -> MatMul fusion refuses the model otherwise ("Missing required
//   weight"). The float original is dropped once nothing reads it.
// Known gaps: dynamic and int4 quantize a weight once per node that reads it (as in the main
//   graph); MatMul with the constant on the left; IR < 4 models (initializers
//   listed as graph inputs are left alone).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "mcompress/ir/uses.h"
#include "mcompress/passes/opset_upgrade.h"
#include "mcompress/passes/cleanup.h"
#include "mcompress/support/error.h"
#include "quantize_rewriter.h"

namespace mcompress::passes {
namespace {

constexpr int64_t kOpsetDequantize = 10;
constexpr int64_t kOpsetDequantizeAxis = 13;
constexpr int64_t kOpsetDynamic = 11;  // DynamicQuantizeLinear

// How --mode dynamic rewrites an op: not at all, into an integer op (MatMulInteger), into an
// integer op only when --op-types names it (Conv: ConvInteger, else weight-only), or always
// weight-only (the recurrent ops: standard ONNX has no integer LSTM / GRU / RNN).
enum class Dynamic { none, integer, integer_if_named, weight_only };

// Which inputs hold an op's weights, and which modes rewrite them (and by default).
struct OpRow {
  std::string_view op_type;
  std::array<int, 2> weight_slots;  // -1: no second weight
  bool weight_default;              // --mode weight without --op-types
  Dynamic dynamic;                  // what --mode dynamic does with it
  bool int4;                        // --bits 4 rewrites it
};

constexpr OpRow kOps[] = {
    {"Conv", {1, -1}, true, Dynamic::integer_if_named, false},
    {"ConvTranspose", {1, -1}, true, Dynamic::none, false},
    {"Gemm", {1, -1}, true, Dynamic::integer, true},
    {"MatMul", {1, -1}, true, Dynamic::integer, true},
    {"Gather", {0, -1}, false, Dynamic::none, false},
    // W [directions, gates * hidden, input] and R [directions, gates * hidden, hidden]; B stays float.
    {"LSTM", {1, 2}, true, Dynamic::weight_only, false},
    {"GRU", {1, 2}, true, Dynamic::weight_only, false},
    {"RNN", {1, 2}, true, Dynamic::weight_only, false},
};

const OpRow* op_row(const ir::Node& n) {
  if (!n.is_default_domain()) return nullptr;
  for (const OpRow& r : kOps)
    if (r.op_type == n.op_type) return &r;
  return nullptr;
}

bool mode_rewrites(const OpRow& row, QuantMode mode, int bits) {
  if (bits == 4) return row.int4;
  if (mode == QuantMode::dynamic) return row.dynamic != Dynamic::none;
  return true;
}

bool op_named(const OpRow& row, const QuantizeOptions& o) {
  return std::find(o.op_types.begin(), o.op_types.end(), row.op_type) != o.op_types.end();
}

bool op_selected(const OpRow& row, const QuantizeOptions& o, QuantMode mode) {
  if (!o.op_types.empty()) return op_named(row, o);
  return mode != QuantMode::weight || o.bits != 8 || row.weight_default;
}

// Whether --mode dynamic gives the node's weights the weight-only form rather than an integer op.
bool dynamic_weight_only(const OpRow& row, const QuantizeOptions& o) {
  return row.dynamic == Dynamic::weight_only || (row.dynamic == Dynamic::integer_if_named && !op_named(row, o));
}

// Node rewrites (dynamic, int4) need a plain 2-D MatMul/Gemm weight and Gemm without transA.
bool node_rewritable(const ir::Node& n, const OpRow& row, const Tensor& w, QuantMode mode, int bits,
                     const std::map<std::string, ir::NamedTensor*>& inits) {
  if (mode == QuantMode::weight && bits == 8) return true;
  if (bits == 8 && row.dynamic == Dynamic::weight_only) return true;
  if (n.op_type != "Conv" && w.rank() != 2) return false;
  if (n.op_type == "Conv" && n.inputs.size() > 2 && !n.inputs[2].empty() && !inits.count(n.inputs[2])) return false;
  if (n.op_type != "Gemm") return true;
  if (n.attr_int("transA", 0) != 0) return false;
  // beta * C is folded into a new initializer; a computed C only with beta 1.
  const ir::Attribute* beta = n.attr("beta");
  bool has_c = n.inputs.size() > 2 && !n.inputs[2].empty();
  return !has_c || !beta || beta->f == 1.0f || inits.count(n.inputs[2]);
}

const std::set<std::string_view> kQuantizedOps = {"DequantizeLinear", "QuantizeLinear", "DynamicQuantizeLinear",
                                                  "MatMulInteger",    "ConvInteger",    "QLinearConv",
                                                  "QLinearMatMul",    "MatMulNBits"};

// "2 ConvInteger, 4 DynamicQuantizeLinear"; empty when the graph holds no quantized op.
std::string quantized_ops_summary(const ir::Graph& g) {
  std::map<std::string, int> counts;
  auto count = [&](const ir::Graph& graph) {
    for (const ir::Node& n : graph.nodes)
      if (kQuantizedOps.count(n.op_type)) ++counts[n.op_type];
  };
  count(g);
  g.for_each_subgraph([&](const ir::Graph& sub, const ir::Node&) { count(sub); });
  std::string s;
  for (const auto& [op, c] : counts) s += fmt::format("{}{} {}", s.empty() ? "" : ", ", c, op);
  return s;
}

std::string mode_name(QuantMode mode, int bits) {
  if (bits == 4) return "int4";
  if (bits == 16) return "fp16";
  return mode == QuantMode::dynamic ? "dynamic int8" : "weight-only int8";
}

}  // namespace

int64_t channel_axis(const ir::Node& n, const Tensor& w) {
  if (n.op_type == "Conv") return 0;
  if (n.op_type == "ConvTranspose") return n.attr_int("group", 1) == 1 ? 1 : -1;
  if (n.op_type == "Gemm") return n.attr_int("transB", 0) ? 0 : 1;
  if (n.op_type == "MatMul") return w.rank() - 1;
  if (n.op_type == "Gather") return n.attr_int("axis", 0) == 0 ? 0 : -1;
  if (n.op_type == "LSTM" || n.op_type == "GRU" || n.op_type == "RNN") return 1;  // gates * hidden
  return -1;
}

std::vector<Site> find_sites(const Rewriter& rw, QuantMode mode, const NameFilter& filter) {
  const QuantizeOptions& o = rw.options;
  std::vector<Site> sites;
  for (size_t i = 0; i < rw.g->nodes.size(); ++i) {
    const ir::Node& n = rw.g->nodes[i];
    const OpRow* row = op_row(n);
    if (!row || !mode_rewrites(*row, mode, o.bits) || !op_selected(*row, o, mode) || filter.excluded(n)) continue;
    for (int slot : row->weight_slots) {
      if (slot < 0 || static_cast<int>(n.inputs.size()) <= slot) continue;
      const std::string& w = n.inputs[slot];
      auto it = rw.inits.find(w);
      if (it == rw.inits.end()) continue;
      const Tensor& t = it->second->tensor;
      if (t.dtype() != DType::f32 || t.rank() < 2) continue;
      if (!node_rewritable(n, *row, t, mode, o.bits, rw.inits)) continue;
      sites.push_back({i, w});
    }
  }
  return sites;
}

Rewriter::Rewriter(ir::Model& m, const QuantizeOptions& o, const ProgressFn& p)
    : model(m), g(&m.graph), options(o), progress(p), pool(o.threads), names(m.graph) {}

void Rewriter::enter(ir::Graph& graph) {
  g = &graph;
  inits.clear();
  homes.clear();
  read_elsewhere.clear();
  // Graph inputs (a feed may replace them) and weights that a graph returns are not weights to rewrite.
  for (ir::StoredUses& s : ir::initializer_uses(model.graph)) {
    bool here = false, elsewhere = false;
    for (const ir::Use& u : s.uses) {
      bool output = u.node == ir::Use::kGraphOutput;
      if (u.graph == g && !output) here = true;
      if (u.graph != g || output) elsewhere = true;
    }
    bool returned = std::any_of(s.uses.begin(), s.uses.end(), [](const ir::Use& u) { return u.node == ir::Use::kGraphOutput; });
    if (!here || s.graph_input || returned) continue;
    inits[s.tensor->name] = s.tensor;
    homes[s.tensor->name] = s.home;
    if (elsewhere) read_elsewhere.insert(s.tensor->name);
  }
}

std::string Rewriter::add_init(const std::string& base, Tensor t) {
  std::string name = names.fresh(base);
  new_inits.emplace_back(store ? store : g, ir::NamedTensor{name, std::move(t), {}, false, {}});
  return name;
}

void Rewriter::report(const std::string& weight, const std::string& op_type, const Tensor& w, int64_t bytes_after,
                      double rel_error, const std::string& to, const std::string& action) {
  report::TensorChange c{weight, op_type, action, w.nbytes(), bytes_after, rel_error, std::nullopt};
  ++done;
  if (progress) progress(format_progress(done, total, c, w.shape(), "f32", to));
  result.changes.push_back(std::move(c));
}

quant::QuantParams Rewriter::int8_params(const Tensor& w, int64_t axis, bool float_compute) {
  bool per_channel = options.granularity != Granularity::tensor && axis >= 0;
  return quant::choose_params(w, DType::i8, !options.asymmetric_weights(float_compute), per_channel ? axis : -1, 0, quant::RangeMethod::minmax,
                              &pool);
}

void Rewriter::finish() {
  for (auto& [graph, t] : new_inits) graph->initializers.push_back(std::move(t));
  new_inits.clear();
  remove_dead(*g);
  enter(*g);  // the initializers moved
}

void Rewriter::complete() {
  for (auto& [graph, chain] : dequantize_first)
    graph->nodes.insert(graph->nodes.begin(), std::make_move_iterator(chain.begin()), std::make_move_iterator(chain.end()));
  dequantize_first.clear();
  std::set<std::string> rewritten;
  for (const report::TensorChange& c : result.changes) rewritten.insert(c.name);
  std::map<ir::Graph*, std::set<std::string>> unread;
  for (const ir::StoredUses& s : ir::initializer_uses(model.graph))
    if (s.uses.empty() && !s.graph_input && rewritten.count(s.tensor->name)) unread[s.home].insert(s.tensor->name);
  for (auto& [graph, names_] : unread)
    std::erase_if(graph->initializers, [&](const ir::NamedTensor& t) { return names_.count(t.name) > 0; });
}

std::string granularity_name(const quant::QuantParams& p) {
  if (p.block_size > 0) return fmt::format("b{}", p.block_size);
  return p.axis >= 0 ? "ch" : "t";
}

Tensor scale_tensor(const std::vector<float>& scale) {
  if (scale.size() == 1) return Tensor::from_values<float>(DType::f32, {}, std::span<const float>(scale));
  return Tensor::from_values<float>(DType::f32, {static_cast<int64_t>(scale.size())}, std::span<const float>(scale));
}

Tensor zero_point_tensor(const std::vector<int32_t>& zp, DType dtype, Shape shape) {
  Tensor t(dtype, std::move(shape));
  assert(static_cast<size_t>(t.numel()) == zp.size());
  for (size_t i = 0; i < zp.size(); ++i) {
    if (dtype == DType::i8) t.data<int8_t>()[i] = static_cast<int8_t>(zp[i]);
    if (dtype == DType::u8) t.data<uint8_t>()[i] = static_cast<uint8_t>(zp[i]);
  }
  return t;
}

Tensor transpose_2d(const Tensor& w) {
  const int64_t rows = w.shape()[0], cols = w.shape()[1];
  Tensor t(DType::f32, {cols, rows});
  const float* x = w.data<float>();
  float* y = t.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) y[c * rows + r] = x[r * cols + c];
  return t;
}

float gemm_alpha(const ir::Node& n) {
  const ir::Attribute* alpha = n.op_type == "Gemm" ? n.attr("alpha") : nullptr;
  return alpha ? alpha->f : 1.0f;
}

std::string gemm_bias(Rewriter& rw, const ir::Node& n, const std::map<std::string, ir::NamedTensor*>& inits) {
  const ir::Attribute* beta_attr = n.attr("beta");
  float beta = beta_attr ? beta_attr->f : 1.0f;
  if (beta == 1.0f) return n.inputs[2];
  Tensor c = inits.at(n.inputs[2])->tensor;
  if (c.dtype() != DType::f32) throw_unsupported("Gemm '{}': bias C of type {}", n.label(), dtype_name(c.dtype()));
  for (int64_t i = 0; i < c.numel(); ++i) c.data<float>()[i] *= beta;
  return rw.add_init(n.inputs[2] + "_beta", std::move(c));
}

int64_t total_bytes(std::initializer_list<const Tensor*> tensors) {
  int64_t n = 0;
  for (const Tensor* t : tensors) n += t ? t->nbytes() : 0;
  return n;
}

void rewrite_weight_only(Rewriter& rw, const std::vector<Site>& sites, std::string_view note) {
  std::map<std::string, const Site*> first;  // one rewrite per weight; its axis from the first reader
  for (const Site& s : sites) first.emplace(s.weight, &s);
  rw.expect(first.size());
  const int64_t opset = rw.model.opset("");
  std::vector<ir::Node> here;  // dequantizing chains that go first in this graph
  auto& inits = rw.inits;
  for (const Site& s : sites) {
    if (first[s.weight] != &s) continue;
    const std::string& name = s.weight;
    const ir::Node& n = rw.g->nodes[s.node];
    const Tensor& w = inits[name]->tensor;
    // A weight that graphs besides this one read, stored outside it, is dequantized once in the
    // graph that stores it, beside its quantized initializers (ONNX Runtime's DequantizeLinear
    // fusions look for them in the node's own graph): every reader sees the output by the
    // weight's name. Otherwise the chain goes here, where the weight is read.
    ir::Graph* home = rw.homes[name];
    const bool shared = rw.read_elsewhere.count(name) > 0 && home != rw.g;
    std::vector<ir::Node>& dequant = shared ? rw.dequantize_first[home] : here;
    rw.store = shared ? home : nullptr;
    quant::QuantParams p = rw.int8_params(w, channel_axis(n, w), true);
    quant::Quantized q = quant::quantize_measured(w, p, &rw.pool);
    const bool per_channel = p.axis >= 0;
    const int64_t channels = static_cast<int64_t>(p.scale.size());
    Tensor scale = scale_tensor(p.scale);
    Tensor zp = zero_point_tensor(p.zero_point, DType::i8, per_channel ? Shape{channels} : Shape{});
    int64_t bytes = total_bytes({&q.q, &scale, &zp});
    std::string q_name = rw.add_init(name + "_quantized", std::move(q.q));
    const bool dequantize_linear = rw.options.weight_form == WeightForm::dequantize_linear &&
                                   (opset >= kOpsetDequantizeAxis || (!per_channel && opset >= kOpsetDequantize));
    if (dequantize_linear) {
      std::string s_name = rw.add_init(name + "_scale", std::move(scale));
      std::string z_name = rw.add_init(name + "_zero_point", std::move(zp));
      std::vector<ir::Attribute> attrs;
      if (per_channel) attrs.push_back(edit::int_attr("axis", p.axis));
      dequant.push_back(edit::make_node("DequantizeLinear", {q_name, s_name, z_name}, {name},
                                        rw.fresh(name + "_DequantizeLinear"), std::move(attrs)));
    } else {
      // --weight-form cast-mul, or opsets without (per-axis) DequantizeLinear: the same arithmetic
      // in standard ops, (float(W_q) - zp) * scale, which ONNX Runtime folds once at load time.
      // Scales are shaped to broadcast along the axis.
      Shape ps = p.param_shape(w.shape());
      std::string cast_out = rw.fresh(name + "_float");
      dequant.push_back(edit::make_node("Cast", {q_name}, {cast_out}, rw.fresh(name + "_Cast"),
                                        {edit::int_attr("to", static_cast<int64_t>(DType::f32))}));
      std::string centred = cast_out;
      if (std::any_of(p.zero_point.begin(), p.zero_point.end(), [](int32_t z) { return z != 0; })) {
        std::vector<float> zf(p.zero_point.begin(), p.zero_point.end());
        std::string z_name = rw.add_init(name + "_zero_point", Tensor::from_values<float>(DType::f32, ps, std::span<const float>(zf)));
        centred = rw.fresh(name + "_centred");
        dequant.push_back(edit::make_node("Sub", {cast_out, z_name}, {centred}, rw.fresh(name + "_Sub")));
      }
      std::string s_name = rw.add_init(name + "_scale", Tensor::from_values<float>(DType::f32, ps, std::span<const float>(p.scale)));
      dequant.push_back(edit::make_node("Mul", {centred, s_name}, {name}, rw.fresh(name + "_Mul")));
    }
    rw.store = nullptr;
    rw.report(name, n.op_type, w, bytes, q.rel_error, fmt::format("int8/{}{}", granularity_name(p), note), "quantize_int8_weight");
    inits[name]->tensor = Tensor();  // free the float weight now: peak memory stays near the input's
  }
  for (const auto& entry : first) {
    const std::string& name = entry.first;
    std::erase_if(rw.homes[name]->initializers, [&](const ir::NamedTensor& t) { return t.name == name; });
  }
  rw.g->nodes.insert(rw.g->nodes.begin(), std::make_move_iterator(here.begin()), std::make_move_iterator(here.end()));
  rw.finish();
}

namespace {

// A rewrite renumbers nodes: sites set aside for a second rewrite are found again by the name of
// their node's first named output (node output -> its weights: an LSTM has two).
using SitesByOutput = std::multimap<std::string, std::string>;

const std::string& node_key(const ir::Node& n) {
  static const std::string none;
  for (const std::string& o : n.outputs)
    if (!o.empty()) return o;
  return none;
}

std::vector<Site> sites_by_output(const ir::Graph& g, const SitesByOutput& by_output) {
  std::vector<Site> sites;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const std::string& key = node_key(g.nodes[i]);
    if (key.empty()) continue;
    auto [from, to] = by_output.equal_range(key);
    for (auto it = from; it != to; ++it) sites.push_back({i, it->second});
  }
  return sites;
}

// --bits 4 with the layers whose output is a graph output of the model (the final classifier) at int8,
// weight-only (see quantize_int4.cpp). Their node indices move when the int4 rewrite replaces
// nodes (sites_by_output).
void rewrite_int4_int8_output(Rewriter& rw, std::vector<Site> sites) {
  std::set<std::string> graph_outputs;  // the model's: a branch's outputs are no final layer
  if (rw.g == &rw.model.graph)
    for (const ir::ValueInfo& o : rw.g->outputs) graph_outputs.insert(o.name);
  SitesByOutput output_layers;
  std::erase_if(sites, [&](const Site& s) {
    const std::string& y = rw.g->nodes[s.node].outputs[0];
    if (!graph_outputs.count(y)) return false;
    output_layers.emplace(y, s.weight);
    return true;
  });
  rw.expect(sites.size() + output_layers.size());
  rewrite_int4(rw, sites);
  rewrite_weight_only(rw, sites_by_output(*rw.g, output_layers), " (output layer kept at 8 bits)");
}

// --mode dynamic: MatMul / Gemm into MatMulInteger; Conv into ConvInteger only when --op-types
// names Conv, else its weights take the weight-only form (see quantize_dynamic.cpp for why), as
// LSTM / GRU / RNN weights always do (no integer recurrent op in standard ONNX).
void rewrite_dynamic_mixed(Rewriter& rw, std::vector<Site> sites) {
  SitesByOutput weight_only;
  size_t convs = 0;
  std::erase_if(sites, [&](const Site& s) {
    const ir::Node& n = rw.g->nodes[s.node];
    if (!dynamic_weight_only(*op_row(n), rw.options)) return false;
    weight_only.emplace(node_key(n), s.weight);
    convs += n.op_type == "Conv";
    return true;
  });
  rw.expect(sites.size() + weight_only.size());
  if (!sites.empty()) rewrite_dynamic(rw, sites);
  if (weight_only.empty()) return;
  if (convs > 0)
    rw.result.warnings.push_back(fmt::format(
        "--mode dynamic: {} Conv weight{} int8 weight-only (DequantizeLinear, float Conv); ConvInteger runs the "
        "bundled CNN 5.1x slower than fp32 in ONNX Runtime and its per-tensor activations cost accuracy (PaddleOCR rec "
        "cosine 0.9989 -> 0.9745); --op-types Conv,MatMul,Gemm emits ConvInteger",
        convs, convs == 1 ? " is" : "s are"));
  rewrite_weight_only(rw, sites_by_output(*rw.g, weight_only), " weight-only");
}

// Rewrites `graph`, then the subgraphs of the nodes it keeps, depth first: each node in the graph
// that holds it, whichever graph stores its weight. `found` counts the sites.
void rewrite_graph(Rewriter& rw, ir::Graph& graph, QuantMode mode, const NameFilter& filter, size_t& found) {
  rw.enter(graph);
  std::vector<Site> sites = find_sites(rw, mode, filter);
  found += sites.size();
  const QuantizeOptions& o = rw.options;
  if (!sites.empty()) {
    if (o.bits == 4) rewrite_int4_int8_output(rw, std::move(sites));
    if (o.bits == 8 && mode == QuantMode::dynamic) rewrite_dynamic_mixed(rw, std::move(sites));
    if (o.bits == 8 && mode == QuantMode::weight) rewrite_weight_only(rw, sites);
  }
  for (ir::Node& n : graph.nodes)
    for (ir::Attribute& a : n.attributes) {
      if (a.g) rewrite_graph(rw, *a.g, mode, filter, found);
      for (ir::Graph& sub : a.graphs) rewrite_graph(rw, sub, mode, filter, found);
    }
}

}  // namespace

PassResult quantize_weights(ir::Model& model, const QuantizeOptions& options, const ProgressFn& progress) {
  options.validate();
  const QuantMode mode = options.effective_mode(false);
  if (mode == QuantMode::static_) throw_usage("--mode static needs calibration data (--calib)");
  NameFilter filter(options.exclude);

  PassResult cleaned = cleanup(model);
  if (options.bits == 8 && mode == QuantMode::dynamic && model.opset("") < kOpsetDynamic) {
    int64_t from = raise_opset(model, kOpsetDynamic);
    cleaned.warnings.push_back(fmt::format("raised the model from opset {} to {} for DynamicQuantizeLinear", from, kOpsetDynamic));
  }
  std::string already = quantized_ops_summary(model.graph);
  if (options.bits == 16 && !already.empty())
    throw_unsupported("the model is already quantized ({}); float16 conversion needs a float model", already);

  Rewriter rw(model, options, progress);
  if (options.bits == 16) {
    rewrite_fp16(rw);
  } else {
    size_t found = 0;
    rewrite_graph(rw, model.graph, mode, filter, found);
    rw.complete();
    if (found == 0 && !already.empty())
      throw_unsupported("the model is already quantized ({}); no float weights are left for {}", already,
                        mode_name(mode, options.bits));
    if (found == 0) rw.result.warnings.push_back(fmt::format("no weights to quantize for {}", mode_name(mode, options.bits)));
    if (found > 0 && !already.empty())
      rw.result.warnings.push_back(
          fmt::format("the model already holds quantized ops ({}); only the weights still in float were quantized", already));
  }
  rw.result.extra["cleanup"] = cleaned.extra["cleanup"];
  rw.result.warnings.insert(rw.result.warnings.begin(), cleaned.warnings.begin(), cleaned.warnings.end());
  return std::move(rw.result);
}

}  // namespace mcompress::passes
