#include "support/op_runner.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "mcompress/support/thread_pool.h"

namespace mcompress::test {

ir::Node make_node(const std::string& op_type, size_t inputs, size_t outputs, const std::string& domain) {
  ir::Node n;
  n.name = "test_" + op_type;
  n.op_type = op_type;
  n.domain = domain;
  for (size_t i = 0; i < inputs; ++i) n.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < outputs; ++i) n.outputs.push_back("out" + std::to_string(i));
  return n;
}

ir::Attribute attr_int(const std::string& name, int64_t v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::AttrType::i;
  a.i = v;
  return a;
}

ir::Attribute attr_float(const std::string& name, float v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::AttrType::f;
  a.f = v;
  return a;
}

ir::Attribute attr_ints(const std::string& name, std::vector<int64_t> v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::AttrType::ints;
  a.ints = std::move(v);
  return a;
}

ir::Attribute attr_floats(const std::string& name, std::vector<float> v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::AttrType::floats;
  a.floats = std::move(v);
  return a;
}

ir::Attribute attr_string(const std::string& name, const std::string& v) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::AttrType::s;
  a.s = v;
  return a;
}

std::vector<Tensor> run_op(const ir::Node& node, const std::vector<const Tensor*>& inputs, int64_t opset, int threads) {
  const exec::OpDef* op = exec::find_op(node.domain, node.op_type);
  if (!op) throw std::runtime_error("no kernel for " + node.op_type);
  ir::Node n = node;
  for (size_t i = 0; i < inputs.size() && i < n.inputs.size(); ++i)
    if (!inputs[i]) n.inputs[i] = "";
  ThreadPool pool(threads);
  std::vector<Tensor> outputs(n.outputs.size());
  exec::SubgraphRunner no_subgraphs = [](const ir::Graph&, std::vector<const Tensor*>) -> std::vector<Tensor> {
    throw std::runtime_error("subgraphs are not available in run_op");
  };
  exec::OpContext ctx(n, opset, inputs, outputs, pool, no_subgraphs);
  op->forward(ctx);
  return outputs;
}

Tensor floats(Shape shape, std::vector<float> values) {
  return Tensor::from_values<float>(DType::f32, std::move(shape), values);
}

Tensor int64s(Shape shape, std::vector<int64_t> values) {
  return Tensor::from_values<int64_t>(DType::i64, std::move(shape), values);
}

std::vector<float> values_f32(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::f32);
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

std::vector<int64_t> values_i64(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DType::i64);
  return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.numel());
}

}  // namespace mcompress::test
