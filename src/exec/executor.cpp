#include "mcompress/exec/executor.h"

#include <algorithm>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "kernels.h"
#include "mcompress/exec/op.h"
#include "mcompress/ir/uses.h"
#include "mcompress/ir/weights.h"
#include "mcompress/support/error.h"

namespace mcompress::exec {
namespace {

// Values visible while a graph runs: its own (owned or borrowed) and, through `parent`, the
// enclosing graphs'.
struct Scope {
  const Scope* parent = nullptr;
  std::unordered_map<std::string, const Tensor*> borrowed;         // feeds, subgraph inputs
  std::unordered_map<std::string, Tensor> owned;                   // computed values
  const std::unordered_map<std::string, const Tensor*>* weights = nullptr;  // the graph's plan's

  // Feeds come before weights, so a feed overrides an initializer-backed input.
  const Tensor* find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent) {
      if (auto it = s->owned.find(name); it != s->owned.end()) return &it->second;
      if (auto it = s->borrowed.find(name); it != s->borrowed.end()) return it->second;
      if (!s->weights) continue;
      if (auto it = s->weights->find(name); it != s->weights->end()) return it->second;
    }
    return nullptr;
  }
};

struct Step {
  const ir::Node* node;
  const OpDef* op;
  int64_t opset;
  std::vector<std::string> reads;  // inputs and subgraph outer reads, for freeing
  // The node this step absorbs when no observer runs: a Relu that is a Conv's only reader, or an
  // Add of a constant bias vector that is a MatMul's only reader. The step then applies it as it
  // stores and writes its output; the absorbed step is skipped.
  const ir::Node* fused = nullptr;
  const Tensor* fused_bias = nullptr;  // the Add's bias (MatMul only)
  bool fused_away = false;
};

bool is_op(const ir::Node& n, std::string_view op_type) { return n.op_type == op_type && n.is_default_domain(); }

struct Plan {
  std::vector<Step> steps;
  std::unordered_map<std::string, int> uses;  // reads within this graph; graph outputs pinned
  std::unordered_map<std::string, const Tensor*> weights;
  std::vector<Tensor> constant_storage;  // Constant forms computed once (value_float, ...)
  std::unordered_set<std::string> inputs;  // graph inputs: a feed may override a weight of the name
};

bool is_constant_node(const ir::Node& n) { return n.op_type == "Constant" && n.is_default_domain(); }

// Constant nodes are weights: their tensors are used in place, not copied on every run.
std::optional<Tensor> constant_value(const ir::Node& n) {
  for (const auto& a : n.attributes) {
    if (a.name == "value_float") return Tensor::from_values<float>(DType::f32, {}, std::span<const float>(&a.f, 1));
    if (a.name == "value_int") return Tensor::from_values<int64_t>(DType::i64, {}, std::span<const int64_t>(&a.i, 1));
    if (a.name == "value_floats")
      return Tensor::from_values<float>(DType::f32, {static_cast<int64_t>(a.floats.size())}, a.floats);
    if (a.name == "value_ints")
      return Tensor::from_values<int64_t>(DType::i64, {static_cast<int64_t>(a.ints.size())}, a.ints);
    if (a.name == "value_string") return Tensor::from_strings({}, {a.s});
    if (a.name == "value_strings") return Tensor::from_strings({static_cast<int64_t>(a.strings.size())}, a.strings);
  }
  return std::nullopt;
}

// The float16 / bfloat16 inputs of an op without a half kernel, widened to float32 into `widened`
// (the kernel's own: it may take them over). Returns the half type its float32 outputs go back
// to; undefined when no input was half.
DType widen_half_inputs(std::vector<const Tensor*>& inputs, std::vector<Tensor*>& dying, std::vector<Tensor>& widened,
                        ThreadPool& pool) {
  auto half_input = [](const Tensor* t) { return t && is_half(t->dtype()); };
  auto first = std::find_if(inputs.begin(), inputs.end(), half_input);
  if (first == inputs.end()) return DType::undefined;
  DType half = (*first)->dtype();
  widened.resize(inputs.size());  // no reallocation after: `dying` points into it
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!half_input(inputs[i])) continue;
    widened[i] = half_to_float(*inputs[i], pool);
    inputs[i] = &widened[i];
    dying[i] = &widened[i];
  }
  return half;
}

}  // namespace

