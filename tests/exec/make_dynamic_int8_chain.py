"""Dynamic int8 fixtures in the layout ONNX Runtime's quantize_dynamic writes for Conv layers:

chain: x [1,8,128,128] -> LAYERS x (DynamicQuantizeLinear -> ConvInteger(x_q, w_q, x_zp, w_zp)
       -> Cast(to=float) -> Mul(Mul(x_scale, w_scale)) -> Add(bias) -> Relu), U-Net style: 3x3
       (pads 1) and 1x1 kernels, uint8 and int8 weights, a MaxPool down and a Resize up (nearest and
       bilinear in turn),
       Concat skip connections -> y. Every step's rounding feeds the next layer's
       DynamicQuantizeLinear range, so a float step that rounds differently from ONNX Runtime
       shows as a growing error.
dql_a, dql_b, dql_c: DynamicQuantizeLinear alone, all three outputs, on awkward values: a every
       value a .5 tie of its scale and random ones, b all negative (zero point 255), c all zero.
       (One model each: ONNX Runtime 1.30 at level "all" returned wrong quantized values past
       the 257th for two of three such nodes in one graph, graph outputs scale and zero point.)

usage: make_dynamic_int8_chain.py OUT_DIR [LAYERS]
writes OUT_DIR/chain.onnx, chain_inputs.npz, dql_{a,b,c}.onnx and dql_{a,b,c}.npz
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def chain_model(layers, rng):
    inits, nodes = [], []

    def const(name, value):
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def conv_layer(i, x, cin, cout, k):
        fan_in = cin * k * k
        w = rng.standard_normal((cout, cin, k, k)).astype(np.float32) * np.sqrt(2.0 / fan_in)
        signed = i % 2 == 0
        w_scale = np.float32(np.abs(w).max() / (127.0 if signed else 254.0))
        if signed:
            wq = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
            wzp = np.int8(0)
        else:
            wzp = np.uint8(128 + i % 3)
            wq = np.clip(np.round(w / w_scale) + float(wzp), 0, 255).astype(np.uint8)
        p = f"l{i}_"
        nodes.append(helper.make_node("DynamicQuantizeLinear", [x], [p + "xq", p + "xs", p + "xzp"]))
        nodes.append(helper.make_node("ConvInteger", [p + "xq", const(p + "w", wq), p + "xzp", const(p + "wzp", wzp)],
                                      [p + "acc"], pads=[k // 2] * 4, kernel_shape=[k, k]))
        nodes.append(helper.make_node("Cast", [p + "acc"], [p + "accf"], to=TensorProto.FLOAT))
        nodes.append(helper.make_node("Mul", [p + "xs", const(p + "ws", w_scale)], [p + "scale"]))
        nodes.append(helper.make_node("Mul", [p + "accf", p + "scale"], [p + "y"]))
        bias = (0.1 * rng.standard_normal((cout, 1, 1))).astype(np.float32)
        nodes.append(helper.make_node("Add", [p + "y", const(p + "b", bias)], [p + "yb"]))
        nodes.append(helper.make_node("Relu", [p + "yb"], [p + "out"]))
        return p + "out"

    x, c = "x", 8
    skip = None
    for i in range(layers):
        k = 1 if i % 4 == 2 else 3
        cout = 16 if i % 2 == 0 else 8
        x = conv_layer(i, x, c, cout, k)
        c = cout
        if i % 4 == 1:  # down: keep the skip, pool
            skip, skip_c = x, c
            nodes.append(helper.make_node("MaxPool", [x], [f"pool{i}"], kernel_shape=[2, 2], strides=[2, 2]))
            x = f"pool{i}"
        elif i % 4 == 3 and skip is not None:  # up: bilinear resize, concat the skip
            coordinates = "align_corners" if i % 8 == 7 else "half_pixel"
            nodes.append(helper.make_node("Resize", [x, "", const(f"rs{i}", np.array([1, 1, 2, 2], np.float32))],
                                          [f"up{i}"], mode="linear", coordinate_transformation_mode=coordinates))
            nodes.append(helper.make_node("Concat", [f"up{i}", skip], [f"cat{i}"], axis=1))
            x, c = f"cat{i}", c + skip_c
            skip = None
    nodes.append(helper.make_node("Identity", [x], ["y"]))
    graph = helper.make_graph(nodes, "dynamic_int8_chain",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 128, 128])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def dql_model(name):
    outs = [name + "_q", name + "_scale", name + "_zp"]
    graph = helper.make_graph([helper.make_node("DynamicQuantizeLinear", [name], outs)], "dql_" + name,
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["n"])],
                              [helper.make_tensor_value_info(outs[0], TensorProto.UINT8, ["n"]),
                               helper.make_tensor_value_info(outs[1], TensorProto.FLOAT, []),
                               helper.make_tensor_value_info(outs[2], TensorProto.UINT8, [])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def dql_inputs(rng):
    # a: values on exact .5 quantization ties for scale 2/255 (range [-1, 1]), plus random ones.
    scale = np.float32(2.0) / np.float32(255.0)
    ties = (np.arange(-127, 128, dtype=np.float32) + np.float32(0.5)) * scale
    a = np.concatenate([[-1.0, 1.0], ties, rng.uniform(-1, 1, 200)]).astype(np.float32)
    # b: all negative (zero point 255), with ties of its own scale.
    b = np.concatenate([[-3.0], -(np.arange(0, 255, dtype=np.float32) + np.float32(0.5)) * (np.float32(3) / np.float32(255)),
                        -rng.uniform(0, 3, 100)]).astype(np.float32)
    # c: all zero (scale 1, zero point 0).
    c = np.zeros(17, np.float32)
    return {"a": a, "b": b, "c": c}


def main():
    out = sys.argv[1]
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 42
    rng = np.random.default_rng(15)
    onnx.save(chain_model(layers, rng), f"{out}/chain.onnx")
    np.savez(f"{out}/chain_inputs.npz", x=rng.standard_normal((1, 8, 128, 128)).astype(np.float32))
    for name, values in dql_inputs(rng).items():
        onnx.save(dql_model(name), f"{out}/dql_{name}.onnx")
        np.savez(f"{out}/dql_{name}.npz", **{name: values})


if __name__ == "__main__":
    main()
