"""A float-in, float-out model that runs every com.microsoft QOperator element-wise op mcompress
executes, in the layouts ONNX Runtime's quantizer writes them:

x [2,3,4,4] -> QuantizeLinear (SIGNEDNESS) -> QLinearLeakyRelu -> QLinearSigmoid
            -> QLinearAdd (with a second quantization of x, broadcast [3,1,1] constant)
            -> QLinearMul (with a [1,1,4] constant) -> QLinearGlobalAveragePool
            -> DequantizeLinear -> y [2,3,1,1]
and the QLinearMul result dequantized as y_mul [2,3,4,4]; QLinearConcat of the LeakyRelu, the
second quantization of x and the Mul along axis 1, dequantized as y_cat [2,9,4,4]; a padded 2x2
QLinearAveragePool of the Mul, dequantized as y_avg [2,3,5,5] (the only output with avgpool_*).

With `matmul` instead of a signedness, the integer-product ops instead, int8 weights with
per-column scales and zero points: x [4,3,32] -> DynamicQuantizeMatMul (+ bias) -> y_dqmm;
x -> QuantizeLinear -> MatMulIntegerToFloat (+ bias) -> y_mitf; xt [32,5] -> QuantizeLinear ->
QGemm (transA, int32 C, alpha, requantized to uint8) -> DequantizeLinear -> y_qgemm [5,16].

usage: make_qlinear_fixture.py OUT.onnx uint8|int8|avgpool_uint8|avgpool_int8|matmul
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def matmul_model(out):
    rng = np.random.default_rng(5)
    inits = []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    b = const("b", rng.integers(-128, 128, size=(32, 16)).astype(np.int8))
    b_scale = const("b_scale", (0.002 + 0.004 * rng.random(16)).astype(np.float32))
    b_zp = const("b_zp", rng.integers(-5, 6, size=16).astype(np.int8))
    bias = const("bias", rng.standard_normal(16).astype(np.float32))
    xs = const("x_scale", np.array(0.03, dtype=np.float32))
    xz = const("x_zp", np.array(128, dtype=np.uint8))
    c = const("c", rng.integers(-2000, 2000, size=16).astype(np.int32))
    ys = const("y_scale", np.array(0.05, dtype=np.float32))
    yz = const("y_zp", np.array(120, dtype=np.uint8))
    ms_ = "com.microsoft"
    nodes = [
        helper.make_node("DynamicQuantizeMatMul", ["x", b, b_scale, b_zp, bias], ["y_dqmm"], domain=ms_),
        helper.make_node("QuantizeLinear", ["x", xs, xz], ["xq"]),
        helper.make_node("MatMulIntegerToFloat", ["xq", b, xs, b_scale, xz, b_zp, bias], ["y_mitf"], domain=ms_),
        helper.make_node("QuantizeLinear", ["xt", xs, xz], ["xtq"]),
        helper.make_node("QGemm", ["xtq", xs, xz, b, b_scale, b_zp, c, ys, yz], ["qgemm"], domain=ms_,
                         transA=1, alpha=0.75),
        helper.make_node("DequantizeLinear", ["qgemm", ys, yz], ["y_qgemm"]),
    ]
    graph = helper.make_graph(
        nodes, "qoperator_matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 3, 32]),
         helper.make_tensor_value_info("xt", TensorProto.FLOAT, [32, 5])],
        [helper.make_tensor_value_info("y_dqmm", TensorProto.FLOAT, [4, 3, 16]),
         helper.make_tensor_value_info("y_mitf", TensorProto.FLOAT, [4, 3, 16]),
         helper.make_tensor_value_info("y_qgemm", TensorProto.FLOAT, [5, 16])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(ms_, 1)])
    model.ir_version = 8
    onnx.save(model, out)


def main(out, signedness):
    if signedness == "matmul":
        matmul_model(out)
        return
    avgpool_only = signedness.startswith("avgpool_")
    signed = signedness.endswith("int8") and not signedness.endswith("uint8")
    qt = np.int8 if signed else np.uint8
    zp = lambda v: np.array(v - 128 if signed else v, dtype=qt)  # noqa: E731
    inits = []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def quant(prefix, scale, zero):
        return const(prefix + "_scale", np.array(scale, dtype=np.float32)), const(prefix + "_zp", zp(zero))

    xs, xz = quant("x", 0.05, 120)
    x2s, x2z = quant("x2", 0.03, 128)
    ls, lz = quant("leaky", 0.04, 130)
    ss, sz = quant("sig", 1.0 / 256, 0)
    as_, az = quant("add", 0.02, 100)
    cs, cz = quant("c", 0.01, 128)
    ms, mz = quant("mul", 0.015, 90)
    ks, kz = quant("k", 0.02, 140)
    ps, pz = quant("pool", 0.01, 110)
    rng = np.random.default_rng(3)
    lo, hi = (-128, 127) if signed else (0, 255)
    c = const("c", rng.integers(lo, hi + 1, size=(3, 1, 1)).astype(qt))
    k = const("k", rng.integers(lo, hi + 1, size=(1, 1, 4)).astype(qt))
    ms_ = "com.microsoft"
    nodes = [
        helper.make_node("QuantizeLinear", ["x", xs, xz], ["xq"]),
        helper.make_node("QuantizeLinear", ["x", x2s, x2z], ["xq2"]),
        helper.make_node("QLinearLeakyRelu", ["xq", xs, xz, ls, lz], ["leaky"], domain=ms_, alpha=0.1),
        helper.make_node("QLinearSigmoid", ["leaky", ls, lz, ss, sz], ["sig"], domain=ms_),
        helper.make_node("QLinearAdd", ["sig", ss, sz, "xq2", x2s, x2z, as_, az], ["add"], domain=ms_),
        helper.make_node("QLinearAdd", ["add", as_, az, c, cs, cz, as_, az], ["addc"], domain=ms_),
        helper.make_node("QLinearMul", ["addc", as_, az, k, ks, kz, ms, mz], ["mul"], domain=ms_),
        helper.make_node("QLinearGlobalAveragePool", ["mul", ms, mz, ps, pz], ["pool"], domain=ms_,
                         channels_last=0),
        helper.make_node("DequantizeLinear", ["pool", ps, pz], ["y"]),
        helper.make_node("DequantizeLinear", ["mul", ms, mz], ["y_mul"]),
        helper.make_node("QLinearConcat", [ks, kz, "leaky", ls, lz, "xq2", x2s, x2z, "mul", ms, mz], ["cat"],
                         domain=ms_, axis=1),
        helper.make_node("DequantizeLinear", ["cat", ks, kz], ["y_cat"]),
        helper.make_node("QLinearAveragePool", ["mul", ms, mz, ps, pz], ["avg"], domain=ms_, kernel_shape=[2, 2],
                         pads=[1, 1, 1, 1], strides=[1, 1], count_include_pad=0),
        helper.make_node("DequantizeLinear", ["avg", ps, pz], ["y_avg"]),
    ]
    outputs = [
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 1, 1]),
        helper.make_tensor_value_info("y_mul", TensorProto.FLOAT, [2, 3, 4, 4]),
        helper.make_tensor_value_info("y_cat", TensorProto.FLOAT, [2, 9, 4, 4]),
        helper.make_tensor_value_info("y_avg", TensorProto.FLOAT, [2, 3, 5, 5]),
    ]
    outputs = outputs[3:] if avgpool_only else outputs[:3]
    graph = helper.make_graph(
        nodes, "qlinear_elementwise",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4, 4])], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid(ms_, 1)])
    model.ir_version = 8
    onnx.save(model, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