struct Executor::Impl {
  const ir::Model& model;
  std::unordered_map<const ir::Graph*, Plan> plans;

  explicit Impl(const ir::Model& m) : model(m) {}

  int64_t opset_of(const ir::Node& n) const {
    int64_t v = model.opset(n.is_default_domain() ? "" : n.domain);
    return v > 0 ? v : 1;
  }

  void prepare(const ir::Graph& g) {
    Plan& plan = plans[&g];
    // Pointers into constant_storage are kept: it must never reallocate.
    plan.constant_storage.reserve(g.nodes.size() + g.sparse_initializers.size());
    for (const auto& t : g.initializers) plan.weights[t.name] = &t.tensor;
    // Sparse initializers run as the dense tensors they stand for, expanded once.
    for (const auto& s : g.sparse_initializers) {
      plan.constant_storage.push_back(ir::densify(s));
      plan.weights[s.values.name] = &plan.constant_storage.back();
    }
    for (const auto& v : g.inputs) plan.inputs.insert(v.name);
    std::unordered_map<std::string, size_t> producer;
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& o : g.nodes[i].outputs) producer[o] = i;

    std::vector<std::vector<std::string>> reads(g.nodes.size());
    std::vector<std::vector<size_t>> consumers(g.nodes.size());
    std::vector<int> indegree(g.nodes.size(), 0);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const ir::Node& n = g.nodes[i];
      reads[i] = ir::node_reads(n);
      for (const auto& name : reads[i]) {
        ++plan.uses[name];
        if (auto it = producer.find(name); it != producer.end()) {
          consumers[it->second].push_back(i);
          ++indegree[i];
        }
      }
    }
    for (const auto& o : g.outputs) plan.uses[o.name] += 1 << 20;  // never freed

    // Topological order, keeping file order among ready nodes.
    std::priority_queue<size_t, std::vector<size_t>, std::greater<>> ready;
    for (size_t i = 0; i < g.nodes.size(); ++i)
      if (indegree[i] == 0) ready.push(i);
    while (!ready.empty()) {
      size_t i = ready.top();
      ready.pop();
      const ir::Node& n = g.nodes[i];
      for (size_t c : consumers[i])
        if (--indegree[c] == 0) ready.push(c);
      if (is_constant_node(n) && n.outputs.size() == 1) {
        if (const ir::Attribute* v = n.attr("value"); v && v->type == ir::AttrType::tensor) {
          plan.weights[n.outputs[0]] = &v->t.tensor;
          continue;
        }
        if (auto t = constant_value(n)) {
          plan.constant_storage.push_back(std::move(*t));
          plan.weights[n.outputs[0]] = &plan.constant_storage.back();
          continue;
        }
      }
      const OpDef* op = find_op(n.is_default_domain() ? "" : n.domain, n.op_type);
      if (!op)
        throw_unsupported("node {}: operator {}{} is not supported by mcompress's executor", n.label(),
                          n.is_default_domain() ? "" : n.domain + ".", n.op_type);
      plan.steps.push_back({&n, op, opset_of(n), reads[i]});
      for (const auto& a : n.attributes) {
        if (a.g) prepare(*a.g);
        for (const auto& sub : a.graphs) prepare(sub);
      }
    }
    fuse_epilogues(plan);
  }

  const Tensor* weight(const Plan& plan, const std::string& name) const {
    auto it = plan.weights.find(name);
    return it == plan.weights.end() || plan.inputs.count(name) ? nullptr : it->second;
  }

  // The bias of `add` when it adds a constant float vector to the output of `matmul`, whose B is a
  // constant float matrix with as many columns: a per-column bias of the product.
  const Tensor* matmul_bias(const Plan& plan, const ir::Node& matmul, const ir::Node& add) const {
    if (!is_op(matmul, "MatMul") || !is_op(add, "Add") || add.inputs.size() != 2 || matmul.inputs.size() != 2)
      return nullptr;
    const std::string& other = add.inputs[0] == matmul.outputs[0] ? add.inputs[1] : add.inputs[0];
    const Tensor* bias = weight(plan, other);
    const Tensor* b = weight(plan, matmul.inputs[1]);
    if (!bias || !b || bias->dtype() != DType::f32 || b->dtype() != DType::f32) return nullptr;
    if (bias->rank() != 1 || b->rank() < 2 || bias->shape()[0] != b->shape().back()) return nullptr;
    return bias;
  }

  void fuse_epilogues(Plan& plan) const {
    std::unordered_map<std::string, size_t> step_of_output;
    for (size_t i = 0; i < plan.steps.size(); ++i)
      for (const auto& o : plan.steps[i].node->outputs) step_of_output[o] = i;
    for (Step& next : plan.steps) {
      const ir::Node& r = *next.node;
      if (r.inputs.empty() || r.outputs.size() != 1) continue;
      for (const std::string& input : r.inputs) {
        auto it = step_of_output.find(input);
        if (it == step_of_output.end()) continue;
        Step& producer = plan.steps[it->second];
        const ir::Node& p = *producer.node;
        bool only_reader = plan.uses[input] == 1 && p.outputs.size() == 1 && !producer.fused;
        if (!only_reader || std::count(r.inputs.begin(), r.inputs.end(), input) != 1) continue;
        bool relu = is_op(p, "Conv") && is_op(r, "Relu") && r.inputs.size() == 1;
        const Tensor* bias = matmul_bias(plan, p, r);
        if (!relu && !bias) continue;
        producer.fused = &r;
        producer.fused_bias = bias;
        next.fused_away = true;
        break;
      }
    }
  }

  std::vector<Tensor> run_graph(const ir::Graph& g, Scope& scope, ThreadPool& pool, Observer* observer) {
    Plan& plan = plans.at(&g);
    scope.weights = &plan.weights;
    std::unordered_map<std::string, int> remaining = plan.uses;
    SubgraphRunner runner = [&](const ir::Graph& sub, std::vector<const Tensor*> inputs) {
      Scope inner;
      inner.parent = &scope;
      if (inputs.size() > sub.inputs.size())
        throw_bad_input("subgraph '{}' takes {} inputs, got {}", sub.name, sub.inputs.size(), inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i)
        if (inputs[i]) inner.borrowed[sub.inputs[i].name] = inputs[i];
      return run_graph(sub, inner, pool, nullptr);
    };
    bool fuse = observer == nullptr;
    for (const Step& step : plan.steps) {
      if (fuse && step.fused_away) continue;
      const ir::Node& n = *step.node;
      std::vector<const Tensor*> inputs;
      inputs.reserve(n.inputs.size());
      for (const auto& name : n.inputs) {
        if (name.empty()) {
          inputs.push_back(nullptr);
          continue;
        }
        const Tensor* t = scope.find(name);
        if (!t) throw_bad_input("node {}: input '{}' has no value (a graph input not fed?)", n.label(), name);
        inputs.push_back(t);
      }
      // Inputs this node reads last (computed here, read once by it) can be taken over.
      std::vector<Tensor*> dying(n.inputs.size(), nullptr);
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const std::string& name = n.inputs[i];
        if (name.empty() || std::count(n.inputs.begin(), n.inputs.end(), name) != 1) continue;
        auto left = remaining.find(name);
        auto owned = scope.owned.find(name);
        if (left != remaining.end() && left->second == 1 && owned != scope.owned.end()) dying[i] = &owned->second;
      }
      std::vector<Tensor> widened;
      DType half = step.op->half_native ? DType::undefined : widen_half_inputs(inputs, dying, widened, pool);
      std::vector<Tensor> outputs(n.outputs.size());
      OpContext ctx(n, step.opset, std::move(inputs), outputs, pool, runner, std::move(dying));
      bool fused = fuse && step.fused;
      ctx.set_fused_relu(fused && !step.fused_bias);
      ctx.set_fused_bias(fused ? step.fused_bias : nullptr);
      step.op->forward(ctx);
      if (half != DType::undefined)
        for (Tensor& o : outputs)
          if (o.dtype() == DType::f32) o = float_to_half(o, half, pool);
      for (size_t i = 0; i < n.outputs.size(); ++i) {
        if (n.outputs[i].empty()) continue;
        if (outputs[i].empty() && n.op_type != "Optional")
          throw Error(ExitCode::internal, "node " + n.label() + " produced no value for output '" + n.outputs[i] + "'");
        const std::string& name = fused ? step.fused->outputs[0] : n.outputs[i];
        auto& slot = scope.owned[name] = std::move(outputs[i]);
        if (observer) observer->on_value(n.outputs[i], slot, n);
      }
      for (const auto& name : step.reads) {
        auto it = remaining.find(name);
        if (it != remaining.end() && --it->second == 0) scope.owned.erase(name);
      }
      // Values nobody reads (unused optional outputs) go at once.
      for (const auto& o : n.outputs)
        if (!o.empty() && !remaining.count(o)) scope.owned.erase(o);
    }
    std::vector<Tensor> results;
    results.reserve(g.outputs.size());
    for (const auto& o : g.outputs) {
      // The scope ends here: computed outputs move out, unless the graph lists the name twice.
      auto it = scope.owned.find(o.name);
      bool listed_once = std::count_if(g.outputs.begin(), g.outputs.end(),
                                       [&](const ir::ValueInfo& v) { return v.name == o.name; }) == 1;
      if (it != scope.owned.end() && listed_once) {
        results.push_back(std::move(it->second));
        continue;
      }
      const Tensor* t = scope.find(o.name);
      if (!t) throw_bad_input("graph output '{}' has no value", o.name);
      results.push_back(*t);
    }
    return results;
  }
};

