#!/usr/bin/python3
"""Models whose weights are read inside If / Loop bodies, for subgraph_test.cpp.

    make_subgraph_models.py OUT_DIR
    make_subgraph_models.py --stats MODEL    (prints what the tests check, as JSON)

Writes, all at opset 13, inputs "x" float32 [1, 64] and "flag" int64 scalar (tools/make_inputs.py
spec "x:float32:1,64;flag:int64:=50"):

  nested_if.onnx    Three levels of nested If, as PyTorch writes a voice-activity model: branch
                    outputs and value_info declared with no type at all. The innermost then-branch
                    (taken for 10 < flag < 100) reads two main-graph weights (MatMul, Conv) and one
                    of its own (Gemm); the else-branches read other main-graph weights, the outer
                    one Wa too (a weight read from two graphs). A main-graph MatMul reads the
                    branch result (the "first head" in the main graph).
  loop_body.onnx    A Loop (3 iterations) whose body reads a weight it stores (MatMul) and a
                    main-graph weight (Gemm, transB).
  branch_out.onnx   Two Convs in the main graph whose outputs an If's branches return directly
                    (branch outputs naming outer values, no node in the branch reads them).
  rnn.onnx          x as a sequence [2, 1, 32]; If(flag > 10) whose then-branch runs an LSTM
                    (W stored in the main graph, R in the branch) into a GRU (linear_before_reset,
                    as PyTorch exports it), then an RNN in the main graph: the W and R of all
                    three are 1-4 KiB weights; their biases stay under 1 KiB.
Weights are 64x64 float32 (16 KiB) or a 32x4x3 Conv kernel (1.5 KiB), so weight-only int8 must
reach ~0.26x of the float file.
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

OPSET = 13
RNG = np.random.default_rng(11)


def weight(name, *shape, scale=0.15):
    return numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name)


TYPELESS_FORMS = ["absent", "empty"]
_typeless_count = [0]


def typeless(name):
    """A value info with no type, in the two forms exporters write (and ONNX Runtime loads), in
    turn: no type field, and an empty TypeProto. (A tensor type without an element type is
    refused by ORT: "Invalid tensor data type 0".)"""
    v = helper.make_empty_tensor_value_info(name)
    form = TYPELESS_FORMS[_typeless_count[0] % len(TYPELESS_FORMS)]
    _typeless_count[0] += 1
    if form == "empty":
        v.type.SetInParent()
    elif form == "tensor":
        v.type.tensor_type.SetInParent()
    return v


def model(graph):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="make_subgraph_models")
    m.ir_version = 7
    return m


def inputs():
    return [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64]),
            helper.make_tensor_value_info("flag", TensorProto.INT64, [])]


def conditions():
    return [numpy_helper.from_array(np.array(10, np.int64), "ten"),
            numpy_helper.from_array(np.array(100, np.int64), "hundred")], [
        helper.make_node("Greater", ["flag", "ten"], ["above"], name="above_ten"),
        helper.make_node("Less", ["flag", "hundred"], ["below"], name="below_hundred")]


def nested_if():
    inits, nodes = conditions()
    inits += [weight("Wa", 64, 64), weight("Wb", 64, 64), weight("Wc", 64, 64), weight("Wconv", 32, 4, 3),
              weight("bconv", 32), numpy_helper.from_array(np.array([1, 4, 16], np.int64), "shape_conv"),
              numpy_helper.from_array(np.array([1, 64], np.int64), "shape_flat"), weight("Whead", 64, 16)]
    # Level 3: the innermost then-branch: MatMul(x, Wa) + Conv over x as [1, 4, 16] + its own Gemm.
    inner_then = helper.make_graph([
        helper.make_node("MatMul", ["x", "Wa"], ["l3_mm"], name="l3_matmul"),
        helper.make_node("Reshape", ["x", "shape_conv"], ["l3_x3"], name="l3_reshape"),
        helper.make_node("Conv", ["l3_x3", "Wconv", "bconv"], ["l3_conv"], name="l3_conv", pads=[1, 1], strides=[8]),
        helper.make_node("Reshape", ["l3_conv", "shape_flat"], ["l3_conv_flat"], name="l3_flatten"),
        helper.make_node("Add", ["l3_mm", "l3_conv_flat"], ["l3_sum"], name="l3_add"),
        helper.make_node("Gemm", ["l3_sum", "Wg"], ["l3_out"], name="l3_gemm"),
    ], "level3_then", [], [typeless("l3_out")], [weight("Wg", 64, 64)], value_info=[typeless("l3_mm"), typeless("l3_sum")])
    inner_else = helper.make_graph([helper.make_node("MatMul", ["x", "Wb"], ["l3_else"], name="l3_else_matmul")],
                                   "level3_else", [], [typeless("l3_else")])
    # Level 2: If(above) around level 3, then Tanh.
    mid_then = helper.make_graph([
        helper.make_node("If", ["above"], ["l2_if"], name="level3_if", then_branch=inner_then, else_branch=inner_else),
        helper.make_node("Tanh", ["l2_if"], ["l2_out"], name="l2_tanh"),
    ], "level2_then", [], [typeless("l2_out")], value_info=[typeless("l2_if")])
    mid_else = helper.make_graph([helper.make_node("MatMul", ["x", "Wc"], ["l2_else"], name="l2_else_matmul")],
                                 "level2_else", [], [typeless("l2_else")])
    # Level 1: If(below) around level 2.
    outer_then = helper.make_graph([
        helper.make_node("If", ["below"], ["l1_if"], name="level2_if", then_branch=mid_then, else_branch=mid_else),
        helper.make_node("Relu", ["l1_if"], ["l1_out"], name="l1_relu"),
    ], "level1_then", [], [typeless("l1_out")])
    outer_else = helper.make_graph([helper.make_node("MatMul", ["x", "Wa"], ["l1_else"], name="l1_else_matmul")], "level1_else", [],
                                   [typeless("l1_else")])
    nodes += [
        helper.make_node("If", ["above"], ["branch"], name="level1_if", then_branch=outer_then, else_branch=outer_else),
        helper.make_node("MatMul", ["branch", "Whead"], ["y"], name="head"),
    ]
    g = helper.make_graph(nodes, "nested_if", inputs(), [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])],
                          inits, value_info=[typeless("branch"), typeless("above")])
    return model(g)


def loop_body():
    inits = [numpy_helper.from_array(np.array(3, np.int64), "trips"), numpy_helper.from_array(np.array(True), "go"),
             weight("Wouter", 64, 64)]
    body = helper.make_graph([
        helper.make_node("MatMul", ["h_in", "Wbody"], ["b_mm"], name="body_matmul"),
        helper.make_node("Tanh", ["b_mm"], ["b_t"], name="body_tanh"),
        helper.make_node("Gemm", ["b_t", "Wouter"], ["h_out"], name="body_gemm", transB=1),
        helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
    ], "loop_body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                     helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                     helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 64])], [weight("Wbody", 64, 64)])
    nodes = [helper.make_node("Loop", ["trips", "go", "x"], ["h"], name="loop", body=body),
             helper.make_node("Cast", ["flag"], ["flag_f"], name="flag_float", to=TensorProto.FLOAT),
             helper.make_node("Mul", ["h", "flag_f"], ["y"], name="scale")]
    g = helper.make_graph(nodes, "loop_body", inputs(), [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 64])],
                          inits)
    return model(g)


def branch_out():
    inits, nodes = conditions()
    inits += [numpy_helper.from_array(np.array([1, 4, 16], np.int64), "shape_conv"),
              weight("W1", 16, 4, 3, scale=0.5), weight("W2", 16, 16, 1, scale=0.5)]
    then_g = helper.make_graph([], "then_returns_conv1", [], [typeless("r1")])
    else_g = helper.make_graph([], "else_returns_conv2", [], [typeless("c2")])
    nodes += [
        helper.make_node("Reshape", ["x", "shape_conv"], ["x3"], name="reshape"),
        helper.make_node("Conv", ["x3", "W1"], ["c1"], name="conv1", pads=[1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "W2"], ["c2"], name="conv2"),
        helper.make_node("If", ["above"], ["y"], name="pick", then_branch=then_g, else_branch=else_g),
    ]
    g = helper.make_graph(nodes, "branch_out", inputs(), [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          inits)
    return model(g)


def rnn():
    inits, nodes = conditions()
    inits += [numpy_helper.from_array(np.array([2, 1, 32], np.int64), "shape_seq"),
              numpy_helper.from_array(np.array([1, 32], np.int64), "shape_y"), weight("W_lstm", 1, 64, 32),
              weight("W_rnn", 1, 32, 16, scale=0.3), weight("R_rnn", 1, 32, 32), weight("B_rnn", 1, 64, scale=0.05)]
    then_g = helper.make_graph([
        helper.make_node("LSTM", ["x_seq", "W_lstm", "R_lstm", "B_lstm"], ["lstm_y", "lstm_h", "lstm_c"], name="lstm",
                         hidden_size=16),
        helper.make_node("Squeeze", ["lstm_y", "axis_dir"], ["lstm_seq"], name="lstm_squeeze"),
        helper.make_node("GRU", ["lstm_seq", "W_gru", "R_gru", "B_gru"], ["gru_y"], name="gru", hidden_size=16,
                         linear_before_reset=1),
        helper.make_node("Squeeze", ["gru_y", "axis_dir"], ["gru_seq"], name="gru_squeeze"),
    ], "then_lstm_gru", [], [helper.make_tensor_value_info("gru_seq", TensorProto.FLOAT, None)],
        [weight("R_lstm", 1, 64, 16), weight("B_lstm", 1, 128, scale=0.05), weight("W_gru", 1, 48, 16, scale=0.3),
         weight("R_gru", 1, 48, 16), weight("B_gru", 1, 96, scale=0.05),
         numpy_helper.from_array(np.array([1], np.int64), "axis_dir")])
    else_g = helper.make_graph([helper.make_node("Slice", ["x_seq", "zero", "sixteen", "two"], ["else_seq"], name="take16")],
                               "else_slice", [], [helper.make_tensor_value_info("else_seq", TensorProto.FLOAT, None)],
                               [numpy_helper.from_array(np.array([0], np.int64), "zero"),
                                numpy_helper.from_array(np.array([16], np.int64), "sixteen"),
                                numpy_helper.from_array(np.array([2], np.int64), "two")])
    nodes += [
        helper.make_node("Reshape", ["x", "shape_seq"], ["x_seq"], name="to_sequence"),
        helper.make_node("If", ["above"], ["seq"], name="pick", then_branch=then_g, else_branch=else_g),
        helper.make_node("RNN", ["seq", "W_rnn", "R_rnn", "B_rnn"], ["", "rnn_h"], name="rnn", hidden_size=32),
        helper.make_node("Reshape", ["rnn_h", "shape_y"], ["y"], name="flatten"),
    ]
    g = helper.make_graph(nodes, "rnn", inputs(), [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32])], inits)
    return model(g)


def stats(path):
    """float32 initializers of 1 KiB or more left in any graph; value infos typed with elem_type 0
    (ONNX Runtime refuses them) and with no type at all; the op types of every graph."""
    import json

    import onnx
    m = onnx.load(path)
    out = {"float_weights_1k": [], "elem_type_0": [], "typeless": 0, "ops": {}}

    def walk(g):
        for t in g.initializer:
            if t.data_type == TensorProto.FLOAT and int(np.prod(t.dims)) * 4 >= 1024:
                out["float_weights_1k"].append(t.name)
        for v in list(g.input) + list(g.output) + list(g.value_info):
            tt = v.type.tensor_type
            if not v.HasField("type") or (v.type.HasField("tensor_type") and not tt.HasField("elem_type")) or (
                    not v.type.HasField("tensor_type") and v.type.ByteSize() == 0):
                out["typeless"] += 1
            elif v.type.HasField("tensor_type") and tt.elem_type == 0:
                out["elem_type_0"].append(v.name)
        for n in g.node:
            out["ops"][n.op_type] = out["ops"].get(n.op_type, 0) + 1
            for a in n.attribute:
                for sub in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                    walk(sub)

    walk(m.graph)
    print(json.dumps(out))


def main():
    if sys.argv[1] == "--stats":
        return stats(sys.argv[2])
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    save(nested_if(), os.path.join(out, "nested_if.onnx"))
    save(loop_body(), os.path.join(out, "loop_body.onnx"))
    save(branch_out(), os.path.join(out, "branch_out.onnx"))
    save(rnn(), os.path.join(out, "rnn.onnx"))


if __name__ == "__main__":
    main()
