#include <gtest/gtest.h>

#include "mcompress/ir/uses.h"
#include "mcompress/ir/verify.h"
#include "mcompress/ir/weights.h"
#include "mcompress/support/error.h"

namespace mcompress::ir {
namespace {

ValueInfo value(const std::string& name) {
  ValueType t;
  t.elem = DType::f32;
  t.shape = std::vector<Dim>{Dim{2, {}, {}, {}}};
  return ValueInfo{name, t, {}, {}};
}

Node node(const std::string& name, const std::string& op, std::vector<std::string> in, std::vector<std::string> out) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

Node constant(const std::string& name, const std::string& out, float v) {
  Node n = node(name, "Constant", {}, {out});
  Attribute a;
  a.name = "value";
  a.type = AttrType::tensor;
  std::vector<float> values = {v, v};
  a.t.tensor = Tensor::from_values<float>(DType::f32, {2}, values);
  n.attributes.push_back(std::move(a));
  return n;
}

// X -> Add(X, c) -> Y, with c a Constant node; an If whose branch reads outer X and its own Constant.
Graph sample_graph() {
  Graph g;
  g.name = "main";
  g.inputs = {value("X"), value("cond")};
  g.outputs = {value("Y"), value("Z")};
  g.nodes.push_back(constant("c_node", "c", 1.f));
  g.nodes.push_back(node("add", "Add", {"X", "c"}, {"Y"}));
  Graph branch;
  branch.name = "then";
  branch.outputs = {value("b_out")};
  branch.nodes.push_back(constant("bc_node", "bc", 2.f));
  branch.nodes.push_back(node("b_mul", "Mul", {"X", "bc"}, {"b_out"}));
  Graph other = branch;
  other.name = "else";
  Node if_node = node("if", "If", {"cond"}, {"Z"});
  Attribute then_attr;
  then_attr.name = "then_branch";
  then_attr.type = AttrType::graph;
  then_attr.g = Box<Graph>(branch);
  Attribute else_attr = then_attr;
  else_attr.name = "else_branch";
  else_attr.g = Box<Graph>(other);
  if_node.attributes = {then_attr, else_attr};
  g.nodes.push_back(std::move(if_node));
  return g;
}

std::string verify_error(const Graph& g) {
  try {
    verify(g, "m.onnx");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    return e.what();
  }
  return "";
}

TEST(Verify, AcceptsSubgraphsReadingOuterScope) { EXPECT_EQ(verify_error(sample_graph()), ""); }

TEST(Verify, NamesUndefinedTensorAndNode) {
  Graph g = sample_graph();
  g.nodes[1].inputs[1] = "ghost";
  std::string msg = verify_error(g);
  EXPECT_NE(msg.find("ghost"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'add'"), std::string::npos) << msg;
}

TEST(Verify, UndefinedTensorInsideSubgraph) {
  Graph g = sample_graph();
  g.nodes[2].attributes[0].g->nodes[1].inputs[0] = "ghost_in_branch";
  EXPECT_NE(verify_error(g).find("ghost_in_branch"), std::string::npos);
}

TEST(Verify, DetectsTwoWriters) {
  Graph g = sample_graph();
  g.nodes.push_back(node("again", "Relu", {"X"}, {"Y"}));
  std::string msg = verify_error(g);
  EXPECT_NE(msg.find("'Y'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("two nodes"), std::string::npos) << msg;
}

TEST(Verify, DetectsCycleAndAcceptsUnsortedNodes) {
  Graph g = sample_graph();
  std::swap(g.nodes[0], g.nodes[1]);  // consumer before producer: still a DAG
  EXPECT_EQ(verify_error(g), "");
  g.nodes.push_back(node("a", "Relu", {"b_out2"}, {"a_out"}));
  g.nodes.push_back(node("b", "Relu", {"a_out"}, {"b_out2"}));
  EXPECT_NE(verify_error(g).find("cycle"), std::string::npos);
}

TEST(Verify, CycleThroughSubgraphOuterRead) {
  Graph g = sample_graph();
  // The branch reads Y2, which a node computes from the If's own output.
  g.nodes[2].attributes[0].g->nodes[1].inputs[0] = "Y2";
  g.nodes.push_back(node("after", "Relu", {"Z"}, {"Y2"}));
  EXPECT_NE(verify_error(g).find("cycle"), std::string::npos);
}

TEST(Verify, OutputProducedByNothing) {
  Graph g = sample_graph();
  g.outputs.push_back(value("nowhere"));
  EXPECT_NE(verify_error(g).find("nowhere"), std::string::npos);
}

TEST(Weights, FindsInitializersConstantsAndSubgraphConstants) {
  Graph g = sample_graph();
  NamedTensor init;
  init.name = "w";
  init.tensor = Tensor(DType::f16, {4});
  g.initializers.push_back(init);
  g.inputs.push_back(value("w"));
  auto weights = collect_weights(g);
  ASSERT_EQ(weights.size(), 4u);
  EXPECT_EQ(weights[0].kind, WeightKind::initializer);
  EXPECT_EQ(weights[0].name(), "w");
  EXPECT_EQ(weights[1].kind, WeightKind::constant_node);
  EXPECT_EQ(weights[1].name(), "c");
  EXPECT_EQ(weights[1].depth, 0);
  EXPECT_EQ(weights[2].name(), "bc");
  EXPECT_EQ(weights[2].depth, 1);
  EXPECT_EQ(weights[2].graph->name, "then");
  EXPECT_EQ(weights[3].graph->name, "else");
  EXPECT_EQ(weights[1].stored_bytes(), 8);
}

TEST(Weights, ConstantsToInitializersEverywhere) {
  Graph g = sample_graph();
  auto moved = constants_to_initializers(g, /*main_graph_needs_inputs=*/true);
  EXPECT_EQ(moved, (std::vector<std::string>{"c", "bc", "bc"}));
  ASSERT_EQ(g.initializers.size(), 1u);
  EXPECT_EQ(g.initializers[0].name, "c");
  EXPECT_EQ(g.inputs.back().name, "c");  // IR < 4: initializers are also inputs
  EXPECT_EQ(g.nodes.size(), 2u);
  const Graph& then = *g.nodes[1].attributes[0].g;
  EXPECT_EQ(then.nodes.size(), 1u);
  ASSERT_EQ(then.initializers.size(), 1u);
  EXPECT_EQ(then.initializers[0].tensor.data<float>()[0], 2.f);
  EXPECT_EQ(verify_error(g), "");
  for (const WeightRef& w : collect_weights(g)) EXPECT_NE(w.kind, WeightKind::constant_node);
}

TEST(Weights, ConstantThatIsAGraphOutputStaysANode) {
  Graph g = sample_graph();
  Graph& then = *g.nodes[2].attributes[0].g;
  then.nodes.pop_back();
  then.outputs = {value("bc")};
  auto moved = constants_to_initializers(g, false);
  EXPECT_EQ(moved, (std::vector<std::string>{"c", "bc"}));
  EXPECT_EQ(then.nodes.size(), 1u);
  EXPECT_EQ(then.nodes[0].op_type, "Constant");
}

TEST(Weights, DensifyLinearInt32AndCoordinateIndices) {
  SparseTensor s;
  s.values.name = "w";
  s.dims = {2, 3};
  std::vector<float> values = {5, 6};
  s.values.tensor = Tensor::from_values<float>(DType::f32, {2}, values);
  std::vector<int32_t> linear = {1, 4};
  s.indices.tensor = Tensor::from_values<int32_t>(DType::i32, {2}, linear);
  Tensor dense = densify(s);
  EXPECT_EQ(dense.shape(), (Shape{2, 3}));
  EXPECT_EQ(std::vector<float>(dense.data<float>(), dense.data<float>() + 6), (std::vector<float>{0, 5, 0, 0, 6, 0}));
  std::vector<int64_t> coords = {0, 2, 1, 0};
  s.indices.tensor = Tensor::from_values<int64_t>(DType::i64, {2, 2}, coords);
  dense = densify(s);
  EXPECT_EQ(std::vector<float>(dense.data<float>(), dense.data<float>() + 6), (std::vector<float>{0, 0, 5, 6, 0, 0}));
  linear = {1, 6};
  s.indices.tensor = Tensor::from_values<int32_t>(DType::i32, {2}, linear);
  try {
    densify(s);
    FAIL() << "an index outside the dims must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::bad_input);
    EXPECT_NE(std::string(e.what()).find("'w'"), std::string::npos);
  }
}

// A branch that returns an outer value by name (no node reads it) still reads it; names the
// branch defines itself are not outer reads.
TEST(Uses, SubgraphOutputsNamingOuterValuesAreReads) {
  Graph g = sample_graph();
  Graph& then_branch = *g.nodes[2].attributes[0].g;
  then_branch.outputs.push_back(value("Y"));
  EXPECT_EQ(outer_reads(then_branch), (std::set<std::string>{"X", "Y"}));
  EXPECT_EQ(implicit_inputs(g.nodes[2]), (std::set<std::string>{"X", "Y"}));
  EXPECT_EQ(node_reads(g.nodes[2]), (std::vector<std::string>{"X", "Y", "cond"}));
}

// Reads resolve to the innermost definition: an initializer read from a branch two levels deep,
// and one a branch hides under its own node output of the same name.
TEST(Uses, InitializerReadsResolveThroughScopes) {
  Graph g = sample_graph();
  g.initializers.push_back(NamedTensor{"W", Tensor(DType::f32, {2}), {}, false, {}});
  g.initializers.push_back(NamedTensor{"V", Tensor(DType::f32, {2}), {}, false, {}});
  Graph& then_branch = *g.nodes[2].attributes[0].g;
  then_branch.nodes.push_back(node("b_w", "Mul", {"b_out", "W"}, {"b_w_out"}));
  Graph& else_branch = *g.nodes[2].attributes[1].g;
  else_branch.nodes.push_back(node("b_v", "Identity", {"X"}, {"V"}));  // hides the outer V
  else_branch.nodes.push_back(node("b_v_read", "Mul", {"V", "V"}, {"b_v_out"}));
  std::vector<StoredUses> uses = initializer_uses(g);
  ASSERT_EQ(uses.size(), 2u);
  EXPECT_EQ(uses[0].tensor->name, "W");
  EXPECT_EQ(uses[0].home, &g);
  ASSERT_EQ(uses[0].uses.size(), 1u);
  EXPECT_EQ(uses[0].uses[0].graph, &then_branch);
  EXPECT_EQ(uses[0].uses[0].node, 2u);
  EXPECT_EQ(uses[0].uses[0].slot, 1u);
  EXPECT_TRUE(uses[1].uses.empty());
}

TEST(Box, DeepCopies) {
  Box<Graph> a(sample_graph());
  Box<Graph> b = a;
  b->name = "changed";
  EXPECT_EQ(a->name, "main");
}

}  // namespace
}  // namespace mcompress::ir