Executor::Executor(const ir::Model& model, ExecOptions options)
    : model_(model), pool_(options.threads), impl_(std::make_unique<Impl>(model)) {
  std::unordered_set<std::string> initializers;
  for (const auto& t : model.graph.initializers) initializers.insert(t.name);
  for (const auto& s : model.graph.sparse_initializers) initializers.insert(s.values.name);
  for (const auto& v : model.graph.inputs)
    if (!initializers.count(v.name)) inputs_.push_back(v);
  impl_->prepare(model.graph);
}

Executor::~Executor() = default;

const std::vector<ir::ValueInfo>& Executor::outputs() const { return model_.graph.outputs; }

namespace {

void check_feed(const ir::ValueInfo& info, const Tensor& t) {
  if (!info.type || !info.type->is_tensor()) return;
  if (info.type->elem != DType::undefined && info.type->elem != t.dtype())
    throw_bad_input("input '{}' expects {}, got {}", info.name, dtype_name(info.type->elem), dtype_name(t.dtype()));
  if (!info.type->shape) return;
  const auto& dims = *info.type->shape;
  if (dims.size() != t.shape().size())
    throw_bad_input("input '{}' expects rank {}, got shape {}", info.name, dims.size(), shape_string(t.shape()));
  for (size_t i = 0; i < dims.size(); ++i)
    if (dims[i].value && *dims[i].value != t.shape()[i])
      throw_bad_input("input '{}' expects dim {} = {}, got shape {}", info.name, i, *dims[i].value,
                      shape_string(t.shape()));
}

}  // namespace

std::map<std::string, Tensor> Executor::run(const std::map<std::string, const Tensor*>& feeds, Observer* observer) {
  Scope scope;
  for (const auto& info : inputs_) {
    auto it = feeds.find(info.name);
    if (it == feeds.end() || !it->second) throw_bad_input("no data for model input '{}'", info.name);
    check_feed(info, *it->second);
    scope.borrowed[info.name] = it->second;
  }
  for (const auto& [name, t] : feeds) {
    bool known = std::any_of(model_.graph.inputs.begin(), model_.graph.inputs.end(),
                             [&](const ir::ValueInfo& v) { return v.name == name; });
    if (!known) throw_bad_input("the model has no input '{}'", name);
    scope.borrowed[name] = t;  // also overrides initializer-backed inputs
  }
  std::vector<Tensor> results = impl_->run_graph(model_.graph, scope, pool_, observer);
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < results.size(); ++i) out[model_.graph.outputs[i].name] = std::move(results[i]);
  return out;
}

}  // namespace mcompress::exec
