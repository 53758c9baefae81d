#include "mcompress/passes/cleanup.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include "graph_edit.h"
#include "mcompress/ir/weights.h"
#include "mcompress/onnx/model_io.h"

namespace mcompress::passes {
namespace {

ir::NamedTensor* find_initializer(ir::Graph& g, const std::string& name) {
  for (ir::NamedTensor& t : g.initializers)
    if (t.name == name) return &t;
  return nullptr;
}

// A float32 initializer that the model cannot override (not also a graph input).
const Tensor* constant_f32(ir::Graph& g, const std::string& name) {
  if (name.empty() || edit::is_graph_input(g, name)) return nullptr;
  ir::NamedTensor* t = find_initializer(g, name);
  if (!t || t->tensor.dtype() != DType::f32) return nullptr;
  return &t->tensor;
}

// The BN's folded form: per channel multiplier s and offset t (Z = Y * s + t).
struct BnAffine {
  std::vector<float> scale, shift;
};

bool is_foldable_batchnorm(const ir::Node& bn) {
  return bn.op_type == "BatchNormalization" && bn.is_default_domain() && bn.inputs.size() == 5 &&
         bn.outputs.size() == 1 && bn.attr_int("training_mode", 0) == 0;
}

std::optional<BnAffine> bn_affine(ir::Graph& g, const ir::Node& bn) {
  const Tensor* gamma = constant_f32(g, bn.inputs[1]);
  const Tensor* beta = constant_f32(g, bn.inputs[2]);
  const Tensor* mean = constant_f32(g, bn.inputs[3]);
  const Tensor* var = constant_f32(g, bn.inputs[4]);
  if (!gamma || !beta || !mean || !var) return std::nullopt;
  int64_t c = gamma->numel();
  if (gamma->rank() != 1 || beta->numel() != c || mean->numel() != c || var->numel() != c) return std::nullopt;
  const ir::Attribute* eps_attr = bn.attr("epsilon");
  double eps = eps_attr ? eps_attr->f : 1e-5;
  BnAffine a;
  for (int64_t i = 0; i < c; ++i) {
    double s = gamma->data<float>()[i] / std::sqrt(static_cast<double>(var->data<float>()[i]) + eps);
    a.scale.push_back(static_cast<float>(s));
    a.shift.push_back(static_cast<float>(beta->data<float>()[i] - mean->data<float>()[i] * s));
  }
  return a;
}

// Adds a new initializer (the original may be shared) and returns its name.
std::string add_initializer(ir::Graph& g, const std::string& base, Tensor t) {
  std::string name = edit::Namer(g).fresh(base);
  g.initializers.push_back(ir::NamedTensor{name, std::move(t), {}, false, {}});
  return name;
}

// W scaled along output channels: `channel_axis` 0 for Conv [O, I, k...] and Gemm transB [N, K],
// 1 for MatMul / Gemm [K, N].
Tensor scale_channels(const Tensor& w, const std::vector<float>& s, int channel_axis) {
  Tensor out = w;
  float* x = out.data<float>();
  int64_t c = static_cast<int64_t>(s.size());
  if (channel_axis == 0) {
    int64_t inner = w.numel() / c;
    for (int64_t o = 0; o < c; ++o)
      for (int64_t i = 0; i < inner; ++i) x[o * inner + i] *= s[o];
    return out;
  }
  int64_t rows = w.numel() / c;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < c; ++o) x[r * c + o] *= s[o];
  return out;
}

// B' = B * s + t, with B absent (zeros), one value, or one per channel. nullopt otherwise.
std::optional<Tensor> fold_bias(const Tensor* b, float b_mult, const BnAffine& a) {
  int64_t c = static_cast<int64_t>(a.scale.size());
  if (b && b->numel() != c && b->numel() != 1) return std::nullopt;
  std::vector<float> v(static_cast<size_t>(c));
  for (int64_t i = 0; i < c; ++i) {
    float bi = b ? b->data<float>()[b->numel() == 1 ? 0 : i] * b_mult : 0.0f;
    v[i] = bi * a.scale[i] + a.shift[i];
  }
  return Tensor::from_values<float>(DType::f32, {c}, std::span<const float>(v));
}

struct Uses {
  std::map<std::string, int> reads;
  const ir::Graph* graph;
  // Read exactly once, by the node that follows, and not a graph output.
  bool only_feeds_next(const std::string& name) const {
    auto it = reads.find(name);
    return it != reads.end() && it->second == 1 && !edit::is_graph_output(*graph, name);
  }
};

int64_t producer_index(const ir::Graph& g, const std::string& value) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs)
      if (o == value) return static_cast<int64_t>(i);
  return -1;
}

