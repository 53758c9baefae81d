#!/usr/bin/python3
"""Channel pruning's differential check: zero, in the ORIGINAL model, the output channels that
`mcompress prune --method channel` removed (weight rows and bias of every producer layer listed
in the report with kept_channels; a MatMul's bias is the constant of the Add that reads it). Where
a zero stays zero downstream (Relu, GELU, pooling, Flatten ... into Conv/Gemm/MatMul) a zeroed
channel contributes exactly nothing, so this masked model must compute what the pruned (smaller)
model computes.

    prune_mask_channels.py ORIGINAL.onnx REPORT.json MASKED.onnx
"""
import json
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main():
    original, report, out = sys.argv[1:4]
    model = onnx.load(original)
    layers = json.load(open(report))["layers"]
    inits = {t.name: t for t in model.graph.initializer}
    nodes = {n.name: n for n in model.graph.node}
    readers = {}
    for n in model.graph.node:
        for name in n.input:
            readers.setdefault(name, []).append(n)

    def zero(name, axis, drop):
        t = numpy_helper.to_array(inits[name]).copy()
        np.moveaxis(t, axis, 0)[drop] = 0
        inits[name].CopyFrom(numpy_helper.from_array(t, name))

    for layer in layers:
        if "kept_channels" not in layer:
            continue
        node = nodes[layer["name"]]
        trans_b = any(a.name == "transB" and a.i for a in node.attribute)
        axis = 0 if node.op_type == "Conv" or trans_b else 1
        channels = inits[node.input[1]].dims[axis]
        drop = np.setdiff1d(np.arange(channels), np.array(layer["kept_channels"]))
        zero(node.input[1], axis, drop)
        biases = [node.input[2]] if len(node.input) > 2 and node.input[2] else []
        if node.op_type == "MatMul":
            adds = [n for n in readers.get(node.output[0], []) if n.op_type == "Add"]
            biases = [i for n in adds for i in n.input if i in inits and list(inits[i].dims) == [channels]]
        for bias in biases:
            zero(bias, len(inits[bias].dims) - 1, drop)
    onnx.save(model, out)


if __name__ == "__main__":
    main()
