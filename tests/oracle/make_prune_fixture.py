#!/usr/bin/python3
"""A small CNN with every channel-pruning pattern the pass follows, written for
prune_test.cpp: residual Add (two Convs' channels tied), depthwise Conv, Concat of two spaces,
a Conv reading the Concat (both spaces' kept channels, offset), Split back along the same boundaries (attribute below opset 13, stored input from 13), a
per-channel constant Mul, GlobalAveragePool + Flatten into a Gemm, and five heads joined by Adds
into the graph output (kept whole). Relu after every producer and no biases after the residual,
so a removed channel is exactly zero downstream (prune_mask_channels.py).

    make_prune_fixture.py OUT.onnx OPSET
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    out, opset = sys.argv[1], int(sys.argv[2])
    rng = np.random.default_rng(7)
    inits = []

    def w(name, *shape):
        inits.append(numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name))
        return name

    nodes = [
        helper.make_node("Conv", ["x", w("W1", 8, 3, 3, 3), w("b1", 8)], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", w("W2", 8, 8, 1, 1), w("b2", 8)], ["c2"], name="conv2"),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("Add", ["r1", "r2"], ["res"], name="residual"),
        helper.make_node("Conv", ["res", w("Wd", 8, 1, 3, 3)], ["dw"], name="depthwise", group=8, pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["dw"], ["rd"]),
        helper.make_node("Conv", ["x", w("W3", 4, 3, 1, 1), w("b3", 4)], ["c3"], name="conv3"),
        helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("Concat", ["rd", "r3"], ["cat"], name="concat", axis=1),
    ]
    if opset < 13:
        nodes.append(helper.make_node("Split", ["cat"], ["s0", "s1"], name="split", axis=1, split=[8, 4]))
    else:
        inits.append(numpy_helper.from_array(np.array([8, 4], dtype=np.int64), "split_sizes"))
        nodes.append(helper.make_node("Split", ["cat", "split_sizes"], ["s0", "s1"], name="split", axis=1))
    inits.append(numpy_helper.from_array((rng.random((1, 8, 1, 1)) + 0.5).astype(np.float32), "scale"))
    nodes += [
        helper.make_node("Mul", ["s0", "scale"], ["m"], name="scale_mul"),
        helper.make_node("Conv", ["m", w("W4", 6, 8, 3, 3), w("b4", 6)], ["c4"], name="conv4"),
        helper.make_node("Relu", ["c4"], ["r4"]),
        helper.make_node("GlobalAveragePool", ["r4"], ["g4"]),
        helper.make_node("Flatten", ["g4"], ["f4"]),
        helper.make_node("Gemm", ["f4", w("W5", 5, 6), w("b5", 5)], ["head0"], name="fc", transB=1),
    ]

    def head(name, src, weight, out):
        """A 1x1 Conv to 5 channels, pooled and flattened: [N, 5]."""
        return [
            helper.make_node("Conv", [src, weight], [name + "_out"], name=name),
            helper.make_node("GlobalAveragePool", [name + "_out"], [name + "_pool"]),
            helper.make_node("Flatten", [name + "_pool"], [out]),
        ]

    nodes += head("conv6", "s1", w("W6", 5, 4, 1, 1), "head1")
    nodes += head("conv7", "cat", w("W7", 5, 12, 1, 1), "head2")
    nodes += [
        helper.make_node("Conv", ["x", w("Wg", 6, 1, 3, 3)], ["cg"], name="grouped", group=3, pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["cg"], ["rg"]),
    ]
    nodes += head("conv8", "rg", w("W8", 5, 6, 1, 1), "head3")
    nodes += [
        helper.make_node("Conv", ["x", w("W10", 8, 3, 1, 1), w("b10", 8)], ["c10"], name="conv10"),
        helper.make_node("Relu", ["c10"], ["r10"]),
        helper.make_node("Conv", ["r10", w("W11", 6, 4, 3, 3)], ["c11"], name="grouped_reader", group=2,
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c11"], ["r11"]),
    ]
    nodes += head("conv12", "r11", w("W12", 5, 6, 1, 1), "head4")
    nodes += [
        helper.make_node("Add", ["head0", "head1"], ["heads01"], name="heads"),
        helper.make_node("Add", ["heads01", "head2"], ["heads012"], name="heads2"),
        helper.make_node("Add", ["heads012", "head3"], ["heads0123"], name="heads3"),
        helper.make_node("Add", ["heads0123", "head4"], ["y"], name="heads4"),
    ]
    graph = helper.make_graph(nodes, "prune_patterns",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, out)


if __name__ == "__main__":
    main()
