"""A float16 model as third-party exporters write them: float16 graph input and output, float16
initializers, every op computing in float16 (no Casts):

x [N,3,16,16] -> Conv 3x3 (+B) -> Sigmoid -> Mul (SiLU) -> MaxPool 2x2 -> Resize linear x2
  -> Concat with a Conv 1x1 of x -> Conv 1x1 (+B) -> LeakyRelu -> Add (float16 constant)
  -> Reshape [N, 8, 256] -> Transpose -> MatMul (float16 [8, 4]) -> Softmax -> y [N,256,4]
and the Sigmoid of the Concat's mean over H, W (ReduceMean, keepdims) as y_gate [N,16,1,1].

usage: make_fp16_fixture.py OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    rng = np.random.default_rng(16)
    inits = []

    def const(name, value, dtype=np.float16):
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    w1 = const("w1", rng.standard_normal((8, 3, 3, 3)) * 0.4)
    b1 = const("b1", rng.standard_normal(8) * 0.1)
    w2 = const("w2", rng.standard_normal((8, 3, 1, 1)) * 0.5)
    w3 = const("w3", rng.standard_normal((8, 16, 1, 1)) * 0.3)
    b3 = const("b3", rng.standard_normal(8) * 0.1)
    shift = const("shift", rng.standard_normal((8, 1, 1)) * 0.2)
    proj = const("proj", rng.standard_normal((8, 4)) * 0.5)
    scales = const("scales", [1, 1, 2, 2], np.float32)
    shape = const("shape", [0, 8, 256], np.int64)
    nodes = [
        helper.make_node("Conv", ["x", w1, b1], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c1"], ["s1"]),
        helper.make_node("Mul", ["c1", "s1"], ["silu"]),
        helper.make_node("MaxPool", ["silu"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Resize", ["pool", "", scales], ["up"], mode="linear"),
        helper.make_node("Conv", ["x", w2], ["c2"]),
        helper.make_node("Concat", ["up", "c2"], ["cat"], axis=1),
        helper.make_node("Conv", ["cat", w3, b3], ["c3"]),
        helper.make_node("LeakyRelu", ["c3"], ["act"], alpha=0.1),
        helper.make_node("Add", ["act", shift], ["shifted"]),
        helper.make_node("Reshape", ["shifted", shape], ["flat"]),
        helper.make_node("Transpose", ["flat"], ["tokens"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["tokens", proj], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["y"], axis=-1),
        helper.make_node("ReduceMean", ["cat"], ["pooled"], axes=[2, 3], keepdims=1),
        helper.make_node("Sigmoid", ["pooled"], ["y_gate"]),
    ]
    graph = helper.make_graph(
        nodes, "fp16_third_party",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["N", 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["N", 256, 4]),
         helper.make_tensor_value_info("y_gate", TensorProto.FLOAT16, ["N", 16, 1, 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, sys.argv[1])


if __name__ == "__main__":
    main()
