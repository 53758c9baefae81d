#!/usr/bin/python3
"""A zoo of small models for `mcompress batch` tests and tools/bench/bench_batch.sh.

make_zoo.py DIR [--count N] [--extras]
  DIR/mlp_NNN.onnx   N small MLPs x[N,8] -> MatMul -> Add -> Relu -> MatMul -> y[N,4], hidden 16 + k % 7,
                     different weights each (seeded), so every one quantizes to other bytes
  DIR/eval.npy       32 samples for x
with --extras also
  DIR/extra/malformed.onnx    bytes that are no ModelProto (quantize: exit 2)
  DIR/extra/unsupported.onnx  an op of an unknown domain (run on --eval-data: exit 3)
  DIR/extra/hang.onnx         a Loop with a 2^62 trip count before the MLP (hangs when run)
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp(k, prefix_nodes=(), prefix_inits=(), first_input="x", opset=17, extra_opsets=()):
    rng = np.random.default_rng(1000 + k)
    hidden = 16 + k % 7
    w1 = rng.standard_normal((8, hidden)).astype(np.float32)
    b1 = rng.standard_normal(hidden).astype(np.float32) * 0.1
    w2 = rng.standard_normal((hidden, 4)).astype(np.float32)
    nodes = list(prefix_nodes) + [
        helper.make_node("MatMul", [first_input, "w1"], ["h0"], name="mm1"),
        helper.make_node("Add", ["h0", "b1"], ["h1"], name="add1"),
        helper.make_node("Relu", ["h1"], ["h2"], name="relu"),
        helper.make_node("MatMul", ["h2", "w2"], ["y"], name="mm2"),
    ]
    inits = list(prefix_inits) + [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"))]
    graph = helper.make_graph(
        nodes, "mlp_%03d" % k,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], inits)
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="make_zoo")
    model.ir_version = 8
    return model


def hang():
    # Loop(M = 2^62, cond = true) carrying x through an Identity: never ends in any executor.
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["v_in"], ["v_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, ["N", 8])])
    inits = [numpy_helper.from_array(np.array(1 << 62, dtype=np.int64), "trips"),
             numpy_helper.from_array(np.array(True), "cond")]
    loop = helper.make_node("Loop", ["trips", "cond", "x"], ["xl"], body=body, name="forever")
    return mlp(990, [loop], inits, first_input="xl")


def unsupported():
    node = helper.make_node("Frobnicate", ["x"], ["xf"], domain="com.example", name="frob")
    return mlp(991, [node], first_input="xf", extra_opsets=[("com.example", 1)])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--count", type=int, default=6)
    p.add_argument("--extras", action="store_true")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    for k in range(a.count):
        onnx.save(mlp(k), os.path.join(a.dir, "mlp_%03d.onnx" % k))
    np.save(os.path.join(a.dir, "eval.npy"), np.random.default_rng(7).standard_normal((32, 8)).astype(np.float32))
    if a.extras:
        extra = os.path.join(a.dir, "extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "malformed.onnx"), "wb") as f:
            f.write(b"\x08\x07this is not a ModelProto\xff\xff\xff")
        onnx.save(unsupported(), os.path.join(extra, "unsupported.onnx"))
        onnx.save(hang(), os.path.join(extra, "hang.onnx"))


if __name__ == "__main__":
    main()
