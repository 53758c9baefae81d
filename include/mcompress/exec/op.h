#pragma once
// One row per operator: how to compute it (forward), and room for its gradient (backward, added
// with training). Kernels are looked up by (domain, op_type) and see the node through OpContext.
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mcompress/ir/graph.h"
#include "mcompress/support/thread_pool.h"
#include "mcompress/tensor/tensor.h"

namespace mcompress::exec {

// Runs a subgraph (If/Loop/Scan bodies) with the given graph inputs; outer-scope values are
// visible to it. Returns the subgraph's outputs in order.
using SubgraphRunner = std::function<std::vector<Tensor>(const ir::Graph&, std::vector<const Tensor*> inputs)>;

class OpContext {
 public:
  // `dying[i]`, when set, is input i's storage that nothing reads after this node: a kernel may
  // take it over (take_input) instead of allocating its output.
  OpContext(const ir::Node& node, int64_t opset, std::vector<const Tensor*> inputs, std::vector<Tensor>& outputs,
            ThreadPool& pool, const SubgraphRunner& subgraphs, std::vector<Tensor*> dying = {})
      : node_(node),
        opset_(opset),
        inputs_(std::move(inputs)),
        outputs_(outputs),
        pool_(pool),
        subgraphs_(subgraphs),
        dying_(std::move(dying)) {}

  const ir::Node& node() const { return node_; }
  int64_t opset() const { return opset_; }
  ThreadPool& pool() const { return pool_; }
  const SubgraphRunner& subgraphs() const { return subgraphs_; }

  size_t num_inputs() const { return inputs_.size(); }
  size_t num_outputs() const { return outputs_.size(); }
  // nullptr for an omitted optional input (or one past the end).
  const Tensor* input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  // A required input; throws a bad-input error naming the node when it is missing.
  const Tensor& in(size_t i) const;
  // Input i as a tensor of the kernel's own: moved out of the executor when this node is its last
  // reader, copied otherwise. For outputs that are the input's elements, updated in place.
  Tensor take_input(size_t i);
  // Whether take_input(i) moves (rather than copies).
  bool can_take_input(size_t i) const { return i < dying_.size() && dying_[i]; }
  bool has_output(size_t i) const { return i < outputs_.size() && !node_.outputs[i].empty(); }
  Tensor& out(size_t i) { return outputs_[i]; }

  int64_t attr_int(std::string_view name, int64_t fallback) const { return node_.attr_int(name, fallback); }
  float attr_float(std::string_view name, float fallback) const;
  std::vector<int64_t> attr_ints(std::string_view name) const { return node_.attr_ints(name); }
  std::vector<float> attr_floats(std::string_view name) const;
  std::string attr_string(std::string_view name, std::string fallback) const {
    return node_.attr_string(name, std::move(fallback));
  }
  bool has_attr(std::string_view name) const { return node_.attr(name) != nullptr; }

  // Set by the executor on a Conv whose output only a Relu reads: the kernel applies max(0, y).
  bool fused_relu() const { return fused_relu_; }
  void set_fused_relu(bool on) { fused_relu_ = on; }
  // Set by the executor on a MatMul whose output only an Add of this constant vector (one value
  // per column) reads: the kernel adds it.
  const Tensor* fused_bias() const { return fused_bias_; }
  void set_fused_bias(const Tensor* bias) { fused_bias_ = bias; }

  // Bad-input error that names the node: "node 'conv1' (Conv): ...".
  [[noreturn]] void fail(const std::string& message) const;
  [[noreturn]] void unsupported(const std::string& message) const;

 private:
  const ir::Node& node_;
  int64_t opset_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor>& outputs_;
  ThreadPool& pool_;
  const SubgraphRunner& subgraphs_;
  std::vector<Tensor*> dying_;
  bool fused_relu_ = false;
  const Tensor* fused_bias_ = nullptr;
};

using ForwardFn = void (*)(OpContext&);

struct OpDef {
  std::string_view domain;  // "" = ai.onnx
  std::string_view op_type;
  ForwardFn forward;
  // Runs on float16 / bfloat16 tensors as they are: the op moves, selects or casts whole elements
  // (Reshape, Concat, Gather, Where, Cast, control flow ...). Every other op sees float16 and
  // bfloat16 inputs widened to float32 by the executor, and its float32 outputs are rounded back
  // to the half type (to nearest even): what ONNX Runtime's CPU provider does with the Casts it
  // inserts around the kernels it has no float16 version of.
  bool half_native = false;
  // Training adds: BackwardFn backward; every backward gets a finite-difference test.
};

// nullptr when no kernel is registered.
const OpDef* find_op(std::string_view domain, std::string_view op_type);
// Every registered op, for reports and conformance coverage.
std::vector<const OpDef*> all_ops();

}  // namespace mcompress::exec
