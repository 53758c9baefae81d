// float16: weights and compute in float16, graph inputs and outputs stay float32.
//
// Before: a float32 model.
// After:  every float32 initializer is float16; Cast(to=float) becomes
//         Cast(to=float16) and ConstantOfShape's float value float16, so every computed float
//         tensor is float16; Casts at the graph inputs (float32 -> float16) and outputs
//         (float16 -> float32) keep the model's interface.
// Exceptions (float32 kept, with shared Casts where float32 and float16 meet): inputs that ONNX
//   types as float32 whatever the data type (Resize roi / scales, Upsample scales), ops without
//   float16 in their type constraints (kFloat32Ops), ops of other domains, and values computed
//   from shapes and constants only (attention scales from Shape -> Cast -> Sqrt: ONNX Runtime
//   1.30 crashes on its inserted casts around them in float16).
// Math: round to nearest even (quant::to_float16); |w| above 65504 becomes inf, which the report
//   shows as the tensor's error.
// Models with If/Loop/Scan subgraphs get float16 storage with float32 compute instead (see
//   convert_storage below): the values a branch reads from outside and returns (often declared
//   with no type) would otherwise need Casts on every graph boundary.
// Known gaps: RandomNormal/EyeLike-style dtype attributes are left as they are.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "mcompress/onnx/model_io.h"
#include "mcompress/support/error.h"
#include "quantize_rewriter.h"

namespace mcompress::passes {
namespace {

constexpr int64_t kFloat = static_cast<int64_t>(DType::f32);
constexpr int64_t kHalf = static_cast<int64_t>(DType::f16);

// Ops that run in float32 between Casts: no float16 in their ONNX type constraints (quantize ops
// too, but models holding them are refused first).
const std::set<std::string_view> kFloat32Ops = {"Range", "NonMaxSuppression"};

// The nodes of Erf-based GELU, x * 0.5 * (1 + Erf(x / sqrt 2)): ONNX Runtime 1.30 crashes
// (SIGSEGV, optimization level "all") on the float16 Gelu it fuses from them, so they stay float32.
std::set<const ir::Node*> gelu_nodes(const ir::Graph& g) {
  std::map<std::string, std::vector<const ir::Node*>> readers;
  std::map<std::string, const ir::Node*> producer;
  for (const ir::Node& n : g.nodes) {
    for (const auto& in : n.inputs) readers[in].push_back(&n);
    for (const auto& o : n.outputs) producer[o] = &n;
  }
  auto arithmetic = [](const ir::Node* n) { return n->op_type == "Add" || n->op_type == "Mul" || n->op_type == "Div"; };
  std::set<const ir::Node*> keep;
  for (const ir::Node& erf : g.nodes) {
    if (erf.op_type != "Erf" || erf.inputs.empty()) continue;
    keep.insert(&erf);
    if (auto it = producer.find(erf.inputs[0]); it != producer.end() && arithmetic(it->second)) keep.insert(it->second);
    std::vector<const ir::Node*> frontier = {&erf};
    for (int depth = 0; depth < 3; ++depth) {
      std::vector<const ir::Node*> next;
      for (const ir::Node* n : frontier)
        for (const auto& o : n->outputs)
          for (const ir::Node* r : readers[o])
            if (arithmetic(r) && keep.insert(r).second) next.push_back(r);
      frontier = std::move(next);
    }
  }
  return keep;
}

// Inputs typed float32 whatever the op's data type.
struct Float32Input {
  std::string_view op_type;
  size_t slot;
};
constexpr Float32Input kFloat32Inputs[] = {{"Resize", 1}, {"Resize", 2}, {"Upsample", 1}};

bool is_float32_input(const ir::Node& n, size_t slot) {
  for (const Float32Input& f : kFloat32Inputs)
    if (f.op_type == n.op_type && f.slot == slot && n.is_default_domain()) return true;
  return false;
}

bool runs_in_float32(const ir::Node& n) { return !n.is_default_domain() || kFloat32Ops.count(n.op_type) > 0; }

double half_error(const Tensor& w, const Tensor& h) {
  double se = 0, sn = 0;
  for (int64_t i = 0; i < w.numel(); ++i) {
    double x = w.data<float>()[i];
    double d = x - quant::half_to_float_ref(h.data<uint16_t>()[i]);
    se += d * d;
    sn += x * x;
  }
  if (sn == 0) return 0;
  return std::isfinite(se) ? std::sqrt(se / sn) : INFINITY;
}

// Ops that read no float data and take any type.
const std::set<std::string_view> kTypeAgnosticOps = {"Shape", "Size", "Cast"};

bool is_shape_source(const ir::Node& n) { return n.is_default_domain() && (n.op_type == "Shape" || n.op_type == "Size"); }

class Fp16Rewriter {
 public:
  explicit Fp16Rewriter(Rewriter& rw) : rw_(rw) {}