// Conv(X, W, B?) -> BN. Returns whether it rewrote.
bool fold_into_conv(ir::Graph& g, ir::Node& conv, const ir::Node& bn, const BnAffine& a) {
  const Tensor* w = constant_f32(g, conv.inputs.size() > 1 ? conv.inputs[1] : "");
  if (!w || w->rank() < 3 || w->shape()[0] != static_cast<int64_t>(a.scale.size())) return false;
  const Tensor* b = conv.inputs.size() > 2 && !conv.inputs[2].empty() ? constant_f32(g, conv.inputs[2]) : nullptr;
  if (conv.inputs.size() > 2 && !conv.inputs[2].empty() && !b) return false;
  std::optional<Tensor> bias = fold_bias(b, 1.0f, a);
  if (!bias || (b && b->numel() != bias->numel())) return false;
  Tensor w2 = scale_channels(*w, a.scale, 0);
  std::string w_name = add_initializer(g, conv.inputs[1] + "_bnfold", std::move(w2));
  std::string b_name = add_initializer(g, (b ? conv.inputs[2] : conv.inputs[1]) + "_bnfold_bias", std::move(*bias));
  conv.inputs.resize(3);
  conv.inputs[1] = w_name;
  conv.inputs[2] = b_name;
  conv.outputs[0] = bn.outputs[0];
  return true;
}

// Gemm(A, W, C?) -> BN on [M, N]: the BN's channels are Gemm's N.
bool fold_into_gemm(ir::Graph& g, ir::Node& gemm, const ir::Node& bn, const BnAffine& a) {
  const Tensor* w = constant_f32(g, gemm.inputs.size() > 1 ? gemm.inputs[1] : "");
  int64_t n = static_cast<int64_t>(a.scale.size());
  bool trans_b = gemm.attr_int("transB", 0) != 0;
  if (!w || w->rank() != 2 || w->shape()[trans_b ? 0 : 1] != n) return false;
  bool has_c = gemm.inputs.size() > 2 && !gemm.inputs[2].empty();
  const Tensor* c = has_c ? constant_f32(g, gemm.inputs[2]) : nullptr;
  if (has_c && !c) return false;
  const ir::Attribute* beta_attr = gemm.attr("beta");
  std::optional<Tensor> bias = fold_bias(c, beta_attr ? beta_attr->f : 1.0f, a);
  if (!bias) return false;
  std::string w_name = add_initializer(g, gemm.inputs[1] + "_bnfold", scale_channels(*w, a.scale, trans_b ? 0 : 1));
  std::string c_name = add_initializer(g, (has_c ? gemm.inputs[2] : gemm.inputs[1]) + "_bnfold_bias", std::move(*bias));
  gemm.inputs.resize(3);
  gemm.inputs[1] = w_name;
  gemm.inputs[2] = c_name;
  if (ir::Attribute* beta = gemm.attr("beta")) beta->f = 1.0f;
  gemm.outputs[0] = bn.outputs[0];
  return true;
}

// MatMul(X, W) [-> Add(., b)] -> BN with a 2-D MatMul output (so the BN's channel is W's N).
bool fold_into_matmul(ir::Graph& g, ir::Node& matmul, ir::Node* add, ir::Node& bn, const BnAffine& a,
                      const std::map<std::string, onnxio::ValueShape>& shapes) {
  const Tensor* w = constant_f32(g, matmul.inputs.size() > 1 ? matmul.inputs[1] : "");
  int64_t n = static_cast<int64_t>(a.scale.size());
  if (!w || w->rank() != 2 || w->shape()[1] != n) return false;
  auto it = shapes.find(matmul.outputs[0]);
  if (it == shapes.end() || it->second.dims.size() != 2) return false;
  const Tensor* b = nullptr;
  if (add) {
    int bias_slot = add->inputs[0] == matmul.outputs[0] ? 1 : 0;
    b = constant_f32(g, add->inputs[bias_slot]);
    if (!b || b->numel() != n || b->rank() > 2) return false;
  }
  std::optional<Tensor> bias = fold_bias(b, 1.0f, a);
  if (!bias) return false;
  std::string w_name = add_initializer(g, matmul.inputs[1] + "_bnfold", scale_channels(*w, a.scale, 1));
  std::string b_name = add_initializer(g, matmul.inputs[1] + "_bnfold_bias", std::move(*bias));
  matmul.inputs[1] = w_name;
  if (add) {
    add->inputs = {matmul.outputs[0], b_name};
    add->outputs[0] = bn.outputs[0];
    return true;
  }
  // No Add to reuse: the BN node becomes the Add.
  bn.op_type = "Add";
  bn.domain.clear();
  bn.attributes.clear();
  bn.inputs = {matmul.outputs[0], b_name};
  return true;
}

