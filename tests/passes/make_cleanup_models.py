#!/usr/bin/env python3
"""Small models for the cleanup passes: every BatchNormalization fold, Constant-node weights,
dead nodes and initializers, and a BN that must not be folded. Usage: make_cleanup_models.py DIR"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(3)


def f32(*shape, lo=-1.0, hi=1.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def init(name, a):
    return numpy_helper.from_array(a, name)


def const_node(name, a):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(a, name + "_value"))


def bn_params(prefix, c):
    return [init(prefix + "_gamma", f32(c, lo=0.5, hi=1.5)), init(prefix + "_beta", f32(c)),
            init(prefix + "_mean", f32(c)), init(prefix + "_var", f32(c, lo=0.2, hi=2.0))]


def bn(prefix, x, y):
    return helper.make_node("BatchNormalization", [x] + [prefix + s for s in ("_gamma", "_beta", "_mean", "_var")], [y],
                            epsilon=1e-3)


def save(path, nodes, inits, x_shape, y_shape, extra_outputs=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)] +
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in extra_outputs], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def main(out):
    # Conv with bias -> BN -> Relu.
    save(f"{out}/conv_bn.onnx",
         [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), bn("bn", "c", "n"),
          helper.make_node("Relu", ["n"], ["y"])],
         [init("w", f32(4, 3, 3, 3)), init("b", f32(4))] + bn_params("bn", 4), [2, 3, 8, 8], [2, 4, 8, 8])
    # PaddleOCR style: every weight in a Constant node, Conv without bias, grouped conv.
    p = bn_params("bn", 6)
    save(f"{out}/conv_constants_bn.onnx",
         [const_node("w", f32(6, 1, 3, 3))] + [const_node(t.name, numpy_helper.to_array(t)) for t in p] +
         [helper.make_node("Conv", ["x", "w"], ["c"], group=3, strides=[2, 2]), bn("bn", "c", "y")],
         [], [2, 3, 9, 9], [2, 6, 4, 4])
    # Gemm transB=1 with alpha, beta and C -> BN.
    save(f"{out}/gemm_bn.onnx",
         [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1, alpha=0.5, beta=2.0), bn("bn", "g", "y")],
         [init("w", f32(6, 5)), init("b", f32(6))] + bn_params("bn", 6), [3, 5], [3, 6])
    # Gemm transB=0 without C -> BN.
    save(f"{out}/gemm_nobias_bn.onnx", [helper.make_node("Gemm", ["x", "w"], ["g"]), bn("bn", "g", "y")],
         [init("w", f32(5, 6))] + bn_params("bn", 6), [3, 5], [3, 6])
    # MatMul -> Add(bias) -> BN on a 2-D output.
    save(f"{out}/matmul_add_bn.onnx",
         [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["b", "m"], ["a"]), bn("bn", "a", "y")],
         [init("w", f32(5, 6)), init("b", f32(6))] + bn_params("bn", 6), [3, 5], [3, 6])
    # MatMul -> BN.
    save(f"{out}/matmul_bn.onnx", [helper.make_node("MatMul", ["x", "w"], ["m"]), bn("bn", "m", "y")],
         [init("w", f32(5, 6))] + bn_params("bn", 6), [3, 5], [3, 6])
    # Not foldable: the Conv output is also a graph output. Plus a dead node and an unused initializer.
    save(f"{out}/shared_and_dead.onnx",
         [helper.make_node("Conv", ["x", "w", "b"], ["c"]), bn("bn", "c", "y"),
          helper.make_node("Sigmoid", ["c"], ["dead"])],
         [init("w", f32(4, 3, 1, 1)), init("b", f32(4)), init("unused", f32(10))] + bn_params("bn", 4),
         [2, 3, 5, 5], [2, 4, 5, 5], extra_outputs=[("c", [2, 4, 5, 5])])


if __name__ == "__main__":
    main(sys.argv[1])