  void run() {
    std::vector<std::string> warnings;
    types_ = onnxio::infer_shapes(rw_.model, {}, &warnings);
    count_initializers(*rw_.g);  // models with subgraphs take convert_storage instead
    convert_main();
    rw_.finish();
  }

 private:
  void count_initializers(const ir::Graph& g) {
    for (const auto& t : g.initializers) rw_.total += t.tensor.dtype() == DType::f32;
  }

  bool was_float32(const std::string& value) const {
    if (float32_inits_.count(value)) return true;
    auto it = types_.find(value);
    return it != types_.end() && it->second.dtype == DType::f32;
  }

  ir::Node cast(const std::string& from, const std::string& to, int64_t dtype) {
    return edit::make_node("Cast", {from}, {to}, rw_.fresh(to + "_Cast"), {edit::int_attr("to", dtype)});
  }

  void convert_initializers(ir::Graph& g) {
    for (ir::NamedTensor& t : g.initializers) {
      if (t.tensor.dtype() != DType::f32) continue;
      float32_inits_.insert(t.name);
      Tensor h = quant::to_float16(t.tensor, &rw_.pool);
      rw_.report(t.name, "initializer", t.tensor, h.nbytes(), half_error(t.tensor, h), "f16", "convert_float16");
      t.tensor = std::move(h);
      t.typed_encoding = false;
    }
  }

  // `value` as float32 (kept) or float16 for the node about to be emitted; Casts are shared.
  std::string as_type(const std::string& value, bool want_float32, std::vector<ir::Node>& out) {
    bool is_float32 = float32_values_.count(value) > 0;
    if (is_float32 == want_float32) return value;
    auto key = std::make_pair(value, want_float32);
    auto it = casts_.find(key);
    if (it != casts_.end()) return it->second;
    std::string name = rw_.fresh(value + (want_float32 ? "_float32" : "_float16"));
    out.push_back(cast(value, name, want_float32 ? kFloat : kHalf));
    return casts_[key] = name;
  }

  // Values that depend only on shapes and constants (shape arithmetic, ConstantOfShape...) stay
  // float32: exact, tiny, and folded by runtimes.
  bool shape_derived(const ir::Node& n, const std::set<std::string>& inits) const {
    if (is_shape_source(n)) return true;
    bool any = false;
    for (const std::string& in : n.inputs) {
      if (in.empty()) continue;
      if (derived_.count(in)) {
        any = true;
        continue;
      }
      if (!inits.count(in)) return false;
    }
    return any;
  }

  void convert_main() {
    ir::Graph& g = *rw_.g;
    std::set<std::string> inits;
    for (const auto& t : g.initializers) inits.insert(t.name);
    convert_initializers(g);
    for (const ir::ValueInfo& in : g.inputs)
      if (in.type && in.type->elem == DType::f32 && !inits.count(in.name)) float32_values_.insert(in.name);
    std::erase_if(g.value_info, [](const ir::ValueInfo& v) { return v.type && v.type->elem == DType::f32; });
    std::set<const ir::Node*> gelu = gelu_nodes(g);
    std::vector<ir::Node> out;
    for (ir::Node& n : g.nodes) {
      bool derived = shape_derived(n, inits);
      if (derived) derived_.insert(n.outputs.begin(), n.outputs.end());
      bool keep = derived || runs_in_float32(n) || gelu.count(&n);
      bool agnostic = n.is_default_domain() && kTypeAgnosticOps.count(n.op_type);
      if (!keep) convert_attributes(n);
      for (size_t s = 0; s < n.inputs.size(); ++s) {
        std::string& in = n.inputs[s];
        if (in.empty() || agnostic || !was_float32(in)) continue;
        in = as_type(in, keep || is_float32_input(n, s), out);
      }
      if (keep)
        for (const std::string& o : n.outputs)
          if (!o.empty() && was_float32(o)) float32_values_.insert(o);
      // A kept Cast to float stays float32; any other Cast's output type is its `to`.
      if (n.op_type == "Cast" && keep)
        for (const std::string& o : n.outputs) float32_values_.insert(o);
      out.push_back(std::move(n));
    }
    g.nodes = std::move(out);
    for (const ir::ValueInfo& o : g.outputs) {
      if (!o.type || o.type->elem != DType::f32 || float32_values_.count(o.name)) continue;
      std::string h = rw_.fresh(o.name + "_float16");
      for (ir::Node& n : g.nodes) {
        for (std::string& name : n.outputs)
          if (name == o.name) name = h;
        for (std::string& name : n.inputs)
          if (name == o.name) name = h;
      }
      g.nodes.push_back(cast(h, o.name, kFloat));
    }
  }