std::map<std::string, onnxio::ValueShape> shapes_or_empty(const ir::Model& model) {
  try {
    std::vector<std::string> warnings;
    return onnxio::infer_shapes(model, {}, &warnings);
  } catch (const std::exception&) {
    return {};  // no shapes: MatMul -> BN is left alone
  }
}

// value_info entries of values no longer in the graph (renamed by a fold, or dead).
void prune_value_info(ir::Graph& g) {
  std::set<std::string> defined;
  for (const ir::Node& n : g.nodes) defined.insert(n.outputs.begin(), n.outputs.end());
  std::erase_if(g.value_info, [&](const ir::ValueInfo& v) { return !defined.count(v.name); });
}

}  // namespace

int64_t move_constants(ir::Model& model) {
  return static_cast<int64_t>(ir::constants_to_initializers(model.graph, model.ir_version < 4).size());
}

int64_t fold_batchnorm(ir::Model& model) {
  ir::Graph& g = model.graph;
  std::optional<std::map<std::string, onnxio::ValueShape>> shapes;
  int64_t folded = 0;
  std::vector<bool> drop(g.nodes.size(), false);
  // A fold renames weights and moves an output name from one node to another, but every
  // activation keeps its readers (dropped BNs stay in g.nodes until the end): count them once.
  const Uses uses{edit::read_counts(g), &g};
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    ir::Node& bn = g.nodes[i];
    if (!is_foldable_batchnorm(bn)) continue;
    if (!uses.only_feeds_next(bn.inputs[0])) continue;
    int64_t p = producer_index(g, bn.inputs[0]);
    if (p < 0 || drop[p]) continue;
    std::optional<BnAffine> affine = bn_affine(g, bn);
    if (!affine) continue;
    ir::Node& prod = g.nodes[p];
    if (!prod.is_default_domain() || prod.outputs.size() != 1) continue;
    bool done = false;
    if (prod.op_type == "Conv") done = fold_into_conv(g, prod, bn, *affine);
    if (prod.op_type == "Gemm") done = fold_into_gemm(g, prod, bn, *affine);
    if (prod.op_type == "MatMul" || prod.op_type == "Add") {
      if (!shapes) shapes = shapes_or_empty(model);
      ir::Node* add = nullptr;
      ir::Node* matmul = &prod;
      if (prod.op_type == "Add") {
        add = &prod;
        int64_t m = -1;
        for (const std::string& in : prod.inputs)
          if (int64_t k = producer_index(g, in); k >= 0 && g.nodes[k].op_type == "MatMul" && uses.only_feeds_next(in)) m = k;
        if (m < 0) continue;
        matmul = &g.nodes[m];
      }
      done = fold_into_matmul(g, *matmul, add, bn, *affine, *shapes);
      if (done && !add) {
        ++folded;  // the BN node itself became the Add
        continue;
      }
    }
    if (!done) continue;
    drop[i] = true;
    ++folded;
  }
  std::vector<ir::Node> kept;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!drop[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
  return folded;
}

std::pair<int64_t, int64_t> remove_dead(ir::Graph& g) {
  int64_t nodes_removed = 0, inits_removed = 0;
  while (true) {
    std::map<std::string, int> reads = edit::read_counts(g);
    for (const ir::ValueInfo& out : g.outputs) ++reads[out.name];
    std::vector<ir::Node> kept;
    for (ir::Node& n : g.nodes) {
      bool live = std::any_of(n.outputs.begin(), n.outputs.end(),
                              [&](const std::string& o) { return !o.empty() && reads.count(o); });
      if (live) {
        kept.push_back(std::move(n));
        continue;
      }
      ++nodes_removed;
    }
    bool changed = kept.size() != g.nodes.size();
    g.nodes = std::move(kept);
    if (changed) continue;
    std::vector<ir::NamedTensor> inits;
    for (ir::NamedTensor& t : g.initializers) {
      if (reads.count(t.name) || edit::is_graph_input(g, t.name)) {
        inits.push_back(std::move(t));
        continue;
      }
      ++inits_removed;
    }
    g.initializers = std::move(inits);
    prune_value_info(g);
    return {nodes_removed, inits_removed};
  }
}

PassResult cleanup(ir::Model& model, CleanupStats* stats) {
  CleanupStats s;
  s.constants_moved = move_constants(model);
  s.batchnorms_folded = fold_batchnorm(model);
  auto [nodes, inits] = remove_dead(model.graph);
  s.nodes_removed = nodes;
  s.initializers_removed = inits;
  if (stats) *stats = s;
  PassResult r;
  r.extra["cleanup"] = {{"constants_moved", s.constants_moved},
                        {"batchnorms_folded", s.batchnorms_folded},
                        {"nodes_removed", s.nodes_removed},
                        {"initializers_removed", s.initializers_removed}};
  return r;
}

}  // namespace mcompress::passes
