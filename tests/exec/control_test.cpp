// Kernel tests for the control ops: each op against reference values worked out by hand or by
// ONNX's reference implementation, across the attribute variants the ONNX spec defines. Bodies
// need the executor's subgraph runner, so these tests build small models and run them whole.
#include <gtest/gtest.h>

#include "mcompress/exec/executor.h"
#include "mcompress/support/error.h"
#include "support/op_runner.h"

namespace mcompress::test {
namespace {

ir::ValueInfo value(const std::string& name, DType elem = DType::undefined, std::optional<Shape> shape = std::nullopt) {
  ir::ValueInfo v;
  v.name = name;
  if (elem == DType::undefined) return v;
  ir::ValueType t;
  t.elem = elem;
  if (shape) {
    std::vector<ir::Dim> dims;
    for (int64_t d : *shape) dims.push_back(ir::Dim{d, "", "", ""});
    t.shape = dims;
  }
  v.type = t;
  return v;
}

ir::Node node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
              std::vector<ir::Attribute> attrs = {}) {
  ir::Node n;
  n.op_type = op;
  n.name = op + "_" + (outputs.empty() ? std::string() : outputs[0]);
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attributes = std::move(attrs);
  return n;
}

ir::Graph graph(const std::string& name, std::vector<ir::ValueInfo> inputs, std::vector<ir::ValueInfo> outputs,
                std::vector<ir::Node> nodes) {
  ir::Graph g;
  g.name = name;
  g.inputs = std::move(inputs);
  g.outputs = std::move(outputs);
  g.nodes = std::move(nodes);
  return g;
}

ir::Attribute graph_attr(const std::string& name, ir::Graph g) {
  ir::Attribute a;
  a.name = name;
  a.type = ir::AttrType::graph;
  a.g = ir::Box<ir::Graph>(std::move(g));
  return a;
}

ir::Model model_of(ir::Graph g, int64_t opset) {
  ir::Model m;
  m.ir_version = 8;
  m.opset_import.push_back({"", opset, ""});
  m.graph = std::move(g);
  return m;
}

std::map<std::string, Tensor> run_model(const ir::Model& m, const std::map<std::string, const Tensor*>& feeds) {
  exec::Executor executor(m, {1});
  return executor.run(feeds);
}

Tensor bool_scalar(bool v) {
  Tensor t(DType::boolean, {});
  t.data<uint8_t>()[0] = v;
  return t;
}

// ---- If ---------------------------------------------------------------------------------------

// then: a constant; else: the outer x plus one, read from the enclosing scope.
ir::Model if_model() {
  ir::Graph then_branch = graph("then", {}, {value("t")}, {node("Constant", {}, {"t"}, {attr_floats("value_floats", {10, 20})})});
  ir::Graph else_branch = graph("else", {}, {value("e")},
                                {node("Constant", {}, {"one"}, {attr_float("value_float", 1)}), node("Add", {"x", "one"}, {"e"})});
  ir::Graph main = graph("main", {value("cond"), value("x")}, {value("y")},
                         {node("If", {"cond"}, {"y"}, {graph_attr("then_branch", then_branch), graph_attr("else_branch", else_branch)})});
  return model_of(main, 13);
}

TEST(ControlOps, IfRunsTheChosenBranch) {
  ir::Model m = if_model();
  Tensor x = floats({2}, {1, 2});
  Tensor yes = bool_scalar(true), no = bool_scalar(false);
  EXPECT_EQ(values_f32(run_model(m, {{"cond", &yes}, {"x", &x}})["y"]), (std::vector<float>{10, 20}));
  EXPECT_EQ(values_f32(run_model(m, {{"cond", &no}, {"x", &x}})["y"]), (std::vector<float>{2, 3}));
  Tensor empty(DType::boolean, {0});
  EXPECT_THROW(run_model(m, {{"cond", &empty}, {"x", &x}}), Error);
}

TEST(ControlOps, IfWithoutItsBranchFails) {
  ir::Graph main = graph("main", {value("cond")}, {value("y")}, {node("If", {"cond"}, {"y"})});
  ir::Model m = model_of(main, 13);
  Tensor yes = bool_scalar(true);
  EXPECT_THROW(run_model(m, {{"cond", &yes}}), Error);
}

// ---- Loop -------------------------------------------------------------------------------------

// Body: sum += x (outer scope); scan output: the running sum; cond passes through.
ir::Graph accumulate_body() {
  return graph("body", {value("i"), value("cond_in"), value("sum_in")},
               {value("cond_out"), value("sum_out"), value("scan", DType::f32, Shape{2})},
               {node("Add", {"sum_in", "x"}, {"sum_out"}), node("Identity", {"cond_in"}, {"cond_out"}),
                node("Identity", {"sum_out"}, {"scan"})});
}

ir::Model loop_model(bool with_m, bool with_cond) {
  ir::Graph main = graph("main", {value("m"), value("cond"), value("x"), value("init")}, {value("sum"), value("scans")},
                         {node("Loop", {with_m ? "m" : "", with_cond ? "cond" : "", "init"}, {"sum", "scans"},
                               {graph_attr("body", accumulate_body())})});
  return model_of(main, 13);
}

TEST(ControlOps, LoopCarriesValuesAndStacksScanOutputs) {
  ir::Model m = loop_model(true, true);
  Tensor trips = int64s({}, {3});
  Tensor yes = bool_scalar(true);
  Tensor x = floats({2}, {1, 10});
  Tensor init = floats({2}, {0, 0});
  auto out = run_model(m, {{"m", &trips}, {"cond", &yes}, {"x", &x}, {"init", &init}});
  EXPECT_EQ(values_f32(out["sum"]), (std::vector<float>{3, 30}));
  EXPECT_EQ(out["scans"].shape(), (Shape{3, 2}));
  EXPECT_EQ(values_f32(out["scans"]), (std::vector<float>{1, 10, 2, 20, 3, 30}));
}

TEST(ControlOps, LoopWithZeroTripsKeepsInitialValuesAndEmptyScans) {
  ir::Model m = loop_model(true, true);
  Tensor trips = int64s({}, {0});
  Tensor yes = bool_scalar(true);
  Tensor x = floats({2}, {1, 10});
  Tensor init = floats({2}, {5, 6});
  auto out = run_model(m, {{"m", &trips}, {"cond", &yes}, {"x", &x}, {"init", &init}});
  EXPECT_EQ(values_f32(out["sum"]), (std::vector<float>{5, 6}));
  EXPECT_EQ(out["scans"].shape(), (Shape{0, 2}));  // the body's declared [2] behind the new axis
  Tensor no = bool_scalar(false);
  Tensor many = int64s({}, {100});
  EXPECT_EQ(values_f32(run_model(m, {{"m", &many}, {"cond", &no}, {"x", &x}, {"init", &init}})["sum"]),
            (std::vector<float>{5, 6}));
}

TEST(ControlOps, LoopWithoutCondIgnoresTheBodysCond) {
  // The body's cond output is false, but with no cond input the loop runs M times.
  ir::Graph body = graph("body", {value("i"), value("cond_in"), value("n_in")}, {value("stop"), value("n_out")},
                         {node("Constant", {}, {"stop"}, {attr_int("value_int", 0)}), node("Add", {"n_in", "i"}, {"n_out"})});
  ir::Graph main = graph("main", {value("m"), value("n0")}, {value("n")},
                         {node("Loop", {"m", "", "n0"}, {"n"}, {graph_attr("body", body)})});
  ir::Model m = model_of(main, 11);
  Tensor trips = int64s({}, {4});
  Tensor n0 = int64s({}, {100});
  EXPECT_EQ(values_i64(run_model(m, {{"m", &trips}, {"n0", &n0}})["n"]), (std::vector<int64_t>{106}));  // 100+0+1+2+3
}

TEST(ControlOps, LoopWhileCondWithoutTripCount) {
  // while (i + 1 < limit) count += 1: the body sees iteration numbers 0, 1, 2 for limit 3.
  ir::Graph body = graph("body", {value("i"), value("cond_in"), value("count_in")}, {value("cond_out"), value("count_out")},
                         {node("Constant", {}, {"one"}, {attr_int("value_int", 1)}), node("Add", {"i", "one"}, {"next"}),
                          node("Less", {"next", "limit"}, {"cond_out"}), node("Add", {"count_in", "one"}, {"count_out"})});
  ir::Graph main = graph("main", {value("cond"), value("limit"), value("count0")}, {value("count")},
                         {node("Loop", {"", "cond", "count0"}, {"count"}, {graph_attr("body", body)})});
  ir::Model m = model_of(main, 13);
  Tensor yes = bool_scalar(true);
  Tensor limit = int64s({}, {3});
  Tensor zero = int64s({}, {0});
  EXPECT_EQ(values_i64(run_model(m, {{"cond", &yes}, {"limit", &limit}, {"count0", &zero}})["count"]),
            (std::vector<int64_t>{3}));
}

TEST(ControlOps, LoopScanOutputsMustKeepTheirShape) {
  // Scan output grows each iteration: Concat(prev, x) is carried and also scanned.
  ir::Graph body = graph("body", {value("i"), value("c"), value("acc_in")}, {value("c_out"), value("acc_out"), value("s")},
                         {node("Identity", {"c"}, {"c_out"}), node("Concat", {"acc_in", "x"}, {"acc_out"}, {attr_int("axis", 0)}),
                          node("Identity", {"acc_out"}, {"s"})});
  ir::Graph main = graph("main", {value("m"), value("x"), value("acc0")}, {value("acc"), value("scans")},
                         {node("Loop", {"m", "", "acc0"}, {"acc", "scans"}, {graph_attr("body", body)})});
  ir::Model m = model_of(main, 13);
  Tensor trips = int64s({}, {2});
  Tensor x = floats({1}, {7});
  Tensor acc0 = floats({0}, {});
  EXPECT_THROW(run_model(m, {{"m", &trips}, {"x", &x}, {"acc0", &acc0}}), Error);
  Tensor one = int64s({}, {1});
  auto out = run_model(m, {{"m", &one}, {"x", &x}, {"acc0", &acc0}});
  EXPECT_EQ(values_f32(out["acc"]), (std::vector<float>{7}));
}

// ---- Scan -------------------------------------------------------------------------------------

// Body: running sum of the scanned rows; scan output: the sum after each step.
ir::Graph running_sum_body() {
  return graph("body", {value("sum_in"), value("row")}, {value("sum_out"), value("out")},
               {node("Add", {"sum_in", "row"}, {"sum_out"}), node("Identity", {"sum_out"}, {"out"})});
}

TEST(ControlOps, ScanForwardReverseAndOutputAxes) {
  Tensor init = floats({2}, {0, 0});
  Tensor xs = floats({3, 2}, {1, 2, 3, 4, 5, 6});
  auto scan = [&](std::vector<ir::Attribute> attrs) {
    attrs.push_back(attr_int("num_scan_inputs", 1));
    attrs.push_back(graph_attr("body", running_sum_body()));
    ir::Graph main = graph("main", {value("init"), value("xs")}, {value("final"), value("ys")},
                           {node("Scan", {"init", "xs"}, {"final", "ys"}, attrs)});
    ir::Model m = model_of(main, 11);
    return run_model(m, {{"init", &init}, {"xs", &xs}});
  };
  auto forward = scan({});
  EXPECT_EQ(values_f32(forward["final"]), (std::vector<float>{9, 12}));
  EXPECT_EQ(values_f32(forward["ys"]), (std::vector<float>{1, 2, 4, 6, 9, 12}));
  auto reverse = scan({attr_ints("scan_input_directions", {1})});
  EXPECT_EQ(values_f32(reverse["ys"]), (std::vector<float>{5, 6, 8, 10, 9, 12}));
  auto reversed_output = scan({attr_ints("scan_output_directions", {1})});
  EXPECT_EQ(values_f32(reversed_output["ys"]), (std::vector<float>{9, 12, 4, 6, 1, 2}));
  auto axis1 = scan({attr_ints("scan_output_axes", {1})});
  EXPECT_EQ(axis1["ys"].shape(), (Shape{2, 3}));
  EXPECT_EQ(values_f32(axis1["ys"]), (std::vector<float>{1, 4, 9, 2, 6, 12}));
}

TEST(ControlOps, ScanAlongInputAxisOne) {
  Tensor init = floats({3}, {0, 0, 0});
  Tensor xs = floats({3, 2}, {1, 2, 3, 4, 5, 6});  // scanned along axis 1: columns [1,3,5], [2,4,6]
  ir::Graph main = graph("main", {value("init"), value("xs")}, {value("final"), value("ys")},
                         {node("Scan", {"init", "xs"}, {"final", "ys"},
                               {attr_int("num_scan_inputs", 1), attr_ints("scan_input_axes", {-1}),
                                graph_attr("body", running_sum_body())})});
  ir::Model m = model_of(main, 16);
  auto out = run_model(m, {{"init", &init}, {"xs", &xs}});
  EXPECT_EQ(values_f32(out["final"]), (std::vector<float>{3, 7, 11}));
  EXPECT_EQ(out["ys"].shape(), (Shape{2, 3}));
}

TEST(ControlOps, Scan8RunsEachBatchEntry) {
  Tensor init = floats({2, 1}, {0, 100});
  Tensor xs = floats({2, 3, 1}, {1, 2, 3, 4, 5, 6});
  ir::Graph main = graph("main", {value("init"), value("xs")}, {value("final"), value("ys")},
                         {node("Scan", {"", "init", "xs"}, {"final", "ys"},
                               {attr_int("num_scan_inputs", 1), graph_attr("body", running_sum_body())})});
  ir::Model m = model_of(main, 8);
  auto out = run_model(m, {{"init", &init}, {"xs", &xs}});
  EXPECT_EQ(values_f32(out["final"]), (std::vector<float>{6, 115}));
  EXPECT_EQ(out["ys"].shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(values_f32(out["ys"]), (std::vector<float>{1, 3, 6, 104, 109, 115}));
}

}  // namespace
}  // namespace mcompress::test