  static void convert_attributes(ir::Node& n) {
    if (!n.is_default_domain()) return;
    if (n.op_type == "Cast")
      if (ir::Attribute* to = n.attr("to"); to && to->i == kFloat) to->i = kHalf;
    if (n.op_type == "ConstantOfShape" || n.op_type == "Constant")
      if (ir::Attribute* v = n.attr("value"); v && v->type == ir::AttrType::tensor && v->t.tensor.dtype() == DType::f32)
        v->t.tensor = quant::to_float16(v->t.tensor);
  }

  Rewriter& rw_;
  std::map<std::string, onnxio::ValueShape> types_;
  std::set<std::string> float32_inits_;   // initializers that were float32 (now float16)
  std::set<std::string> float32_values_;  // values that are float32 in the output model
  std::set<std::string> derived_;         // values computed from shapes and constants only
  std::map<std::pair<std::string, bool>, std::string> casts_;
};

// Models with If / Loop / Scan: float16 storage, float32 compute. Every float32 initializer of
// 1 KiB or more, in any graph, is stored as float16 and cast back at the top of its graph:
//   W (f32)  ->  W_float16 (f16); W = Cast(W_float16, to=float)
// A branch's values and outputs stay float32, so the If / Loop interfaces need no Casts and the
// typeless branch outputs some exporters write stay consistent. ONNX Runtime folds the Casts at
// load time.
constexpr int64_t kStorageMinBytes = 1024;

void convert_storage(Rewriter& rw, ir::Graph& g) {
  std::vector<ir::Node> casts;
  for (ir::NamedTensor& t : g.initializers) {
    if (t.tensor.dtype() != DType::f32 || t.tensor.nbytes() < kStorageMinBytes || edit::is_graph_input(g, t.name)) continue;
    Tensor h = quant::to_float16(t.tensor, &rw.pool);
    rw.report(t.name, "initializer", t.tensor, h.nbytes(), half_error(t.tensor, h), "f16", "convert_float16");
    std::string stored = rw.fresh(t.name + "_float16");
    casts.push_back(edit::make_node("Cast", {stored}, {t.name}, rw.fresh(t.name + "_Cast"), {edit::int_attr("to", kFloat)}));
    t.name = stored;
    t.tensor = std::move(h);
    t.typed_encoding = false;
  }
  g.nodes.insert(g.nodes.begin(), std::make_move_iterator(casts.begin()), std::make_move_iterator(casts.end()));
  for (ir::Node& n : g.nodes)
    for (ir::Attribute& a : n.attributes) {
      if (a.g) convert_storage(rw, *a.g);
      for (ir::Graph& sub : a.graphs) convert_storage(rw, sub);
    }
}

void count_storage(Rewriter& rw, const ir::Graph& g) {
  for (const ir::NamedTensor& t : g.initializers)
    rw.total += t.tensor.dtype() == DType::f32 && t.tensor.nbytes() >= kStorageMinBytes;
}

}  // namespace

void rewrite_fp16(Rewriter& rw) {
  bool subgraphs = false;
  rw.g->for_each_subgraph([&](const ir::Graph&, const ir::Node&) { subgraphs = true; });
  if (!subgraphs) return Fp16Rewriter(rw).run();
  count_storage(rw, *rw.g);
  rw.g->for_each_subgraph([&](const ir::Graph& sub, const ir::Node&) { count_storage(rw, sub); });
  rw.result.warnings.push_back(
      "the model has If/Loop/Scan subgraphs: float16 storage only (weights cast back to float32 when the model loads, "
      "compute stays float32)");
  convert_storage(rw, *rw.g);
}

}  // namespace mcompress::passes
