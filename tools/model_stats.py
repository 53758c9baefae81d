#!/usr/bin/python3
"""Independent model statistics oracle, computed with the onnx python package.

usage: /usr/bin/python3 tools/model_stats.py MODEL.onnx [--indent N]

Prints one JSON object (keys sorted) with:

  nodes        total node count, including the nodes of every subgraph (GRAPH and GRAPHS
               attributes, recursively)
  op_types     {op: count} over the same nodes; op_type for the default domain ("" or
               "ai.onnx"), "DOMAIN.OP_TYPE" otherwise
  subgraphs    number of subgraphs (each GRAPH attribute, each element of a GRAPHS attribute,
               recursively)
  weight_bytes {dtype: bytes} over every stored tensor of the main graph and of every subgraph:
               initializers, sparse initializers (values and indices, each under its own dtype),
               and the `value` / `sparse_value` attributes of Constant nodes.
               bytes = element count (product of dims) x element size; strings count 0
  params       element count of the floating-point tensors among those (float16/32/64,
               bfloat16, complex64/128); a sparse tensor counts its stored values (nnz)
  ir_version   ModelProto.ir_version
  opsets       {domain: version}; the default domain "" is reported as "ai.onnx"
  inputs       main-graph inputs that are not initializers: [{name, dtype, shape}], shape a
               list of dim_value ints / dim_param strings / null (neither set); dtype and shape
               are null when the input is not a tensor or has no shape

dtype names are numpy-style lower case (float32, float16, bfloat16, ...). The model is loaded
with its external data, so a missing external file is an error. Functions (ModelProto.functions)
are not counted: only the main graph and its subgraphs.
"""

import argparse
import json
import os
import sys

import onnx
from onnx import AttributeProto, TensorProto

DTYPE_NAMES = {
    TensorProto.FLOAT: "float32",
    TensorProto.UINT8: "uint8",
    TensorProto.INT8: "int8",
    TensorProto.UINT16: "uint16",
    TensorProto.INT16: "int16",
    TensorProto.INT32: "int32",
    TensorProto.INT64: "int64",
    TensorProto.STRING: "string",
    TensorProto.BOOL: "bool",
    TensorProto.FLOAT16: "float16",
    TensorProto.DOUBLE: "float64",
    TensorProto.UINT32: "uint32",
    TensorProto.UINT64: "uint64",
    TensorProto.COMPLEX64: "complex64",
    TensorProto.COMPLEX128: "complex128",
    TensorProto.BFLOAT16: "bfloat16",
}

ELEM_SIZE = {
    "float32": 4, "uint8": 1, "int8": 1, "uint16": 2, "int16": 2, "int32": 4, "int64": 8,
    "string": 0, "bool": 1, "float16": 2, "float64": 8, "uint32": 4, "uint64": 8,
    "complex64": 8, "complex128": 16, "bfloat16": 2,
}

FLOAT_DTYPES = {"float16", "float32", "float64", "bfloat16", "complex64", "complex128"}

DEFAULT_DOMAINS = ("", "ai.onnx")


def dtype_name(code):
    if code in DTYPE_NAMES:
        return DTYPE_NAMES[code]
    # Unknown/newer codes: report something stable rather than failing.
    try:
        return TensorProto.DataType.Name(code).lower()
    except ValueError:
        return "dtype%d" % code


def numel(dims):
    n = 1
    for d in dims:
        n *= d
    return n


class Stats:
    def __init__(self):
        self.nodes = 0
        self.op_types = {}
        self.subgraphs = 0
        self.weight_bytes = {}
        self.params = 0

    def add_tensor(self, t, count_params=True):
        name = dtype_name(t.data_type)
        count = numel(t.dims)
        self.weight_bytes[name] = self.weight_bytes.get(name, 0) + count * ELEM_SIZE.get(name, 0)
        if count_params and name in FLOAT_DTYPES:
            self.params += count

    def add_sparse(self, s):
        # values: 1-D [nnz] tensor; indices: [nnz] or [nnz, rank] int64 tensor
        self.add_tensor(s.values, count_params=True)
        self.add_tensor(s.indices, count_params=False)

    def walk_graph(self, g):
        for t in g.initializer:
            self.add_tensor(t)
        for s in g.sparse_initializer:
            self.add_sparse(s)
        for node in g.node:
            self.nodes += 1
            if node.domain in DEFAULT_DOMAINS:
                key = node.op_type
            else:
                key = node.domain + "." + node.op_type
            self.op_types[key] = self.op_types.get(key, 0) + 1
            is_constant = node.op_type == "Constant" and node.domain in DEFAULT_DOMAINS
            for a in node.attribute:
                if is_constant:
                    if a.name == "value" and a.type == AttributeProto.TENSOR:
                        self.add_tensor(a.t)
                    elif a.name == "sparse_value" and a.type == AttributeProto.SPARSE_TENSOR:
                        self.add_sparse(a.sparse_tensor)
                if a.type == AttributeProto.GRAPH:
                    self.subgraphs += 1
                    self.walk_graph(a.g)
                elif a.type == AttributeProto.GRAPHS:
                    for sg in a.graphs:
                        self.subgraphs += 1
                        self.walk_graph(sg)


def dim_json(d):
    which = d.WhichOneof("value")
    if which == "dim_value":
        return d.dim_value
    if which == "dim_param":
        return d.dim_param
    return None


def inputs_json(g):
    init_names = {t.name for t in g.initializer}
    init_names.update(s.values.name for s in g.sparse_initializer)
    out = []
    for vi in g.input:
        if vi.name in init_names:
            continue
        dtype = None
        shape = None
        if vi.type.WhichOneof("value") == "tensor_type":
            tt = vi.type.tensor_type
            dtype = dtype_name(tt.elem_type)
            if tt.HasField("shape"):
                shape = [dim_json(d) for d in tt.shape.dim]
        out.append({"name": vi.name, "dtype": dtype, "shape": shape})
    return out


def model_stats(path):
    model = onnx.load(path, load_external_data=True)
    st = Stats()
    st.walk_graph(model.graph)
    opsets = {}
    for op in model.opset_import:
        opsets["ai.onnx" if op.domain == "" else op.domain] = op.version
    return {
        "nodes": st.nodes,
        "op_types": st.op_types,
        "subgraphs": st.subgraphs,
        "weight_bytes": st.weight_bytes,
        "params": st.params,
        "ir_version": model.ir_version,
        "opsets": opsets,
        "inputs": inputs_json(model.graph),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description="Independent ONNX model statistics (JSON).")
    ap.add_argument("model")
    ap.add_argument("--indent", type=int, default=2, help="JSON indent (negative: one line)")
    args = ap.parse_args(argv)
    if not os.path.isfile(args.model):
        print("model_stats: no such file: %s" % args.model, file=sys.stderr)
        return 2
    try:
        stats = model_stats(args.model)
    except Exception as e:  # noqa: BLE001 - report any load failure as a usage error
        print("model_stats: cannot load %s: %s" % (args.model, e), file=sys.stderr)
        return 2
    indent = args.indent if args.indent >= 0 else None
    json.dump(stats, sys.stdout, sort_keys=True, indent=indent)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
