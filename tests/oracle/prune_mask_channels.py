#!/usr/bin/python3
"""Channel pruning's differential check: zero, in the ORIGINAL model, the output channels that
`mcompress prune --method channel` removed (weight rows and bias of every producer layer listed
in the report with kept_channels). For a Conv/Gemm -> Relu/MaxPool/Flatten -> Conv/Gemm chain a
zeroed channel contributes exactly nothing downstream, so this masked model must compute what the
pruned (smaller) model computes.

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
    for layer in layers:
        if "kept_channels" not in layer:
            continue
        node = nodes[layer["name"]]
        trans_b = any(a.name == "transB" and a.i for a in node.attribute)
        axis = 0 if node.op_type == "Conv" or trans_b else 1
        w = numpy_helper.to_array(inits[node.input[1]]).copy()
        drop = np.setdiff1d(np.arange(w.shape[axis]), np.array(layer["kept_channels"]))
        np.moveaxis(w, axis, 0)[drop] = 0
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(w, node.input[1]))
        if len(node.input) > 2 and node.input[2]:
            b = numpy_helper.to_array(inits[node.input[2]]).copy()
            b[..., drop] = 0
            inits[node.input[2]].CopyFrom(numpy_helper.from_array(b, node.input[2]))
    onnx.save(model, out)


if __name__ == "__main__":
    main()
